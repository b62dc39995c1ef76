//! One suite for every backend: the shared rules (webhook dedupe, audited changes, credits) over
//! each store, with several callers at once. On PostgreSQL each caller's pooled connection stands
//! for another issuer process; SQLite serializes them in its write lock.

use tessera_keys::LicenseId;

use super::postgres::PgStore;
use super::sqlite::SqliteStore;
use crate::store::{
    ApplyError, DeliveryStatus, Idempotent, IncomingDelivery, LicenseRecord, LicenseStatus,
    NewLedgerEntry, ProcessOutcome, ReserveOutcome, ReserveRequest, SettleOutcome, Settlement,
    Store, StoredAnswer,
};
use crate::testing::TestDatabase;

const ID: LicenseId = LicenseId([0x51, 0, 0, 0, 0, 0, 0, 1]);
const CALLERS: usize = 6;

/// Runs each test on a fresh SQLite file and on a fresh PostgreSQL database (skipped, with a
/// notice, where there is none).
macro_rules! on_every_backend {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $test() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = super::SqliteStore::open(&dir.path().join("db.sqlite3")).unwrap();
                    super::$test(&store);
                }
            )*
        }

        mod postgres {
            $(
                #[test]
                fn $test() {
                    let Some(db) = super::TestDatabase::create() else {
                        return;
                    };
                    super::$test(&super::PgStore::open(db.url(), 8).unwrap());
                }
            )*
        }
    };
}

on_every_backend!(
    a_webhook_delivered_to_several_callers_at_once_takes_effect_once,
    a_failed_delivery_rolls_back_its_effects_and_is_recorded,
    concurrent_reservations_never_overspend_and_keys_replay_across_callers,
    expiry_and_settlement_racing_close_each_reservation_once,
    an_audited_change_commits_with_its_entry_or_not_at_all,
    the_first_signing_key_of_an_id_is_kept_and_read_back_lowest_id_first,
);

fn grant(store: &dyn Store, top_up: i64) {
    store
        .write(&mut |tx| {
            tx.credit_entry(&NewLedgerEntry::adjustment(
                &ID, 0, top_up, "test", "test", 1,
            ))?;
            Ok(())
        })
        .unwrap();
}

fn render(outcome: &ReserveOutcome) -> StoredAnswer {
    match outcome {
        ReserveOutcome::Reserved(r, _) => StoredAnswer {
            status: 201,
            body: r.id.clone(),
        },
        ReserveOutcome::Insufficient { available, .. } => StoredAnswer {
            status: 402,
            body: available.to_string(),
        },
    }
}

fn request(key: &str, amount: u64) -> ReserveRequest {
    ReserveRequest {
        license_id: ID,
        idempotency_key: key.to_owned(),
        fingerprint: format!("{key}:{amount}"),
        amount,
        ttl_seconds: 60,
        reference: None,
        now: 10,
    }
}

/// The answer to reserving `amount` under `key`.
fn reserve(store: &dyn Store, key: &str, amount: u64) -> Idempotent {
    store
        .reserve_credits(request(key, amount), render)
        .wait()
        .unwrap()
        .unwrap()
}

fn a_webhook_delivered_to_several_callers_at_once_takes_effect_once(store: &dyn Store) {
    let outcomes: Vec<ProcessOutcome> = std::thread::scope(|scope| {
        let callers: Vec<_> = (0..CALLERS)
            .map(|_| {
                scope.spawn(|| {
                    let incoming = IncomingDelivery {
                        event_id: "evt_once",
                        event_type: "checkout.session.completed",
                        payload: "{}",
                        received_at: 5,
                        note: None,
                    };
                    store
                        .process_delivery(incoming, &mut |tx| {
                            // Inserting the licence twice would fail on its primary key.
                            tx.insert_license(&licensed())?;
                            Ok(DeliveryStatus::Processed)
                        })
                        .unwrap()
                })
            })
            .collect();
        callers.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let applied = outcomes
        .iter()
        .filter(|o| matches!(o, ProcessOutcome::Applied(DeliveryStatus::Processed)))
        .count();
    assert_eq!(applied, 1, "{outcomes:?}");
    let delivery = store.delivery("evt_once").unwrap().unwrap();
    assert_eq!(
        (delivery.status, delivery.attempts),
        (DeliveryStatus::Processed, CALLERS as u32)
    );
}

fn a_failed_delivery_rolls_back_its_effects_and_is_recorded(store: &dyn Store) {
    let incoming = IncomingDelivery {
        event_id: "evt_fails",
        event_type: "invoice.paid",
        payload: "{}",
        received_at: 5,
        note: None,
    };
    let result = store.process_delivery(incoming, &mut |tx| {
        tx.insert_license(&licensed())?;
        Err(ApplyError::Unprocessable("no price".into()))
    });
    assert!(matches!(result, Err(ApplyError::Unprocessable(_))));
    assert!(store.license(&ID).unwrap().is_none(), "rolled back");
    let delivery = store.delivery("evt_fails").unwrap().unwrap();
    assert_eq!(
        (delivery.status, delivery.error.as_deref()),
        (DeliveryStatus::Failed, Some("no price"))
    );
    // Stripe's redelivery is applied.
    let again = store
        .process_delivery(incoming, &mut |tx| {
            tx.insert_license(&licensed())?;
            Ok(DeliveryStatus::Processed)
        })
        .unwrap();
    assert_eq!(again, ProcessOutcome::Applied(DeliveryStatus::Processed));
    assert_eq!(store.delivery("evt_fails").unwrap().unwrap().attempts, 2);
}

fn concurrent_reservations_never_overspend_and_keys_replay_across_callers(store: &dyn Store) {
    grant(store, 100);
    // Each caller reserves 10 under its own keys; 8 keys per caller, each key sent twice.
    let answers: Vec<(String, Idempotent)> = std::thread::scope(|scope| {
        let callers: Vec<_> = (0..CALLERS)
            .map(|caller| {
                scope.spawn(move || {
                    let mut answers = Vec::new();
                    for i in 0..8 {
                        let key = format!("k{caller}-{i}");
                        answers.push((key.clone(), reserve(store, &key, 10)));
                        answers.push((key.clone(), reserve(store, &key, 10)));
                    }
                    answers
                })
            })
            .collect();
        callers
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect()
    });
    let new_reserved: Vec<&StoredAnswer> = answers
        .iter()
        .filter_map(|(_, answer)| match answer {
            Idempotent::New(answer) if answer.status == 201 => Some(answer),
            _ => None,
        })
        .collect();
    assert_eq!(
        new_reserved.len(),
        10,
        "100 credits hold ten reservations of 10"
    );
    for pair in answers.chunks(2) {
        let [(key, first), (_, second)] = pair else {
            unreachable!()
        };
        let Idempotent::New(first) = first else {
            panic!("{key}: {first:?}")
        };
        assert_eq!(second, &Idempotent::Replay(first.clone()), "{key}");
    }
    // Another fingerprint under a used key.
    assert_eq!(reserve(store, "k0-0", 11), Idempotent::Mismatch);
    let (account, open) = store.credits(&ID).unwrap();
    assert_eq!((account.balances.top_up, open.len()), (0, 10));
    assert_eq!(store.verify_credit_ledger().unwrap(), vec![]);
}

fn expiry_and_settlement_racing_close_each_reservation_once(store: &dyn Store) {
    grant(store, 60);
    let ids: Vec<String> = (0..6)
        .map(|i| match reserve(store, &format!("r{i}"), 10) {
            Idempotent::New(answer) => answer.body,
            other => panic!("{other:?}"),
        })
        .collect();
    // Past the TTL: sweepers and clients settling at once; each reservation ends once.
    let (expired, settled): (usize, Vec<bool>) = std::thread::scope(|scope| {
        let sweepers: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| store.expire_reservations(1_000, 100).wait().unwrap()))
            .collect();
        let settlers: Vec<_> = ids
            .iter()
            .map(|id| {
                scope.spawn(move || {
                    let outcome = store
                        .settle_reservation(ID, id.clone(), Settlement::Release, 1_000)
                        .wait()
                        .unwrap()
                        .unwrap();
                    matches!(outcome, SettleOutcome::Settled(..))
                })
            })
            .collect();
        (
            sweepers.into_iter().map(|s| s.join().unwrap()).sum(),
            settlers.into_iter().map(|s| s.join().unwrap()).collect(),
        )
    });
    // A release after the TTL answers the expired reservation (settled as released or expired).
    assert!(settled.iter().all(|s| *s), "{settled:?}");
    assert!(expired <= ids.len());
    let (account, open) = store.credits(&ID).unwrap();
    assert_eq!((account.balances.top_up, open.len()), (60, 0));
    let ledger = store.credit_ledger(&ID, None, 100).unwrap();
    assert_eq!(
        ledger.len(),
        1 + 6 + 6,
        "one grant, six reservations, six closings"
    );
    assert_eq!(store.verify_credit_ledger().unwrap(), vec![]);
}

fn an_audited_change_commits_with_its_entry_or_not_at_all(store: &dyn Store) {
    let entry = |action| crate::store::NewAuditEntry {
        at: 9,
        actor: "support",
        action,
        license_id: Some(ID),
        reason: None,
        details: "{}".into(),
    };
    store
        .audited(&entry("license.create"), &mut |tx| {
            tx.insert_license(&licensed())?;
            Ok(())
        })
        .unwrap();
    let refused = store.audited(&entry("license.create"), &mut |tx| {
        tx.insert_license(&licensed())?;
        Ok(())
    });
    assert!(refused.is_err(), "a second licence with the same id");
    let audit = store.audit_log(Some(&ID), 10).unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(
        store.license_status(&ID).unwrap(),
        Some(LicenseStatus::Active)
    );
}

fn licensed() -> LicenseRecord {
    LicenseRecord {
        id: ID,
        product: 1,
        tier: 0,
        features: 0,
        status: LicenseStatus::Active,
        customer_id: None,
        email: None,
        checkout_session_id: None,
        subscription_id: None,
        payment_intent_id: None,
        price_id: None,
        expires_at: None,
        created_at: 1,
        updated_at: 1,
    }
}

fn the_first_signing_key_of_an_id_is_kept_and_read_back_lowest_id_first(store: &dyn Store) {
    let stored = |id: u32, sealed: u8| crate::store::StoredSigningKey {
        key_id: id,
        public_key: tessera_keys::SigningKey::generate(id).public_key(),
        sealed_secret: vec![sealed; 73],
        created_at: 1_800_000_000,
    };
    assert!(store.signing_keys().unwrap().is_empty());
    let (two, one) = (stored(2, 7), stored(1, 8));
    assert!(store.add_signing_key(&two).unwrap());
    assert!(store.add_signing_key(&one).unwrap());
    assert!(
        !store.add_signing_key(&stored(2, 9)).unwrap(),
        "id 2 is taken"
    );
    let highest = stored(u32::MAX, 0);
    assert!(store.add_signing_key(&highest).unwrap());
    assert_eq!(store.signing_keys().unwrap(), [one, two, highest]);
}
