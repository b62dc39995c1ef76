//! `POST /v1/admin/keys/rotate`: a new active signing key; the old ones stay trusted.

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::auth::Admin;
use super::{audited, body_or_default, optional_reason, Audit};
use crate::error::ApiError;
use crate::keyring::KeyringError;
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RotateBody {
    reason: Option<String>,
}

pub(super) async fn rotate(
    State(state): State<AppState>,
    admin: Admin,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let body: RotateBody = body_or_default(&body)?;
    let reason = optional_reason(body.reason)?;
    let keyring = std::sync::Arc::clone(&state.keyring);
    let public = tokio::task::spawn_blocking(move || keyring.rotate())
        .await
        .map_err(|err| ApiError::Internal(format!("key rotation task failed: {err}")))?
        .map_err(|err| match err {
            KeyringError::TooManyKeys => ApiError::Conflict {
                code: "too_many_keys",
                message: err.to_string(),
            },
            other => ApiError::Internal(other.to_string()),
        })?;
    state
        .verified_keys
        .trust(&state.keyring.trusted())
        .map_err(|err| ApiError::Internal(format!("cannot trust the rotated keys: {err}")))?;
    let audit = Audit {
        action: "keys.rotate",
        license_id: None,
        reason,
        details: json!({"key_id": public.id, "public_key": public.to_string()}),
        admin,
    };
    audited(&state, audit, |_| Ok(())).await?;
    tracing::warn!(
        key_id = public.id,
        "signing key rotated: new licences are signed with it"
    );
    Ok(Json(json!({
        "active_key_id": public.id,
        "public_key": public.to_string(),
        "keys": crate::public_keys::published(&state),
    })))
}
