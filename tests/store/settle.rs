//! Settling a reservation: a commit charges period credits first and returns the rest where it came
//! from, a release returns everything, and a reservation is settled one way only.

use tessera_issuer::store::{
    CreditBalances, Reservation, ReservationStatus, SettleOutcome, Settlement, Store,
};
use tessera_keys::LicenseId;

use super::fixtures::{
    assert_ledger_holds, balances, grant, ledger, license_id, numbers, request, reservation_id,
    reserved, rows_of, settle, split,
};
use super::on_each_backend;

/// Gives licence `id` 10 period and 20 top-up credits and reserves 15 of them (10 period,
/// 5 top-up) at 10 for 60 seconds; the reservation's id.
fn fifteen_held(store: &dyn Store, id: &LicenseId) -> String {
    grant(store, id, 10, 20, 1_000);
    let answer = reserved(store, request(id, "r", 15, 60, 10));
    assert_eq!(split(&answer), [10, 5]);
    reservation_id(&answer)
}

/// Settles as `settlement` says at 30, which must succeed; the reservation and balances answered.
fn settled(
    store: &dyn Store,
    id: &LicenseId,
    held: &str,
    settlement: Settlement,
) -> (Reservation, CreditBalances) {
    match settle(store, id, held, settlement, 30) {
        Ok(SettleOutcome::Settled(r, after)) => (r, after),
        other => panic!("expected {settlement:?} to settle, got {other:?}"),
    }
}

#[test]
fn a_commit_charges_period_credits_first_and_returns_the_rest_where_it_came_from() {
    on_each_backend(|store| {
        // [used, balances after, (period, top-up) returned by the commit row]
        for (n, used, after, returned) in [
            // Less than the period part: the unused period credits and all top-up ones return.
            (1, 4, [6, 20, 0, 0], (6, 5)),
            // More: all period credits are charged, then top-up ones; the rest of those return.
            (2, 12, [0, 18, 0, 0], (0, 3)),
            // All of it.
            (3, 15, [0, 15, 0, 0], (0, 0)),
        ] {
            let id = license_id(n);
            let held = fifteen_held(store, &id);
            let (r, answered) = settled(store, &id, &held, Settlement::Commit { used });
            assert_eq!(
                (r.status, r.used, r.settled_at),
                (ReservationStatus::Committed, Some(used), Some(30))
            );
            assert_eq!((r.amount, r.period_part, r.top_up_part), (15, 10, 5));
            assert_eq!(
                numbers(&answered),
                after,
                "balances answered after committing {used}"
            );
            assert_eq!(
                balances(store, &id),
                after,
                "balances stored after committing {used}"
            );

            let commits = rows_of(store, &id, "commit");
            assert_eq!(commits.len(), 1);
            let row = &commits[0];
            assert_eq!(
                (
                    row.period,
                    row.top_up,
                    row.period_reserved,
                    row.top_up_reserved
                ),
                (returned.0, returned.1, -10, -5),
                "the commit row of {used}"
            );
            assert_eq!(row.used, used);
            assert_eq!(row.reservation_id.as_deref(), Some(held.as_str()));
            assert!(store.credits(&id).unwrap().1.is_empty());
            assert_ledger_holds(store, &id);
        }
    });
}

#[test]
fn a_release_returns_everything_where_it_came_from() {
    on_each_backend(|store| {
        let id = license_id(1);
        let held = fifteen_held(store, &id);
        let (r, answered) = settled(store, &id, &held, Settlement::Release);
        assert_eq!((r.status, r.used), (ReservationStatus::Released, None));
        assert_eq!(numbers(&answered), [10, 20, 0, 0]);
        assert_eq!(balances(store, &id), [10, 20, 0, 0]);
        let releases = rows_of(store, &id, "release");
        assert_eq!(releases.len(), 1);
        let row = &releases[0];
        assert_eq!(
            (
                row.period,
                row.top_up,
                row.period_reserved,
                row.top_up_reserved,
                row.used
            ),
            (10, 5, -10, -5, 0)
        );
        assert!(store.credits(&id).unwrap().1.is_empty());
        assert_ledger_holds(store, &id);
    });
}

#[test]
fn settling_again_the_same_way_answers_the_same_and_another_way_conflicts() {
    on_each_backend(|store| {
        let committed = license_id(1);
        let held = fifteen_held(store, &committed);
        let (first, after) = settled(store, &committed, &held, Settlement::Commit { used: 7 });
        let rows = ledger(store, &committed).len();
        assert_eq!(
            settle(store, &committed, &held, Settlement::Commit { used: 7 }, 40),
            Ok(SettleOutcome::Settled(first.clone(), after))
        );
        for other in [Settlement::Commit { used: 6 }, Settlement::Release] {
            assert_eq!(
                settle(store, &committed, &held, other, 40),
                Ok(SettleOutcome::Conflict(first.clone())),
                "{other:?} after a commit"
            );
        }
        assert_eq!(
            ledger(store, &committed).len(),
            rows,
            "a repeat moves nothing"
        );
        assert_eq!(balances(store, &committed), numbers(&after));

        let released = license_id(2);
        let held = fifteen_held(store, &released);
        let (first, after) = settled(store, &released, &held, Settlement::Release);
        assert_eq!(
            settle(store, &released, &held, Settlement::Release, 40),
            Ok(SettleOutcome::Settled(first.clone(), after))
        );
        assert_eq!(
            settle(store, &released, &held, Settlement::Commit { used: 1 }, 40),
            Ok(SettleOutcome::Conflict(first))
        );
        assert_eq!(balances(store, &released), [10, 20, 0, 0]);
        assert_ledger_holds(store, &committed);
        assert_ledger_holds(store, &released);
    });
}

#[test]
fn committing_more_than_was_reserved_is_refused_and_leaves_the_reservation_open() {
    on_each_backend(|store| {
        let id = license_id(1);
        let held = fifteen_held(store, &id);
        assert_eq!(
            settle(store, &id, &held, Settlement::Commit { used: 16 }, 30),
            Ok(SettleOutcome::UsedExceedsReserved { reserved: 15 })
        );
        let (_, open) = store.credits(&id).unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(
            (open[0].id.as_str(), open[0].status),
            (held.as_str(), ReservationStatus::Open)
        );
        assert_eq!(balances(store, &id), [0, 15, 10, 5]);
        // It can still be settled properly.
        settled(store, &id, &held, Settlement::Commit { used: 15 });
        assert_ledger_holds(store, &id);
    });
}

#[test]
fn settling_an_unknown_reservation_answers_not_found() {
    on_each_backend(|store| {
        let id = license_id(1);
        let held = fifteen_held(store, &id);
        assert_eq!(
            settle(store, &id, "rsv_unknown", Settlement::Release, 30),
            Ok(SettleOutcome::NotFound)
        );
        // Another licence's reservation is not found either.
        assert_eq!(
            settle(
                store,
                &license_id(2),
                &held,
                Settlement::Commit { used: 1 },
                30
            ),
            Ok(SettleOutcome::NotFound)
        );
        assert_eq!(balances(store, &id), [0, 15, 10, 5]);
        assert_ledger_holds(store, &id);
    });
}
