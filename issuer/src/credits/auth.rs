//! `Authorization: License <key>`: the licence key is the credential of the credit endpoints.
//!
//! The key is judged by [`crate::validate::check_key`] (signature and expiry with grace by the
//! verifier, revocation and suspension by the store) before any credit storage is touched:
//!
//! | problem | status | `error` |
//! | --- | --- | --- |
//! | no `Authorization` header | 401 | `missing_credentials` |
//! | not `License <key>` | 401 | `invalid_authorization` |
//! | not a key this issuer signed | 401 | `malformed`, `unsupported_version`, `unknown_key_id`, `bad_signature` |
//! | past its expiry and grace, or not yet valid | 401 | `expired`, `not_yet_valid` |
//! | revoked or suspended by the issuer | 403 | `revoked`, `suspended` |
//!
//! The key is never logged; the licence id is, once the signature has been checked.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use tessera_keys::LicenseId;

use crate::error::ApiError;
use crate::state::AppState;

/// The licence whose valid key authorised the request.
#[derive(Clone, Copy, Debug)]
pub struct Licensee {
    /// Its id.
    pub license_id: LicenseId,
}

fn unauthorized(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::Unauthorized {
        code,
        message: message.into(),
    }
}

impl FromRequestParts<AppState> for Licensee {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
            unauthorized(
                "missing_credentials",
                "send the licence key as `Authorization: License <key>`",
            )
        })?;
        let key = header
            .to_str()
            .ok()
            .and_then(|value| {
                let (scheme, key) = value.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("license").then(|| key.trim())
            })
            .filter(|key| !key.is_empty())
            .ok_or_else(|| {
                unauthorized(
                    "invalid_authorization",
                    "the Authorization header must be `License <key>`",
                )
            })?;
        let check = crate::validate::check_key(state, key, crate::clock::now()).await?;
        match (check.license_id(), check.reason) {
            (Some(license_id), None) => Ok(Licensee { license_id }),
            (license_id, Some(reason)) => {
                tracing::info!(license = ?license_id.map(|id| id.to_hex().to_string()), reason,
                    "credits: licence key refused");
                if check.is_refused_by_issuer() {
                    Err(ApiError::Forbidden {
                        code: reason,
                        message: check.message,
                    })
                } else {
                    Err(unauthorized(reason, check.message))
                }
            }
            (None, None) => Err(ApiError::Internal(
                "a valid key without a licence id".to_owned(),
            )),
        }
    }
}
