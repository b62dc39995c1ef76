//! [`TrustedKey`] against ed25519-dalek's `VerifyingKey::verify_strict`: the same answer for every
//! published edge-case vector and for property-generated signatures of every kind the rules tell
//! apart. The vectors and their sources are in `verifier/tests/ed25519-vectors/`.

use std::collections::BTreeSet;
use std::string::String;
use std::vec::Vec;

use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use proptest::prelude::*;
use serde::Deserialize;
use sha2::{Digest, Sha512};

use super::{TrustedKey, SMALL_ORDER_ENCODINGS};

/// Tessera's answer: the key trusted once, then the signature checked.
fn tessera(key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    TrustedKey::new(key).is_some_and(|key| key.verifies(message, signature))
}

/// ed25519-dalek's strict answer, for a key decoded as `verify_strict` needs it.
fn strict(key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    VerifyingKey::from_bytes(key).is_ok_and(|key| {
        key.verify_strict(message, &Signature::from_bytes(signature))
            .is_ok()
    })
}

#[test]
fn small_order_encodings_are_those_of_the_eight_torsion_points() {
    let listed: BTreeSet<[u8; 32]> = SMALL_ORDER_ENCODINGS.into_iter().collect();
    let torsion: BTreeSet<[u8; 32]> = EIGHT_TORSION
        .iter()
        .map(|point| point.compress().to_bytes())
        .collect();
    assert_eq!(listed.len(), 8);
    assert_eq!(listed, torsion);
}

#[derive(Deserialize)]
struct Wycheproof {
    #[serde(rename = "testGroups")]
    test_groups: Vec<WycheproofGroup>,
}

#[derive(Deserialize)]
struct WycheproofGroup {
    #[serde(rename = "publicKey")]
    public_key: WycheproofKey,
    tests: Vec<WycheproofCase>,
}

#[derive(Deserialize)]
struct WycheproofKey {
    pk: String,
}

#[derive(Deserialize)]
struct WycheproofCase {
    #[serde(rename = "tcId")]
    id: u32,
    msg: String,
    sig: String,
    result: String,
}

fn bytes<const N: usize>(hex_text: &str) -> Option<[u8; N]> {
    hex::decode(hex_text).ok()?.try_into().ok()
}

#[test]
fn wycheproof_vectors_get_verify_strict_answers() {
    let file: Wycheproof = serde_json::from_str(include_str!(
        "../../tests/ed25519-vectors/wycheproof_ed25519_test.json"
    ))
    .expect("Wycheproof file parses");
    let mut checked = 0;
    for group in &file.test_groups {
        let key: [u8; 32] = bytes(&group.public_key.pk).expect("32-byte key");
        for case in &group.tests {
            let message = hex::decode(&case.msg).expect("hex message");
            let expected = case.result == "valid";
            // Tessera's signatures are 64 bytes by construction; the truncated and padded ones can
            // reach neither check, and Wycheproof calls them all invalid.
            let Some(signature) = bytes::<64>(&case.sig) else {
                assert!(
                    !expected,
                    "case {} has a valid odd-length signature",
                    case.id
                );
                continue;
            };
            let strict = strict(&key, &message, &signature);
            assert_eq!(
                tessera(&key, &message, &signature),
                strict,
                "case {}",
                case.id
            );
            assert_eq!(strict, expected, "case {}: Wycheproof's verdict", case.id);
            checked += 1;
        }
    }
    assert_eq!(checked, 139, "every 64-byte signature in the file");
}

#[derive(Deserialize)]
struct SpeccheckCase {
    message: String,
    pub_key: String,
    signature: String,
}

#[test]
fn speccheck_cases_get_verify_strict_answers() {
    let cases: Vec<SpeccheckCase> = serde_json::from_str(include_str!(
        "../../tests/ed25519-vectors/speccheck_cases.json"
    ))
    .expect("speccheck file parses");
    assert_eq!(cases.len(), 12);
    let mut accepted = Vec::new();
    for (index, case) in cases.iter().enumerate() {
        let key = bytes(&case.pub_key).expect("32-byte key");
        let message = hex::decode(&case.message).expect("hex message");
        let signature = bytes(&case.signature).expect("64-byte signature");
        let strict = strict(&key, &message, &signature);
        assert_eq!(tessera(&key, &message, &signature), strict, "case {index}");
        if strict {
            accepted.push(index);
        }
    }
    // The "Dalek strict" row of speccheck's results table: only case 3 (mixed-order A and R, the
    // cofactorless equation holds) is accepted.
    assert_eq!(accepted, [3]);
}

/// The group order L, little-endian.
const GROUP_ORDER: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
];

/// k = SHA-512(R || A || message) mod L, from the encodings exactly as given.
fn challenge(r: &[u8; 32], a: &[u8; 32], message: &[u8]) -> Scalar {
    let hash = Sha512::new()
        .chain_update(r)
        .chain_update(a)
        .chain_update(message)
        .finalize();
    Scalar::from_bytes_mod_order_wide(&hash.into())
}

fn join(r: &[u8; 32], s: &[u8; 32]) -> [u8; 64] {
    let mut signature = [0u8; 64];
    signature[..32].copy_from_slice(r);
    signature[32..].copy_from_slice(s);
    signature
}

/// Whether [S]B − [k]A is the point `R` decodes to: the cofactorless equation on points, which leaves
/// only the encoding and order rules to decide.
fn equation_holds(key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    let r: [u8; 32] = signature[..32].try_into().expect("32 bytes");
    let s = Scalar::from_bytes_mod_order(signature[32..].try_into().expect("32 bytes"));
    let (Some(a_point), Some(r_point)) = (
        CompressedEdwardsY(*key).decompress(),
        CompressedEdwardsY(r).decompress(),
    ) else {
        return false;
    };
    let k = challenge(&r, key, message);
    EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &-a_point, &s) == r_point
}

/// Signs `message` with secret scalar `a` for the key encoded as `key`, whose point may carry a
/// torsion part: the nonce point [r]B is shifted by each of the eight torsion points in turn (from
/// `first`) until the equation holds, as it does for about two of three nonces; otherwise the last
/// try. Returns the signature.
fn sign_with_torsion(
    key: &[u8; 32],
    a: Scalar,
    r: Scalar,
    first: usize,
    message: &[u8],
) -> [u8; 64] {
    let mut signature = [0u8; 64];
    for shift in 0..8 {
        let nonce_point = EdwardsPoint::mul_base(&r) + EIGHT_TORSION[(first + shift) % 8];
        let r_bytes = nonce_point.compress().to_bytes();
        let s = r + challenge(&r_bytes, key, message) * a;
        signature = join(&r_bytes, &s.to_bytes());
        if equation_holds(key, message, &signature) {
            break;
        }
    }
    signature
}

/// Non-canonical encodings of curve points: y + p for the y < 19 that are on the curve, either sign
/// bit; and "−0" for the two points with x = 0.
fn non_canonical_encodings() -> Vec<[u8; 32]> {
    let mut found = Vec::new();
    for y in 0u8..19 {
        // p = 2^255 − 19, so y + p is 0xed + y in the low byte and all ones above, for y < 19.
        let mut bytes = [0xff; 32];
        bytes[0] = 0xed + y;
        bytes[31] = 0x7f;
        for sign in [0, 0x80] {
            let mut encoding = bytes;
            encoding[31] |= sign;
            if CompressedEdwardsY(encoding).decompress().is_some() {
                found.push(encoding);
            }
        }
    }
    for x_zero in [EIGHT_TORSION[0], EIGHT_TORSION[4]] {
        let mut encoding = x_zero.compress().to_bytes();
        encoding[31] |= 0x80;
        found.push(encoding);
    }
    found
}

#[test]
fn trusted_keys_are_canonical_encodings() {
    let encodings = non_canonical_encodings();
    // y + p for y = 0 and 1 (both signs), "−0" for (0, 1) and (0, −1), and y + p for the on-curve y
    // in 2..19.
    assert!(encodings.len() > 6, "{}", encodings.len());
    let mut large_order = 0;
    for encoding in encodings {
        let point =
            VerifyingKey::from_bytes(&encoding).expect("decodes, as verify_strict takes it");
        large_order += usize::from(!point.is_weak());
        assert!(TrustedKey::new(&encoding).is_none(), "{encoding:02x?}");
    }
    // Refused for the encoding, not (only) for the order.
    assert!(large_order > 0);
}

/// A signature case: public key, message, signature.
type Case = ([u8; 32], Vec<u8>, [u8; 64]);

/// The kinds of case the rules tell apart, built from random seeds.
fn cases() -> impl Strategy<Value = Case> {
    let seed = any::<[u8; 32]>();
    let message = proptest::collection::vec(any::<u8>(), 0..64);
    let torsion = 0usize..8;
    let non_canonical = non_canonical_encodings();
    let valid = (seed, message.clone()).prop_map(|(seed, message)| {
        let signer = SigningKey::from_bytes(&seed);
        let signature = signer.sign(&message).to_bytes();
        (signer.verifying_key().to_bytes(), message, signature)
    });
    let tampered =
        (valid.clone(), 0usize..64 * 8).prop_map(|((key, message, mut signature), bit)| {
            signature[bit / 8] ^= 1 << (bit % 8);
            (key, message, signature)
        });
    let s_plus_l = valid.clone().prop_map(|(key, message, signature)| {
        let mut s: [u8; 32] = signature[32..].try_into().expect("32 bytes");
        let mut carry = 0u16;
        for (byte, order) in s.iter_mut().zip(GROUP_ORDER) {
            let sum = u16::from(*byte) + u16::from(order) + carry;
            *byte = sum as u8;
            carry = sum >> 8;
        }
        let r: [u8; 32] = signature[..32].try_into().expect("32 bytes");
        (key, message, join(&r, &s))
    });
    // A = [a]B + T_A (T_A may be the identity); R one of the eight small-order points, S = k·a.
    let small_order_r = (seed, message.clone(), torsion.clone(), torsion.clone()).prop_map(
        |(seed, message, key_torsion, first)| {
            let a = Scalar::from_bytes_mod_order(seed);
            let key = (EdwardsPoint::mul_base(&a) + EIGHT_TORSION[key_torsion])
                .compress()
                .to_bytes();
            let mut signature = [0u8; 64];
            for shift in 0..8 {
                let r = EIGHT_TORSION[(first + shift) % 8].compress().to_bytes();
                let s = challenge(&r, &key, &message) * a;
                signature = join(&r, &s.to_bytes());
                if equation_holds(&key, &message, &signature) {
                    break;
                }
            }
            (key, message, signature)
        },
    );
    // A one of the eight small-order points (secret 0), a signature the equation accepts.
    let small_order_a = (seed, message.clone(), torsion.clone(), torsion.clone()).prop_map(
        |(seed, message, key_torsion, first)| {
            let key = EIGHT_TORSION[key_torsion].compress().to_bytes();
            let r = Scalar::from_bytes_mod_order(seed);
            let signature = sign_with_torsion(&key, Scalar::ZERO, r, first, &message);
            (key, message, signature)
        },
    );
    // A = [a]B + T_A with T_A of order 2, 4 or 8: verify_strict accepts these when the equation holds.
    let mixed_order_a = (seed, seed, message.clone(), 1usize..8, torsion.clone()).prop_map(
        |(seed, nonce, message, key_torsion, first)| {
            let a = Scalar::from_bytes_mod_order(seed);
            let key = (EdwardsPoint::mul_base(&a) + EIGHT_TORSION[key_torsion])
                .compress()
                .to_bytes();
            let r = Scalar::from_bytes_mod_order(nonce);
            let signature = sign_with_torsion(&key, a, r, first, &message);
            (key, message, signature)
        },
    );
    // R a non-canonical encoding, S = k·a so that the equation holds whenever R's point is −[k]T_A.
    let non_canonical_r = (
        seed,
        message.clone(),
        torsion.clone(),
        proptest::sample::select(non_canonical.clone()),
    )
        .prop_map(|(seed, message, key_torsion, r)| {
            let a = Scalar::from_bytes_mod_order(seed);
            let key = (EdwardsPoint::mul_base(&a) + EIGHT_TORSION[key_torsion])
                .compress()
                .to_bytes();
            let s = challenge(&r, &key, &message) * a;
            (key, message, join(&r, &s.to_bytes()))
        });
    // A a non-canonical encoding; for those of small-order points (secret 0) the equation holds.
    let non_canonical_a = (
        seed,
        message.clone(),
        torsion,
        proptest::sample::select(non_canonical),
    )
        .prop_map(|(seed, message, first, key)| {
            let r = Scalar::from_bytes_mod_order(seed);
            let signature = sign_with_torsion(&key, Scalar::ZERO, r, first, &message);
            (key, message, signature)
        });
    let random = (any::<[u8; 32]>(), message, any::<[u8; 64]>());
    prop_oneof![
        valid,
        tampered,
        s_plus_l,
        small_order_r,
        small_order_a,
        mixed_order_a,
        non_canonical_r,
        non_canonical_a,
        random,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn property_generated_signatures_get_verify_strict_answers(
        (key, message, signature) in cases()
    ) {
        prop_assert_eq!(
            tessera(&key, &message, &signature),
            strict(&key, &message, &signature)
        );
    }
}

/// The generator reaches every answer the rules can give, so the property above is not vacuous:
/// accepted mixed-order keys, and signatures the equation accepts but the order or encoding rules
/// refuse.
#[test]
fn generated_cases_cover_every_rule() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let strategy = cases();
    let mut accepted_mixed_key = false;
    let mut refused_though_equation_holds = 0;
    let mut accepted = 0;
    for _ in 0..2048 {
        let (key, message, signature) = strategy.new_tree(&mut runner).expect("case").current();
        let verdict = strict(&key, &message, &signature);
        assert_eq!(tessera(&key, &message, &signature), verdict);
        if verdict {
            accepted += 1;
            let point = CompressedEdwardsY(key).decompress().expect("a point");
            accepted_mixed_key |= !point.is_torsion_free();
        } else if equation_holds(&key, &message, &signature) {
            refused_though_equation_holds += 1;
        }
    }
    assert!(accepted > 100, "{accepted} accepted");
    assert!(accepted_mixed_key);
    assert!(
        refused_though_equation_holds > 100,
        "{refused_though_equation_holds} refused only by the order and encoding rules"
    );
}
