//! `tessera.LicenseError` and its subclasses: one per exit-code class of the `tessera` command, with
//! that code as `.code` and the facts of the Rust error as attributes.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use tessera_keys::DecodeError;
use tessera_verifier::{Malformed, RevocationError, SetupError, VerifyError};

create_exception!(
    tessera,
    LicenseError,
    PyException,
    "Base of every Tessera error; `.code` is the `tessera` command's exit code for it."
);
create_exception!(
    tessera,
    PublicKeyError,
    LicenseError,
    "A public key cannot be trusted (code 3)."
);
create_exception!(
    tessera,
    MalformedError,
    LicenseError,
    "The licence key is not well formed (code 10)."
);
create_exception!(
    tessera,
    UnsupportedVersionError,
    LicenseError,
    "The licence key is of a newer format version (code 11)."
);
create_exception!(
    tessera,
    UnknownKeyIdError,
    LicenseError,
    "Signed by a key id the verifier does not trust (code 12)."
);
create_exception!(
    tessera,
    BadSignatureError,
    LicenseError,
    "The signature does not match: altered or forged (code 13)."
);
create_exception!(
    tessera,
    WrongProductError,
    LicenseError,
    "The licence is for another product (code 14)."
);
create_exception!(
    tessera,
    RevokedError,
    LicenseError,
    "The licence is on the revocation list (code 15)."
);
create_exception!(
    tessera,
    NotYetValidError,
    LicenseError,
    "The licence's start date has not come yet (code 16)."
);
create_exception!(
    tessera,
    ExpiredError,
    LicenseError,
    "The licence has expired (code 17)."
);
create_exception!(
    tessera,
    RevocationsRefusedError,
    LicenseError,
    "The revocation list was refused (code 19)."
);

pub(crate) fn add_to(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    module.add("LicenseError", py.get_type::<LicenseError>())?;
    module.add("PublicKeyError", py.get_type::<PublicKeyError>())?;
    module.add("MalformedError", py.get_type::<MalformedError>())?;
    module.add(
        "UnsupportedVersionError",
        py.get_type::<UnsupportedVersionError>(),
    )?;
    module.add("UnknownKeyIdError", py.get_type::<UnknownKeyIdError>())?;
    module.add("BadSignatureError", py.get_type::<BadSignatureError>())?;
    module.add("WrongProductError", py.get_type::<WrongProductError>())?;
    module.add("RevokedError", py.get_type::<RevokedError>())?;
    module.add("NotYetValidError", py.get_type::<NotYetValidError>())?;
    module.add("ExpiredError", py.get_type::<ExpiredError>())?;
    module.add(
        "RevocationsRefusedError",
        py.get_type::<RevocationsRefusedError>(),
    )?;
    Ok(())
}

/// An exception of class `E` with `message`, `.code` and the attributes `facts` name.
fn raise<E: pyo3::PyTypeInfo>(code: u8, message: String, facts: Facts) -> PyErr {
    Python::attach(|py| {
        let err = PyErr::new::<E, _>(message);
        let value = err.value(py);
        let set = || -> PyResult<()> {
            value.setattr("code", code)?;
            value.setattr("reason", facts.reason)?;
            value.setattr("malformed", facts.malformed)?;
            value.setattr("field", facts.field)?;
            for (name, number) in facts.numbers {
                value.setattr(name, number)?;
            }
            if let Some(in_grace) = facts.in_grace {
                value.setattr("in_grace", in_grace)?;
            }
            if let Some(license_id) = facts.license_id {
                value.setattr("license_id", license_id)?;
            }
            Ok(())
        };
        match set() {
            Ok(()) => err,
            Err(failed) => failed,
        }
    })
}

/// What an error says beyond its class.
#[derive(Default)]
struct Facts {
    /// For a refused revocation list or public key: which kind of refusal (`"malformed"`,
    /// `"unsupported_version"`, `"unknown_key_id"`, `"bad_signature"`, `"stale"`, …); else the class.
    reason: &'static str,
    /// How a text is malformed: `"empty"`, `"wrong_prefix"`, `"too_long"`, `"base64"`,
    /// `"truncated"`, `"trailing_bytes"`, `"invalid_field"`; `None` if it is not.
    malformed: Option<&'static str>,
    /// For `"invalid_field"`: the field's name as in FORMAT.md.
    field: Option<&'static str>,
    numbers: Vec<(&'static str, u64)>,
    in_grace: Option<bool>,
    license_id: Option<String>,
}

impl Facts {
    fn reason(reason: &'static str) -> Facts {
        Facts {
            reason,
            ..Facts::default()
        }
    }

    fn malformed(why: &Malformed) -> Facts {
        let (kind, field) = match why {
            Malformed::Empty => ("empty", None),
            Malformed::WrongPrefix { .. } => ("wrong_prefix", None),
            Malformed::TooLong => ("too_long", None),
            Malformed::Base64 => ("base64", None),
            Malformed::Truncated => ("truncated", None),
            Malformed::TrailingBytes => ("trailing_bytes", None),
            Malformed::InvalidField { field } => ("invalid_field", Some(*field)),
            _ => ("invalid_field", None),
        };
        Facts {
            reason: "malformed",
            malformed: Some(kind),
            field,
            ..Facts::default()
        }
    }

    fn number(mut self, name: &'static str, value: impl Into<u64>) -> Facts {
        self.numbers.push((name, value.into()));
        self
    }
}

pub(crate) fn license_error(err: &VerifyError) -> PyErr {
    let message = err.to_string();
    match *err {
        VerifyError::Malformed(why) => raise::<MalformedError>(10, message, Facts::malformed(&why)),
        VerifyError::UnsupportedVersion { found } => raise::<UnsupportedVersionError>(
            11,
            message,
            Facts::reason("unsupported_version").number("found_version", found),
        ),
        VerifyError::UnknownKeyId { key_id } => raise::<UnknownKeyIdError>(
            12,
            message,
            Facts::reason("unknown_key_id").number("key_id", key_id),
        ),
        VerifyError::BadSignature => {
            raise::<BadSignatureError>(13, message, Facts::reason("bad_signature"))
        }
        VerifyError::WrongProduct { expected, found } => raise::<WrongProductError>(
            14,
            message,
            Facts::reason("wrong_product")
                .number("expected_product", expected)
                .number("found_product", found),
        ),
        VerifyError::Revoked { license_id } => raise::<RevokedError>(
            15,
            message,
            Facts {
                license_id: Some(license_id.to_hex().to_string()),
                ..Facts::reason("revoked")
            },
        ),
        VerifyError::NotYetValid { not_before, now } => raise::<NotYetValidError>(
            16,
            message,
            Facts::reason("not_yet_valid")
                .number("not_before", not_before.0)
                .number("now", now.0),
        ),
        VerifyError::Expired {
            expired_at,
            now,
            in_grace,
        } => raise::<ExpiredError>(
            17,
            message,
            Facts {
                in_grace: Some(in_grace),
                ..Facts::reason("expired")
                    .number("expired_at", expired_at.0)
                    .number("now", now.0)
            },
        ),
        _ => raise::<LicenseError>(1, message, Facts::reason("other")),
    }
}

pub(crate) fn revocation_error(err: &RevocationError) -> PyErr {
    let message = err.to_string();
    let facts = match *err {
        RevocationError::Malformed(why) => Facts::malformed(&why),
        RevocationError::UnsupportedVersion { found } => {
            Facts::reason("unsupported_version").number("found_version", found)
        }
        RevocationError::UnknownKeyId { key_id } => {
            Facts::reason("unknown_key_id").number("key_id", key_id)
        }
        RevocationError::BadSignature => Facts::reason("bad_signature"),
        RevocationError::Stale {
            sequence,
            last_seen,
        } => Facts::reason("stale")
            .number("sequence", sequence)
            .number("last_seen", last_seen),
        _ => Facts::reason("other"),
    };
    raise::<RevocationsRefusedError>(19, message, facts)
}

/// Public-key text number `index` cannot be decoded.
pub(crate) fn public_key_error(index: usize, err: &DecodeError) -> PyErr {
    let message = format!("public key {index}: {err}");
    let facts = match *err {
        DecodeError::Malformed(why) => Facts::malformed(&why),
        DecodeError::UnsupportedVersion { found } => {
            Facts::reason("unsupported_version").number("found_version", found)
        }
        _ => Facts::reason("other"),
    };
    raise::<PublicKeyError>(3, message, facts.number("key_index", index as u64))
}

pub(crate) fn setup_error(err: &SetupError) -> PyErr {
    let facts = match *err {
        SetupError::NoKeys => Facts::reason("no_keys"),
        SetupError::TooManyKeys => Facts::reason("too_many_keys"),
        SetupError::DuplicateKeyId { key_id } => {
            Facts::reason("duplicate_key_id").number("key_id", key_id)
        }
        SetupError::InvalidKey { key_id } => Facts::reason("invalid_key").number("key_id", key_id),
        _ => Facts::reason("other"),
    };
    raise::<PublicKeyError>(3, err.to_string(), facts)
}
