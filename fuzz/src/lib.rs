//! What the fuzz targets share: fixed issuer keys, a product, a revocation list, the verifiers built
//! from them, and a way to make valid claims out of fuzzer bytes.
//!
//! The keys are the RFC 8032 test keys the golden vectors (`tests/vectors/`) use, so the vectors in the
//! seed corpora verify here.

use std::sync::LazyLock;

use arbitrary::Unstructured;
use tessera_keys::{
    Claims, FeatureSet, Fingerprint, LicenseId, SigningKey, UnixTime, MAX_LICENSEE_LEN,
    MAX_WIRE_TIME, WIRE_EPOCH,
};
use tessera_verifier::{Product, Verifier};

/// The time licences are checked at when the input does not choose one: the vectors' `now`.
pub const NOW: UnixTime = UnixTime(1_790_000_000);

/// The product the strict verifier expects, as an app embeds it.
pub const PRODUCT: Product = Product {
    id: 1,
    name: "editor",
    tiers: &["free", "pro", "team"],
    features: &["export", "sync", "themes", "plugins", "cloud"],
};

/// The licences the strict verifier's revocation list revokes; not the `reference` vector's, so that
/// the seeds include keys it accepts (the round trip revokes now and then).
pub const REVOKED: [LicenseId; 3] = [
    LicenseId([0x11; 8]),
    LicenseId([0xb4, 0x9a, 0xde, 0x9b, 0x88, 0xb0, 0x93, 0x18]),
    LicenseId([0xee; 8]),
];

/// Who signs: the two trusted issuer keys (ids 1 and 2), then an impostor that claims id 1.
pub static SIGNERS: LazyLock<[SigningKey; 3]> = LazyLock::new(|| {
    [
        SigningKey::from_seed(
            1,
            &hex32("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"),
        ),
        SigningKey::from_seed(
            2,
            &hex32("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"),
        ),
        SigningKey::from_seed(1, &[0x42; 32]),
    ]
});

/// Index of the impostor in [`SIGNERS`]: its signatures must never verify.
pub const IMPOSTOR: usize = 2;

/// Trusts keys 1 and 2 and nothing else: no product, no revocation list; and, as the issuer does, it
/// takes a licence that requires activation on its own.
pub static PERMISSIVE: LazyLock<Verifier<'static>> =
    LazyLock::new(|| trusting_keys_1_and_2().accepting_unactivated());

/// Trusts keys 1 and 2, as an app does: a licence that requires activation needs a certificate.
pub fn trusting_keys_1_and_2() -> Verifier<'static> {
    let trusted = [SIGNERS[0].public_key(), SIGNERS[1].public_key()];
    Verifier::new(&trusted).expect("the test keys are valid")
}

/// What an app runs: keys 1 and 2, [`PRODUCT`], and a checked revocation list of [`REVOKED`].
pub static STRICT: LazyLock<Verifier<'static>> = LazyLock::new(|| {
    let text = SIGNERS[0]
        .sign_revocations(3, NOW, &REVOKED)
        .expect("sorted, distinct ids");
    let buf = vec![0; tessera_keys::revocations_buffer_len(REVOKED.len())].leak();
    let list = PERMISSIVE
        .check_revocations(&text, buf, None)
        .expect("a list key 1 signed");
    trusting_keys_1_and_2()
        .for_product(&PRODUCT)
        .with_revocations(list)
});

/// A licence that requires activation, for product 1, signed by key 1 at the wire epoch, perpetual,
/// with a day of grace (which certificates' leases get too). Its binary form.
pub static BOUND_LICENSE: LazyLock<Vec<u8>> = LazyLock::new(|| {
    SIGNERS[0]
        .sign_license_bytes(&bound_claims())
        .expect("valid claims")
});

/// The claims of [`BOUND_LICENSE`].
pub fn bound_claims() -> Claims<'static> {
    Claims {
        key_id: 1,
        license_id: LicenseId([0x3f, 0x9a, 0x5c, 0x0e, 0x7d, 0x21, 0xb8, 0x46]),
        product: PRODUCT.id,
        tier: 1,
        issued_at: WIRE_EPOCH,
        not_before: None,
        expires_at: None,
        grace_seconds: Some(86_400),
        features: FeatureSet(0b11),
        licensee: None,
        requires_activation: true,
    }
}

/// The machine the certificates are checked on: the one of the golden vectors (`certificates.json`).
pub fn this_machine() -> Fingerprint {
    Fingerprint::of_machine_id(PRODUCT.id, b"b08f2f7c1e6a4d3c9a5e8f0d2c4b6a18")
}

/// Claims that encode: every time within the wire range, a licensee of 1 to 64 bytes if any. Mostly
/// for [`PRODUCT`] and now and then a revoked licence, so that all of the verifier's checks get to run.
/// `key_id` is 0: signing sets it.
pub fn claims<'a>(u: &mut Unstructured<'a>) -> arbitrary::Result<Claims<'a>> {
    let license_id = if u.ratio(1, 8)? {
        *u.choose(&REVOKED)?
    } else {
        LicenseId(u.arbitrary()?)
    };
    let product = if u.ratio(3, 4)? {
        PRODUCT.id
    } else {
        u.arbitrary()?
    };
    let tier = u.arbitrary()?;
    let issued_at = time(u)?;
    let not_before = optional(u, time)?;
    let expires_at = optional(u, time)?;
    Ok(Claims {
        key_id: 0,
        license_id,
        product,
        tier,
        issued_at,
        not_before,
        expires_at,
        grace_seconds: u.arbitrary()?,
        features: FeatureSet(u.arbitrary()?),
        licensee: optional(u, licensee)?,
        requires_activation: u.ratio(1, 8)?,
    })
}

/// A time a licence can carry.
pub fn time(u: &mut Unstructured<'_>) -> arbitrary::Result<UnixTime> {
    u.int_in_range(WIRE_EPOCH.0..=MAX_WIRE_TIME.0).map(UnixTime)
}

/// A time near the wire range, a little beyond either end included.
pub fn any_now(u: &mut Unstructured<'_>) -> arbitrary::Result<UnixTime> {
    u.int_in_range(WIRE_EPOCH.0 - 86_400..=MAX_WIRE_TIME.0 + 86_400)
        .map(UnixTime)
}

fn optional<'a, T>(
    u: &mut Unstructured<'a>,
    make: impl FnOnce(&mut Unstructured<'a>) -> arbitrary::Result<T>,
) -> arbitrary::Result<Option<T>> {
    Ok(if u.arbitrary()? { Some(make(u)?) } else { None })
}

/// A licensee name of 1 to [`MAX_LICENSEE_LEN`] bytes, cut at a character boundary.
fn licensee<'a>(u: &mut Unstructured<'a>) -> arbitrary::Result<&'a str> {
    let name: &str = u.arbitrary()?;
    let mut end = name.len().min(MAX_LICENSEE_LEN);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    Ok(if end == 0 { "x" } else { &name[..end] })
}

/// `text` with the character at byte `at` replaced by `by`, or `None` if that changes nothing.
///
/// `text` is ASCII (a licence or revocation list text), so every byte starts a character.
pub fn replace_char(text: &str, at: usize, by: char) -> Option<String> {
    let old = text[at..].chars().next()?;
    (old != by).then(|| format!("{}{by}{}", &text[..at], &text[at + old.len_utf8()..]))
}

fn hex32(hex: &str) -> [u8; 32] {
    let mut out = [0; 32];
    for (byte, pair) in out.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
        let digits = std::str::from_utf8(pair).expect("ASCII");
        *byte = u8::from_str_radix(digits, 16).expect("hex digits");
    }
    out
}
