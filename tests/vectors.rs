//! Golden vectors: committed JSON that pins the licence and revocation-list formats byte for byte.
//!
//! `tests/vectors/licenses.json` and `tests/vectors/revocations.json` are data for any implementation,
//! in any language (`FORMAT.md` explains them). This module re-derives every vector: signing the claims
//! with the seed must give the committed bytes and text exactly (Ed25519 signatures are deterministic),
//! decoding must give the claims back, and every invalid case must fail with exactly its error. A format
//! change therefore breaks these tests on purpose.
//!
//! The vectors are made by [`generate_licenses`] and [`generate_revocations`] below. After a deliberate
//! format change (new version byte and prefix, see `FORMAT.md`), rewrite the files with
//!
//! ```text
//! TESSERA_BLESS=1 cargo test -p tessera-tests vectors
//! ```
//!
//! and review the diff.

use std::path::PathBuf;

use ed25519_dalek::Signer;
use serde::{Deserialize, Serialize};
use tessera_keys::{
    license_text, revocations_buffer_len, revocations_text, Claims, FeatureSet, LicenseBuffer,
    LicenseId, PublicKey, SigningKey, UnixTime, LICENSE_DOMAIN, MAX_LICENSEE_LEN,
    MAX_LICENSE_TEXT_LEN, MAX_WIRE_TIME, REVOCATIONS_DOMAIN, WIRE_EPOCH,
};
use tessera_verifier::{Malformed, Product, RevocationError, Verifier, VerifyError};

// ---------------------------------------------------------------------------------------------------
// The files' schema.

/// `tests/vectors/licenses.json`.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LicenseVectors {
    about: Vec<String>,
    valid: Vec<ValidLicense>,
    equivalent: Vec<EquivalentText>,
    invalid: Vec<InvalidLicense>,
}

/// A licence that must verify, and the exact bytes and text its seed signs it to.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ValidLicense {
    name: String,
    about: String,
    /// The signer's 32-byte Ed25519 seed (RFC 8032 "secret key"), hex.
    seed: String,
    /// The public key that verifies it, in text form; its id is `claims.key_id`.
    public_key: String,
    claims: ClaimsJson,
    /// A time (Unix seconds) at which the licence is valid.
    now: u64,
    /// The binary licence, hex: encoded claims, then the 64-byte signature.
    hex: String,
    /// The licence key text.
    text: String,
}

/// Claims as plain JSON: times in Unix seconds, the licence id in hex, features as a list of bits.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClaimsJson {
    key_id: u32,
    license_id: String,
    product: u32,
    tier: u8,
    issued_at: u64,
    not_before: Option<u64>,
    expires_at: Option<u64>,
    grace_seconds: Option<u32>,
    features: Vec<u8>,
    licensee: Option<String>,
    /// Flag bit 4; written only when set, so the licence vectors predate it unchanged.
    #[serde(default, skip_serializing_if = "is_false")]
    requires_activation: bool,
}

/// Another spelling of a valid licence's text (whitespace added) that must verify just the same.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EquivalentText {
    name: String,
    about: String,
    /// The `name` of the valid case whose public key, `now` and claims apply.
    same_as: String,
    text: String,
}

/// Input that a verifier must refuse, and how.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InvalidLicense {
    name: String,
    about: String,
    text: String,
    /// The trusted public keys, in text form.
    trusted: Vec<String>,
    now: u64,
    /// The product the verifier expects, if it checks one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    product: Option<u32>,
    /// A revocation list the verifier honours (it verifies against `trusted`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revocations: Option<String>,
    /// The verifier treats a licence in its grace period as expired.
    #[serde(default, skip_serializing_if = "is_false")]
    without_grace: bool,
    /// The error, as [`verify_error_name`] writes it.
    error: String,
}

/// `tests/vectors/revocations.json`.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevocationVectors {
    about: Vec<String>,
    valid: Vec<ValidRevocations>,
    invalid: Vec<InvalidRevocations>,
}

/// A revocation list that must verify, and its exact bytes and text.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ValidRevocations {
    name: String,
    about: String,
    seed: String,
    public_key: String,
    key_id: u32,
    sequence: u64,
    issued_at: u64,
    /// Revoked licence ids, hex, in ascending order.
    revoked: Vec<String>,
    hex: String,
    text: String,
}

/// A revocation list that a verifier must refuse, and how.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InvalidRevocations {
    name: String,
    about: String,
    text: String,
    trusted: Vec<String>,
    /// The highest sequence number the app accepted before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_seen: Option<u64>,
    /// The error, as [`revocation_error_name`] writes it.
    error: String,
}

pub(crate) fn is_false(value: &bool) -> bool {
    !value
}

// ---------------------------------------------------------------------------------------------------
// Names of errors, as the vectors spell them.

/// A verification error as the vectors spell it: the variant and the facts an implementation in any
/// language can reproduce (not `now`, which is part of the case).
pub(crate) fn verify_error_name(err: &VerifyError) -> String {
    match err {
        VerifyError::Malformed(why) => format!("Malformed({})", malformed_name(why)),
        VerifyError::UnsupportedVersion { found } => format!("UnsupportedVersion{{found:{found}}}"),
        VerifyError::UnknownKeyId { key_id } => format!("UnknownKeyId{{key_id:{key_id}}}"),
        VerifyError::BadSignature => "BadSignature".into(),
        VerifyError::WrongProduct { expected, found } => {
            format!("WrongProduct{{expected:{expected},found:{found}}}")
        }
        VerifyError::Revoked { license_id } => format!("Revoked{{license_id:{license_id}}}"),
        VerifyError::NotYetValid { not_before, .. } => {
            format!("NotYetValid{{not_before:{}}}", not_before.0)
        }
        VerifyError::Expired {
            expired_at,
            in_grace,
            ..
        } => format!("Expired{{expired_at:{},in_grace:{in_grace}}}", expired_at.0),
        VerifyError::ActivationRequired => "ActivationRequired".into(),
        VerifyError::MalformedCertificate(why) => {
            format!("MalformedCertificate({})", malformed_name(why))
        }
        VerifyError::UnsupportedCertificateVersion { found } => {
            format!("UnsupportedCertificateVersion{{found:{found}}}")
        }
        VerifyError::BadCertificateSignature => "BadCertificateSignature".into(),
        VerifyError::CertificateForAnotherLicense {
            certified,
            license_id,
        } => {
            format!("CertificateForAnotherLicense{{certified:{certified},license_id:{license_id}}}")
        }
        VerifyError::CertificateForAnotherMachine => "CertificateForAnotherMachine".into(),
        VerifyError::LeaseExpired { lease_ended_at, .. } => {
            format!("LeaseExpired{{lease_ended_at:{}}}", lease_ended_at.0)
        }
        VerifyError::ClockRolledBack { last_seen, .. } => {
            format!("ClockRolledBack{{last_seen:{}}}", last_seen.0)
        }
        other => format!("{other:?}"),
    }
}

/// A revocation-list error as the vectors spell it.
pub(crate) fn revocation_error_name(err: &RevocationError) -> String {
    match err {
        RevocationError::Malformed(why) => format!("Malformed({})", malformed_name(why)),
        RevocationError::UnsupportedVersion { found } => {
            format!("UnsupportedVersion{{found:{found}}}")
        }
        RevocationError::UnknownKeyId { key_id } => format!("UnknownKeyId{{key_id:{key_id}}}"),
        RevocationError::BadSignature => "BadSignature".into(),
        RevocationError::Stale {
            sequence,
            last_seen,
        } => format!("Stale{{sequence:{sequence},last_seen:{last_seen}}}"),
        other => format!("{other:?}"),
    }
}

pub(crate) fn malformed_name(why: &Malformed) -> String {
    match why {
        Malformed::Empty => "Empty".into(),
        Malformed::WrongPrefix { .. } => "WrongPrefix".into(),
        Malformed::TooLong => "TooLong".into(),
        Malformed::Base64 => "Base64".into(),
        Malformed::Truncated => "Truncated".into(),
        Malformed::TrailingBytes => "TrailingBytes".into(),
        Malformed::InvalidField { field } => format!("InvalidField({field})"),
        other => format!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------------
// The keys and claims the vectors use.

/// Seeds of the RFC 8032 section 7.1 test keys 1, 2 and 3, so that an implementer can check their
/// Ed25519 against the RFC's known answers before checking it against these vectors.
pub(crate) const SEED_1: [u8; 32] =
    hex_array("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
pub(crate) const SEED_2: [u8; 32] =
    hex_array("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb");
pub(crate) const SEED_3: [u8; 32] =
    hex_array("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7");

/// The licence id of the reference licence: 8 bytes once read from `/dev/urandom`.
pub(crate) const REFERENCE_ID: LicenseId = LicenseId(hex_array("00d947af878c7f22"));

/// 2026-09-21T14:13:20Z and 2027-09-21T14:13:20Z.
pub(crate) const ISSUED_AT: UnixTime = UnixTime(1_790_000_000);
pub(crate) const EXPIRES_AT: UnixTime = UnixTime(1_821_536_000);

/// The reference licence of the README: product 1, tier 1 ("pro"), five features, an expiry, a random
/// licence id, key id 1.
pub(crate) fn reference_claims() -> Claims<'static> {
    Claims {
        key_id: 1,
        license_id: REFERENCE_ID,
        product: 1,
        tier: 1,
        issued_at: ISSUED_AT,
        not_before: None,
        expires_at: Some(EXPIRES_AT),
        grace_seconds: None,
        features: FeatureSet(0b1_1111),
        licensee: None,
        requires_activation: false,
    }
}

/// A licence with every optional field present.
pub(crate) fn all_fields_claims() -> Claims<'static> {
    Claims {
        key_id: 1,
        license_id: LicenseId(hex_array("b49ade9b88b09318")),
        product: 7,
        tier: 2,
        issued_at: ISSUED_AT,
        not_before: Some(UnixTime(1_790_035_200)),
        expires_at: Some(EXPIRES_AT),
        grace_seconds: Some(14 * 86_400),
        features: FeatureSet((1 << 0) | (1 << 9) | (1 << 40)),
        licensee: Some("Ada Lovelace"),
        requires_activation: false,
    }
}

/// 64 bytes of UTF-8: the longest licensee, in two-, three- and four-byte characters.
pub(crate) const MAX_LICENSEE: &str = "Zoë Łukasiewicz-Ünal · 株式会社テッセラ 🔑🔑 Ltd";

/// Every field present and at its longest encoding: the longest licence there can be.
pub(crate) fn longest_claims() -> Claims<'static> {
    Claims {
        key_id: u32::MAX,
        license_id: LicenseId([0xff; 8]),
        product: u32::MAX,
        tier: u8::MAX,
        issued_at: MAX_WIRE_TIME,
        not_before: Some(UnixTime(MAX_WIRE_TIME.0 - 1)),
        expires_at: Some(MAX_WIRE_TIME),
        grace_seconds: Some(u32::MAX),
        features: FeatureSet(u64::MAX),
        licensee: Some(MAX_LICENSEE),
        requires_activation: false,
    }
}

/// No optional field, every number at its smallest.
pub(crate) fn smallest_claims() -> Claims<'static> {
    Claims {
        key_id: 0,
        license_id: LicenseId([0; 8]),
        product: 0,
        tier: 0,
        issued_at: WIRE_EPOCH,
        not_before: None,
        expires_at: None,
        grace_seconds: None,
        features: FeatureSet::EMPTY,
        licensee: None,
        requires_activation: false,
    }
}

// ---------------------------------------------------------------------------------------------------
// Helpers.

pub(crate) const fn hex_array<const N: usize>(hex: &str) -> [u8; N] {
    const fn digit(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("not a lowercase hex digit"),
        }
    }
    let hex = hex.as_bytes();
    assert!(hex.len() == 2 * N);
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = (digit(hex[2 * i]) << 4) | digit(hex[2 * i + 1]);
        i += 1;
    }
    out
}

pub(crate) fn signer(seed: &[u8; 32], id: u32) -> SigningKey {
    SigningKey::from_seed(id, seed)
}

pub(crate) fn public_key_text(seed: &[u8; 32], id: u32) -> String {
    signer(seed, id).public_key().to_string()
}

/// `payload || Ed25519(seed, domain || payload)`: signs bytes the library would never produce.
pub(crate) fn sign_raw(seed: &[u8; 32], domain: &[u8], payload: &[u8]) -> Vec<u8> {
    let key = ed25519_dalek::SigningKey::from_bytes(seed);
    let message = [domain, payload].concat();
    [payload, &key.sign(&message).to_bytes()].concat()
}

/// Unsigned LEB128, written independently of postcard so that the tests check the spec, not the code.
pub(crate) fn leb128(mut value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

pub(crate) fn wire_time(time: UnixTime) -> Vec<u8> {
    leb128(time.0 - WIRE_EPOCH.0)
}

/// The reference claims, field by field, as `FORMAT.md` lays them out.
fn reference_fields() -> Vec<(&'static str, Vec<u8>)> {
    let claims = reference_claims();
    vec![
        ("version", vec![1]),
        ("key_id", leb128(claims.key_id.into())),
        ("license_id", claims.license_id.0.to_vec()),
        ("product", leb128(claims.product.into())),
        ("tier", vec![claims.tier]),
        ("flags", vec![0b0000_0010]),
        ("issued_at", wire_time(claims.issued_at)),
        ("expires_at", wire_time(EXPIRES_AT)),
        ("features", leb128(claims.features.0)),
    ]
}

/// The reference claims with some fields replaced (and others appended), signed with key 1.
fn reference_with(changes: &[(&str, &[u8])]) -> String {
    let mut fields = reference_fields();
    for (name, bytes) in changes {
        match fields.iter_mut().find(|(field, _)| field == name) {
            Some((_, value)) => *value = bytes.to_vec(),
            None => fields.push((*name, bytes.to_vec())),
        }
    }
    let payload: Vec<u8> = fields.into_iter().flat_map(|(_, bytes)| bytes).collect();
    license_text(&sign_raw(&SEED_1, LICENSE_DOMAIN, &payload))
}

pub(crate) fn claims_json(claims: &Claims<'_>) -> ClaimsJson {
    ClaimsJson {
        key_id: claims.key_id,
        license_id: claims.license_id.to_string(),
        product: claims.product,
        tier: claims.tier,
        issued_at: claims.issued_at.0,
        not_before: claims.not_before.map(|t| t.0),
        expires_at: claims.expires_at.map(|t| t.0),
        grace_seconds: claims.grace_seconds,
        features: claims.features.iter().collect(),
        licensee: claims.licensee.map(str::to_owned),
        requires_activation: claims.requires_activation,
    }
}

impl ClaimsJson {
    pub(crate) fn to_claims(&self) -> Claims<'_> {
        let mut features = FeatureSet::EMPTY;
        for &bit in &self.features {
            features = features.with(bit).expect("feature bit below 64");
        }
        Claims {
            key_id: self.key_id,
            license_id: LicenseId::from_hex(&self.license_id).expect("16 hex digits"),
            product: self.product,
            tier: self.tier,
            issued_at: UnixTime(self.issued_at),
            not_before: self.not_before.map(UnixTime),
            expires_at: self.expires_at.map(UnixTime),
            grace_seconds: self.grace_seconds,
            features,
            licensee: self.licensee.as_deref(),
            requires_activation: self.requires_activation,
        }
    }
}

pub(crate) fn seed_from_hex(seed: &str) -> [u8; 32] {
    hex::decode(seed)
        .expect("hex seed")
        .try_into()
        .expect("32-byte seed")
}

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

// ---------------------------------------------------------------------------------------------------
// The generator.

fn valid_license(name: &str, about: &str, seed: &[u8; 32], claims: Claims<'_>) -> ValidLicense {
    let bytes = signer(seed, claims.key_id)
        .sign_license_bytes(&claims)
        .expect("valid claims");
    ValidLicense {
        name: name.into(),
        about: about.into(),
        seed: hex::encode(seed),
        public_key: public_key_text(seed, claims.key_id),
        claims: claims_json(&claims),
        now: claims.not_before.unwrap_or(claims.issued_at).0,
        hex: hex::encode(&bytes),
        text: license_text(&bytes),
    }
}

/// An invalid case that trusts key 1 (id 1) and checks at [`ISSUED_AT`]; adjust with struct update.
fn invalid(name: &str, about: &str, text: String, error: &str) -> InvalidLicense {
    InvalidLicense {
        name: name.into(),
        about: about.into(),
        text,
        trusted: vec![public_key_text(&SEED_1, 1)],
        now: ISSUED_AT.0,
        product: None,
        revocations: None,
        without_grace: false,
        error: error.into(),
    }
}

/// Builds the licence vectors from scratch.
pub(crate) fn generate_licenses() -> LicenseVectors {
    let reference = valid_license(
        "reference",
        "The README's reference licence: product 1, tier 1, features 0-4, an expiry, key id 1.",
        &SEED_1,
        reference_claims(),
    );
    let valid = vec![
        valid_license(
            "all_fields",
            "Every optional field present: not-before, expiry, 14 days of grace, a licensee.",
            &SEED_1,
            all_fields_claims(),
        ),
        valid_license(
            "longest",
            "Every field at its longest encoding, and a licensee of 64 UTF-8 bytes: the longest licence.",
            &SEED_1,
            longest_claims(),
        ),
        valid_license(
            "smallest",
            "A perpetual licence with no optional field, every number zero, issued at the wire epoch.",
            &SEED_2,
            smallest_claims(),
        ),
        valid_license(
            "second_key",
            "The reference claims signed by the rotated-in key 2.",
            &SEED_2,
            Claims {
                key_id: 2,
                ..reference_claims()
            },
        ),
    ];
    let valid = std::iter::once(reference).chain(valid).collect::<Vec<_>>();
    let reference_text = valid[0].text.clone();
    let reference_bytes = hex::decode(&valid[0].hex).expect("hex");
    let body = reference_text.strip_prefix("ts1_").expect("prefix");
    let key_1 = public_key_text(&SEED_1, 1);
    let sign = |claims: Claims<'_>| {
        signer(&SEED_1, claims.key_id)
            .sign_license(&claims)
            .expect("sign")
    };
    let with_grace = Claims {
        grace_seconds: Some(86_400),
        ..reference_claims()
    };
    let mut flipped_signature = reference_bytes.clone();
    *flipped_signature.last_mut().expect("non-empty") ^= 0x01;
    let mut changed_tier = reference_bytes.clone();
    changed_tier[11] = 2; // after version, key id, licence id and product: the tier is byte 11
    assert_eq!(reference_bytes[11], 1, "the reference tier moved");
    let s_plus_l = license_text(&add_group_order(&reference_bytes));
    let mut small_order_r = reference_bytes.clone();
    let signature_at = small_order_r.len() - 64;
    // R = the identity point (encoding 01 00..00), S = 0: passes a check that forgets small-order R.
    small_order_r[signature_at..].fill(0);
    small_order_r[signature_at] = 1;

    let revocations = signer(&SEED_1, 1)
        .sign_revocations(
            3,
            ISSUED_AT,
            &[LicenseId([0x11; 8]), REFERENCE_ID, LicenseId([0xee; 8])],
        )
        .expect("sign revocations");

    let invalid = vec![
        invalid("empty", "Nothing at all.", String::new(), "Malformed(Empty)"),
        invalid(
            "only_whitespace",
            "Whitespace and line breaks only.",
            " \r\n\t ".into(),
            "Malformed(Empty)",
        ),
        invalid(
            "empty_body",
            "The prefix and nothing after it.",
            "ts1_".into(),
            "Malformed(Empty)",
        ),
        invalid(
            "wrong_prefix_case",
            "The prefix is case-sensitive.",
            format!("TS1_{body}"),
            "Malformed(WrongPrefix)",
        ),
        invalid(
            "public_key_as_licence",
            "A public key pasted where a licence belongs.",
            key_1.clone(),
            "Malformed(WrongPrefix)",
        ),
        invalid(
            "version_leading_zero",
            "The version in the prefix has one spelling: `ts01_` is not `ts1_`.",
            format!("ts01_{body}"),
            "Malformed(WrongPrefix)",
        ),
        invalid(
            "prefix_version_2",
            "A `ts2_` key: a newer format this verifier does not know.",
            format!("ts2_{body}"),
            "UnsupportedVersion{found:2}",
        ),
        invalid(
            "version_byte_2",
            "A `ts1_` prefix over claims whose version byte is 2, correctly signed: damage, not a newer format.",
            reference_with(&[("version", &[2])]),
            "Malformed(InvalidField(version))",
        ),
        invalid(
            "base64_standard_alphabet",
            "`+` belongs to standard base64, not base64url.",
            format!("ts1_+{}", &body[1..]),
            "Malformed(Base64)",
        ),
        invalid(
            "base64_padding",
            "Padding is not used.",
            format!("{reference_text}="),
            "Malformed(Base64)",
        ),
        invalid(
            "base64_nonzero_unused_bits",
            "The last character sets bits that encode nothing: a second spelling of the same bytes.",
            format!(
                "{}{}",
                &reference_text[..reference_text.len() - 1],
                next_base64url_char(reference_text.chars().last().expect("non-empty"))
            ),
            "Malformed(Base64)",
        ),
        invalid(
            "base64_lone_character",
            "Two characters more leave a lone final character, which carries no whole byte.",
            format!("{reference_text}AA"),
            "Malformed(Base64)",
        ),
        invalid(
            "too_long",
            "More bytes than the longest licence.",
            format!("ts1_{}", "A".repeat(MAX_LICENSE_TEXT_LEN)),
            "Malformed(TooLong)",
        ),
        invalid(
            "base64_error_before_overflow",
            "Too long, with a `+` in the 33rd group of 4: the first failing group decides, so Base64.",
            format!("ts1_{}+{}", "A".repeat(130), "A".repeat(113)),
            "Malformed(Base64)",
        ),
        invalid(
            "truncated_signature",
            "The last 3 bytes of the signature are missing.",
            license_text(&reference_bytes[..reference_bytes.len() - 3]),
            "Malformed(Truncated)",
        ),
        invalid(
            "truncated_claims",
            "Only the first 5 bytes: the licence id is cut short.",
            license_text(&reference_bytes[..5]),
            "Malformed(Truncated)",
        ),
        invalid(
            "trailing_byte",
            "One byte after the signature.",
            license_text(&[&reference_bytes[..], &[0]].concat()),
            "Malformed(TrailingBytes)",
        ),
        invalid(
            "unknown_flag_bit",
            "Flag bit 5 is not defined in version 1, correctly signed.",
            reference_with(&[("flags", &[0b0010_0010])]),
            "Malformed(InvalidField(flags))",
        ),
        invalid(
            "key_id_varint_too_long",
            "A 6-byte varint for a u32 (at most 5 bytes).",
            reference_with(&[("key_id", &[0x81, 0x80, 0x80, 0x80, 0x80, 0x00])]),
            "Malformed(InvalidField(key_id))",
        ),
        invalid(
            "key_id_varint_overflow",
            "A 5-byte varint whose last byte carries bits beyond 32.",
            reference_with(&[("key_id", &[0x81, 0x80, 0x80, 0x80, 0x10])]),
            "Malformed(InvalidField(key_id))",
        ),
        invalid(
            "issued_at_varint_overflow",
            "A wire time beyond u32.",
            reference_with(&[("issued_at", &[0xff, 0xff, 0xff, 0xff, 0x1f])]),
            "Malformed(InvalidField(issued_at))",
        ),
        invalid(
            "features_varint_overflow",
            "A 10-byte varint whose last byte carries bits beyond 64.",
            reference_with(&[("features", &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02])]),
            "Malformed(InvalidField(features))",
        ),
        invalid(
            "licensee_empty",
            "The licensee flag with a zero-length name, correctly signed.",
            reference_with(&[("flags", &[0b0000_1010]), ("licensee", &[0])]),
            "Malformed(InvalidField(licensee))",
        ),
        invalid(
            "licensee_too_long",
            "A licensee of 65 bytes, correctly signed.",
            reference_with(&[
                ("flags", &[0b0000_1010]),
                ("licensee", &[&[65u8][..], &[b'a'; 65]].concat()),
            ]),
            "Malformed(InvalidField(licensee))",
        ),
        invalid(
            "licensee_not_utf8",
            "A licensee that is not UTF-8, correctly signed.",
            reference_with(&[("flags", &[0b0000_1010]), ("licensee", &[2, 0xc3, 0x28])]),
            "Malformed(InvalidField(licensee))",
        ),
        invalid(
            "licensee_overruns",
            "A licensee length of 127 with 65 bytes left: the name would swallow the signature.",
            reference_with(&[("flags", &[0b0000_1010]), ("licensee", &[127, b'A'])]),
            "Malformed(Truncated)",
        ),
        invalid(
            "key_id_varint_overlong",
            "Key id 1 as `81 00`, two bytes where one is enough, correctly signed: varints have one encoding.",
            reference_with(&[("key_id", &[0x81, 0x00])]),
            "Malformed(InvalidField(key_id))",
        ),
        invalid(
            "issued_at_varint_overlong",
            "The reference issued-at in 5 bytes instead of 4 (a last byte of 00), correctly signed.",
            reference_with(&[("issued_at", &[0x80, 0xf6, 0xfc, 0xa8, 0x00])]),
            "Malformed(InvalidField(issued_at))",
        ),
        invalid(
            "features_varint_overlong",
            "Features 0b11111 as `9f 80 00`, correctly signed.",
            reference_with(&[("features", &[0x9f, 0x80, 0x00])]),
            "Malformed(InvalidField(features))",
        ),
        invalid(
            "licensee_length_overlong",
            "A licensee length of 3 as `83 00`, correctly signed.",
            reference_with(&[("flags", &[0b0000_1010]), ("licensee", &[0x83, 0x00, b'A', b'd', b'a'])]),
            "Malformed(InvalidField(licensee))",
        ),
        invalid(
            "licensee_length_beyond_u32",
            "A licensee length of 2^32 (`80 80 80 80 10`): string lengths are u32 varints on every platform, so this is an invalid varint, not a length that overruns the input.",
            reference_with(&[("flags", &[0b0000_1010]), ("licensee", &[0x80, 0x80, 0x80, 0x80, 0x10, b'A'])]),
            "Malformed(InvalidField(licensee))",
        ),
        InvalidLicense {
            trusted: vec![key_1.clone()],
            ..invalid(
                "unknown_key_id",
                "Signed by key 2, which this verifier does not trust.",
                valid[4].text.clone(),
                "UnknownKeyId{key_id:2}",
            )
        },
        invalid(
            "signature_bit_flipped",
            "The last bit of the signature flipped.",
            license_text(&flipped_signature),
            "BadSignature",
        ),
        invalid(
            "claims_changed",
            "The tier raised from 1 to 2 after signing.",
            license_text(&changed_tier),
            "BadSignature",
        ),
        invalid(
            "impostor_key",
            "Signed by another key (RFC 8032 key 3) that calls itself key 1.",
            signer(&SEED_3, 1).sign_license(&reference_claims()).expect("sign"),
            "BadSignature",
        ),
        invalid(
            "s_plus_l",
            "The signature's S replaced by S + L: the same signature under non-strict rules.",
            s_plus_l,
            "BadSignature",
        ),
        invalid(
            "small_order_r",
            "R the identity point and S = 0, which strict verification refuses.",
            license_text(&small_order_r),
            "BadSignature",
        ),
        invalid(
            "revocation_domain",
            "The claims signed under the revocation-list domain tag instead of the licence tag.",
            license_text(&sign_raw(
                &SEED_1,
                REVOCATIONS_DOMAIN,
                &reference_bytes[..reference_bytes.len() - 64],
            )),
            "BadSignature",
        ),
        invalid(
            "no_domain",
            "The claims signed without any domain tag.",
            license_text(&sign_raw(&SEED_1, b"", &reference_bytes[..reference_bytes.len() - 64])),
            "BadSignature",
        ),
        InvalidLicense {
            product: Some(1),
            ..invalid(
                "wrong_product",
                "A licence for product 7 shown to an app for product 1.",
                valid[1].text.clone(),
                "WrongProduct{expected:1,found:7}",
            )
        },
        InvalidLicense {
            revocations: Some(revocations.clone()),
            ..invalid(
                "revoked",
                "The reference licence against a list that revokes it.",
                reference_text.clone(),
                "Revoked{license_id:00d947af878c7f22}",
            )
        },
        InvalidLicense {
            now: 1_790_035_199,
            ..invalid(
                "not_yet_valid",
                "One second before not-before.",
                valid[1].text.clone(),
                "NotYetValid{not_before:1790035200}",
            )
        },
        InvalidLicense {
            now: EXPIRES_AT.0,
            ..invalid(
                "expired",
                "At the expiry second itself, without grace.",
                reference_text.clone(),
                "Expired{expired_at:1821536000,in_grace:false}",
            )
        },
        InvalidLicense {
            now: EXPIRES_AT.0 + 86_400,
            ..invalid(
                "grace_over",
                "At the end of a day of grace.",
                sign(with_grace),
                "Expired{expired_at:1821536000,in_grace:false}",
            )
        },
        InvalidLicense {
            now: EXPIRES_AT.0,
            without_grace: true,
            ..invalid(
                "in_grace_not_honoured",
                "Within grace, by a verifier told not to honour grace.",
                sign(with_grace),
                "Expired{expired_at:1821536000,in_grace:true}",
            )
        },
        // The order of checks: each case fails two of them, and must report the earlier one.
        InvalidLicense {
            trusted: vec![key_1.clone()],
            ..invalid(
                "order_unknown_key_before_signature",
                "Key 2's licence with a flipped signature bit: the key id is looked up first.",
                {
                    let mut bytes = hex::decode(&valid[4].hex).expect("hex");
                    *bytes.last_mut().expect("non-empty") ^= 1;
                    license_text(&bytes)
                },
                "UnknownKeyId{key_id:2}",
            )
        },
        InvalidLicense {
            now: EXPIRES_AT.0,
            product: Some(2),
            ..invalid(
                "order_signature_before_product",
                "A bad signature on an expired licence for another product.",
                license_text(&flipped_signature),
                "BadSignature",
            )
        },
        InvalidLicense {
            now: EXPIRES_AT.0,
            product: Some(2),
            revocations: Some(revocations),
            ..invalid(
                "order_product_before_revocation",
                "A revoked, expired licence for another product.",
                reference_text.clone(),
                "WrongProduct{expected:2,found:1}",
            )
        },
        InvalidLicense {
            now: 1,
            revocations: Some(
                signer(&SEED_1, 1)
                    .sign_revocations(4, ISSUED_AT, &[LicenseId(hex_array("b49ade9b88b09318"))])
                    .expect("sign revocations"),
            ),
            ..invalid(
                "order_revocation_before_time",
                "A revoked licence checked before its not-before.",
                valid[1].text.clone(),
                "Revoked{license_id:b49ade9b88b09318}",
            )
        },
        InvalidLicense {
            now: EXPIRES_AT.0 + 1,
            ..invalid(
                "order_not_before_before_expiry",
                "A licence whose not-before is after its expiry, checked after both.",
                sign(Claims {
                    not_before: Some(UnixTime(EXPIRES_AT.0 + 10)),
                    ..reference_claims()
                }),
                "NotYetValid{not_before:1821536010}",
            )
        },
    ];
    let equivalent = vec![
        EquivalentText {
            name: "wrapped".into(),
            about: "Wrapped at 20 columns with CRLF and indented, as a mail client might.".into(),
            same_as: "reference".into(),
            text: reference_text
                .as_bytes()
                .chunks(20)
                .map(|line| format!("    {}\r\n", std::str::from_utf8(line).expect("ASCII")))
                .collect(),
        },
        EquivalentText {
            name: "whitespace_in_prefix".into(),
            about: "Whitespace is ignored inside the prefix too.".into(),
            same_as: "reference".into(),
            text: format!("t s\n1\t_ {body}"),
        },
        EquivalentText {
            name: "every_whitespace_character".into(),
            about: "Space, tab, line feed, form feed and carriage return, around and inside."
                .into(),
            same_as: "all_fields".into(),
            text: format!(
                " \t\n\x0c\r{}\x0c{}\t\r\n ",
                &valid[1].text[..30],
                &valid[1].text[30..]
            ),
        },
    ];
    LicenseVectors {
        about: about_licenses(),
        valid,
        equivalent,
        invalid,
    }
}

fn about_licenses() -> Vec<String> {
    [
        "Tessera licence key vectors, format version 1 (ts1_). FORMAT.md specifies the format.",
        "valid: signing `claims` with the Ed25519 `seed` (RFC 8032 test keys) gives exactly `hex` and `text`;",
        "  `text` verifies with `public_key` at `now`, and decodes to `claims`.",
        "  Claims: times in Unix seconds; license_id in hex; features as the list of set bits.",
        "equivalent: `text` is the valid case `same_as` with ASCII whitespace added; it verifies just the same.",
        "invalid: a verifier that trusts `trusted`, checks at `now`, and (if given) expects `product`,",
        "  honours the revocation list `revocations`, or does not honour grace (`without_grace`),",
        "  must refuse `text` with exactly `error`.",
        "Regenerate (after a deliberate format change only): TESSERA_BLESS=1 cargo test -p tessera-tests vectors",
    ]
    .map(String::from)
    .to_vec()
}

/// Adds the group order L = 2^252 + 27742317777372353535851937790883648493 to the signature's S.
pub(crate) fn add_group_order(license: &[u8]) -> Vec<u8> {
    const L: [u8; 32] =
        hex_array("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
    let mut out = license.to_vec();
    let s_at = out.len() - 32;
    let mut carry = 0u16;
    for (byte, l) in out[s_at..].iter_mut().zip(L) {
        let sum = u16::from(*byte) + u16::from(l) + carry;
        *byte = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0, "S + L fits in 256 bits");
    out
}

pub(crate) const BASE64URL: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The next character of the base64url alphabet, which for a final character with unused bits is the
/// same bytes with the lowest unused bit set.
pub(crate) fn next_base64url_char(c: char) -> char {
    let at = BASE64URL
        .iter()
        .position(|&b| char::from(b) == c)
        .expect("base64url");
    char::from(BASE64URL[(at + 1) % 64])
}

fn valid_revocations(
    name: &str,
    about: &str,
    seed: &[u8; 32],
    key_id: u32,
    sequence: u64,
    revoked: &[LicenseId],
) -> ValidRevocations {
    let text = signer(seed, key_id)
        .sign_revocations(sequence, ISSUED_AT, revoked)
        .expect("sign revocations");
    let mut sorted = revoked.to_vec();
    sorted.sort();
    let mut buf = vec![0u8; revocations_buffer_len(revoked.len())];
    let signed = tessera_keys::decode_revocations(&text, &mut buf).expect("decodes");
    let bytes = [
        &signed.signed_message[REVOCATIONS_DOMAIN.len()..],
        &signed.signature[..],
    ]
    .concat();
    ValidRevocations {
        name: name.into(),
        about: about.into(),
        seed: hex::encode(seed),
        public_key: public_key_text(seed, key_id),
        key_id,
        sequence,
        issued_at: ISSUED_AT.0,
        revoked: sorted.iter().map(LicenseId::to_string).collect(),
        hex: hex::encode(bytes),
        text,
    }
}

/// A revocation list by hand: header fields, then ids, signed with key 1 under `domain`.
fn raw_revocations(
    domain: &[u8],
    version: u8,
    sequence: u64,
    count: u64,
    ids: &[[u8; 8]],
) -> String {
    let mut payload = vec![version];
    payload.extend(leb128(1));
    payload.extend(leb128(sequence));
    payload.extend(wire_time(ISSUED_AT));
    payload.extend(leb128(count));
    for id in ids {
        payload.extend(id);
    }
    revocations_text(&sign_raw(&SEED_1, domain, &payload))
}

/// A revocation list of the given bytes, signed by key 1 as a list.
fn signed_list(payload: &[u8]) -> String {
    revocations_text(&sign_raw(&SEED_1, REVOCATIONS_DOMAIN, payload))
}

/// Builds the revocation-list vectors from scratch.
pub(crate) fn generate_revocations() -> RevocationVectors {
    let ids = [LicenseId([0x11; 8]), REFERENCE_ID, LicenseId([0xee; 8])];
    let valid = vec![
        valid_revocations("empty", "A list that revokes nothing.", &SEED_1, 1, 1, &[]),
        valid_revocations(
            "three",
            "Three revoked licences, among them the reference licence; signed in another order.",
            &SEED_1,
            1,
            3,
            &[ids[2], ids[0], ids[1]],
        ),
        valid_revocations(
            "large_sequence",
            "A sequence number that takes all 10 varint bytes, signed by key 2.",
            &SEED_2,
            2,
            u64::MAX,
            &[REFERENCE_ID],
        ),
    ];
    let key_1 = public_key_text(&SEED_1, 1);
    let three = valid[1].text.clone();
    let three_bytes = hex::decode(&valid[1].hex).expect("hex");
    let invalid_list =
        |name: &str, about: &str, text: String, last_seen, error: &str| InvalidRevocations {
            name: name.into(),
            about: about.into(),
            text,
            trusted: vec![key_1.clone()],
            last_seen,
            error: error.into(),
        };
    let mut tampered = three_bytes.clone();
    tampered[2] = 4; // version, key id, then the sequence: 3 becomes 4
    let invalid = vec![
        invalid_list(
            "stale",
            "List 3 after list 4 was seen: a replay that would un-revoke licences.",
            three.clone(),
            Some(4),
            "Stale{sequence:3,last_seen:4}",
        ),
        invalid_list(
            "tampered_sequence",
            "List 3 with its sequence number raised to 4 after signing.",
            revocations_text(&tampered),
            None,
            "BadSignature",
        ),
        invalid_list(
            "unknown_key",
            "Signed by key 2, which this verifier does not trust.",
            valid[2].text.clone(),
            None,
            "UnknownKeyId{key_id:2}",
        ),
        invalid_list(
            "licence_domain",
            "A list signed under the licence domain tag.",
            raw_revocations(LICENSE_DOMAIN, 1, 5, 1, &[REFERENCE_ID.0]),
            None,
            "BadSignature",
        ),
        invalid_list(
            "unsorted",
            "Ids out of order, correctly signed.",
            raw_revocations(REVOCATIONS_DOMAIN, 1, 5, 2, &[[0xee; 8], [0x11; 8]]),
            None,
            "Malformed(InvalidField(revoked_ids))",
        ),
        invalid_list(
            "duplicate",
            "The same id twice, correctly signed.",
            raw_revocations(REVOCATIONS_DOMAIN, 1, 5, 2, &[[0x11; 8], [0x11; 8]]),
            None,
            "Malformed(InvalidField(revoked_ids))",
        ),
        invalid_list(
            "count_overruns",
            "A count of 100 with 2 ids: the list ends before its ids do.",
            raw_revocations(REVOCATIONS_DOMAIN, 1, 5, 100, &[[0x11; 8], [0xee; 8]]),
            None,
            "Malformed(Truncated)",
        ),
        invalid_list(
            "sequence_varint_overlong",
            "Sequence 5 as `85 00`, correctly signed: varints have one encoding.",
            signed_list(&[&[1, 1, 0x85, 0x00][..], &wire_time(ISSUED_AT), &[0]].concat()),
            None,
            "Malformed(InvalidField(sequence))",
        ),
        invalid_list(
            "count_varint_overlong",
            "A count of 0 as `80 00`, correctly signed.",
            signed_list(&[&[1, 1, 5][..], &wire_time(ISSUED_AT), &[0x80, 0x00]].concat()),
            None,
            "Malformed(InvalidField(count))",
        ),
        invalid_list(
            "version_byte_2",
            "A `tsrl1_` prefix over a list whose version byte is 2: damage, not a newer format.",
            raw_revocations(REVOCATIONS_DOMAIN, 2, 5, 0, &[]),
            None,
            "Malformed(InvalidField(version))",
        ),
        invalid_list(
            "prefix_version_2",
            "A `tsrl2_` list.",
            three.replacen("tsrl1_", "tsrl2_", 1),
            None,
            "UnsupportedVersion{found:2}",
        ),
        invalid_list(
            "licence_as_list",
            "A licence key where a revocation list belongs.",
            signer(&SEED_1, 1)
                .sign_license(&reference_claims())
                .expect("sign"),
            None,
            "Malformed(WrongPrefix)",
        ),
        invalid_list(
            "truncated",
            "The last byte of the signature missing.",
            revocations_text(&three_bytes[..three_bytes.len() - 1]),
            None,
            "Malformed(Truncated)",
        ),
        invalid_list(
            "trailing_byte",
            "A byte after the signature.",
            revocations_text(&[&three_bytes[..], &[0]].concat()),
            None,
            "Malformed(TrailingBytes)",
        ),
    ];
    RevocationVectors {
        about: [
            "Tessera revocation-list vectors, format version 1 (tsrl1_). FORMAT.md specifies the format.",
            "valid: `seed` (key `key_id`) signs the list (`sequence`, `issued_at` in Unix seconds, `revoked`",
            "  licence ids in hex) to exactly `hex` and `text`, which verifies with `public_key`.",
            "invalid: a verifier that trusts `trusted` and has accepted list `last_seen` before (if given)",
            "  must refuse `text` with exactly `error`.",
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

pub(crate) fn load<T: serde::de::DeserializeOwned>(file: &str) -> T {
    let path = vectors_dir().join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// Compares freshly generated vectors with the committed file, or rewrites it under `TESSERA_BLESS=1`.
pub(crate) fn compare_or_bless<T: Serialize>(file: &str, generated: &T) {
    let path = vectors_dir().join(file);
    let fresh = serde_json::to_string_pretty(generated).expect("serialize") + "\n";
    if std::env::var_os("TESSERA_BLESS").is_some_and(|value| value == "1") {
        std::fs::create_dir_all(vectors_dir()).expect("create tests/vectors");
        std::fs::write(&path, &fresh).expect("write vectors");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "{} differs from what the generator makes. If the format changed on purpose, \
         rerun with TESSERA_BLESS=1 and review the diff.",
        path.display()
    );
}

pub(crate) fn trusted_keys(texts: &[String]) -> Vec<PublicKey> {
    texts
        .iter()
        .map(|text| PublicKey::from_text(text).expect("public key text"))
        .collect()
}

#[test]
fn license_vectors_are_up_to_date() {
    compare_or_bless("licenses.json", &generate_licenses());
}

#[test]
fn revocation_vectors_are_up_to_date() {
    compare_or_bless("revocations.json", &generate_revocations());
}

#[test]
fn valid_license_vectors_rederive() {
    let vectors: LicenseVectors = load("licenses.json");
    assert!(vectors.valid.len() >= 5);
    for case in &vectors.valid {
        let name = &case.name;
        let seed = seed_from_hex(&case.seed);
        let claims = case.claims.to_claims();
        let key = signer(&seed, claims.key_id);
        assert_eq!(key.public_key().to_string(), case.public_key, "{name}");

        let bytes = key.sign_license_bytes(&claims).expect("sign");
        assert_eq!(hex::encode(&bytes), case.hex, "{name}: bytes");
        assert_eq!(
            key.sign_license(&claims).expect("sign"),
            case.text,
            "{name}: text"
        );
        assert!(case.text.len() <= MAX_LICENSE_TEXT_LEN, "{name}");

        // Decoding alone gives the claims and splits off the signature.
        let mut buf = LicenseBuffer::new();
        let signed = buf.decode_text(&case.text).expect("decodes");
        assert_eq!(signed.claims, claims, "{name}: decoded claims");
        assert_eq!(
            &signed.signed_message[..LICENSE_DOMAIN.len()],
            LICENSE_DOMAIN
        );
        let payload = &signed.signed_message[LICENSE_DOMAIN.len()..];
        assert_eq!(
            hex::encode([payload, &signed.signature[..]].concat()),
            case.hex,
            "{name}"
        );

        // And the verifier, told the product, accepts it at `now`.
        let trusted = [PublicKey::from_text(&case.public_key).expect("public key")];
        let product = Product {
            id: claims.product,
            name: "vectors",
            tiers: &[],
            features: &[],
        };
        let verifier = Verifier::new(&trusted)
            .expect("verifier")
            .for_product(&product);
        let mut buf = LicenseBuffer::new();
        let license = verifier
            .verify(&case.text, UnixTime(case.now), &mut buf)
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(*license.claims(), claims, "{name}");
    }
}

#[test]
fn equivalent_texts_verify_the_same() {
    let vectors: LicenseVectors = load("licenses.json");
    assert!(!vectors.equivalent.is_empty());
    for case in &vectors.equivalent {
        let name = &case.name;
        let original = vectors
            .valid
            .iter()
            .find(|valid| valid.name == case.same_as)
            .unwrap_or_else(|| panic!("{name}: no valid case {}", case.same_as));
        let trusted = [PublicKey::from_text(&original.public_key).expect("public key")];
        let verifier = Verifier::new(&trusted).expect("verifier");
        let mut buf = LicenseBuffer::new();
        let license = verifier
            .verify(&case.text, UnixTime(original.now), &mut buf)
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(*license.claims(), original.claims.to_claims(), "{name}");
        let significant: String = case
            .text
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        assert_eq!(significant, original.text, "{name}");
    }
}

#[test]
fn invalid_license_vectors_fail_exactly() {
    let vectors: LicenseVectors = load("licenses.json");
    for case in &vectors.invalid {
        let name = &case.name;
        let trusted = trusted_keys(&case.trusted);
        let mut verifier = Verifier::new(&trusted).expect("verifier");
        let product;
        if let Some(id) = case.product {
            product = Product {
                id,
                name: "vectors",
                tiers: &[],
                features: &[],
            };
            verifier = verifier.for_product(&product);
        }
        let mut list_buf = vec![0u8; revocations_buffer_len(16)];
        if let Some(list) = &case.revocations {
            let list = verifier
                .check_revocations(list, &mut list_buf, None)
                .unwrap_or_else(|err| panic!("{name}: revocation list: {err}"));
            verifier = verifier.with_revocations(list);
        }
        if case.without_grace {
            verifier = verifier.without_grace();
        }
        let mut buf = LicenseBuffer::new();
        match verifier.verify(&case.text, UnixTime(case.now), &mut buf) {
            Ok(license) => panic!("{name}: accepted: {:?}", license.claims()),
            Err(err) => assert_eq!(verify_error_name(&err), case.error, "{name}"),
        }
    }
}

#[test]
fn every_error_class_has_a_vector() {
    let licenses: LicenseVectors = load("licenses.json");
    for class in [
        "Malformed(Empty)",
        "Malformed(WrongPrefix)",
        "Malformed(TooLong)",
        "Malformed(Base64)",
        "Malformed(Truncated)",
        "Malformed(TrailingBytes)",
        "Malformed(InvalidField(",
        "UnsupportedVersion",
        "UnknownKeyId",
        "BadSignature",
        "WrongProduct",
        "Revoked",
        "NotYetValid",
        "Expired{expired_at:1821536000,in_grace:false}",
        "Expired{expired_at:1821536000,in_grace:true}",
    ] {
        assert!(
            licenses
                .invalid
                .iter()
                .any(|case| case.error.starts_with(class)),
            "no licence vector for {class}"
        );
    }
    let lists: RevocationVectors = load("revocations.json");
    for class in [
        "Malformed(",
        "UnsupportedVersion",
        "UnknownKeyId",
        "BadSignature",
        "Stale",
    ] {
        assert!(
            lists
                .invalid
                .iter()
                .any(|case| case.error.starts_with(class)),
            "no revocation vector for {class}"
        );
    }
}

#[test]
fn revocation_vectors_rederive() {
    let vectors: RevocationVectors = load("revocations.json");
    for case in &vectors.valid {
        let name = &case.name;
        let seed = seed_from_hex(&case.seed);
        let key = signer(&seed, case.key_id);
        assert_eq!(key.public_key().to_string(), case.public_key, "{name}");
        let ids: Vec<LicenseId> = case
            .revoked
            .iter()
            .map(|id| LicenseId::from_hex(id).expect("hex id"))
            .collect();
        let text = key
            .sign_revocations(case.sequence, UnixTime(case.issued_at), &ids)
            .expect("sign");
        assert_eq!(text, case.text, "{name}: text");
        let bytes = hex::decode(&case.hex).expect("hex");
        assert_eq!(revocations_text(&bytes), case.text, "{name}: hex");

        // The same sequence number as the last one seen is accepted: it is the same list again.
        let trusted = [PublicKey::from_text(&case.public_key).expect("public key")];
        let verifier = Verifier::new(&trusted).expect("verifier");
        let mut buf = vec![0u8; revocations_buffer_len(ids.len())];
        let list = verifier
            .check_revocations(&case.text, &mut buf, Some(case.sequence))
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(list.key_id, case.key_id, "{name}");
        assert_eq!(list.sequence, case.sequence, "{name}");
        assert_eq!(list.issued_at, UnixTime(case.issued_at), "{name}");
        assert_eq!(list.iter().collect::<Vec<_>>(), ids, "{name}");
        assert!(ids.iter().all(|id| list.contains(id)), "{name}");
        assert!(!list.contains(&LicenseId([0x42; 8])), "{name}");
    }
    for case in &vectors.invalid {
        let name = &case.name;
        let trusted = trusted_keys(&case.trusted);
        let verifier = Verifier::new(&trusted).expect("verifier");
        let mut buf = vec![0u8; revocations_buffer_len(16)];
        match verifier.check_revocations(&case.text, &mut buf, case.last_seen) {
            Ok(list) => panic!("{name}: accepted: {list:?}"),
            Err(err) => assert_eq!(revocation_error_name(&err), case.error, "{name}"),
        }
    }
}

/// The field layout `FORMAT.md` describes, rebuilt by hand with LEB128, is exactly what the library
/// encodes.
#[test]
fn hand_built_claims_match_the_library() {
    let by_hand: Vec<u8> = reference_fields()
        .into_iter()
        .flat_map(|(_, bytes)| bytes)
        .collect();
    let mut buf = [0u8; tessera_keys::MAX_CLAIMS_LEN];
    let encoded = reference_claims().encode(&mut buf).expect("encodes");
    assert_eq!(encoded, &by_hand[..]);
}

#[test]
fn reference_licence_is_short() {
    let vectors: LicenseVectors = load("licenses.json");
    let reference = &vectors.valid[0];
    assert_eq!(reference.name, "reference");
    assert_eq!(reference.hex.len() / 2, 86, "bytes");
    assert_eq!(reference.text.len(), 119, "characters");
    let longest = vectors
        .valid
        .iter()
        .find(|case| case.name == "longest")
        .expect("longest vector");
    assert_eq!(longest.text.len(), MAX_LICENSE_TEXT_LEN);
    assert_eq!(
        longest.claims.licensee.as_deref().map(str::len),
        Some(MAX_LICENSEE_LEN)
    );
}

/// The annotated hex dump of the reference licence, as `FORMAT.md` shows it.
fn worked_example(case: &ValidLicense) -> String {
    let bytes = hex::decode(&case.hex).expect("hex");
    let mut out = String::new();
    let mut at = 0;
    for (field, value) in reference_fields() {
        let field_bytes = &bytes[at..at + value.len()];
        assert_eq!(field_bytes, &value[..], "{field}");
        let meaning = match field {
            "version" => "version 1".to_string(),
            "key_id" => "key id 1 (varint)".to_string(),
            "license_id" => format!("licence id {}", hex::encode(field_bytes)),
            "product" => "product 1 (varint)".to_string(),
            "tier" => "tier 1".to_string(),
            "flags" => "flags: bit 1 = expires_at present".to_string(),
            "issued_at" => format!(
                "issued_at: {} s after 2024-01-01 = {} ({})",
                ISSUED_AT.0 - WIRE_EPOCH.0,
                ISSUED_AT.0,
                ISSUED_AT
            ),
            "expires_at" => format!(
                "expires_at: {} s after 2024-01-01 = {} ({})",
                EXPIRES_AT.0 - WIRE_EPOCH.0,
                EXPIRES_AT.0,
                EXPIRES_AT
            ),
            "features" => "features 0b11111 = bits 0-4 (varint)".to_string(),
            other => other.to_string(),
        };
        out += &format!(
            "{at:02}  {:<26} {meaning}\n",
            hex::encode(field_bytes)
                .as_bytes()
                .chunks(2)
                .map(|pair| std::str::from_utf8(pair).expect("hex"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        at += value.len();
    }
    let signature = &bytes[at..];
    assert_eq!(signature.len(), 64);
    for (row, chunk) in signature.chunks(16).enumerate() {
        let words = chunk
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect::<Vec<_>>()
            .join(" ");
        let meaning = match row {
            0 => "signature R (32 bytes)",
            2 => "signature S (32 bytes, little-endian, < L)",
            _ => "",
        };
        out += &format!("{:02}  {words}  {meaning}\n", at + 16 * row);
    }
    out.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// `FORMAT.md` shows the reference vector, byte for byte; this keeps the two from drifting apart.
#[test]
fn format_md_shows_the_reference_vector() {
    let vectors: LicenseVectors = load("licenses.json");
    let reference = &vectors.valid[0];
    let format_md =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../FORMAT.md"))
            .expect("read FORMAT.md");
    let dump = worked_example(reference);
    for (what, expected) in [
        ("seed", reference.seed.as_str()),
        ("public key", reference.public_key.as_str()),
        ("licence text", reference.text.as_str()),
        ("annotated hex dump", dump.as_str()),
    ] {
        assert!(
            format_md.contains(expected),
            "FORMAT.md does not contain the reference {what}; expected:\n{expected}"
        );
    }
}

/// The key at the top of the README verifies with the public key shown beside it (both are the
/// reference vector's), so a reader can check the first thing they see.
#[test]
fn readme_key_verifies_with_the_public_key_beside_it() {
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("read README.md");
    let intro = readme
        .split("\n## ")
        .next()
        .expect("text before the first section");
    let tokens = || {
        intro
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .filter(|token| !token.is_empty())
    };
    let licence_keys: Vec<&str> = tokens().filter(|t| t.starts_with("ts1_")).collect();
    let public_keys: Vec<&str> = tokens().filter(|t| t.starts_with("tspk1_")).collect();
    assert!(
        !licence_keys.is_empty(),
        "no ts1_ key in the README's intro"
    );
    assert_eq!(
        public_keys.len(),
        1,
        "one public key beside the README's key"
    );

    let trusted = [PublicKey::from_text(public_keys[0]).expect("README public key")];
    let verifier = Verifier::new(&trusted).expect("verifier");
    let reference = &load::<LicenseVectors>("licenses.json").valid[0];
    for key in licence_keys {
        let mut buf = LicenseBuffer::new();
        let verified = verifier.verify(key, UnixTime(reference.now), &mut buf);
        assert!(verified.is_ok(), "README key {key}: {verified:?}");
        assert_eq!(
            key, reference.text,
            "the README shows the reference licence"
        );
    }
    assert_eq!(public_keys[0], reference.public_key);
}
