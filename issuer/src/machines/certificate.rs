//! Machine certificates (`tsm1_…`) signed with the issuer's current signing key, and activation
//! requests (`tsq1_…`) read.

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{Machine, Timestamp};

/// The longest activation request text accepted; longer ones are refused before decoding.
pub const MAX_REQUEST_TEXT: usize = 4096;

/// What an activation request carries.
#[derive(Debug)]
pub struct OfflineRequest {
    /// The licence key, as text, to be checked like an `Authorization` header's.
    pub key: String,
    /// The machine's fingerprint hash, 64 lower-case hex digits.
    pub fingerprint: String,
    /// The machine's name, unchecked.
    pub name: Option<String>,
    /// Its platform, unchecked.
    pub platform: Option<String>,
}

/// Reads an activation request; `400 invalid_request` if it is not one.
pub fn decode_request(text: &str) -> Result<OfflineRequest, ApiError> {
    let _ = text;
    Err(ApiError::bad_request(
        "invalid_request",
        "not an activation request",
    ))
}

/// A certificate for `machine`, issued at `now`.
pub fn sign(state: &AppState, machine: &Machine, now: Timestamp) -> Result<String, ApiError> {
    let _ = (state, machine, now);
    Err(ApiError::Internal("certificates are not signed yet".into()))
}
