//! Cross-cutting HTTP concerns: request ids, logs, limits, timeouts, panics, shutdown.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::error::{ApiError, ErrorBody};

/// Request limits taken from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest request body in bytes; larger ones get 413.
    pub body_bytes: usize,
    /// Longest a request may take; slower ones get 408.
    pub timeout: Duration,
}

impl From<&Config> for Limits {
    fn from(config: &Config) -> Self {
        Limits {
            body_bytes: config.body_limit_bytes,
            timeout: Duration::from_secs(config.request_timeout_seconds),
        }
    }
}

/// Numbers requests `req-1`, `req-2`, … unless the client sent a safe `x-request-id`.
#[derive(Clone, Debug, Default)]
struct Counter(Arc<AtomicU64>);

impl MakeRequestId for Counter {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.0.fetch_add(1, Ordering::Relaxed) + 1;
        HeaderValue::from_str(&format!("req-{n}"))
            .ok()
            .map(RequestId::new)
    }
}

/// The longest `x-request-id` a client may choose; longer ones are replaced by the issuer's own.
pub const MAX_REQUEST_ID_LEN: usize = 64;

/// Whether a client's request id may go into the log and back into the answer as it is: short, and
/// only letters, digits, `.`, `_` and `-`, so that it can neither forge log fields nor lines.
pub fn is_safe_request_id(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_LEN
        && id
            .iter()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'))
}

/// Drops a client's `x-request-id` unless it is one safe id, so that the issuer numbers the request
/// itself.
async fn drop_unsafe_request_id(mut request: Request) -> Request {
    let headers = request.headers_mut();
    let mut ids = headers.get_all("x-request-id").iter();
    let safe =
        matches!((ids.next(), ids.next()), (Some(id), None) if is_safe_request_id(id.as_bytes()));
    if !safe {
        headers.remove("x-request-id");
    }
    request
}

/// Routes whose path carries a credential: logged by their template, never as requested.
const SECRET_PATHS: &[&str] = &[crate::licenses::BY_CHECKOUT_SESSION];

/// The request's path as the log may show it: without the query, and without a Checkout Session id.
pub fn loggable_path(request: &Request) -> &str {
    match request.extensions().get::<MatchedPath>() {
        Some(route) if SECRET_PATHS.contains(&route.as_str()) => route.as_str(),
        _ => request.uri().path(),
    }
}

/// The answer to a path no route has: a JSON 404.
pub async fn no_such_endpoint() -> ApiError {
    ApiError::NotFound("no such endpoint")
}

/// Marks an answer `Cache-Control: no-store`: for answers that can carry licence keys.
pub async fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Wraps `routes` (with their fallback) with the middleware every endpoint gets.
pub fn with_middleware(routes: Router, limits: Limits) -> Router {
    routes
        .layer(RequestBodyLimitLayer::new(limits.body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.timeout,
        ))
        // Outside the limit and timeout layers, which answer in plain text or with no body.
        .layer(axum::middleware::map_response(json_error_shape))
        .layer(CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                ApiError::Internal("a handler panicked".into()).into_response()
            },
        ))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<Body>| {
                let request_id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or("-");
                // The path only: query strings may carry ids a log reader need not see.
                tracing::info_span!(
                    "request",
                    id = %request_id,
                    method = %request.method(),
                    path = %loggable_path(request),
                )
            }),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(Counter::default()))
        .layer(axum::middleware::map_request(drop_unsafe_request_id))
}

/// Resolves on SIGTERM or Ctrl-C; axum then stops accepting and finishes the requests in flight.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// Resolves once the process may stop serving: after SIGTERM or Ctrl-C, `/readyz` answers 503 for
/// the configured drain (`[limits] drain_seconds`) while requests are still served, so that a load
/// balancer sends new ones elsewhere first; then requests in flight finish.
pub async fn drain_then_stop(state: crate::state::AppState) {
    shutdown_signal().await;
    let drain = state.config.connections.drain;
    if !drain.is_zero() {
        state
            .draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(
            seconds = drain.as_secs(),
            "draining: /readyz answers 503, requests are still served"
        );
        tokio::time::sleep(drain).await;
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// Gives the API's error shape to the errors that axum and the layers answer in plain text or with
/// no body: a too-large body (413), a timeout (408), a method the path does not have (405, keeping its
/// `Allow` header), a path or query an extractor cannot decode (400). The code is the status's
/// reason phrase in snake case (`method_not_allowed`); the message is axum's text, or that phrase.
/// The checkout page's own HTML answers are left as they are.
async fn json_error_shape(response: Response) -> Response {
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map_or(&b""[..], |value| value.as_bytes());
    let shaped =
        content_type.starts_with(b"application/json") || content_type.starts_with(b"text/html");
    if !(status.is_client_error() || status.is_server_error()) || shaped {
        return response;
    }
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return payload_too_large();
    }
    let reason = status.canonical_reason().unwrap_or("error");
    let (mut parts, body) = response.into_parts();
    // axum's rejection texts are one short line; anything longer or not text is replaced.
    let text = axum::body::to_bytes(body, 1024)
        .await
        .ok()
        .and_then(|bytes| String::from_utf8(bytes.to_vec()).ok())
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty());
    let body = ErrorBody::new(
        reason.to_ascii_lowercase().replace([' ', '-'], "_"),
        text.unwrap_or_else(|| reason.to_ascii_lowercase()),
    )
    .into_response_with(status)
    .into_body();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, body)
}

/// A body-limit rejection as the API's error shape (axum's own extractors use 413 already).
pub fn payload_too_large() -> Response {
    ErrorBody::new("payload_too_large", "request body is too large")
        .into_response_with(StatusCode::PAYLOAD_TOO_LARGE)
}
