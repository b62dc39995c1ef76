//! `POST /v1/admin/keys/rotate`: a new active signing key; the old ones stay trusted.

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::auth::{Admin, AdminRefused};
use super::{audited, body_or_default, optional_reason, Audit};
use crate::error::{ApiError, ErrorBody};
use crate::keyring::KeyringError;
use crate::public_keys::PublishedKey;
use crate::state::AppState;

/// The request body (optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RotateBody {
    /// Why, for the audit trail (at most 500 bytes).
    reason: Option<String>,
}

/// The answer.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Rotated {
    /// The new active key's id.
    active_key_id: u32,
    /// The new active key, `tspk1_…`.
    public_key: String,
    /// Every trusted key, as `GET /v1/keys` answers.
    keys: Vec<PublishedKey>,
}

/// A new active signing key; the old ones stay trusted.
#[utoipa::path(
    post,
    path = "/v1/admin/keys/rotate",
    operation_id = "admin_rotate_keys",
    tag = "admin",
    security(("admin_token" = [])),
    request_body(content = Option<RotateBody>, content_type = "application/json"),
    responses(
        (status = 200, description = "Rotated", body = Rotated),
        (status = 400, description = "`invalid_body`", body = ErrorBody),
        AdminRefused,
        (status = 409, description = "`too_many_keys`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 422, description = "`reason_too_long`", body = ErrorBody),
        (status = 500, description = "`internal`", body = ErrorBody),
    )
)]
pub(super) async fn rotate(
    State(state): State<AppState>,
    admin: Admin,
    body: Bytes,
) -> Result<Json<Rotated>, ApiError> {
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
    Ok(Json(Rotated {
        active_key_id: public.id,
        public_key: public.to_string(),
        keys: crate::public_keys::published(&state),
    }))
}
