//! Pooled connections that keep the statements prepared on them.
//!
//! The client prepares a statement given as text on every call: a round trip to the server before
//! the one that runs it. A credit operation runs about ten statements, so each connection keeps
//! what it prepared, by text, for as long as it lives. The set of statements is fixed by the code,
//! so the cache stays small.

use std::collections::HashMap;

use ::postgres::types::ToSql;
use ::postgres::{Client, GenericClient, Row, Statement};

use super::PgTarget;
use crate::store::rows::Columns;
use crate::store::StoreError;

/// Opens connections for the pool, with the TLS the URL asks for.
#[derive(Debug)]
pub(super) struct Manager {
    target: PgTarget,
}

impl Manager {
    pub(super) fn new(target: PgTarget) -> Manager {
        Manager { target }
    }
}

/// A connection and the statements prepared on it.
pub(super) struct Connection {
    client: Client,
    statements: HashMap<String, Statement>,
}

impl r2d2::ManageConnection for Manager {
    type Connection = Connection;
    type Error = ::postgres::Error;

    fn connect(&self) -> Result<Connection, ::postgres::Error> {
        Ok(Connection {
            client: self.target.connect()?,
            statements: HashMap::new(),
        })
    }

    fn is_valid(&self, conn: &mut Connection) -> Result<(), ::postgres::Error> {
        conn.client.simple_query("").map(|_| ())
    }

    fn has_broken(&self, conn: &mut Connection) -> bool {
        conn.client.is_closed()
    }
}

impl Connection {
    /// The client itself, for tests.
    #[cfg(test)]
    pub(super) fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    /// Statements on the connection itself, outside a transaction.
    pub(super) fn session(&mut self) -> Session<'_, Client> {
        Session {
            client: &mut self.client,
            statements: &mut self.statements,
        }
    }

    /// The client and the cache apart, to open a transaction and still use the cache inside it.
    pub(super) fn parts(&mut self) -> (&mut Client, &mut HashMap<String, Statement>) {
        (&mut self.client, &mut self.statements)
    }
}

/// Runs statements on `client` (a connection or a transaction on it), each prepared once per
/// connection. Prepared statements belong to the connection, not to a transaction: one prepared
/// in a transaction that rolls back stays usable.
pub(super) struct Session<'a, C> {
    pub(super) client: &'a mut C,
    pub(super) statements: &'a mut HashMap<String, Statement>,
}

type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

impl<C: GenericClient> Session<'_, C> {
    fn prepared(&mut self, sql: &str) -> Result<Statement, ::postgres::Error> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql)?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    pub(super) fn query(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Vec<Row>, ::postgres::Error> {
        let statement = self.prepared(sql)?;
        self.client.query(&statement, params)
    }

    pub(super) fn query_opt(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Option<Row>, ::postgres::Error> {
        let statement = self.prepared(sql)?;
        self.client.query_opt(&statement, params)
    }

    pub(super) fn query_one(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Row, ::postgres::Error> {
        let statement = self.prepared(sql)?;
        self.client.query_one(&statement, params)
    }

    /// The first row `sql` selects with `params`, decoded by `decode`.
    pub(super) fn first<T>(
        &mut self,
        sql: &str,
        params: Params<'_>,
        decode: impl FnOnce(&dyn Columns) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        self.query_opt(sql, params)?
            .map(|row| decode(&row))
            .transpose()
    }

    /// Every row `sql` selects with `params`, decoded by `decode`.
    pub(super) fn every<T>(
        &mut self,
        sql: &str,
        params: Params<'_>,
        mut decode: impl FnMut(&dyn Columns) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        self.query(sql, params)?
            .iter()
            .map(|row| decode(row))
            .collect()
    }

    pub(super) fn execute(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<u64, ::postgres::Error> {
        let statement = self.prepared(sql)?;
        self.client.execute(&statement, params)
    }
}
