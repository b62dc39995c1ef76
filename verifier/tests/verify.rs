//! The verifier's behaviour at every boundary: time, product, features and tiers, key ids, revocation
//! lists, setup, and key rotation.

use tessera_keys::SigningKey;
use tessera_verifier::{
    revocations_buffer_len, Claims, FeatureSet, LicenseBuffer, LicenseId, Malformed, Product,
    PublicKey, RevocationError, SetupError, UnixTime, Validity, Verifier, VerifyError,
    MAX_TRUSTED_KEYS,
};

const EDITOR: Product = Product {
    id: 1,
    name: "acme-editor",
    tiers: &["free", "pro", "team"],
    features: &["export", "sync", "cloud"],
};

const ISSUED_AT: UnixTime = UnixTime(1_790_000_000);
const EXPIRES_AT: UnixTime = UnixTime(1_821_536_000);
const GRACE: u32 = 7 * 86_400;
const LICENSE_A: LicenseId = LicenseId([0xa0; 8]);
const LICENSE_B: LicenseId = LicenseId([0xb0; 8]);

fn issuer(id: u32) -> SigningKey {
    let mut seed = [0x5e; 32];
    seed[..4].copy_from_slice(&id.to_le_bytes());
    SigningKey::from_seed(id, &seed)
}

/// A pro licence for [`EDITOR`] with features "export" and "cloud", expiring without grace.
fn claims() -> Claims<'static> {
    Claims {
        key_id: 1,
        license_id: LICENSE_A,
        product: EDITOR.id,
        tier: 1,
        issued_at: ISSUED_AT,
        not_before: None,
        expires_at: Some(EXPIRES_AT),
        grace_seconds: None,
        features: FeatureSet(0b101),
        licensee: Some("Ada"),
        requires_activation: false,
    }
}

fn sign(claims: &Claims<'_>) -> String {
    issuer(claims.key_id).sign_license(claims).expect("sign")
}

/// Verifies `text` at `now` with `verifier`, returning the validity.
fn validity(verifier: &Verifier<'_>, text: &str, now: u64) -> Result<Validity, VerifyError> {
    let mut buf = LicenseBuffer::new();
    verifier
        .verify(text, UnixTime(now), &mut buf)
        .map(|license| license.validity())
}

fn trusting(ids: &[u32]) -> Vec<PublicKey> {
    ids.iter().map(|&id| issuer(id).public_key()).collect()
}

#[test]
fn expiry_without_grace() {
    let trusted = trusting(&[1]);
    let verifier = Verifier::new(&trusted).unwrap();
    let text = sign(&claims());
    let e = EXPIRES_AT.0;
    assert_eq!(
        validity(&verifier, &text, e - 1),
        Ok(Validity::Active {
            expires_at: EXPIRES_AT,
            seconds_left: 1
        })
    );
    for now in [e, e + 1, u64::MAX] {
        assert_eq!(
            validity(&verifier, &text, now),
            Err(VerifyError::Expired {
                expired_at: EXPIRES_AT,
                now: UnixTime(now),
                in_grace: false
            })
        );
    }
    // A grace period of zero seconds is no grace period.
    let zero_grace = sign(&Claims {
        grace_seconds: Some(0),
        ..claims()
    });
    assert_eq!(
        validity(&verifier, &zero_grace, e),
        Err(VerifyError::Expired {
            expired_at: EXPIRES_AT,
            now: UnixTime(e),
            in_grace: false
        })
    );
}

#[test]
fn expiry_with_grace() {
    let trusted = trusting(&[1]);
    let verifier = Verifier::new(&trusted).unwrap();
    let strict = verifier.clone().without_grace();
    let text = sign(&Claims {
        grace_seconds: Some(GRACE),
        ..claims()
    });
    let e = EXPIRES_AT.0;
    let grace_ends_at = UnixTime(e + u64::from(GRACE));
    let active = Ok(Validity::Active {
        expires_at: EXPIRES_AT,
        seconds_left: 1,
    });
    let grace = Ok(Validity::Grace {
        expired_at: EXPIRES_AT,
        grace_ends_at,
    });
    let expired = |now: u64, in_grace| {
        Err(VerifyError::Expired {
            expired_at: EXPIRES_AT,
            now: UnixTime(now),
            in_grace,
        })
    };

    assert_eq!(validity(&verifier, &text, e - 1), active);
    assert_eq!(validity(&verifier, &text, e), grace);
    assert_eq!(validity(&verifier, &text, grace_ends_at.0 - 1), grace);
    assert_eq!(
        validity(&verifier, &text, grace_ends_at.0),
        expired(grace_ends_at.0, false)
    );

    // Told not to honour grace, the verifier refuses a licence in grace but says so.
    assert_eq!(validity(&strict, &text, e - 1), active);
    assert_eq!(validity(&strict, &text, e), expired(e, true));
    assert_eq!(
        validity(&strict, &text, grace_ends_at.0 - 1),
        expired(grace_ends_at.0 - 1, true)
    );
    assert_eq!(
        validity(&strict, &text, grace_ends_at.0),
        expired(grace_ends_at.0, false)
    );
}

#[test]
fn perpetual_licence_never_expires() {
    let trusted = trusting(&[1]);
    let verifier = Verifier::new(&trusted).unwrap().without_grace();
    let text = sign(&Claims {
        expires_at: None,
        grace_seconds: Some(GRACE),
        ..claims()
    });
    for now in [ISSUED_AT.0, EXPIRES_AT.0 + 1_000_000_000, u64::MAX] {
        assert_eq!(validity(&verifier, &text, now), Ok(Validity::Perpetual));
    }
}

#[test]
fn not_before_boundary() {
    let trusted = trusting(&[1]);
    let verifier = Verifier::new(&trusted).unwrap();
    let not_before = UnixTime(ISSUED_AT.0 + 86_400);
    let text = sign(&Claims {
        not_before: Some(not_before),
        ..claims()
    });
    for now in [0, ISSUED_AT.0, not_before.0 - 1] {
        assert_eq!(
            validity(&verifier, &text, now),
            Err(VerifyError::NotYetValid {
                not_before,
                now: UnixTime(now)
            })
        );
    }
    assert!(matches!(
        validity(&verifier, &text, not_before.0),
        Ok(Validity::Active { .. })
    ));
}

#[test]
fn issued_at_bounds_time_from_below_within_the_clock_tolerance() {
    // Clocks are a little wrong: a licence works up to the tolerance before it was issued, and a
    // clock further back than that was turned back.
    let trusted = trusting(&[1]);
    let text = sign(&claims());
    let tolerance = tessera_verifier::DEFAULT_CLOCK_TOLERANCE_SECONDS;
    let verifier = Verifier::new(&trusted).unwrap();
    assert!(validity(&verifier, &text, ISSUED_AT.0 - tolerance).is_ok());
    assert_eq!(
        validity(&verifier, &text, ISSUED_AT.0 - tolerance - 1),
        Err(VerifyError::NotYetValid {
            not_before: ISSUED_AT,
            now: UnixTime(ISSUED_AT.0 - tolerance - 1)
        })
    );
    let strict = Verifier::new(&trusted).unwrap().with_clock_tolerance(0);
    assert!(validity(&strict, &text, ISSUED_AT.0 - 1).is_err());
    assert!(validity(&strict, &text, ISSUED_AT.0).is_ok());
}

#[test]
fn wrong_product() {
    let trusted = trusting(&[1]);
    let other = sign(&Claims {
        product: 2,
        ..claims()
    });
    let verifier = Verifier::new(&trusted).unwrap().for_product(&EDITOR);
    assert_eq!(
        validity(&verifier, &other, ISSUED_AT.0),
        Err(VerifyError::WrongProduct {
            expected: 1,
            found: 2
        })
    );
    assert!(validity(&verifier, &sign(&claims()), ISSUED_AT.0).is_ok());
    // A verifier told no product takes any.
    let any_product = Verifier::new(&trusted).unwrap();
    assert!(validity(&any_product, &other, ISSUED_AT.0).is_ok());
}

#[test]
fn features_and_tiers_by_name_and_bit() {
    let trusted = trusting(&[1]);
    let verifier = Verifier::new(&trusted).unwrap().for_product(&EDITOR);
    let text = sign(&Claims {
        features: FeatureSet(0b101 | (1 << 10) | (1 << 63)),
        ..claims()
    });
    let mut buf = LicenseBuffer::new();
    let license = verifier.verify(&text, ISSUED_AT, &mut buf).unwrap();

    assert!(license.has_feature("export"));
    assert!(!license.has_feature("sync"));
    assert!(license.has_feature("cloud"));
    assert!(!license.has_feature("teleport"), "a name the product lacks");
    assert!(!license.has_feature(""));
    for (bit, granted) in [(0, true), (1, false), (2, true), (10, true), (63, true)] {
        assert_eq!(license.has_feature_bit(bit), granted, "bit {bit}");
    }
    assert!(!license.has_feature_bit(64) && !license.has_feature_bit(u8::MAX));

    assert_eq!(license.tier_name(), Some("pro"));
    assert!(license.tier_at_least("free"));
    assert!(license.tier_at_least("pro"));
    assert!(!license.tier_at_least("team"));
    assert!(
        !license.tier_at_least("enterprise"),
        "a tier the product lacks"
    );
    assert_eq!(license.licensee(), Some("Ada"));
    assert_eq!(license.license_id(), LICENSE_A);

    // The top tier, and a tier index beyond the product's ladder.
    let team = sign(&Claims {
        tier: 2,
        ..claims()
    });
    let mut buf = LicenseBuffer::new();
    let license = verifier.verify(&team, ISSUED_AT, &mut buf).unwrap();
    assert!(license.tier_at_least("team") && license.tier_at_least("free"));
    let beyond = sign(&Claims {
        tier: 9,
        ..claims()
    });
    let mut buf = LicenseBuffer::new();
    let license = verifier.verify(&beyond, ISSUED_AT, &mut buf).unwrap();
    assert_eq!(license.tier_name(), None);
    assert!(license.tier_at_least("team"));

    // Without the product's tables, names mean nothing; bits still do.
    let bare = Verifier::new(&trusted).unwrap();
    let mut buf = LicenseBuffer::new();
    let license = bare.verify(&text, ISSUED_AT, &mut buf).unwrap();
    assert!(!license.has_feature("export"));
    assert!(!license.tier_at_least("free"));
    assert_eq!(license.tier_name(), None);
    assert!(license.has_feature_bit(0));
}

#[test]
fn unknown_key_id() {
    let trusted = trusting(&[1, 2]);
    let verifier = Verifier::new(&trusted).unwrap();
    let text = sign(&Claims {
        key_id: 5,
        ..claims()
    });
    assert_eq!(
        validity(&verifier, &text, ISSUED_AT.0),
        Err(VerifyError::UnknownKeyId { key_id: 5 })
    );
}

#[test]
fn key_rotation() {
    let trusted = trusting(&[1, 2]);
    let verifier = Verifier::new(&trusted).unwrap().for_product(&EDITOR);
    for key_id in [1, 2] {
        let text = sign(&Claims { key_id, ..claims() });
        let mut buf = LicenseBuffer::new();
        let license = verifier.verify(&text, ISSUED_AT, &mut buf).unwrap();
        assert_eq!(license.claims().key_id, key_id);
    }
    // Key 2's signature on a licence that names key 1 is checked against key 1, and fails.
    let mislabelled = issuer(2)
        .sign_license_bytes(&claims())
        .map(|mut bytes| {
            bytes[1] = 1; // the key id, right after the version byte
            tessera_keys::license_text(&bytes)
        })
        .unwrap();
    assert_eq!(
        validity(&verifier, &mislabelled, ISSUED_AT.0),
        Err(VerifyError::BadSignature)
    );
    // After key 1 is retired, its licences are unknown; key 2's still verify.
    let retired = trusting(&[2]);
    let verifier = Verifier::new(&retired).unwrap();
    assert_eq!(
        validity(&verifier, &sign(&claims()), ISSUED_AT.0),
        Err(VerifyError::UnknownKeyId { key_id: 1 })
    );
    assert!(validity(
        &verifier,
        &sign(&Claims {
            key_id: 2,
            ..claims()
        }),
        ISSUED_AT.0
    )
    .is_ok());
}

fn revocation_list(key_id: u32, sequence: u64, ids: &[LicenseId]) -> String {
    issuer(key_id)
        .sign_revocations(sequence, ISSUED_AT, ids)
        .unwrap()
}

#[test]
fn revoked_licences_are_refused() {
    let trusted = trusting(&[1]);
    let verifier = Verifier::new(&trusted).unwrap();
    let list_text = revocation_list(1, 5, &[LicenseId([0xff; 8]), LICENSE_A, LicenseId([1; 8])]);
    let mut list_buf = [0u8; revocations_buffer_len(3)];
    let list = verifier
        .check_revocations(&list_text, &mut list_buf, None)
        .unwrap();
    assert_eq!((list.key_id, list.sequence, list.len()), (1, 5, 3));
    assert_eq!(list.issued_at, ISSUED_AT);
    let verifier = verifier.with_revocations(list);

    let revoked = sign(&claims());
    assert_eq!(
        validity(&verifier, &revoked, ISSUED_AT.0),
        Err(VerifyError::Revoked {
            license_id: LICENSE_A
        })
    );
    let kept = sign(&Claims {
        license_id: LICENSE_B,
        ..claims()
    });
    assert!(validity(&verifier, &kept, ISSUED_AT.0).is_ok());

    // An empty list revokes nothing.
    let verifier = Verifier::new(&trusted).unwrap();
    let empty_text = revocation_list(1, 6, &[]);
    let mut empty_buf = [0u8; revocations_buffer_len(0)];
    let empty = verifier
        .check_revocations(&empty_text, &mut empty_buf, Some(5))
        .unwrap();
    assert!(empty.is_empty());
    let verifier = verifier.with_revocations(empty);
    assert!(validity(&verifier, &revoked, ISSUED_AT.0).is_ok());
}

#[test]
fn revocation_list_sequence_rule() {
    let trusted = trusting(&[1]);
    let verifier = Verifier::new(&trusted).unwrap();
    let list_text = revocation_list(1, 5, &[LICENSE_A]);
    let mut buf = [0u8; revocations_buffer_len(1)];
    assert_eq!(
        verifier
            .check_revocations(&list_text, &mut buf, Some(6))
            .map(|list| list.sequence),
        Err(RevocationError::Stale {
            sequence: 5,
            last_seen: 6
        })
    );
    // The same list again (equal sequence), or a newer one, is accepted.
    for last_seen in [None, Some(0), Some(4), Some(5)] {
        let mut buf = [0u8; revocations_buffer_len(1)];
        assert_eq!(
            verifier
                .check_revocations(&list_text, &mut buf, last_seen)
                .map(|list| list.sequence),
            Ok(5),
            "last seen {last_seen:?}"
        );
    }
}

#[test]
fn revocation_list_signatures() {
    let trusted = trusting(&[1, 2]);
    let verifier = Verifier::new(&trusted).unwrap();
    let check = |text: &str| {
        let mut buf = [0u8; revocations_buffer_len(4)];
        verifier
            .check_revocations(text, &mut buf, None)
            .map(|list| list.sequence)
    };

    // Any trusted key may sign a list, so lists survive a key rotation.
    assert_eq!(check(&revocation_list(2, 9, &[LICENSE_A])), Ok(9));
    assert_eq!(
        check(&revocation_list(7, 9, &[LICENSE_A])),
        Err(RevocationError::UnknownKeyId { key_id: 7 })
    );

    // Tampering: drop a revoked id from a signed list, or flip a signature bit.
    let text = revocation_list(1, 9, &[LICENSE_A, LICENSE_B]);
    let mut buf = [0u8; revocations_buffer_len(2)];
    let signed = tessera_keys::decode_revocations(&text, &mut buf).unwrap();
    let domain = tessera_keys::REVOCATIONS_DOMAIN.len();
    let payload = signed.signed_message[domain..].to_vec();
    let signature = signed.signature.to_vec();

    let mut fewer = payload[..payload.len() - 16].to_vec();
    let count_at = fewer.len() - 1; // the count is the last header byte
    assert_eq!(fewer[count_at], 2);
    fewer[count_at] = 1;
    fewer.extend_from_slice(&payload[payload.len() - 8..]);
    fewer.extend_from_slice(&signature);
    assert_eq!(
        check(&tessera_keys::revocations_text(&fewer)),
        Err(RevocationError::BadSignature)
    );

    let mut flipped = [&payload[..], &signature[..]].concat();
    *flipped.last_mut().unwrap() ^= 0x40;
    assert_eq!(
        check(&tessera_keys::revocations_text(&flipped)),
        Err(RevocationError::BadSignature)
    );

    // A licence is not a list, and a list does not fit a buffer sized for fewer ids.
    assert_eq!(
        check(&sign(&claims())),
        Err(RevocationError::Malformed(Malformed::WrongPrefix {
            expected: "tsrl1_"
        }))
    );
    let four = revocation_list(1, 9, &[[1; 8], [2; 8], [3; 8], [4; 8]].map(LicenseId));
    let mut small = [0u8; revocations_buffer_len(1)];
    assert_eq!(
        verifier
            .check_revocations(&four, &mut small, None)
            .map(|list| list.len()),
        Err(RevocationError::Malformed(Malformed::TooLong))
    );
}

/// Encodings of points of small order, which `verify_strict` refuses as public keys: the identity, the
/// point of order 2, and a point of order 4.
const SMALL_ORDER: [[u8; 32]; 3] = {
    let identity = {
        let mut bytes = [0u8; 32];
        bytes[0] = 1;
        bytes
    };
    let order_two = {
        let mut bytes = [0xff; 32];
        bytes[0] = 0xec;
        bytes[31] = 0x7f;
        bytes
    };
    [identity, order_two, [0; 32]]
};

#[test]
fn setup_errors() {
    assert_eq!(Verifier::new(&[]).map(|_| ()), Err(SetupError::NoKeys));

    let ids: Vec<u32> = (1..=MAX_TRUSTED_KEYS as u32 + 1).collect();
    let too_many = trusting(&ids);
    assert_eq!(
        Verifier::new(&too_many).map(|_| ()),
        Err(SetupError::TooManyKeys)
    );
    assert!(Verifier::new(&too_many[..MAX_TRUSTED_KEYS]).is_ok());

    let mut duplicate = trusting(&[1, 2, 3]);
    duplicate[2].id = 2;
    assert_eq!(
        Verifier::new(&duplicate).map(|_| ()),
        Err(SetupError::DuplicateKeyId { key_id: 2 })
    );
    // The same bytes under two ids is a configuration a rotation may need; it is allowed.
    let mut same_bytes = trusting(&[1, 2]);
    same_bytes[1].bytes = same_bytes[0].bytes;
    assert!(Verifier::new(&same_bytes).is_ok());

    for bytes in SMALL_ORDER {
        let keys = [issuer(1).public_key(), PublicKey::new(4, bytes)];
        assert_eq!(
            Verifier::new(&keys).map(|_| ()),
            Err(SetupError::InvalidKey { key_id: 4 }),
            "{bytes:02x?}"
        );
    }
    // y = 3 written as 3 + p: a point of large order that verify_strict would take, but not the
    // canonical encoding of its point, so one key would have two spellings.
    let mut non_canonical = [0xff; 32];
    non_canonical[0] = 0xed + 3;
    non_canonical[31] = 0x7f;
    assert!(ed25519_dalek::VerifyingKey::from_bytes(&non_canonical).is_ok_and(|key| !key.is_weak()));
    assert_eq!(
        Verifier::new(&[PublicKey::new(4, non_canonical)]).map(|_| ()),
        Err(SetupError::InvalidKey { key_id: 4 })
    );
    // y = 2 is not the y-coordinate of any point on the curve.
    let mut not_a_point = [0u8; 32];
    not_a_point[0] = 2;
    assert!(ed25519_dalek::VerifyingKey::from_bytes(&not_a_point).is_err());
    assert_eq!(
        Verifier::new(&[PublicKey::new(4, not_a_point)]).map(|_| ()),
        Err(SetupError::InvalidKey { key_id: 4 })
    );
}
