//! Property tests: any valid licence round-trips, and every small change to one is refused with
//! exactly the error FORMAT.md prescribes.
//!
//! A tampered licence must fail in steps 1 to 3 of FORMAT.md section 7 (decoding, key id, signature):
//! one refused only as "expired" or "wrong product" would mean its signature was never what stopped it.
//! [`Signed::refusal`] and [`Signed::text_refusal`] say which error each tampering must give.
//!
//! Signature checks are slow in debug builds (about 10 ms each), so the mutation properties draw from a
//! pool of licences signed once, whose shapes cover every field, and case counts stay modest.

use std::sync::OnceLock;

use base64ct::{Base64UrlUnpadded, Encoding};
use proptest::prelude::*;
use tessera_keys::{Claims, FeatureSet, LicenseBuffer, LicenseId, PublicKey, SigningKey, UnixTime};
use tessera_keys::{MAX_LICENSEE_LEN, MAX_LICENSE_LEN, SIGNATURE_LEN, WIRE_EPOCH};
use tessera_verifier::{Malformed, Verifier, VerifyError};

use crate::vectors::{
    add_group_order, all_fields_claims, longest_claims, reference_claims, smallest_claims, SEED_1,
    SEED_2,
};

/// A licence signed once, with what verifies it.
#[derive(Debug)]
struct Signed {
    public_key: PublicKey,
    claims: Claims<'static>,
    now: UnixTime,
    bytes: Vec<u8>,
    text: String,
}

impl Signed {
    /// Verifies `text` as the licence's app would; `Ok(true)` if it gives back exactly the claims.
    fn verify_text(&self, text: &str) -> Result<bool, VerifyError> {
        let trusted = [self.public_key];
        let verifier = Verifier::new(&trusted).expect("verifier");
        let mut buf = LicenseBuffer::new();
        verifier
            .verify(text, self.now, &mut buf)
            .map(|license| *license.claims() == self.claims)
    }

    /// Verifies binary `bytes`; `Ok(true)` if they give back exactly the claims.
    fn verify_bytes(&self, bytes: &[u8]) -> Result<bool, VerifyError> {
        let trusted = [self.public_key];
        let verifier = Verifier::new(&trusted).expect("verifier");
        let mut buf = LicenseBuffer::new();
        verifier
            .verify_bytes(bytes, self.now, &mut buf)
            .map(|license| *license.claims() == self.claims)
    }

    /// The error FORMAT.md section 7, steps 1 to 3, gives tampered binary `bytes`: their decoding error
    /// (section 3.4), else `UnknownKeyId` if the key id changed, else `BadSignature`.
    fn refusal(&self, bytes: &[u8]) -> VerifyError {
        let mut buf = LicenseBuffer::new();
        match buf.decode_bytes(bytes) {
            Err(err) => err.into(),
            Ok(decoded) if decoded.claims.key_id != self.public_key.id => {
                VerifyError::UnknownKeyId {
                    key_id: decoded.claims.key_id,
                }
            }
            Ok(_) => VerifyError::BadSignature,
        }
    }

    /// The same for a tampered text: section 6's error for the text, else that of its bytes, where a
    /// version byte other than 1 is damage (`InvalidField(version)`) because the prefix said 1.
    fn text_refusal(&self, text: &str) -> VerifyError {
        match text_to_bytes(text) {
            Err(err) => err,
            Ok(bytes) => match self.refusal(&bytes) {
                VerifyError::UnsupportedVersion { .. } => {
                    VerifyError::Malformed(Malformed::InvalidField { field: "version" })
                }
                other => other,
            },
        }
    }
}

/// FORMAT.md section 6, written from the spec for a text without whitespace: the prefix, then the body
/// in groups of 4 characters, each first checked to fit in 180 bytes, then decoded.
fn text_to_bytes(text: &str) -> Result<Vec<u8>, VerifyError> {
    let malformed = VerifyError::Malformed;
    let wrong_prefix = malformed(Malformed::WrongPrefix { expected: "ts1_" });
    if text.is_empty() {
        return Err(malformed(Malformed::Empty));
    }
    let rest = text.strip_prefix("ts").ok_or(wrong_prefix)?;
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (version, rest) = rest.split_at(digits);
    let body = rest.strip_prefix('_').ok_or(wrong_prefix)?;
    let canonical =
        (1..=3).contains(&version.len()) && (version == "0" || !version.starts_with('0'));
    let found = version
        .parse::<u16>()
        .ok()
        .filter(|_| canonical)
        .and_then(|found| u8::try_from(found).ok())
        .ok_or(wrong_prefix)?;
    if found != 1 {
        return Err(VerifyError::UnsupportedVersion { found });
    }
    if body.is_empty() {
        return Err(malformed(Malformed::Empty));
    }
    let mut bytes = Vec::new();
    for group in body.as_bytes().chunks(4) {
        let mut decoded = [0u8; 3];
        let decoded = &mut decoded[..group.len() * 3 / 4];
        if bytes.len() + decoded.len() > MAX_LICENSE_LEN {
            return Err(malformed(Malformed::TooLong));
        }
        let decoded =
            Base64UrlUnpadded::decode(group, decoded).map_err(|_| malformed(Malformed::Base64))?;
        bytes.extend_from_slice(decoded);
    }
    Ok(bytes)
}

fn pool() -> &'static [Signed] {
    static POOL: OnceLock<Vec<Signed>> = OnceLock::new();
    POOL.get_or_init(|| {
        [
            (SEED_1, reference_claims()),
            (SEED_1, all_fields_claims()),
            (SEED_2, longest_claims()),
            (SEED_2, smallest_claims()),
        ]
        .into_iter()
        .map(|(seed, claims)| {
            let key = SigningKey::from_seed(claims.key_id, &seed);
            let bytes = key.sign_license_bytes(&claims).expect("sign");
            Signed {
                public_key: key.public_key(),
                claims,
                now: claims.not_before.unwrap_or(claims.issued_at),
                text: tessera_keys::license_text(&bytes),
                bytes,
            }
        })
        .collect()
    })
}

fn signed() -> impl Strategy<Value = &'static Signed> {
    (0..pool().len()).prop_map(|index| &pool()[index])
}

const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Claims as proptest can own them.
#[derive(Clone, Debug)]
struct ArbitraryLicense {
    seed: [u8; 32],
    key_id: u32,
    license_id: [u8; 8],
    product: u32,
    tier: u8,
    /// Wire offsets from 2024-01-01: issued-at <= now, and not-before <= now < expires-at.
    issued_at: u32,
    now: u32,
    not_before: Option<u32>,
    expires_at: Option<u32>,
    grace_seconds: Option<u32>,
    features: u64,
    licensee: Option<String>,
}

impl ArbitraryLicense {
    fn claims(&self) -> Claims<'_> {
        let time = |offset: u32| UnixTime(WIRE_EPOCH.0 + u64::from(offset));
        Claims {
            key_id: self.key_id,
            license_id: LicenseId(self.license_id),
            product: self.product,
            tier: self.tier,
            issued_at: time(self.issued_at),
            not_before: self.not_before.map(time),
            expires_at: self.expires_at.map(time),
            grace_seconds: self.grace_seconds,
            features: FeatureSet(self.features),
            licensee: self.licensee.as_deref(),
            requires_activation: false,
        }
    }
}

/// A licensee of 1 to 64 bytes of UTF-8, any characters but controls.
fn licensee() -> impl Strategy<Value = String> {
    "\\PC{1,64}".prop_map(|mut name| {
        while name.len() > MAX_LICENSEE_LEN {
            name.pop();
        }
        name
    })
}

fn arbitrary_license() -> impl Strategy<Value = ArbitraryLicense> {
    let times = (0..u32::MAX).prop_flat_map(|now| {
        (
            Just(now),
            0..=now,
            proptest::option::of(0..=now),
            proptest::option::of(now + 1..=u32::MAX),
        )
    });
    (
        any::<[u8; 32]>(),
        any::<u32>(),
        any::<[u8; 8]>(),
        any::<u32>(),
        any::<u8>(),
        times,
        proptest::option::of(any::<u32>()),
        any::<u64>(),
        proptest::option::of(licensee()),
    )
        .prop_map(
            |(
                seed,
                key_id,
                license_id,
                product,
                tier,
                (now, issued_at, not_before, expires_at),
                grace_seconds,
                features,
                licensee,
            )| ArbitraryLicense {
                seed,
                key_id,
                license_id,
                product,
                tier,
                issued_at,
                now,
                not_before,
                expires_at,
                grace_seconds,
                features,
                licensee,
            },
        )
}

/// ASCII whitespace, the only characters a decoder skips.
fn whitespace() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![Just(' '), Just('\t'), Just('\n'), Just('\r'), Just('\x0c')],
        1..4,
    )
    .prop_map(String::from_iter)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// sign -> text -> verify gives back exactly the claims, for any valid claims.
    #[test]
    fn any_claims_round_trip(license in arbitrary_license()) {
        let claims = license.claims();
        let key = SigningKey::from_seed(claims.key_id, &license.seed);
        let text = key.sign_license(&claims).expect("valid claims sign");
        prop_assert!(text.len() <= tessera_keys::MAX_LICENSE_TEXT_LEN);

        let trusted = [key.public_key()];
        let product = tessera_verifier::Product {
            id: claims.product,
            name: "any",
            tiers: &[],
            features: &[],
        };
        let verifier = Verifier::new(&trusted).expect("verifier").for_product(&product);
        let mut buf = LicenseBuffer::new();
        let now = UnixTime(WIRE_EPOCH.0 + u64::from(license.now));
        let verified = verifier.verify(&text, now, &mut buf);
        prop_assert!(verified.is_ok(), "{:?}", verified.err());
        let license = verified.expect("checked");
        prop_assert_eq!(license.claims(), &claims);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn flipping_any_bit_is_rejected(signed in signed(), at in any::<prop::sample::Index>()) {
        let bit = at.index(signed.bytes.len() * 8);
        let mut bytes = signed.bytes.clone();
        bytes[bit / 8] ^= 1 << (bit % 8);
        let expected = signed.refusal(&bytes);
        if bit / 8 >= signed.bytes.len() - SIGNATURE_LEN {
            // The claims are intact: only the signature can be what refuses them.
            prop_assert_eq!(&expected, &VerifyError::BadSignature);
        }
        prop_assert_eq!(signed.verify_bytes(&bytes), Err(expected), "bit {} flipped", bit);
        // The same bytes as text are refused the same way (but for the version byte, see text_refusal).
        let text = tessera_keys::license_text(&bytes);
        let expected = signed.text_refusal(&text);
        prop_assert_eq!(signed.verify_text(&text), Err(expected), "bit {} flipped, as text", bit);
    }

    #[test]
    fn replacing_any_character_is_rejected(
        signed in signed(),
        at in any::<prop::sample::Index>(),
        with in 1..64usize,
    ) {
        let position = at.index(signed.text.len());
        let old = signed.text.as_bytes()[position];
        // Any other base64url character: step through the alphabet from the old one (or from 'A').
        let old_index = BASE64URL.iter().position(|&c| c == old).unwrap_or(0);
        let mut new = BASE64URL[(old_index + with) % 64];
        if new == old {
            new = BASE64URL[(old_index + with + 1) % 64];
        }
        let mut text = signed.text.clone().into_bytes();
        text[position] = new;
        let text = String::from_utf8(text).expect("ASCII");
        let expected = signed.text_refusal(&text);
        prop_assert_eq!(
            signed.verify_text(&text),
            Err(expected),
            "{:?} at {} -> {:?}",
            old as char,
            position,
            new as char
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_truncation_is_rejected(signed in signed(), at in any::<prop::sample::Index>()) {
        let bytes_len = at.index(signed.bytes.len());
        // However short, a prefix of a licence ends inside a field or the signature.
        prop_assert_eq!(
            signed.verify_bytes(&signed.bytes[..bytes_len]),
            Err(VerifyError::Malformed(Malformed::Truncated)),
            "{} bytes",
            bytes_len
        );
        let text = &signed.text[..at.index(signed.text.len())];
        prop_assert_eq!(signed.verify_text(text), Err(signed.text_refusal(text)), "{:?}", text);
    }

    #[test]
    fn appending_anything_is_rejected(
        signed in signed(),
        extra_bytes in proptest::collection::vec(any::<u8>(), 1..80),
        extra_text in "[A-Za-z0-9_-]{1,80}",
    ) {
        let bytes = [&signed.bytes[..], &extra_bytes[..]].concat();
        let expected = if bytes.len() > MAX_LICENSE_LEN {
            Malformed::TooLong
        } else {
            Malformed::TrailingBytes
        };
        prop_assert_eq!(signed.verify_bytes(&bytes), Err(VerifyError::Malformed(expected)));
        let text = format!("{}{}", signed.text, extra_text);
        prop_assert_eq!(signed.verify_text(&text), Err(signed.text_refusal(&text)), "{}", text);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Ed25519 without the `S < L` check would accept S + L as well as S: one licence, two signatures.
    #[test]
    fn s_plus_l_is_rejected(license in arbitrary_license()) {
        let claims = license.claims();
        let key = SigningKey::from_seed(claims.key_id, &license.seed);
        let bytes = key.sign_license_bytes(&claims).expect("valid claims sign");
        let trusted = [key.public_key()];
        let verifier = Verifier::new(&trusted).expect("verifier");
        let now = UnixTime(WIRE_EPOCH.0 + u64::from(license.now));
        let mut buf = LicenseBuffer::new();
        prop_assert!(verifier.verify_bytes(&bytes, now, &mut buf).is_ok());
        let malleated = add_group_order(&bytes);
        let mut buf = LicenseBuffer::new();
        let verified = verifier.verify_bytes(&malleated, now, &mut buf).map(|_| ());
        prop_assert_eq!(verified, Err(VerifyError::BadSignature));
        let mut buf = LicenseBuffer::new();
        let text = tessera_keys::license_text(&malleated);
        let verified = verifier.verify(&text, now, &mut buf).map(|_| ());
        prop_assert_eq!(verified, Err(VerifyError::BadSignature));
    }

    /// Keys pasted from e-mails and web pages come wrapped and indented: whitespace anywhere, even
    /// inside the prefix, changes nothing.
    #[test]
    fn whitespace_anywhere_is_ignored(
        signed in signed(),
        inserts in proptest::collection::vec((any::<prop::sample::Index>(), whitespace()), 1..8),
    ) {
        let mut text = signed.text.clone();
        for (at, space) in &inserts {
            let position = at.index(text.len() + 1);
            text.insert_str(position, space);
        }
        prop_assert_eq!(signed.verify_text(&text), Ok(true));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A public key is one line that programs write: whitespace around it is ignored, whitespace
    /// inside it is refused wherever it falls (FORMAT.md section 9).
    #[test]
    fn public_key_whitespace_only_around(
        signed in signed(),
        before in whitespace(),
        after in whitespace(),
        inside in whitespace(),
        at in any::<prop::sample::Index>(),
    ) {
        let text = signed.public_key.to_string();
        let around = format!("{before}{text}{after}");
        prop_assert_eq!(PublicKey::from_text(&around), Ok(signed.public_key));
        let position = 1 + at.index(text.len() - 1);
        let mut wrapped = text.clone();
        wrapped.insert_str(position, &inside);
        // Refused as the part it falls in: the prefix `tspk1_`, the key id and its `_`, the base64url.
        let id_end = "tspk1_".len() + signed.public_key.id.to_string().len();
        let expected = if position < 6 {
            Malformed::WrongPrefix { expected: "tspk1_" }
        } else if position <= id_end {
            Malformed::InvalidField { field: "key_id" }
        } else {
            // A character outside the alphabet, under section 6's group rule: Base64, unless the
            // group of 4 it falls in would already overflow the 32 bytes.
            let group_start = (position - id_end - 1) / 4 * 4;
            let group_len = (43 + inside.len() - group_start).min(4);
            if group_start / 4 * 3 + group_len * 3 / 4 > 32 {
                Malformed::TooLong
            } else {
                Malformed::Base64
            }
        };
        prop_assert_eq!(PublicKey::from_text(&wrapped), Err(expected.into()), "{:?}", wrapped);
    }
}

/// The pool itself verifies, so that the mutation properties test rejections of valid licences.
#[test]
fn pool_verifies() {
    for signed in pool() {
        assert_eq!(signed.verify_text(&signed.text), Ok(true));
        assert_eq!(signed.verify_bytes(&signed.bytes), Ok(true));
    }
}
