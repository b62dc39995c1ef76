//! Licences and revocations written through `Store::write` and read back.

use tessera_issuer::store::{
    ApplyError, IssuedKey, LicenseQuery, LicenseRecord, LicenseStatus, Revocations,
};

use tessera_keys::LicenseId;

use super::fixtures::{insert, license, license_id, write};
use super::on_each_backend;

fn key(n: u32, issued_at: i64, reason: &str) -> IssuedKey {
    IssuedKey {
        key: format!("ts1_key{n}"),
        signing_key_id: 3,
        issued_at,
        expires_at: Some(issued_at + 1_000),
        reason: reason.to_owned(),
    }
}

#[test]
fn a_licence_and_its_keys_are_read_back_as_written() {
    on_each_backend(|store| {
        let one = license(1, 100);
        let perpetual = LicenseRecord {
            customer_id: None,
            email: None,
            checkout_session_id: None,
            subscription_id: None,
            payment_intent_id: None,
            price_id: None,
            expires_at: None,
            features: u64::MAX,
            ..license(2, 100)
        };
        write(store, |tx| {
            tx.insert_license(&one)?;
            tx.insert_license(&perpetual)?;
            tx.add_key(&one.id, &key(1, 100, "purchase"), Some("evt_1"))?;
            tx.add_key(&one.id, &key(2, 200, "renewal"), None)?;
            Ok(())
        });
        assert_eq!(store.license(&license_id(3)).unwrap(), None);
        let (read, keys) = store.license(&one.id).unwrap().unwrap();
        assert_eq!(read, one);
        assert_eq!(keys, [key(1, 100, "purchase"), key(2, 200, "renewal")]);
        assert_eq!(
            store.license(&perpetual.id).unwrap(),
            Some((perpetual.clone(), vec![]))
        );
        assert_eq!(
            store.license_by_checkout_session("cs_1").unwrap(),
            Some((one.clone(), Some(key(2, 200, "renewal"))))
        );
        assert_eq!(store.license_by_checkout_session("cs_2").unwrap(), None);
        assert_eq!(
            store.license_status(&one.id).unwrap(),
            Some(LicenseStatus::Active)
        );
        assert_eq!(store.license_status(&license_id(3)).unwrap(), None);
        assert_eq!(
            store.license_deliveries(&one.id, 10).unwrap(),
            vec![],
            "no delivery recorded"
        );

        // The same reads inside a transaction.
        write(store, |tx| {
            assert_eq!(tx.license(&one.id)?, Some(one.clone()));
            assert_eq!(tx.license_by_checkout_session("cs_1")?, Some(one.clone()));
            assert_eq!(tx.license_by_subscription("sub_1")?, Some(one.clone()));
            assert_eq!(tx.license_by_payment_intent("pi_1")?, Some(one.clone()));
            assert_eq!(tx.license_by_payment_intent("pi_none")?, None);
            assert_eq!(
                tx.license_status(&perpetual.id)?,
                Some(LicenseStatus::Active)
            );
            Ok(())
        });
    });
}

#[test]
fn an_update_overwrites_a_licences_fields_but_not_when_rolled_back() {
    on_each_backend(|store| {
        let one = license(1, 100);
        insert(store, &one);
        let changed = LicenseRecord {
            tier: 2,
            features: 0b111,
            status: LicenseStatus::Expired,
            price_id: Some("price_team".to_owned()),
            expires_at: Some(5_000),
            updated_at: 300,
            ..one.clone()
        };
        write(store, |tx| Ok(tx.update_license(&changed)?));
        assert_eq!(store.license(&one.id).unwrap().unwrap().0, changed);

        let failed = store.write(&mut |tx| {
            tx.update_license(&one)?;
            tx.add_key(&one.id, &key(1, 400, "reissue"), None)?;
            Err(ApplyError::Unprocessable("changed my mind".to_owned()))
        });
        assert!(failed.is_err());
        assert_eq!(store.license(&one.id).unwrap(), Some((changed, vec![])));
    });
}

#[test]
fn licences_are_found_by_email_case_insensitively_and_by_their_stripe_ids() {
    on_each_backend(|store| {
        let older = LicenseRecord {
            email: Some("Buyer@Example.com".to_owned()),
            ..license(1, 100)
        };
        let newer = LicenseRecord {
            email: Some("buyer@example.COM".to_owned()),
            ..license(2, 200)
        };
        let stranger = license(3, 300);
        for l in [&older, &newer, &stranger] {
            insert(store, l);
        }
        assert_eq!(
            store
                .find_licenses(&LicenseQuery::Email("BUYER@example.com".to_owned()), 10)
                .unwrap(),
            [newer.clone(), older.clone()],
            "newest first"
        );
        let found = |query: LicenseQuery, limit| -> Vec<LicenseId> {
            let licenses = store.find_licenses(&query, limit).unwrap();
            licenses.into_iter().map(|l| l.id).collect()
        };
        assert_eq!(
            found(LicenseQuery::Email("buyer@example.com".to_owned()), 1),
            [newer.id]
        );
        assert!(found(LicenseQuery::Email("buyer@example.org".to_owned()), 10).is_empty());
        assert_eq!(
            found(LicenseQuery::Customer("cus_1".to_owned()), 10),
            [older.id]
        );
        assert_eq!(
            found(LicenseQuery::Subscription("sub_2".to_owned()), 10),
            [newer.id]
        );
        assert_eq!(
            found(LicenseQuery::CheckoutSession("cs_3".to_owned()), 10),
            [stranger.id]
        );
        assert_eq!(found(LicenseQuery::Id(stranger.id), 10), [stranger.id]);
        assert!(found(LicenseQuery::Id(license_id(4)), 10).is_empty());
    });
}

#[test]
fn revoking_raises_the_revocation_sequence_once_per_licence() {
    on_each_backend(|store| {
        let (one, two) = (license(1, 100), license(2, 100));
        insert(store, &one);
        insert(store, &two);
        assert_eq!(
            store.revocations().unwrap(),
            Revocations {
                sequence: 0,
                changed_at: 0,
                ids: vec![]
            }
        );

        let mut changed = Vec::new();
        write(store, |tx| {
            changed.push(tx.revoke(&one.id, "refund", 500)?);
            changed.push(tx.revoke(&one.id, "refund again", 510)?);
            assert_eq!(tx.revocation_sequence()?, 1);
            Ok(())
        });
        assert_eq!(changed, [true, false]);
        let (revoked, _) = store.license(&one.id).unwrap().unwrap();
        assert_eq!(
            (revoked.status, revoked.updated_at),
            (LicenseStatus::Revoked, 500)
        );
        assert_eq!(
            store.revocations().unwrap(),
            Revocations {
                sequence: 1,
                changed_at: 500,
                ids: vec![one.id]
            }
        );

        // A revocation rolled back changes nothing.
        let failed = store.write(&mut |tx| {
            tx.revoke(&two.id, "dispute", 600)?;
            Err(ApplyError::Unprocessable("rolled back".to_owned()))
        });
        assert!(failed.is_err());
        assert_eq!(store.revocations().unwrap().sequence, 1);
        assert_eq!(
            store.license_status(&two.id).unwrap(),
            Some(LicenseStatus::Active)
        );

        write(store, |tx| {
            assert!(tx.revoke(&two.id, "dispute", 700)?);
            assert!(!tx.revoke(&one.id, "again", 700)?);
            Ok(())
        });
        let mut after = store.revocations().unwrap();
        after.ids.sort();
        assert_eq!(
            after,
            Revocations {
                sequence: 2,
                changed_at: 700,
                ids: vec![one.id, two.id]
            }
        );
    });
}
