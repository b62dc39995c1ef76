//! Test support shared by this crate's unit tests and the `tessera-tests` crate; not part of the
//! issuer's interface.
//!
//! Tests that need PostgreSQL each get a database of their own, made on the server at
//! `postgres://postgres@127.0.0.1:5432/postgres` (or `TESSERA_TEST_POSTGRES_URL`) and dropped when
//! the test ends. Without a reachable server such a test prints a notice and returns early, unless
//! `TESSERA_REQUIRE_POSTGRES=1` (as CI sets it), which makes a missing server a failure.

use std::sync::atomic::{AtomicU32, Ordering};

use ::postgres::Client;

use crate::store::postgres::PgTarget;

/// The server tests use unless `TESSERA_TEST_POSTGRES_URL` names another.
pub const DEFAULT_TEST_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A fresh, empty database for one test, dropped (connections and all) when this is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// Makes a database with a unique name, or `None` (after a notice on stderr) if the server
    /// cannot be reached and `TESSERA_REQUIRE_POSTGRES` is not `1`.
    ///
    /// # Panics
    ///
    /// If the server cannot be reached and `TESSERA_REQUIRE_POSTGRES=1`, or refuses to make it.
    pub fn create() -> Option<TestDatabase> {
        let admin_url = std::env::var("TESSERA_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| DEFAULT_TEST_POSTGRES_URL.to_owned());
        let mut admin = match off_runtime(|| connect(&admin_url)) {
            Ok(client) => client,
            Err(err) if std::env::var("TESSERA_REQUIRE_POSTGRES").as_deref() == Ok("1") => {
                panic!(
                    "TESSERA_REQUIRE_POSTGRES=1 but PostgreSQL is unreachable: {}",
                    with_causes(&err)
                )
            }
            Err(err) => {
                eprintln!(
                    "notice: PostgreSQL is unreachable ({}): test skipped",
                    with_causes(&err)
                );
                return None;
            }
        };
        let name = unique_name();
        off_runtime(|| {
            admin.batch_execute(&format!("CREATE DATABASE {name}"))?;
            // Closed here too: dropping the client blocks on its own runtime.
            admin.close()
        })
        .unwrap_or_else(|err| panic!("cannot create test database {name}: {err}"));
        Some(TestDatabase {
            url: with_database(&admin_url, &name),
            admin_url,
            name,
        })
    }

    /// The database's URL, for `PgStore::open`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // FORCE ends the connections a test's pool still holds. A pool of a store just dropped
        // may still be opening one as the database goes, which makes the drop fail: try again.
        let drop_once = || {
            off_runtime(|| {
                let mut admin = connect(&self.admin_url)?;
                admin.batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ))?;
                admin.close()
            })
        };
        let mut dropped = drop_once();
        for _ in 0..5 {
            if dropped.is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
            dropped = drop_once();
        }
        if let Err(err) = dropped {
            eprintln!("warning: cannot drop test database {}: {err}", self.name);
        }
    }
}

/// Connects to `url` as the issuer does (TLS as its `sslmode` says). Not on a thread that drives
/// async tasks (see [`off_runtime`]).
///
/// # Panics
///
/// If `url` is not one the issuer would connect with.
pub fn connect(url: &str) -> Result<Client, ::postgres::Error> {
    PgTarget::parse(url)
        .unwrap_or_else(|err| panic!("test database URL: {err}"))
        .connect()
}

/// Runs `work` on a thread of its own: the blocking client runs a runtime of its own, which cannot
/// start on a thread that drives async tasks (a `#[tokio::test]`).
fn off_runtime<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(work)
            .join()
            .expect("test database thread panicked")
    })
}

/// `err` and its sources on one line: the client's own message alone does not say why.
fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Unique across the tests of this process, and across processes (the pid) and runs (a random
/// part, so a database a killed run left behind is never reused).
fn unique_name() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "tessera_test_{}_{}_{:08x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        rand::random::<u32>()
    )
}

/// `url` with its database (the path) replaced by `name`, its query kept.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_replaces_the_path_and_the_query_stays() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgresql://u:p@h/db?sslmode=disable", "t2"),
            "postgresql://u:p@h/t2?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "t3"),
            "postgres://h:5432/t3"
        );
    }

    #[test]
    fn a_test_database_is_made_empty_and_dropped_at_the_end() {
        let Some(db) = TestDatabase::create() else {
            return;
        };
        let name = db.name.clone();
        let mut client = connect(db.url()).unwrap();
        let tables: i64 = client
            .query_one(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(tables, 0);
        let admin_url = db.admin_url.clone();
        drop(db);
        let mut admin = connect(&admin_url).unwrap();
        let left: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_database WHERE datname = $1",
                &[&name],
            )
            .unwrap()
            .get(0);
        assert_eq!(left, 0);
    }
}
