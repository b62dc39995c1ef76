//! Proof that verifying (keys alone, and keys with machine certificates) allocates nothing: a counting
//! global allocator, and one test per binary so that no other test allocates while it counts.
//!
//! The counter is global (atomic), not per thread; the test harness's main thread only waits while the
//! test runs, and the test prints nothing inside the counted region.

use std::alloc::System;
use std::hint::black_box;

use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use tessera_keys::{MachineClaims, SigningKey};
use tessera_verifier::{
    revocations_buffer_len, ActivationBuffers, Claims, FeatureSet, Fingerprint, LicenseBuffer,
    LicenseId, Malformed, Product, PublicKey, UnixTime, Validity, Verifier, VerifyError,
};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const EDITOR: Product = Product {
    id: 1,
    name: "acme-editor",
    tiers: &["free", "pro", "team"],
    features: &["export", "sync"],
};

#[test]
fn verifying_allocates_nothing() {
    // Everything that allocates happens first: signing, and building the inputs.
    let issuer = SigningKey::from_seed(1, &[7; 32]);
    let claims = Claims {
        key_id: 1,
        license_id: LicenseId([1; 8]),
        product: 1,
        tier: 1,
        issued_at: UnixTime(1_790_000_000),
        not_before: Some(UnixTime(1_790_000_000)),
        expires_at: Some(UnixTime(1_821_536_000)),
        grace_seconds: Some(7 * 86_400),
        features: FeatureSet(0b01),
        licensee: Some("Ada Lovelace"),
        requires_activation: false,
    };
    let valid = issuer.sign_license(&claims).unwrap();
    let valid_bytes = issuer.sign_license_bytes(&claims).unwrap();
    let wrapped: String = valid
        .as_bytes()
        .chunks(20)
        .map(|line| format!("    {}\r\n", std::str::from_utf8(line).unwrap()))
        .collect();
    let revoked = issuer
        .sign_license(&Claims {
            license_id: LicenseId([2; 8]),
            ..claims
        })
        .unwrap();
    let other_product = issuer
        .sign_license(&Claims {
            product: 2,
            ..claims
        })
        .unwrap();
    let unknown_key = SigningKey::from_seed(9, &[9; 32])
        .sign_license(&claims)
        .unwrap();
    let mut bad_signature = valid_bytes.clone();
    *bad_signature.last_mut().unwrap() ^= 1;
    let bad_signature = tessera_keys::license_text(&bad_signature);
    let truncated = valid[..valid.len() - 10].to_owned();
    let newer = valid.replacen("ts1_", "ts2_", 1);
    let (empty, garbage) = (String::new(), String::from("ts1_!!!!"));
    let list = issuer
        .sign_revocations(3, UnixTime(1_790_000_000), &[LicenseId([2; 8])])
        .unwrap();
    let trusted: [PublicKey; 1] = [issuer.public_key()];
    let in_grace = UnixTime(1_821_536_000 + 60);
    let now = UnixTime(1_800_000_000);

    // A licence bound to machines, and this machine's certificate for it.
    let bound = Claims {
        license_id: LicenseId([3; 8]),
        requires_activation: true,
        ..claims
    };
    let bound_key = issuer.sign_license(&bound).unwrap();
    let machine = Fingerprint::of_machine_id(1, b"b08f2f7c1e6a4d3c9a5e8f0d2c4b6a18");
    let other_machine = Fingerprint::of_machine_id(1, b"6e1d9c3a5b7f40828d2e4f6a1c3b5d79");
    let certified = MachineClaims {
        key_id: 1,
        license_id: bound.license_id,
        fingerprint: machine.certified(),
        issued_at: UnixTime(1_790_000_000),
        lease_ends_at: Some(UnixTime(1_802_592_000)),
    };
    let certificate = issuer.sign_machine_certificate(&certified).unwrap();
    let wrapped_certificate: String = certificate
        .as_bytes()
        .chunks(20)
        .map(|line| format!("  {}\n", std::str::from_utf8(line).unwrap()))
        .collect();
    let for_other_licence = issuer
        .sign_machine_certificate(&MachineClaims {
            license_id: LicenseId([1; 8]),
            ..certified
        })
        .unwrap();
    let mut tampered_certificate = issuer.sign_machine_certificate_bytes(&certified).unwrap();
    *tampered_certificate.last_mut().unwrap() ^= 1;
    let tampered_certificate = tessera_keys::certificate_text(&tampered_certificate);
    let lease_over = UnixTime(1_802_592_000 + 7 * 86_400);

    let region = Region::new(GLOBAL);

    let verifier = Verifier::new(&trusted).unwrap().for_product(&EDITOR);
    let mut buf = LicenseBuffer::new();
    let ok = match verifier.verify(black_box(&valid), now, &mut buf) {
        Ok(license) => {
            license.has_feature("export")
                && !license.has_feature("sync")
                && license.tier_at_least("pro")
                && license.licensee() == Some("Ada Lovelace")
                && matches!(license.validity(), Validity::Active { .. })
        }
        Err(_) => false,
    };
    let ok_wrapped = verifier.verify(black_box(&wrapped), now, &mut buf).is_ok();
    let ok_bytes = verifier
        .verify_bytes(black_box(&valid_bytes), now, &mut buf)
        .is_ok();
    let ok_grace = verifier
        .verify(black_box(&valid), in_grace, &mut buf)
        .map(|license| matches!(license.validity(), Validity::Grace { .. }))
        .unwrap_or(false);

    let mut errors = [None; 9];
    for (slot, (text, at)) in errors.iter_mut().zip([
        (&bad_signature, now),
        (&truncated, now),
        (&newer, now),
        (&unknown_key, now),
        (&other_product, now),
        (&valid, UnixTime(1_790_000_000 - 1)),
        (&valid, UnixTime(1_900_000_000)),
        (&empty, now),
        (&garbage, now),
    ]) {
        *slot = verifier.verify(black_box(text), at, &mut buf).err();
    }
    let strict_in_grace = verifier
        .clone()
        .without_grace()
        .verify(black_box(&valid), in_grace, &mut buf)
        .err();

    let mut list_buf = [0u8; revocations_buffer_len(4)];
    let list = verifier
        .check_revocations(black_box(&list), &mut list_buf, Some(3))
        .unwrap();
    let with_list = verifier.clone().with_revocations(list);
    let revoked_error = with_list.verify(black_box(&revoked), now, &mut buf).err();
    let not_revoked = with_list.verify(black_box(&valid), now, &mut buf).is_ok();

    let mut bufs = ActivationBuffers::new();
    let activated = verifier
        .verify_activated(
            black_box(&bound_key),
            black_box(&certificate),
            &machine,
            now,
            Some(UnixTime(now.0 - 60)),
            &mut bufs,
        )
        .map(|activated| {
            activated.license().has_feature("export") && activated.lease_days_left() == Some(30)
        })
        .unwrap_or(false);
    let activated_wrapped = verifier
        .verify_activated(
            black_box(&bound_key),
            black_box(&wrapped_certificate),
            &machine,
            now,
            None,
            &mut bufs,
        )
        .is_ok();
    let mut activation_errors = [None; 6];
    for (slot, (key, certificate, fingerprint, at, last_seen)) in
        activation_errors.iter_mut().zip([
            (&bound_key, &tampered_certificate, &machine, now, None),
            (&bound_key, &for_other_licence, &machine, now, None),
            (&bound_key, &certificate, &other_machine, now, None),
            (&bound_key, &certificate, &machine, lease_over, None),
            (
                &bound_key,
                &certificate,
                &machine,
                now,
                Some(UnixTime(now.0 + 86_400)),
            ),
            (&bound_key, &truncated, &machine, now, None),
        ])
    {
        *slot = verifier
            .verify_activated(
                black_box(key),
                black_box(certificate),
                fingerprint,
                at,
                last_seen,
                &mut bufs,
            )
            .err();
    }
    let key_alone = verifier.verify(black_box(&bound_key), now, &mut buf).err();

    let stats = region.change();

    assert_eq!(
        (
            stats.allocations,
            stats.reallocations,
            stats.bytes_allocated
        ),
        (0, 0, 0),
        "verification allocated: {stats:#?}"
    );
    // And the checks did what they should, so the count covers real work.
    assert!(ok && ok_wrapped && ok_bytes && ok_grace && not_revoked);
    assert!(activated && activated_wrapped);
    assert_eq!(key_alone, Some(VerifyError::ActivationRequired));
    assert_eq!(
        activation_errors,
        [
            Some(VerifyError::BadCertificateSignature),
            Some(VerifyError::CertificateForAnotherLicense {
                certified: LicenseId([1; 8]),
                license_id: LicenseId([3; 8]),
            }),
            Some(VerifyError::CertificateForAnotherMachine),
            Some(VerifyError::LeaseExpired {
                lease_ended_at: UnixTime(1_802_592_000),
                now: lease_over,
            }),
            Some(VerifyError::ClockRolledBack {
                last_seen: UnixTime(now.0 + 86_400),
                now,
            }),
            Some(VerifyError::MalformedCertificate(Malformed::WrongPrefix {
                expected: "tsm1_"
            })),
        ]
    );
    assert_eq!(
        errors,
        [
            Some(VerifyError::BadSignature),
            Some(VerifyError::Malformed(Malformed::Truncated)),
            Some(VerifyError::UnsupportedVersion { found: 2 }),
            Some(VerifyError::UnknownKeyId { key_id: 9 }),
            Some(VerifyError::WrongProduct {
                expected: 1,
                found: 2
            }),
            Some(VerifyError::NotYetValid {
                not_before: UnixTime(1_790_000_000),
                now: UnixTime(1_790_000_000 - 1)
            }),
            Some(VerifyError::Expired {
                expired_at: UnixTime(1_821_536_000),
                now: UnixTime(1_900_000_000),
                in_grace: false
            }),
            Some(VerifyError::Malformed(Malformed::Empty)),
            Some(VerifyError::Malformed(Malformed::Base64)),
        ]
    );
    assert!(matches!(
        strict_in_grace,
        Some(VerifyError::Expired { in_grace: true, .. })
    ));
    assert_eq!(
        revoked_error,
        Some(VerifyError::Revoked {
            license_id: LicenseId([2; 8])
        })
    );
}
