//! The threads that run queued credit jobs ([`Store::submit`](crate::store::Store::submit)), each
//! in a transaction of its own on a pooled connection, so that no job runs on the async executor
//! and jobs for different licences run side by side.

use std::panic::AssertUnwindSafe;
use std::sync::{mpsc, Arc, Mutex};

use super::{Manager, PgTx};
use crate::store::{Panicked, StoreError, WriteJob};

type Queue = Arc<Mutex<mpsc::Receiver<Box<dyn WriteJob>>>>;

/// The job queue; the threads stop once it is dropped and empty.
#[derive(Debug)]
pub(super) struct Writer {
    queue: Mutex<mpsc::Sender<Box<dyn WriteJob>>>,
}

impl std::fmt::Debug for dyn WriteJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteJob")
    }
}

impl Writer {
    /// Starts `threads` threads taking jobs from one queue.
    pub(super) fn start(pool: r2d2::Pool<Manager>, threads: u32) -> std::io::Result<Writer> {
        let (sender, receiver) = mpsc::channel::<Box<dyn WriteJob>>();
        let receiver: Queue = Arc::new(Mutex::new(receiver));
        for i in 0..threads {
            let (pool, receiver) = (pool.clone(), receiver.clone());
            std::thread::Builder::new()
                .name(format!("pg-writer-{i}"))
                .spawn(move || {
                    while let Some(job) = next(&receiver) {
                        run(&pool, job);
                    }
                })?;
        }
        Ok(Writer {
            queue: Mutex::new(sender),
        })
    }

    pub(super) fn submit(&self, job: Box<dyn WriteJob>) {
        let queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(mpsc::SendError(job)) = queue.send(job) {
            job.abandon(&StoreError::internal("the storage writer has stopped"));
        }
    }
}

fn next(receiver: &Queue) -> Option<Box<dyn WriteJob>> {
    // Held only while waiting for one job: the thread that gets it lets the next one wait.
    let receiver = receiver.lock().unwrap_or_else(|p| p.into_inner());
    receiver.recv().ok()
}

/// Runs `job` in a transaction: committed if it succeeded, rolled back if it failed or panicked;
/// its answer is given after the commit.
fn run(pool: &r2d2::Pool<Manager>, job: Box<dyn WriteJob>) {
    let mut conn = match pool.get() {
        Ok(conn) => conn,
        Err(err) => return job.abandon(&StoreError::from(err)),
    };
    let (client, statements) = conn.parts();
    let mut tx = match client.transaction() {
        Ok(tx) => PgTx::new(tx, statements),
        Err(err) => return job.abandon(&StoreError::from(err)),
    };
    // A job that panicked dropped its reply: its client hears "stopped before answering".
    let ran = std::panic::catch_unwind(AssertUnwindSafe(|| job.run(&mut tx)))
        .unwrap_or_else(|_| Box::new(Panicked));
    if ran.succeeded() {
        let committed = tx.commit();
        if let Err(err) = &committed {
            tracing::error!(error = %err, "credit job cannot commit");
        }
        ran.deliver(committed.err().as_ref());
    } else {
        // Dropping the transaction rolls it back.
        drop(tx);
        ran.deliver(None);
    }
}
