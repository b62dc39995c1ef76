//! The load client: workers, each with one keep-alive HTTP/1.1 connection opened before the clock
//! starts, timing each request to the last byte of its answer. [`run_phase`] sends prepared requests
//! one after another (a closed loop); [`run_workers`] and [`exchange`] are the pieces it is made of,
//! for scenarios whose requests depend on earlier answers or follow a schedule.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE, HOST};
use hyper::{Method, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Barrier;

use crate::stats::{Measured, Recorded};

/// One prepared request. Bodies and headers are built before a phase starts, so the client does as
/// little work as possible while it is timed.
#[derive(Clone, Debug)]
pub struct Request {
    /// GET or POST.
    pub method: Method,
    /// Path and query.
    pub path: String,
    /// Extra headers.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The body (empty for GET).
    pub body: Bytes,
}

impl Request {
    /// A GET of `path`.
    pub fn get(path: impl Into<String>) -> Request {
        Request {
            method: Method::GET,
            path: path.into(),
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// A POST of a JSON `body` with `headers`.
    pub fn post_json(
        path: impl Into<String>,
        body: impl Into<Bytes>,
        headers: Vec<(HeaderName, HeaderValue)>,
    ) -> Request {
        let mut headers = headers;
        headers.push((CONTENT_TYPE, HeaderValue::from_static("application/json")));
        Request {
            method: Method::POST,
            path: path.into(),
            headers,
            body: body.into(),
        }
    }
}

/// How a phase runs.
#[derive(Clone, Copy, Debug)]
pub struct PhaseOptions {
    /// Requests in flight at once (one connection each).
    pub concurrency: usize,
    /// No new request is sent after this long; the phase then stops by itself.
    pub time_budget: Duration,
    /// A request without an answer after this long counts as an error.
    pub request_timeout: Duration,
}

/// Decides whether an answer counts as `ok`: a status and the body.
pub type Check = fn(StatusCode, &[u8]) -> bool;

/// Passes any 2xx answer.
pub fn is_success(status: StatusCode, _body: &[u8]) -> bool {
    status.is_success()
}

/// The server connection `index` of a phase goes to: `servers` in turn, so that the connections of a
/// phase are spread evenly over several processes serving the same data.
pub fn server_for(servers: &[SocketAddr], index: usize) -> Option<SocketAddr> {
    match servers.len() {
        0 => None,
        n => Some(servers[index % n]),
    }
}

/// Opens `workers` connections spread over `servers` (loopback addresses, see [`server_for`]), then
/// starts every
/// `worker(index, connection, start)` at once, `start` being the same instant for all, and waits
/// for them. Returns what each worker returned, in index order, and the wall time from `start` to
/// the last worker's end.
pub async fn run_workers<T, F, Fut>(
    servers: &[SocketAddr],
    workers: usize,
    worker: F,
) -> anyhow::Result<(Vec<T>, Duration)>
where
    F: Fn(usize, Connection, Instant) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    if let Some(addr) = servers.iter().find(|addr| !addr.ip().is_loopback()) {
        bail!("refusing to load {addr}: the load tool only talks to loopback addresses");
    }
    let mut connections = Vec::with_capacity(workers);
    for index in 0..workers {
        let addr = server_for(servers, index).context("no server to send to")?;
        connections.push(Connection::open(addr).await?);
    }
    // Every worker and this task meet here, so no worker starts before all connections are open.
    let start_line = Arc::new(Barrier::new(workers + 1));
    let start = Arc::new(OnceLock::new());
    let handles: Vec<_> = connections
        .into_iter()
        .enumerate()
        .map(|(index, connection)| {
            let (start_line, start, worker) =
                (Arc::clone(&start_line), Arc::clone(&start), worker.clone());
            tokio::spawn(async move {
                start_line.wait().await;
                let start = *start.get_or_init(Instant::now);
                worker(index, connection, start).await
            })
        })
        .collect();
    start_line.wait().await;
    let started = *start.get_or_init(Instant::now);
    let mut results = Vec::with_capacity(workers);
    for handle in handles {
        results.push(handle.await.context("a load worker panicked")?);
    }
    Ok((results, started.elapsed()))
}

/// Sends `request` on `connection` and records its answer in `recorded`: the latency from `since`
/// (when it was sent, or in an open loop when it was due) to the last byte of the answer, its
/// status, and whether `check` passes it. No answer within `timeout` is an error, after which the
/// connection is reopened for the next request. Returns the answer, if there was one.
pub async fn exchange(
    connection: &mut Connection,
    request: &Request,
    since: Instant,
    timeout: Duration,
    check: Check,
    recorded: &mut Recorded,
) -> Option<(StatusCode, Bytes)> {
    let answer = tokio::time::timeout(timeout, connection.send(request)).await;
    let latency = since.elapsed();
    let failure = match answer {
        Ok(Ok((status, body))) => {
            recorded.latencies.push(latency);
            *recorded.statuses.entry(status.as_u16()).or_default() += 1;
            if check(status, &body) {
                recorded.ok += 1;
            } else if recorded.first_failure.is_none() {
                recorded.first_failure = Some(format!(
                    "{} {} -> {status}: {}",
                    request.method,
                    request.path,
                    String::from_utf8_lossy(&body[..body.len().min(300)])
                ));
            }
            return Some((status, body));
        }
        Ok(Err(err)) => format!("{err:#}"),
        Err(_) => format!("no answer within {timeout:?}"),
    };
    recorded.errors += 1;
    recorded
        .first_failure
        .get_or_insert_with(|| format!("{} {}: {failure}", request.method, request.path));
    connection.reset();
    None
}

/// Sends every request in `requests` to `servers` (loopback addresses, the connections spread over
/// them) with `options.concurrency` workers, until all are answered or the time budget runs out,
/// and records the answers.
///
/// Connections are opened before the clock starts.
pub async fn run_phase(
    servers: &[SocketAddr],
    requests: Arc<Vec<Request>>,
    options: PhaseOptions,
    check: Check,
) -> anyhow::Result<Measured> {
    let workers = options.concurrency.clamp(1, requests.len().max(1));
    let next = Arc::new(AtomicUsize::new(0));
    let (recorded, elapsed) = run_workers(servers, workers, move |_, mut connection, start| {
        let (requests, next) = (Arc::clone(&requests), Arc::clone(&next));
        async move {
            let deadline = start + options.time_budget;
            let mut recorded = Recorded::default();
            loop {
                if Instant::now() >= deadline {
                    recorded.stopped_by_time_limit = next.load(Ordering::Relaxed) < requests.len();
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(request) = requests.get(i) else {
                    break;
                };
                let sent = Instant::now();
                let timeout = options.request_timeout;
                exchange(
                    &mut connection,
                    request,
                    sent,
                    timeout,
                    check,
                    &mut recorded,
                )
                .await;
            }
            recorded
        }
    })
    .await?;
    Ok(Measured::of_workers(recorded, elapsed))
}

/// One keep-alive HTTP/1.1 connection, reopened after an error.
#[derive(Debug)]
pub struct Connection {
    addr: SocketAddr,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Connection {
    /// Connects to `addr`.
    pub async fn open(addr: SocketAddr) -> anyhow::Result<Connection> {
        let mut connection = Connection { addr, sender: None };
        connection.connect().await?;
        Ok(connection)
    }

    async fn connect(&mut self) -> anyhow::Result<()> {
        let stream = TcpStream::connect(self.addr)
            .await
            .with_context(|| format!("cannot connect to {}", self.addr))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP handshake")?;
        tokio::spawn(async move {
            // Ends when the sender is dropped or the server closes the connection.
            let _ = connection.await;
        });
        self.sender = Some(sender);
        Ok(())
    }

    fn reset(&mut self) {
        self.sender = None;
    }

    /// Sends `request` and reads the whole answer, reconnecting first if the connection was closed.
    pub async fn send(&mut self, request: &Request) -> anyhow::Result<(StatusCode, Bytes)> {
        if self.sender.as_ref().is_none_or(SendRequest::is_closed) {
            self.connect().await?;
        }
        let sender = self.sender.as_mut().context("no connection")?;
        sender.ready().await.context("connection closed")?;
        let mut builder = hyper::Request::builder()
            .method(request.method.clone())
            .uri(request.path.as_str())
            .header(HOST, self.addr.to_string());
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let http_request = builder
            .body(Full::new(request.body.clone()))
            .context("building the request")?;
        let response = sender
            .send_request(http_request)
            .await
            .context("sending the request")?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .context("reading the answer")?
            .to_bytes();
        Ok((status, body))
    }

    /// Sends `request` and returns its JSON answer, which must have status `expected` within
    /// `timeout`; anything else is a one-line error naming the request. For the setup and checks
    /// around a measured phase, not for the phase itself.
    pub async fn call(
        &mut self,
        request: &Request,
        expected: u16,
        timeout: Duration,
    ) -> anyhow::Result<serde_json::Value> {
        let what = || format!("{} {}", request.method, request.path);
        let (status, body) = tokio::time::timeout(timeout, self.send(request))
            .await
            .map_err(|_| anyhow::anyhow!("{}: no answer within {timeout:?}", what()))?
            .with_context(what)?;
        if status.as_u16() != expected {
            bail!(
                "{} -> {status} (expected {expected}): {}",
                what(),
                String::from_utf8_lossy(&body[..body.len().min(300)])
            );
        }
        serde_json::from_slice(&body).with_context(|| format!("{}: the answer is not JSON", what()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_take_the_servers_in_turn() {
        let servers: Vec<SocketAddr> = ["127.0.0.1:1001", "127.0.0.1:1002", "127.0.0.1:1003"]
            .iter()
            .map(|addr| addr.parse().unwrap())
            .collect();
        let spread: Vec<u16> = (0..7)
            .map(|index| server_for(&servers, index).unwrap().port())
            .collect();
        assert_eq!(spread, [1001, 1002, 1003, 1001, 1002, 1003, 1001]);
        assert_eq!(server_for(&servers[..1], 5), Some(servers[0]));
        assert_eq!(server_for(&[], 0), None);
    }
}
