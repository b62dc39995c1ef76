//! Frees floating seats whose machines stopped heart-beating.
//!
//! When a seat lapses is stored with each machine (`lapses_at`), so nothing is lost across
//! restarts: a sweeper started after a crash frees whatever lapsed meanwhile. It runs every second
//! on the store's writer (one indexed query when nothing is due); an activation or heartbeat that
//! finds a lapsed seat frees it itself, so the outcome never depends on the sweeper's timing.
//! Several processes on one database may each run one: each machine is read again under its
//! licence's seat lock and only freed if it still holds a lapsed seat, so it is freed once.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::rules;
use crate::state::AppState;
use crate::store::{queued, Timestamp};

/// How often it looks for lapsed seats.
const INTERVAL: Duration = Duration::from_secs(1);
/// Seats freed per transaction, so that one sweep never holds the writer long.
const BATCH: u32 = 500;

/// The running sweeper; [`Sweeper::stop`] ends it.
#[derive(Debug)]
pub struct Sweeper {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Starts the sweeper. Call inside the tokio runtime.
pub fn start(state: &AppState) -> Sweeper {
    let (stop, mut stopped) = watch::channel(false);
    let state = state.clone();
    let task = tokio::spawn(async move {
        while !*stopped.borrow() {
            let now = crate::clock::now().0 as Timestamp;
            let swept = queued(&*state.store, move |tx| rules::free_lapsed(tx, now, BATCH)).await;
            match swept {
                Ok(0) => {}
                Ok(count) => {
                    tracing::info!(count, "lapsed floating seats freed");
                    if count == BATCH as usize {
                        continue;
                    }
                }
                Err(err) => tracing::error!(error = ?err, "seat sweeper: storage failed"),
            }
            tokio::select! {
                _ = stopped.changed() => return,
                () = tokio::time::sleep(INTERVAL) => {}
            }
        }
    });
    Sweeper { stop, task }
}

impl Sweeper {
    /// Stops the sweeper after the sweep in progress, if any.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}
