//! Many threads on one licence's credits at once: never an overdraft, one answer per idempotency
//! key, balances that stay equal to the ledger. Bounded (8 threads of 25 operations), so that it
//! takes seconds on any backend.

use tessera_issuer::store::{Idempotent, SettleOutcome, Settlement, Store, StoredAnswer};
use tessera_keys::LicenseId;

use super::fixtures::{
    assert_ledger_holds, at_once, balances, body, grant, ledger, license_id, request,
    reservation_id, reserve, rows_of, settle,
};
use super::on_each_backend;

const THREADS: usize = 8;
const OPERATIONS: usize = 25;

/// What one thread did: credits committed, and how many reservations were made and refused.
#[derive(Default)]
struct Tally {
    used: u64,
    reserved: usize,
    insufficient: usize,
}

/// Thread `thread`'s operations on licence 1: reserve 1 to 3 credits, then commit all of them
/// (even steps) or release them (odd steps).
fn spend(store: &dyn Store, thread: usize) -> Tally {
    let id = license_id(1);
    let mut tally = Tally::default();
    for step in 0..OPERATIONS {
        let amount = 1 + ((thread + step) % 3) as u64;
        let key = format!("t{thread}-{step}");
        let answer = match reserve(store, request(&id, &key, amount, 600, 10)) {
            Ok(Idempotent::New(answer)) => answer,
            other => panic!("{key}: expected a new answer, got {other:?}"),
        };
        if answer.status == 402 {
            tally.insufficient += 1;
            continue;
        }
        tally.reserved += 1;
        let settlement = if step % 2 == 0 {
            Settlement::Commit { used: amount }
        } else {
            Settlement::Release
        };
        match settle(store, &id, &reservation_id(&body(&answer)), settlement, 20) {
            Ok(SettleOutcome::Settled(..)) => {}
            other => panic!("{key}: expected {settlement:?} to settle, got {other:?}"),
        }
        if let Settlement::Commit { used } = settlement {
            tally.used += used;
        }
    }
    tally
}

#[test]
fn many_threads_spending_one_licence_never_overdraw_it() {
    on_each_backend(|store| {
        let id = license_id(1);
        grant(store, &id, 60, 60, 1_000);
        let tallies = at_once(THREADS, |thread| spend(store, thread));
        let used: u64 = tallies.iter().map(|t| t.used).sum();
        let made: usize = tallies.iter().map(|t| t.reserved).sum();
        let refused: usize = tallies.iter().map(|t| t.insufficient).sum();

        // More was asked for than was granted: some requests must have been refused.
        assert!(used <= 120, "{used} credits committed out of 120");
        assert!(refused > 0, "no request ran short");
        let [period, top_up, period_reserved, top_up_reserved] = balances(store, &id);
        assert_eq!(period + top_up, 120 - used, "what is left");
        assert_eq!((period_reserved, top_up_reserved), (0, 0));
        assert!(store.credits(&id).unwrap().1.is_empty());
        assert_eq!(rows_of(store, &id, "reservation").len(), made);
        assert_eq!(
            rows_of(store, &id, "commit").len() + rows_of(store, &id, "release").len(),
            made
        );
        assert_ledger_holds(store, &id);
    });
}

/// Sends one reservation under idempotency key `key` of licence `id` from every thread at once;
/// asserts that one got a new answer and the others its replay, and returns that answer.
fn same_key_at_once(store: &dyn Store, id: &LicenseId, key: &str) -> StoredAnswer {
    let answers = at_once(THREADS, |_| {
        reserve(store, request(id, key, 5, 600, 10)).expect("the licence is not refused")
    });
    let new: Vec<&StoredAnswer> = answers
        .iter()
        .filter_map(|answer| match answer {
            Idempotent::New(answer) => Some(answer),
            _ => None,
        })
        .collect();
    assert_eq!(new.len(), 1, "{key}: one new answer among {answers:?}");
    let first = new[0].clone();
    for answer in &answers {
        if !matches!(answer, Idempotent::New(_)) {
            assert_eq!(answer, &Idempotent::Replay(first.clone()), "{key}");
        }
    }
    first
}

#[test]
fn one_idempotency_key_sent_by_many_threads_at_once_reserves_once() {
    on_each_backend(|store| {
        let id = license_id(1);
        grant(store, &id, 0, 100, 1_000);
        for round in 0..3 {
            let answer = same_key_at_once(store, &id, &format!("same-{round}"));
            assert_eq!(answer.status, 201);
        }
        assert_eq!(balances(store, &id), [0, 85, 0, 15]);
        assert_eq!(store.credits(&id).unwrap().1.len(), 3);
        assert_eq!(rows_of(store, &id, "reservation").len(), 3);
        assert_ledger_holds(store, &id);
    });
}

#[test]
fn one_idempotency_key_sent_at_once_for_a_licence_without_credits_answers_once() {
    on_each_backend(|store| {
        // No account to lock yet: the key alone must keep the answers one.
        let id = license_id(2);
        for round in 0..3 {
            let answer = same_key_at_once(store, &id, &format!("none-{round}"));
            assert_eq!(answer.status, 402);
            assert_eq!(
                body(&answer),
                serde_json::json!({"needed": 5, "available": 0})
            );
        }
        assert_eq!(balances(store, &id), [0, 0, 0, 0]);
        assert!(ledger(store, &id).is_empty());
        assert_ledger_holds(store, &id);
    });
}
