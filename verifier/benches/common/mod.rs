//! The fixture both benchmarks share: the reference licence, its issuer, a 1000-entry revocation list,
//! and the exact bytes and signature the raw Ed25519 baseline checks.

use ed25519_dalek::{Signature, VerifyingKey};
use tessera_keys::{
    Claims, FeatureSet, LicenseBuffer, LicenseId, PublicKey, SigningKey, LICENSE_DOMAIN,
};
use tessera_verifier::{Product, UnixTime, Verifier};

/// The time every verification is made at: inside the reference licence's validity.
pub const NOW: UnixTime = UnixTime(1_800_000_000);

/// How many licences the benchmark's revocation list revokes.
pub const REVOKED: usize = 1000;

/// The reference product: 3 tiers, 5 features.
pub static PRODUCT: Product<'static> = Product {
    id: 1,
    name: "bench-editor",
    tiers: &["free", "pro", "team"],
    features: &["export", "sync", "plugins", "themes", "cloud"],
};

/// The reference licence: key id 1, product 1, tier 1 ("pro"), all 5 features, an expiry, a licence
/// id; no licensee, no grace, no start date. Its text is the "reference key length" of the issue.
pub const CLAIMS: Claims<'static> = Claims {
    key_id: 1,
    license_id: LicenseId([0x9b, 0x1f, 0x52, 0x7e, 0xc4, 0x08, 0x3d, 0xa6]),
    product: 1,
    tier: 1,
    issued_at: UnixTime(1_790_000_000),
    not_before: None,
    expires_at: Some(UnixTime(1_821_536_000)),
    grace_seconds: None,
    features: FeatureSet(0b1_1111),
    licensee: None,
    requires_activation: false,
};

/// Everything both sides of the comparison need, built once.
pub struct Fixture {
    /// The issuer, as `tessera-keys` signs with it.
    pub issuer: SigningKey,
    /// The same key as a bare ed25519-dalek key, for the signing baseline.
    pub raw_signing_key: ed25519_dalek::SigningKey,
    /// The issuer's public key as an app embeds it.
    pub public_key: PublicKey,
    /// The reference licence's text.
    pub key_text: String,
    /// What the licence signature covers (domain tag, then the encoded claims), copied out of a decode.
    pub message: Vec<u8>,
    /// The licence's signature.
    pub signature: Signature,
    /// The issuer's public key, decompressed once, as the baseline checks with it.
    pub verifying_key: VerifyingKey,
    /// A signed list revoking [`REVOKED`] other licences.
    pub revocations_text: String,
}

impl Fixture {
    pub fn new() -> Fixture {
        let seed = [7u8; 32];
        let issuer = SigningKey::from_seed(1, &seed);
        let raw_signing_key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let public_key = issuer.public_key();
        let key_text = issuer
            .sign_license(&CLAIMS)
            .expect("reference claims encode");

        let mut buf = LicenseBuffer::new();
        let signed = buf
            .decode_text(&key_text)
            .expect("reference licence decodes");
        let message = signed.signed_message.to_vec();
        let signature = Signature::from_bytes(signed.signature);
        // The baseline must check exactly what the verifier checks: the tag and the claims.
        let mut claims_buf = [0u8; tessera_keys::MAX_CLAIMS_LEN];
        let claims_bytes = CLAIMS
            .encode(&mut claims_buf)
            .expect("reference claims encode");
        assert_eq!(message, [LICENSE_DOMAIN, &*claims_bytes].concat());

        let verifying_key = VerifyingKey::from_bytes(&public_key.bytes).expect("valid public key");
        let revoked: Vec<LicenseId> = splitmix64(0x7e55e7a)
            .map(|n| LicenseId(n.to_be_bytes()))
            .filter(|id| *id != CLAIMS.license_id)
            .take(REVOKED)
            .collect();
        let revocations_text = issuer
            .sign_revocations(1, UnixTime(1_799_000_000), &revoked)
            .expect("revocation list encodes");

        Fixture {
            issuer,
            raw_signing_key,
            public_key,
            key_text,
            message,
            signature,
            verifying_key,
            revocations_text,
        }
    }

    /// A verifier that only trusts the issuer's key.
    pub fn plain_verifier(&self) -> Verifier<'static> {
        Verifier::new(&[self.public_key]).expect("valid trusted key")
    }

    /// A verifier as a real app builds it: the trusted key, the product table and the revocation
    /// list, decoded into `list_buf` (which needs `revocations_buffer_len(REVOKED)` bytes).
    pub fn full_verifier<'a>(&self, list_buf: &'a mut [u8]) -> Verifier<'a> {
        let verifier = Verifier::new(&[self.public_key]).expect("valid trusted key");
        let list = verifier
            .check_revocations(&self.revocations_text, list_buf, None)
            .expect("revocation list verifies");
        assert_eq!(list.len(), REVOKED);
        verifier.for_product(&PRODUCT).with_revocations(list)
    }
}

/// Deterministic, well-spread 64-bit numbers (SplitMix64), so every run revokes the same ids.
fn splitmix64(mut state: u64) -> impl Iterator<Item = u64> {
    core::iter::repeat_with(move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
}
