//! Why a licence, a revocation list or a set of trusted keys was refused.

use core::fmt;

use tessera_keys::{DecodeError, LicenseId, Malformed, UnixTime};

/// Why a licence is not valid.
///
/// Every variant but [`VerifyError::Malformed`], [`VerifyError::UnsupportedVersion`],
/// [`VerifyError::UnknownKeyId`] and [`VerifyError::BadSignature`] is reported only for licences whose
/// signature checked out, so its details can be trusted and shown to the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// The text or bytes are not a licence.
    Malformed(Malformed),
    /// The licence is of a newer (or unknown) format version: the app may need an update.
    UnsupportedVersion {
        /// The version the licence announced.
        found: u8,
    },
    /// The licence names a signing key this app does not trust.
    UnknownKeyId {
        /// The key id the licence names.
        key_id: u32,
    },
    /// The signature does not match. Deliberately says nothing more.
    BadSignature,
    /// The licence is for another product.
    WrongProduct {
        /// The product this verifier checks for.
        expected: u32,
        /// The product the licence is for.
        found: u32,
    },
    /// The issuer has revoked the licence (refund, chargeback, abuse).
    Revoked {
        /// The revoked licence.
        license_id: LicenseId,
    },
    /// The licence's start date has not come yet.
    NotYetValid {
        /// When the licence becomes valid.
        not_before: UnixTime,
        /// The time the check was made at.
        now: UnixTime,
    },
    /// The licence has expired.
    Expired {
        /// When it expired.
        expired_at: UnixTime,
        /// The time the check was made at.
        now: UnixTime,
        /// Whether `now` lies within the licence's grace period, which this verifier was told not to
        /// honour; by default a licence in grace is valid and this is never `true`.
        in_grace: bool,
    },
    /// The licence works only on activated machines: check it with a machine certificate
    /// ([`Verifier::verify_activated`](crate::Verifier::verify_activated)), after activating this
    /// machine with the issuer if there is none yet.
    ActivationRequired,
    /// The text or bytes are not a machine certificate.
    MalformedCertificate(Malformed),
    /// The machine certificate is of a format version this app does not know.
    UnsupportedCertificateVersion {
        /// The version the certificate announced.
        found: u8,
    },
    /// The machine certificate's signature does not match (it names a trusted key).
    BadCertificateSignature,
    /// The machine certificate is for another licence.
    CertificateForAnotherLicense {
        /// The licence the certificate is for.
        certified: LicenseId,
        /// The licence being checked.
        license_id: LicenseId,
    },
    /// The machine certificate is for another machine: it was copied, or the machine changed.
    CertificateForAnotherMachine,
    /// The machine certificate's lease is over (grace included): renew it online.
    LeaseExpired {
        /// When the lease ended.
        lease_ended_at: UnixTime,
        /// The time the check was made at.
        now: UnixTime,
    },
    /// The clock reads earlier than a time the app saw before, by more than the verifier's
    /// tolerance: it was turned back.
    ClockRolledBack {
        /// The latest time the app had seen.
        last_seen: UnixTime,
        /// The time the check was made at.
        now: UnixTime,
    },
}

impl From<DecodeError> for VerifyError {
    fn from(err: DecodeError) -> Self {
        match err {
            DecodeError::Malformed(why) => VerifyError::Malformed(why),
            DecodeError::UnsupportedVersion { found } => VerifyError::UnsupportedVersion { found },
            // A kind of decoding failure added later is still a malformed key.
            _ => VerifyError::Malformed(Malformed::InvalidField { field: "licence" }),
        }
    }
}

impl VerifyError {
    /// The error for a machine certificate that did not decode.
    pub(crate) fn of_certificate(err: DecodeError) -> Self {
        match err {
            DecodeError::UnsupportedVersion { found } => {
                VerifyError::UnsupportedCertificateVersion { found }
            }
            DecodeError::Malformed(why) => VerifyError::MalformedCertificate(why),
            _ => VerifyError::MalformedCertificate(Malformed::InvalidField {
                field: "certificate",
            }),
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::Malformed(why) => write!(f, "malformed licence key: {why}"),
            VerifyError::UnsupportedVersion { found } => write!(
                f,
                "licence key format version {found} is not supported by this version of the app"
            ),
            VerifyError::UnknownKeyId { key_id } => {
                write!(f, "licence is signed by unknown key id {key_id}")
            }
            VerifyError::BadSignature => f.write_str("licence signature is invalid"),
            VerifyError::WrongProduct { expected, found } => {
                write!(f, "licence is for product {found}, not product {expected}")
            }
            VerifyError::Revoked { license_id } => {
                write!(f, "licence {license_id} has been revoked")
            }
            VerifyError::NotYetValid { not_before, .. } => {
                write!(f, "licence is not valid before {not_before}")
            }
            VerifyError::Expired {
                expired_at,
                in_grace,
                ..
            } => {
                write!(f, "licence expired at {expired_at}")?;
                if *in_grace {
                    f.write_str(" (within its grace period)")?;
                }
                Ok(())
            }
            VerifyError::ActivationRequired => {
                f.write_str("licence must be activated on this machine")
            }
            VerifyError::MalformedCertificate(why) => {
                write!(f, "malformed machine certificate: {why}")
            }
            VerifyError::UnsupportedCertificateVersion { found } => write!(
                f,
                "machine certificate format version {found} is not supported by this version of the app"
            ),
            VerifyError::BadCertificateSignature => {
                f.write_str("machine certificate signature is invalid")
            }
            VerifyError::CertificateForAnotherLicense {
                certified,
                license_id,
            } => write!(
                f,
                "machine certificate is for licence {certified}, not licence {license_id}"
            ),
            VerifyError::CertificateForAnotherMachine => {
                f.write_str("machine certificate is for another machine")
            }
            VerifyError::LeaseExpired { lease_ended_at, .. } => write!(
                f,
                "machine certificate's lease ended at {lease_ended_at}: renew it online"
            ),
            VerifyError::ClockRolledBack { last_seen, now } => write!(
                f,
                "the clock reads {now}, earlier than {last_seen} seen before: it was turned back"
            ),
        }
    }
}

impl core::error::Error for VerifyError {}

/// Why a revocation list was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevocationError {
    /// The text is not a revocation list, or the buffer is too small for it.
    Malformed(Malformed),
    /// The list is of a format version this code does not know.
    UnsupportedVersion {
        /// The version the list announced.
        found: u8,
    },
    /// The list names a signing key this app does not trust.
    UnknownKeyId {
        /// The key id the list names.
        key_id: u32,
    },
    /// The signature does not match.
    BadSignature,
    /// The list is older than one already seen: someone may be replaying an old list to un-revoke a
    /// licence.
    Stale {
        /// The sequence number of this list.
        sequence: u64,
        /// The highest sequence number seen before.
        last_seen: u64,
    },
}

impl From<DecodeError> for RevocationError {
    fn from(err: DecodeError) -> Self {
        match err {
            DecodeError::Malformed(why) => RevocationError::Malformed(why),
            DecodeError::UnsupportedVersion { found } => {
                RevocationError::UnsupportedVersion { found }
            }
            _ => RevocationError::Malformed(Malformed::InvalidField { field: "list" }),
        }
    }
}

impl fmt::Display for RevocationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RevocationError::Malformed(why) => write!(f, "malformed revocation list: {why}"),
            RevocationError::UnsupportedVersion { found } => {
                write!(f, "revocation list format version {found} is not supported")
            }
            RevocationError::UnknownKeyId { key_id } => {
                write!(f, "revocation list is signed by unknown key id {key_id}")
            }
            RevocationError::BadSignature => f.write_str("revocation list signature is invalid"),
            RevocationError::Stale {
                sequence,
                last_seen,
            } => write!(
                f,
                "revocation list {sequence} is older than list {last_seen} seen before"
            ),
        }
    }
}

impl core::error::Error for RevocationError {}

/// Why a set of trusted keys cannot build a verifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetupError {
    /// No trusted key was given.
    NoKeys,
    /// More than [`MAX_TRUSTED_KEYS`](crate::MAX_TRUSTED_KEYS) keys were given.
    TooManyKeys,
    /// Two keys share an id.
    DuplicateKeyId {
        /// The repeated id.
        key_id: u32,
    },
    /// The bytes are not a usable Ed25519 public key: not the canonical encoding of a curve point, or
    /// a point of small order.
    InvalidKey {
        /// The id of the bad key.
        key_id: u32,
    },
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::NoKeys => f.write_str("no trusted public key given"),
            SetupError::TooManyKeys => write!(
                f,
                "more than {} trusted public keys given",
                crate::MAX_TRUSTED_KEYS
            ),
            SetupError::DuplicateKeyId { key_id } => {
                write!(f, "two trusted public keys have key id {key_id}")
            }
            SetupError::InvalidKey { key_id } => {
                write!(f, "trusted public key {key_id} is not a valid Ed25519 key")
            }
        }
    }
}

impl core::error::Error for SetupError {}
