//! What apps fetch to verify offline: the trusted public keys and the signed revocation list.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use tessera_keys::UnixTime;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// `GET /v1/keys` and `GET /v1/revocations`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/keys", get(keys))
        .route("/v1/revocations", get(revocations))
}

/// `GET /v1/keys`: every public key apps should trust, the active one first.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeysResponse {
    /// The keys.
    pub keys: Vec<PublishedKey>,
}

/// One trusted public key.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublishedKey {
    /// The key id licences name.
    pub key_id: u32,
    /// The key's text form, `tspk1_…`.
    pub public_key: String,
    /// Whether it signs new licences.
    pub active: bool,
}

/// Every public key apps should trust, the active one first.
#[utoipa::path(
    get,
    path = "/v1/keys",
    tag = "apps",
    responses((status = 200, description = "The trusted public keys", body = KeysResponse))
)]
async fn keys(State(state): State<AppState>) -> Json<KeysResponse> {
    Json(KeysResponse {
        keys: published(&state),
    })
}

/// Every public key apps should trust, the active one first.
pub fn published(state: &AppState) -> Vec<PublishedKey> {
    // One read of the keyring: the active key is the first trusted one, even if the keys are read
    // again (after a rotation elsewhere) meanwhile.
    state
        .keyring
        .trusted()
        .iter()
        .enumerate()
        .map(|(i, key)| PublishedKey {
            key_id: key.id,
            public_key: key.to_string(),
            active: i == 0,
        })
        .collect()
}

/// `GET /v1/revocations`: the current signed revocation list.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevocationsResponse {
    /// Raised by every revocation; apps refuse a list older than one they have seen.
    pub sequence: u64,
    /// When the list last changed (unix seconds).
    pub issued_at: u64,
    /// How many licences it revokes.
    pub revoked: usize,
    /// The signed list, `tsrl1_…`, for `Verifier::check_revocations` or `tessera verify --revocations`.
    pub list: String,
}

/// The current signed revocation list, for apps to cache.
#[utoipa::path(
    get,
    path = "/v1/revocations",
    tag = "apps",
    responses(
        (status = 200, description = "The signed revocation list", body = RevocationsResponse),
        (status = 500, description = "`internal`: storage or signing failed", body = ErrorBody),
    )
)]
async fn revocations(State(state): State<AppState>) -> Result<Json<RevocationsResponse>, ApiError> {
    let revocations = state.db(|store| store.revocations()).await?;
    // A list that never changed carries the time it is served; once it has changed, the time of the
    // change, so the same sequence always yields the same list.
    let issued_at = match revocations.changed_at {
        0 => crate::clock::now(),
        changed => UnixTime(changed as u64),
    };
    let list = state
        .keyring
        .active()
        .sign_revocations(revocations.sequence, issued_at, &revocations.ids)
        .map_err(|err| ApiError::Internal(format!("cannot sign revocation list: {err}")))?;
    Ok(Json(RevocationsResponse {
        sequence: revocations.sequence,
        issued_at: issued_at.0,
        revoked: revocations.ids.len(),
        list,
    }))
}
