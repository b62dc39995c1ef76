//! Machine seats on every backend: the seat rules (`machines::rules`) over each backend's `Tx`
//! primitives, through the store's writer as the HTTP layer runs them. Seats never exceed the
//! licence's count, even with many threads at once (each a connection, standing for a process);
//! the same machine keeps its row; deactivations are capped; lapsed floating seats are freed once.

use tessera_issuer::machines::rules::{self, Activation, ActivationRequest, Deactivated};
use tessera_issuer::store::{
    queued, Credited, Deactivation, LicenseRecord, LicenseStatus, SeatPolicy, Store, StoreError,
    Timestamp, Tx,
};
use tessera_keys::LicenseId;

use super::fixtures::{insert, license, license_id, write};
use super::on_each_backend;

/// Licence `n` with seat policy `seats`.
fn seated(n: u64, seats: SeatPolicy) -> LicenseRecord {
    LicenseRecord {
        seats: Some(seats),
        ..license(n, 1)
    }
}

fn three_seats() -> SeatPolicy {
    SeatPolicy {
        max_machines: Some(3),
        lease_days: Some(30),
        heartbeat_seconds: None,
        max_deactivations_per_30_days: Some(1),
    }
}

/// Runs seat rule `work` on the store's writer and waits for its answer.
fn run<T: Send + 'static>(
    store: &dyn Store,
    work: impl FnOnce(&mut dyn Tx) -> Result<T, StoreError> + Send + 'static,
) -> T {
    queued(store, work)
        .wait()
        .unwrap_or_else(|err| panic!("seat rule failed: {err}"))
}

fn activate(
    store: &dyn Store,
    id: LicenseId,
    machine: u32,
    now: Timestamp,
) -> Credited<Activation> {
    let request = ActivationRequest {
        license_id: id,
        fingerprint: format!("{machine:064x}"),
        name: Some(format!("box {machine}")),
        platform: None,
        now,
    };
    run(store, move |tx| rules::activate(tx, &request))
}

#[test]
fn seats_are_taken_until_none_is_free_and_the_same_machine_keeps_its_row() {
    on_each_backend(|store| {
        let id = license_id(1);
        insert(store, &seated(1, three_seats()));
        let first = match activate(store, id, 1, 100) {
            Ok(Activation::New(machine)) => machine,
            other => panic!("expected a new machine, got {other:?}"),
        };
        assert_eq!(first.lease_ends_at, Some(100 + 30 * 86_400));
        assert_eq!(first.lapses_at, None);
        match activate(store, id, 1, 200) {
            Ok(Activation::Again(again)) => {
                assert_eq!(again.id, first.id);
                assert_eq!((again.activated_at, again.last_seen_at), (100, 200));
            }
            other => panic!("expected the same machine, got {other:?}"),
        }
        for machine in 2..=3 {
            assert!(matches!(
                activate(store, id, machine, 300),
                Ok(Activation::New(_))
            ));
        }
        match activate(store, id, 4, 400) {
            Ok(Activation::TooMany {
                max_machines,
                machines,
            }) => {
                assert_eq!(max_machines, 3);
                assert_eq!(machines.len(), 3);
            }
            other => panic!("expected no free seat, got {other:?}"),
        }
        assert_eq!(store.machines(&id, true).unwrap().len(), 3);
        let stored = store.machine(&first.id).unwrap().unwrap();
        assert_eq!(stored.last_seen_at, 200);
        assert_eq!(stored.name.as_deref(), Some("box 1"));
    });
}

#[test]
fn a_licence_without_seats_or_not_on_record_needs_no_activation_and_a_revoked_one_is_refused() {
    on_each_backend(|store| {
        insert(store, &license(1, 1));
        assert_eq!(
            activate(store, license_id(1), 1, 10),
            Ok(Activation::NotRequired)
        );
        assert_eq!(
            activate(store, license_id(9), 1, 10),
            Ok(Activation::NotRequired)
        );
        insert(store, &seated(2, three_seats()));
        assert!(matches!(
            activate(store, license_id(2), 1, 10),
            Ok(Activation::New(_))
        ));
        write(store, |tx| {
            tx.revoke(&license_id(2), "refund", 20)?;
            Ok(())
        });
        let refused = activate(store, license_id(2), 2, 30).unwrap_err();
        assert_eq!(refused.0, LicenseStatus::Revoked);
        // Revocation frees nothing.
        assert_eq!(store.machines(&license_id(2), true).unwrap().len(), 1);
    });
}

#[test]
fn a_deactivation_frees_a_seat_within_the_cap_and_a_repeat_changes_nothing() {
    on_each_backend(|store| {
        let id = license_id(1);
        insert(store, &seated(1, three_seats()));
        let machines: Vec<String> = (1..=3)
            .map(|n| match activate(store, id, n, 100) {
                Ok(Activation::New(m)) => m.id,
                other => panic!("{other:?}"),
            })
            .collect();
        let deactivate = |machine: &str, now: Timestamp| {
            let machine = machine.to_owned();
            run(store, move |tx| rules::deactivate(tx, &id, &machine, now))
        };
        assert!(matches!(
            deactivate(&machines[0], 200),
            Ok(Deactivated::Freed(_))
        ));
        assert!(matches!(
            deactivate(&machines[0], 201),
            Ok(Deactivated::Freed(_))
        ));
        assert_eq!(
            deactivate(&machines[1], 300),
            Ok(Deactivated::TooMany { cap: 1 })
        );
        // Thirty days later the cap allows one more.
        let later = 200 + rules::DEACTIVATION_WINDOW + 1;
        assert!(matches!(
            deactivate(&machines[1], later),
            Ok(Deactivated::Freed(_))
        ));
        assert_eq!(deactivate("m_ffff", 300), Ok(Deactivated::NotFound));
        // Support is not capped.
        let freed = run(store, {
            let machine = machines[2].clone();
            move |tx| rules::deactivate_by_support(tx, &machine, later)
        });
        assert_eq!(freed.unwrap().deactivated_how, Some(Deactivation::Admin));
        assert!(store.machines(&id, true).unwrap().is_empty());
        assert_eq!(store.machines(&id, false).unwrap().len(), 3);
    });
}

#[test]
fn lapsed_floating_seats_are_freed_once_and_a_heartbeat_keeps_one() {
    on_each_backend(|store| {
        let floating = SeatPolicy {
            max_machines: Some(2),
            lease_days: None,
            heartbeat_seconds: Some(10),
            max_deactivations_per_30_days: None,
        };
        let id = license_id(1);
        insert(store, &seated(1, floating));
        let ids: Vec<String> = (1..=2)
            .map(|n| match activate(store, id, n, 100) {
                Ok(Activation::New(m)) => {
                    assert_eq!((m.lease_ends_at, m.lapses_at), (Some(120), Some(120)));
                    m.id
                }
                other => panic!("{other:?}"),
            })
            .collect();
        let beat = {
            let machine = ids[0].clone();
            run(store, move |tx| rules::heartbeat(tx, &id, &machine, 115))
        };
        assert_eq!(beat.unwrap().unwrap().lapses_at, Some(135));
        assert_eq!(run(store, |tx| rules::free_lapsed(tx, 119, 100)), 0);
        assert_eq!(run(store, |tx| rules::free_lapsed(tx, 120, 100)), 1);
        assert_eq!(run(store, |tx| rules::free_lapsed(tx, 121, 100)), 0);
        let lapsed = store.machine(&ids[1]).unwrap().unwrap();
        assert_eq!(lapsed.deactivated_how, Some(Deactivation::Lapsed));
        let late = {
            let machine = ids[1].clone();
            run(store, move |tx| rules::heartbeat(tx, &id, &machine, 121))
        };
        assert_eq!(late, Ok(None), "a freed machine activates again");
        // A lapse not yet swept frees the seat for an activation at once.
        assert!(matches!(
            activate(store, id, 3, 140),
            Ok(Activation::New(_))
        ));
        assert_eq!(
            store.machine(&ids[0]).unwrap().unwrap().deactivated_how,
            Some(Deactivation::Lapsed)
        );
    });
}

#[test]
fn many_threads_activating_at_once_never_take_more_seats_than_there_are() {
    on_each_backend(|store| {
        let id = license_id(1);
        insert(store, &seated(1, three_seats()));
        let outcomes: Vec<Credited<Activation>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8u32)
                .map(|thread| scope.spawn(move || activate(store, id, thread, 100)))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let new = outcomes
            .iter()
            .filter(|o| matches!(o, Ok(Activation::New(_))))
            .count();
        let full = outcomes
            .iter()
            .filter(|o| matches!(o, Ok(Activation::TooMany { .. })))
            .count();
        assert_eq!((new, full), (3, 5), "{outcomes:?}");
        assert_eq!(store.machines(&id, true).unwrap().len(), 3);
    });
}
