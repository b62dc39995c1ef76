//! Liveness and readiness probes. Readiness is per process: a load balancer asks each one.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// `GET /healthz` (the process answers) and `GET /readyz` (and its database does).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(ready))
}

/// A probe's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Probe {
    /// `ok` (`/healthz`) or `ready` (`/readyz`).
    pub status: &'static str,
}

/// The process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    responses((status = 200, description = "The process answers", body = Probe))
)]
async fn healthz() -> Json<Probe> {
    Json(Probe { status: "ok" })
}

/// The process answers and its database does.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses(
        (status = 200, description = "Ready", body = Probe),
        (status = 503, description = "`unavailable`: the database does not answer; `draining`: the \
            process is stopping after SIGTERM (it still serves requests, but a load balancer should \
            send new ones elsewhere)", body = ErrorBody),
    )
)]
async fn ready(State(state): State<AppState>) -> Result<Json<Probe>, ApiError> {
    if state.draining.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(ApiError::Draining);
    }
    state
        .db(|store| store.ready())
        .await
        .map_err(|err| ApiError::Unavailable(format!("{err:?}")))?;
    Ok(Json(Probe { status: "ready" }))
}
