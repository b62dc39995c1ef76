//! Frees floating seats whose machines stopped heart-beating.
//!
//! When a seat lapses is stored with each machine (`lapses_at`), so nothing is lost across
//! restarts: a sweeper started after a crash frees whatever lapsed meanwhile. It runs every second
//! on the store's writer (one indexed query when nothing is due); an activation or heartbeat that
//! finds a lapsed seat frees it itself, so the outcome never depends on the sweeper's timing.
//! Several processes on one database may each run one: each machine is read again under its
//! licence's seat lock and only freed if it still holds a lapsed seat, so it is freed once.

use std::time::Duration;

use super::rules;
use crate::state::AppState;
use crate::store::queued;
pub use crate::sweeper::Sweeper;
use crate::sweeper::{self, Sweep};

/// How often it looks for lapsed seats, and how many it frees per transaction (so that one sweep
/// never holds the writer long).
const SWEEP: Sweep = Sweep {
    interval: Duration::from_secs(1),
    batch: 500,
    settled: "lapsed floating seats freed",
    failed: "seat sweeper: storage failed",
};

/// Starts the sweeper. Call inside the tokio runtime.
pub fn start(state: &AppState) -> Sweeper {
    sweeper::start(state, SWEEP, |state, now, batch| {
        queued(&*state.store, move |tx| rules::free_lapsed(tx, now, batch))
    })
}
