//! Golden vectors for machine activation: fingerprints, machine certificates (`tsm1_`) and activation
//! requests (`tsq1_`).
//!
//! `tests/vectors/certificates.json` pins the fingerprint derivation, every byte of a certificate, and
//! what a verifier answers for a licence key checked together with a certificate (`FORMAT.md` sections
//! 14 to 17): each valid case verifies at its `now` with exactly its claims and days of lease left, each
//! invalid one fails with exactly its error, among them cases that fail two checks and so pin their
//! order. `tests/vectors/activation_requests.json` pins the requests' bytes and every decoding error.
//! Made by [`generate_certificates`] and [`generate_requests`]; regenerate with
//! `TESSERA_BLESS=1 cargo test -p tessera-tests vectors`, like the licence vectors.

use base64ct::{Base64UrlUnpadded, Encoding};
use serde::{Deserialize, Serialize};
use tessera_keys::{
    activation_request_text, certificate_text, license_text, ActivationRequest,
    ActivationRequestBuffer, CertificateBuffer, Claims, FeatureSet, Fingerprint, LicenseBuffer,
    LicenseId, MachineClaims, PublicKey, UnixTime, CERTIFICATE_DOMAIN, LICENSE_DOMAIN,
    MAX_ACTIVATION_REQUEST_TEXT_LEN, MAX_CERTIFICATE_TEXT_LEN, MAX_LICENSE_LEN,
    MAX_MACHINE_NAME_LEN, MAX_PLATFORM_LEN, MAX_WIRE_TIME, WIRE_EPOCH,
};
use tessera_verifier::{ActivationBuffers, Verifier};

use crate::key_vectors::decode_error_name;
use crate::vectors::{
    claims_json, compare_or_bless, hex_array, is_false, leb128, load, longest_claims,
    public_key_text, reference_claims, seed_from_hex, sign_raw, signer, trusted_keys,
    verify_error_name, wire_time, ClaimsJson, ISSUED_AT, MAX_LICENSEE, SEED_1, SEED_2, SEED_3,
};

// ---------------------------------------------------------------------------------------------------
// The files' schema.

/// `tests/vectors/certificates.json`.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CertificateVectors {
    about: Vec<String>,
    fingerprints: Vec<FingerprintCase>,
    licenses: Vec<ActivationLicense>,
    valid: Vec<ValidCertificate>,
    invalid: Vec<InvalidCertificate>,
}

/// A machine id and the fingerprint it gives for a product.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FingerprintCase {
    about: String,
    product: u32,
    /// The OS machine id, already trimmed, as UTF-8.
    machine_id: String,
    /// SHA-256 of the fingerprint tag, the product id (u32 LE) and the machine id: 64 hex digits.
    fingerprint: String,
    /// The part a certificate carries: the first 16 bytes, 32 hex digits.
    certified: String,
}

/// A licence key the certificates are checked with.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActivationLicense {
    name: String,
    about: String,
    seed: String,
    public_key: String,
    claims: ClaimsJson,
    text: String,
}

/// Certificate claims as plain JSON.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MachineClaimsJson {
    key_id: u32,
    license_id: String,
    /// 32 hex digits: the certified part of the machine's fingerprint.
    fingerprint: String,
    issued_at: u64,
    lease_ends_at: Option<u64>,
}

/// A certificate that must verify together with `key` on the machine with `fingerprint`.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ValidCertificate {
    name: String,
    about: String,
    /// The certificate signer's seed and public key; its id is `claims.key_id`.
    seed: String,
    public_key: String,
    claims: MachineClaimsJson,
    /// The binary certificate, hex: encoded claims, then the 64-byte signature.
    hex: String,
    text: String,
    /// The licence key text, one of `licenses`.
    key: String,
    /// The verifier's trusted public keys.
    trusted: Vec<String>,
    /// This machine's full fingerprint, 64 hex digits.
    fingerprint: String,
    now: u64,
    last_seen: Option<u64>,
    /// What the verifier reports: whole days from `now` to the lease's end (0 in grace), or null.
    lease_days_left: Option<u64>,
}

/// A key and certificate (or the key alone, if `certificate` is null) that a verifier must refuse.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct InvalidCertificate {
    name: String,
    about: String,
    key: String,
    certificate: Option<String>,
    trusted: Vec<String>,
    fingerprint: String,
    now: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_seen: Option<u64>,
    #[serde(default, skip_serializing_if = "is_false")]
    without_grace: bool,
    /// The error, as `verify_error_name` writes it.
    error: String,
}

/// `tests/vectors/activation_requests.json`.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RequestVectors {
    about: Vec<String>,
    valid: Vec<ValidRequest>,
    invalid: Vec<InvalidRequest>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ValidRequest {
    name: String,
    about: String,
    fingerprint: String,
    /// The binary licence key the request carries, hex.
    license: String,
    machine_name: Option<String>,
    platform: Option<String>,
    hex: String,
    text: String,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct InvalidRequest {
    name: String,
    about: String,
    text: String,
    /// The decoding error, spelled as for key texts (`Malformed(…)`, `UnsupportedVersion{found}`).
    error: String,
}

// ---------------------------------------------------------------------------------------------------
// The licences, machines and times the vectors use.

/// The product the licences are for, and the machine ids (as `/etc/machine-id` holds them).
const PRODUCT: u32 = 1;
const THIS_MACHINE: &str = "b08f2f7c1e6a4d3c9a5e8f0d2c4b6a18";
const OTHER_MACHINE: &str = "6e1d9c3a5b7f40828d2e4f6a1c3b5d79";

const ACTIVATION_ID: LicenseId = LicenseId(hex_array("3f9a5c0e7d21b846"));
const OTHER_ID: LicenseId = LicenseId(hex_array("c4e1b07a9d3f5268"));
const GRACE_SECONDS: u32 = 3 * 86_400;

/// Ten days after the licence: the machine was activated then, with a 30-day lease.
const CERT_ISSUED_AT: UnixTime = UnixTime(ISSUED_AT.0 + 10 * 86_400);
const LEASE_ENDS_AT: UnixTime = UnixTime(CERT_ISSUED_AT.0 + 30 * 86_400);
/// A day into the lease.
const NOW: UnixTime = UnixTime(CERT_ISSUED_AT.0 + 86_400);
const TOLERANCE: u64 = tessera_verifier::DEFAULT_CLOCK_TOLERANCE_SECONDS;

/// The issue's goal for a certificate's length, which even the longest meets.
const _: () = assert!(MAX_CERTIFICATE_TEXT_LEN <= 150);

/// A perpetual licence that requires activation, with three days of grace (which leases get too).
fn activation_claims() -> Claims<'static> {
    Claims {
        key_id: 1,
        license_id: ACTIVATION_ID,
        product: PRODUCT,
        tier: 1,
        issued_at: ISSUED_AT,
        not_before: None,
        expires_at: None,
        grace_seconds: Some(GRACE_SECONDS),
        features: FeatureSet(0b11),
        licensee: None,
        requires_activation: true,
    }
}

fn fingerprint(machine_id: &str) -> Fingerprint {
    Fingerprint::of_machine_id(PRODUCT, machine_id.as_bytes())
}

/// The reference certificate's claims: this machine, the activation licence, a 30-day lease.
fn reference_certificate() -> MachineClaims {
    MachineClaims {
        key_id: 1,
        license_id: ACTIVATION_ID,
        fingerprint: fingerprint(THIS_MACHINE).certified(),
        issued_at: CERT_ISSUED_AT,
        lease_ends_at: Some(LEASE_ENDS_AT),
    }
}

fn sign_certificate(seed: &[u8; 32], claims: &MachineClaims) -> Vec<u8> {
    signer(seed, claims.key_id)
        .sign_machine_certificate_bytes(claims)
        .expect("valid certificate claims")
}

/// The reference certificate, field by field, as `FORMAT.md` section 15 lays it out.
fn certificate_fields() -> Vec<(&'static str, Vec<u8>)> {
    let claims = reference_certificate();
    vec![
        ("version", vec![1]),
        ("key_id", leb128(claims.key_id.into())),
        ("license_id", claims.license_id.0.to_vec()),
        ("fingerprint", claims.fingerprint.to_vec()),
        ("flags", vec![0b0000_0001]),
        ("issued_at", wire_time(claims.issued_at)),
        ("lease_ends_at", wire_time(LEASE_ENDS_AT)),
    ]
}

/// The reference certificate with some fields replaced, signed by key 1 under `domain`.
fn certificate_with(domain: &[u8], changes: &[(&str, &[u8])]) -> String {
    let mut fields = certificate_fields();
    for (name, bytes) in changes {
        let (_, value) = fields
            .iter_mut()
            .find(|(field, _)| field == name)
            .expect("a certificate field");
        *value = bytes.to_vec();
    }
    let payload: Vec<u8> = fields.into_iter().flat_map(|(_, bytes)| bytes).collect();
    certificate_text(&sign_raw(&SEED_1, domain, &payload))
}

fn machine_claims_json(claims: &MachineClaims) -> MachineClaimsJson {
    MachineClaimsJson {
        key_id: claims.key_id,
        license_id: claims.license_id.to_string(),
        fingerprint: hex::encode(claims.fingerprint),
        issued_at: claims.issued_at.0,
        lease_ends_at: claims.lease_ends_at.map(|time| time.0),
    }
}

impl MachineClaimsJson {
    fn to_claims(&self) -> MachineClaims {
        MachineClaims {
            key_id: self.key_id,
            license_id: LicenseId::from_hex(&self.license_id).expect("16 hex digits"),
            fingerprint: hex::decode(&self.fingerprint)
                .expect("hex")
                .try_into()
                .expect("16 bytes"),
            issued_at: UnixTime(self.issued_at),
            lease_ends_at: self.lease_ends_at.map(UnixTime),
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// The generators.

fn activation_license(name: &str, about: &str, claims: Claims<'_>) -> ActivationLicense {
    ActivationLicense {
        name: name.into(),
        about: about.into(),
        seed: hex::encode(SEED_1),
        public_key: public_key_text(&SEED_1, claims.key_id),
        claims: claims_json(&claims),
        text: signer(&SEED_1, claims.key_id)
            .sign_license(&claims)
            .expect("sign"),
    }
}

struct Valid<'a> {
    name: &'a str,
    about: &'a str,
    seed: &'a [u8; 32],
    claims: MachineClaims,
    now: UnixTime,
    last_seen: Option<UnixTime>,
    lease_days_left: Option<u64>,
}

/// Builds the certificate vectors from scratch.
pub(crate) fn generate_certificates() -> CertificateVectors {
    let fingerprints = vec![
        FingerprintCase {
            about: "This machine, product 1: the fingerprint the certificates below are for.".into(),
            product: PRODUCT,
            machine_id: THIS_MACHINE.into(),
            fingerprint: fingerprint(THIS_MACHINE).to_hex().to_string(),
            certified: hex::encode(fingerprint(THIS_MACHINE).certified()),
        },
        FingerprintCase {
            about: "The same machine in product 2: another fingerprint.".into(),
            product: 2,
            machine_id: THIS_MACHINE.into(),
            fingerprint: Fingerprint::of_machine_id(2, THIS_MACHINE.as_bytes())
                .to_hex()
                .to_string(),
            certified: hex::encode(
                Fingerprint::of_machine_id(2, THIS_MACHINE.as_bytes()).certified(),
            ),
        },
        FingerprintCase {
            about: "Another machine, product 1.".into(),
            product: PRODUCT,
            machine_id: OTHER_MACHINE.into(),
            fingerprint: fingerprint(OTHER_MACHINE).to_hex().to_string(),
            certified: hex::encode(fingerprint(OTHER_MACHINE).certified()),
        },
        FingerprintCase {
            about: "A macOS IOPlatformUUID, product 4294967295 (the product id is 4 bytes, little-endian)."
                .into(),
            product: u32::MAX,
            machine_id: "5E3F1C2A-7B9D-4E60-8A1F-2C3D4E5F6A7B".into(),
            fingerprint: Fingerprint::of_machine_id(
                u32::MAX,
                b"5E3F1C2A-7B9D-4E60-8A1F-2C3D4E5F6A7B",
            )
            .to_hex()
            .to_string(),
            certified: hex::encode(
                Fingerprint::of_machine_id(u32::MAX, b"5E3F1C2A-7B9D-4E60-8A1F-2C3D4E5F6A7B")
                    .certified(),
            ),
        },
    ];

    let expiring = Claims {
        expires_at: Some(UnixTime(NOW.0 - 10)),
        grace_seconds: None,
        ..activation_claims()
    };
    let licenses = vec![
        activation_license(
            "activation",
            "A perpetual licence that requires activation (flag bit 4), with 3 days of grace.",
            activation_claims(),
        ),
        activation_license(
            "other",
            "The same, with another licence id.",
            Claims {
                license_id: OTHER_ID,
                ..activation_claims()
            },
        ),
        activation_license(
            "expired",
            "The activation licence's id, expired 10 s before the vectors' usual `now`, no grace.",
            expiring,
        ),
        activation_license(
            "plain",
            "The reference licence of licences.json: it does not require activation.",
            reference_claims(),
        ),
    ];
    let key = licenses[0].text.clone();
    let key_1 = public_key_text(&SEED_1, 1);
    let this_machine = fingerprint(THIS_MACHINE).to_hex().to_string();

    let valid = [
        Valid {
            name: "reference",
            about: "A 30-day lease, a day in; the app last saw the clock an hour earlier.",
            seed: &SEED_1,
            claims: reference_certificate(),
            now: NOW,
            last_seen: Some(UnixTime(NOW.0 - 3600)),
            lease_days_left: Some(29),
        },
        Valid {
            name: "no_lease",
            about: "No lease: the certificate lasts as long as the licence; checked a year on.",
            seed: &SEED_1,
            claims: MachineClaims {
                lease_ends_at: None,
                ..reference_certificate()
            },
            now: UnixTime(CERT_ISSUED_AT.0 + 365 * 86_400),
            last_seen: None,
            lease_days_left: None,
        },
        Valid {
            name: "lease_in_grace",
            about: "A day after the lease ended, within the licence's 3 days of grace: valid, 0 days left.",
            seed: &SEED_1,
            claims: reference_certificate(),
            now: UnixTime(LEASE_ENDS_AT.0 + 86_400),
            last_seen: None,
            lease_days_left: Some(0),
        },
        Valid {
            name: "last_grace_second",
            about: "The last second of grace after the lease.",
            seed: &SEED_1,
            claims: reference_certificate(),
            now: UnixTime(LEASE_ENDS_AT.0 + u64::from(GRACE_SECONDS) - 1),
            last_seen: None,
            lease_days_left: Some(0),
        },
        Valid {
            name: "issued_within_tolerance",
            about: "The clock reads exactly the tolerance (3600 s) before the certificate's issued-at.",
            seed: &SEED_1,
            claims: reference_certificate(),
            now: UnixTime(CERT_ISSUED_AT.0 - TOLERANCE),
            last_seen: None,
            lease_days_left: Some(30),
        },
        Valid {
            name: "clock_back_within_tolerance",
            about: "The clock reads exactly the tolerance (3600 s) before the last-seen time.",
            seed: &SEED_1,
            claims: reference_certificate(),
            now: NOW,
            last_seen: Some(UnixTime(NOW.0 + TOLERANCE)),
            lease_days_left: Some(29),
        },
        Valid {
            name: "second_key",
            about: "Signed by key 2 while the licence is signed by key 1: any trusted key may sign either.",
            seed: &SEED_2,
            claims: MachineClaims {
                key_id: 2,
                ..reference_certificate()
            },
            now: NOW,
            last_seen: None,
            lease_days_left: Some(29),
        },
        Valid {
            name: "longest",
            about: "Every field at its longest encoding: key id 2^32 - 1, the last two wire times.",
            seed: &SEED_2,
            claims: MachineClaims {
                key_id: u32::MAX,
                fingerprint: [0xff; 16],
                issued_at: UnixTime(MAX_WIRE_TIME.0 - 1),
                lease_ends_at: Some(MAX_WIRE_TIME),
                ..reference_certificate()
            },
            now: UnixTime(MAX_WIRE_TIME.0 - 1),
            last_seen: None,
            lease_days_left: Some(0),
        },
        Valid {
            name: "smallest",
            about: "Key id 0, all-zero fingerprint, issued at the wire epoch, no lease.",
            seed: &SEED_2,
            claims: MachineClaims {
                key_id: 0,
                fingerprint: [0; 16],
                issued_at: WIRE_EPOCH,
                lease_ends_at: None,
                ..reference_certificate()
            },
            now: NOW,
            last_seen: None,
            lease_days_left: None,
        },
    ]
    .into_iter()
    .map(|case| {
        let bytes = sign_certificate(case.seed, &case.claims);
        let public_key = public_key_text(case.seed, case.claims.key_id);
        // A certificate whose fingerprint is not a real one's is checked against a made-up fingerprint
        // that starts with the same 16 bytes.
        let machine = if case.claims.fingerprint == fingerprint(THIS_MACHINE).certified() {
            this_machine.clone()
        } else {
            hex::encode([&case.claims.fingerprint[..], &[0x5a; 16]].concat())
        };
        let mut trusted = vec![key_1.clone()];
        if public_key != key_1 {
            trusted.push(public_key.clone());
        }
        ValidCertificate {
            name: case.name.into(),
            about: case.about.into(),
            seed: hex::encode(case.seed),
            public_key,
            claims: machine_claims_json(&case.claims),
            hex: hex::encode(&bytes),
            text: certificate_text(&bytes),
            key: key.clone(),
            trusted,
            fingerprint: machine,
            now: case.now.0,
            last_seen: case.last_seen.map(|time| time.0),
            lease_days_left: case.lease_days_left,
        }
    })
    .collect::<Vec<_>>();

    let reference = valid[0].text.clone();
    let reference_bytes = hex::decode(&valid[0].hex).expect("hex");
    let body = reference.strip_prefix("tsm1_").expect("prefix");
    let sign = |claims: MachineClaims| certificate_text(&sign_certificate(&SEED_1, &claims));
    let mut flipped = reference_bytes.clone();
    *flipped.last_mut().expect("non-empty") ^= 1;
    let flipped = certificate_text(&flipped);
    let mut extended = reference_bytes.clone();
    let lease_at = reference_bytes.len() - 64 - 4;
    assert_eq!(
        &extended[lease_at..lease_at + 4],
        &wire_time(LEASE_ENDS_AT)[..]
    );
    let a_year_later = wire_time(UnixTime(LEASE_ENDS_AT.0 + 365 * 86_400));
    extended[lease_at..lease_at + 4].copy_from_slice(&a_year_later);
    let other_machine = fingerprint(OTHER_MACHINE).to_hex().to_string();
    let other_product = Fingerprint::of_machine_id(2, THIS_MACHINE.as_bytes())
        .to_hex()
        .to_string();
    let for_other_licence = sign(MachineClaims {
        license_id: OTHER_ID,
        ..reference_certificate()
    });

    let case =
        |name: &str, about: &str, certificate: Option<String>, error: &str| InvalidCertificate {
            name: name.into(),
            about: about.into(),
            key: key.clone(),
            certificate,
            trusted: vec![key_1.clone()],
            fingerprint: this_machine.clone(),
            now: NOW.0,
            last_seen: None,
            without_grace: false,
            error: error.into(),
        };
    let cert = |text: &str| Some(text.to_string());
    let invalid = vec![
        case(
            "key_alone",
            "A licence that requires activation, checked without a certificate (Verifier::verify).",
            None,
            "ActivationRequired",
        ),
        case(
            "empty",
            "An empty certificate.",
            cert(""),
            "MalformedCertificate(Empty)",
        ),
        case(
            "licence_as_certificate",
            "The licence key pasted where the certificate belongs.",
            Some(key.clone()),
            "MalformedCertificate(WrongPrefix)",
        ),
        InvalidCertificate {
            key: reference.clone(),
            ..case(
                "certificate_as_licence",
                "The certificate pasted where the key belongs.",
                cert(&reference),
                "Malformed(WrongPrefix)",
            )
        },
        case(
            "prefix_version_2",
            "A `tsm2_` certificate: a newer format.",
            Some(format!("tsm2_{body}")),
            "UnsupportedCertificateVersion{found:2}",
        ),
        case(
            "version_byte_2",
            "A `tsm1_` prefix over claims whose version byte is 2, correctly signed.",
            Some(certificate_with(CERTIFICATE_DOMAIN, &[("version", &[2])])),
            "MalformedCertificate(InvalidField(version))",
        ),
        case(
            "base64_lone_character",
            "One character more: a lone final character carries no whole byte.",
            Some(format!("{reference}A")),
            "MalformedCertificate(Base64)",
        ),
        case(
            "base64_standard_alphabet",
            "`/` belongs to standard base64, not base64url.",
            Some(format!("tsm1_/{}", &body[1..])),
            "MalformedCertificate(Base64)",
        ),
        case(
            "too_long",
            "More bytes than the longest certificate (105).",
            Some(format!("tsm1_{}", "A".repeat(MAX_CERTIFICATE_TEXT_LEN))),
            "MalformedCertificate(TooLong)",
        ),
        case(
            "truncated",
            "The last byte of the signature missing.",
            Some(certificate_text(&reference_bytes[..reference_bytes.len() - 1])),
            "MalformedCertificate(Truncated)",
        ),
        case(
            "truncated_claims",
            "Only the first 20 bytes: the fingerprint is cut short.",
            Some(certificate_text(&reference_bytes[..20])),
            "MalformedCertificate(Truncated)",
        ),
        case(
            "trailing_byte",
            "One byte after the signature.",
            Some(certificate_text(&[&reference_bytes[..], &[0]].concat())),
            "MalformedCertificate(TrailingBytes)",
        ),
        case(
            "unknown_flag_bit",
            "Flag bit 1 is not defined, correctly signed.",
            Some(certificate_with(CERTIFICATE_DOMAIN, &[("flags", &[0b0000_0011])])),
            "MalformedCertificate(InvalidField(flags))",
        ),
        case(
            "issued_at_varint_overlong",
            "The issued-at in 5 bytes instead of 4 (a last byte of 00), correctly signed.",
            Some(certificate_with(
                CERTIFICATE_DOMAIN,
                &[("issued_at", &[&wire_time(CERT_ISSUED_AT)[..3], &[0x80 | wire_time(CERT_ISSUED_AT)[3], 0x00]].concat())],
            )),
            "MalformedCertificate(InvalidField(issued_at))",
        ),
        case(
            "unknown_key_id",
            "Signed by key 2, which this verifier does not trust.",
            Some(valid[6].text.clone()),
            "UnknownKeyId{key_id:2}",
        ),
        case(
            "signature_bit_flipped",
            "The last bit of the signature flipped.",
            Some(flipped.clone()),
            "BadCertificateSignature",
        ),
        case(
            "lease_extended",
            "The lease end moved a year later after signing.",
            Some(certificate_text(&extended)),
            "BadCertificateSignature",
        ),
        case(
            "impostor_key",
            "Signed by another key (RFC 8032 key 3) that calls itself key 1.",
            Some(certificate_text(&sign_certificate(&SEED_3, &reference_certificate()))),
            "BadCertificateSignature",
        ),
        case(
            "licence_domain",
            "The certificate's claims signed under the licence domain tag.",
            Some(certificate_with(LICENSE_DOMAIN, &[])),
            "BadCertificateSignature",
        ),
        case(
            "another_licence",
            "A genuine certificate for this machine, but for another licence.",
            Some(for_other_licence.clone()),
            "CertificateForAnotherLicense{certified:c4e1b07a9d3f5268,license_id:3f9a5c0e7d21b846}",
        ),
        InvalidCertificate {
            fingerprint: other_machine.clone(),
            ..case(
                "another_machine",
                "The reference certificate copied to another machine.",
                cert(&reference),
                "CertificateForAnotherMachine",
            )
        },
        InvalidCertificate {
            fingerprint: other_product,
            ..case(
                "another_product",
                "This machine's fingerprint for product 2: fingerprints differ per product.",
                cert(&reference),
                "CertificateForAnotherMachine",
            )
        },
        InvalidCertificate {
            now: LEASE_ENDS_AT.0 + u64::from(GRACE_SECONDS),
            ..case(
                "lease_over",
                "At the end of the 3 days of grace after the lease.",
                cert(&reference),
                "LeaseExpired{lease_ended_at:1793456000}",
            )
        },
        InvalidCertificate {
            key: licenses[3].text.clone(),
            now: LEASE_ENDS_AT.0,
            ..case(
                "lease_over_no_grace",
                "A licence without grace (it does not require activation, but has a certificate): at the lease end itself.",
                Some(sign(MachineClaims {
                    license_id: reference_claims().license_id,
                    ..reference_certificate()
                })),
                "LeaseExpired{lease_ended_at:1793456000}",
            )
        },
        InvalidCertificate {
            now: LEASE_ENDS_AT.0 + 86_400,
            without_grace: true,
            ..case(
                "lease_in_grace_not_honoured",
                "Within the licence's grace after the lease, by a verifier told not to honour grace.",
                cert(&reference),
                "LeaseExpired{lease_ended_at:1793456000}",
            )
        },
        InvalidCertificate {
            now: CERT_ISSUED_AT.0 - TOLERANCE - 1,
            ..case(
                "issued_after_now",
                "The clock reads 3601 s before the certificate's issued-at: it was turned back.",
                cert(&reference),
                "NotYetValid{not_before:1790864000}",
            )
        },
        InvalidCertificate {
            last_seen: Some(NOW.0 + TOLERANCE + 1),
            ..case(
                "clock_rolled_back",
                "The clock reads 3601 s before the time the app saw last.",
                cert(&reference),
                "ClockRolledBack{last_seen:1790954001}",
            )
        },
        InvalidCertificate {
            key: licenses[2].text.clone(),
            ..case(
                "licence_expired",
                "A good certificate does not save an expired licence.",
                cert(&reference),
                "Expired{expired_at:1790950390,in_grace:false}",
            )
        },
        // The order of checks: each case fails two of them, and must report the earlier one.
        InvalidCertificate {
            key: "ts1_!".into(),
            last_seen: Some(NOW.0 + TOLERANCE + 1),
            ..case(
                "order_clock_before_key",
                "A clock turned back and a broken key: the clock is checked first.",
                cert(&reference),
                "ClockRolledBack{last_seen:1790954001}",
            )
        },
        InvalidCertificate {
            key: licenses[2].text.clone(),
            ..case(
                "order_key_before_certificate",
                "An expired licence and a certificate with a bad signature: the licence is checked first.",
                Some(flipped.clone()),
                "Expired{expired_at:1790950390,in_grace:false}",
            )
        },
        case(
            "order_signature_before_licence",
            "A certificate for another licence with a bad signature.",
            Some({
                let mut bytes = sign_certificate(&SEED_1, &MachineClaims {
                    license_id: OTHER_ID,
                    ..reference_certificate()
                });
                *bytes.last_mut().expect("non-empty") ^= 1;
                certificate_text(&bytes)
            }),
            "BadCertificateSignature",
        ),
        InvalidCertificate {
            fingerprint: other_machine.clone(),
            ..case(
                "order_licence_before_machine",
                "A certificate for another licence, checked on another machine.",
                Some(for_other_licence),
                "CertificateForAnotherLicense{certified:c4e1b07a9d3f5268,license_id:3f9a5c0e7d21b846}",
            )
        },
        InvalidCertificate {
            fingerprint: other_machine,
            now: LEASE_ENDS_AT.0 + u64::from(GRACE_SECONDS),
            ..case(
                "order_machine_before_lease",
                "Another machine's certificate whose lease is over.",
                cert(&reference),
                "CertificateForAnotherMachine",
            )
        },
        InvalidCertificate {
            now: CERT_ISSUED_AT.0 - TOLERANCE - 1,
            ..case(
                "order_issued_before_lease",
                "A certificate whose lease ended before it was issued, checked before both.",
                Some(sign(MachineClaims {
                    lease_ends_at: Some(UnixTime(CERT_ISSUED_AT.0 - 2 * TOLERANCE)),
                    ..reference_certificate()
                })),
                "NotYetValid{not_before:1790864000}",
            )
        },
    ];
    CertificateVectors {
        about: [
            "Tessera machine activation vectors: fingerprints and machine certificates, format version 1 (tsm1_).",
            "FORMAT.md sections 14 to 17 specify them.",
            "fingerprints: SHA-256(\"tessera-fingerprint-v1\\0\" || product as u32 little-endian || machine_id)",
            "  is `fingerprint`; a certificate carries its first 16 bytes, `certified`.",
            "licenses: the licence keys the certificates are checked with (claims as in licenses.json, plus",
            "  requires_activation, flag bit 4, when set).",
            "valid: signing `claims` with `seed` gives exactly `hex` and `text`; a verifier that trusts `trusted`",
            "  accepts licence `key` with `text` on the machine whose full fingerprint is `fingerprint`, at `now`,",
            "  with the app's `last_seen` time, and reports `lease_days_left`. Clock tolerance: 3600 s.",
            "invalid: the same verifier (not honouring grace if `without_grace`) refuses `key` with `certificate`",
            "  (or, if it is null, the key alone) with exactly `error`. Cases named order_* fail two checks.",
            "Regenerate (after a deliberate format change only): TESSERA_BLESS=1 cargo test -p tessera-tests vectors",
        ]
        .map(String::from)
        .to_vec(),
        fingerprints,
        licenses,
        valid,
        invalid,
    }
}

/// The reference request's fields, by hand: version, flags, fingerprint, licence (length, bytes),
/// then name and platform as given.
fn raw_request(version: u8, flags: u8, license: &[u8], tail: &[u8]) -> String {
    let mut bytes = vec![version, flags];
    bytes.extend(fingerprint(THIS_MACHINE).0);
    bytes.extend(leb128(license.len() as u64));
    bytes.extend(license);
    bytes.extend(tail);
    request_text(&bytes)
}

fn request_text(bytes: &[u8]) -> String {
    format!("tsq1_{}", Base64UrlUnpadded::encode_string(bytes))
}

fn valid_request(
    name: &str,
    about: &str,
    license: &[u8],
    machine_name: Option<&str>,
    platform: Option<&str>,
) -> ValidRequest {
    let request = ActivationRequest {
        fingerprint: fingerprint(THIS_MACHINE),
        license,
        name: machine_name,
        platform,
    };
    let mut buf = [0u8; tessera_keys::MAX_ACTIVATION_REQUEST_LEN];
    let bytes = request.encode(&mut buf).expect("valid request").to_vec();
    ValidRequest {
        name: name.into(),
        about: about.into(),
        fingerprint: fingerprint(THIS_MACHINE).to_hex().to_string(),
        license: hex::encode(license),
        machine_name: machine_name.map(String::from),
        platform: platform.map(String::from),
        hex: hex::encode(&bytes),
        text: activation_request_text(&request).expect("valid request"),
    }
}

/// Builds the activation-request vectors from scratch.
pub(crate) fn generate_requests() -> RequestVectors {
    let license = signer(&SEED_1, 1)
        .sign_license_bytes(&activation_claims())
        .expect("sign");
    let longest_license = signer(&SEED_1, u32::MAX)
        .sign_license_bytes(&longest_claims())
        .expect("sign");
    assert_eq!(longest_license.len(), MAX_LICENSE_LEN);
    let platform_32 = "linux-x86_64-gnu-glibc-2.39-kvm0";
    assert_eq!(platform_32.len(), MAX_PLATFORM_LEN);
    assert_eq!(MAX_LICENSEE.len(), MAX_MACHINE_NAME_LEN);
    let valid = vec![
        valid_request(
            "reference",
            "The activation licence of certificates.json on this machine, with a name and a platform.",
            &license,
            Some("Ada's laptop"),
            Some("linux-x86_64"),
        ),
        valid_request(
            "bare",
            "No name, no platform.",
            &license,
            None,
            None,
        ),
        valid_request(
            "platform_only",
            "A platform but no name: flag bit 1 alone.",
            &license,
            None,
            Some("windows-aarch64"),
        ),
        valid_request(
            "longest",
            "The longest licence (180 bytes), a 64-byte name and a 32-byte platform: the longest request.",
            &longest_license,
            Some(MAX_LICENSEE),
            Some(platform_32),
        ),
    ];
    let reference = valid[0].text.clone();
    let reference_bytes = hex::decode(&valid[0].hex).expect("hex");
    let body = reference.strip_prefix("tsq1_").expect("prefix");
    let named = |name: &[u8]| [&leb128(name.len() as u64)[..], name].concat();
    let invalid_request = |name: &str, about: &str, text: String, error: &str| InvalidRequest {
        name: name.into(),
        about: about.into(),
        text,
        error: error.into(),
    };
    let invalid = vec![
        invalid_request("empty", "Nothing.", String::new(), "Malformed(Empty)"),
        invalid_request(
            "licence_as_request",
            "A licence key where a request belongs.",
            license_text(&license),
            "Malformed(WrongPrefix)",
        ),
        invalid_request(
            "prefix_version_2",
            "A `tsq2_` request.",
            format!("tsq2_{body}"),
            "UnsupportedVersion{found:2}",
        ),
        invalid_request(
            "version_byte_2",
            "A `tsq1_` prefix over a version byte 2.",
            raw_request(2, 0, &license, &[]),
            "Malformed(InvalidField(version))",
        ),
        invalid_request(
            "unknown_flag_bit",
            "Flag bit 2 is not defined.",
            raw_request(1, 0b100, &license, &[]),
            "Malformed(InvalidField(flags))",
        ),
        invalid_request(
            "base64_standard_alphabet",
            "`+` belongs to standard base64, not base64url.",
            format!("tsq1_+{}", &body[1..]),
            "Malformed(Base64)",
        ),
        invalid_request(
            "too_long",
            "More bytes than the longest request.",
            format!("tsq1_{}", "A".repeat(MAX_ACTIVATION_REQUEST_TEXT_LEN)),
            "Malformed(TooLong)",
        ),
        invalid_request(
            "truncated_fingerprint",
            "The fingerprint cut short.",
            request_text(&reference_bytes[..20]),
            "Malformed(Truncated)",
        ),
        invalid_request(
            "license_empty",
            "A licence of length 0.",
            raw_request(1, 0, &[], &[]),
            "Malformed(InvalidField(license))",
        ),
        invalid_request(
            "license_too_long",
            "A licence of 181 bytes, one more than the longest.",
            raw_request(1, 0, &[0; MAX_LICENSE_LEN + 1], &[]),
            "Malformed(InvalidField(license))",
        ),
        invalid_request(
            "license_length_overlong",
            "The licence length as a 2-byte varint ending in 00.",
            {
                let mut bytes = vec![1, 0];
                bytes.extend(fingerprint(THIS_MACHINE).0);
                bytes.extend([0x80 | license.len() as u8, 0x00]);
                bytes.extend(&license);
                request_text(&bytes)
            },
            "Malformed(InvalidField(license))",
        ),
        invalid_request(
            "license_overruns",
            "A licence length larger than what follows.",
            request_text(&reference_bytes[..34 + 1 + 40]),
            "Malformed(Truncated)",
        ),
        invalid_request(
            "name_empty",
            "The name flag with a zero-length name.",
            raw_request(1, 0b01, &license, &named(b"")),
            "Malformed(InvalidField(name))",
        ),
        invalid_request(
            "name_too_long",
            "A name of 65 bytes.",
            raw_request(1, 0b01, &license, &named(&[b'n'; MAX_MACHINE_NAME_LEN + 1])),
            "Malformed(InvalidField(name))",
        ),
        invalid_request(
            "name_not_utf8",
            "A name that is not UTF-8.",
            raw_request(1, 0b01, &license, &named(&[0xc3, 0x28])),
            "Malformed(InvalidField(name))",
        ),
        invalid_request(
            "platform_too_long",
            "A platform of 33 bytes.",
            raw_request(1, 0b10, &license, &named(&[b'p'; MAX_PLATFORM_LEN + 1])),
            "Malformed(InvalidField(platform))",
        ),
        invalid_request(
            "name_missing",
            "The name flag set, but the request ends after the licence.",
            raw_request(1, 0b01, &license, &[]),
            "Malformed(Truncated)",
        ),
        invalid_request(
            "trailing_byte",
            "A byte after the last field.",
            request_text(&[&reference_bytes[..], &[0]].concat()),
            "Malformed(TrailingBytes)",
        ),
    ];
    RequestVectors {
        about: [
            "Tessera activation request vectors, format version 1 (tsq1_). FORMAT.md section 16 specifies them.",
            "A request is not signed: it carries the licence key (binary, `license`) as its credential.",
            "valid: encoding the fingerprint (64 hex digits), licence, machine_name and platform gives exactly",
            "  `hex` and `text`, which decode back to them.",
            "invalid: decoding `text` fails with exactly `error`.",
            "Regenerate (after a deliberate format change only): TESSERA_BLESS=1 cargo test -p tessera-tests vectors",
        ]
        .map(String::from)
        .to_vec(),
        valid,
        invalid,
    }
}

// ---------------------------------------------------------------------------------------------------
// The checks.

fn verifier_for<'k>(trusted: &'k [PublicKey], without_grace: bool) -> Verifier<'k> {
    let verifier = Verifier::new(trusted).expect("verifier");
    if without_grace {
        verifier.without_grace()
    } else {
        verifier
    }
}

#[test]
fn certificate_vectors_are_up_to_date() {
    compare_or_bless("certificates.json", &generate_certificates());
}

#[test]
fn request_vectors_are_up_to_date() {
    compare_or_bless("activation_requests.json", &generate_requests());
}

#[test]
fn fingerprint_vectors_rederive() {
    let vectors: CertificateVectors = load("certificates.json");
    for case in &vectors.fingerprints {
        // By hand from FORMAT.md section 14, not through the library.
        use sha2::{Digest, Sha256};
        let by_hand: [u8; 32] = Sha256::new()
            .chain_update(b"tessera-fingerprint-v1\0")
            .chain_update(case.product.to_le_bytes())
            .chain_update(case.machine_id.as_bytes())
            .finalize()
            .into();
        assert_eq!(hex::encode(by_hand), case.fingerprint, "{}", case.about);
        let fingerprint = Fingerprint::of_machine_id(case.product, case.machine_id.as_bytes());
        assert_eq!(fingerprint.to_hex().as_str(), case.fingerprint);
        assert_eq!(hex::encode(fingerprint.certified()), case.certified);
        assert_eq!(Fingerprint::from_hex(&case.fingerprint), Some(fingerprint));
    }
}

#[test]
fn activation_licences_rederive() {
    let vectors: CertificateVectors = load("certificates.json");
    for case in &vectors.licenses {
        let claims = case.claims.to_claims();
        let key = signer(&seed_from_hex(&case.seed), claims.key_id);
        assert_eq!(
            key.public_key().to_string(),
            case.public_key,
            "{}",
            case.name
        );
        assert_eq!(
            key.sign_license(&claims).expect("sign"),
            case.text,
            "{}",
            case.name
        );
        let mut buf = LicenseBuffer::new();
        let decoded = buf.decode_text(&case.text).expect("decodes");
        assert_eq!(decoded.claims, claims, "{}", case.name);
    }
    assert!(vectors.licenses[0].claims.to_claims().requires_activation);
}

#[test]
fn valid_certificate_vectors_rederive() {
    let vectors: CertificateVectors = load("certificates.json");
    assert!(vectors.valid.len() >= 8);
    for case in &vectors.valid {
        let name = &case.name;
        let claims = case.claims.to_claims();
        let seed = seed_from_hex(&case.seed);
        assert_eq!(
            public_key_text(&seed, claims.key_id),
            case.public_key,
            "{name}"
        );
        let bytes = sign_certificate(&seed, &claims);
        assert_eq!(hex::encode(&bytes), case.hex, "{name}: bytes");
        assert_eq!(
            signer(&seed, claims.key_id)
                .sign_machine_certificate(&claims)
                .expect("sign"),
            case.text,
            "{name}: text"
        );
        assert!(case.text.len() <= MAX_CERTIFICATE_TEXT_LEN, "{name}");

        let mut buf = CertificateBuffer::new();
        let decoded = buf.decode_text(&case.text).expect("decodes");
        assert_eq!(decoded.claims, claims, "{name}: decoded claims");
        assert_eq!(
            &decoded.signed_message[..CERTIFICATE_DOMAIN.len()],
            CERTIFICATE_DOMAIN
        );

        let trusted = trusted_keys(&case.trusted);
        let verifier = verifier_for(&trusted, false);
        let fingerprint = Fingerprint::from_hex(&case.fingerprint).expect("fingerprint hex");
        let mut bufs = ActivationBuffers::new();
        let activated = verifier
            .verify_activated(
                &case.key,
                &case.text,
                &fingerprint,
                UnixTime(case.now),
                case.last_seen.map(UnixTime),
                &mut bufs,
            )
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(*activated.certificate(), claims, "{name}");
        assert_eq!(activated.lease_days_left(), case.lease_days_left, "{name}");
        let licence = vectors
            .licenses
            .iter()
            .find(|licence| licence.text == case.key)
            .expect("one of the licences");
        assert_eq!(
            *activated.license().claims(),
            licence.claims.to_claims(),
            "{name}"
        );
    }
}

#[test]
fn invalid_certificate_vectors_fail_exactly() {
    let vectors: CertificateVectors = load("certificates.json");
    for case in &vectors.invalid {
        let name = &case.name;
        let trusted = trusted_keys(&case.trusted);
        let verifier = verifier_for(&trusted, case.without_grace);
        let now = UnixTime(case.now);
        let error = match &case.certificate {
            None => {
                let mut buf = LicenseBuffer::new();
                verifier
                    .check_clock(now, case.last_seen.map(UnixTime))
                    .and_then(|()| verifier.verify(&case.key, now, &mut buf).map(|_| ()))
                    .err()
            }
            Some(certificate) => {
                let fingerprint = Fingerprint::from_hex(&case.fingerprint).expect("hex");
                let mut bufs = ActivationBuffers::new();
                verifier
                    .verify_activated(
                        &case.key,
                        certificate,
                        &fingerprint,
                        now,
                        case.last_seen.map(UnixTime),
                        &mut bufs,
                    )
                    .map(|activated| *activated.certificate())
                    .err()
            }
        };
        match error {
            None => panic!("{name}: accepted"),
            Some(err) => assert_eq!(verify_error_name(&err), case.error, "{name}"),
        }
    }
}

#[test]
fn every_certificate_error_class_has_a_vector() {
    let vectors: CertificateVectors = load("certificates.json");
    for class in [
        "ActivationRequired",
        "MalformedCertificate(Empty)",
        "MalformedCertificate(WrongPrefix)",
        "MalformedCertificate(TooLong)",
        "MalformedCertificate(Base64)",
        "MalformedCertificate(Truncated)",
        "MalformedCertificate(TrailingBytes)",
        "MalformedCertificate(InvalidField(",
        "UnsupportedCertificateVersion",
        "UnknownKeyId",
        "BadCertificateSignature",
        "CertificateForAnotherLicense",
        "CertificateForAnotherMachine",
        "LeaseExpired",
        "NotYetValid",
        "ClockRolledBack",
    ] {
        assert!(
            vectors
                .invalid
                .iter()
                .any(|case| case.error.starts_with(class)),
            "no certificate vector for {class}"
        );
    }
}

/// The layout `FORMAT.md` section 15 describes, rebuilt by hand, is exactly what the library encodes;
/// and the reference certificate is as short as the issue asks (at most 150 characters).
#[test]
fn hand_built_certificate_matches_the_library() {
    let by_hand: Vec<u8> = certificate_fields()
        .into_iter()
        .flat_map(|(_, bytes)| bytes)
        .collect();
    let mut buf = [0u8; tessera_keys::MAX_MACHINE_CLAIMS_LEN];
    let encoded = reference_certificate().encode(&mut buf).expect("encodes");
    assert_eq!(encoded, &by_hand[..]);

    let vectors: CertificateVectors = load("certificates.json");
    let reference = &vectors.valid[0];
    assert_eq!(reference.name, "reference");
    assert_eq!(reference.hex.len() / 2, 99, "bytes");
    assert_eq!(reference.text.len(), 137, "characters");
    let longest = vectors
        .valid
        .iter()
        .find(|case| case.name == "longest")
        .expect("longest");
    assert_eq!(longest.text.len(), MAX_CERTIFICATE_TEXT_LEN);
}

/// `FORMAT.md` shows the reference certificate and its fingerprint.
#[test]
fn format_md_shows_the_reference_certificate() {
    let vectors: CertificateVectors = load("certificates.json");
    let format_md = std::fs::read_to_string(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../FORMAT.md"),
    )
    .expect("read FORMAT.md");
    for (what, expected) in [
        ("certificate text", vectors.valid[0].text.as_str()),
        ("certificate hex", vectors.valid[0].hex.as_str()),
        ("fingerprint", vectors.fingerprints[0].fingerprint.as_str()),
    ] {
        assert!(
            format_md.contains(expected),
            "FORMAT.md does not contain the reference {what}; expected:\n{expected}"
        );
    }
}

#[test]
fn valid_request_vectors_rederive() {
    let vectors: RequestVectors = load("activation_requests.json");
    for case in &vectors.valid {
        let name = &case.name;
        let license = hex::decode(&case.license).expect("hex");
        let request = ActivationRequest {
            fingerprint: Fingerprint::from_hex(&case.fingerprint).expect("fingerprint"),
            license: &license,
            name: case.machine_name.as_deref(),
            platform: case.platform.as_deref(),
        };
        let mut buf = [0u8; tessera_keys::MAX_ACTIVATION_REQUEST_LEN];
        assert_eq!(
            hex::encode(request.encode(&mut buf).expect("encodes")),
            case.hex,
            "{name}"
        );
        assert_eq!(
            activation_request_text(&request).expect("encodes"),
            case.text,
            "{name}"
        );
        assert!(case.text.len() <= MAX_ACTIVATION_REQUEST_TEXT_LEN, "{name}");
        let mut buf = ActivationRequestBuffer::new();
        assert_eq!(
            buf.decode_text(&case.text).expect("decodes"),
            request,
            "{name}"
        );
    }
    // The reference request's licence is the activation licence, and verifies as a credential.
    let licence = hex::decode(&vectors.valid[0].license).expect("hex");
    let trusted = [PublicKey::from_text(&public_key_text(&SEED_1, 1)).expect("key")];
    let verifier = Verifier::new(&trusted)
        .expect("verifier")
        .accepting_unactivated();
    let mut buf = LicenseBuffer::new();
    let verified = verifier
        .verify_bytes(&licence, NOW, &mut buf)
        .expect("the request's licence verifies");
    assert_eq!(*verified.claims(), activation_claims());
    let longest = vectors
        .valid
        .iter()
        .find(|case| case.name == "longest")
        .expect("longest");
    assert_eq!(longest.text.len(), MAX_ACTIVATION_REQUEST_TEXT_LEN);
}

#[test]
fn invalid_request_vectors_fail_exactly() {
    let vectors: RequestVectors = load("activation_requests.json");
    for case in &vectors.invalid {
        let mut buf = ActivationRequestBuffer::new();
        match buf.decode_text(&case.text) {
            Ok(request) => panic!("{}: decoded {request:?}", case.name),
            Err(err) => assert_eq!(decode_error_name(&err), case.error, "{}", case.name),
        }
    }
}
