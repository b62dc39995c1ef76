//! What a Tessera error says, as flat facts: the `tessera` command's exit code for its class, a reason,
//! how a text is malformed, and the numbers the Rust error carries.

use tessera_keys::DecodeError;
use tessera_verifier::{Malformed, RevocationError, SetupError, VerifyError};

use crate::Refusal;

/// A Tessera error, flattened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// The exit code of the `tessera` command for the error's class (10 malformed … 17 expired, 19
    /// revocation list refused, 3 unusable public key, 30 activation required … 35 clock turned back).
    pub code: u8,
    /// The binding's name for the class, e.g. `ExpiredError`.
    pub class: &'static str,
    /// What exactly: `malformed`, `unsupported_version`, `unknown_key_id`, `bad_signature`,
    /// `wrong_product`, `revoked`, `not_yet_valid`, `expired`, `stale`, `no_keys`, `too_many_keys`,
    /// `duplicate_key_id`, `invalid_key`, `activation_required`, `another_machine`, `another_license`,
    /// `lease_expired`, `clock_rolled_back`. A refused machine certificate (code 31) says
    /// `malformed`, `unsupported_version` or `bad_signature`.
    pub reason: &'static str,
    /// How a text is malformed: `empty`, `wrong_prefix`, `too_long`, `base64`, `truncated`,
    /// `trailing_bytes` or `invalid_field`.
    pub malformed: Option<&'static str>,
    /// For `invalid_field`: the field's name as in FORMAT.md.
    pub field: Option<&'static str>,
    /// Numbers the error carries, by name: `found_version`, `key_id`, `key_index`,
    /// `expected_product`, `found_product`, `not_before`, `expired_at`, `now`, `sequence`, `last_seen`
    /// (a revocation list's sequence number, or for `clock_rolled_back` the time), `lease_ended_at`.
    pub numbers: Vec<(&'static str, u64)>,
    /// For `expired`: whether the check fell in the grace period the verifier did not honour.
    pub in_grace: Option<bool>,
    /// For `revoked`: the licence id, 16 hex digits; for `another_license`, the licence checked.
    pub license_id: Option<String>,
    /// For `another_license`: the licence the certificate is for, 16 hex digits.
    pub certified_license_id: Option<String>,
    /// The one-line English message.
    pub message: String,
}

impl Facts {
    fn new(code: u8, class: &'static str, reason: &'static str, message: String) -> Facts {
        Facts {
            code,
            class,
            reason,
            message,
            ..Facts::default()
        }
    }

    fn number(mut self, name: &'static str, value: impl Into<u64>) -> Facts {
        self.numbers.push((name, value.into()));
        self
    }

    fn malformed(mut self, why: &Malformed) -> Facts {
        let (kind, field) = match why {
            Malformed::Empty => ("empty", None),
            Malformed::WrongPrefix { .. } => ("wrong_prefix", None),
            Malformed::TooLong => ("too_long", None),
            Malformed::Base64 => ("base64", None),
            Malformed::Truncated => ("truncated", None),
            Malformed::TrailingBytes => ("trailing_bytes", None),
            Malformed::InvalidField { field } => ("invalid_field", Some(*field)),
            // A kind added later is still a malformed text.
            _ => ("invalid_field", None),
        };
        (self.reason, self.malformed, self.field) = ("malformed", Some(kind), field);
        self
    }

    /// Why a licence was refused.
    pub fn of_verify(err: &VerifyError) -> Facts {
        let message = err.to_string();
        match *err {
            VerifyError::Malformed(why) => {
                Facts::new(10, "MalformedError", "malformed", message).malformed(&why)
            }
            VerifyError::UnsupportedVersion { found } => Facts::new(
                11,
                "UnsupportedVersionError",
                "unsupported_version",
                message,
            )
            .number("found_version", found),
            VerifyError::UnknownKeyId { key_id } => {
                Facts::new(12, "UnknownKeyIdError", "unknown_key_id", message)
                    .number("key_id", key_id)
            }
            VerifyError::BadSignature => {
                Facts::new(13, "BadSignatureError", "bad_signature", message)
            }
            VerifyError::WrongProduct { expected, found } => {
                Facts::new(14, "WrongProductError", "wrong_product", message)
                    .number("expected_product", expected)
                    .number("found_product", found)
            }
            VerifyError::Revoked { license_id } => Facts {
                license_id: Some(license_id.to_hex().as_str().to_owned()),
                ..Facts::new(15, "RevokedError", "revoked", message)
            },
            VerifyError::NotYetValid { not_before, now } => {
                Facts::new(16, "NotYetValidError", "not_yet_valid", message)
                    .number("not_before", not_before.0)
                    .number("now", now.0)
            }
            VerifyError::Expired {
                expired_at,
                now,
                in_grace,
            } => Facts {
                in_grace: Some(in_grace),
                ..Facts::new(17, "ExpiredError", "expired", message)
                    .number("expired_at", expired_at.0)
                    .number("now", now.0)
            },
            VerifyError::ActivationRequired => Facts::new(
                30,
                "ActivationRequiredError",
                "activation_required",
                message,
            ),
            VerifyError::MalformedCertificate(why) => {
                Facts::new(31, "CertificateRefusedError", "malformed", message).malformed(&why)
            }
            VerifyError::UnsupportedCertificateVersion { found } => Facts::new(
                31,
                "CertificateRefusedError",
                "unsupported_version",
                message,
            )
            .number("found_version", found),
            VerifyError::BadCertificateSignature => {
                Facts::new(31, "CertificateRefusedError", "bad_signature", message)
            }
            VerifyError::CertificateForAnotherMachine => {
                Facts::new(32, "AnotherMachineError", "another_machine", message)
            }
            VerifyError::CertificateForAnotherLicense {
                certified,
                license_id,
            } => Facts {
                license_id: Some(license_id.to_hex().as_str().to_owned()),
                certified_license_id: Some(certified.to_hex().as_str().to_owned()),
                ..Facts::new(33, "AnotherLicenseError", "another_license", message)
            },
            VerifyError::LeaseExpired {
                lease_ended_at,
                now,
            } => Facts::new(34, "LeaseExpiredError", "lease_expired", message)
                .number("lease_ended_at", lease_ended_at.0)
                .number("now", now.0),
            VerifyError::ClockRolledBack { last_seen, now } => {
                Facts::new(35, "ClockRolledBackError", "clock_rolled_back", message)
                    .number("last_seen", last_seen.0)
                    .number("now", now.0)
            }
            _ => Facts::new(1, "LicenseError", "other", message),
        }
    }

    /// Why [`crate::verify`] refused.
    pub fn of_refusal(refusal: &Refusal) -> Facts {
        match refusal {
            Refusal::License(err) => Facts::of_verify(err),
            Refusal::Revocations(err) => Facts::of_revocations(err),
        }
    }

    /// Why a revocation list was refused: always code 19, the reason says why.
    pub fn of_revocations(err: &RevocationError) -> Facts {
        let facts = Facts::new(19, "RevocationsRefusedError", "other", err.to_string());
        match *err {
            RevocationError::Malformed(why) => facts.malformed(&why),
            RevocationError::UnsupportedVersion { found } => Facts {
                reason: "unsupported_version",
                ..facts
            }
            .number("found_version", found),
            RevocationError::UnknownKeyId { key_id } => Facts {
                reason: "unknown_key_id",
                ..facts
            }
            .number("key_id", key_id),
            RevocationError::BadSignature => Facts {
                reason: "bad_signature",
                ..facts
            },
            RevocationError::Stale {
                sequence,
                last_seen,
            } => Facts {
                reason: "stale",
                ..facts
            }
            .number("sequence", sequence)
            .number("last_seen", last_seen),
            _ => facts,
        }
    }

    /// Public-key text number `index` cannot be decoded: code 3.
    pub fn of_public_key(index: usize, err: &DecodeError) -> Facts {
        let facts = Facts::new(
            3,
            "PublicKeyError",
            "other",
            format!("public key {index}: {err}"),
        )
        .number("key_index", index as u64);
        match *err {
            DecodeError::Malformed(why) => facts.malformed(&why),
            DecodeError::UnsupportedVersion { found } => Facts {
                reason: "unsupported_version",
                ..facts
            }
            .number("found_version", found),
            _ => facts,
        }
    }

    /// The public keys cannot make a verifier: code 3.
    pub fn of_setup(err: &SetupError) -> Facts {
        let facts = Facts::new(3, "PublicKeyError", "other", err.to_string());
        match *err {
            SetupError::NoKeys => Facts {
                reason: "no_keys",
                ..facts
            },
            SetupError::TooManyKeys => Facts {
                reason: "too_many_keys",
                ..facts
            },
            SetupError::DuplicateKeyId { key_id } => Facts {
                reason: "duplicate_key_id",
                ..facts
            }
            .number("key_id", key_id),
            SetupError::InvalidKey { key_id } => Facts {
                reason: "invalid_key",
                ..facts
            }
            .number("key_id", key_id),
            _ => facts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_verifier::UnixTime;

    #[test]
    fn expired_carries_its_times_and_grace() {
        let facts = Facts::of_verify(&VerifyError::Expired {
            expired_at: UnixTime(5),
            now: UnixTime(9),
            in_grace: true,
        });
        assert_eq!(
            (facts.code, facts.class, facts.reason),
            (17, "ExpiredError", "expired")
        );
        assert_eq!(facts.numbers, [("expired_at", 5), ("now", 9)]);
        assert_eq!(facts.in_grace, Some(true));
    }

    #[test]
    fn certificate_errors_have_the_cli_codes() {
        let refused = Facts::of_verify(&VerifyError::BadCertificateSignature);
        assert_eq!(
            (refused.code, refused.class, refused.reason),
            (31, "CertificateRefusedError", "bad_signature")
        );
        let rolled_back = Facts::of_verify(&VerifyError::ClockRolledBack {
            last_seen: UnixTime(9),
            now: UnixTime(5),
        });
        assert_eq!(
            (rolled_back.code, rolled_back.reason),
            (35, "clock_rolled_back")
        );
        assert_eq!(rolled_back.numbers, [("last_seen", 9), ("now", 5)]);
    }

    #[test]
    fn malformed_names_the_field() {
        let facts = Facts::of_revocations(&RevocationError::Malformed(Malformed::InvalidField {
            field: "sequence",
        }));
        assert_eq!((facts.code, facts.reason), (19, "malformed"));
        assert_eq!(
            (facts.malformed, facts.field),
            (Some("invalid_field"), Some("sequence"))
        );
    }
}
