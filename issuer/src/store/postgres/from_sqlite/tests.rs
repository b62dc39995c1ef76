//! The copy against real databases: a SQLite file written here, a PostgreSQL test database.

use std::path::{Path, PathBuf};

use tessera_keys::SigningKey;

use super::*;
use crate::store::sqlite::SqliteStore;
use crate::testing::TestDatabase;

const LICENSE: &str = "00000000000000a7";

fn sorted(names: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut names: Vec<String> = names.into_iter().collect();
    names.sort();
    names
}

fn copied_tables() -> Vec<String> {
    sorted(COPIED_TABLES.iter().map(|&table| table.to_owned()))
}

/// A SQLite database at this issuer's schema version, with `rows` (SQL) written into it.
fn sqlite_with(dir: &Path, rows: &str) -> PathBuf {
    let path = dir.join("tessera.sqlite3");
    drop(SqliteStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(rows).unwrap();
    path
}

fn key_row(id: u32, sealed: &str) -> String {
    format!(
        "INSERT INTO signing_keys VALUES ({id}, '{}', x'{sealed}', 10);",
        SigningKey::generate(id).public_key()
    )
}

fn sealed(id: u32) -> StoredSigningKey {
    StoredSigningKey {
        key_id: id,
        public_key: SigningKey::generate(id).public_key(),
        sealed_secret: vec![7; 73],
        created_at: 20,
    }
}

fn client(store: &PgStore) -> r2d2::PooledConnection<super::super::Manager> {
    store.client().unwrap()
}

fn count(store: &PgStore, table: &str) -> i64 {
    client(store)
        .client()
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .unwrap()
        .get(0)
}

#[test]
fn every_table_of_the_sqlite_schema_is_copied() {
    let dir = tempfile::tempdir().unwrap();
    let conn = rusqlite::Connection::open(sqlite_with(dir.path(), "")).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(sorted(tables), copied_tables());
}

#[test]
fn every_table_of_the_postgres_schema_is_copied() {
    let Some(db) = TestDatabase::create() else {
        return;
    };
    let store = PgStore::open(db.url(), 1).unwrap();
    let tables = client(&store)
        .client()
        .query(
            "SELECT table_name::TEXT FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_name <> $1",
            &[&POSTGRES_ONLY],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect::<Vec<String>>();
    assert_eq!(sorted(tables), copied_tables());
}

#[test]
fn rows_copy_with_their_ids_and_new_rows_get_larger_ids() {
    let Some(db) = TestDatabase::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rows = format!(
        "INSERT INTO licenses (id, product, tier, features, status, email, created_at, updated_at)
             VALUES ('{LICENSE}', 4294967295, 2, -1, 'active', NULL, 10, 11);
         INSERT INTO license_keys (id, license_id, key_text, signing_key_id, issued_at, reason)
             VALUES (7, '{LICENSE}', 'ts1_key', 5, 10, 'purchase');
         INSERT INTO credit_ledger
             (id, license_id, kind, period, top_up, period_reserved, top_up_reserved, reason, at)
             VALUES (40, '{LICENSE}', 'grant', 0, 5, 0, 0, 'top-up', 10),
                    (50, '{LICENSE}', 'grant', 0, 1, 0, 0, 'gone', 10);
         -- SQLite never gives id 50 again (AUTOINCREMENT): neither may PostgreSQL.
         DELETE FROM credit_ledger WHERE id = 50;
         INSERT INTO audit_log (id, at, actor, action, license_id, details)
             VALUES (3, 10, 'support', 'license.issue', '{LICENSE}', '{{}}');
         {}",
        key_row(5, "0102ff")
    );
    let path = sqlite_with(dir.path(), &rows);
    let before = std::fs::read(&path).unwrap();
    let store = PgStore::open(db.url(), 1).unwrap();

    let report = store.copy_from_sqlite(&path, &[sealed(6)]).unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the SQLite file is only read"
    );
    let copied = |table: &str| {
        report
            .tables
            .iter()
            .find(|(name, _)| *name == table)
            .unwrap()
            .1
    };
    assert_eq!(
        (
            copied("licenses"),
            copied("license_keys"),
            copied("credit_ledger")
        ),
        (1, 1, 1)
    );
    assert_eq!((copied("audit_log"), copied("signing_keys")), (1, 1));
    assert_eq!(copied("counters"), 0);
    assert_eq!(report.rows(), 5);
    assert_eq!(report.keys_added, [6]);

    let mut conn = client(&store);
    let pg = conn.client();
    let license = pg
        .query_one(
            "SELECT product, features, email, updated_at FROM licenses",
            &[],
        )
        .unwrap();
    assert_eq!(license.get::<_, i64>(0), 4_294_967_295);
    assert_eq!(license.get::<_, i64>(1), -1);
    assert_eq!(license.get::<_, Option<String>>(2), None);
    assert_eq!(license.get::<_, i64>(3), 11);
    let keys: Vec<(i64, Vec<u8>)> = pg
        .query(
            "SELECT key_id, sealed_secret FROM signing_keys ORDER BY key_id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert_eq!(keys, [(5, vec![1, 2, 0xff]), (6, vec![7; 73])]);

    let mut new_id = |sql: &str| -> i64 { pg.query_one(sql, &[]).unwrap().get(0) };
    assert_eq!(
        new_id(&format!(
            "INSERT INTO license_keys (license_id, key_text, signing_key_id, issued_at, reason)
             VALUES ('{LICENSE}', 'ts1_new', 6, 20, 'renewal') RETURNING id"
        )),
        8
    );
    assert_eq!(
        new_id(&format!(
            "INSERT INTO credit_ledger
                 (license_id, kind, period, top_up, period_reserved, top_up_reserved, reason, at)
             VALUES ('{LICENSE}', 'grant', 0, 1, 0, 0, 'new', 20) RETURNING id"
        )),
        51
    );
    assert_eq!(
        new_id(
            "INSERT INTO audit_log (at, actor, action, details)
             VALUES (20, 'support', 'keys.rotate', '{}') RETURNING id"
        ),
        4
    );
    // Tables that were empty start at 1.
    assert_eq!(
        new_id(&format!(
            "INSERT INTO email_outbox (license_id, to_address, subject, body, status, attempts,
                 next_attempt_at, created_at)
             VALUES ('{LICENSE}', 'a@b.c', 's', 'b', 'queued', 0, 0, 0) RETURNING id"
        )),
        1
    );
}

#[test]
fn a_target_with_rows_is_refused_and_left_as_it_was() {
    let Some(db) = TestDatabase::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = sqlite_with(dir.path(), &key_row(1, "01"));
    let store = PgStore::open(db.url(), 1).unwrap();
    client(&store)
        .client()
        .batch_execute("INSERT INTO counters VALUES ('revocation_sequence', 3, 10)")
        .unwrap();

    let err = store.copy_from_sqlite(&path, &[]).unwrap_err();
    assert!(
        matches!(&err, CopyError::TargetNotEmpty { table } if table == "counters"),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "the target database is not empty (table counters has rows): copy only into a new, \
         empty database"
    );
    assert_eq!(count(&store, "signing_keys"), 0);
    assert_eq!(count(&store, "counters"), 1);
}

#[test]
fn a_failed_copy_leaves_the_target_empty() {
    let Some(db) = TestDatabase::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rows = format!(
        "INSERT INTO licenses (id, product, tier, features, status, created_at, updated_at)
             VALUES ('{LICENSE}', 1, 1, 1, 'active', 10, 10);
         {}",
        key_row(1, "01")
    );
    let path = sqlite_with(dir.path(), &rows);
    let store = PgStore::open(db.url(), 1).unwrap();

    // Key 1 is a row of the SQLite database already: the copy fails after copying every table.
    let err = store.copy_from_sqlite(&path, &[sealed(1)]).unwrap_err();
    assert!(matches!(err, CopyError::KeyIdTaken(1)), "{err}");
    for table in COPIED_TABLES {
        assert_eq!(count(&store, table), 0, "{table}");
    }
    // And the target takes a copy afterwards.
    assert_eq!(
        store.copy_from_sqlite(&path, &[sealed(2)]).unwrap().rows(),
        2
    );
}

#[test]
fn a_sqlite_database_not_at_the_latest_schema_or_missing_is_refused() {
    let Some(db) = TestDatabase::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let latest = MIGRATIONS.len();
    let path = sqlite_with(
        dir.path(),
        &format!("PRAGMA user_version = {};", latest - 1),
    );
    let store = PgStore::open(db.url(), 1).unwrap();

    let err = store.copy_from_sqlite(&path, &[]).unwrap_err();
    assert!(
        matches!(err, CopyError::SourceVersion { found, .. } if found == latest as i64 - 1),
        "{err}"
    );
    assert!(
        err.to_string().contains("start this issuer once on it"),
        "{err}"
    );

    let missing = dir.path().join("nothing-here.sqlite3");
    let err = store.copy_from_sqlite(&missing, &[]).unwrap_err();
    assert!(matches!(err, CopyError::NoSource(_)), "{err}");
    assert!(!missing.exists(), "never created");
}
