//! Licence keys from untrusted hands.
//!
//! Every input is used twice:
//! - as a key, text (`LicenseBuffer::decode_text`, `Verifier::verify`) and binary
//!   (`Verifier::verify_bytes`), checked at `NOW` by a verifier with two trusted keys, a product and a
//!   revocation list: each gives an answer, never a panic, and verification fails exactly as decoding
//!   does when decoding fails;
//! - as the recipe for valid claims, which are signed and verified at a chosen time: the answer is the
//!   one FORMAT.md section 7 prescribes (the same claims back, or the first check that fails, up to
//!   `ActivationRequired`), and replacing any one character of the text, or any byte of the binary
//!   form, makes verification fail.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use tessera_fuzz::{
    any_now, replace_char, IMPOSTOR, NOW, PERMISSIVE, PRODUCT, REVOKED, SIGNERS, STRICT,
};
use tessera_keys::{license_text, Claims, LicenseBuffer, UnixTime};
use tessera_verifier::{License, VerifyError, DEFAULT_CLOCK_TOLERANCE_SECONDS};

fuzz_target!(|data: &[u8]| {
    as_text(&String::from_utf8_lossy(data));
    as_bytes(data);
    // Running out of bytes half-way through the recipe just ends the round trip.
    let _ = round_trip(&mut Unstructured::new(data));
});

fn as_text(text: &str) {
    let mut decode_buf = LicenseBuffer::new();
    let decoded = decode_buf.decode_text(text).map(|signed| signed.claims);
    let mut buf = LicenseBuffer::new();
    let verified = STRICT.verify(text, NOW, &mut buf);
    agrees(decoded.map_err(VerifyError::from), verified);
}

fn as_bytes(bytes: &[u8]) {
    let mut decode_buf = LicenseBuffer::new();
    let decoded = decode_buf.decode_bytes(bytes).map(|signed| signed.claims);
    let mut buf = LicenseBuffer::new();
    let verified = STRICT.verify_bytes(bytes, NOW, &mut buf);
    agrees(decoded.map_err(VerifyError::from), verified);
}

/// A key that does not decode fails verification with the decoding error; one that verifies has the
/// decoded claims, and the questions an app asks of it have answers.
fn agrees(decoded: Result<Claims<'_>, VerifyError>, verified: Result<License<'_>, VerifyError>) {
    match (decoded, verified) {
        (Err(decode_error), verified) => assert_eq!(verified.err(), Some(decode_error)),
        (Ok(claims), Ok(license)) => {
            assert_eq!(*license.claims(), claims);
            std::hint::black_box((
                license.validity(),
                license.tier_name(),
                license.tier_at_least("pro"),
                license.has_feature("sync"),
                license.has_feature_bit(63),
            ));
        }
        (Ok(_), Err(_)) => {}
    }
}

fn round_trip(u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
    let signer_index = u.choose_index(SIGNERS.len())?;
    let signer = &SIGNERS[signer_index];
    let claims = tessera_fuzz::claims(u)?;
    let now = any_now(u)?;
    let bytes = signer
        .sign_license_bytes(&claims)
        .expect("claims within the format's ranges always encode");
    let text = license_text(&bytes);
    let claims = Claims {
        key_id: signer.id(),
        ..claims
    };
    let trusted = signer_index != IMPOSTOR;

    let mut buf = LicenseBuffer::new();
    let decoded = buf.decode_text(&text).expect("a key we signed decodes");
    assert_eq!(decoded.claims, claims);

    let expected = expected(&claims, trusted, now);
    let mut buf = LicenseBuffer::new();
    let verified = STRICT.verify(&text, now, &mut buf).map(|l| *l.claims());
    assert_eq!(verified, expected, "{text} at {now:?}");
    let mut buf = LicenseBuffer::new();
    let verified = STRICT
        .verify_bytes(&bytes, now, &mut buf)
        .map(|l| *l.claims());
    assert_eq!(verified, expected, "{text} (binary) at {now:?}");

    // Tampering: at a time the key is valid, the original verifies and any change is refused.
    let Some(valid_at) = valid_at(&claims).filter(|_| trusted) else {
        return Ok(());
    };
    let mut buf = LicenseBuffer::new();
    assert!(
        PERMISSIVE.verify(&text, valid_at, &mut buf).is_ok(),
        "{text}"
    );
    let at = u.choose_index(text.len())?;
    if let Some(tampered) = replace_char(&text, at, u.arbitrary()?) {
        let mut buf = LicenseBuffer::new();
        let result = PERMISSIVE.verify(&tampered, valid_at, &mut buf);
        assert!(result.is_err(), "{text} changed to {tampered} verifies");
    }
    let mut tampered = bytes.clone();
    tampered[u.choose_index(bytes.len())?] ^= u.int_in_range(1..=u8::MAX)?;
    let mut buf = LicenseBuffer::new();
    let result = PERMISSIVE.verify_bytes(&tampered, valid_at, &mut buf);
    assert!(
        result.is_err(),
        "{text} changed to {tampered:02x?} verifies"
    );
    Ok(())
}

/// FORMAT.md section 7, for a key that decodes: key, signature, product, revocation, dates, the need
/// for activation.
fn expected<'a>(
    claims: &Claims<'a>,
    trusted: bool,
    now: UnixTime,
) -> Result<Claims<'a>, VerifyError> {
    if !trusted {
        // The impostor claims key id 1, which the verifier knows.
        return Err(VerifyError::BadSignature);
    }
    if claims.product != PRODUCT.id {
        return Err(VerifyError::WrongProduct {
            expected: PRODUCT.id,
            found: claims.product,
        });
    }
    if REVOKED.contains(&claims.license_id) {
        return Err(VerifyError::Revoked {
            license_id: claims.license_id,
        });
    }
    if let Some(not_before) = claims.not_before.filter(|&t| now < t) {
        return Err(VerifyError::NotYetValid { not_before, now });
    }
    if now.0.saturating_add(DEFAULT_CLOCK_TOLERANCE_SECONDS) < claims.issued_at.0 {
        return Err(VerifyError::NotYetValid {
            not_before: claims.issued_at,
            now,
        });
    }
    if let Some(expired_at) = claims.expires_at {
        let grace = u64::from(claims.grace_seconds.unwrap_or(0));
        if now.0 >= expired_at.0.saturating_add(grace) {
            return Err(VerifyError::Expired {
                expired_at,
                now,
                in_grace: false,
            });
        }
    }
    if claims.requires_activation {
        return Err(VerifyError::ActivationRequired);
    }
    Ok(*claims)
}

/// A time at which `claims` are neither not yet valid nor past their grace period, if there is one.
fn valid_at(claims: &Claims<'_>) -> Option<UnixTime> {
    let start = claims
        .not_before
        .unwrap_or(claims.issued_at)
        .max(claims.issued_at);
    let end = claims
        .expires_at
        .map(|t| t.0.saturating_add(claims.grace_seconds.unwrap_or(0).into()));
    end.is_none_or(|end| start.0 < end).then_some(start)
}
