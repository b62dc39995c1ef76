//! Verifying a licence key into the caller's `TesseraLicense`, and the questions asked of it.

use std::ffi::c_char;

use tessera_keys::MAX_LICENSEE_LEN;
use tessera_verifier::{FeatureSet, LicenseBuffer, UnixTime, Validity};

use crate::error::TesseraError;
use crate::text;
use crate::verifier::TesseraVerifier;
use crate::{guarded, TesseraStatus};

// The licensee array holds the longest name a licence may carry and its NUL.
const _: () = assert!(MAX_LICENSEE_LEN + 1 == 65);

/// Where a valid licence stands at the time it was checked.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TesseraValidity {
    /// The licence never expires.
    Perpetual = 0,
    /// Valid until `expires_at`.
    Active = 1,
    /// Expired, but within its grace period until `grace_ends_at`: keep working, ask for renewal.
    Grace = 2,
}

/// A verified licence: what it says, copied into the caller's struct (nothing in it needs freeing).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TesseraLicense {
    /// The licence's id, as support staff and revocation lists know it.
    pub license_id: [u8; 8],
    /// The same id as 16 lowercase hex digits, NUL-terminated.
    pub license_id_hex: [c_char; 17],
    /// The id of the signing key that signed it.
    pub key_id: u32,
    /// The product it is for.
    pub product: u32,
    /// Index into the product's tier ladder; higher is a higher tier.
    pub tier: u8,
    /// Feature bits: bit `n` is entry `n` of the product's feature table.
    pub features: u64,
    /// When it was signed (Unix seconds).
    pub issued_at: u64,
    /// Whether `not_before` is set.
    pub has_not_before: bool,
    /// Not valid before this time (Unix seconds).
    pub not_before: u64,
    /// Whether the licence expires (`expires_at` is set); a perpetual licence does not.
    pub has_expiry: bool,
    /// When it expires (Unix seconds).
    pub expires_at: u64,
    /// Seconds after expiry during which it keeps working (0 if none).
    pub grace_seconds: u32,
    /// When the grace period ends (Unix seconds; `expires_at` without grace; 0 if perpetual).
    pub grace_ends_at: u64,
    /// Where the licence stands at the time of the check.
    pub validity: TesseraValidity,
    /// Whether the licence names a licensee.
    pub has_licensee: bool,
    /// The licensee's name, UTF-8, NUL-terminated (at most 64 bytes before the NUL).
    pub licensee: [c_char; 65],
}

impl TesseraLicense {
    pub(crate) fn new(license: &tessera_verifier::License<'_>) -> TesseraLicense {
        let claims = license.claims();
        let mut out = TesseraLicense {
            license_id: claims.license_id.0,
            license_id_hex: [0; 17],
            key_id: claims.key_id,
            product: claims.product,
            tier: claims.tier,
            features: claims.features.0,
            issued_at: claims.issued_at.0,
            has_not_before: claims.not_before.is_some(),
            not_before: claims.not_before.map_or(0, |time| time.0),
            has_expiry: claims.expires_at.is_some(),
            expires_at: claims.expires_at.map_or(0, |time| time.0),
            grace_seconds: claims.grace_seconds.unwrap_or(0),
            grace_ends_at: claims.grace_ends_at().map_or(0, |time| time.0),
            validity: match license.validity() {
                Validity::Perpetual => TesseraValidity::Perpetual,
                Validity::Active { .. } => TesseraValidity::Active,
                Validity::Grace { .. } => TesseraValidity::Grace,
            },
            has_licensee: claims.licensee.is_some(),
            licensee: [0; 65],
        };
        text::write(claims.license_id.to_hex().as_str(), &mut out.license_id_hex);
        text::write(claims.licensee.unwrap_or(""), &mut out.licensee);
        out
    }
}

/// Verifies the licence key text `key_text` at `now` (Unix seconds; see `tessera_system_now`).
///
/// Whitespace and line breaks anywhere in the text are ignored. On success fills `*license` and returns
/// `TESSERA_STATUS_OK` (also for a licence in its grace period: see `license->validity`). Otherwise
/// returns why, fills `*error` if it is not null, and leaves `*license` unchanged.
///
/// Safe to call from many threads at once on one verifier.
///
/// # Safety
/// `verifier` is null or a live handle; `key_text` is a NUL-terminated string; `license` is a writable
/// `TesseraLicense`; `error` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_verify(
    verifier: *const TesseraVerifier,
    key_text: *const c_char,
    now: u64,
    license: *mut TesseraLicense,
    error: *mut TesseraError,
) -> TesseraStatus {
    guarded(|| {
        // SAFETY: null or a live handle, as the caller promises.
        let Some(verifier) = (unsafe { verifier.as_ref() }) else {
            // SAFETY: `error` is null or writable.
            return unsafe { TesseraError::invalid_argument("`verifier` is null").report(error) };
        };
        if license.is_null() {
            // SAFETY: `error` is null or writable.
            return unsafe { TesseraError::invalid_argument("`license` is null").report(error) };
        }
        // SAFETY: a NUL-terminated string, as the caller promises.
        let key_text = match unsafe { text::read(key_text) } {
            Ok(text) => text,
            // SAFETY: `error` is null or writable.
            Err(why) => return unsafe { TesseraError::unreadable_key(why).report(error) },
        };
        let mut buf = LicenseBuffer::new();
        match verifier.verifier.verify(key_text, UnixTime(now), &mut buf) {
            Ok(verified) => {
                // SAFETY: checked not null above; writable as the caller promises.
                unsafe { *license = TesseraLicense::new(&verified) };
                TesseraStatus::Ok
            }
            // SAFETY: `error` is null or writable.
            Err(err) => unsafe { TesseraError::from_verify(&err).report(error) },
        }
    })
}

/// Reads the pointers shared by the name questions; `None` if any is null or the name unreadable.
///
/// # Safety
/// As the callers'.
unsafe fn by_name<'a>(
    verifier: *const TesseraVerifier,
    license: *const TesseraLicense,
    name: *const c_char,
) -> Option<(
    &'a tessera_verifier::Product<'static>,
    &'a TesseraLicense,
    &'a str,
)> {
    // SAFETY: each is null or valid, as the callers' callers promise.
    unsafe {
        let product = verifier.as_ref()?.product?;
        Some((product, license.as_ref()?, text::read(name).ok()?))
    }
}

/// Whether `license` (verified by `verifier`) grants the feature `name` of the verifier's product.
/// False for a name the product does not list, for a verifier made without a product, and for null
/// arguments.
///
/// # Safety
/// `verifier` is null or a live handle; `license` is null or valid; `name` is null or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn tessera_license_has_feature(
    verifier: *const TesseraVerifier,
    license: *const TesseraLicense,
    name: *const c_char,
) -> bool {
    let mut granted = false;
    let _ = guarded(|| {
        // SAFETY: as the caller promises.
        if let Some((product, license, name)) = unsafe { by_name(verifier, license, name) } {
            granted = product
                .feature_bit(name)
                .is_some_and(|bit| FeatureSet(license.features).contains(bit));
        }
        TesseraStatus::Ok
    });
    granted
}

/// Whether `license`'s tier is `name` or a higher one in the verifier's product's tier ladder. False
/// for a name the product does not list, for a verifier made without a product, and for null
/// arguments.
///
/// # Safety
/// As `tessera_license_has_feature`.
#[no_mangle]
pub unsafe extern "C" fn tessera_license_tier_at_least(
    verifier: *const TesseraVerifier,
    license: *const TesseraLicense,
    name: *const c_char,
) -> bool {
    let mut at_least = false;
    let _ = guarded(|| {
        // SAFETY: as the caller promises.
        if let Some((product, license, name)) = unsafe { by_name(verifier, license, name) } {
            at_least = product
                .tier_index(name)
                .is_some_and(|minimum| license.tier >= minimum);
        }
        TesseraStatus::Ok
    });
    at_least
}

/// The system clock in Unix seconds (0 if it is set before 1970), for `tessera_verify`'s `now`.
#[no_mangle]
pub extern "C" fn tessera_system_now() -> u64 {
    tessera_verifier::system_now().0
}
