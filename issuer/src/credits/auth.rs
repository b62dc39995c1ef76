//! `Authorization: License <key>`: the licence key is the credential of the credit endpoints.
//!
//! The key's signature and dates are judged by the verifier ([`crate::verified_keys`]) before any
//! storage is touched; what only the issuer's records know (revoked, suspended) is checked inside
//! each credit operation's own transaction, so that no credit moves once a revocation has committed
//! ([`crate::store::Refused`]):
//!
//! | problem | status | `error` |
//! | --- | --- | --- |
//! | no `Authorization` header | 401 | `missing_credentials` |
//! | not `License <key>` | 401 | `invalid_authorization` |
//! | not a key this issuer signed | 401 | `malformed`, `unsupported_version`, `unknown_key_id`, `bad_signature` |
//! | past its expiry and grace, or not yet valid | 401 | `expired`, `not_yet_valid` |
//! | revoked or suspended by the issuer | 403 | `revoked`, `suspended` |
//! | more requests for the licence than `[limits]` allow | 429 + `Retry-After` | `rate_limited` |
//!
//! The key is never logged; the licence id is, once the signature has been checked.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use tessera_keys::LicenseId;
use utoipa::IntoResponses;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::store::Refused;
use crate::validate::{issuer_refusal, refusal_reason};
use crate::verified_keys::{Checked, Standing};

/// The licence whose key, signed by this issuer and within its dates, authorised the request.
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
        Licensee::admit(state, key)
    }
}

impl Licensee {
    /// The licence whose key `key` (text) is, if the key admits it: signed by this issuer, within
    /// its dates (or grace), and within the licence's rate limit. The one check of a licence key
    /// as a credential, wherever the key comes from (the `Authorization` header, an activation
    /// request).
    pub fn admit(state: &AppState, key: &str) -> Result<Licensee, ApiError> {
        let signed = match state.verified_keys.check(key, crate::clock::now()) {
            Checked::Signed(signed) => signed,
            Checked::Untrusted(err) => {
                tracing::info!(
                    reason = refusal_reason(&err),
                    "licence key auth: not a key this issuer signed"
                );
                return Err(unauthorized(refusal_reason(&err), err.to_string()));
            }
        };
        if let Err(limited) = state.rate_limits.check_license(&signed.license_id) {
            tracing::warn!(license = %signed.license_id, "licence key auth: rate limited");
            return Err(ApiError::RateLimited(limited));
        }
        match signed.standing {
            Standing::Valid | Standing::InGrace => Ok(Licensee {
                license_id: signed.license_id,
            }),
            Standing::Refused(err) => {
                tracing::info!(license = %signed.license_id, reason = refusal_reason(&err),
                    "licence key auth: licence key refused");
                Err(unauthorized(refusal_reason(&err), err.to_string()))
            }
        }
    }
}

impl From<Refused> for ApiError {
    fn from(Refused(status): Refused) -> ApiError {
        let (code, message) = issuer_refusal(status).unwrap_or(("refused", "licence is refused"));
        ApiError::Forbidden {
            code,
            message: message.to_owned(),
        }
    }
}

/// How a licence key is refused on the credit endpoints, as the documentation says it.
#[derive(Debug, IntoResponses)]
pub enum LicenseRefused {
    /// No usable licence key: `missing_credentials`, `invalid_authorization`, `malformed`,
    /// `unsupported_version`, `unknown_key_id`, `bad_signature`, `expired`, `not_yet_valid`.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// The licence is `revoked` or `suspended`.
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// `rate_limited`: more requests for this licence (or from this address) than `[limits]` allow.
    #[response(
        status = 429,
        headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))
    )]
    RateLimited(ErrorBody),
}
