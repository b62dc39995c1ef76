//! Machine certificates from untrusted hands (FORMAT.md sections 15 and 17).
//!
//! Every input is used three times:
//! - as certificate text to `CertificateBuffer::decode_text`: a certificate that decodes re-encodes to
//!   exactly the same bytes and text (whitespace aside), and its signed message is the certificate
//!   tag followed by those claims;
//! - as the certificate, and as the licence key, to `Verifier::verify_activated` with a genuine
//!   licence key (or certificate) beside it: an answer, never a panic, and a certificate that does not
//!   decode fails with its decoding error;
//! - as the recipe for certificate claims, which are signed and verified together with the bound
//!   licence at a chosen time, on this machine, with a chosen last-seen time: the answer is the one
//!   FORMAT.md section 17 prescribes, and changing any one byte of the certificate makes it fail.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use tessera_fuzz::{
    any_now, bound_claims, replace_char, this_machine, time, trusting_keys_1_and_2, BOUND_LICENSE,
    IMPOSTOR, NOW, SIGNERS,
};
use tessera_keys::{
    certificate_text, license_text, CertificateBuffer, DecodeError, LicenseId, MachineClaims,
    UnixTime, CERTIFICATE_DOMAIN, MAX_MACHINE_CLAIMS_LEN,
};
use tessera_verifier::{ActivationBuffers, VerifyError, DEFAULT_CLOCK_TOLERANCE_SECONDS};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    as_certificate(&text);
    as_key(&text);
    // Running out of bytes half-way through the recipe just ends the round trip.
    let _ = round_trip(&mut Unstructured::new(data));
});

fn bound_key() -> String {
    license_text(&BOUND_LICENSE)
}

fn as_certificate(text: &str) {
    let mut buf = CertificateBuffer::new();
    let decoded = buf.decode_text(text);
    if let Ok(certificate) = &decoded {
        let mut claims_buf = [0; MAX_MACHINE_CLAIMS_LEN];
        let claims = certificate
            .claims
            .encode(&mut claims_buf)
            .expect("decoded claims encode");
        assert_eq!(
            certificate.signed_message,
            &[CERTIFICATE_DOMAIN, &claims[..]].concat()[..]
        );
        let bytes = [&claims[..], &certificate.signature[..]].concat();
        let significant: String = text
            .chars()
            .filter(|c| !matches!(c, ' ' | '\t' | '\n' | '\x0c' | '\r'))
            .collect();
        assert_eq!(certificate_text(&bytes), significant);
    }
    let decode_error = decoded.map(|certificate| certificate.claims).err();
    let verifier = trusting_keys_1_and_2();
    let mut bufs = ActivationBuffers::new();
    let verified =
        verifier.verify_activated(&bound_key(), text, &this_machine(), NOW, None, &mut bufs);
    if let Some(err) = decode_error {
        assert_eq!(verified.err(), Some(certificate_error(err)));
    }
}

/// A genuine certificate beside the input as the key: any answer, never a panic.
fn as_key(text: &str) {
    let claims = MachineClaims {
        key_id: 1,
        license_id: bound_claims().license_id,
        fingerprint: this_machine().certified(),
        issued_at: NOW,
        lease_ends_at: None,
    };
    let certificate = SIGNERS[0]
        .sign_machine_certificate(&claims)
        .expect("valid claims");
    let mut bufs = ActivationBuffers::new();
    let verified = trusting_keys_1_and_2().verify_activated(
        text,
        &certificate,
        &this_machine(),
        NOW,
        Some(NOW),
        &mut bufs,
    );
    if let Ok(activated) = verified {
        assert_eq!(*activated.certificate(), claims);
    }
}

/// How the verifier reports a certificate that does not decode.
fn certificate_error(err: DecodeError) -> VerifyError {
    match err {
        DecodeError::UnsupportedVersion { found } => {
            VerifyError::UnsupportedCertificateVersion { found }
        }
        DecodeError::Malformed(why) => VerifyError::MalformedCertificate(why),
        other => {
            panic!("a certificate fails to decode only as malformed or unsupported: {other:?}")
        }
    }
}

fn round_trip(u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
    let signer_index = u.choose_index(SIGNERS.len())?;
    let signer = &SIGNERS[signer_index];
    let license_id = if u.ratio(3, 4)? {
        bound_claims().license_id
    } else {
        LicenseId(u.arbitrary()?)
    };
    let fingerprint = if u.ratio(3, 4)? {
        this_machine().certified()
    } else {
        u.arbitrary()?
    };
    let claims = MachineClaims {
        key_id: signer.id(),
        license_id,
        fingerprint,
        issued_at: time(u)?,
        lease_ends_at: if u.arbitrary()? { Some(time(u)?) } else { None },
    };
    let now = any_now(u)?;
    let last_seen = if u.arbitrary()? {
        Some(any_now(u)?)
    } else {
        None
    };
    let bytes = signer
        .sign_machine_certificate_bytes(&claims)
        .expect("claims within the format's ranges always encode");
    let text = certificate_text(&bytes);

    let mut buf = CertificateBuffer::new();
    assert_eq!(
        buf.decode_text(&text)
            .expect("a certificate we signed decodes")
            .claims,
        claims
    );

    let expected = expected(&claims, signer_index != IMPOSTOR, now, last_seen);
    let verifier = trusting_keys_1_and_2();
    let mut bufs = ActivationBuffers::new();
    let verified = verifier
        .verify_activated(
            &bound_key(),
            &text,
            &this_machine(),
            now,
            last_seen,
            &mut bufs,
        )
        .map(|activated| *activated.certificate());
    assert_eq!(
        verified, expected,
        "{text} at {now:?}, last seen {last_seen:?}"
    );

    // Tampering: where the certificate verifies, any change to one character or byte is refused.
    if expected.is_err() {
        return Ok(());
    }
    let at = u.choose_index(text.len())?;
    if let Some(tampered) = replace_char(&text, at, u.arbitrary()?) {
        let mut bufs = ActivationBuffers::new();
        let result = verifier.verify_activated(
            &bound_key(),
            &tampered,
            &this_machine(),
            now,
            last_seen,
            &mut bufs,
        );
        assert!(result.is_err(), "{text} changed to {tampered} verifies");
    }
    let mut tampered = bytes.clone();
    tampered[u.choose_index(bytes.len())?] ^= u.int_in_range(1..=u8::MAX)?;
    let mut bufs = ActivationBuffers::new();
    let result = verifier.verify_activated(
        &bound_key(),
        &certificate_text(&tampered),
        &this_machine(),
        now,
        last_seen,
        &mut bufs,
    );
    assert!(
        result.is_err(),
        "{text} changed to {tampered:02x?} verifies"
    );
    Ok(())
}

/// FORMAT.md section 17 for a certificate that decodes, with the bound licence on this machine.
fn expected(
    claims: &MachineClaims,
    trusted: bool,
    now: UnixTime,
    last_seen: Option<UnixTime>,
) -> Result<MachineClaims, VerifyError> {
    let tolerance = DEFAULT_CLOCK_TOLERANCE_SECONDS;
    if let Some(last_seen) = last_seen.filter(|seen| now.0.saturating_add(tolerance) < seen.0) {
        return Err(VerifyError::ClockRolledBack { last_seen, now });
    }
    let licence = bound_claims();
    if now.0.saturating_add(tolerance) < licence.issued_at.0 {
        return Err(VerifyError::NotYetValid {
            not_before: licence.issued_at,
            now,
        });
    }
    if !trusted {
        // The impostor claims key id 1, which the verifier knows.
        return Err(VerifyError::BadCertificateSignature);
    }
    if claims.license_id != licence.license_id {
        return Err(VerifyError::CertificateForAnotherLicense {
            certified: claims.license_id,
            license_id: licence.license_id,
        });
    }
    if !claims.is_for(&this_machine()) {
        return Err(VerifyError::CertificateForAnotherMachine);
    }
    if now.0.saturating_add(tolerance) < claims.issued_at.0 {
        return Err(VerifyError::NotYetValid {
            not_before: claims.issued_at,
            now,
        });
    }
    if let Some(lease_ended_at) = claims.lease_ends_at {
        let grace = u64::from(licence.grace_seconds.unwrap_or(0));
        if now.0 >= lease_ended_at.0.saturating_add(grace) {
            return Err(VerifyError::LeaseExpired {
                lease_ended_at,
                now,
            });
        }
    }
    Ok(*claims)
}
