//! Credit pairs: `POST /v1/credits/reservations` (a unique `Idempotency-Key`, `{"amount": 10}`),
//! then `POST /v1/credits/reservations/{id}/commit` (`{"used": m}`, m ≤ 10) on the same connection,
//! as an app does around a metered job, sent in a closed loop (each connection starts its next pair
//! when the last is done) or an open loop (pairs due at fixed intervals, whatever the answers).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::header::{HeaderName, HeaderValue, AUTHORIZATION};
use hyper::StatusCode;
use serde::{Deserialize, Serialize};

use crate::accounts::Account;
use crate::client::{exchange, run_workers, Connection, PhaseOptions, Request};
use crate::stats::{Measured, Recorded, Records, Summary};

/// Credits each reservation asks for.
pub const AMOUNT: u64 = 10;

/// The reservations endpoint.
pub const RESERVE_PATH: &str = "/v1/credits/reservations";

/// Credits pair `n` commits: 0 to [`AMOUNT`] in turn.
pub fn used(n: u64) -> u64 {
    n % (AMOUNT + 1)
}

/// The licence pair `n` spends from: all of them in turn.
pub fn account_of(n: u64, accounts: usize) -> usize {
    (n % accounts.max(1) as u64) as usize
}

/// The reservation of pair `n`, with `Idempotency-Key: load-<n>`.
pub fn reserve_request(account: &Account, n: u64) -> Request {
    Request::post_json(
        RESERVE_PATH,
        format!(r#"{{"amount": {AMOUNT}}}"#),
        vec![
            (AUTHORIZATION, account.authorization.clone()),
            (
                HeaderName::from_static("idempotency-key"),
                HeaderValue::from_str(&format!("load-{n}")).expect("ASCII"),
            ),
        ],
    )
}

/// The commit of reservation `id` with `used` credits.
pub fn commit_request(account: &Account, id: &str, used: u64) -> Request {
    Request::post_json(
        format!("{RESERVE_PATH}/{id}/commit"),
        format!(r#"{{"used": {used}}}"#),
        vec![(AUTHORIZATION, account.authorization.clone())],
    )
}

/// The part of a `201` reservation answer the pair needs.
#[derive(Deserialize)]
struct Reserved {
    id: String,
}

/// The reservation id in a reservation answer, if it is a `201` with one.
fn reservation_id(status: StatusCode, body: &[u8]) -> Option<String> {
    (status == StatusCode::CREATED)
        .then(|| serde_json::from_slice::<Reserved>(body).ok())
        .flatten()
        .map(|reserved| reserved.id)
        .filter(|id| id.starts_with("rsv_"))
}

fn is_reserved(status: StatusCode, body: &[u8]) -> bool {
    reservation_id(status, body).is_some()
}

fn is_committed(status: StatusCode, _body: &[u8]) -> bool {
    status == StatusCode::OK
}

/// What the load did to one licence's credits, as its answers said.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Reservations answered `201`.
    pub reserved: u64,
    /// Of those, commits answered `200`.
    pub committed: u64,
    /// The `used` of those commits, summed.
    pub used: u64,
}

/// Adds `from` to `into`, licence by licence, growing `into` to the length of `from`.
pub fn add_tallies(into: &mut Vec<Tally>, from: &[Tally]) {
    if into.len() < from.len() {
        into.resize(from.len(), Tally::default());
    }
    for (mine, theirs) in into.iter_mut().zip(from) {
        mine.reserved += theirs.reserved;
        mine.committed += theirs.committed;
        mine.used += theirs.used;
    }
}

/// What some pairs recorded.
#[derive(Clone, Debug, Default)]
pub struct PairsRecorded {
    /// The reservations: `ok` is a `201` with an id.
    pub reserve: Recorded,
    /// The commits: `ok` is a `200`.
    pub commit: Recorded,
    /// Pairs whose commit was answered, timed from the reservation's send (closed loop) or due
    /// time (open loop) to the commit's last byte; `ok` counts `201` then `200`.
    pub pair: Recorded,
    /// Open loop, pairs a connection was waiting for: how late the client's timer sent each after
    /// its due time (the client's own lag).
    pub timer_lag: Vec<Duration>,
    /// Open loop, pairs that fell due while every connection was busy: how long after its due time
    /// each was sent (the server behind, or the client starved of CPU).
    pub busy_wait: Vec<Duration>,
    /// Per licence, in the order of the accounts.
    pub tally: Vec<Tally>,
}

impl PairsRecorded {
    fn new(accounts: usize) -> PairsRecorded {
        PairsRecorded {
            tally: vec![Tally::default(); accounts],
            ..PairsRecorded::default()
        }
    }

    fn stopped_by_time_limit(&mut self) {
        self.reserve.stopped_by_time_limit = true;
        self.pair.stopped_by_time_limit = true;
    }
}

/// Pairs recorded and the wall time they took (summed over pooled phases).
pub type PairsMeasured = Measured<PairsRecorded>;

impl Records for PairsRecorded {
    type Summary = PairsSummary;

    fn merge(&mut self, other: PairsRecorded) {
        self.reserve.merge(other.reserve);
        self.commit.merge(other.commit);
        self.pair.merge(other.pair);
        self.timer_lag.extend(other.timer_lag);
        self.busy_wait.extend(other.busy_wait);
        add_tallies(&mut self.tally, &other.tally);
    }

    fn summary_over(&self, elapsed: Duration) -> PairsSummary {
        let mut operations = self.reserve.clone();
        operations.merge(self.commit.clone());
        PairsSummary {
            operations: operations.summarise(elapsed),
            reserve: self.reserve.clone().summarise(elapsed),
            commit: self.commit.clone().summarise(elapsed),
            pairs: self.pair.clone().summarise(elapsed),
        }
    }
}

/// The figures of a phase of pairs, as printed and as `--json` gives them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairsSummary {
    /// Reservations and commits together: throughput is HTTP requests (operations) per second.
    pub operations: Summary,
    /// `POST /v1/credits/reservations`: `ok` is a `201` with an id.
    pub reserve: Summary,
    /// `POST /v1/credits/reservations/{id}/commit`: `ok` is a `200`.
    pub commit: Summary,
    /// Whole pairs: throughput is pairs per second; latency from the reservation's send (or due
    /// time) to the commit's last byte.
    pub pairs: Summary,
}

impl PairsSummary {
    /// Why these pairs did not all go through, if they did not.
    pub fn failure(&self, phase: &str) -> Option<String> {
        self.reserve
            .failure(&format!("{phase} reserve"))
            .or_else(|| self.commit.failure(&format!("{phase} commit")))
    }

    /// Table rows for the reservations, commits, both, and whole pairs, each called `phase: …`.
    pub fn rows(&self, phase: &str) -> String {
        [
            self.reserve.row(&format!("{phase}: reserve")),
            self.commit.row(&format!("{phase}: commit")),
            self.operations.row(&format!("{phase}: operations")),
            self.pairs.row(&format!("{phase}: pairs")),
        ]
        .concat()
    }
}

/// Runs pair `n`: reserves from its licence, timed from `since`, then at once commits
/// [`used`]`(n)`, timed from its own send, recording both in `recorded`.
async fn pair(
    connection: &mut Connection,
    accounts: &[Account],
    n: u64,
    since: Instant,
    timeout: Duration,
    recorded: &mut PairsRecorded,
) {
    let index = account_of(n, accounts.len());
    let account = &accounts[index];
    let reserve = reserve_request(account, n);
    let answer = exchange(
        connection,
        &reserve,
        since,
        timeout,
        is_reserved,
        &mut recorded.reserve,
    )
    .await;
    let Some((status, body)) = answer else {
        return;
    };
    if status == StatusCode::CREATED {
        recorded.tally[index].reserved += 1;
    }
    let Some(id) = reservation_id(status, &body) else {
        return;
    };
    let used = used(n);
    let commit = commit_request(account, &id, used);
    let sent = Instant::now();
    let answer = exchange(
        connection,
        &commit,
        sent,
        timeout,
        is_committed,
        &mut recorded.commit,
    )
    .await;
    if let Some((status, _)) = answer {
        recorded.pair.latencies.push(since.elapsed());
        if status == StatusCode::OK {
            recorded.pair.ok += 1;
            recorded.tally[index].committed += 1;
            recorded.tally[index].used += used;
        }
    }
}

/// How a phase sends its pairs.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Pairs in all.
    pub count: u64,
    /// Connections sending them.
    pub connections: usize,
    /// `None`: a closed loop, each connection starting its next pair when the last is answered,
    /// timed from its send. `Some(rate)`: an open loop, pair `k` due `k / rate` seconds after the
    /// start, whatever the answers, and timed from then (the connections must be enough that one is
    /// free when a pair falls due).
    pub pairs_per_second: Option<f64>,
}

/// Sends pairs `first..first + plan.count` to `servers` (the connections spread over them), the licences in turn, until all are done or
/// `options.time_budget` runs out (a pair begun is always finished, so the budget leaves no
/// reservation open).
///
/// In an open loop each pair goes out on whichever connection is free when it falls due, or as
/// soon as one is; its reservation is timed from the due time, not the send, so a server that falls
/// behind is charged for the wait (no coordinated omission). The commit follows on the
/// reservation's answer, timed from its send.
pub async fn run(
    servers: &[std::net::SocketAddr],
    accounts: Arc<Vec<Account>>,
    first: u64,
    plan: Plan,
    options: PhaseOptions,
) -> anyhow::Result<PairsMeasured> {
    if let Some(rate) = plan.pairs_per_second {
        anyhow::ensure!(
            rate.is_finite() && rate > 0.0,
            "an open loop needs a positive rate, not {rate}"
        );
    }
    let workers = plan.connections.clamp(1, plan.count.max(1) as usize);
    let next = Arc::new(AtomicU64::new(0));
    let (recorded, elapsed) = run_workers(servers, workers, move |_, mut connection, start| {
        let (accounts, next) = (Arc::clone(&accounts), Arc::clone(&next));
        async move {
            let deadline = start + options.time_budget;
            let mut recorded = PairsRecorded::new(accounts.len());
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= plan.count {
                    break;
                }
                let claimed = Instant::now();
                let due = plan.pairs_per_second.map_or(claimed, |rate| {
                    start + Duration::from_secs_f64(k as f64 / rate)
                });
                if claimed >= deadline || due >= deadline {
                    recorded.stopped_by_time_limit();
                    break;
                }
                if plan.pairs_per_second.is_some() {
                    tokio::time::sleep_until(due.into()).await;
                    // Claimed after it fell due: no connection was free at the time.
                    match claimed > due {
                        true => recorded.busy_wait.push(due.elapsed()),
                        false => recorded.timer_lag.push(due.elapsed()),
                    }
                }
                let timeout = options.request_timeout;
                pair(
                    &mut connection,
                    &accounts,
                    first + k,
                    due,
                    timeout,
                    &mut recorded,
                )
                .await;
            }
            recorded
        }
    })
    .await?;
    Ok(Measured::of_workers(recorded, elapsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> Account {
        Account {
            license_id: "00112233aabbccdd".into(),
            authorization: HeaderValue::from_static("License ts1_x"),
            initial_available: 0,
        }
    }

    #[test]
    fn pairs_use_at_most_what_they_reserve_and_every_licence_in_turn() {
        assert!((0..100).all(|n| used(n) <= AMOUNT));
        assert_eq!((0..=AMOUNT).map(used).sum::<u64>(), 55);
        assert_eq!(
            (0..6).map(|n| account_of(n, 3)).collect::<Vec<_>>(),
            [0, 1, 2, 0, 1, 2]
        );
    }

    #[test]
    fn requests_carry_the_licence_and_a_unique_idempotency_key() {
        let reserve = reserve_request(&account(), 42);
        assert_eq!(reserve.path, RESERVE_PATH);
        assert_eq!(&reserve.body[..], br#"{"amount": 10}"#);
        let header = |request: &Request, name: &str| {
            request
                .headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.to_str().unwrap().to_owned())
        };
        assert_eq!(
            header(&reserve, "authorization").as_deref(),
            Some("License ts1_x")
        );
        assert_eq!(
            header(&reserve, "idempotency-key").as_deref(),
            Some("load-42")
        );
        let commit = commit_request(&account(), "rsv_abc", 7);
        assert_eq!(commit.path, "/v1/credits/reservations/rsv_abc/commit");
        assert_eq!(&commit.body[..], br#"{"used": 7}"#);
        assert_eq!(header(&commit, "idempotency-key"), None);
    }

    #[test]
    fn only_a_201_with_an_id_is_a_reservation() {
        let ok = br#"{"id":"rsv_1","status":"open","balances":{}}"#;
        assert_eq!(
            reservation_id(StatusCode::CREATED, ok).as_deref(),
            Some("rsv_1")
        );
        assert_eq!(reservation_id(StatusCode::OK, ok), None);
        assert_eq!(reservation_id(StatusCode::CREATED, br#"{"id":"x"}"#), None);
        assert_eq!(
            reservation_id(
                StatusCode::PAYMENT_REQUIRED,
                br#"{"error":"insufficient_credits"}"#
            ),
            None
        );
    }

    #[test]
    fn tallies_add_up_per_licence() {
        let mut a = PairsRecorded::new(2);
        a.tally[1] = Tally {
            reserved: 2,
            committed: 2,
            used: 9,
        };
        let mut b = PairsRecorded::new(2);
        b.tally[1].reserved = 1;
        b.tally[0].used = 3;
        a.merge(b);
        assert_eq!(a.tally[1].reserved, 3);
        assert_eq!(a.tally[0].used, 3);
        let mut empty = PairsRecorded::default();
        empty.merge(a);
        assert_eq!(empty.tally.len(), 2);
    }
}
