//! Ed25519 signature checks that accept exactly what ed25519-dalek's `verify_strict` accepts, at the
//! cost of its ordinary (`verify`) check.
//!
//! `verify_strict` spends about an eighth of its time on work that a verifier with a fixed set of
//! trusted keys can do once, or not at all: it decompresses `R` (a field square root) only to test
//! its order, and tests the public key's order on every call. As libsodium does, a [`TrustedKey`] is
//! checked once, when it is trusted, and a small-order `R` is refused by its bytes; the rest is
//! ed25519-dalek's ordinary check, which refuses an `S` that is not below the group order and
//! compares the canonical encoding of [S]B − [k]A with the bytes of `R`.
//!
//! Why that is the same acceptance set: both checks require `S` < L and that the canonical encoding
//! of [S]B − [k]A (k hashed from the bytes of `R` and `A` as given) equals `R`. `verify_strict` also
//! requires that neither `A` nor `R` is of small order. `A`'s order is tested when the key is
//! trusted. When the equation holds, `R` is the canonical encoding of a point, and that point is of
//! small order exactly when `R` is one of the eight canonical encodings of the eight points of small
//! order, which is what [`SMALL_ORDER_ENCODINGS`] lists. A non-canonical encoding of a small-order
//! point never equals an encoding the ordinary check produces, so it is refused there, as
//! `verify_strict` refuses it. The unit tests check this against the Wycheproof and
//! ed25519-speccheck vectors and against property-generated signatures of every such kind.

use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};

/// An issuer's public key, checked once: a canonically encoded curve point not of small order.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TrustedKey(VerifyingKey);

impl TrustedKey {
    /// The key, or `None` if the bytes are not the canonical encoding of a curve point, or the point
    /// is of small order (a key any signature can be forged for).
    ///
    /// `verify_strict` would take a non-canonical encoding of a point of large order (the point's `y`
    /// written as `y + p`). Nobody can sign for such a key (its point's discrete logarithm is not
    /// known to anyone), so refusing it here refuses no signature `verify_strict` could accept in
    /// practice, and keeps one key from having two spellings.
    pub(crate) fn new(bytes: &[u8; 32]) -> Option<TrustedKey> {
        let key = VerifyingKey::from_bytes(bytes).ok()?;
        let canonical = key.to_edwards().compress().to_bytes() == *bytes;
        (canonical && !key.is_weak()).then_some(TrustedKey(key))
    }

    /// Whether `signature` is this key's valid signature of `message`, by `verify_strict`'s rules.
    pub(crate) fn verifies(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let (r, _) = signature.split_at(32);
        !SMALL_ORDER_ENCODINGS.iter().any(|small| small == r)
            && self
                .0
                .verify(message, &Signature::from_bytes(signature))
                .is_ok()
    }
}

/// The canonical encodings of the eight points of order dividing 8, the curve's torsion subgroup
/// (as libsodium's `ge25519_has_small_order` lists them, without its non-canonical encodings, which
/// the ordinary check refuses anyway). The unit tests derive the list from curve25519-dalek.
const SMALL_ORDER_ENCODINGS: [[u8; 32]; 8] = [
    // The identity (0, 1), order 1.
    [
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00,
    ],
    // (0, −1), order 2.
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    // (±√−1, 0), order 4.
    [
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00,
    ],
    [
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x80,
    ],
    // The four points of order 8.
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ],
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x85,
    ],
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ],
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0xfa,
    ],
];

#[cfg(test)]
mod tests;
