//! Exit codes, and the error type that carries one.

use std::fmt::Display;
use std::process::ExitCode;

use tessera_verifier::{RevocationError, VerifyError};

/// How `tessera` exits: one code per failure class, so scripts can tell an expired licence from a forged
/// one without parsing messages.
///
/// The numbers are stable: new classes get new numbers, existing ones never change meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Exit {
    /// The command succeeded; for `verify`, the licence is valid (possibly in its grace period).
    Ok = 0,
    /// Any other error (for example, an output file that cannot be written).
    Failure = 1,
    /// The command line is wrong: an unknown option, a bad date, a name without a catalogue.
    Usage = 2,
    /// An input cannot be read: a missing or unreadable file, empty standard input, a bad signing key
    /// file or catalogue.
    Input = 3,
    /// The licence key is not well formed: empty, wrong prefix, truncated, extra bytes, bad base64,
    /// or longer than 64 KiB (as an argument or on standard input).
    Malformed = 10,
    /// The licence key is of a format version this build does not know.
    UnsupportedVersion = 11,
    /// The licence key is signed by a key id none of the given public keys has.
    UnknownKeyId = 12,
    /// The licence key's signature does not match: it was altered or forged.
    BadSignature = 13,
    /// The licence is for another product.
    WrongProduct = 14,
    /// The licence is on the revocation list.
    Revoked = 15,
    /// The licence's start date has not come yet.
    NotYetValid = 16,
    /// The licence has expired (and its grace period is over, or `--no-grace` was given).
    Expired = 17,
    /// The licence lacks a feature or tier that `--require-feature` or `--require-tier` asked for.
    MissingEntitlement = 18,
    /// The revocation list was refused: malformed, bad signature, unknown key id, or older than
    /// `--last-seen-sequence`.
    RevocationsRefused = 19,
    /// `admin`: the issuer cannot be reached (connection refused, timeout, unknown host, TLS).
    ServerUnreachable = 20,
    /// `admin`: the issuer refused the admin token (401).
    Unauthorized = 21,
    /// `admin`: the issuer has nothing by that id (404).
    NotFound = 22,
    /// `admin`: the issuer refused the request (400, 409, 422 and other 4xx): its `error` code and
    /// `message` say why.
    Refused = 23,
    /// `admin`: the issuer failed (5xx) or gave an answer that is not what the admin API promises.
    ServerError = 24,
    /// `admin credits check`: some credit account differs from its ledger.
    CreditsMismatch = 25,
    /// The licence works only on activated machines and no `--machine-certificate` was given.
    ActivationRequired = 30,
    /// The machine certificate is refused: not well formed, of an unknown format version, or its
    /// signature does not match. (One signed by an unknown key id exits 12, one issued in the
    /// future 16, as for licence keys.)
    CertificateRefused = 31,
    /// The machine certificate is for another machine (copied, or the machine changed).
    AnotherMachine = 32,
    /// The machine certificate is for another licence.
    AnotherLicense = 33,
    /// The machine certificate's lease is over (grace included): renew it online.
    LeaseExpired = 34,
    /// The clock reads earlier than the time kept in `--last-seen`: it was turned back.
    ClockRolledBack = 35,
    /// `activate`: every seat of the licence is taken (409 `too_many_machines`).
    TooManyMachines = 36,
}

impl Exit {
    /// The process exit status.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The class of a verification failure.
    pub fn of_verify_error(error: &VerifyError) -> Exit {
        match error {
            VerifyError::Malformed(_) => Exit::Malformed,
            VerifyError::UnsupportedVersion { .. } => Exit::UnsupportedVersion,
            VerifyError::UnknownKeyId { .. } => Exit::UnknownKeyId,
            VerifyError::BadSignature => Exit::BadSignature,
            VerifyError::WrongProduct { .. } => Exit::WrongProduct,
            VerifyError::Revoked { .. } => Exit::Revoked,
            VerifyError::NotYetValid { .. } => Exit::NotYetValid,
            VerifyError::Expired { .. } => Exit::Expired,
            VerifyError::ActivationRequired => Exit::ActivationRequired,
            VerifyError::MalformedCertificate(_)
            | VerifyError::UnsupportedCertificateVersion { .. }
            | VerifyError::BadCertificateSignature => Exit::CertificateRefused,
            VerifyError::CertificateForAnotherMachine => Exit::AnotherMachine,
            VerifyError::CertificateForAnotherLicense { .. } => Exit::AnotherLicense,
            VerifyError::LeaseExpired { .. } => Exit::LeaseExpired,
            VerifyError::ClockRolledBack { .. } => Exit::ClockRolledBack,
            // The enum is non_exhaustive: a kind added to the verifier later is an error until the
            // CLI gives it a class (the test below lists every kind known today).
            _ => Exit::Failure,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}

/// The exit code table as a literal, so that help texts can `concat!` it.
macro_rules! exit_codes_help {
    () => {
        "\
Exit codes:
   0  valid (also while in the grace period, unless --no-grace)
   1  other error
   2  usage error (bad option, bad date, a name without --catalog)
   3  cannot read an input (missing or unreadable file, empty stdin, bad key file or catalogue)
  10  malformed key (empty, wrong prefix, truncated, trailing bytes, bad base64, over 64 KiB)
  11  unsupported format version
  12  unknown key id (no --public-key has the key id the licence names)
  13  bad signature
  14  wrong product
  15  revoked
  16  not yet valid
  17  expired
  18  a required feature or tier is missing
  19  revocation list refused (malformed, bad signature, unknown key id, stale)
  20  admin, activate: the issuer cannot be reached (refused, timeout, unknown host)
  21  admin: the issuer refused the admin token (401)
  22  admin, deactivate: not found (404)
  23  admin, activate: request refused (400, 409, 422, 429): the server's message and error code
  24  admin, activate: server error (5xx, or an answer that is not the issuer's API)
  25  admin credits check: some credit account differs from its ledger
  30  activation required: the licence needs --machine-certificate (tessera activate)
  31  machine certificate refused (malformed, unsupported version, bad signature)
  32  machine certificate for another machine
  33  machine certificate for another licence
  34  machine certificate's lease is over: renew it online (tessera activate again)
  35  clock turned back (earlier than the time kept in --last-seen)
  36  activate: every seat of the licence is taken (too_many_machines)"
    };
}
pub(crate) use exit_codes_help;

/// The exit codes as `verify --help` and `admin --help` show them.
pub const EXIT_CODES_HELP: &str = exit_codes_help!();

/// An error and the exit code it leads to.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) exit: Exit,
    pub(crate) error: anyhow::Error,
}

impl Failure {
    pub(crate) fn new(exit: Exit, error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            exit,
            error: error.into(),
        }
    }

    /// A failure with just a message.
    pub(crate) fn msg(
        exit: Exit,
        message: impl Display + std::fmt::Debug + Send + Sync + 'static,
    ) -> Failure {
        Failure::new(exit, anyhow::Error::msg(message))
    }

    pub(crate) fn from_verify_error(error: VerifyError) -> Failure {
        Failure::new(Exit::of_verify_error(&error), error)
    }

    pub(crate) fn from_revocation_error(error: RevocationError) -> Failure {
        Failure::new(Exit::RevocationsRefused, error)
    }
}

/// Errors not otherwise classified exit with [`Exit::Failure`].
impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(error: E) -> Self {
        Failure::new(Exit::Failure, error)
    }
}

pub(crate) type Result<T = ()> = std::result::Result<T, Failure>;

/// Gives an error its exit code and, optionally, context.
pub(crate) trait ResultExt<T> {
    /// Classifies the error and says what was being done.
    fn exit_context<C, F>(self, exit: Exit, context: F) -> Result<T>
    where
        C: Display + Send + Sync + 'static,
        F: FnOnce() -> C;
}

impl<T, E: Into<anyhow::Error>> ResultExt<T> for std::result::Result<T, E> {
    fn exit_context<C, F>(self, exit: Exit, context: F) -> Result<T>
    where
        C: Display + Send + Sync + 'static,
        F: FnOnce() -> C,
    {
        self.map_err(|error| Failure::new(exit, error.into().context(context())))
    }
}

#[cfg(test)]
mod tests {
    use tessera_keys::{LicenseId, Malformed, UnixTime};

    use super::*;

    #[test]
    fn every_verify_error_has_its_own_class() {
        let id = LicenseId([1; 8]);
        let time = UnixTime(1);
        let cases = [
            (VerifyError::Malformed(Malformed::Empty), Exit::Malformed),
            (
                VerifyError::UnsupportedVersion { found: 9 },
                Exit::UnsupportedVersion,
            ),
            (VerifyError::UnknownKeyId { key_id: 2 }, Exit::UnknownKeyId),
            (VerifyError::BadSignature, Exit::BadSignature),
            (
                VerifyError::WrongProduct {
                    expected: 1,
                    found: 2,
                },
                Exit::WrongProduct,
            ),
            (VerifyError::Revoked { license_id: id }, Exit::Revoked),
            (
                VerifyError::NotYetValid {
                    not_before: time,
                    now: time,
                },
                Exit::NotYetValid,
            ),
            (
                VerifyError::Expired {
                    expired_at: time,
                    now: time,
                    in_grace: false,
                },
                Exit::Expired,
            ),
            (VerifyError::ActivationRequired, Exit::ActivationRequired),
            (
                VerifyError::MalformedCertificate(Malformed::Truncated),
                Exit::CertificateRefused,
            ),
            (
                VerifyError::UnsupportedCertificateVersion { found: 2 },
                Exit::CertificateRefused,
            ),
            (
                VerifyError::BadCertificateSignature,
                Exit::CertificateRefused,
            ),
            (
                VerifyError::CertificateForAnotherLicense {
                    certified: id,
                    license_id: id,
                },
                Exit::AnotherLicense,
            ),
            (
                VerifyError::CertificateForAnotherMachine,
                Exit::AnotherMachine,
            ),
            (
                VerifyError::LeaseExpired {
                    lease_ended_at: time,
                    now: time,
                },
                Exit::LeaseExpired,
            ),
            (
                VerifyError::ClockRolledBack {
                    last_seen: time,
                    now: time,
                },
                Exit::ClockRolledBack,
            ),
        ];
        for (error, exit) in cases {
            assert_eq!(Exit::of_verify_error(&error), exit, "{error:?}");
        }
    }

    #[test]
    fn the_help_table_lists_every_code() {
        for code in [30, 31, 32, 33, 34, 35, 36] {
            assert!(EXIT_CODES_HELP.contains(&format!("\n  {code}  ")), "{code}");
        }
    }
}
