//! Releases reservations not settled before their TTL.
//!
//! The expiry is stored with each reservation, so nothing is lost across restarts: the sweeper
//! started after a crash releases whatever expired meanwhile. It runs every second (one indexed
//! query when nothing is due, in whatever batch the writer is committing anyway); a request that settles an open reservation past its expiry expires it
//! itself, so the outcome never depends on the sweeper's timing. Several processes on one database
//! may each run one: expiring runs in the store writer's `BEGIN IMMEDIATE` transaction and only
//! touches open rows.

use std::time::Duration;

use crate::state::AppState;
pub use crate::sweeper::Sweeper;
use crate::sweeper::{self, Sweep};

/// How often it looks for expired reservations, and how many it expires per transaction (so that
/// one sweep never holds the write lock long).
const SWEEP: Sweep = Sweep {
    interval: Duration::from_secs(1),
    batch: 500,
    settled: "expired credit reservations released",
    failed: "credit sweeper: storage failed",
};

/// Starts the sweeper. Call inside the tokio runtime.
pub fn start(state: &AppState) -> Sweeper {
    sweeper::start(state, SWEEP, |state, now, batch| {
        state.store.expire_reservations(now, batch)
    })
}
