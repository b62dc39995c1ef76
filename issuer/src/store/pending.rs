//! An answer the store's writer will give once the transaction holding it is durable.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::oneshot;

use super::{StoreError, Tx};

/// A storage result still to come: `.await` it (or [`Pending::wait`] outside async code).
#[derive(Debug)]
pub struct Pending<T>(oneshot::Receiver<Result<T, StoreError>>);

impl<T> Pending<T> {
    /// A pending answer and the sender that gives it.
    pub fn channel() -> (oneshot::Sender<Result<T, StoreError>>, Pending<T>) {
        let (sender, receiver) = oneshot::channel();
        (sender, Pending(receiver))
    }

    /// Blocks this thread until the answer comes. Never call it on the async executor.
    pub fn wait(self) -> Result<T, StoreError> {
        self.0.blocking_recv().unwrap_or_else(|_| Err(gone()))
    }
}

impl<T> Future for Pending<T> {
    type Output = Result<T, StoreError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.get_mut().0)
            .poll(cx)
            .map(|answer| answer.unwrap_or_else(|_| Err(gone())))
    }
}

/// The writer dropped the answer: it stopped, or the operation panicked (and was rolled back).
fn gone() -> StoreError {
    StoreError::internal("the storage writer stopped before answering")
}

/// Work queued for a backend's writer ([`super::Store::submit`]): it runs inside a write
/// transaction, which the backend may share with other jobs (each in its own savepoint), and it
/// answers only once that transaction has committed.
pub trait WriteJob: Send {
    /// Does the work inside the transaction.
    fn run(self: Box<Self>, tx: &mut dyn Tx) -> Box<dyn RanJob>;
    /// Answers `err` without running.
    fn abandon(self: Box<Self>, err: &StoreError);
}

/// A [`WriteJob`] that has run, waiting for its transaction's commit.
pub trait RanJob: Send {
    /// Whether its work succeeded (else the backend rolls back its writes).
    fn succeeded(&self) -> bool;
    /// Answers, given how the commit went.
    fn deliver(self: Box<Self>, commit_error: Option<&StoreError>);
}

/// `work` as a [`WriteJob`], and the answer it will give.
pub(super) fn write_job<T, F>(work: F) -> (Box<dyn WriteJob>, Pending<T>)
where
    F: FnOnce(&mut dyn Tx) -> Result<T, StoreError> + Send + 'static,
    T: Send + 'static,
{
    let (reply, pending) = Pending::channel();
    (Box::new(Work { work, reply }), pending)
}

struct Work<F, T> {
    work: F,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<F, T> WriteJob for Work<F, T>
where
    F: FnOnce(&mut dyn Tx) -> Result<T, StoreError> + Send,
    T: Send + 'static,
{
    fn run(self: Box<Self>, tx: &mut dyn Tx) -> Box<dyn RanJob> {
        let Work { work, reply } = *self;
        Box::new(Computed {
            result: work(tx),
            reply,
        })
    }

    fn abandon(self: Box<Self>, err: &StoreError) {
        let _ = self.reply.send(Err(err.clone()));
    }
}

struct Computed<T> {
    result: Result<T, StoreError>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T: Send> RanJob for Computed<T> {
    fn succeeded(&self) -> bool {
        self.result.is_ok()
    }

    fn deliver(self: Box<Self>, commit_error: Option<&StoreError>) {
        let answer = match commit_error {
            // Its work is not durable (or was rolled back): say so, whatever it computed.
            Some(err) if self.result.is_ok() => Err(err.clone()),
            _ => self.result,
        };
        let _ = self.reply.send(answer);
    }
}

/// What a job that panicked leaves: it dropped its reply, so its client hears "stopped before
/// answering", and its writes are rolled back.
#[derive(Debug)]
pub struct Panicked;

impl RanJob for Panicked {
    fn succeeded(&self) -> bool {
        false
    }

    fn deliver(self: Box<Self>, _: Option<&StoreError>) {}
}
