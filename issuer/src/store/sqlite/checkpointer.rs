//! WAL checkpoints on a thread of their own.
//!
//! SQLite's automatic checkpoint runs inside whichever commit crosses the threshold (1000 pages):
//! that commit then copies the WAL into the database file and waits for its `fsync`, and every
//! request queued behind it waits too; under load that was a stall of up to a few hundred
//! milliseconds. Here the connections that write never checkpoint; this thread runs a `PASSIVE`
//! checkpoint every second, which copies what no reader still needs and never blocks a writer. A
//! checkpoint missed by a crash is simply done by the next one (or by the next start).

use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use crate::store::StoreError;

/// How often it checkpoints.
const INTERVAL: Duration = Duration::from_secs(1);

/// The running checkpointer; dropping it stops it after one last checkpoint.
#[derive(Debug)]
pub(super) struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing the database at `path` on a connection of its own.
    pub(super) fn start(path: &Path) -> Result<Checkpointer, StoreError> {
        let conn = Connection::open(path)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".to_owned())
            .spawn(move || loop {
                let last = !matches!(
                    stopped.recv_timeout(INTERVAL),
                    Err(mpsc::RecvTimeoutError::Timeout)
                );
                if let Err(err) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!(error = %err, "WAL checkpoint failed; trying again later");
                }
                if last {
                    return;
                }
            })
            .map_err(|err| StoreError::internal("cannot start the checkpointer").caused_by(err))?;
        Ok(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
