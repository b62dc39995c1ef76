//! Credits when things go wrong: two issuer processes sharing one database, and an issuer killed
//! (SIGKILL) in the middle of a run and started again.
//!
//! [`hammer`] runs many clients spending one account and records what each saw; [`Record::check`]
//! then holds the issuer to it: nothing overspent, spent twice or lost, and every answer a client
//! saw still stands. `credits::concurrent_clients_never_overspend_or_spend_twice` runs the same on
//! one healthy process.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::credits::{
    assert_ledger_matches, balances, buckets, funded_licence, ledger, reserve, try_commit,
    try_release, try_reserve,
};
use super::harness::{Issuer, Workspace};
use super::stripe_fixtures::FakeStripe;
use super::webhooks::{on_postgres, setup};

/// Client threads in a [`hammer`] run.
pub(super) const CLIENTS: u64 = 8;
/// Requests each client starts (a reservation and its settlement count as one).
pub(super) const OPERATIONS: u64 = 25;
/// The TTL of reservations a client never settles: short, so that the sweeper's release is soon.
const SHORT_TTL: u64 = 2;
/// How long the sweeper may take to release them: well past [`SHORT_TTL`] and its one-second
/// interval, for a machine busy with other tests.
const SWEEP_WAIT: Duration = Duration::from_secs(10);

/// What a client means to do with a reservation once it has one.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Plan {
    /// Commit `used`; `twice`: send the commit again, as a client retrying after a timeout would.
    Commit {
        used: u64,
        twice: bool,
    },
    Release,
    /// Never settle it: its short TTL runs out and the sweeper releases it.
    Abandon,
}

/// A request and the rest of its plan. [`Record::run`] gives it back when the issuer went away
/// before answering: whether the issuer acted is then unknown, so it is sent again unchanged (same
/// `Idempotency-Key`, same body), and must still act only once.
#[derive(Debug)]
enum Step {
    Reserve {
        idempotency_key: String,
        body: Value,
        plan: Plan,
    },
    Settle {
        id: String,
        plan: Plan,
    },
}

/// What clients saw of one reservation.
#[derive(Debug)]
struct Seen {
    amount: u64,
    committed: Option<u64>,
    released: bool,
    abandoned: bool,
}

/// An answer to a reservation request.
#[derive(Debug)]
struct Answered {
    idempotency_key: String,
    body: Value,
    status: u16,
    answer: Value,
}

/// Everything some clients saw: their reservations by id, the answers to their reservation
/// requests, how many were refused for want of credits, and what they still have to send again.
#[derive(Debug, Default)]
pub(super) struct Record {
    seen: HashMap<String, Seen>,
    answers: Vec<Answered>,
    refused: u64,
    unknown: Vec<Step>,
}

/// Deterministic choices for each client, different between clients.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

impl Record {
    /// Sends `step` and the rest of its plan to the issuer at `base_url`; `Err` gives back what is
    /// still to send when the issuer went away (once a reservation is known, only its settlement).
    fn run(&mut self, base_url: &str, key: &str, step: Step) -> Result<(), Step> {
        match step {
            Step::Reserve {
                idempotency_key,
                body,
                plan,
            } => {
                let Ok((status, answer)) = try_reserve(base_url, key, &idempotency_key, &body)
                else {
                    return Err(Step::Reserve {
                        idempotency_key,
                        body,
                        plan,
                    });
                };
                self.answers.push(Answered {
                    idempotency_key,
                    body,
                    status,
                    answer: answer.clone(),
                });
                match status {
                    201 => {
                        // Unsigned: a balance below zero would not parse.
                        for field in ["period", "top_up", "available", "reserved"] {
                            assert!(answer["balances"][field].as_u64().is_some(), "{answer}");
                        }
                        let id = answer["id"].as_str().unwrap().to_owned();
                        let seen = Seen {
                            amount: answer["amount"].as_u64().unwrap(),
                            committed: None,
                            released: false,
                            abandoned: plan == Plan::Abandon,
                        };
                        assert!(
                            self.seen.insert(id.clone(), seen).is_none(),
                            "reservation {id} answered to two requests"
                        );
                        self.run(base_url, key, Step::Settle { id, plan })
                    }
                    402 => {
                        assert_eq!(answer["error"], "insufficient_credits");
                        assert!(
                            answer["available"].as_u64().unwrap()
                                < answer["needed"].as_u64().unwrap(),
                            "{answer}"
                        );
                        self.refused += 1;
                        Ok(())
                    }
                    other => panic!("unexpected {other}: {answer}"),
                }
            }
            Step::Settle { id, plan } => {
                let (sends, used) = match plan {
                    Plan::Abandon => return Ok(()),
                    Plan::Release => (1, None),
                    Plan::Commit { used, twice } => (1 + usize::from(twice), Some(used)),
                };
                for _ in 0..sends {
                    let sent = match used {
                        Some(used) => try_commit(base_url, key, &id, used),
                        None => try_release(base_url, key, &id),
                    };
                    let Ok((status, answer)) = sent else {
                        return Err(Step::Settle { id, plan });
                    };
                    let expected = if used.is_some() {
                        "committed"
                    } else {
                        "released"
                    };
                    assert_eq!(
                        (status, answer["status"].as_str(), answer["used"].as_u64()),
                        (200, Some(expected), used),
                        "{answer}"
                    );
                }
                let seen = self.seen.get_mut(&id).expect("a reservation a client made");
                seen.committed = used;
                seen.released = used.is_none();
                Ok(())
            }
        }
    }

    /// [`Record::run`], remembering `step` to send again if the issuer went away; whether it was
    /// answered.
    fn attempt(&mut self, base_url: &str, key: &str, step: Step) -> bool {
        match self.run(base_url, key, step) {
            Ok(()) => true,
            Err(step) => {
                self.unknown.push(step);
                false
            }
        }
    }

    /// Adds what other clients saw.
    fn absorb(&mut self, other: Record) {
        for (id, seen) in other.seen {
            assert!(
                self.seen.insert(id, seen).is_none(),
                "a reservation id answered to two clients"
            );
        }
        self.answers.extend(other.answers);
        self.refused += other.refused;
        self.unknown.extend(other.unknown);
    }

    /// Sends again, to the issuer at `base_url`, everything whose outcome is unknown.
    pub(super) fn retry_unknown(&mut self, base_url: &str, key: &str) {
        for step in std::mem::take(&mut self.unknown) {
            if let Err(step) = self.run(base_url, key, step) {
                panic!("the restarted issuer did not answer {step:?}");
            }
        }
    }

    /// Asserts that the issuer's account of licence `key` (first given `initial` credits) is what
    /// the clients saw, once the sweeper has released what they abandoned: no reservation made
    /// twice or lost, each settled once, as its client did (or by its TTL), credits consumed equal
    /// to those committed, no balance below zero at any point, every answer still the one its
    /// `Idempotency-Key` replays, and the ledger summing to the balances.
    pub(super) fn check(&self, workspace: &Workspace, issuer: &Issuer, key: &str, initial: u64) {
        assert!(
            self.unknown.is_empty(),
            "outcome unknown: {:?}",
            self.unknown
        );
        let deadline = Instant::now() + SWEEP_WAIT;
        while buckets(issuer, key).2 != 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let summary = balances(issuer, key);
        assert_eq!(
            summary["balances"]["reserved"], 0,
            "every reservation settled, or released by its TTL: {summary}"
        );
        for a in &self.answers {
            assert_eq!(
                reserve(issuer, key, &a.idempotency_key, a.body.clone()),
                (a.status, a.answer.clone()),
                "the answer to {} has changed",
                a.idempotency_key
            );
        }

        let used: u64 = self.seen.values().filter_map(|s| s.committed).sum();
        let available = summary["balances"]["available"].as_u64().unwrap();
        assert_eq!(
            initial - available,
            used,
            "consumed == sum of committed `used`"
        );
        for (id, s) in &self.seen {
            let settled = usize::from(s.released) + usize::from(s.committed.is_some());
            assert_eq!(settled, usize::from(!s.abandoned), "{id}: {s:?}");
            assert!(s.committed.unwrap_or(0) <= s.amount, "{id}: {s:?}");
        }

        let entries = ledger(issuer, key, 50);
        // A retry whose first attempt had reserved must not reserve again: every reservation in
        // the ledger is one a client heard of, once.
        let reserved: Vec<&str> = entries
            .iter()
            .filter(|e| e["kind"] == "reservation")
            .map(|e| e["reservation_id"].as_str().unwrap())
            .collect();
        let distinct: HashSet<&str> = reserved.iter().copied().collect();
        assert_eq!(reserved.len(), distinct.len(), "a reservation made twice");
        assert_eq!(
            distinct,
            self.seen.keys().map(String::as_str).collect::<HashSet<_>>()
        );
        let mut settlements: HashMap<&str, Vec<(&str, &str, u64)>> = HashMap::new();
        for e in entries
            .iter()
            .filter(|e| e["kind"] == "commit" || e["kind"] == "release")
        {
            settlements
                .entry(e["reservation_id"].as_str().unwrap())
                .or_default()
                .push((
                    e["kind"].as_str().unwrap(),
                    e["reason"].as_str().unwrap(),
                    e["used"].as_u64().unwrap(),
                ));
        }
        assert_eq!(
            settlements.len(),
            self.seen.len(),
            "settlements: {settlements:?}"
        );
        for (id, s) in &self.seen {
            let expected = match (s.committed, s.released) {
                (Some(used), _) => ("commit", "committed", used),
                (None, true) => ("release", "released", 0),
                (None, false) => ("release", "ttl", 0),
            };
            assert_eq!(settlements.get(id.as_str()), Some(&vec![expected]), "{id}");
        }
        // The ledger is in commit order, so each prefix is the account at some moment.
        let mut running = [0_i64; 4];
        for e in &entries {
            for (sum, field) in
                running
                    .iter_mut()
                    .zip(["period", "top_up", "period_reserved", "top_up_reserved"])
            {
                *sum += e[field].as_i64().unwrap();
                assert!(*sum >= 0, "{field} below zero after {e}");
            }
        }
        let ledger_used: u64 = entries.iter().map(|e| e["used"].as_u64().unwrap()).sum();
        assert_eq!(ledger_used, used);
        assert_ledger_matches(workspace, issuer, key);
    }
}

/// One client: [`OPERATIONS`] reservations of 1 to 40 credits, each committed (some twice),
/// released or (if `abandon`) left to its TTL, with every fifth request a repeat of the previous
/// reservation request sent to `replay_url`. Stops when the issuer goes away.
fn client(
    thread: u64,
    base_url: &str,
    replay_url: &str,
    key: &str,
    abandon: bool,
    progress: &AtomicU64,
) -> Record {
    let mut record = Record::default();
    let mut rng = Rng(thread * 7919 + 1);
    for op in 0..OPERATIONS {
        progress.fetch_add(1, Ordering::Relaxed);
        if op % 5 == 4 {
            if let Some(last) = record.answers.last() {
                let Ok(again) = try_reserve(replay_url, key, &last.idempotency_key, &last.body)
                else {
                    // A repeat has no effect of its own: nothing to send again.
                    break;
                };
                assert_eq!(
                    again,
                    (last.status, last.answer.clone()),
                    "a replay differs"
                );
                continue;
            }
        }
        let amount = 1 + rng.next() % 40;
        let mut body = json!({ "amount": amount });
        let plan = if abandon && rng.next().is_multiple_of(6) {
            body["ttl_seconds"] = json!(SHORT_TTL);
            Plan::Abandon
        } else if rng.next().is_multiple_of(3) {
            Plan::Release
        } else {
            Plan::Commit {
                used: rng.next() % (amount + 1),
                twice: rng.next().is_multiple_of(4),
            }
        };
        let step = Step::Reserve {
            idempotency_key: format!("t{thread}-{op}"),
            body,
            plan,
        };
        if !record.attempt(base_url, key, step) {
            break;
        }
    }
    record
}

/// Runs [`CLIENTS`] clients against licence `key`, spread over the issuers at `base_urls` (each
/// repeating requests on another one), and `meanwhile` on this thread, given the count of
/// operations started; what they all saw, and what `meanwhile` returned.
///
/// Together they ask for about five times the 600 credits of a [`funded_licence`]: some requests
/// are refused.
pub(super) fn hammer<R>(
    base_urls: &[&str],
    key: &str,
    abandon: bool,
    meanwhile: impl FnOnce(&AtomicU64) -> R,
) -> (Record, R) {
    let progress = AtomicU64::new(0);
    std::thread::scope(|scope| {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|thread| {
                let url = base_urls[thread as usize % base_urls.len()];
                let replay_url = base_urls[(thread as usize + 1) % base_urls.len()];
                let progress = &progress;
                scope.spawn(move || client(thread, url, replay_url, key, abandon, progress))
            })
            .collect();
        let during = meanwhile(&progress);
        let mut all = Record::default();
        for client in clients {
            all.absorb(client.join().unwrap());
        }
        (all, during)
    })
}

/// [`hammer`] with the clients spread over `processes` issuers started on `workspace`, which share
/// its database.
fn processes_sharing_one_database_never_overspend_or_spend_twice(
    (workspace, fake): (Workspace, FakeStripe),
    processes: usize,
) {
    let issuers: Vec<Issuer> = (0..processes).map(|_| workspace.start()).collect();
    let (key, initial) = funded_licence(&issuers[0], &fake);
    let base_urls: Vec<&str> = issuers.iter().map(Issuer::base_url).collect();
    let record = hammer(&base_urls, &key, true, |_| ()).0;
    // Certain, not likely: the clients' choices do not depend on timing, and all of them granted
    // would commit more than the account holds.
    assert!(record.refused > 0, "no request was refused");
    record.check(&workspace, issuers.last().unwrap(), &key, initial);
    assert_check_credits_passes(&workspace);
}

#[test]
fn two_processes_sharing_one_database_never_overspend_or_spend_twice() {
    // Same config, same data directory: one SQLite file, two writers, two sweepers.
    processes_sharing_one_database_never_overspend_or_spend_twice(setup(), 2);
}

#[test]
fn three_processes_on_one_postgres_database_never_overspend_or_spend_twice() {
    on_postgres(|setup| processes_sharing_one_database_never_overspend_or_spend_twice(setup, 3));
}

/// [`hammer`] on `processes` issuers sharing `workspace`'s database, one of which is killed
/// (SIGKILL) a third of the way through with a short reservation just made on it. The clients of
/// the killed one send again what it left unanswered to another; with no other, to the killed one
/// started again. Its reservation can then be released only by a sweeper of a process still
/// running or started since.
fn sigkill_mid_run_loses_nothing_and_expired_reservations_are_released(
    (workspace, fake): (Workspace, FakeStripe),
    processes: usize,
) {
    let mut issuers: Vec<Issuer> = (0..processes).map(|_| workspace.start()).collect();
    let (key, initial) = funded_licence(&issuers[0], &fake);
    let base_urls: Vec<String> = issuers.iter().map(|i| i.base_url().to_owned()).collect();
    let urls: Vec<&str> = base_urls.iter().map(String::as_str).collect();
    let victim = issuers.remove(0);
    let (mut record, left_open) = hammer(&urls, &key, true, |progress| {
        // Part-way, by the clients' own count: with requests in flight whatever the machine's speed.
        let deadline = Instant::now() + Duration::from_secs(60);
        while progress.load(Ordering::Relaxed) < CLIENTS * OPERATIONS / 3
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        // Made just before the kill, so its TTL is surely still running when the issuer dies.
        let mut left_open = Record::default();
        let step = Step::Reserve {
            idempotency_key: "open-at-the-kill".to_owned(),
            body: json!({ "amount": 1, "ttl_seconds": SHORT_TTL }),
            plan: Plan::Abandon,
        };
        left_open.attempt(victim.base_url(), &key, step);
        victim.kill();
        left_open
    });
    record.absorb(left_open);

    if issuers.is_empty() {
        issuers.push(workspace.start());
    }
    let survivor = &issuers[0];
    record.retry_unknown(survivor.base_url(), &key);
    record.check(&workspace, survivor, &key, initial);
    assert_check_credits_passes(&workspace);
}

#[test]
fn sigkill_mid_run_loses_nothing_and_expired_reservations_are_released_after_restart() {
    sigkill_mid_run_loses_nothing_and_expired_reservations_are_released(setup(), 1);
}

#[test]
fn one_of_three_processes_on_postgres_killed_mid_run_loses_nothing_and_survivors_sweep() {
    on_postgres(|setup| {
        sigkill_mid_run_loses_nothing_and_expired_reservations_are_released(setup, 3)
    });
}

/// Asserts that `tessera-issuer check-credits` finds every account equal to its ledger.
pub(super) fn assert_check_credits_passes(workspace: &Workspace) {
    let checked = workspace.check_credits();
    assert_eq!(
        checked.status.code(),
        Some(0),
        "check-credits: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
}
