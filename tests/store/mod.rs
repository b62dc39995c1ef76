//! The backend conformance suite: every storage backend runs the same operations and keeps the same
//! invariants (credits, webhook deliveries, audited changes, the e-mail outbox, licences), through
//! the public `Store` and `Tx` interface only.
//!
//! Each test runs once per available backend ([`backends`]); a failure says which backend failed.

mod audited;
mod concurrency;
mod credits;
mod deliveries;
mod email;
mod expiry;
mod fixtures;
mod licenses;
mod machines;
mod settle;
mod signing_keys;

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

use tessera_issuer::store::postgres::PgStore;
use tessera_issuer::store::sqlite::SqliteStore;
use tessera_issuer::store::{Store, StoreError};
use tessera_issuer::testing::TestDatabase;

/// Connections of the PostgreSQL store under test: at least as many as threads any test runs at
/// once, so that none waits on the pool rather than on the database's locks.
const POSTGRES_POOL: u32 = 8;

/// One backend under test, with whatever keeps its data alive (a temporary directory, a test
/// database) for as long as the store is used.
pub struct Backend {
    /// Named in every failure.
    pub name: &'static str,
    /// Declared before `_keep`, so that it is closed before its data goes.
    pub store: Box<dyn Store>,
    _keep: Box<dyn Any>,
}

/// Every backend this machine can run, each fresh and empty.
pub fn backends() -> Vec<Backend> {
    [
        Some(backend("sqlite", tempdir(), |dir| {
            SqliteStore::open(&dir.path().join("db.sqlite3"))
        })),
        // `None`, after a printed notice, when the server is unreachable, unless
        // TESSERA_REQUIRE_POSTGRES=1 makes that a failure. Its pool is as large as the suite's
        // busiest test has threads, each connection standing for another issuer process.
        TestDatabase::create()
            .map(|db| backend("postgres", db, |db| PgStore::open(db.url(), POSTGRES_POOL))),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

/// The backend `open` makes of `keep`, which then lives as long as the store.
fn backend<K: Any, S: Store>(
    name: &'static str,
    keep: K,
    open: impl FnOnce(&K) -> Result<S, StoreError>,
) -> Backend {
    let store = open(&keep).unwrap_or_else(|err| panic!("cannot open the {name} store: {err}"));
    Backend {
        name,
        store: Box::new(store),
        _keep: Box::new(keep),
    }
}

/// Runs `test` on every backend, each on a fresh store; fails naming each backend it failed on.
pub fn on_each_backend(test: impl Fn(&dyn Store)) {
    let mut failures = Vec::new();
    for backend in backends() {
        let ran = panic::catch_unwind(AssertUnwindSafe(|| test(backend.store.as_ref())));
        if let Err(payload) = ran {
            failures.push(format!("on {}: {}", backend.name, panic_message(&*payload)));
        }
    }
    assert!(failures.is_empty(), "failed {}", failures.join("\nfailed "));
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "a panic without a message".to_owned())
}
