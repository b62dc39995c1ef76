//! Offline verification of Tessera licence keys, for embedding in apps.
//!
//! Build a [`Verifier`] once from the issuer's public keys (and, optionally, the product's tables and a
//! cached revocation list); then each check takes the key text and the current time and returns either
//! the verified [`License`] or a [`VerifyError`] that says exactly what is wrong. No network, no clock
//! read, no heap allocation: the crate is `#![no_std]` and runs on microcontrollers as well as desktops.
//!
//! ```
//! use tessera_verifier::{LicenseBuffer, Product, PublicKey, UnixTime, Validity, Verifier};
//! # let issuer = tessera_keys::SigningKey::from_seed(1, &[7; 32]);
//! # let key_text = issuer.sign_license(&tessera_keys::Claims {
//! #     key_id: 1, license_id: tessera_keys::LicenseId([9; 8]), product: 1, tier: 1,
//! #     issued_at: UnixTime(1_790_000_000), not_before: None,
//! #     expires_at: Some(UnixTime(1_821_536_000)), grace_seconds: Some(7 * 86_400),
//! #     features: tessera_keys::FeatureSet(0b01), licensee: Some("Ada"),
//! #     requires_activation: false,
//! # })?;
//! # let issuer_public_key = issuer.public_key();
//!
//! // Both normally live in the app's source.
//! const EDITOR: Product = Product {
//!     id: 1,
//!     name: "acme-editor",
//!     tiers: &["free", "pro", "team"],
//!     features: &["export", "sync"],
//! };
//! let trusted: [PublicKey; 1] = [issuer_public_key];
//!
//! let verifier = Verifier::new(&trusted)?.for_product(&EDITOR);
//! let mut buf = LicenseBuffer::new();
//! let license = verifier.verify(&key_text, UnixTime(1_800_000_000), &mut buf)?;
//!
//! assert!(license.tier_at_least("pro") && !license.tier_at_least("team"));
//! assert!(license.has_feature("export") && !license.has_feature("sync"));
//! assert!(matches!(license.validity(), Validity::Active { .. }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![no_std]
#![deny(missing_docs)]

#[cfg(any(test, feature = "std"))]
extern crate std;

mod activation;
mod error;
#[cfg(feature = "std")]
mod last_seen;
mod license;
#[cfg(feature = "std")]
mod machine_id;
mod signature;

use signature::TrustedKey;

pub use activation::{Activated, ActivationBuffers};
pub use error::{RevocationError, SetupError, VerifyError};
#[cfg(feature = "std")]
pub use last_seen::LastSeenFile;
pub use license::{License, Validity};
#[cfg(feature = "std")]
pub use machine_id::{machine_fingerprint, FingerprintError};
pub use tessera_keys::{
    revocations_buffer_len, CertificateBuffer, Claims, FeatureSet, Fingerprint, LicenseBuffer,
    LicenseId, MachineClaims, Malformed, Product, PublicKey, RevocationList, UnixTime,
};

/// How many public keys one verifier can trust at once; enough for years of yearly rotation.
pub const MAX_TRUSTED_KEYS: usize = 8;

/// How far, by default, the clock may read behind a time the app saw before, or behind the time a
/// key or certificate was issued, before the verifier says the clock was turned back: an hour
/// covers a clock corrected by NTP or a few minutes slow, and is all a user gains by turning it back.
pub const DEFAULT_CLOCK_TOLERANCE_SECONDS: u64 = 3600;

/// Checks licence keys against a fixed set of trusted issuer keys.
///
/// Public keys are decompressed and checked once, here, not on every check.
#[derive(Clone, Debug)]
pub struct Verifier<'a> {
    keys: [Option<(u32, TrustedKey)>; MAX_TRUSTED_KEYS],
    product: Option<&'a Product<'a>>,
    revocations: Option<RevocationList<'a>>,
    honour_grace: bool,
    accept_unactivated: bool,
    clock_tolerance: u64,
}

impl<'a> Verifier<'a> {
    /// A verifier that trusts `keys`.
    pub fn new(keys: &[PublicKey]) -> Result<Verifier<'a>, SetupError> {
        if keys.is_empty() {
            return Err(SetupError::NoKeys);
        }
        if keys.len() > MAX_TRUSTED_KEYS {
            return Err(SetupError::TooManyKeys);
        }
        let mut trusted = [None; MAX_TRUSTED_KEYS];
        for (slot, key) in trusted.iter_mut().zip(keys) {
            if keys.iter().filter(|other| other.id == key.id).count() > 1 {
                return Err(SetupError::DuplicateKeyId { key_id: key.id });
            }
            let trusted_key =
                TrustedKey::new(&key.bytes).ok_or(SetupError::InvalidKey { key_id: key.id })?;
            *slot = Some((key.id, trusted_key));
        }
        Ok(Verifier {
            keys: trusted,
            product: None,
            revocations: None,
            honour_grace: true,
            accept_unactivated: false,
            clock_tolerance: DEFAULT_CLOCK_TOLERANCE_SECONDS,
        })
    }

    /// Also require licences to be for `product`, and answer feature and tier questions by name.
    pub fn for_product(self, product: &'a Product<'a>) -> Verifier<'a> {
        Verifier {
            product: Some(product),
            ..self
        }
    }

    /// Also refuse licences that `list` revokes. Check the list first with
    /// [`Verifier::check_revocations`].
    pub fn with_revocations(self, list: RevocationList<'a>) -> Verifier<'a> {
        Verifier {
            revocations: Some(list),
            ..self
        }
    }

    /// Treat a licence in its grace period as expired ([`VerifyError::Expired`] with `in_grace`).
    pub fn without_grace(self) -> Verifier<'a> {
        Verifier {
            honour_grace: false,
            ..self
        }
    }

    /// Accept licences that require activation on their own, without a machine certificate.
    ///
    /// For a server, where the key is a credential (to activate a machine, say); an app should use
    /// [`Verifier::verify_activated`] for such licences instead.
    pub fn accepting_unactivated(self) -> Verifier<'a> {
        Verifier {
            accept_unactivated: true,
            ..self
        }
    }

    /// How many seconds the clock may read behind the app's last-seen time, or behind when a key or
    /// certificate was issued (default [`DEFAULT_CLOCK_TOLERANCE_SECONDS`]). An app with floating
    /// seats, whose certificates last minutes, may want less.
    pub fn with_clock_tolerance(self, seconds: u64) -> Verifier<'a> {
        Verifier {
            clock_tolerance: seconds,
            ..self
        }
    }

    /// Refuses a clock that reads earlier than `last_seen` (the latest time the app saw before) by
    /// more than the tolerance: [`VerifyError::ClockRolledBack`].
    ///
    /// [`Verifier::verify_activated`] does this itself; an app that checks only keys can call it
    /// before [`Verifier::verify`].
    pub fn check_clock(
        &self,
        now: UnixTime,
        last_seen: Option<UnixTime>,
    ) -> Result<(), VerifyError> {
        match last_seen {
            Some(last_seen) if now.plus_seconds(self.clock_tolerance) < last_seen => {
                Err(VerifyError::ClockRolledBack { last_seen, now })
            }
            _ => Ok(()),
        }
    }

    /// Verifies a licence key's text, decoding it into `buf`.
    ///
    /// Whitespace and line breaks anywhere in the text are ignored.
    pub fn verify<'b>(
        &self,
        key_text: &str,
        now: UnixTime,
        buf: &'b mut LicenseBuffer,
    ) -> Result<License<'b>, VerifyError>
    where
        'a: 'b,
    {
        let signed = buf.decode_text(key_text)?;
        self.check(signed, now)
    }

    /// Verifies a licence key in binary form (claims followed by signature), decoding it into `buf`.
    pub fn verify_bytes<'b>(
        &self,
        key: &[u8],
        now: UnixTime,
        buf: &'b mut LicenseBuffer,
    ) -> Result<License<'b>, VerifyError>
    where
        'a: 'b,
    {
        let signed = buf.decode_bytes(key)?;
        self.check(signed, now)
    }

    fn check<'b>(
        &self,
        signed: tessera_keys::SignedLicense<'b>,
        now: UnixTime,
    ) -> Result<License<'b>, VerifyError>
    where
        'a: 'b,
    {
        let license = self.check_license(signed, now)?;
        if license.claims().requires_activation && !self.accept_unactivated {
            return Err(VerifyError::ActivationRequired);
        }
        Ok(license)
    }

    /// Everything [`Verifier::check`] checks but the need for a machine certificate.
    fn check_license<'b>(
        &self,
        signed: tessera_keys::SignedLicense<'b>,
        now: UnixTime,
    ) -> Result<License<'b>, VerifyError>
    where
        'a: 'b,
    {
        let claims = signed.claims;
        let key = self.key(claims.key_id).ok_or(VerifyError::UnknownKeyId {
            key_id: claims.key_id,
        })?;
        if !key.verifies(signed.signed_message, signed.signature) {
            return Err(VerifyError::BadSignature);
        }

        if let Some(product) = self.product {
            if claims.product != product.id {
                return Err(VerifyError::WrongProduct {
                    expected: product.id,
                    found: claims.product,
                });
            }
        }
        if self
            .revocations
            .is_some_and(|list| list.contains(&claims.license_id))
        {
            return Err(VerifyError::Revoked {
                license_id: claims.license_id,
            });
        }
        dates(&claims, now, self.honour_grace, self.clock_tolerance)?;
        Ok(License::new(claims, self.product, now))
    }

    /// Checks a revocation list's text, decoding it into `buf` (see [`revocations_buffer_len`]).
    ///
    /// `last_seen` is the highest sequence number the app has accepted before (and should store); a
    /// list with a lower one is refused as [`RevocationError::Stale`], so an old list cannot be
    /// replayed to bring a revoked licence back.
    pub fn check_revocations<'b>(
        &self,
        list_text: &str,
        buf: &'b mut [u8],
        last_seen: Option<u64>,
    ) -> Result<RevocationList<'b>, RevocationError> {
        let signed = tessera_keys::decode_revocations(list_text, buf)?;
        let key_id = signed.list.key_id;
        let key = self
            .key(key_id)
            .ok_or(RevocationError::UnknownKeyId { key_id })?;
        if !key.verifies(signed.signed_message, signed.signature) {
            return Err(RevocationError::BadSignature);
        }
        if let Some(last_seen) = last_seen {
            if signed.list.sequence < last_seen {
                return Err(RevocationError::Stale {
                    sequence: signed.list.sequence,
                    last_seen,
                });
            }
        }
        Ok(signed.list)
    }

    fn key(&self, key_id: u32) -> Option<&TrustedKey> {
        self.keys
            .iter()
            .flatten()
            .find(|(id, _)| *id == key_id)
            .map(|(_, key)| key)
    }
}

/// Checks the dates of claims whose signature has already been verified: not before `not_before`,
/// nor more than [`DEFAULT_CLOCK_TOLERANCE_SECONDS`] before `issued_at`, not after expiry (or, with
/// `honour_grace`, after the grace period).
///
/// [`Verifier::verify`] runs this after the signature check. It is public for a server that
/// remembers which key texts it has verified and needs to judge only their dates again at a later
/// `now`; an app should call [`Verifier::verify`].
pub fn check_dates(
    claims: &Claims<'_>,
    now: UnixTime,
    honour_grace: bool,
) -> Result<(), VerifyError> {
    dates(claims, now, honour_grace, DEFAULT_CLOCK_TOLERANCE_SECONDS)
}

fn dates(
    claims: &Claims<'_>,
    now: UnixTime,
    honour_grace: bool,
    clock_tolerance: u64,
) -> Result<(), VerifyError> {
    if let Some(not_before) = claims.not_before {
        if now < not_before {
            return Err(VerifyError::NotYetValid { not_before, now });
        }
    }
    // A key cannot be used before it was made: a clock that says otherwise was turned back.
    if now.plus_seconds(clock_tolerance) < claims.issued_at {
        return Err(VerifyError::NotYetValid {
            not_before: claims.issued_at,
            now,
        });
    }
    if let (Some(expired_at), Some(grace_ends_at)) = (claims.expires_at, claims.grace_ends_at()) {
        let in_grace = expired_at <= now && now < grace_ends_at;
        if now >= grace_ends_at || (in_grace && !honour_grace) {
            return Err(VerifyError::Expired {
                expired_at,
                now,
                in_grace,
            });
        }
    }
    Ok(())
}

/// The system clock as a [`UnixTime`]; a clock set before 1970 reads as 1970.
#[cfg(feature = "std")]
pub fn system_now() -> UnixTime {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    UnixTime(since_epoch.as_secs())
}
