//! Machine activation through the C functions: `tests/vectors/certificates.json` case by case with the
//! Rust verifier's result, and certificates signed here for each refusal, the lease figures, the clock
//! tolerance, the fingerprint functions and null arguments.

// The tests return the C error struct by value, as a C caller holds it.
#![allow(clippy::result_large_err)]

use std::ffi::{c_char, CStr, CString};
use std::mem::MaybeUninit;
use std::ptr;

use serde_json::Value;
use tessera::*;
use tessera_keys::{Claims, FeatureSet, LicenseId, MachineClaims, SigningKey, UnixTime};
use tessera_verifier::Fingerprint;

fn load(file: &str) -> Value {
    let path = format!("{}/../../tests/vectors/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"));
    serde_json::from_str(&text).expect("vector JSON")
}

fn c_string(text: &str) -> CString {
    CString::new(text).expect("no NUL in the texts")
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A verifier from key texts, as a C caller makes one.
struct Handle(*mut TesseraVerifier);

impl Handle {
    fn new(keys: &[&str]) -> Handle {
        let texts: Vec<CString> = keys.iter().map(|key| c_string(key)).collect();
        let pointers: Vec<*const c_char> = texts.iter().map(|text| text.as_ptr()).collect();
        let mut out = ptr::null_mut();
        let mut error = empty_error();
        // SAFETY: every pointer is valid for the call.
        let status = unsafe {
            tessera_verifier_new(
                pointers.as_ptr(),
                pointers.len(),
                ptr::null(),
                &mut out,
                &mut error,
            )
        };
        assert_eq!(status, TesseraStatus::Ok, "{}", text_of(&error.message));
        Handle(out)
    }

    fn verify_activated(
        &self,
        key: &str,
        certificate: &str,
        fingerprint: &[u8; 32],
        now: u64,
        last_seen: Option<u64>,
    ) -> Result<TesseraActivation, TesseraError> {
        let (key, certificate) = (c_string(key), c_string(certificate));
        let last_seen_ptr = last_seen
            .as_ref()
            .map_or(ptr::null(), |seen| seen as *const u64);
        let mut activation = MaybeUninit::<TesseraActivation>::uninit();
        let mut error = empty_error();
        // SAFETY: every pointer is valid for the call.
        let status = unsafe {
            tessera_verify_activated(
                self.0,
                key.as_ptr(),
                certificate.as_ptr(),
                fingerprint.as_ptr(),
                now,
                last_seen_ptr,
                activation.as_mut_ptr(),
                &mut error,
            )
        };
        match status {
            // SAFETY: filled on success.
            TesseraStatus::Ok => Ok(unsafe { activation.assume_init() }),
            _ => {
                assert_eq!(error.status, status);
                Err(error)
            }
        }
    }

    fn verify(&self, key: &str, now: u64) -> TesseraStatus {
        let key = c_string(key);
        let mut license = MaybeUninit::<TesseraLicense>::uninit();
        // SAFETY: every pointer is valid for the call.
        unsafe {
            tessera_verify(
                self.0,
                key.as_ptr(),
                now,
                license.as_mut_ptr(),
                ptr::null_mut(),
            )
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: a live handle, freed once.
        unsafe { tessera_verifier_free(self.0) };
    }
}

fn malformed_kind(error: &TesseraError) -> String {
    match error.malformed {
        TesseraMalformed::None => "None".to_owned(),
        TesseraMalformed::Empty => "Empty".to_owned(),
        TesseraMalformed::WrongPrefix => "WrongPrefix".to_owned(),
        TesseraMalformed::TooLong => "TooLong".to_owned(),
        TesseraMalformed::Base64 => "Base64".to_owned(),
        TesseraMalformed::Truncated => "Truncated".to_owned(),
        TesseraMalformed::TrailingBytes => "TrailingBytes".to_owned(),
        TesseraMalformed::InvalidField => format!("InvalidField({})", text_of(&error.field)),
    }
}

/// The error as the vectors spell it, from the fields of the C struct alone.
fn error_name(error: &TesseraError) -> String {
    match error.status {
        TesseraStatus::Malformed => format!("Malformed({})", malformed_kind(error)),
        TesseraStatus::UnknownKeyId => format!("UnknownKeyId{{key_id:{}}}", error.key_id),
        TesseraStatus::NotYetValid => format!("NotYetValid{{not_before:{}}}", error.not_before),
        TesseraStatus::Expired => format!(
            "Expired{{expired_at:{},in_grace:{}}}",
            error.expired_at, error.in_grace
        ),
        TesseraStatus::CertificateRefused if error.found_version != 0 => format!(
            "UnsupportedCertificateVersion{{found:{}}}",
            error.found_version
        ),
        TesseraStatus::CertificateRefused if error.malformed != TesseraMalformed::None => {
            format!("MalformedCertificate({})", malformed_kind(error))
        }
        TesseraStatus::CertificateRefused => "BadCertificateSignature".to_owned(),
        TesseraStatus::AnotherMachine => "CertificateForAnotherMachine".to_owned(),
        TesseraStatus::AnotherLicense => format!(
            "CertificateForAnotherLicense{{certified:{},license_id:{}}}",
            hex(&error.certified_license_id),
            hex(&error.license_id)
        ),
        TesseraStatus::LeaseExpired => {
            format!("LeaseExpired{{lease_ended_at:{}}}", error.lease_ended_at)
        }
        TesseraStatus::ClockRolledBack => {
            format!("ClockRolledBack{{last_seen:{}}}", error.clock_last_seen)
        }
        other => format!("{other:?}"),
    }
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

fn fingerprint_of(case: &Value) -> [u8; 32] {
    let text = c_string(str_of(&case["fingerprint"]));
    let mut out = [0; 32];
    // SAFETY: a C string and 32 writable bytes.
    let status = unsafe { tessera_fingerprint_from_hex(text.as_ptr(), out.as_mut_ptr()) };
    assert_eq!(status, TesseraStatus::Ok);
    out
}

#[test]
fn valid_certificate_vectors_verify_with_their_lease() {
    let vectors = load("certificates.json");
    for case in vectors["valid"].as_array().expect("valid") {
        let name = str_of(&case["name"]);
        let verifier = Handle::new(&keys_of(case));
        let activation = verifier
            .verify_activated(
                str_of(&case["key"]),
                str_of(&case["text"]),
                &fingerprint_of(case),
                case["now"].as_u64().expect("now"),
                case["last_seen"].as_u64(),
            )
            .unwrap_or_else(|err| panic!("{name}: {}", text_of(&err.message)));
        let claims = &case["claims"];
        assert_eq!(
            text_of(&activation.license.license_id_hex),
            str_of(&claims["license_id"]),
            "{name}"
        );
        assert_eq!(
            activation.certificate_issued_at,
            claims["issued_at"].as_u64().expect("issued_at"),
            "{name}"
        );
        let lease_ends_at = claims["lease_ends_at"].as_u64();
        assert_eq!(activation.has_lease, lease_ends_at.is_some(), "{name}");
        assert_eq!(
            activation.lease_ends_at,
            lease_ends_at.unwrap_or(0),
            "{name}"
        );
        assert_eq!(
            activation.lease_days_left,
            case["lease_days_left"].as_u64().unwrap_or(0),
            "{name}"
        );
    }
}

#[test]
fn invalid_certificate_vectors_fail_exactly() {
    let vectors = load("certificates.json");
    let invalid = vectors["invalid"].as_array().expect("invalid");
    for case in invalid {
        let name = str_of(&case["name"]);
        let verifier = Handle::new(&keys_of(case));
        if case["without_grace"].as_bool() == Some(true) {
            // SAFETY: a live handle used by this thread only.
            let status = unsafe { tessera_verifier_without_grace(verifier.0) };
            assert_eq!(status, TesseraStatus::Ok);
        }
        let now = case["now"].as_u64().expect("now");
        let Some(certificate) = case["certificate"].as_str() else {
            // The key alone, as `tessera_verify` checks it.
            assert_eq!(str_of(&case["error"]), "ActivationRequired", "{name}");
            assert_eq!(
                verifier.verify(str_of(&case["key"]), now),
                TesseraStatus::ActivationRequired,
                "{name}"
            );
            continue;
        };
        let error = verifier
            .verify_activated(
                str_of(&case["key"]),
                certificate,
                &fingerprint_of(case),
                now,
                case["last_seen"].as_u64(),
            )
            .map(|_| ())
            .expect_err(name);
        assert_eq!(error_name(&error), str_of(&case["error"]), "{name}");
        assert!(!text_of(&error.message).is_empty(), "{name}");
    }
    assert!(invalid.len() >= 30, "the vectors cover every refusal");
}

const PRODUCT: u32 = 7;
const ISSUED: u64 = 1_790_000_000;
const DAY: u64 = 86_400;

/// A signer, its public key text, a licence that requires activation (one day of grace), and this
/// machine's fingerprint.
struct Setup {
    signer: SigningKey,
    public_key: String,
    key: String,
    license_id: LicenseId,
    machine: Fingerprint,
}

impl Setup {
    fn new() -> Setup {
        let signer = SigningKey::from_seed(1, &[42; 32]);
        let license_id = LicenseId([1, 2, 3, 4, 5, 6, 7, 8]);
        let key = signer
            .sign_license(&Claims {
                key_id: 1,
                license_id,
                product: PRODUCT,
                tier: 0,
                issued_at: UnixTime(ISSUED),
                not_before: None,
                expires_at: None,
                grace_seconds: Some(DAY as u32),
                features: FeatureSet(0b1),
                licensee: Some("Ada"),
                requires_activation: true,
            })
            .expect("sign licence");
        Setup {
            public_key: signer.public_key().to_string(),
            signer,
            key,
            license_id,
            machine: Fingerprint::of_machine_id(PRODUCT, b"this machine"),
        }
    }

    /// A certificate for `license_id` and `machine`, issued a day after the licence.
    fn certificate(&self, license_id: LicenseId, machine: &Fingerprint, lease_days: u64) -> String {
        self.signer
            .sign_machine_certificate(&MachineClaims {
                key_id: 1,
                license_id,
                fingerprint: machine.certified(),
                issued_at: UnixTime(ISSUED + DAY),
                lease_ends_at: Some(UnixTime(ISSUED + DAY + lease_days * DAY)),
            })
            .expect("sign certificate")
    }
}

#[test]
fn a_signed_certificate_verifies_and_every_refusal_has_its_status() {
    let setup = Setup::new();
    let verifier = Handle::new(&[&setup.public_key]);
    let certificate = setup.certificate(setup.license_id, &setup.machine, 30);
    let now = ISSUED + 2 * DAY + 3600;

    assert_eq!(
        verifier.verify(&setup.key, now),
        TesseraStatus::ActivationRequired
    );
    let activation = verifier
        .verify_activated(
            &setup.key,
            &certificate,
            &setup.machine.0,
            now,
            Some(now - 60),
        )
        .expect("activated");
    assert_eq!(text_of(&activation.license.licensee), "Ada");
    assert_eq!(activation.license.product, PRODUCT);
    assert!(activation.has_lease);
    assert_eq!(activation.lease_ends_at, ISSUED + 31 * DAY);
    assert_eq!(activation.lease_seconds_left, 29 * DAY - 3600);
    assert_eq!(activation.lease_days_left, 28);

    let refused = |key: &str, certificate: &str, machine: &Fingerprint, now, last_seen| {
        verifier
            .verify_activated(key, certificate, &machine.0, now, last_seen)
            .map(|_| ())
            .expect_err("refused")
    };
    // 31: malformed, with how; a licence key is not a certificate.
    let error = refused(&setup.key, "tsm1_@@", &setup.machine, now, None);
    assert_eq!(
        (error.status, error.malformed),
        (TesseraStatus::CertificateRefused, TesseraMalformed::Base64)
    );
    let error = refused(&setup.key, &setup.key, &setup.machine, now, None);
    assert_eq!(error.malformed, TesseraMalformed::WrongPrefix);
    // Over 64 KiB: refused after reading at most that much, as a malformed certificate (or key).
    let huge = "a".repeat(TESSERA_MAX_TEXT_LEN + 1);
    let error = refused(&setup.key, &huge, &setup.machine, now, None);
    assert_eq!(
        (error.status, error.malformed),
        (TesseraStatus::CertificateRefused, TesseraMalformed::TooLong)
    );
    let error = refused(&huge, &certificate, &setup.machine, now, None);
    assert_eq!(
        (error.status, error.malformed),
        (TesseraStatus::Malformed, TesseraMalformed::TooLong)
    );
    // 31: a signature by another signer under the same key id.
    let impostor = SigningKey::from_seed(1, &[43; 32])
        .sign_machine_certificate(&MachineClaims {
            key_id: 1,
            license_id: setup.license_id,
            fingerprint: setup.machine.certified(),
            issued_at: UnixTime(ISSUED + DAY),
            lease_ends_at: None,
        })
        .expect("sign");
    let error = refused(&setup.key, &impostor, &setup.machine, now, None);
    assert_eq!(
        (error.status, error.malformed),
        (TesseraStatus::CertificateRefused, TesseraMalformed::None)
    );
    // 32: the same certificate on another machine, or for this machine in another product.
    let elsewhere = Fingerprint::of_machine_id(PRODUCT, b"another machine");
    let error = refused(&setup.key, &certificate, &elsewhere, now, None);
    assert_eq!(error.status, TesseraStatus::AnotherMachine);
    let other_product = Fingerprint::of_machine_id(PRODUCT + 1, b"this machine");
    let error = refused(&setup.key, &certificate, &other_product, now, None);
    assert_eq!(error.status, TesseraStatus::AnotherMachine);
    // 33: a certificate for another licence, with both ids.
    let other_id = LicenseId([9; 8]);
    let foreign = setup.certificate(other_id, &setup.machine, 30);
    let error = refused(&setup.key, &foreign, &setup.machine, now, None);
    assert_eq!(error.status, TesseraStatus::AnotherLicense);
    assert_eq!(
        (error.certified_license_id, error.license_id),
        (other_id.0, setup.license_id.0)
    );
    // 34: the lease and the licence's day of grace after it are over.
    let lease_end = ISSUED + 31 * DAY;
    let error = refused(
        &setup.key,
        &certificate,
        &setup.machine,
        lease_end + DAY,
        None,
    );
    assert_eq!(
        (error.status, error.lease_ended_at, error.now),
        (TesseraStatus::LeaseExpired, lease_end, lease_end + DAY)
    );
    let in_grace = verifier
        .verify_activated(
            &setup.key,
            &certificate,
            &setup.machine.0,
            lease_end + 60,
            None,
        )
        .expect("in the lease's grace");
    assert_eq!(
        (in_grace.lease_seconds_left, in_grace.lease_days_left),
        (0, 0)
    );
    // 35: a clock turned back by more than the tolerance (an hour by default).
    let error = refused(
        &setup.key,
        &certificate,
        &setup.machine,
        now,
        Some(now + 2 * 3600),
    );
    assert_eq!(
        (error.status, error.clock_last_seen, error.now),
        (TesseraStatus::ClockRolledBack, now + 2 * 3600, now)
    );
    // 16: a certificate issued after `now`.
    let error = refused(
        &setup.key,
        &certificate,
        &setup.machine,
        ISSUED + 3600,
        None,
    );
    assert_eq!(
        (error.status, error.not_before),
        (TesseraStatus::NotYetValid, ISSUED + DAY)
    );
    assert!(text_of(&error.message).contains("not valid"));
}

#[test]
fn the_clock_tolerance_is_the_callers() {
    let setup = Setup::new();
    let verifier = Handle::new(&[&setup.public_key]);
    let certificate = setup.certificate(setup.license_id, &setup.machine, 30);
    let now = ISSUED + 2 * DAY;
    let ten_minutes_back = Some(now + 600);
    verifier
        .verify_activated(
            &setup.key,
            &certificate,
            &setup.machine.0,
            now,
            ten_minutes_back,
        )
        .expect("within the default hour");
    // SAFETY: a live handle used by this thread only.
    let status = unsafe { tessera_verifier_set_clock_tolerance(verifier.0, 60) };
    assert_eq!(status, TesseraStatus::Ok);
    let error = verifier
        .verify_activated(
            &setup.key,
            &certificate,
            &setup.machine.0,
            now,
            ten_minutes_back,
        )
        .map(|_| ())
        .expect_err("beyond a minute");
    assert_eq!(error.status, TesseraStatus::ClockRolledBack);
    // SAFETY: null is refused, not followed.
    let status = unsafe { tessera_verifier_set_clock_tolerance(ptr::null_mut(), 60) };
    assert_eq!(status, TesseraStatus::InvalidArgument);
}

#[test]
fn fingerprints_are_the_rust_verifiers() {
    let vectors = load("certificates.json");
    for case in vectors["fingerprints"].as_array().expect("fingerprints") {
        let raw = str_of(&case["machine_id"]).as_bytes();
        let mut out = [0u8; 32];
        // SAFETY: `raw` is readable for its length; `out` holds 32 bytes.
        let status = unsafe {
            tessera_fingerprint_of_machine_id(
                case["product"].as_u64().expect("product") as u32,
                raw.as_ptr(),
                raw.len(),
                out.as_mut_ptr(),
            )
        };
        assert_eq!(status, TesseraStatus::Ok);
        assert_eq!(hex(&out), str_of(&case["fingerprint"]));
    }

    let mut out = [0u8; 32];
    let mut error = empty_error();
    // SAFETY: 32 writable bytes and a writable error.
    let status = unsafe { tessera_machine_fingerprint(PRODUCT, out.as_mut_ptr(), &mut error) };
    match tessera_verifier::machine_fingerprint(PRODUCT) {
        Ok(expected) => assert_eq!((status, out), (TesseraStatus::Ok, expected.0)),
        // A machine without an OS id (some containers): the same failure the CLI exits 1 with.
        Err(err) => {
            assert_eq!(status, TesseraStatus::Failure);
            assert_eq!(text_of(&error.message), err.to_string());
        }
    }

    for bad in [c"", c"abc", c"zz"] {
        // SAFETY: C strings and 32 writable bytes.
        let status = unsafe { tessera_fingerprint_from_hex(bad.as_ptr(), out.as_mut_ptr()) };
        assert_eq!(status, TesseraStatus::InvalidArgument);
    }
}

#[test]
fn null_arguments_are_refused_not_followed() {
    let setup = Setup::new();
    let verifier = Handle::new(&[&setup.public_key]);
    let (key, certificate) = (c_string(&setup.key), c_string("tsm1_x"));
    let machine = setup.machine.0;
    let mut activation = MaybeUninit::<TesseraActivation>::uninit();
    let call = |verifier, key, certificate, fingerprint, activation| {
        let mut error = empty_error();
        // SAFETY: each pointer is null or valid.
        let status = unsafe {
            tessera_verify_activated(
                verifier,
                key,
                certificate,
                fingerprint,
                0,
                ptr::null(),
                activation,
                &mut error,
            )
        };
        assert_eq!(error.status, status);
        status
    };
    let out = activation.as_mut_ptr();
    let (k, c, f) = (key.as_ptr(), certificate.as_ptr(), machine.as_ptr());
    for (verifier, key, certificate, fingerprint, out) in [
        (ptr::null(), k, c, f, out),
        (verifier.0.cast_const(), ptr::null(), c, f, out),
        (verifier.0.cast_const(), k, ptr::null(), f, out),
        (verifier.0.cast_const(), k, c, ptr::null(), out),
        (verifier.0.cast_const(), k, c, f, ptr::null_mut()),
    ] {
        let status = call(verifier, key, certificate, fingerprint, out);
        assert_eq!(status, TesseraStatus::InvalidArgument);
    }
    // SAFETY: null arguments are refused before any read or write.
    unsafe {
        assert_eq!(
            tessera_fingerprint_of_machine_id(1, ptr::null(), 4, [0u8; 32].as_mut_ptr()),
            TesseraStatus::InvalidArgument
        );
        assert_eq!(
            tessera_fingerprint_of_machine_id(1, b"x".as_ptr(), 1, ptr::null_mut()),
            TesseraStatus::InvalidArgument
        );
        assert_eq!(
            tessera_machine_fingerprint(1, ptr::null_mut(), ptr::null_mut()),
            TesseraStatus::InvalidArgument
        );
        assert_eq!(
            tessera_fingerprint_from_hex(ptr::null(), [0u8; 32].as_mut_ptr()),
            TesseraStatus::InvalidArgument
        );
    }
}

#[test]
fn the_new_statuses_have_static_messages() {
    for status in 30..=35 {
        // SAFETY: never null, static.
        let message = unsafe { CStr::from_ptr(tessera_status_message(status)) };
        assert_ne!(
            message.to_str().expect("UTF-8"),
            "unknown status",
            "{status}"
        );
    }
}
