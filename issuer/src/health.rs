//! Liveness and readiness probes.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::state::AppState;

/// `GET /healthz` (the process answers) and `GET /readyz` (and its database does).
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/healthz",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route("/readyz", get(ready))
}

async fn ready(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state
        .db(|store| store.ready())
        .await
        .map_err(|err| ApiError::Unavailable(format!("{err:?}")))?;
    Ok(Json(json!({ "status": "ready" })))
}
