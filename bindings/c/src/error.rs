//! What went wrong, in as much detail as the Rust errors carry, written into the caller's struct.

use std::ffi::c_char;
use std::fmt::Write as _;

use tessera_keys::DecodeError;
use tessera_verifier::{Malformed, RevocationError, SetupError, VerifyError};

use crate::text::{self, TextError, Truncating};
use crate::TesseraStatus;

/// Which way a text is not well formed (licence key, machine certificate, public key or revocation
/// list).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TesseraMalformed {
    /// The text is not malformed (the error is of another kind).
    None = 0,
    /// There was nothing but whitespace.
    Empty = 1,
    /// The text does not start with the expected prefix.
    WrongPrefix = 2,
    /// The input is longer than any valid one.
    TooLong = 3,
    /// The text is not canonical unpadded base64url (or not UTF-8).
    Base64 = 4,
    /// The input ends in the middle of a field or the signature.
    Truncated = 5,
    /// Bytes follow the signature.
    TrailingBytes = 6,
    /// A field holds a value the format does not allow; `TesseraError.field` names it.
    InvalidField = 7,
}

/// Why a revocation list was refused (`TESSERA_STATUS_REVOCATIONS_REFUSED`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TesseraRevocationProblem {
    /// The error is not about a revocation list.
    None = 0,
    /// Not a revocation list; `TesseraError.malformed` says how.
    Malformed = 1,
    /// A format version this build does not know (`TesseraError.found_version`).
    UnsupportedVersion = 2,
    /// Signed by a key id none of the trusted keys has (`TesseraError.key_id`).
    UnknownKeyId = 3,
    /// The signature does not match.
    BadSignature = 4,
    /// Older than the list seen before (`TesseraError.sequence`, `TesseraError.last_seen`).
    Stale = 5,
}

/// Everything known about a failure. Fields that do not apply to the error are zero.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TesseraError {
    /// The class of the error, as returned.
    pub status: TesseraStatus,
    /// For a malformed text: how.
    pub malformed: TesseraMalformed,
    /// For `TESSERA_MALFORMED_INVALID_FIELD`: the field's name as in FORMAT.md, NUL-terminated.
    pub field: [c_char; 32],
    /// For a refused revocation list: why.
    pub revocations: TesseraRevocationProblem,
    /// The format version a text announced, when it is not supported.
    pub found_version: u8,
    /// The key id that is unknown, repeated or invalid.
    pub key_id: u32,
    /// For a public-key problem: the index of the key text in the array given.
    pub key_index: usize,
    /// For `TESSERA_STATUS_WRONG_PRODUCT`: the product the verifier checks for.
    pub expected_product: u32,
    /// For `TESSERA_STATUS_WRONG_PRODUCT`: the product the licence is for.
    pub found_product: u32,
    /// For `TESSERA_STATUS_REVOKED`: the revoked licence's id; for `TESSERA_STATUS_ANOTHER_LICENSE`:
    /// the id of the licence being checked.
    pub license_id: [u8; 8],
    /// For `TESSERA_STATUS_NOT_YET_VALID`: when the licence (or the machine certificate) becomes valid
    /// (Unix seconds).
    pub not_before: u64,
    /// For `TESSERA_STATUS_EXPIRED`: when it expired (Unix seconds).
    pub expired_at: u64,
    /// For `TESSERA_STATUS_EXPIRED`: whether the check fell in the grace period, which the verifier
    /// was told not to honour.
    pub in_grace: bool,
    /// For a stale revocation list: its sequence number.
    pub sequence: u64,
    /// For a stale revocation list: the sequence number seen before.
    pub last_seen: u64,
    /// For `TESSERA_STATUS_ANOTHER_LICENSE`: the id of the licence the certificate is for.
    pub certified_license_id: [u8; 8],
    /// For `TESSERA_STATUS_LEASE_EXPIRED`: when the certificate's lease ended (Unix seconds).
    pub lease_ended_at: u64,
    /// For `TESSERA_STATUS_CLOCK_ROLLED_BACK`: the latest time the app had seen (Unix seconds).
    pub clock_last_seen: u64,
    /// For `TESSERA_STATUS_LEASE_EXPIRED` and `TESSERA_STATUS_CLOCK_ROLLED_BACK`: the time checked at.
    pub now: u64,
    /// A one-line English message for the user, NUL-terminated (cut short if longer).
    pub message: [c_char; 160],
}

impl TesseraError {
    fn new(status: TesseraStatus) -> TesseraError {
        TesseraError {
            status,
            malformed: TesseraMalformed::None,
            field: [0; 32],
            revocations: TesseraRevocationProblem::None,
            found_version: 0,
            key_id: 0,
            key_index: 0,
            expected_product: 0,
            found_product: 0,
            license_id: [0; 8],
            not_before: 0,
            expired_at: 0,
            in_grace: false,
            sequence: 0,
            last_seen: 0,
            certified_license_id: [0; 8],
            lease_ended_at: 0,
            clock_last_seen: 0,
            now: 0,
            message: [0; 160],
        }
    }

    fn with_message(mut self, message: impl core::fmt::Display) -> TesseraError {
        let mut out = Truncating {
            out: &mut self.message,
            len: 0,
        };
        // Writing into a truncating buffer cannot fail.
        let _ = write!(out, "{message}");
        self
    }

    fn with_malformed(mut self, why: &Malformed) -> TesseraError {
        self.malformed = match why {
            Malformed::Empty => TesseraMalformed::Empty,
            Malformed::WrongPrefix { .. } => TesseraMalformed::WrongPrefix,
            Malformed::TooLong => TesseraMalformed::TooLong,
            Malformed::Base64 => TesseraMalformed::Base64,
            Malformed::Truncated => TesseraMalformed::Truncated,
            Malformed::TrailingBytes => TesseraMalformed::TrailingBytes,
            Malformed::InvalidField { field } => {
                text::write(field, &mut self.field);
                TesseraMalformed::InvalidField
            }
            // A kind added to the Rust enum later is still a malformed text.
            _ => TesseraMalformed::InvalidField,
        };
        self
    }

    /// A null pointer, an out-of-range count, or a name that cannot be read.
    pub(crate) fn invalid_argument(what: &str) -> TesseraError {
        TesseraError::new(TesseraStatus::InvalidArgument).with_message(format_args!("{what}"))
    }

    /// A caller's string that cannot be read, for a function that takes `what`.
    pub(crate) fn unreadable(what: &str, why: TextError) -> TesseraError {
        let why = match why {
            TextError::Null => "is null",
            TextError::TooLong => "is longer than 64 KiB",
            TextError::NotUtf8 => "is not UTF-8",
        };
        TesseraError::invalid_argument(&format!("{what} {why}"))
    }

    /// A licence key text that cannot be read: null is the caller's bug; too long or not UTF-8 is a
    /// malformed key, as the `tessera` command says of such input.
    pub(crate) fn unreadable_key(why: TextError) -> TesseraError {
        let malformed = match why {
            TextError::Null => return TesseraError::unreadable("the licence key text", why),
            TextError::TooLong => Malformed::TooLong,
            TextError::NotUtf8 => Malformed::Base64,
        };
        TesseraError::from_verify(&VerifyError::Malformed(malformed))
    }

    /// A machine certificate text that cannot be read: null is the caller's bug; too long or not
    /// UTF-8 is a malformed certificate.
    pub(crate) fn unreadable_certificate(why: TextError) -> TesseraError {
        let malformed = match why {
            TextError::Null => return TesseraError::unreadable("the certificate text", why),
            TextError::TooLong => Malformed::TooLong,
            TextError::NotUtf8 => Malformed::Base64,
        };
        TesseraError::from_verify(&VerifyError::MalformedCertificate(malformed))
    }

    /// Anything else that went wrong, e.g. an operating system that gives no machine id.
    pub(crate) fn failure(err: &dyn core::fmt::Display) -> TesseraError {
        TesseraError::new(TesseraStatus::Failure).with_message(err)
    }

    pub(crate) fn from_verify(err: &VerifyError) -> TesseraError {
        let status = match err {
            VerifyError::Malformed(_) => TesseraStatus::Malformed,
            VerifyError::UnsupportedVersion { .. } => TesseraStatus::UnsupportedVersion,
            VerifyError::UnknownKeyId { .. } => TesseraStatus::UnknownKeyId,
            VerifyError::BadSignature => TesseraStatus::BadSignature,
            VerifyError::WrongProduct { .. } => TesseraStatus::WrongProduct,
            VerifyError::Revoked { .. } => TesseraStatus::Revoked,
            VerifyError::NotYetValid { .. } => TesseraStatus::NotYetValid,
            VerifyError::Expired { .. } => TesseraStatus::Expired,
            VerifyError::ActivationRequired => TesseraStatus::ActivationRequired,
            VerifyError::MalformedCertificate(_)
            | VerifyError::UnsupportedCertificateVersion { .. }
            | VerifyError::BadCertificateSignature => TesseraStatus::CertificateRefused,
            VerifyError::CertificateForAnotherMachine => TesseraStatus::AnotherMachine,
            VerifyError::CertificateForAnotherLicense { .. } => TesseraStatus::AnotherLicense,
            VerifyError::LeaseExpired { .. } => TesseraStatus::LeaseExpired,
            VerifyError::ClockRolledBack { .. } => TesseraStatus::ClockRolledBack,
            // A kind added to the Rust enum later has no status of its own yet.
            _ => TesseraStatus::Failure,
        };
        let mut error = TesseraError::new(status).with_message(err);
        match *err {
            VerifyError::Malformed(why) | VerifyError::MalformedCertificate(why) => {
                error = error.with_malformed(&why);
            }
            VerifyError::UnsupportedVersion { found }
            | VerifyError::UnsupportedCertificateVersion { found } => error.found_version = found,
            VerifyError::UnknownKeyId { key_id } => error.key_id = key_id,
            VerifyError::WrongProduct { expected, found } => {
                (error.expected_product, error.found_product) = (expected, found);
            }
            VerifyError::Revoked { license_id } => error.license_id = license_id.0,
            VerifyError::NotYetValid { not_before, .. } => error.not_before = not_before.0,
            VerifyError::Expired {
                expired_at,
                in_grace,
                ..
            } => (error.expired_at, error.in_grace) = (expired_at.0, in_grace),
            VerifyError::CertificateForAnotherLicense {
                certified,
                license_id,
            } => (error.certified_license_id, error.license_id) = (certified.0, license_id.0),
            VerifyError::LeaseExpired {
                lease_ended_at,
                now,
            } => (error.lease_ended_at, error.now) = (lease_ended_at.0, now.0),
            VerifyError::ClockRolledBack { last_seen, now } => {
                (error.clock_last_seen, error.now) = (last_seen.0, now.0);
            }
            _ => {}
        }
        error
    }

    pub(crate) fn from_revocations(err: &RevocationError) -> TesseraError {
        let mut error = TesseraError::new(TesseraStatus::RevocationsRefused).with_message(err);
        error.revocations = match *err {
            RevocationError::Malformed(why) => {
                error = error.with_malformed(&why);
                TesseraRevocationProblem::Malformed
            }
            RevocationError::UnsupportedVersion { found } => {
                error.found_version = found;
                TesseraRevocationProblem::UnsupportedVersion
            }
            RevocationError::UnknownKeyId { key_id } => {
                error.key_id = key_id;
                TesseraRevocationProblem::UnknownKeyId
            }
            RevocationError::BadSignature => TesseraRevocationProblem::BadSignature,
            RevocationError::Stale {
                sequence,
                last_seen,
            } => {
                (error.sequence, error.last_seen) = (sequence, last_seen);
                TesseraRevocationProblem::Stale
            }
            _ => TesseraRevocationProblem::Malformed,
        };
        error
    }

    /// Public-key text number `index` cannot be decoded.
    pub(crate) fn from_public_key(index: usize, err: &DecodeError) -> TesseraError {
        let mut error = TesseraError::new(TesseraStatus::Input)
            .with_message(format_args!("public key {index}: {err}"));
        error.key_index = index;
        match *err {
            DecodeError::Malformed(why) => error = error.with_malformed(&why),
            DecodeError::UnsupportedVersion { found } => error.found_version = found,
            _ => {}
        }
        error
    }

    pub(crate) fn from_setup(err: &SetupError, index_of: impl Fn(u32) -> usize) -> TesseraError {
        let mut error = TesseraError::new(TesseraStatus::Input).with_message(err);
        if let SetupError::DuplicateKeyId { key_id } | SetupError::InvalidKey { key_id } = *err {
            error.key_id = key_id;
            error.key_index = index_of(key_id);
        }
        error
    }

    /// Writes the error where the caller asked for it (if anywhere) and returns its status.
    ///
    /// # Safety
    /// `out` is null or points to a writable `TesseraError`.
    pub(crate) unsafe fn report(self, out: *mut TesseraError) -> TesseraStatus {
        // SAFETY: the caller promises `out` is null or valid for writes.
        if let Some(out) = unsafe { out.as_mut() } {
            *out = self;
        }
        self.status
    }
}

/// A static, NUL-terminated English description of a status (any value; unknown ones get a generic
/// text). Never null, never to be freed.
#[no_mangle]
pub extern "C" fn tessera_status_message(status: i32) -> *const c_char {
    let message: &'static std::ffi::CStr = match status {
        0 => c"valid",
        1 => c"internal error",
        2 => c"invalid argument (null pointer, count out of range, or a name that is not UTF-8)",
        3 => c"a public key or the product table cannot be used",
        10 => c"malformed licence key",
        11 => c"unsupported licence key format version",
        12 => c"licence key signed by an unknown key id",
        13 => c"bad licence signature",
        14 => c"licence is for another product",
        15 => c"licence has been revoked",
        16 => c"licence is not valid yet",
        17 => c"licence has expired",
        19 => c"revocation list refused",
        30 => c"licence must be activated on this machine",
        31 => c"machine certificate refused",
        32 => c"machine certificate is for another machine",
        33 => c"machine certificate is for another licence",
        34 => c"machine certificate's lease is over: renew it online",
        35 => c"the clock was turned back",
        _ => c"unknown status",
    };
    message.as_ptr()
}
