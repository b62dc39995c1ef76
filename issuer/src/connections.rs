//! Accepting and serving connections, with limits `axum::serve` does not have (`[limits]`):
//!
//! - at most `max_connections` open at once; more wait in the listen backlog until one closes;
//! - a client has `header_read_timeout_seconds` to send a request's complete header, from when the
//!   issuer starts waiting for it (the connection opened, or the previous answer went out): a client
//!   that sends nothing, or trickles its header, is closed (hyper's own timeout);
//! - after an answer, a connection is kept open for the next request `keep_alive_seconds` at most.
//!
//! HTTP/1.1 only, as before. On shutdown the listener stops accepting, idle connections close, and
//! the requests in flight are finished.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tower::ServiceExt;

use crate::config::ConnectionLimits;

/// Serves `app` on `listener` within `limits` until `shutdown` resolves, then finishes the requests
/// in flight. Handlers see the client's address as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopping) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = accept(&listener, &slots) => accepted,
        };
        let (stream, client, slot) = accepted;
        let (app, stopping) = (app.clone(), stopping.clone());
        tokio::spawn(async move {
            serve_connection(stream, client, app, limits, stopping).await;
            drop(slot);
        });
    }
    drop(stop);
    drop(listener);
    // Every connection holds a slot until it closes: all of them back means all are done.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
}

/// The next connection, once a slot is free.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> (TcpStream, SocketAddr, OwnedSemaphorePermit) {
    let Ok(slot) = Arc::clone(slots).acquire_owned().await else {
        unreachable!("the semaphore is never closed");
    };
    loop {
        match listener.accept().await {
            Ok((stream, client)) => return (stream, client, slot),
            // The client gave up before it was accepted: nothing to do.
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset
                ) => {}
            // Out of file descriptors or memory: wait for some to be released, or this loops hot.
            Err(err) => {
                tracing::error!(%err, "cannot accept a connection");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

async fn serve_connection(
    stream: TcpStream,
    client: SocketAddr,
    app: Router,
    limits: ConnectionLimits,
    mut stopping: watch::Receiver<()>,
) {
    let activity = Arc::new(Activity::default());
    let service = {
        let activity = Arc::clone(&activity);
        hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            let answering = Answering::start(&activity);
            request.extensions_mut().insert(ConnectInfo(client));
            let response = app.clone().oneshot(request.map(axum::body::Body::new));
            async move {
                let response = response.await;
                drop(answering);
                response
            }
        })
    };
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(limits.keep_alive.is_some());
    let mut connection = pin!(http.serve_connection(TokioIo::new(stream), service));
    let mut idle_too_long = pin!(idle_for(&activity, limits.keep_alive));
    let mut closing = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(%err, "connection closed");
                }
                return;
            }
            // Closes the connection if idle, else once the answer in flight is out.
            _ = stopping.changed(), if !closing => {
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
            () = &mut idle_too_long, if !closing => {
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Whether a connection has a request in flight, and since when it has not.
#[derive(Debug, Default)]
struct Activity(Mutex<ActivityState>);

#[derive(Debug, Default)]
struct ActivityState {
    in_flight: usize,
    /// When the last answer went out, if none is in flight; `None` before the first request,
    /// which the header-read timeout governs.
    idle_since: Option<Instant>,
}

impl Activity {
    fn state(&self) -> std::sync::MutexGuard<'_, ActivityState> {
        // Two plain numbers: never left inconsistent by a panic.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A request being answered on a connection, from its complete header to its response.
struct Answering(Arc<Activity>);

impl Answering {
    fn start(activity: &Arc<Activity>) -> Answering {
        let mut state = activity.state();
        state.in_flight += 1;
        state.idle_since = None;
        Answering(Arc::clone(activity))
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        let mut state = self.0.state();
        state.in_flight -= 1;
        if state.in_flight == 0 {
            state.idle_since = Some(Instant::now());
        }
    }
}

/// Resolves once the connection has waited `keep_alive` after an answer for its next request;
/// never if keep-alive is off (hyper then closes the connection after one answer).
async fn idle_for(activity: &Activity, keep_alive: Option<Duration>) {
    let Some(keep_alive) = keep_alive else {
        return std::future::pending().await;
    };
    loop {
        let idle_since = activity.state().idle_since;
        match idle_since {
            Some(since) if since.elapsed() >= keep_alive => return,
            Some(since) => tokio::time::sleep_until(since + keep_alive).await,
            // Busy, or before the first request: look again later.
            None => tokio::time::sleep(keep_alive).await,
        }
    }
}
