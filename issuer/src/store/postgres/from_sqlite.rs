//! Copying a SQLite database into an empty PostgreSQL one, for an issuer that outgrows one machine
//! (`tessera-issuer migrate-from-sqlite`).
//!
//! Both schemas have the same tables and columns ([`super::migrations`]), so each table copies
//! column for column, ids and all. The SQLite file is opened read-only and read in one transaction,
//! so the copy is of one moment. The rows go into PostgreSQL in one transaction, streamed with
//! binary `COPY` (no table is ever held in memory), so the target gets every row or none; the
//! transaction locks every table against writes first, so no issuer process writes beside it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ::postgres::binary_copy::BinaryCopyInWriter;
use ::postgres::types::{ToSql, Type};
use rusqlite::types::ValueRef;

use super::{add_signing_key, PgStore, Session};
use crate::store::migrations::MIGRATIONS;
use crate::store::{StoreError, StoredSigningKey};

/// Every table of both schemas, each copied whole, in an order that copies a row after the rows it
/// refers to (licences first). The one list of what is copied: a migration that adds a table must
/// add it here, and the tests fail until it does.
pub const COPIED_TABLES: &[&str] = &[
    "licenses",
    "license_keys",
    "revocations",
    "email_outbox",
    "counters",
    "webhook_events",
    "subscriptions",
    "payment_reversals",
    "payment_subscriptions",
    "credit_grants",
    "credit_accounts",
    "credit_ledger",
    "credit_reservations",
    "credit_idempotency",
    "audit_log",
    "signing_keys",
    "machines",
];

/// PostgreSQL's record of its own migrations: made by [`PgStore::open`], never copied.
const POSTGRES_ONLY: &str = "schema_migrations";

/// What was copied.
#[derive(Debug)]
pub struct CopyReport {
    /// Rows copied, per table, in [`COPIED_TABLES`] order.
    pub tables: Vec<(&'static str, u64)>,
    /// Signing keys added beside the copied rows (those kept as files beside the SQLite database).
    pub keys_added: Vec<u32>,
    /// From the first row read to the commit.
    pub elapsed: Duration,
}

impl CopyReport {
    /// Rows copied in all.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|(_, rows)| rows).sum()
    }

    /// Rows copied per second.
    pub fn rows_per_second(&self) -> f64 {
        self.rows() as f64 / self.elapsed.as_secs_f64().max(1e-6)
    }
}

/// Why a copy was refused or failed; the target is then left as it was.
#[derive(Debug)]
pub enum CopyError {
    /// No SQLite database at this path.
    NoSource(PathBuf),
    /// The SQLite database is not at this issuer's schema version.
    SourceVersion {
        /// Its version.
        found: i64,
        /// This issuer's.
        latest: usize,
    },
    /// The SQLite database could not be read.
    Source {
        /// What was being read.
        reading: String,
        /// Why.
        source: StoreError,
    },
    /// A stored value does not fit its PostgreSQL column.
    Value {
        /// The table.
        table: &'static str,
        /// The column.
        column: String,
        /// What is wrong.
        problem: String,
    },
    /// A table's columns differ between the two databases.
    Columns {
        /// The table.
        table: &'static str,
        /// The SQLite database's columns.
        sqlite: Vec<String>,
        /// The PostgreSQL database's columns.
        postgres: Vec<String>,
    },
    /// The target holds data already.
    TargetNotEmpty {
        /// The first table (by name) that has rows.
        table: String,
    },
    /// A signing key to add has the key id of one the SQLite database keeps.
    KeyIdTaken(u32),
    /// PostgreSQL failed.
    Target {
        /// What was being done.
        doing: String,
        /// Why.
        source: StoreError,
    },
}

impl std::fmt::Display for CopyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CopyError::NoSource(path) => write!(f, "no SQLite database at {}", path.display()),
            CopyError::SourceVersion { found, latest } if *found > *latest as i64 => write!(
                f,
                "the SQLite database is at schema version {found}, newer than this issuer's \
                 ({latest}): use the issuer version that last ran on it"
            ),
            CopyError::SourceVersion { found, latest } => write!(
                f,
                "the SQLite database is at schema version {found}, this issuer's is {latest}: \
                 start this issuer once on it (it migrates the database at start), stop it, then \
                 copy again"
            ),
            CopyError::Source { reading, source } => {
                write!(f, "cannot read the SQLite database ({reading}): {source}")
            }
            CopyError::Value {
                table,
                column,
                problem,
            } => write!(f, "table {table}, column {column}: {problem}"),
            CopyError::Columns {
                table,
                sqlite,
                postgres,
            } => write!(
                f,
                "table {table} has columns {sqlite:?} in SQLite and {postgres:?} in PostgreSQL"
            ),
            CopyError::TargetNotEmpty { table } => write!(
                f,
                "the target database is not empty (table {table} has rows): copy only into a \
                 new, empty database"
            ),
            CopyError::KeyIdTaken(id) => write!(
                f,
                "signing key {id} is both a key file and a row of the SQLite database's \
                 signing_keys table"
            ),
            CopyError::Target { doing, source } => write!(f, "PostgreSQL: {doing}: {source}"),
        }
    }
}

impl std::error::Error for CopyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CopyError::Source { source, .. } | CopyError::Target { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn reading(what: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> CopyError {
    let reading = what.into();
    move |err| CopyError::Source {
        reading,
        source: err.into(),
    }
}

fn doing(what: impl Into<String>) -> impl FnOnce(::postgres::Error) -> CopyError {
    let doing = what.into();
    move |err| CopyError::Target {
        doing,
        source: err.into(),
    }
}

impl PgStore {
    /// Copies every row of the SQLite database at `sqlite` into this one, which must hold no rows,
    /// then adds `signing_keys` (the keys the SQLite issuer kept as files, sealed). All in one
    /// transaction; each identity column's sequence is then past the largest id copied, so new
    /// rows never take a copied id.
    pub fn copy_from_sqlite(
        &self,
        sqlite: &Path,
        signing_keys: &[StoredSigningKey],
    ) -> Result<CopyReport, CopyError> {
        if !sqlite.is_file() {
            return Err(CopyError::NoSource(sqlite.to_owned()));
        }
        let mut source = open_read_only(sqlite).map_err(reading("opening it"))?;
        // One read transaction: everything below is read from the same moment, whatever a process
        // still writing to the file does meanwhile.
        let snapshot = source
            .transaction()
            .map_err(reading("starting a read transaction"))?;
        let found: i64 = snapshot
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(reading("its schema version"))?;
        if found != MIGRATIONS.len() as i64 {
            return Err(CopyError::SourceVersion {
                found,
                latest: MIGRATIONS.len(),
            });
        }
        let autoincrement = autoincrement_marks(&snapshot)?;

        let mut conn = self.client().map_err(|source| CopyError::Target {
            doing: "connecting".into(),
            source,
        })?;
        let (client, statements) = conn.parts();
        let mut tx = client
            .transaction()
            .map_err(doing("starting a transaction"))?;
        lock_and_refuse_data(&mut tx)?;
        let started = Instant::now();
        let mut tables = Vec::with_capacity(COPIED_TABLES.len());
        for &table in COPIED_TABLES {
            tables.push((table, copy_table(&snapshot, &mut tx, table)?));
        }
        let mut session = Session {
            client: &mut tx,
            statements,
        };
        let mut keys_added = Vec::with_capacity(signing_keys.len());
        for key in signing_keys {
            let added = add_signing_key(&mut session, key).map_err(|source| CopyError::Target {
                doing: format!("adding signing key {}", key.key_id),
                source,
            })?;
            if !added {
                return Err(CopyError::KeyIdTaken(key.key_id));
            }
            keys_added.push(key.key_id);
        }
        for &table in COPIED_TABLES {
            move_identities_past_copied(&mut tx, table, autoincrement.get(table).copied())?;
        }
        tx.commit().map_err(doing("committing the copy"))?;
        Ok(CopyReport {
            tables,
            keys_added,
            elapsed: started.elapsed(),
        })
    }
}

/// The file at `path`, which is only read: never created, written or migrated.
fn open_read_only(path: &Path) -> Result<rusqlite::Connection, rusqlite::Error> {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // An issuer still running on the file may hold its lock for a moment (a checkpoint).
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

/// The largest id each AUTOINCREMENT table ever gave (`sqlite_sequence`), which may exceed the
/// largest id it still holds: SQLite never gives such an id again, and neither must PostgreSQL.
fn autoincrement_marks(
    sqlite: &rusqlite::Connection,
) -> Result<std::collections::HashMap<String, i64>, CopyError> {
    let read = || -> Result<_, rusqlite::Error> {
        let exists: bool = sqlite.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE name = 'sqlite_sequence')",
            [],
            |row| row.get(0),
        )?;
        if !exists {
            return Ok(Default::default());
        }
        sqlite
            .prepare("SELECT name, seq FROM sqlite_sequence")?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect()
    };
    read().map_err(reading("sqlite_sequence"))
}

/// Locks every table of the target against writes until the copy commits, then refuses if any
/// holds a row.
fn lock_and_refuse_data(tx: &mut ::postgres::Transaction<'_>) -> Result<(), CopyError> {
    let tables: Vec<String> = tx
        .query(
            "SELECT table_name::TEXT FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
               AND table_name <> $1
             ORDER BY table_name",
            &[&POSTGRES_ONLY],
        )
        .map_err(doing("listing its tables"))?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let list: Vec<String> = tables.iter().map(|table| quoted(table)).collect();
    tx.batch_execute(&format!("LOCK TABLE {} IN EXCLUSIVE MODE", list.join(", ")))
        .map_err(doing("locking its tables"))?;
    for table in tables {
        let has_rows: bool = tx
            .query_one(
                &format!("SELECT EXISTS (SELECT 1 FROM {})", quoted(&table)),
                &[],
            )
            .map_err(doing(format!("reading table {table}")))?
            .get(0);
        if has_rows {
            return Err(CopyError::TargetNotEmpty { table });
        }
    }
    Ok(())
}

/// Copies every row of `table`, streamed: each row read from SQLite is written to PostgreSQL's
/// `COPY` at once. Returns how many.
fn copy_table(
    sqlite: &rusqlite::Connection,
    tx: &mut ::postgres::Transaction<'_>,
    table: &'static str,
) -> Result<u64, CopyError> {
    let columns: Vec<(String, Type)> = tx
        .prepare(&format!("SELECT * FROM {}", quoted(table)))
        .map_err(doing(format!("reading the columns of {table}")))?
        .columns()
        .iter()
        .map(|column| (column.name().to_owned(), column.type_().clone()))
        .collect();
    let names: Vec<String> = columns.iter().map(|(name, _)| name.clone()).collect();
    let sqlite_names: Vec<String> = sqlite
        .prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")
        .and_then(|mut statement| statement.query_map([table], |row| row.get(0))?.collect())
        .map_err(reading(format!("the columns of {table}")))?;
    if sqlite_names != names {
        return Err(CopyError::Columns {
            table,
            sqlite: sqlite_names,
            postgres: names,
        });
    }
    let list: Vec<String> = names.iter().map(|name| quoted(name)).collect();
    let list = list.join(", ");
    let types: Vec<Type> = columns.iter().map(|(_, ty)| ty.clone()).collect();
    let sink = tx
        .copy_in(&format!(
            "COPY {} ({list}) FROM STDIN (FORMAT binary)",
            quoted(table)
        ))
        .map_err(doing(format!("copying into {table}")))?;
    let mut sink = BinaryCopyInWriter::new(sink, &types);
    let mut statement = sqlite
        .prepare(&format!("SELECT {list} FROM {}", quoted(table)))
        .map_err(reading(format!("table {table}")))?;
    let mut rows = statement
        .query([])
        .map_err(reading(format!("table {table}")))?;
    let mut copied = 0;
    while let Some(row) = rows.next().map_err(reading(format!("table {table}")))? {
        let mut cells: Vec<Box<dyn ToSql + Sync + '_>> = Vec::with_capacity(columns.len());
        for (index, (name, ty)) in columns.iter().enumerate() {
            let value = row
                .get_ref(index)
                .map_err(reading(format!("table {table}")))?;
            cells.push(cell(value, ty).map_err(|problem| CopyError::Value {
                table,
                column: name.clone(),
                problem,
            })?);
        }
        sink.write_raw(cells)
            .map_err(doing(format!("copying into {table}")))?;
        copied += 1;
    }
    sink.finish()
        .map_err(doing(format!("copying into {table}")))?;
    Ok(copied)
}

/// SQLite's `value` as PostgreSQL's column type `ty` wants it. Every table is STRICT in SQLite, so
/// its values already have their column's type; anything else is a damaged file.
fn cell<'r>(value: ValueRef<'r>, ty: &Type) -> Result<Box<dyn ToSql + Sync + 'r>, String> {
    Ok(match (value, ty) {
        (ValueRef::Null, &Type::INT8) => Box::new(None::<i64>),
        (ValueRef::Null, &Type::TEXT) => Box::new(None::<&str>),
        (ValueRef::Null, &Type::BYTEA) => Box::new(None::<&[u8]>),
        (ValueRef::Integer(number), &Type::INT8) => Box::new(number),
        (ValueRef::Text(bytes), &Type::TEXT) => Box::new(
            std::str::from_utf8(bytes).map_err(|_| "a text value that is not UTF-8".to_owned())?,
        ),
        (ValueRef::Blob(bytes), &Type::BYTEA) => Box::new(bytes),
        (value, ty) => {
            return Err(format!(
                "a SQLite {:?} value where PostgreSQL keeps {ty}",
                value.data_type()
            ))
        }
    })
}

/// Moves the sequence of each identity column of `table` past the largest id copied into it, and
/// past `autoincrement`, the largest id SQLite ever gave there.
fn move_identities_past_copied(
    tx: &mut ::postgres::Transaction<'_>,
    table: &str,
    autoincrement: Option<i64>,
) -> Result<(), CopyError> {
    let identities: Vec<String> = tx
        .query(
            "SELECT column_name::TEXT FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1 AND is_identity = 'YES'",
            &[&table],
        )
        .map_err(doing(format!("finding the identity columns of {table}")))?
        .iter()
        .map(|row| row.get(0))
        .collect();
    for column in identities {
        let moving = || format!("moving the sequence of {table}.{column}");
        let largest: Option<i64> = tx
            .query_one(
                &format!("SELECT max({}) FROM {}", quoted(&column), quoted(table)),
                &[],
            )
            .map_err(doing(moving()))?
            .get(0);
        let Some(largest) = largest.max(autoincrement).filter(|&id| id >= 1) else {
            continue;
        };
        // The next id given is `largest + 1`.
        tx.execute(
            "SELECT setval(pg_get_serial_sequence($1, $2), $3)",
            &[&quoted(table), &column, &largest],
        )
        .map_err(doing(moving()))?;
    }
    Ok(())
}

/// `name` as an SQL identifier (both databases quote alike).
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests;
