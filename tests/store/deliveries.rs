//! Webhook deliveries: an event's effects apply once, commit with its delivery record, and roll back
//! (leaving the delivery recorded as failed) when applying them fails.

use std::sync::atomic::{AtomicUsize, Ordering};

use tessera_issuer::store::{
    ApplyError, DeliveryStatus, IncomingDelivery, ProcessOutcome, Store, StoreErrorKind, Tx,
};

use super::fixtures::{at_once, license, license_id};
use super::on_each_backend;

fn incoming(event_id: &str) -> IncomingDelivery<'_> {
    IncomingDelivery {
        event_id,
        event_type: "checkout.session.completed",
        payload: r#"{"id":"evt"}"#,
        received_at: 100,
        note: None,
    }
}

/// Delivers `event_id`, whose effect is licence `n`; counts the times its effects are applied.
fn deliver(
    store: &dyn Store,
    event_id: &str,
    n: u64,
    applied: &AtomicUsize,
) -> Result<ProcessOutcome, ApplyError> {
    store.process_delivery(incoming(event_id), &mut |tx: &mut dyn Tx| {
        applied.fetch_add(1, Ordering::SeqCst);
        tx.insert_license(&license(n, 100))?;
        Ok(DeliveryStatus::Processed)
    })
}

#[test]
fn a_delivery_applies_once_and_later_ones_count_as_attempts() {
    on_each_backend(|store| {
        let applied = AtomicUsize::new(0);
        assert_eq!(store.delivery("evt_1").unwrap(), None);
        let first = deliver(store, "evt_1", 1, &applied).expect("first delivery");
        assert_eq!(first, ProcessOutcome::Applied(DeliveryStatus::Processed));
        let recorded = store.delivery("evt_1").unwrap().expect("recorded");
        assert_eq!(
            (
                recorded.status,
                recorded.attempts,
                recorded.error.as_deref()
            ),
            (DeliveryStatus::Processed, 1, None)
        );
        assert_eq!(
            (recorded.event_type.as_str(), recorded.received_at),
            ("checkout.session.completed", 100)
        );
        assert!(recorded.processed_at.is_some());
        let (_, payload) = store
            .delivery_payload("evt_1")
            .unwrap()
            .expect("its payload");
        assert_eq!(payload, r#"{"id":"evt"}"#);

        let second = deliver(store, "evt_1", 1, &applied).expect("second delivery");
        assert_eq!(second, ProcessOutcome::AlreadyDone(recorded.clone()));
        assert_eq!(applied.load(Ordering::SeqCst), 1, "applied once");
        assert_eq!(store.delivery("evt_1").unwrap().unwrap().attempts, 2);
        assert!(store.license(&license_id(1)).unwrap().is_some());

        // An ignored event is done too.
        let ignored = store
            .process_delivery(
                IncomingDelivery {
                    note: Some("test mode event"),
                    ..incoming("evt_2")
                },
                &mut |_| Ok(DeliveryStatus::Ignored),
            )
            .unwrap();
        assert_eq!(ignored, ProcessOutcome::Applied(DeliveryStatus::Ignored));
        let again = store
            .process_delivery(incoming("evt_2"), &mut |_| {
                panic!("an ignored event is not applied again")
            })
            .unwrap();
        let ProcessOutcome::AlreadyDone(earlier) = again else {
            panic!("expected already done, got {again:?}");
        };
        assert_eq!(
            (earlier.status, earlier.error.as_deref()),
            (DeliveryStatus::Ignored, Some("test mode event"))
        );
        assert_eq!(store.delivery("evt_2").unwrap().unwrap().attempts, 2);
    });
}

#[test]
fn a_failed_delivery_rolls_back_its_effects_is_recorded_and_applies_when_redelivered() {
    on_each_backend(|store| {
        let failed = store.process_delivery(incoming("evt_1"), &mut |tx| {
            tx.insert_license(&license(1, 100))?;
            Err(ApplyError::Unprocessable(
                "unknown price price_x".to_owned(),
            ))
        });
        assert!(
            matches!(&failed, Err(ApplyError::Unprocessable(why)) if why == "unknown price price_x"),
            "{failed:?}"
        );
        assert_eq!(store.license(&license_id(1)).unwrap(), None, "rolled back");
        let recorded = store
            .delivery("evt_1")
            .unwrap()
            .expect("recorded as failed");
        assert_eq!(
            (
                recorded.status,
                recorded.attempts,
                recorded.error.as_deref()
            ),
            (DeliveryStatus::Failed, 1, Some("unknown price price_x"))
        );
        let listed = store.deliveries(true, None, 10).unwrap();
        assert_eq!(listed, vec![recorded]);

        // A storage error (a licence inserted twice) rolls back the effects before it as well.
        let failed = store.process_delivery(incoming("evt_1"), &mut |tx| {
            tx.insert_license(&license(1, 100))?;
            tx.insert_license(&license(1, 100))?;
            Ok(DeliveryStatus::Processed)
        });
        let Err(ApplyError::Store(err)) = &failed else {
            panic!("expected a storage error, got {failed:?}");
        };
        assert_eq!(err.kind(), StoreErrorKind::Constraint, "{err}");
        assert_eq!(store.license(&license_id(1)).unwrap(), None, "rolled back");
        let recorded = store.delivery("evt_1").unwrap().unwrap();
        assert_eq!(
            (recorded.status, recorded.attempts),
            (DeliveryStatus::Failed, 2)
        );
        assert!(recorded.error.is_some());

        let applied = AtomicUsize::new(0);
        let outcome = deliver(store, "evt_1", 1, &applied).expect("the redelivery");
        assert_eq!(outcome, ProcessOutcome::Applied(DeliveryStatus::Processed));
        assert!(store.license(&license_id(1)).unwrap().is_some());
        let recorded = store.delivery("evt_1").unwrap().unwrap();
        assert_eq!(
            (recorded.status, recorded.attempts, recorded.error),
            (DeliveryStatus::Processed, 3, None)
        );
        assert!(store.deliveries(true, None, 10).unwrap().is_empty());
    });
}

#[test]
fn one_event_delivered_by_many_threads_at_once_applies_once() {
    on_each_backend(|store| {
        const THREADS: usize = 8;
        for round in 0..3u64 {
            let event_id = format!("evt_storm_{round}");
            let applied = AtomicUsize::new(0);
            let outcomes = at_once(THREADS, |_| {
                deliver(store, &event_id, round, &applied)
                    .unwrap_or_else(|err| panic!("{event_id}: {err}"))
            });
            let applied_now = outcomes
                .iter()
                .filter(|outcome| matches!(outcome, ProcessOutcome::Applied(_)))
                .count();
            assert_eq!(applied_now, 1, "{event_id}: {outcomes:?}");
            let recorded = store.delivery(&event_id).unwrap().unwrap();
            assert_eq!(
                (recorded.status, recorded.attempts),
                (DeliveryStatus::Processed, THREADS as u32)
            );
            assert!(store.license(&license_id(round)).unwrap().is_some());
        }
    });
}
