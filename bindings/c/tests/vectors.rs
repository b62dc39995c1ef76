//! Every case of `tests/vectors/` through the C functions, with the same result as the Rust verifier
//! (whose own test, `tests/vectors.rs`, pins that result in each case's `error` or `claims`).
//!
//! The calls go through the `extern "C"` functions themselves, with C strings and caller-owned structs,
//! as a C program makes them; `examples/verify.c` shows the same calls compiled by a C compiler.

// The tests return the C error struct by value, as a C caller holds it.
#![allow(clippy::result_large_err)]

use std::ffi::{c_char, CStr, CString};
use std::mem::MaybeUninit;
use std::ptr;

use serde_json::Value;
use tessera::*;

fn load(file: &str) -> Value {
    let path = format!("{}/../../tests/vectors/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"));
    serde_json::from_str(&text).expect("vector JSON")
}

fn c_string(text: &str) -> CString {
    CString::new(text).expect("no NUL in vector texts")
}

fn text_of(chars: &[c_char]) -> String {
    // SAFETY: the library always NUL-terminates the arrays it fills.
    unsafe { CStr::from_ptr(chars.as_ptr()) }
        .to_str()
        .expect("UTF-8")
        .to_owned()
}

fn empty_error() -> TesseraError {
    // SAFETY: an all-zero TesseraError is valid (status 0, kinds 0, numbers 0).
    unsafe { MaybeUninit::zeroed().assume_init() }
}

/// A verifier from key texts and an optional product id, as a C caller makes one.
struct Handle(*mut TesseraVerifier);

impl Handle {
    fn new(keys: &[&str], product: Option<u32>) -> Result<Handle, TesseraError> {
        let texts: Vec<CString> = keys.iter().map(|key| c_string(key)).collect();
        let pointers: Vec<*const c_char> = texts.iter().map(|text| text.as_ptr()).collect();
        let table = product.map(|id| TesseraProduct {
            id,
            tiers: ptr::null(),
            tier_count: 0,
            features: ptr::null(),
            feature_count: 0,
        });
        let table_ptr = table
            .as_ref()
            .map_or(ptr::null(), |table| table as *const _);
        let mut out = ptr::null_mut();
        let mut error = empty_error();
        // SAFETY: every pointer is valid for the call.
        let status = unsafe {
            tessera_verifier_new(
                pointers.as_ptr(),
                pointers.len(),
                table_ptr,
                &mut out,
                &mut error,
            )
        };
        if status == TesseraStatus::Ok {
            assert!(!out.is_null());
            Ok(Handle(out))
        } else {
            assert!(out.is_null());
            assert_eq!(error.status, status);
            Err(error)
        }
    }

    fn set_revocations(&self, list: &str, last_seen: Option<u64>) -> Result<u64, TesseraError> {
        let list = c_string(list);
        let last_seen_ptr = last_seen
            .as_ref()
            .map_or(ptr::null(), |seen| seen as *const u64);
        let (mut sequence, mut error) = (0, empty_error());
        // SAFETY: every pointer is valid for the call; the handle is used by this thread only.
        let status = unsafe {
            tessera_verifier_set_revocations(
                self.0,
                list.as_ptr(),
                last_seen_ptr,
                &mut sequence,
                &mut error,
            )
        };
        match status {
            TesseraStatus::Ok => Ok(sequence),
            _ => Err(error),
        }
    }

    fn verify(&self, key: &str, now: u64) -> Result<TesseraLicense, TesseraError> {
        let key = c_string(key);
        let mut license = MaybeUninit::<TesseraLicense>::uninit();
        let mut error = empty_error();
        // SAFETY: every pointer is valid for the call.
        let status =
            unsafe { tessera_verify(self.0, key.as_ptr(), now, license.as_mut_ptr(), &mut error) };
        match status {
            // SAFETY: filled on success.
            TesseraStatus::Ok => Ok(unsafe { license.assume_init() }),
            _ => {
                assert_eq!(error.status, status);
                Err(error)
            }
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: a live handle, freed once.
        unsafe { tessera_verifier_free(self.0) };
    }
}

fn malformed_name(error: &TesseraError) -> String {
    let kind = match error.malformed {
        TesseraMalformed::None => "None".to_owned(),
        TesseraMalformed::Empty => "Empty".to_owned(),
        TesseraMalformed::WrongPrefix => "WrongPrefix".to_owned(),
        TesseraMalformed::TooLong => "TooLong".to_owned(),
        TesseraMalformed::Base64 => "Base64".to_owned(),
        TesseraMalformed::Truncated => "Truncated".to_owned(),
        TesseraMalformed::TrailingBytes => "TrailingBytes".to_owned(),
        TesseraMalformed::InvalidField => format!("InvalidField({})", text_of(&error.field)),
    };
    format!("Malformed({kind})")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The error as the vectors spell it, from the fields of the C struct alone.
fn error_name(error: &TesseraError) -> String {
    match error.status {
        TesseraStatus::Malformed => malformed_name(error),
        TesseraStatus::UnsupportedVersion => {
            format!("UnsupportedVersion{{found:{}}}", error.found_version)
        }
        TesseraStatus::UnknownKeyId => format!("UnknownKeyId{{key_id:{}}}", error.key_id),
        TesseraStatus::BadSignature => "BadSignature".to_owned(),
        TesseraStatus::WrongProduct => format!(
            "WrongProduct{{expected:{},found:{}}}",
            error.expected_product, error.found_product
        ),
        TesseraStatus::Revoked => format!("Revoked{{license_id:{}}}", hex(&error.license_id)),
        TesseraStatus::NotYetValid => format!("NotYetValid{{not_before:{}}}", error.not_before),
        TesseraStatus::Expired => format!(
            "Expired{{expired_at:{},in_grace:{}}}",
            error.expired_at, error.in_grace
        ),
        TesseraStatus::RevocationsRefused => match error.revocations {
            TesseraRevocationProblem::Malformed => malformed_name(error),
            TesseraRevocationProblem::UnsupportedVersion => {
                format!("UnsupportedVersion{{found:{}}}", error.found_version)
            }
            TesseraRevocationProblem::UnknownKeyId => {
                format!("UnknownKeyId{{key_id:{}}}", error.key_id)
            }
            TesseraRevocationProblem::BadSignature => "BadSignature".to_owned(),
            TesseraRevocationProblem::Stale => format!(
                "Stale{{sequence:{},last_seen:{}}}",
                error.sequence, error.last_seen
            ),
            TesseraRevocationProblem::None => "None".to_owned(),
        },
        TesseraStatus::Input if error.found_version != 0 => {
            format!("UnsupportedVersion{{found:{}}}", error.found_version)
        }
        TesseraStatus::Input => malformed_name(error),
        other => format!("{other:?}"),
    }
}

/// The licence as the vectors write claims.
fn claims_json(license: &TesseraLicense) -> Value {
    let optional = |present: bool, value: u64| present.then_some(value);
    serde_json::json!({
        "key_id": license.key_id,
        "license_id": text_of(&license.license_id_hex),
        "product": license.product,
        "tier": license.tier,
        "issued_at": license.issued_at,
        "not_before": optional(license.has_not_before, license.not_before),
        "expires_at": optional(license.has_expiry, license.expires_at),
        "grace_seconds": (license.grace_seconds != 0).then_some(license.grace_seconds),
        "features": (0..64u8).filter(|bit| license.features & (1 << bit) != 0).collect::<Vec<_>>(),
        "licensee": license.has_licensee.then(|| text_of(&license.licensee)),
    })
}

fn str_of(value: &Value) -> &str {
    value.as_str().expect("string")
}

fn keys_of(case: &Value) -> Vec<&str> {
    case["trusted"]
        .as_array()
        .expect("trusted")
        .iter()
        .map(str_of)
        .collect()
}

#[test]
fn valid_and_equivalent_licences_verify_to_their_claims() {
    let vectors = load("licenses.json");
    let valid = vectors["valid"].as_array().expect("valid");
    for case in valid {
        let name = str_of(&case["name"]);
        let product = case["claims"]["product"].as_u64().expect("product") as u32;
        let verifier =
            Handle::new(&[str_of(&case["public_key"])], Some(product)).expect("verifier");
        let now = case["now"].as_u64().expect("now");
        let license = verifier
            .verify(str_of(&case["text"]), now)
            .unwrap_or_else(|err| panic!("{name}: {}", text_of(&err.message)));
        assert_eq!(claims_json(&license), case["claims"], "{name}");
        assert_eq!(
            hex(&license.license_id),
            case["claims"]["license_id"],
            "{name}"
        );
    }
    for case in vectors["equivalent"].as_array().expect("equivalent") {
        let name = str_of(&case["name"]);
        let original = valid
            .iter()
            .find(|valid| valid["name"] == case["same_as"])
            .expect("same_as names a valid case");
        let verifier = Handle::new(&[str_of(&original["public_key"])], None).expect("verifier");
        let license = verifier
            .verify(
                str_of(&case["text"]),
                original["now"].as_u64().expect("now"),
            )
            .unwrap_or_else(|err| panic!("{name}: {}", text_of(&err.message)));
        assert_eq!(claims_json(&license), original["claims"], "{name}");
    }
}

#[test]
fn invalid_licences_fail_exactly() {
    let vectors = load("licenses.json");
    let invalid = vectors["invalid"].as_array().expect("invalid");
    assert!(!invalid.is_empty());
    for case in invalid {
        let name = str_of(&case["name"]);
        let product = case["product"].as_u64().map(|id| id as u32);
        let verifier = Handle::new(&keys_of(case), product).expect("verifier");
        if let Some(list) = case["revocations"].as_str() {
            verifier
                .set_revocations(list, None)
                .unwrap_or_else(|err| panic!("{name}: {}", text_of(&err.message)));
        }
        if case["without_grace"].as_bool() == Some(true) {
            // SAFETY: a live handle, used by this thread only.
            let status = unsafe { tessera_verifier_without_grace(verifier.0) };
            assert_eq!(status, TesseraStatus::Ok);
        }
        match verifier.verify(str_of(&case["text"]), case["now"].as_u64().expect("now")) {
            Ok(license) => panic!("{name}: accepted {:?}", claims_json(&license)),
            Err(error) => {
                assert_eq!(error_name(&error), str_of(&case["error"]), "{name}");
                assert!(!text_of(&error.message).is_empty(), "{name}");
            }
        }
    }
}

#[test]
fn revocation_lists_are_accepted_or_refused_exactly() {
    let vectors = load("revocations.json");
    for case in vectors["valid"].as_array().expect("valid") {
        let name = str_of(&case["name"]);
        let verifier = Handle::new(&[str_of(&case["public_key"])], None).expect("verifier");
        let sequence = case["sequence"].as_u64().expect("sequence");
        let accepted = verifier
            .set_revocations(str_of(&case["text"]), Some(sequence))
            .unwrap_or_else(|err| panic!("{name}: {}", text_of(&err.message)));
        assert_eq!(accepted, sequence, "{name}");
    }
    for case in vectors["invalid"].as_array().expect("invalid") {
        let name = str_of(&case["name"]);
        let verifier = Handle::new(&keys_of(case), None).expect("verifier");
        match verifier.set_revocations(str_of(&case["text"]), case["last_seen"].as_u64()) {
            Ok(sequence) => panic!("{name}: accepted list {sequence}"),
            Err(error) => assert_eq!(error_name(&error), str_of(&case["error"]), "{name}"),
        }
    }
}

#[test]
fn public_key_texts_are_trusted_or_refused_as_by_the_rust_verifier() {
    let vectors = load("keys.json");
    for case in vectors["public_keys"]["valid"].as_array().expect("valid") {
        let name = str_of(&case["name"]);
        let text = str_of(&case["text"]);
        let key = tessera_verifier::PublicKey::from_text(text).expect("valid key text");
        match (
            tessera_verifier::Verifier::new(&[key]),
            Handle::new(&[text], None),
        ) {
            (Ok(_), Ok(_)) => {}
            (Err(rust), Err(c)) => {
                assert_eq!(c.status, TesseraStatus::Input, "{name}");
                assert_eq!(text_of(&c.message), rust.to_string(), "{name}");
                assert_eq!(c.key_id, key.id, "{name}");
            }
            (rust, c) => panic!("{name}: Rust {:?}, C {:?}", rust.err(), c.err()),
        }
    }
    for case in vectors["public_keys"]["invalid"]
        .as_array()
        .expect("invalid")
    {
        let name = str_of(&case["name"]);
        let error = Handle::new(
            &[
                "tspk1_1_11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
                str_of(&case["text"]),
            ],
            None,
        )
        .err()
        .unwrap_or_else(|| panic!("{name}: accepted"));
        assert_eq!(error.status, TesseraStatus::Input, "{name}");
        assert_eq!(error.key_index, 1, "{name}");
        assert_eq!(error_name(&error), str_of(&case["error"]), "{name}");
    }
}

#[test]
fn null_pointers_are_refused_not_followed() {
    let mut error = empty_error();
    let mut out = ptr::null_mut();
    // SAFETY: null pointers are what is under test; the rest are valid.
    unsafe {
        assert_eq!(
            tessera_verifier_new(ptr::null(), 1, ptr::null(), &mut out, &mut error),
            TesseraStatus::InvalidArgument
        );
        assert_eq!(
            tessera_verifier_new(
                ptr::null(),
                0,
                ptr::null(),
                ptr::null_mut(),
                ptr::null_mut()
            ),
            TesseraStatus::InvalidArgument
        );
        let mut license = MaybeUninit::<TesseraLicense>::uninit();
        assert_eq!(
            tessera_verify(
                ptr::null(),
                c"ts1_".as_ptr(),
                0,
                license.as_mut_ptr(),
                &mut error
            ),
            TesseraStatus::InvalidArgument
        );
        assert!(!tessera_license_has_feature(
            ptr::null(),
            ptr::null(),
            ptr::null()
        ));
        assert_eq!(
            tessera_verifier_without_grace(ptr::null_mut()),
            TesseraStatus::InvalidArgument
        );
        tessera_verifier_free(ptr::null_mut());
    }
    let verifier = Handle::new(
        &["tspk1_1_11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"],
        None,
    )
    .expect("verifier");
    // SAFETY: as above.
    unsafe {
        assert_eq!(
            tessera_verify(verifier.0, ptr::null(), 0, ptr::null_mut(), &mut error),
            TesseraStatus::InvalidArgument
        );
        let mut license = MaybeUninit::<TesseraLicense>::uninit();
        assert_eq!(
            tessera_verify(verifier.0, ptr::null(), 0, license.as_mut_ptr(), &mut error),
            TesseraStatus::InvalidArgument
        );
    }
    // No keys at all is the Rust verifier's NoKeys, an input problem.
    let none = Handle::new(&[], None).err().expect("refused");
    assert_eq!(none.status, TesseraStatus::Input);
}

#[test]
fn every_status_has_a_static_message() {
    for status in [0, 1, 2, 3, 10, 11, 12, 13, 14, 15, 16, 17, 19, 99, -1] {
        // SAFETY: the function returns a static C string for any value.
        let message = unsafe { CStr::from_ptr(tessera_status_message(status)) };
        assert!(!message.to_bytes().is_empty(), "{status}");
    }
}
