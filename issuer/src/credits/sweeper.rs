//! Releases reservations not settled before their TTL.
//!
//! The expiry is stored with each reservation, so nothing is lost across restarts: the sweeper
//! started after a crash releases whatever expired meanwhile. It runs every second (one indexed
//! query when nothing is due, in whatever batch the writer is committing anyway); a request that settles an open reservation past its expiry expires it
//! itself, so the outcome never depends on the sweeper's timing. Several processes on one database
//! may each run one: expiring runs in the store writer's `BEGIN IMMEDIATE` transaction and only
//! touches open rows.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::state::AppState;
use crate::store::Timestamp;

/// How often it looks for expired reservations.
const INTERVAL: Duration = Duration::from_secs(1);
/// Reservations expired per transaction, so that one sweep never holds the write lock long.
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
            match state.store.expire_reservations(now, BATCH).await {
                Ok(0) => {}
                Ok(count) => {
                    tracing::info!(count, "expired credit reservations released");
                    if count == BATCH as usize {
                        continue;
                    }
                }
                Err(err) => tracing::error!(error = ?err, "credit sweeper: storage failed"),
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
