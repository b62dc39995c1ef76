//! Group commit: credit operations queued by many requests at once share one transaction, and so
//! one `fsync`.
//!
//! With `synchronous=FULL` every commit waits for the disk; one commit per request caps a store at a
//! few thousand credit operations a second whatever the CPU does. The writer thread owns its own
//! connection and takes whatever has queued while the previous commit was on its way to disk: each
//! operation runs in a savepoint of one `BEGIN IMMEDIATE` transaction (a failing one rolls back alone),
//! and every answer is sent only after the `COMMIT` has returned, so a client never hears of an effect
//! that a crash could still undo. Under light load a batch is one operation and nothing waits.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::thread::JoinHandle;

use rusqlite::Connection;

use super::{Effects, WriteGate};
use crate::store::{Panicked, RanJob, StoreError, WriteJob};

/// Operations per transaction at most, so that one batch never holds the write lock for long.
const MAX_BATCH: usize = 256;

/// The writer thread and the queue into it. Dropping it finishes what was queued, then stops it.
#[derive(Debug)]
pub(super) struct Writer {
    queue: Option<mpsc::Sender<Box<dyn WriteJob>>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer on `conn`.
    pub(super) fn start(conn: Connection, gate: WriteGate) -> std::io::Result<Writer> {
        let (queue, jobs) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || run(&conn, &gate, &jobs))?;
        Ok(Writer {
            queue: Some(queue),
            thread: Some(thread),
        })
    }

    /// Queues `job` for the next transaction; it answers once that transaction commits.
    pub(super) fn submit(&self, job: Box<dyn WriteJob>) {
        match &self.queue {
            Some(queue) => {
                if let Err(mpsc::SendError(job)) = queue.send(job) {
                    job.abandon(&StoreError::internal("the storage writer has stopped"));
                }
            }
            None => job.abandon(&StoreError::internal("the storage writer has stopped")),
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(conn: &Connection, gate: &WriteGate, jobs: &mpsc::Receiver<Box<dyn WriteJob>>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        batch.extend(jobs.try_iter().take(MAX_BATCH - 1));
        let turn = gate.0.lock();
        commit_batch(conn, batch);
        // Fairly: a webhook waiting for the gate goes before this thread's next batch.
        parking_lot::MutexGuard::unlock_fair(turn);
    }
}

fn commit_batch(conn: &Connection, batch: Vec<Box<dyn WriteJob>>) {
    if let Err(err) = conn.execute_batch("BEGIN IMMEDIATE") {
        let err = StoreError::from(err);
        tracing::error!(error = %err, operations = batch.len(), "credit writer cannot begin");
        batch.into_iter().for_each(|job| job.abandon(&err));
        return;
    }
    let mut done = Vec::with_capacity(batch.len());
    let mut failure = None;
    for job in batch {
        if let Some(err) = &failure {
            job.abandon(err);
            continue;
        }
        match run_in_savepoint(conn, job) {
            Ok(ran) => done.push(ran),
            Err(err) => failure = Some(err),
        }
    }
    let outcome = match failure {
        Some(err) => Err(err),
        None => conn.execute_batch("COMMIT").map_err(StoreError::from),
    };
    if let Err(err) = &outcome {
        tracing::error!(error = %err, operations = done.len(), "credit writer: transaction rolled back");
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
    for ran in done {
        ran.deliver(outcome.as_ref().err());
    }
}

/// Runs one job in a savepoint: its own failure (or panic) undoes only its own writes. An error here
/// is the savepoint machinery failing, which ends the whole batch.
fn run_in_savepoint(
    conn: &Connection,
    job: Box<dyn WriteJob>,
) -> Result<Box<dyn RanJob>, StoreError> {
    // Prepared once: these run twice per operation.
    conn.prepare_cached("SAVEPOINT operation")?.execute([])?;
    let ran = std::panic::catch_unwind(AssertUnwindSafe(|| job.run(&mut Effects { conn })));
    let succeeded = ran.as_ref().is_ok_and(|ran| ran.succeeded());
    if !succeeded {
        conn.prepare_cached("ROLLBACK TO operation")?.execute([])?;
    }
    conn.prepare_cached("RELEASE operation")?.execute([])?;
    // A job that panicked dropped its reply: its client gets "stopped before answering".
    Ok(ran.unwrap_or_else(|_| Box::new(Panicked)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::pending::write_job;
    use crate::store::{LicenseRecord, LicenseStatus, Pending, StoreErrorKind, Tx};
    use tessera_keys::LicenseId;

    fn writer() -> (tempfile::TempDir, Writer, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        drop(super::super::SqliteStore::open(&path).unwrap());
        let writer =
            Writer::start(super::super::connect(&path).unwrap(), WriteGate::default()).unwrap();
        (dir, writer, Connection::open(&path).unwrap())
    }

    fn submit<T: Send + 'static>(
        writer: &Writer,
        work: impl FnOnce(&mut dyn Tx) -> Result<T, StoreError> + Send + 'static,
    ) -> Pending<T> {
        let (job, pending) = write_job(work);
        writer.submit(job);
        pending
    }

    /// Inserts licence number `n` (a second insert of one number breaks the primary key).
    fn insert(n: i64) -> impl FnOnce(&mut dyn Tx) -> Result<i64, StoreError> + Send {
        move |tx| {
            tx.insert_license(&LicenseRecord {
                id: LicenseId((n as u64).to_be_bytes()),
                product: 1,
                tier: 0,
                features: 0,
                status: LicenseStatus::Active,
                customer_id: None,
                email: None,
                checkout_session_id: None,
                subscription_id: None,
                payment_intent_id: None,
                price_id: None,
                expires_at: None,
                created_at: 0,
                updated_at: 0,
                seats: None,
            })?;
            Ok(n)
        }
    }

    fn rows(reader: &Connection) -> Vec<i64> {
        let mut stmt = reader
            .prepare("SELECT id FROM licenses ORDER BY id")
            .unwrap();
        let rows = stmt.query_map([], |row| row.get::<_, String>(0)).unwrap();
        rows.map(|id| i64::from_str_radix(&id.unwrap(), 16).unwrap())
            .collect()
    }

    #[test]
    fn a_failing_or_panicking_operation_rolls_back_alone() {
        let (_dir, writer, reader) = writer();
        // The first job holds the writer while the others queue, so they share the next batch.
        let slow = submit(&writer, |tx| {
            std::thread::sleep(std::time::Duration::from_millis(200));
            insert(1)(tx)
        });
        let good = submit(&writer, insert(2));
        let failing = submit(&writer, |tx| {
            insert(3)(tx)?;
            Err::<i64, _>(StoreError::corrupt("refused after writing"))
        });
        let panicking = submit(&writer, |tx| -> Result<i64, StoreError> {
            insert(4)(tx)?;
            panic!("a bug in one operation")
        });
        let duplicate = submit(&writer, insert(2));
        let last = submit(&writer, insert(5));
        assert_eq!(slow.wait().unwrap(), 1);
        assert_eq!(good.wait().unwrap(), 2);
        assert_eq!(failing.wait().unwrap_err().kind(), StoreErrorKind::Corrupt);
        assert_eq!(
            panicking.wait().unwrap_err().kind(),
            StoreErrorKind::Internal
        );
        assert_eq!(
            duplicate.wait().unwrap_err().kind(),
            StoreErrorKind::Constraint
        );
        assert_eq!(last.wait().unwrap(), 5);
        assert_eq!(rows(&reader), vec![1, 2, 5]);
    }

    #[test]
    fn every_answer_comes_after_its_commit() {
        let (dir, writer, reader) = writer();
        let path = dir.path().join("db.sqlite3");
        std::thread::scope(|scope| {
            for thread in 0..8 {
                let (writer, path) = (&writer, &path);
                scope.spawn(move || {
                    let reader = Connection::open(path).unwrap();
                    for i in 0..50 {
                        let n = thread * 1000 + i;
                        assert_eq!(submit(writer, insert(n)).wait().unwrap(), n);
                        // Answered, so committed: another connection sees it.
                        let seen: i64 = reader
                            .query_row(
                                "SELECT count(*) FROM licenses WHERE id = ?1",
                                [format!("{n:016x}")],
                                |row| row.get(0),
                            )
                            .unwrap();
                        assert_eq!(seen, 1);
                    }
                });
            }
        });
        assert_eq!(rows(&reader).len(), 400);
    }
}
