//! What time does to credits: period credits returned after their period ended expire, and a
//! reservation past its TTL is expired (by the sweeper, or by the settlement that finds it late).

use tessera_issuer::store::{NewLedgerEntry, ReservationStatus, SettleOutcome, Settlement, Store};
use tessera_keys::LicenseId;

use super::fixtures::{
    assert_ledger_holds, at_once, balances, grant, ledger, license_id, numbers, request,
    reservation_id, reserved, rows_of, settle, split, write,
};
use super::on_each_backend;

/// The renewal of licence `id`'s period at 100, when all its period credits are reserved: 10 new
/// ones are granted, and the period now ends at 200.
fn renew(store: &dyn Store, id: &LicenseId) {
    write(store, |tx| {
        tx.credit_entry(&NewLedgerEntry::period_grant(id, 10, "evt_renewal", 100)?)?;
        tx.set_credit_period(id, Some(100), 200, 100)?;
        Ok(())
    });
}

#[test]
fn period_credits_released_after_a_renewal_expire() {
    on_each_backend(|store| {
        let id = license_id(1);
        grant(store, &id, 10, 5, 100);
        let old = reservation_id(&reserved(store, request(&id, "old", 12, 600, 10)));
        renew(store, &id);
        assert_eq!(balances(store, &id), [10, 3, 10, 2]);

        // 3 used (period credits), the other 7 period credits expire, the 2 top-up ones return.
        let outcome = settle(store, &id, &old, Settlement::Commit { used: 3 }, 150);
        let Ok(SettleOutcome::Settled(r, after)) = outcome else {
            panic!("expected settled, got {outcome:?}");
        };
        assert_eq!((r.used, r.period_end), (Some(3), Some(100)));
        assert_eq!(numbers(&after), [10, 5, 0, 0]);
        assert_eq!(balances(store, &id), [10, 5, 0, 0]);
        let expired: Vec<_> = rows_of(store, &id, "expiry")
            .into_iter()
            .filter(|row| row.reservation_id.as_deref() == Some(old.as_str()))
            .collect();
        assert_eq!(expired.len(), 1, "one expiry row for the reservation");
        assert_eq!((expired[0].period, expired[0].top_up), (-7, 0));

        // A reservation of the current period returns its period credits as usual.
        let current = reserved(store, request(&id, "new", 4, 600, 160));
        assert_eq!(split(&current), [4, 0]);
        let rows = ledger(store, &id).len();
        let outcome = settle(
            store,
            &id,
            &reservation_id(&current),
            Settlement::Release,
            170,
        );
        assert!(
            matches!(outcome, Ok(SettleOutcome::Settled(..))),
            "{outcome:?}"
        );
        assert_eq!(balances(store, &id), [10, 5, 0, 0]);
        assert_eq!(
            ledger(store, &id).len(),
            rows + 1,
            "a release row and no expiry"
        );
        assert_ledger_holds(store, &id);
    });
}

#[test]
fn an_open_reservation_past_its_ttl_expires_before_it_is_settled() {
    on_each_backend(|store| {
        let id = license_id(1);
        grant(store, &id, 0, 10, 1_000);
        let held = reservation_id(&reserved(store, request(&id, "a", 4, 60, 10)));

        // Its TTL ends at 70, whether or not the sweeper has run.
        let outcome = settle(store, &id, &held, Settlement::Commit { used: 1 }, 70);
        let Ok(SettleOutcome::Conflict(r)) = &outcome else {
            panic!("expected a conflict, got {outcome:?}");
        };
        assert_eq!(
            (r.status, r.used, r.settled_at),
            (ReservationStatus::Expired, None, Some(70))
        );
        assert_eq!(balances(store, &id), [0, 10, 0, 0]);
        let released = rows_of(store, &id, "release");
        assert_eq!(released.len(), 1);
        assert_eq!(
            (released[0].reason.as_str(), released[0].top_up),
            ("ttl", 4)
        );

        // Releasing an expired reservation is what already happened.
        let again = settle(store, &id, &held, Settlement::Release, 80);
        assert!(
            matches!(&again, Ok(SettleOutcome::Settled(r, _)) if r.status == ReservationStatus::Expired),
            "{again:?}"
        );
        assert_eq!(store.expire_reservations(1_000, 10).wait().unwrap(), 0);
        assert_eq!(balances(store, &id), [0, 10, 0, 0]);
        assert_ledger_holds(store, &id);
    });
}

#[test]
fn expiring_reservations_takes_only_those_due_and_each_once() {
    on_each_backend(|store| {
        let (one, two) = (license_id(1), license_id(2));
        grant(store, &one, 0, 100, 1_000);
        grant(store, &two, 0, 100, 1_000);
        // [licence, key, ttl]: made at 0, so each expires at its TTL.
        let made: Vec<(LicenseId, String)> = [
            (one, "a", 10),
            (one, "b", 20),
            (two, "c", 15),
            (one, "d", 100),
            (two, "e", 300),
            (two, "f", 400),
            (one, "g", 500),
        ]
        .into_iter()
        .map(|(id, key, ttl)| {
            (
                id,
                reservation_id(&reserved(store, request(&id, key, 5, ttl, 0))),
            )
        })
        .collect();
        // Settled before its TTL: not the sweeper's.
        assert!(matches!(
            settle(store, &one, &made[1].1, Settlement::Commit { used: 5 }, 5),
            Ok(SettleOutcome::Settled(..))
        ));

        assert_eq!(
            store.expire_reservations(9, 10).wait().unwrap(),
            0,
            "none due at 9"
        );
        assert_eq!(
            store.expire_reservations(20, 10).wait().unwrap(),
            2,
            "a and c at 20"
        );
        assert_eq!(
            store.expire_reservations(20, 10).wait().unwrap(),
            0,
            "each once"
        );
        assert_eq!(balances(store, &one), [0, 85, 0, 10]);
        assert_eq!(balances(store, &two), [0, 90, 0, 10]);

        // At most `limit` at a time.
        assert_eq!(store.expire_reservations(1_000, 3).wait().unwrap(), 3);
        assert_eq!(store.expire_reservations(1_000, 3).wait().unwrap(), 1);
        assert_eq!(store.expire_reservations(1_000, 3).wait().unwrap(), 0);

        for (id, held) in &made {
            let expected = if *held == made[1].1 {
                ReservationStatus::Committed
            } else {
                ReservationStatus::Expired
            };
            let ttl_rows = rows_of(store, id, "release")
                .into_iter()
                .filter(|row| row.reservation_id.as_deref() == Some(held.as_str()))
                .count();
            assert_eq!(
                ttl_rows,
                usize::from(expected == ReservationStatus::Expired)
            );
            let outcome = settle(store, id, held, Settlement::Release, 2_000);
            let status = match outcome {
                Ok(SettleOutcome::Settled(r, _) | SettleOutcome::Conflict(r)) => r.status,
                other => panic!("{other:?}"),
            };
            assert_eq!(status, expected, "reservation {held}");
        }
        assert_eq!(balances(store, &one), [0, 95, 0, 0]);
        assert_eq!(balances(store, &two), [0, 100, 0, 0]);
        assert_ledger_holds(store, &one);
        assert_ledger_holds(store, &two);
    });
}

#[test]
fn two_sweepers_and_late_settlements_racing_close_each_reservation_once() {
    on_each_backend(|store| {
        const HELD: usize = 6;
        const SWEEPERS: usize = 2;
        let id = license_id(1);
        grant(store, &id, 0, 60, 1_000);
        let held: Vec<String> = (0..HELD)
            .map(|i| reservation_id(&reserved(store, request(&id, &format!("r{i}"), 10, 60, 10))))
            .collect();

        // Past every TTL, two sweepers (as on two processes) and a client per reservation at once.
        let expired_by_sweepers: Vec<Option<usize>> = at_once(SWEEPERS + HELD, |thread| {
            if thread < SWEEPERS {
                return Some(store.expire_reservations(1_000, 100).wait().unwrap());
            }
            let outcome = settle(
                store,
                &id,
                &held[thread - SWEEPERS],
                Settlement::Release,
                1_000,
            );
            // A release after the TTL answers the expired reservation, whoever expired it.
            assert!(
                matches!(&outcome, Ok(SettleOutcome::Settled(r, _)) if r.status == ReservationStatus::Expired),
                "{outcome:?}"
            );
            None
        });
        let swept: usize = expired_by_sweepers.into_iter().flatten().sum();
        assert!(swept <= HELD, "{swept} expired by the sweepers");

        assert_eq!(balances(store, &id), [0, 60, 0, 0]);
        assert!(store.credits(&id).unwrap().1.is_empty());
        for held in &held {
            let closings = rows_of(store, &id, "release")
                .into_iter()
                .filter(|row| row.reservation_id.as_deref() == Some(held.as_str()))
                .count();
            assert_eq!(closings, 1, "reservation {held} is closed once");
        }
        assert_eq!(
            ledger(store, &id).len(),
            1 + HELD + HELD,
            "one grant, the reservations, one closing each"
        );
        assert_ledger_holds(store, &id);
    });
}
