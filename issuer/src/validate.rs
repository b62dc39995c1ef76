//! Online validation, for apps that happen to be online: the key's signature and expiry, plus what
//! only the issuer knows (revoked, suspended, renewed).
//!
//! `POST /v1/licenses/validate` with `{"key": "ts1_…"}` answers `200` with a [`ValidateResponse`]
//! for every key, well-formed or not: whether a key is valid is the answer, not an error. Only a
//! request that is not `{"key": "<string>"}` is an error (`400`, see [`crate::extract::ApiJson`]).
//!
//! The key itself is never logged; the licence id is, once the signature has been checked.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tessera_keys::{LicenseId, UnixTime};
use tessera_verifier::VerifyError;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::extract::JsonBodyRefused;
use crate::licenses::LicenseView;
use crate::state::AppState;
use crate::store::{IssuedKey, LicenseRecord, LicenseStatus};
use crate::verified_keys::{Checked, SignedKey, Standing};

/// `POST /v1/licenses/validate`.
pub fn router() -> Router<AppState> {
    Router::new().route("/v1/licenses/validate", post(validate))
}

/// The request body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ValidateRequest {
    /// The licence key text, `ts1_…`; whitespace and line breaks are ignored.
    pub key: String,
}

/// The answer: always `200` for a well-formed request.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidateResponse {
    /// Whether the app should run as licensed (`status` is `active` or `grace`).
    pub valid: bool,
    /// `active`, `grace` (expired but within its grace period: works, ask for renewal), `expired`,
    /// `not_yet_valid`, `revoked`, `suspended`, or `invalid` (not a key this issuer signed).
    pub status: &'static str,
    /// Why it is not valid, as a stable code; `null` when valid. One of `malformed`,
    /// `unsupported_version`, `unknown_key_id`, `bad_signature` (all with status `invalid`),
    /// `not_yet_valid`, `expired`, `revoked`, `suspended`.
    pub reason: Option<&'static str>,
    /// One line for humans.
    pub message: String,
    /// Whether the issuer has this licence on record. A key it signed without recording it (issued
    /// offline with `tessera issue`, say) is judged by its signature and expiry alone. Always
    /// `false` when the signature does not verify: nothing in such a key is looked up.
    pub known: bool,
    /// The licence id signed into the key; `null` when the signature does not verify.
    pub license_id: Option<String>,
    /// When this key expires (unix seconds); `null` is perpetual or an invalid key.
    pub expires_at: Option<u64>,
    /// When this key's grace period ends (unix seconds); `null` when it has none.
    pub grace_ends_at: Option<u64>,
    /// Whether the issuer has issued a newer key for this licence (a renewal or plan change): the app
    /// should fetch and store it. This key stays valid to its own expiry.
    pub superseded: bool,
    /// The server time the key was checked at (unix seconds).
    pub checked_at: u64,
    /// The licence as the issuer has it (its `expires_at` is that of its newest key); `null` unless
    /// `known`.
    pub license: Option<LicenseView>,
}

/// What the issuer makes of a licence key: its signature and dates, checked with the verifier
/// against the trusted keyring, and what the store has on record (revoked, suspended, newer keys).
///
/// What `POST /v1/licenses/validate` reports. The credit endpoints judge keys the same way, with the
/// record's part checked inside each operation's transaction ([`crate::credits::auth`]).
pub struct KeyCheck {
    /// `active`, `grace`, `expired`, `not_yet_valid`, `revoked`, `suspended` or `invalid`.
    pub status: &'static str,
    /// Why it is not valid (see [`ValidateResponse::reason`]); `None` when valid.
    pub reason: Option<&'static str>,
    /// One line for humans.
    pub message: String,
    signed: Option<SignedKey>,
    /// The licence and its keys, if the signature verified and the issuer has it on record.
    pub stored: Option<(LicenseRecord, Vec<IssuedKey>)>,
}

impl std::fmt::Debug for KeyCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCheck")
            .field("status", &self.status)
            .field("reason", &self.reason)
            .field("license_id", &self.license_id())
            .finish_non_exhaustive()
    }
}

impl KeyCheck {
    /// Whether the app may run as licensed (`active` or `grace`).
    pub fn is_valid(&self) -> bool {
        self.reason.is_none()
    }

    /// The licence id signed into the key; `None` when the signature does not verify.
    pub fn license_id(&self) -> Option<LicenseId> {
        self.signed.as_ref().map(|signed| signed.license_id)
    }
}

/// Judges `key` at `now`: signature and dates by the verifier, then revocation and suspension by the
/// store. Never logs the key.
pub async fn check_key(state: &AppState, key: &str, now: UnixTime) -> Result<KeyCheck, ApiError> {
    let signed = match state.verified_keys.check(key, now) {
        Checked::Signed(signed) => signed,
        Checked::Untrusted(err) => {
            return Ok(KeyCheck {
                status: "invalid",
                reason: Some(refusal_reason(&err)),
                message: err.to_string(),
                signed: None,
                stored: None,
            });
        }
    };
    let license_id = signed.license_id;
    let stored = state.db(move |store| store.license(&license_id)).await?;
    let (status, reason, message) = judge(stored.as_ref().map(|(license, _)| license), &signed);
    Ok(KeyCheck {
        status,
        reason,
        message,
        signed: Some(signed),
        stored,
    })
}

/// A licence key's standing: its signature and dates, and what the issuer has on record.
#[utoipa::path(
    post,
    path = "/v1/licenses/validate",
    tag = "apps",
    request_body = ValidateRequest,
    responses(
        (status = 200, description = "The key's standing, valid or not", body = ValidateResponse),
        (status = 400, description = "`invalid_json`, `invalid_body`: not `{\"key\": \"<string>\"}`",
            body = ErrorBody),
        JsonBodyRefused,
        (status = 500, description = "`internal`", body = ErrorBody),
    )
)]
async fn validate(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<ValidateRequest>,
) -> Result<Json<ValidateResponse>, ApiError> {
    let now = crate::clock::now();
    let check = check_key(&state, &request.key, now).await?;
    let Some(signed) = &check.signed else {
        tracing::info!(
            reason = check.reason,
            "validate: not a key this issuer signed"
        );
        return Ok(Json(ValidateResponse {
            valid: false,
            status: check.status,
            reason: check.reason,
            message: check.message,
            known: false,
            license_id: None,
            expires_at: None,
            grace_ends_at: None,
            superseded: false,
            checked_at: now.0,
            license: None,
        }));
    };
    let license_id = signed.license_id;
    let stored = &check.stored;
    let key = strip_whitespace(&request.key);
    let superseded = stored
        .as_ref()
        .and_then(|(_, keys)| keys.last())
        .is_some_and(|newest: &IssuedKey| newest.key != key);
    tracing::info!(%license_id, known = stored.is_some(), status = check.status, "validate");
    Ok(Json(ValidateResponse {
        valid: check.is_valid(),
        status: check.status,
        reason: check.reason,
        message: check.message.clone(),
        known: stored.is_some(),
        license_id: Some(license_id.to_hex().to_string()),
        expires_at: signed.expires_at.map(|t| t.0),
        grace_ends_at: signed.grace_ends_at.map(|t| t.0),
        superseded,
        checked_at: now.0,
        license: stored
            .as_ref()
            .map(|(license, _)| LicenseView::new(&state, license)),
    }))
}

/// Status, reason and message of a validly signed key. What the issuer recorded (revoked,
/// suspended) outranks the key's own dates.
fn judge(
    stored: Option<&LicenseRecord>,
    signed: &SignedKey,
) -> (&'static str, Option<&'static str>, String) {
    if let Some((code, message)) = stored.and_then(|license| issuer_refusal(license.status)) {
        return (code, Some(code), message.into());
    }
    match &signed.standing {
        Standing::Valid => ("active", None, "licence is valid".into()),
        Standing::InGrace => (
            "grace",
            None,
            "licence has expired and is in its grace period: renew it".into(),
        ),
        Standing::Refused(err @ VerifyError::NotYetValid { .. }) => {
            ("not_yet_valid", Some("not_yet_valid"), err.to_string())
        }
        Standing::Refused(err) => ("expired", Some(refusal_reason(err)), err.to_string()),
    }
}

/// The code and message of a licence its record refuses whatever its key says (revoked, suspended);
/// `None` for the other statuses. A stored `expired` describes the licence's newest key; a key may be
/// another one, and is judged by its own dates.
pub fn issuer_refusal(status: LicenseStatus) -> Option<(&'static str, &'static str)> {
    match status {
        LicenseStatus::Revoked => Some(("revoked", "licence has been revoked")),
        LicenseStatus::Suspended => Some(("suspended", "licence is suspended; contact the vendor")),
        LicenseStatus::Active | LicenseStatus::Expired => None,
    }
}

/// The stable code of a refusal by the verifier.
pub fn refusal_reason(err: &VerifyError) -> &'static str {
    match err {
        VerifyError::Malformed(_) => "malformed",
        VerifyError::UnsupportedVersion { .. } => "unsupported_version",
        VerifyError::UnknownKeyId { .. } => "unknown_key_id",
        VerifyError::BadSignature => "bad_signature",
        VerifyError::NotYetValid { .. } => "not_yet_valid",
        VerifyError::Expired { .. } => "expired",
        VerifyError::Revoked { .. } => "revoked",
        // WrongProduct is never reported (the verifier is not tied to a product); a kind added later
        // is still a refusal.
        _ => "invalid",
    }
}

fn strip_whitespace(key: &str) -> String {
    key.chars().filter(|c| !c.is_whitespace()).collect()
}
