//! Activation requests from untrusted hands (FORMAT.md section 16): the issuer decodes them from
//! anyone, without authentication, before it verifies the licence key inside.
//!
//! Every input is used three times:
//! - as request text to `ActivationRequestBuffer::decode_text`, and as bytes to
//!   `ActivationRequest::decode`: a request that decodes re-encodes to exactly the same bytes (and
//!   text, whitespace aside), and the licence it carries gets an answer from a verifier (as the
//!   issuer's, which takes a licence that requires activation on its own), never a panic;
//! - as the recipe for a request (a fingerprint, a genuine or arbitrary licence, a name and platform
//!   within their limits): it encodes, and decodes back to itself from bytes and from text;
//! - flipping any one byte of that request's bytes either fails to decode or gives another request,
//!   whose licence, if its bytes changed, does not verify.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use tessera_fuzz::{BOUND_LICENSE, NOW, PERMISSIVE};
use tessera_keys::{
    activation_request_text, ActivationRequest, ActivationRequestBuffer, Fingerprint,
    LicenseBuffer, MAX_ACTIVATION_REQUEST_LEN, MAX_LICENSE_LEN, MAX_MACHINE_NAME_LEN,
    MAX_PLATFORM_LEN,
};

fuzz_target!(|data: &[u8]| {
    as_text(&String::from_utf8_lossy(data));
    as_bytes(data);
    // Running out of bytes half-way through the recipe just ends the round trip.
    let _ = round_trip(&mut Unstructured::new(data));
});

fn as_text(text: &str) {
    let mut buf = ActivationRequestBuffer::new();
    if let Ok(request) = buf.decode_text(text) {
        let significant: String = text
            .chars()
            .filter(|c| !matches!(c, ' ' | '\t' | '\n' | '\x0c' | '\r'))
            .collect();
        assert_eq!(
            activation_request_text(&request).expect("a decoded request encodes"),
            significant
        );
        licence_answers(&request);
    }
}

fn as_bytes(bytes: &[u8]) {
    if let Ok(request) = ActivationRequest::decode(bytes) {
        let mut buf = [0; MAX_ACTIVATION_REQUEST_LEN];
        assert_eq!(
            request.encode(&mut buf).expect("a decoded request encodes"),
            bytes
        );
        licence_answers(&request);
    }
}

/// The issuer's next step: verify the licence the request carries.
fn licence_answers(request: &ActivationRequest<'_>) {
    let mut buf = LicenseBuffer::new();
    let verified = PERMISSIVE.verify_bytes(request.license, NOW, &mut buf);
    std::hint::black_box(verified.map(|licence| *licence.claims()).ok());
}

/// Up to `max` bytes of text, cut at a character boundary; `None` for an empty one.
fn short<'a>(u: &mut Unstructured<'a>, max: usize) -> arbitrary::Result<Option<&'a str>> {
    let text: &str = u.arbitrary()?;
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Ok((end > 0).then(|| &text[..end]))
}

fn round_trip(u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
    let fingerprint = Fingerprint(u.arbitrary()?);
    let genuine = u.ratio(3, 4)?;
    let arbitrary_licence: &[u8] = u.arbitrary()?;
    let license = if genuine || arbitrary_licence.is_empty() {
        &BOUND_LICENSE[..]
    } else {
        &arbitrary_licence[..arbitrary_licence.len().min(MAX_LICENSE_LEN)]
    };
    let request = ActivationRequest {
        fingerprint,
        license,
        name: short(u, MAX_MACHINE_NAME_LEN)?,
        platform: short(u, MAX_PLATFORM_LEN)?,
    };
    let mut buf = [0; MAX_ACTIVATION_REQUEST_LEN];
    let bytes = request
        .encode(&mut buf)
        .expect("a request within the limits encodes")
        .to_vec();
    assert_eq!(ActivationRequest::decode(&bytes), Ok(request));
    let text = activation_request_text(&request).expect("encodes");
    let mut text_buf = ActivationRequestBuffer::new();
    assert_eq!(text_buf.decode_text(&text), Ok(request));

    let mut tampered = bytes.clone();
    tampered[u.choose_index(bytes.len())?] ^= u.int_in_range(1..=u8::MAX)?;
    if let Ok(mutated) = ActivationRequest::decode(&tampered) {
        assert_ne!(mutated, request);
        if mutated.license != request.license && request.license == &BOUND_LICENSE[..] {
            let mut licence_buf = LicenseBuffer::new();
            let verified = PERMISSIVE.verify_bytes(mutated.license, NOW, &mut licence_buf);
            assert!(
                verified.is_err(),
                "{tampered:02x?}: a changed licence verifies"
            );
        }
    }
    Ok(())
}
