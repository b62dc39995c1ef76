//! Property tests for machine certificates and activation requests (`FORMAT.md` sections 14 to 17).
//!
//! What is claimed, exactly:
//!
//! - Any valid certificate claims round-trip: sign → text → `verify_activated` gives back exactly the
//!   claims and the days of lease left, for any key id, licence, machine, product and times that are
//!   valid together.
//! - Any single bit flipped in a certificate's bytes, any character of its text replaced by another
//!   base64url character, any truncation and anything appended is refused, and refused in steps 3 to 5
//!   of section 17 (decoding, key id, signature): with the certificate's decoding error, else
//!   `UnknownKeyId` if the key id changed, else `BadCertificateSignature`. Never accepted, so never
//!   accepted with other claims; never refused only by a later check, which would mean the signature
//!   was not what stopped it. Whitespace inserted anywhere changes nothing.
//! - A genuine certificate checked against any other machine (a fingerprint whose first 16 bytes
//!   differ) is `CertificateForAnotherMachine`; with any other genuine licence,
//!   `CertificateForAnotherLicense`. (A fingerprint that differs only after its 16th byte is the same
//!   machine to a certificate: section 14.)
//! - Activation requests round-trip for any fingerprint, licence bytes, name and platform within the
//!   limits. They are not signed, so a mutated request may decode: the claim is that any single bit
//!   flip either fails to decode, or decodes to a request that differs from the original (the encoding
//!   is canonical), and if its licence bytes differ from the original's, they fail verification. A
//!   change to the fingerprint, name or platform alone gives another well-formed request, which is
//!   harmless: the licence key is the credential, and the issuer trusts nothing else in a request.

use std::sync::OnceLock;

use proptest::prelude::*;
use tessera_keys::{
    activation_request_text, certificate_text, ActivationRequest, ActivationRequestBuffer,
    CertificateBuffer, Claims, DecodeError, FeatureSet, Fingerprint, LicenseBuffer, LicenseId,
    MachineClaims, PublicKey, SigningKey, UnixTime, MAX_ACTIVATION_REQUEST_LEN,
    MAX_ACTIVATION_REQUEST_TEXT_LEN, MAX_CERTIFICATE_LEN, MAX_CERTIFICATE_TEXT_LEN,
    MAX_LICENSE_LEN, MAX_MACHINE_NAME_LEN, MAX_PLATFORM_LEN, MAX_WIRE_TIME, SIGNATURE_LEN,
    WIRE_EPOCH,
};
use tessera_verifier::{ActivationBuffers, Malformed, Verifier, VerifyError};

use crate::vectors::{BASE64URL, SEED_1, SEED_2};

/// A licence and a certificate for it, signed once, with what verifies them.
#[derive(Debug)]
struct Activation {
    trusted: Vec<PublicKey>,
    key: String,
    license_bytes: Vec<u8>,
    claims: MachineClaims,
    fingerprint: Fingerprint,
    now: UnixTime,
    bytes: Vec<u8>,
    text: String,
}

fn license_claims(license_id: LicenseId, issued_at: UnixTime) -> Claims<'static> {
    Claims {
        key_id: 1,
        license_id,
        product: 1,
        tier: 1,
        issued_at,
        not_before: None,
        expires_at: None,
        grace_seconds: Some(86_400),
        features: FeatureSet(0b1),
        licensee: None,
        requires_activation: true,
    }
}

impl Activation {
    /// Verifies `certificate` with the pool's key at `now` on `fingerprint`; `Ok(true)` if it gives
    /// back exactly the claims.
    fn verify_on(&self, certificate: &str, fingerprint: &Fingerprint) -> Result<bool, VerifyError> {
        let verifier = Verifier::new(&self.trusted).expect("verifier");
        let mut bufs = ActivationBuffers::new();
        verifier
            .verify_activated(
                &self.key,
                certificate,
                fingerprint,
                self.now,
                None,
                &mut bufs,
            )
            .map(|activated| *activated.certificate() == self.claims)
    }

    fn verify(&self, certificate: &str) -> Result<bool, VerifyError> {
        self.verify_on(certificate, &self.fingerprint)
    }

    /// Section 17, steps 3 to 5, for a tampered certificate text: its decoding error, else
    /// `UnknownKeyId` if its key id is not trusted, else `BadCertificateSignature`.
    fn refusal(&self, certificate: &str) -> VerifyError {
        let mut buf = CertificateBuffer::new();
        match buf.decode_text(certificate) {
            Err(DecodeError::UnsupportedVersion { found }) => {
                VerifyError::UnsupportedCertificateVersion { found }
            }
            Err(DecodeError::Malformed(why)) => VerifyError::MalformedCertificate(why),
            Err(other) => panic!("unexpected decoding error {other:?}"),
            Ok(decoded)
                if !self
                    .trusted
                    .iter()
                    .any(|key| key.id == decoded.claims.key_id) =>
            {
                VerifyError::UnknownKeyId {
                    key_id: decoded.claims.key_id,
                }
            }
            Ok(_) => VerifyError::BadCertificateSignature,
        }
    }
}

fn pool() -> &'static [Activation] {
    static POOL: OnceLock<Vec<Activation>> = OnceLock::new();
    POOL.get_or_init(|| {
        let issued = UnixTime(1_790_000_000);
        let licence = SigningKey::from_seed(1, &SEED_1);
        let longest_signer = SigningKey::from_seed(u32::MAX, &SEED_2);
        let machine = Fingerprint::of_machine_id(1, b"b08f2f7c1e6a4d3c9a5e8f0d2c4b6a18");
        let license_id = LicenseId([0x3f; 8]);
        let lease = MachineClaims {
            key_id: 1,
            license_id,
            fingerprint: machine.certified(),
            issued_at: issued,
            lease_ends_at: Some(UnixTime(issued.0 + 30 * 86_400)),
        };
        [
            (&licence, lease, UnixTime(issued.0 + 86_400)),
            (
                &licence,
                MachineClaims {
                    lease_ends_at: None,
                    ..lease
                },
                issued,
            ),
            (
                &longest_signer,
                MachineClaims {
                    key_id: u32::MAX,
                    issued_at: UnixTime(MAX_WIRE_TIME.0 - 1),
                    lease_ends_at: Some(MAX_WIRE_TIME),
                    ..lease
                },
                UnixTime(MAX_WIRE_TIME.0 - 1),
            ),
        ]
        .into_iter()
        .map(|(signer, claims, now)| {
            let license_bytes = licence
                .sign_license_bytes(&license_claims(license_id, issued))
                .expect("sign");
            let bytes = signer
                .sign_machine_certificate_bytes(&claims)
                .expect("sign");
            Activation {
                trusted: vec![licence.public_key(), longest_signer.public_key()],
                key: tessera_keys::license_text(&license_bytes),
                license_bytes,
                claims,
                fingerprint: machine,
                now,
                text: certificate_text(&bytes),
                bytes,
            }
        })
        .collect()
    })
}

fn activation() -> impl Strategy<Value = &'static Activation> {
    (0..pool().len()).prop_map(|index| &pool()[index])
}

/// Certificate claims and times that are valid together, as proptest can own them.
#[derive(Clone, Debug)]
struct ArbitraryActivation {
    seed: [u8; 32],
    key_id: u32,
    license_id: [u8; 8],
    product: u32,
    machine_id: Vec<u8>,
    /// Wire offsets: the licence and the certificate issued at or before `now`, the lease after it.
    now: u32,
    license_issued_at: u32,
    issued_at: u32,
    lease_ends_at: Option<u32>,
    /// At most the clock tolerance after `now`.
    last_seen: Option<u32>,
}

fn arbitrary_activation() -> impl Strategy<Value = ArbitraryActivation> {
    let times = (0..u32::MAX).prop_flat_map(|now| {
        (
            Just(now),
            0..=now,
            0..=now,
            proptest::option::of(now + 1..=u32::MAX),
            proptest::option::of(0..=now.saturating_add(3600)),
        )
    });
    (
        any::<[u8; 32]>(),
        any::<u32>(),
        any::<[u8; 8]>(),
        any::<u32>(),
        proptest::collection::vec(any::<u8>(), 1..64),
        times,
    )
        .prop_map(|(seed, key_id, license_id, product, machine_id, times)| {
            ArbitraryActivation {
                seed,
                key_id,
                license_id,
                product,
                machine_id,
                now: times.0,
                license_issued_at: times.1,
                issued_at: times.2,
                lease_ends_at: times.3,
                last_seen: times.4,
            }
        })
}

fn wire(offset: u32) -> UnixTime {
    UnixTime(WIRE_EPOCH.0 + u64::from(offset))
}

/// A name or platform of 1 to `max` bytes of UTF-8, any characters but controls.
fn short_text(max: usize) -> impl Strategy<Value = String> {
    "\\PC{1,64}".prop_map(move |mut text| {
        while text.len() > max {
            text.pop();
        }
        text
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// sign -> text -> verify_activated gives back exactly the claims and the lease left.
    #[test]
    fn any_certificate_round_trips(case in arbitrary_activation()) {
        let key = SigningKey::from_seed(case.key_id, &case.seed);
        let license_id = LicenseId(case.license_id);
        let license = Claims {
            key_id: case.key_id,
            product: case.product,
            ..license_claims(license_id, wire(case.license_issued_at))
        };
        let key_text = key.sign_license(&license).expect("sign");
        let fingerprint = Fingerprint::of_machine_id(case.product, &case.machine_id);
        let claims = MachineClaims {
            key_id: case.key_id,
            license_id,
            fingerprint: fingerprint.certified(),
            issued_at: wire(case.issued_at),
            lease_ends_at: case.lease_ends_at.map(wire),
        };
        let text = key.sign_machine_certificate(&claims).expect("sign");
        prop_assert!(text.len() <= MAX_CERTIFICATE_TEXT_LEN);

        let trusted = [key.public_key()];
        let verifier = Verifier::new(&trusted).expect("verifier");
        let now = wire(case.now);
        let mut bufs = ActivationBuffers::new();
        let verified = verifier.verify_activated(
            &key_text,
            &text,
            &fingerprint,
            now,
            case.last_seen.map(wire),
            &mut bufs,
        );
        prop_assert!(verified.is_ok(), "{:?}", verified.err());
        let activated = verified.expect("checked");
        prop_assert_eq!(activated.certificate(), &claims);
        prop_assert_eq!(activated.license().claims(), &license);
        let days_left = case
            .lease_ends_at
            .map(|end| (wire(end).0 - now.0) / 86_400);
        prop_assert_eq!(activated.lease_days_left(), days_left);
    }

    /// Any other genuine licence is refused as another licence's, and any other machine as another
    /// machine's.
    #[test]
    fn another_licence_or_machine_is_refused(
        activation in activation(),
        other_id in any::<[u8; 8]>(),
        other_machine in any::<[u8; 32]>(),
        same_machine_tail in any::<[u8; 16]>(),
    ) {
        let other_id = LicenseId(other_id);
        prop_assume!(other_id != activation.claims.license_id);
        prop_assume!(other_machine[..16] != activation.claims.fingerprint);
        let signer = SigningKey::from_seed(1, &SEED_1);
        let other_key = signer
            .sign_license(&license_claims(other_id, UnixTime(1_790_000_000)))
            .expect("sign");
        let verifier = Verifier::new(&activation.trusted).expect("verifier");
        let mut bufs = ActivationBuffers::new();
        let refused = verifier
            .verify_activated(
                &other_key,
                &activation.text,
                &activation.fingerprint,
                activation.now,
                None,
                &mut bufs,
            )
            .map(|_| ());
        prop_assert_eq!(
            refused,
            Err(VerifyError::CertificateForAnotherLicense {
                certified: activation.claims.license_id,
                license_id: other_id,
            })
        );
        prop_assert_eq!(
            activation.verify_on(&activation.text, &Fingerprint(other_machine)),
            Err(VerifyError::CertificateForAnotherMachine)
        );
        // Only the certified 16 bytes count.
        let mut same = activation.fingerprint.0;
        same[16..].copy_from_slice(&same_machine_tail);
        prop_assert_eq!(activation.verify_on(&activation.text, &Fingerprint(same)), Ok(true));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn flipping_any_bit_of_a_certificate_is_refused(
        activation in activation(),
        at in any::<prop::sample::Index>(),
    ) {
        let bit = at.index(activation.bytes.len() * 8);
        let mut bytes = activation.bytes.clone();
        bytes[bit / 8] ^= 1 << (bit % 8);
        let text = certificate_text(&bytes);
        let expected = activation.refusal(&text);
        if bit / 8 >= activation.bytes.len() - SIGNATURE_LEN {
            // The claims are intact: only the signature can be what refuses them.
            prop_assert_eq!(&expected, &VerifyError::BadCertificateSignature);
        }
        prop_assert_eq!(activation.verify(&text), Err(expected), "bit {} flipped", bit);
    }

    #[test]
    fn replacing_any_character_of_a_certificate_is_refused(
        activation in activation(),
        at in any::<prop::sample::Index>(),
        with in 1..64usize,
    ) {
        let position = at.index(activation.text.len());
        let old = activation.text.as_bytes()[position];
        let old_index = BASE64URL.iter().position(|&c| c == old).unwrap_or(0);
        let mut new = BASE64URL[(old_index + with) % 64];
        if new == old {
            new = BASE64URL[(old_index + with + 1) % 64];
        }
        let mut text = activation.text.clone().into_bytes();
        text[position] = new;
        let text = String::from_utf8(text).expect("ASCII");
        let expected = activation.refusal(&text);
        let in_steps_3_to_5 = matches!(
            expected,
            VerifyError::MalformedCertificate(_)
                | VerifyError::UnsupportedCertificateVersion { .. }
                | VerifyError::UnknownKeyId { .. }
                | VerifyError::BadCertificateSignature
        );
        prop_assert!(in_steps_3_to_5, "{:?}", expected);
        prop_assert_eq!(activation.verify(&text), Err(expected), "{}", text);
    }

    #[test]
    fn truncating_or_extending_a_certificate_is_refused(
        activation in activation(),
        at in any::<prop::sample::Index>(),
        extra in proptest::collection::vec(any::<u8>(), 1..16),
    ) {
        let len = 1 + at.index(activation.bytes.len() - 1);
        prop_assert_eq!(
            activation.verify(&certificate_text(&activation.bytes[..len])),
            Err(VerifyError::MalformedCertificate(Malformed::Truncated)),
            "{} bytes",
            len
        );
        let longer = [&activation.bytes[..], &extra[..]].concat();
        let why = if longer.len() > MAX_CERTIFICATE_LEN {
            Malformed::TooLong
        } else {
            Malformed::TrailingBytes
        };
        prop_assert_eq!(
            activation.verify(&certificate_text(&longer)),
            Err(VerifyError::MalformedCertificate(why))
        );
    }

    #[test]
    fn whitespace_anywhere_in_a_certificate_is_ignored(
        activation in activation(),
        inserts in proptest::collection::vec(
            (any::<prop::sample::Index>(), prop_oneof![Just(" "), Just("\t"), Just("\r\n"), Just("\x0c")]),
            1..8,
        ),
    ) {
        let mut text = activation.text.clone();
        for (at, space) in &inserts {
            let position = at.index(text.len() + 1);
            text.insert_str(position, space);
        }
        prop_assert_eq!(activation.verify(&text), Ok(true));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_request_round_trips(
        fingerprint in any::<[u8; 32]>(),
        license in proptest::collection::vec(any::<u8>(), 1..=MAX_LICENSE_LEN),
        name in proptest::option::of(short_text(MAX_MACHINE_NAME_LEN)),
        platform in proptest::option::of(short_text(MAX_PLATFORM_LEN)),
    ) {
        let request = ActivationRequest {
            fingerprint: Fingerprint(fingerprint),
            license: &license,
            name: name.as_deref(),
            platform: platform.as_deref(),
        };
        let text = activation_request_text(&request).expect("encodes");
        prop_assert!(text.len() <= MAX_ACTIVATION_REQUEST_TEXT_LEN);
        let mut buf = ActivationRequestBuffer::new();
        prop_assert_eq!(buf.decode_text(&text), Ok(request));
    }

    #[test]
    fn a_mutated_request_never_carries_another_valid_licence(
        activation in activation(),
        with_name in any::<bool>(),
        at in any::<prop::sample::Index>(),
    ) {
        let request = ActivationRequest {
            fingerprint: activation.fingerprint,
            license: &activation.license_bytes,
            name: with_name.then_some("Ada's laptop"),
            platform: Some("linux-x86_64"),
        };
        let mut buf = [0u8; MAX_ACTIVATION_REQUEST_LEN];
        let mut bytes = request.encode(&mut buf).expect("encodes").to_vec();
        let bit = at.index(bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        let text = format!(
            "tsq1_{}",
            <base64ct::Base64UrlUnpadded as base64ct::Encoding>::encode_string(&bytes)
        );
        let mut decoded_buf = ActivationRequestBuffer::new();
        if let Ok(mutated) = decoded_buf.decode_text(&text) {
            prop_assert_ne!(mutated, request, "bit {} flipped", bit);
            if mutated.license != request.license {
                let verifier = Verifier::new(&activation.trusted)
                    .expect("verifier")
                    .accepting_unactivated();
                let mut licence_buf = LicenseBuffer::new();
                let verified = verifier
                    .verify_bytes(mutated.license, activation.now, &mut licence_buf)
                    .map(|_| ());
                prop_assert!(verified.is_err(), "bit {} flipped: a licence that verifies", bit);
            }
        }
    }
}

/// The pool itself verifies, so that the mutation properties test refusals of valid certificates.
#[test]
fn certificate_pool_verifies() {
    for activation in pool() {
        assert_eq!(activation.verify(&activation.text), Ok(true));
    }
}
