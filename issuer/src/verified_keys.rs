//! Licence keys judged by the verifier, with the signatures already checked remembered.
//!
//! A credit client sends its licence key with every request. The Ed25519 check is by far the
//! costliest part of such a request (about 40 µs, more than the rest of it together), and its answer
//! for a given key never changes: so the claims of every key whose signature verified are kept, and
//! a key seen before costs a decoding and one hash lookup plus the date checks, which do depend on
//! `now` and are made every time by the verifier's own [`tessera_verifier::check_dates`].
//!
//! Keys are remembered by their decoded bytes, not their text: decoding ignores whitespace anywhere
//! in the text, so one key sent with its whitespace varied would otherwise fill the table with copies.
//! Only keys that verified are kept, so unsigned garbage cannot fill the memory; a text longer than
//! [`MAX_KEY_TEXT_LEN`] is refused before it is even decoded; and the table is bounded anyway.

use std::collections::HashMap;
use std::sync::Mutex;

use tessera_keys::{
    Claims, LicenseBuffer, LicenseId, Malformed, PublicKey, SignedLicense, UnixTime,
    LICENSE_DOMAIN, MAX_LICENSE_TEXT_LEN,
};
use tessera_verifier::{SetupError, Verifier, VerifyError};

/// Keys remembered at most; the table starts afresh when full.
const CAPACITY: usize = 16_384;

/// The longest key text accepted: the longest a key can be, with as much whitespace again (a key
/// wrapped and indented in an e-mail). Longer texts are refused as malformed before decoding.
pub const MAX_KEY_TEXT_LEN: usize = 2 * MAX_LICENSE_TEXT_LEN;

/// Checks licence keys against the issuer's trusted public keys, remembering good signatures.
pub struct VerifiedKeys {
    verifier: std::sync::RwLock<Verifier<'static>>,
    seen: Mutex<HashMap<Box<[u8]>, Claims<'static>>>,
}

impl std::fmt::Debug for VerifiedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedKeys").finish_non_exhaustive()
    }
}

/// What a key text came to.
#[derive(Debug)]
pub enum Checked {
    /// The signature does not verify, or the text is not a key: nothing in it can be trusted.
    Untrusted(VerifyError),
    /// Signed by a trusted key.
    Signed(SignedKey),
}

/// A key signed by a trusted key, and where it stands by its own dates.
#[derive(Debug)]
pub struct SignedKey {
    /// The licence it belongs to.
    pub license_id: LicenseId,
    /// When it expires; `None` is perpetual.
    pub expires_at: Option<UnixTime>,
    /// When its grace period ends.
    pub grace_ends_at: Option<UnixTime>,
    /// Where it stands at the time of the check.
    pub standing: Standing,
}

/// Where a signed key stands by its dates.
#[derive(Debug)]
pub enum Standing {
    /// Within its dates.
    Valid,
    /// Expired, but within its grace period: it still works.
    InGrace,
    /// `Expired` or `NotYetValid`, as the verifier reported it.
    Refused(VerifyError),
}

impl VerifiedKeys {
    /// A checker trusting `keys`.
    pub fn new(keys: &[PublicKey]) -> Result<VerifiedKeys, SetupError> {
        Ok(VerifiedKeys {
            verifier: std::sync::RwLock::new(Verifier::new(keys)?.accepting_unactivated()),
            seen: Mutex::default(),
        })
    }

    /// Trusts `keys` from now on (after a key rotation, here or read from where keys live). The
    /// remembered texts are forgotten: a key read again may have dropped a key that signed some of
    /// them (a rotated key deleted), and keys change seldom enough that checking them again is cheap.
    pub fn trust(&self, keys: &[PublicKey]) -> Result<(), SetupError> {
        let verifier = Verifier::new(keys)?.accepting_unactivated();
        let mut current = self
            .verifier
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Cleared while the old verifier cannot be used, so that no check by it is remembered after.
        self.seen().clear();
        *current = verifier;
        Ok(())
    }

    /// Judges `key_text` at `now`.
    pub fn check(&self, key_text: &str, now: UnixTime) -> Checked {
        if key_text.len() > MAX_KEY_TEXT_LEN {
            return Checked::Untrusted(VerifyError::Malformed(Malformed::TooLong));
        }
        let mut buf = LicenseBuffer::new();
        let key = match buf.decode_text(key_text) {
            Ok(signed) => key_bytes(&signed),
            Err(err) => return Checked::Untrusted(err.into()),
        };
        let remembered = self.seen().get(key.as_slice()).copied();
        let claims = match remembered {
            Some(claims) => claims,
            None => {
                // Held until the claims are remembered, so that `trust` cannot forget the
                // remembered keys between this check and that.
                let verifier = self
                    .verifier
                    .read()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                match verify_signature(&verifier, &key, now) {
                    Ok(claims) => {
                        let mut seen = self.seen();
                        if seen.len() >= CAPACITY {
                            seen.clear();
                        }
                        seen.insert(key.into_boxed_slice(), claims);
                        claims
                    }
                    Err(err) => return Checked::Untrusted(err),
                }
            }
        };
        let standing = match tessera_verifier::check_dates(&claims, now, true) {
            Err(err) => Standing::Refused(err),
            Ok(()) if claims.expires_at.is_some_and(|expiry| expiry <= now) => Standing::InGrace,
            Ok(()) => Standing::Valid,
        };
        Checked::Signed(SignedKey {
            license_id: claims.license_id,
            expires_at: claims.expires_at,
            grace_ends_at: claims.grace_ends_at(),
            standing,
        })
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, HashMap<Box<[u8]>, Claims<'static>>> {
        // The table holds plain values; one left half-updated by a panic is still a valid table.
        self.seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The claims of a key (in binary form) whose signature `verifier` verifies, whatever its dates
/// (without the licensee name, which nothing here needs).
fn verify_signature(
    verifier: &Verifier<'static>,
    key: &[u8],
    now: UnixTime,
) -> Result<Claims<'static>, VerifyError> {
    let mut buf = LicenseBuffer::new();
    match verifier.verify_bytes(key, now, &mut buf) {
        Ok(license) => Ok(without_licensee(license.claims())),
        // Reported only after the signature checked out, so the claims can be trusted; the
        // verifier does not hand them back for a refused key, so decode the same bytes again.
        Err(VerifyError::Expired { .. } | VerifyError::NotYetValid { .. }) => {
            let mut buf = LicenseBuffer::new();
            let signed = buf.decode_bytes(key).map_err(VerifyError::from)?;
            Ok(without_licensee(&signed.claims))
        }
        Err(err) => Err(err),
    }
}

/// A decoded key's binary form, claims followed by the signature: the same for every text of the
/// key, whatever whitespace it carries (base64url has one text for given bytes).
fn key_bytes(signed: &SignedLicense<'_>) -> Vec<u8> {
    let claims = &signed.signed_message[LICENSE_DOMAIN.len()..];
    [claims, &signed.signature[..]].concat()
}

fn without_licensee(claims: &Claims<'_>) -> Claims<'static> {
    Claims {
        licensee: None,
        ..*claims
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_keys::{FeatureSet, SigningKey};

    /// Times in these tests are seconds after this one (keys cannot carry times before 2024).
    const T: u64 = 1_800_000_000;

    fn key(expires_at: u64) -> (VerifiedKeys, String) {
        let issuer = SigningKey::from_seed(1, &[3; 32]);
        let text = issuer
            .sign_license(&Claims {
                key_id: 1,
                license_id: LicenseId([5; 8]),
                product: 1,
                tier: 0,
                issued_at: UnixTime(T + 1_000),
                not_before: Some(UnixTime(T + 1_000)),
                expires_at: Some(UnixTime(T + expires_at)),
                grace_seconds: Some(100),
                features: FeatureSet(0),
                licensee: Some("Ada"),
                requires_activation: false,
            })
            .unwrap();
        (VerifiedKeys::new(&[issuer.public_key()]).unwrap(), text)
    }

    fn standing(keys: &VerifiedKeys, text: &str, now: u64) -> &'static str {
        match keys.check(text, UnixTime(T + now)) {
            Checked::Untrusted(_) => "untrusted",
            Checked::Signed(signed) => match signed.standing {
                Standing::Valid => "valid",
                Standing::InGrace => "grace",
                Standing::Refused(VerifyError::NotYetValid { .. }) => "not yet valid",
                Standing::Refused(_) => "expired",
            },
        }
    }

    #[test]
    fn a_remembered_key_is_judged_by_its_dates_at_every_check() {
        let (keys, text) = key(2_000);
        // First seen expired: remembered all the same, and judged anew later.
        assert_eq!(standing(&keys, &text, 5_000), "expired");
        assert_eq!(standing(&keys, &text, 999), "not yet valid");
        assert_eq!(standing(&keys, &text, 1_500), "valid");
        assert_eq!(standing(&keys, &text, 2_050), "grace");
        assert_eq!(standing(&keys, &text, 2_100), "expired");
        assert_eq!(keys.seen().len(), 1);
    }

    #[test]
    fn keys_no_longer_trusted_are_refused_though_remembered() {
        let (keys, text) = key(2_000);
        assert_eq!(standing(&keys, &text, 1_500), "valid");
        let other = SigningKey::from_seed(2, &[4; 32]);
        keys.trust(&[other.public_key()]).unwrap();
        assert_eq!(standing(&keys, &text, 1_500), "untrusted");
    }

    #[test]
    fn a_bad_signature_is_never_remembered() {
        let (keys, text) = key(2_000);
        let mut forged = text.clone().into_bytes();
        let last = forged.len() - 3;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        assert_eq!(standing(&keys, &forged, 1_500), "untrusted");
        assert_eq!(standing(&keys, &forged, 1_500), "untrusted");
        assert!(keys.seen().is_empty());
        assert_eq!(standing(&keys, &text, 1_500), "valid");
    }

    #[test]
    fn one_key_with_its_whitespace_varied_is_remembered_once() {
        let (keys, text) = key(2_000);
        for at in 0..text.len() {
            for space in [" ", "\n", "\r\n\t"] {
                let padded = format!("{}{space}{}", &text[..at], &text[at..]);
                assert_eq!(standing(&keys, &padded, 1_500), "valid", "{padded:?}");
            }
        }
        assert_eq!(keys.seen().len(), 1);
    }

    #[test]
    fn a_text_longer_than_any_key_is_refused_before_decoding() {
        let (keys, text) = key(2_000);
        let wrapped: String = text
            .as_bytes()
            .chunks(20)
            .map(|line| format!("    {}\r\n", std::str::from_utf8(line).unwrap()))
            .collect();
        assert!(wrapped.len() <= MAX_KEY_TEXT_LEN);
        assert_eq!(standing(&keys, &wrapped, 1_500), "valid");
        let overlong = format!("{text}{}", " ".repeat(MAX_KEY_TEXT_LEN + 1 - text.len()));
        assert!(matches!(
            keys.check(&overlong, UnixTime(T + 1_500)),
            Checked::Untrusted(VerifyError::Malformed(Malformed::TooLong))
        ));
    }
}
