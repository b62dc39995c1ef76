//! Reserving credits: the period-first split, idempotency keys, shortfalls, refused licences, and a
//! ledger that never lets a balance go below zero.

use tessera_issuer::store::{
    ApplyError, Idempotent, LicenseRecord, LicenseStatus, NewLedgerEntry, Refused,
    ReservationStatus, SettleOutcome, Settlement, StoreError, StoreErrorKind, Tx,
};

use super::fixtures::{
    assert_ledger_holds, balances, body, grant, insert, ledger, license, license_id, request,
    reservation_id, reserve, reserved, rows_of, settle, split, write,
};
use super::on_each_backend;

#[test]
fn a_reservation_takes_period_credits_first_then_top_up_credits() {
    on_each_backend(|store| {
        let id = license_id(1);
        grant(store, &id, 10, 20, 1_000);

        let first = reserved(store, request(&id, "a", 4, 60, 10));
        assert_eq!(split(&first), [4, 0]);
        assert_eq!(first["after"], serde_json::json!([6, 20, 4, 0]));

        let second = reserved(store, request(&id, "b", 15, 60, 11));
        assert_eq!(split(&second), [6, 9]);
        assert_eq!(second["expires_at"], 71);
        assert_eq!(balances(store, &id), [0, 11, 10, 9]);

        let (account, open) = store.credits(&id).unwrap();
        assert_eq!(account.period_end, Some(1_000));
        let open_ids: Vec<_> = open.iter().map(|r| r.id.clone()).collect();
        assert_eq!(open_ids, [reservation_id(&first), reservation_id(&second)]);
        let newest = &open[1];
        assert_eq!(
            (newest.amount, newest.period_part, newest.top_up_part),
            (15, 6, 9)
        );
        assert_eq!(newest.status, ReservationStatus::Open);
        assert_eq!(newest.reference.as_deref(), Some("ref b"));
        assert_eq!((newest.created_at, newest.expires_at), (11, 71));
        assert_eq!(newest.period_end, Some(1_000));

        let rows = rows_of(store, &id, "reservation");
        assert_eq!(rows.len(), 2);
        let row = &rows[1];
        assert_eq!(
            (
                row.period,
                row.top_up,
                row.period_reserved,
                row.top_up_reserved
            ),
            (-6, -9, 6, 9)
        );
        assert_eq!(row.reservation_id, Some(reservation_id(&second)));
        assert_ledger_holds(store, &id);
    });
}

#[test]
fn more_than_the_balance_is_answered_insufficient_and_moves_nothing() {
    on_each_backend(|store| {
        let id = license_id(1);
        grant(store, &id, 3, 4, 1_000);
        let rows_before = ledger(store, &id).len();

        let Ok(Idempotent::New(answer)) = reserve(store, request(&id, "big", 8, 60, 10)) else {
            panic!("expected a new answer");
        };
        assert_eq!(answer.status, 402);
        assert_eq!(
            body(&answer),
            serde_json::json!({"needed": 8, "available": 7})
        );
        assert_eq!(balances(store, &id), [3, 4, 0, 0]);
        assert_eq!(ledger(store, &id).len(), rows_before);
        assert!(store.credits(&id).unwrap().1.is_empty());

        // The shortfall is kept for the key like any answer.
        let replay = reserve(store, request(&id, "big", 8, 60, 11));
        assert_eq!(replay, Ok(Idempotent::Replay(answer)));

        // A licence with no account at all has nothing.
        let Ok(Idempotent::New(none)) = reserve(store, request(&license_id(2), "x", 1, 60, 10))
        else {
            panic!("expected a new answer");
        };
        assert_eq!(
            body(&none),
            serde_json::json!({"needed": 1, "available": 0})
        );
        assert_ledger_holds(store, &id);
    });
}

#[test]
fn an_idempotency_key_replays_its_answer_and_refuses_another_request() {
    on_each_backend(|store| {
        let id = license_id(1);
        grant(store, &id, 0, 50, 1_000);
        let Ok(Idempotent::New(first)) = reserve(store, request(&id, "k", 5, 60, 10)) else {
            panic!("expected a new reservation");
        };
        let rows_after_first = ledger(store, &id).len();

        let again = reserve(store, request(&id, "k", 5, 60, 20));
        assert_eq!(again, Ok(Idempotent::Replay(first.clone())));
        assert_eq!(balances(store, &id), [0, 45, 0, 5]);
        assert_eq!(store.credits(&id).unwrap().1.len(), 1);
        assert_eq!(ledger(store, &id).len(), rows_after_first);

        // The fingerprint stands for the request: another one under the same key is refused.
        let mut other_fingerprint = request(&id, "k", 5, 60, 20);
        other_fingerprint.fingerprint = "another body".to_owned();
        assert_eq!(reserve(store, other_fingerprint), Ok(Idempotent::Mismatch));
        assert_eq!(balances(store, &id), [0, 45, 0, 5]);

        // Keys belong to their licence: another licence's same key is a new request.
        let other_license = license_id(2);
        grant(store, &other_license, 0, 5, 1_000);
        let theirs = reserved(store, request(&other_license, "k", 5, 60, 20));
        assert_ne!(reservation_id(&theirs), reservation_id(&body(&first)));
        assert_ledger_holds(store, &id);
        assert_ledger_holds(store, &other_license);
    });
}

#[test]
fn a_revoked_or_suspended_licence_can_neither_reserve_nor_settle() {
    on_each_backend(|store| {
        let (revoked, suspended) = (license(1, 5), license(2, 5));
        for l in [&revoked, &suspended] {
            insert(store, l);
            grant(store, &l.id, 10, 0, 1_000);
        }
        let held: Vec<String> = [&revoked, &suspended]
            .iter()
            .map(|l| reservation_id(&reserved(store, request(&l.id, "before", 4, 60, 10))))
            .collect();
        assert_eq!(store.credit_refusal(&revoked.id).unwrap(), None);

        write(store, |tx| {
            assert!(tx.revoke(&revoked.id, "refund", 20)?);
            tx.update_license(&LicenseRecord {
                status: LicenseStatus::Suspended,
                updated_at: 20,
                ..suspended.clone()
            })?;
            Ok(())
        });

        for (l, status, reservation) in [
            (&revoked, LicenseStatus::Revoked, &held[0]),
            (&suspended, LicenseStatus::Suspended, &held[1]),
        ] {
            assert_eq!(store.credit_refusal(&l.id).unwrap(), Some(Refused(status)));
            assert_eq!(
                reserve(store, request(&l.id, "after", 1, 60, 30)),
                Err(Refused(status))
            );
            assert_eq!(
                settle(
                    store,
                    &l.id,
                    reservation,
                    Settlement::Commit { used: 1 },
                    30
                ),
                Err(Refused(status))
            );
            assert_eq!(
                settle(store, &l.id, reservation, Settlement::Release, 30),
                Err(Refused(status))
            );
            // Nothing moved: the reservation still holds its credits.
            assert_eq!(balances(store, &l.id), [6, 0, 4, 0]);
            assert_ledger_holds(store, &l.id);
        }

        // Reinstated, the suspended licence settles again.
        write(store, |tx| {
            tx.update_license(&LicenseRecord {
                updated_at: 40,
                ..suspended.clone()
            })?;
            Ok(())
        });
        assert!(matches!(
            settle(store, &suspended.id, &held[1], Settlement::Release, 40),
            Ok(SettleOutcome::Settled(..))
        ));
        assert_eq!(balances(store, &suspended.id), [10, 0, 0, 0]);
    });
}

#[test]
fn a_ledger_entry_that_would_make_a_balance_negative_rolls_back_its_whole_transaction() {
    on_each_backend(|store| {
        let id = license_id(1);
        grant(store, &id, 5, 0, 1_000);
        let rows_before = ledger(store, &id).len();

        let failed = store.write(&mut |tx| {
            insert_license_and_move(tx)?;
            tx.credit_entry(&NewLedgerEntry::adjustment(
                &id, -6, 0, "too much", "test", 2,
            ))?;
            Ok(())
        });
        let Err(ApplyError::Store(err)) = failed else {
            panic!("expected a storage error, got {failed:?}");
        };
        assert_eq!(err.kind(), StoreErrorKind::Constraint, "{err}");

        assert_eq!(balances(store, &id), [5, 0, 0, 0]);
        assert_eq!(ledger(store, &id).len(), rows_before);
        assert_eq!(store.license(&license_id(9)).unwrap(), None);
        assert_ledger_holds(store, &id);
    });
}

/// The earlier writes of a transaction that then fails: a licence and three top-up credits.
fn insert_license_and_move(tx: &mut dyn Tx) -> Result<(), StoreError> {
    tx.insert_license(&license(9, 1))?;
    tx.credit_entry(&NewLedgerEntry::adjustment(
        &license_id(1),
        0,
        3,
        "earlier",
        "test",
        2,
    ))
}
