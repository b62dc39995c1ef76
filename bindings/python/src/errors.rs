//! `tessera.LicenseError` and its subclasses: one per exit-code class of the `tessera` command, with
//! that code as `.code` and the facts of the Rust error as attributes.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use tessera_bindings_shared::{Facts, Refusal};
use tessera_keys::DecodeError;
use tessera_verifier::{RevocationError, SetupError};

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
create_exception!(
    tessera,
    ActivationRequiredError,
    LicenseError,
    "The licence works only on activated machines: use `Verifier.verify_activated` (code 30)."
);
create_exception!(
    tessera,
    CertificateRefusedError,
    LicenseError,
    "The machine certificate is malformed, of a newer version, or its signature does not match (code 31)."
);
create_exception!(
    tessera,
    AnotherMachineError,
    LicenseError,
    "The machine certificate is for another machine (code 32)."
);
create_exception!(
    tessera,
    AnotherLicenseError,
    LicenseError,
    "The machine certificate is for another licence (code 33)."
);
create_exception!(
    tessera,
    LeaseExpiredError,
    LicenseError,
    "The machine certificate's lease is over: renew it online (code 34)."
);
create_exception!(
    tessera,
    ClockRolledBackError,
    LicenseError,
    "The clock reads earlier than the time seen before: it was turned back (code 35)."
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
    module.add(
        "ActivationRequiredError",
        py.get_type::<ActivationRequiredError>(),
    )?;
    module.add(
        "CertificateRefusedError",
        py.get_type::<CertificateRefusedError>(),
    )?;
    module.add("AnotherMachineError", py.get_type::<AnotherMachineError>())?;
    module.add("AnotherLicenseError", py.get_type::<AnotherLicenseError>())?;
    module.add("LeaseExpiredError", py.get_type::<LeaseExpiredError>())?;
    module.add(
        "ClockRolledBackError",
        py.get_type::<ClockRolledBackError>(),
    )?;
    Ok(())
}

/// An exception of the class `facts` names, with its message, `.code`, `.reason` and the facts as
/// attributes.
fn raise(facts: Facts) -> PyErr {
    let err = match facts.class {
        "PublicKeyError" => PublicKeyError::new_err(facts.message.clone()),
        "MalformedError" => MalformedError::new_err(facts.message.clone()),
        "UnsupportedVersionError" => UnsupportedVersionError::new_err(facts.message.clone()),
        "UnknownKeyIdError" => UnknownKeyIdError::new_err(facts.message.clone()),
        "BadSignatureError" => BadSignatureError::new_err(facts.message.clone()),
        "WrongProductError" => WrongProductError::new_err(facts.message.clone()),
        "RevokedError" => RevokedError::new_err(facts.message.clone()),
        "NotYetValidError" => NotYetValidError::new_err(facts.message.clone()),
        "ExpiredError" => ExpiredError::new_err(facts.message.clone()),
        "RevocationsRefusedError" => RevocationsRefusedError::new_err(facts.message.clone()),
        "ActivationRequiredError" => ActivationRequiredError::new_err(facts.message.clone()),
        "CertificateRefusedError" => CertificateRefusedError::new_err(facts.message.clone()),
        "AnotherMachineError" => AnotherMachineError::new_err(facts.message.clone()),
        "AnotherLicenseError" => AnotherLicenseError::new_err(facts.message.clone()),
        "LeaseExpiredError" => LeaseExpiredError::new_err(facts.message.clone()),
        "ClockRolledBackError" => ClockRolledBackError::new_err(facts.message.clone()),
        _ => LicenseError::new_err(facts.message.clone()),
    };
    Python::attach(|py| {
        let value = err.value(py);
        let set = || -> PyResult<()> {
            value.setattr("code", facts.code)?;
            value.setattr("reason", facts.reason)?;
            value.setattr("malformed", facts.malformed)?;
            value.setattr("field", facts.field)?;
            for (name, number) in &facts.numbers {
                value.setattr(*name, number)?;
            }
            if let Some(in_grace) = facts.in_grace {
                value.setattr("in_grace", in_grace)?;
            }
            if let Some(license_id) = &facts.license_id {
                value.setattr("license_id", license_id)?;
            }
            if let Some(certified) = &facts.certified_license_id {
                value.setattr("certified_license_id", certified)?;
            }
            Ok(())
        };
        match set() {
            Ok(()) => err,
            Err(failed) => failed,
        }
    })
}

/// Why a licence (or the revocation list given with it) was refused.
pub(crate) fn refusal_error(refusal: &Refusal) -> PyErr {
    raise(Facts::of_refusal(refusal))
}

pub(crate) fn revocation_error(err: &RevocationError) -> PyErr {
    raise(Facts::of_revocations(err))
}

/// Public-key text number `index` cannot be decoded.
pub(crate) fn public_key_error(index: usize, err: &DecodeError) -> PyErr {
    raise(Facts::of_public_key(index, err))
}

pub(crate) fn setup_error(err: &SetupError) -> PyErr {
    raise(Facts::of_setup(err))
}
