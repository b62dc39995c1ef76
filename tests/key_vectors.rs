//! Golden vectors for key texts: public keys (`tspk1_`) and signing-key files (`tssk1_`).
//!
//! `tests/vectors/keys.json` pins what a decoder accepts and refuses (`FORMAT.md` sections 9 and 10):
//! whitespace only around a key's text, never inside it, and a public key's 32 bytes only in their
//! canonical encoding (y < p, no sign bit on x = 0). Made by [`generate_keys`]; regenerate with
//! `TESSERA_BLESS=1 cargo test -p tessera-tests vectors`, like the licence vectors.

use serde::{Deserialize, Serialize};
use tessera_keys::{DecodeError, PublicKey, SigningKey};

use crate::vectors::{
    compare_or_bless, load, malformed_name, public_key_text, seed_from_hex, SEED_1, SEED_2,
};

/// `tests/vectors/keys.json`.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeyVectors {
    about: Vec<String>,
    public_keys: KeyCases,
    signing_key_files: KeyCases,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyCases {
    valid: Vec<ValidKey>,
    invalid: Vec<InvalidKey>,
}

/// A text that decodes to `key_id` and the 32 bytes `hex` (a public key, or a signing key's seed).
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ValidKey {
    name: String,
    about: String,
    text: String,
    key_id: u32,
    hex: String,
}

/// A text that a decoder must refuse with exactly `error`.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct InvalidKey {
    name: String,
    about: String,
    text: String,
    error: String,
}

pub(crate) fn decode_error_name(err: &DecodeError) -> String {
    match err {
        DecodeError::Malformed(why) => format!("Malformed({})", malformed_name(why)),
        DecodeError::UnsupportedVersion { found } => format!("UnsupportedVersion{{found:{found}}}"),
        other => format!("{other:?}"),
    }
}

fn valid(name: &str, about: &str, text: String, key_id: u32, bytes: &[u8; 32]) -> ValidKey {
    ValidKey {
        name: name.into(),
        about: about.into(),
        text,
        key_id,
        hex: hex::encode(bytes),
    }
}

fn invalid(name: &str, about: &str, text: String, error: &str) -> InvalidKey {
    InvalidKey {
        name: name.into(),
        about: about.into(),
        text,
        error: error.into(),
    }
}

/// `low`, then 30 × `middle`, then `high`: the little-endian encodings near 0 and near p = 2^255 - 19.
fn point_bytes(low: u8, middle: u8, high: u8) -> [u8; 32] {
    let mut bytes = [middle; 32];
    (bytes[0], bytes[31]) = (low, high);
    bytes
}

/// The first y = p + k that is the y of a point of large order: a key a byte-blind decoder takes for
/// a good one, whose signatures then all fail.
fn large_order_point_at_or_above_p() -> [u8; 32] {
    (0..19u8)
        .map(|k| point_bytes(0xed + k, 0xff, 0x7f))
        .find(|bytes| {
            ed25519_dalek::VerifyingKey::from_bytes(bytes).is_ok_and(|key| !key.is_weak())
        })
        .expect("some y in p..2^255 is on the curve with large order")
}

/// Builds the key vectors from scratch.
pub(crate) fn generate_keys() -> KeyVectors {
    let key_1 = SigningKey::from_seed(1, &SEED_1).public_key();
    let text_1 = public_key_text(&SEED_1, 1);
    let with_bytes = |bytes: [u8; 32]| PublicKey::new(1, bytes).to_string();
    let body = text_1.strip_prefix("tspk1_1_").expect("prefix");
    let non_canonical = "Malformed(InvalidField(public_key))";
    let public_keys = KeyCases {
        valid: vec![
            valid(
                "key_1",
                "RFC 8032 test key 1 with key id 1.",
                text_1.clone(),
                1,
                &key_1.bytes,
            ),
            valid(
                "whitespace_around",
                "ASCII whitespace around the text is ignored.",
                format!(" \t\r\n{text_1}\x0c\r\n"),
                1,
                &key_1.bytes,
            ),
            valid(
                "largest_key_id",
                "RFC 8032 test key 2 with key id 2^32 - 1.",
                public_key_text(&SEED_2, u32::MAX),
                u32::MAX,
                &SigningKey::from_seed(u32::MAX, &SEED_2).public_key().bytes,
            ),
            valid(
                "y_is_p_minus_1",
                "y = p - 1, the largest canonical y (a point of small order, which a verifier then refuses to trust).",
                with_bytes(point_bytes(0xec, 0xff, 0x7f)),
                1,
                &point_bytes(0xec, 0xff, 0x7f),
            ),
        ],
        invalid: vec![
            invalid("empty", "Nothing at all.", String::new(), "Malformed(Empty)"),
            invalid("only_whitespace", "Whitespace only.", " \r\n".into(), "Malformed(Empty)"),
            invalid(
                "whitespace_in_prefix",
                "Whitespace inside the text is not ignored, unlike in a licence: here in the prefix.",
                text_1.replacen("tspk1_", "tspk1 _", 1),
                "Malformed(WrongPrefix)",
            ),
            invalid(
                "whitespace_in_key_id",
                "A space after the key id.",
                text_1.replacen("tspk1_1_", "tspk1_1 _", 1),
                "Malformed(InvalidField(key_id))",
            ),
            invalid(
                "line_break_in_base64",
                "The base64url wrapped after 20 characters.",
                format!("tspk1_1_{}\n{}", &body[..20], &body[20..]),
                "Malformed(Base64)",
            ),
            invalid(
                "space_before_last_group",
                "A space before the last 3 characters: that group of 4 would not fit 32 bytes, so TooLong (FORMAT.md section 6).",
                format!("tspk1_1_{} {}", &body[..40], &body[40..]),
                "Malformed(TooLong)",
            ),
            invalid(
                "non_breaking_space_around",
                "Only ASCII whitespace is whitespace: a non-breaking space before the text.",
                format!("\u{a0}{text_1}"),
                "Malformed(WrongPrefix)",
            ),
            invalid(
                "version_2",
                "A `tspk2_` key.",
                text_1.replacen("tspk1_", "tspk2_", 1),
                "UnsupportedVersion{found:2}",
            ),
            invalid(
                "key_id_leading_zero",
                "The key id has one spelling: `01` is not `1`.",
                text_1.replacen("tspk1_1_", "tspk1_01_", 1),
                "Malformed(InvalidField(key_id))",
            ),
            invalid(
                "truncated",
                "40 base64url characters: 30 bytes.",
                text_1[..text_1.len() - 3].to_string(),
                "Malformed(Truncated)",
            ),
            invalid(
                "y_is_p",
                "y = p = 2^255 - 19: not a canonical field element (RFC 8032 section 5.1.3, step 1).",
                with_bytes(point_bytes(0xed, 0xff, 0x7f)),
                non_canonical,
            ),
            invalid(
                "y_at_least_p_large_order",
                "y = p + k for the smallest k that is a point of large order: a decoder that reduces y would trust it, and every signature would fail.",
                with_bytes(large_order_point_at_or_above_p()),
                non_canonical,
            ),
            invalid(
                "y_is_2_pow_255_minus_1",
                "The largest y the 255 bits can hold.",
                with_bytes(point_bytes(0xff, 0xff, 0x7f)),
                non_canonical,
            ),
            invalid(
                "y_at_least_p_sign_set",
                "y = p with the sign bit set.",
                with_bytes(point_bytes(0xed, 0xff, 0xff)),
                non_canonical,
            ),
            invalid(
                "x_zero_sign_set_y_1",
                "y = 1, where x = 0, with the sign bit set: -0 (RFC 8032 section 5.1.3, step 4).",
                with_bytes(point_bytes(0x01, 0x00, 0x80)),
                non_canonical,
            ),
            invalid(
                "x_zero_sign_set_y_p_minus_1",
                "y = p - 1, where x = 0, with the sign bit set.",
                with_bytes(point_bytes(0xec, 0xff, 0xff)),
                non_canonical,
            ),
        ],
    };

    let signer_1 = SigningKey::from_seed(1, &SEED_1);
    let file_1 = signer_1.to_file_text().to_string();
    let line_1 = file_1
        .lines()
        .find(|line| line.starts_with("tssk1_"))
        .expect("key line")
        .to_string();
    let seed_body = line_1.strip_prefix("tssk1_1_").expect("prefix");
    let signing_key_files = KeyCases {
        valid: vec![
            valid(
                "as_written",
                "The file `tessera keygen` writes for RFC 8032 test key 1, key id 1.",
                file_1.clone(),
                1,
                &SEED_1,
            ),
            valid(
                "crlf_comments_indented",
                "CRLF line ends, comments, a blank line and whitespace around the key line.",
                format!("# a comment\r\n\r\n \t{line_1}  \r\n# another\r\n"),
                1,
                &SEED_1,
            ),
        ],
        invalid: vec![
            invalid(
                "only_comments",
                "No key line.",
                "# nothing here\n\n".into(),
                "Malformed(Empty)",
            ),
            invalid(
                "whitespace_in_key_line",
                "A space inside the base64url of the seed.",
                format!("tssk1_1_{} {}\n", &seed_body[..20], &seed_body[20..]),
                "Malformed(Base64)",
            ),
            invalid(
                "whitespace_in_prefix",
                "A space inside the prefix.",
                line_1.replacen("tssk1_", "tssk 1_", 1),
                "Malformed(WrongPrefix)",
            ),
            invalid(
                "key_line_wrapped",
                "The key line broken in two: two lines that are not comments.",
                format!("tssk1_1_{}\n{}\n", &seed_body[..20], &seed_body[20..]),
                "Malformed(TrailingBytes)",
            ),
            invalid(
                "public_key_instead",
                "A public key where the signing key belongs.",
                format!("{text_1}\n"),
                "Malformed(WrongPrefix)",
            ),
        ],
    };

    KeyVectors {
        about: [
            "Tessera key text vectors, version 1: public keys (tspk1_) and signing-key files (tssk1_).",
            "FORMAT.md sections 9 and 10 specify them.",
            "valid: `text` decodes to `key_id` and the 32 bytes `hex` (the public key, or the signing key's seed).",
            "invalid: decoding `text` fails with exactly `error`.",
            "Regenerate (after a deliberate format change only): TESSERA_BLESS=1 cargo test -p tessera-tests vectors",
        ]
        .map(String::from)
        .to_vec(),
        public_keys,
        signing_key_files,
    }
}

#[test]
fn key_vectors_are_up_to_date() {
    compare_or_bless("keys.json", &generate_keys());
}

#[test]
fn public_key_vectors_decode_exactly() {
    let vectors: KeyVectors = load("keys.json");
    for case in &vectors.public_keys.valid {
        let key =
            PublicKey::from_text(&case.text).unwrap_or_else(|err| panic!("{}: {err}", case.name));
        assert_eq!(key.id, case.key_id, "{}", case.name);
        assert_eq!(hex::encode(key.bytes), case.hex, "{}", case.name);
    }
    for case in &vectors.public_keys.invalid {
        match PublicKey::from_text(&case.text) {
            Ok(key) => panic!("{}: accepted: {key:?}", case.name),
            Err(err) => assert_eq!(decode_error_name(&err), case.error, "{}", case.name),
        }
    }
}

#[test]
fn signing_key_file_vectors_decode_exactly() {
    let vectors: KeyVectors = load("keys.json");
    for case in &vectors.signing_key_files.valid {
        let key = SigningKey::from_file_text(&case.text)
            .unwrap_or_else(|err| panic!("{}: {err}", case.name));
        let expected = SigningKey::from_seed(case.key_id, &seed_from_hex(&case.hex));
        assert_eq!(key.id(), case.key_id, "{}", case.name);
        assert_eq!(key.public_key(), expected.public_key(), "{}", case.name);
    }
    for case in &vectors.signing_key_files.invalid {
        match SigningKey::from_file_text(&case.text) {
            Ok(key) => panic!("{}: accepted: {key:?}", case.name),
            Err(err) => assert_eq!(decode_error_name(&err), case.error, "{}", case.name),
        }
    }
}
