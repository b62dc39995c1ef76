//! An answer the store's writer will give once the transaction holding it is durable.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::oneshot;

use super::StoreError;

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
