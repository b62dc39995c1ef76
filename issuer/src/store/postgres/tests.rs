//! The PostgreSQL store's transactions and reads, against a real database (see
//! [`crate::testing::TestDatabase`]).

use tessera_keys::LicenseId;

use super::PgStore;
use crate::store::{
    CreditGrant, DeliveryStatus, IssuedKey, LedgerMismatch, LicenseQuery, LicenseRecord,
    LicenseStatus, NewEmail, NewLedgerEntry, PaymentReversal, Store, StoreErrorKind, Tx,
};
use crate::testing::TestDatabase;

const ID: LicenseId = LicenseId([0, 0, 0, 0, 0, 0, 0x0a, 0x07]);

fn store() -> Option<(TestDatabase, PgStore)> {
    let db = TestDatabase::create()?;
    let store = PgStore::open(db.url(), 4).unwrap();
    Some((db, store))
}

/// The ledger check, as the issuer runs it (over any store).
fn mismatches(store: &PgStore) -> Vec<LedgerMismatch> {
    (store as &dyn Store).verify_credit_ledger().unwrap()
}

fn license(id: LicenseId) -> LicenseRecord {
    LicenseRecord {
        id,
        product: u32::MAX,
        tier: 2,
        features: u64::MAX,
        status: LicenseStatus::Active,
        customer_id: Some("cus_1".into()),
        email: Some("Buyer@Example.com".into()),
        checkout_session_id: Some(format!("cs_{}", id.to_hex())),
        subscription_id: None,
        payment_intent_id: Some(format!("pi_{}", id.to_hex())),
        price_id: Some("price_1".into()),
        expires_at: None,
        created_at: 100,
        updated_at: 100,
        seats: None,
    }
}

fn key(text: &str, issued_at: i64) -> IssuedKey {
    IssuedKey {
        key: text.into(),
        signing_key_id: u32::MAX,
        issued_at,
        expires_at: Some(issued_at + 10),
        reason: "purchase".into(),
    }
}

fn adjustment(period: i64, top_up: i64) -> NewLedgerEntry<'static> {
    NewLedgerEntry::adjustment(&ID, period, top_up, "test", "test", 1)
}

#[test]
fn a_licence_and_its_keys_read_back_as_written() {
    let Some((_db, store)) = store() else {
        return;
    };
    let mut written = license(ID);
    store
        .transaction(|tx| {
            tx.insert_license(&written)?;
            tx.add_key(&ID, &key("ts1_a", 100), Some("evt_1"))?;
            tx.add_key(&ID, &key("ts1_b", 200), None)
        })
        .unwrap();
    let (read, keys) = store.license(&ID).unwrap().unwrap();
    assert_eq!(read, written);
    assert_eq!(keys, vec![key("ts1_a", 100), key("ts1_b", 200)]);

    written.status = LicenseStatus::Suspended;
    written.expires_at = Some(900);
    written.updated_at = 300;
    store.transaction(|tx| tx.update_license(&written)).unwrap();
    let session = written.checkout_session_id.clone().unwrap();
    let (read, newest) = store
        .license_by_checkout_session(&session)
        .unwrap()
        .unwrap();
    assert_eq!((read, newest), (written.clone(), Some(key("ts1_b", 200))));
    let found = store
        .find_licenses(&LicenseQuery::Email(" buyer@EXAMPLE.com ".into()), 10)
        .unwrap();
    assert_eq!(found, vec![written]);
    assert_eq!(
        store.license_deliveries(&ID, 10).unwrap(),
        vec![],
        "no delivery of evt_1 is recorded"
    );
    assert!(store.license(&LicenseId([9; 8])).unwrap().is_none());
}

#[test]
fn revoking_raises_the_sequence_once() {
    let Some((_db, store)) = store() else {
        return;
    };
    store
        .transaction(|tx| tx.insert_license(&license(ID)))
        .unwrap();
    assert!(store
        .transaction(|tx| tx.revoke(&ID, "refund", 500))
        .unwrap());
    assert!(!store
        .transaction(|tx| tx.revoke(&ID, "refund", 600))
        .unwrap());
    let revocations = store.revocations().unwrap();
    assert_eq!(
        (
            revocations.sequence,
            revocations.changed_at,
            revocations.ids
        ),
        (1, 500, vec![ID])
    );
    assert_eq!(store.transaction(|tx| tx.revocation_sequence()).unwrap(), 1);
    let (read, _) = store.license(&ID).unwrap().unwrap();
    assert_eq!(read.status, LicenseStatus::Revoked);
    assert!((&store as &dyn Store)
        .credit_refusal(&ID)
        .unwrap()
        .is_some());
}

#[test]
fn inserts_that_may_repeat_say_whether_they_were_new() {
    let Some((_db, store)) = store() else {
        return;
    };
    let reversal = PaymentReversal {
        payment_intent_id: "pi_1".into(),
        kind: "refund",
        object_id: "ch_1".into(),
        at: 5,
    };
    let grant = CreditGrant {
        checkout_session_id: "cs_1".into(),
        license_id: Some(ID),
        payment_intent_id: Some("pi_2".into()),
        price_id: "price_top_up".into(),
        customer_id: None,
        email: None,
        credits: 50,
        granted_at: 6,
    };
    let first = store
        .transaction(|tx| {
            Ok::<_, crate::store::StoreError>((
                tx.record_payment_reversal(&reversal, "evt_1")?,
                tx.grant_credits(&grant, "evt_2")?,
            ))
        })
        .unwrap();
    let again = store
        .transaction(|tx| {
            let second = PaymentReversal {
                object_id: "ch_2".into(),
                ..reversal.clone()
            };
            Ok::<_, crate::store::StoreError>((
                tx.record_payment_reversal(&second, "evt_3")?,
                tx.grant_credits(&grant, "evt_4")?,
            ))
        })
        .unwrap();
    assert_eq!((first, again), ((true, true), (false, false)));
    let kept = store.transaction(|tx| tx.payment_reversal("pi_1")).unwrap();
    assert_eq!(kept, Some(reversal), "the first one recorded stays");
    assert_eq!(store.credit_grants("cs_1").unwrap(), vec![grant]);
    assert!(store.payment_resolved("pi_2").unwrap());
    assert!(!store.payment_resolved("pi_3").unwrap());
}

#[test]
fn a_balance_never_goes_below_zero_and_the_transaction_rolls_back() {
    let Some((_db, store)) = store() else {
        return;
    };
    store
        .transaction(|tx| tx.credit_entry(&adjustment(5, 0)))
        .unwrap();
    let err = store
        .transaction(|tx| {
            tx.credit_entry(&adjustment(0, 3))?;
            tx.credit_entry(&adjustment(-6, 0))
        })
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Constraint, "{err}");
    let (account, open) = store.credits(&ID).unwrap();
    assert_eq!((account.balances.period, account.balances.top_up), (5, 0));
    assert!(open.is_empty());
    assert_eq!(store.credit_ledger(&ID, None, 10).unwrap().len(), 1);
    assert_eq!(mismatches(&store), vec![]);
}

#[test]
fn concurrent_entries_on_a_new_account_all_count() {
    let Some((_db, store)) = store() else {
        return;
    };
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..10 {
                    store
                        .transaction(|tx| tx.credit_entry(&adjustment(0, 1)))
                        .unwrap();
                }
            });
        }
    });
    let (account, _) = store.credits(&ID).unwrap();
    assert_eq!(account.balances.top_up, 40);
    assert_eq!(store.credit_ledger(&ID, None, 100).unwrap().len(), 40);
    assert_eq!(mismatches(&store), vec![]);
}

#[test]
fn the_check_finds_a_tampered_balance() {
    let Some((_db, store)) = store() else {
        return;
    };
    store
        .transaction(|tx| {
            tx.set_credit_period(&ID, Some(0), 100, 1)?;
            tx.credit_entry(&adjustment(10, 50))
        })
        .unwrap();
    assert_eq!(mismatches(&store), vec![]);
    store
        .client()
        .unwrap()
        .client()
        .execute("UPDATE credit_accounts SET top_up_balance = 49", &[])
        .unwrap();
    let found = mismatches(&store);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].license_id, ID.to_hex().to_string());
    assert_eq!((found[0].cached[1], found[0].ledger[1]), (49, 50));
    let (account, _) = store.credits(&ID).unwrap();
    assert_eq!(
        (account.period_start, account.period_end),
        (Some(0), Some(100))
    );
}

#[test]
fn no_e_mail_is_claimed_by_two_senders() {
    let Some((_db, store)) = store() else {
        return;
    };
    const EMAILS: usize = 30;
    store
        .transaction(|tx| {
            tx.insert_license(&license(ID))?;
            for i in 0..EMAILS {
                tx.enqueue_email(&NewEmail {
                    license_id: &ID,
                    event_id: None,
                    to: format!("buyer{i}@example.com"),
                    subject: "Your key".into(),
                    body: "ts1_…".into(),
                    created_at: 10,
                })?;
            }
            Ok::<_, crate::store::StoreError>(())
        })
        .unwrap();
    assert_eq!(store.next_email_due().unwrap(), Some(10));
    let claim_all = || {
        let mut ids = Vec::new();
        while let Some(email) = store.claim_email(10, 1_000).unwrap() {
            assert_eq!(email.attempts, 1);
            ids.push(email.id);
        }
        ids
    };
    let mut claimed: Vec<i64> = std::thread::scope(|scope| {
        let senders: Vec<_> = (0..4).map(|_| scope.spawn(claim_all)).collect();
        senders
            .into_iter()
            .flat_map(|sender| sender.join().unwrap())
            .collect()
    });
    // A sender may stop early when the row it chose was claimed under it; whatever is left is
    // claimed once more now.
    claimed.extend(claim_all());
    claimed.sort_unstable();
    let distinct = claimed.len();
    claimed.dedup();
    assert_eq!(distinct, claimed.len(), "an e-mail was claimed twice");
    assert_eq!(claimed.len(), EMAILS);
    assert_eq!(
        store.next_email_due().unwrap(),
        Some(1_000),
        "leased, not sent"
    );

    store.email_sent(claimed[0], 20).unwrap();
    store
        .email_failed(claimed[1], "550 no such user", None)
        .unwrap();
    store
        .email_failed(claimed[2], "421 try later", Some(50))
        .unwrap();
    assert_eq!(store.next_email_due().unwrap(), Some(50));
    let retried = store.claim_email(50, 2_000).unwrap().unwrap();
    assert_eq!((retried.id, retried.attempts), (claimed[2], 2));
}

#[test]
fn support_finds_deliveries_and_audit_entries() {
    let Some((_db, store)) = store() else {
        return;
    };
    store
        .transaction(|tx| {
            tx.insert_license(&license(ID))?;
            tx.add_key(&ID, &key("ts1_a", 100), Some("evt_1"))?;
            tx.record_audit(&crate::store::NewAuditEntry {
                at: 7,
                actor: "support",
                action: "license.suspend",
                license_id: Some(ID),
                reason: Some("asked"),
                details: "{}".into(),
            })
        })
        .unwrap();
    let incoming = |event_id, event_type, payload, received_at| crate::store::IncomingDelivery {
        event_id,
        event_type,
        payload,
        received_at,
        note: None,
    };
    store
        .transaction(|tx| {
            let first = incoming("evt_1", "checkout.session.completed", "{\"a\":1}", 10);
            tx.record_delivery(&first, DeliveryStatus::Processed, None, 11)?;
            let second = incoming("evt_2", "invoice.paid", "{}", 20);
            tx.record_delivery(&second, DeliveryStatus::Failed, Some("an error"), 21)?;
            tx.record_delivery(&second, DeliveryStatus::Failed, Some("no price"), 22)
        })
        .unwrap();
    let names = |deliveries: Vec<crate::store::Delivery>| {
        deliveries
            .into_iter()
            .map(|d| d.event_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(store.deliveries(false, None, 10).unwrap()),
        ["evt_2", "evt_1"]
    );
    assert_eq!(names(store.deliveries(true, None, 10).unwrap()), ["evt_2"]);
    assert_eq!(
        names(
            store
                .deliveries(false, Some("checkout.session.completed"), 10)
                .unwrap()
        ),
        ["evt_1"]
    );
    assert_eq!(names(store.license_deliveries(&ID, 10).unwrap()), ["evt_1"]);
    assert_eq!(
        store.delivery_licenses("evt_1").unwrap(),
        [ID.to_hex().to_string()]
    );
    let (delivery, payload) = store.delivery_payload("evt_1").unwrap().unwrap();
    assert_eq!((delivery.attempts, payload.as_str()), (1, "{\"a\":1}"));
    let second = store.delivery("evt_2").unwrap().unwrap();
    assert_eq!(
        (
            second.error.as_deref(),
            second.attempts,
            second.processed_at
        ),
        (Some("no price"), 2, Some(22))
    );
    let audit = store.audit_log(Some(&ID), 10).unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(
        (audit[0].actor.as_str(), audit[0].reason.as_deref()),
        ("support", Some("asked"))
    );
    assert_eq!(
        store.audit_log(Some(&LicenseId([1; 8])), 10).unwrap(),
        vec![]
    );
    store.ready().unwrap();
}

#[test]
fn subscriptions_their_payments_and_top_ups_read_back() {
    let Some((_db, store)) = store() else {
        return;
    };
    let subscription = crate::store::SubscriptionRecord {
        id: "sub_1".into(),
        customer_id: Some("cus_1".into()),
        price_id: Some("price_1".into()),
        price_as_of: 3,
        paid_through: Some(400),
        canceled_at: None,
        checkout_session_id: Some("cs_s".into()),
        email: None,
        updated_at: 4,
    };
    let link = crate::store::PaymentSubscription {
        payment_intent_id: "pi_s".into(),
        subscription_id: "sub_1".into(),
        invoice_id: Some("in_1".into()),
        at: 5,
    };
    let grant = CreditGrant {
        checkout_session_id: "cs_t".into(),
        license_id: Some(ID),
        payment_intent_id: Some("pi_t".into()),
        price_id: "price_top_up".into(),
        customer_id: None,
        email: None,
        credits: 25,
        granted_at: 6,
    };
    let mut licensed = license(ID);
    licensed.subscription_id = Some("sub_1".into());
    store
        .transaction(|tx| {
            tx.insert_license(&licensed)?;
            tx.put_subscription(&subscription)?;
            tx.put_subscription(&crate::store::SubscriptionRecord {
                canceled_at: Some(450),
                ..subscription.clone()
            })?;
            assert!(tx.record_payment_subscription(&link, "evt_1")?);
            assert!(!tx.record_payment_subscription(&link, "evt_2")?);
            tx.record_payment_reversal(
                &PaymentReversal {
                    payment_intent_id: "pi_s".into(),
                    kind: "dispute",
                    object_id: "dp_1".into(),
                    at: 7,
                },
                "evt_3",
            )?;
            tx.grant_credits(&grant, "evt_4")
        })
        .unwrap();
    let read = store.subscription("sub_1").unwrap().unwrap();
    assert_eq!(
        read.canceled_at,
        Some(450),
        "the second put overwrote the first"
    );
    store
        .transaction(|tx| {
            assert_eq!(tx.license_by_subscription("sub_1")?, Some(licensed.clone()));
            assert_eq!(
                tx.license_by_payment_intent(licensed.payment_intent_id.as_deref().unwrap())?,
                Some(licensed.clone())
            );
            assert_eq!(tx.payment_subscription("pi_s")?, Some(link.clone()));
            let reversal = tx.subscription_reversal("sub_1")?.unwrap();
            assert_eq!(
                (reversal.kind, reversal.object_id.as_str()),
                ("dispute", "dp_1")
            );
            let top_ups = tx.top_ups_by_payment("pi_t")?;
            assert_eq!(top_ups.len(), 1);
            assert_eq!((top_ups[0].license_id, top_ups[0].credits), (ID, 25));
            tx.top_up_reversed(top_ups[0].id, 8)?;
            assert_eq!(tx.top_ups_by_payment("pi_t")?, vec![]);
            assert_eq!(tx.credit_account(&ID)?, None);
            Ok::<_, crate::store::StoreError>(())
        })
        .unwrap();
}

/// The blocking client cannot close a connection on a thread that drives async tasks; the store's
/// last handle on the pool is its writer threads', so dropping it there is safe. (And a test
/// database can be made and dropped from async tests.)
#[tokio::test(flavor = "multi_thread")]
async fn the_store_can_be_dropped_on_the_async_executor() {
    let Some(db) = TestDatabase::create() else {
        return;
    };
    let url = db.url().to_owned();
    let store = tokio::task::spawn_blocking(move || {
        let store = PgStore::open(&url, 4).unwrap();
        store.ready().unwrap();
        store
    })
    .await
    .unwrap();
    drop(store);
}
