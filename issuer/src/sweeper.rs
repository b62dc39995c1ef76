//! The periodic sweep loop that the credit and seat sweepers share.
//!
//! A sweep is a storage job that settles what fell due (expired reservations, lapsed floating
//! seats) a batch at a time. The loop runs it every interval; when a sweep fills its whole batch
//! it runs again at once, so that a backlog drains without waiting, and otherwise it sleeps until
//! the next interval or until it is stopped. Storage failures are logged and retried at the next
//! interval: what falls due stays stored, so nothing is lost.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::state::AppState;
use crate::store::{Pending, Timestamp};

/// What one kind of sweep does and how it reports.
#[derive(Debug, Clone, Copy)]
pub struct Sweep {
    /// How often it looks for what fell due.
    pub interval: Duration,
    /// Rows settled per transaction, so that one sweep never holds the writer long.
    pub batch: u32,
    /// The log message when a sweep settled something (with its `count`).
    pub settled: &'static str,
    /// The log message when a sweep's storage failed (with its `error`).
    pub failed: &'static str,
}

/// A running sweeper; [`Sweeper::stop`] ends it.
#[derive(Debug)]
pub struct Sweeper {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Starts a sweeper that runs `job(state, now, batch)` as `sweep` says. Call inside the tokio
/// runtime.
pub fn start<F>(state: &AppState, sweep: Sweep, job: F) -> Sweeper
where
    F: Fn(&AppState, Timestamp, u32) -> Pending<usize> + Send + 'static,
{
    let (stop, mut stopped) = watch::channel(false);
    let state = state.clone();
    let task = tokio::spawn(async move {
        while !*stopped.borrow() {
            let now = crate::clock::now().0 as Timestamp;
            match job(&state, now, sweep.batch).await {
                Ok(0) => {}
                Ok(count) => {
                    tracing::info!(count, "{}", sweep.settled);
                    if count == sweep.batch as usize {
                        continue;
                    }
                }
                Err(err) => tracing::error!(error = ?err, "{}", sweep.failed),
            }
            tokio::select! {
                _ = stopped.changed() => return,
                () = tokio::time::sleep(sweep.interval) => {}
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
