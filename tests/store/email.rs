//! The e-mail outbox: a claim leases an e-mail to one sender until the lease ends; sent and failed
//! attempts are recorded; the next due time is known.

use std::collections::HashSet;

use tessera_issuer::store::{NewEmail, Store, Timestamp};
use tessera_keys::LicenseId;

use super::fixtures::{at_once, insert, license, license_id, write};
use super::on_each_backend;

/// Queues e-mail `n` about licence `id`, due at `at`.
fn enqueue(store: &dyn Store, id: &LicenseId, n: u32, at: Timestamp) {
    write(store, |tx| {
        tx.enqueue_email(&NewEmail {
            license_id: id,
            event_id: Some("evt_1"),
            to: format!("buyer{n}@example.com"),
            subject: format!("Your licence key {n}"),
            body: format!("ts1_key{n}"),
            created_at: at,
        })?;
        Ok(())
    });
}

#[test]
fn a_claimed_email_is_leased_until_its_lease_ends() {
    on_each_backend(|store| {
        let id = license_id(1);
        insert(store, &license(1, 10));
        assert_eq!(store.next_email_due().unwrap(), None);
        assert_eq!(store.claim_email(1_000, 1_060).unwrap(), None);
        enqueue(store, &id, 1, 100);
        assert_eq!(store.next_email_due().unwrap(), Some(100));

        assert_eq!(store.claim_email(99, 159).unwrap(), None, "not due yet");
        let claimed = store.claim_email(100, 160).unwrap().expect("due at 100");
        assert_eq!(claimed.license_id, id.to_hex().to_string());
        assert_eq!(
            (
                claimed.to.as_str(),
                claimed.subject.as_str(),
                claimed.body.as_str()
            ),
            ("buyer1@example.com", "Your licence key 1", "ts1_key1")
        );
        assert_eq!(claimed.attempts, 1);
        assert_eq!(store.claim_email(159, 219).unwrap(), None, "leased");
        assert_eq!(store.next_email_due().unwrap(), Some(160));

        // The sender died: the lease ends and another claim takes it.
        let again = store
            .claim_email(160, 220)
            .unwrap()
            .expect("the lease ended");
        assert_eq!((again.id, again.attempts), (claimed.id, 2));

        store
            .email_failed(again.id, "421 try later", Some(300))
            .unwrap();
        assert_eq!(store.next_email_due().unwrap(), Some(300));
        assert_eq!(store.claim_email(299, 359).unwrap(), None);
        let third = store.claim_email(300, 360).unwrap().expect("due again");
        assert_eq!((third.id, third.attempts), (claimed.id, 3));

        store.email_sent(third.id, 305).unwrap();
        assert_eq!(store.next_email_due().unwrap(), None);
        assert_eq!(store.claim_email(10_000, 10_060).unwrap(), None, "sent");
    });
}

#[test]
fn emails_are_claimed_earliest_first_and_a_final_failure_ends_them() {
    on_each_backend(|store| {
        let id = license_id(1);
        insert(store, &license(1, 10));
        enqueue(store, &id, 1, 200);
        enqueue(store, &id, 2, 100);
        assert_eq!(store.next_email_due().unwrap(), Some(100));

        let first = store.claim_email(500, 560).unwrap().unwrap();
        assert_eq!(first.to, "buyer2@example.com");
        let second = store.claim_email(500, 560).unwrap().unwrap();
        assert_eq!(second.to, "buyer1@example.com");
        assert_ne!(first.id, second.id);

        store
            .email_failed(first.id, "550 no such user", None)
            .unwrap();
        store.email_sent(second.id, 501).unwrap();
        assert_eq!(store.next_email_due().unwrap(), None);
        assert_eq!(
            store.claim_email(10_000, 10_060).unwrap(),
            None,
            "failed for good"
        );
    });
}

#[test]
fn many_senders_claiming_at_once_never_get_the_same_email() {
    on_each_backend(|store| {
        const SENDERS: usize = 8;
        const EMAILS: u32 = 40;
        let id = license_id(1);
        insert(store, &license(1, 10));
        for n in 0..EMAILS {
            enqueue(store, &id, n, 100 + Timestamp::from(n % 5));
        }
        let claims: Vec<Vec<i64>> = at_once(SENDERS, |_| {
            let mut mine = Vec::new();
            while let Some(email) = store.claim_email(1_000, 1_060).unwrap() {
                mine.push(email.id);
            }
            mine
        });
        let all: Vec<i64> = claims.concat();
        let distinct: HashSet<i64> = all.iter().copied().collect();
        assert_eq!(
            all.len(),
            EMAILS as usize,
            "every e-mail claimed once: {claims:?}"
        );
        assert_eq!(
            distinct.len(),
            all.len(),
            "no e-mail claimed twice: {claims:?}"
        );
        assert_eq!(store.next_email_due().unwrap(), Some(1_060));
    });
}
