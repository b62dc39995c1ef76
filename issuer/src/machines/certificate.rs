//! Machine certificates (`tsm1_…`) signed with the issuer's current signing key, and activation
//! requests (`tsq1_…`) read.

use tessera_keys::{
    license_text, ActivationRequestBuffer, Fingerprint, MachineClaims, UnixTime,
    MAX_ACTIVATION_REQUEST_TEXT_LEN,
};

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{Machine, Timestamp};

/// What an activation request carries, owned.
pub struct OfflineRequest {
    /// The licence key, as text, to be checked as an `Authorization` header's key is.
    pub key: String,
    /// The machine's fingerprint hash, 64 lower-case hex digits.
    pub fingerprint: String,
    /// The machine's name, as sent (checked by the caller).
    pub name: Option<String>,
    /// Its platform, as sent (checked by the caller).
    pub platform: Option<String>,
}

impl std::fmt::Debug for OfflineRequest {
    /// Without the key: it is a credential.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfflineRequest")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// Reads an activation request; `400 invalid_request` if it is not one (nothing of the text is
/// repeated in the answer or the log).
pub fn decode_request(text: &str) -> Result<OfflineRequest, ApiError> {
    let invalid = |why: String| {
        ApiError::bad_request(
            "invalid_request",
            format!("not an activation request (`tsq1_…`): {why}"),
        )
    };
    // Room for the whitespace a copy from a terminal or a mail may add.
    if text.len() > 2 * MAX_ACTIVATION_REQUEST_TEXT_LEN {
        return Err(invalid("too long".to_owned()));
    }
    let mut buf = ActivationRequestBuffer::new();
    let request = buf
        .decode_text(text)
        .map_err(|err| invalid(err.to_string()))?;
    Ok(OfflineRequest {
        key: license_text(request.license),
        fingerprint: request.fingerprint.to_hex().as_str().to_owned(),
        name: request.name.map(str::to_owned),
        platform: request.platform.map(str::to_owned),
    })
}

/// A certificate for `machine`, issued at `now` and leased as the machine's record says, signed
/// by the issuer's current signing key.
pub fn sign(state: &AppState, machine: &Machine, now: Timestamp) -> Result<String, ApiError> {
    let fingerprint = Fingerprint::from_hex(&machine.fingerprint).ok_or_else(|| {
        ApiError::Internal(format!(
            "machine {} has a malformed fingerprint on record",
            machine.id
        ))
    })?;
    let time = |t: Timestamp| UnixTime(u64::try_from(t).unwrap_or(0));
    let signer = state.keyring.active();
    let claims = MachineClaims {
        key_id: signer.id(),
        license_id: machine.license_id,
        fingerprint: fingerprint.certified(),
        issued_at: time(now),
        lease_ends_at: machine.lease_ends_at.map(time),
    };
    signer.sign_machine_certificate(&claims).map_err(|err| {
        ApiError::Internal(format!(
            "cannot sign a certificate for machine {}: {err}",
            machine.id
        ))
    })
}
