//! Errors thrown to JavaScript: an `Error` named for its class (`ExpiredError`, …) whose `code` is the
//! `tessera` command's exit code, with the error's facts as camel-case properties.

use js_sys::{BigInt, Error, Reflect};
use tessera_bindings_shared::{Facts, Refusal};
use tessera_keys::DecodeError;
use tessera_verifier::{RevocationError, SetupError};
use wasm_bindgen::JsValue;

/// `snake_case` to `camelCase`.
fn camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn throw(facts: Facts) -> JsValue {
    let error = Error::new(&facts.message);
    error.set_name(facts.class);
    let set = |name: &str, value: JsValue| {
        // Setting a property of a fresh Error cannot fail.
        let _ = Reflect::set(&error, &name.into(), &value);
    };
    set("code", facts.code.into());
    set("reason", facts.reason.into());
    if let Some(malformed) = facts.malformed {
        set("malformed", malformed.into());
    }
    if let Some(field) = facts.field {
        set("field", field.into());
    }
    for (name, number) in facts.numbers {
        // A revocation list's sequence numbers are 64-bit; every other number (times among them,
        // like a rolled-back clock's `last_seen`) fits a double exactly.
        let value = match name {
            "sequence" | "last_seen" if facts.code == 19 => BigInt::from(number).into(),
            _ => JsValue::from_f64(number as f64),
        };
        set(&camel(name), value);
    }
    if let Some(in_grace) = facts.in_grace {
        set("inGrace", in_grace.into());
    }
    if let Some(license_id) = facts.license_id {
        set("licenseId", license_id.into());
    }
    if let Some(certified) = facts.certified_license_id {
        set("certifiedLicenseId", certified.into());
    }
    error.into()
}

/// Why a licence (or the revocation list given with it) was refused.
pub(crate) fn refusal_error(refusal: &Refusal) -> JsValue {
    throw(Facts::of_refusal(refusal))
}

pub(crate) fn revocation_error(err: &RevocationError) -> JsValue {
    throw(Facts::of_revocations(err))
}

pub(crate) fn public_key_error(index: usize, err: &DecodeError) -> JsValue {
    throw(Facts::of_public_key(index, err))
}

pub(crate) fn setup_error(err: &SetupError) -> JsValue {
    throw(Facts::of_setup(err))
}

/// A bad argument from the calling code (code 2, a `TypeError`).
pub(crate) fn usage_error(message: &str) -> JsValue {
    let error: Error = js_sys::TypeError::new(message).into();
    let _ = Reflect::set(&error, &"code".into(), &2.into());
    let _ = Reflect::set(&error, &"reason".into(), &"invalid_argument".into());
    error.into()
}
