//! The credit scenario (`--scenario credits`): how fast the real issuer reserves and commits
//! credits, each a durable commit, against the hello-world baseline measured in the same run.
//!
//! 1. **setup** — `--licenses` licences bought and topped up through signed webhooks
//!    ([`crate::accounts`]), 10^12 credits each, so no run can use them up.
//! 2. **rounds** of a hello phase (`GET /`, closed loop) then a credit phase: `--pairs` reserve +
//!    commit pairs ([`crate::pairs`]) from `--concurrency` connections, closed loop, the licences in
//!    turn. Throughput as operations (HTTP requests) and pairs per second; its ratio to the hello
//!    throughput per round and pooled.
//! 3. **open loop** — pairs due at fixed intervals, at half the closed loop's pooled operations per
//!    second, for `--open-loop-seconds`, from `--open-loop-connections` connections; latency from
//!    each reservation's due time, so a stall is charged to every request it delays. The goal is
//!    p99 < 10 ms.
//! 4. **check** — every `201` reservation was committed (`200`), no licence has credits reserved,
//!    and each licence's available credits fell by exactly the `used` the commits named.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::accounts::{self, CreditCheck};
use crate::client::{is_success, run_phase, Request};
use crate::machine::Machine;
use crate::memory::{MemoryReport, Resident};
use crate::pairs::{self, PairsMeasured, PairsSummary, Plan, Tally};
use crate::server::{self, Servers};
use crate::stats::{percentile, Measured, Summary};
use crate::{hello_requests, ratio_line, throughput_ratio, warm_up_hello, Options, RunShape};

/// The open loop's latency goal: p99 under this many milliseconds.
pub const GOAL_P99_MS: f64 = 10.0;

/// The most pairs an open loop schedules.
const MAX_OPEN_LOOP_PAIRS: u64 = 10_000_000;

/// The credit scenario's own settings.
#[derive(Clone, Debug)]
pub struct CreditOptions {
    /// Reserve + commit pairs per round (closed loop).
    pub pairs: usize,
    /// Licences the pairs spend from, in turn; `None` means one per 4 connections.
    pub licenses: Option<usize>,
    /// How long the open loop's schedule runs; zero skips it.
    pub open_loop: Duration,
    /// Connections the open loop sends from.
    pub open_loop_connections: usize,
}

impl Default for CreditOptions {
    fn default() -> CreditOptions {
        CreditOptions {
            pairs: 10_000,
            licenses: None,
            open_loop: Duration::from_secs(10),
            open_loop_connections: 64,
        }
    }
}

/// One round: a hello phase and, right after it, a closed-loop credit phase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreditRound {
    /// `GET /` on the hello-world server.
    pub hello: Summary,
    /// The pairs.
    pub credits: PairsSummary,
    /// Credit operations per second divided by hello requests per second.
    pub throughput_ratio: Option<f64>,
}

/// The open loop at half the closed loop's peak.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpenLoop {
    /// The arrival rate aimed at, in operations (requests) per second: half the closed loop's.
    pub target_operations_per_second: f64,
    /// The same in pairs per second (one pair is two operations).
    pub target_pairs_per_second: f64,
    /// How long the schedule runs, in seconds.
    pub scheduled_seconds: f64,
    /// Pairs scheduled.
    pub scheduled_pairs: u64,
    /// Connections sending them.
    pub connections: usize,
    /// What they measured; every latency runs from the reservation's due time (the commit's from
    /// the reservation's answer, when it is due).
    pub credits: PairsSummary,
    /// Pairs a free connection was waiting for: how late the client's own timer and scheduler
    /// sent them after their due time (median, 99th percentile, maximum, in milliseconds). This
    /// lag is in every latency above; it is the client's, not the server's.
    pub timer_lag_p50_ms: Option<f64>,
    /// See `timer_lag_p50_ms`.
    pub timer_lag_p99_ms: Option<f64>,
    /// See `timer_lag_p50_ms`.
    pub timer_lag_max_ms: Option<f64>,
    /// Pairs that fell due while every connection was busy, so waited for one: the server behind
    /// (or the client starved of CPU).
    pub due_while_busy: u64,
    /// The longest such wait, in milliseconds.
    pub busy_wait_max_ms: Option<f64>,
    /// The goal: operations' p99 under this, in milliseconds.
    pub goal_p99_ms: f64,
    /// Whether the operations' p99 met it.
    pub meets_goal: bool,
}

/// Everything a credit run measured: the `--json` output of `--scenario credits`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreditReport {
    /// Always `credits`.
    pub scenario: String,
    /// Pairs asked for, per round.
    pub pairs: usize,
    /// Licences the pairs spend from.
    pub licenses: usize,
    /// Credits each reservation asks for; commits use 0 to this many.
    pub amount: u64,
    /// The run's settings and machine.
    #[serde(flatten)]
    pub run: RunShape,
    /// `GET /` on the hello-world server, all rounds pooled.
    pub hello: Summary,
    /// The closed-loop pairs, all rounds pooled: the peak.
    pub credits: PairsSummary,
    /// Pooled credit operations per second divided by pooled hello requests per second; `null`
    /// unless both answered every request with success.
    pub throughput_ratio: Option<f64>,
    /// Each round on its own.
    pub per_round: Vec<CreditRound>,
    /// The open loop at half the peak (`null` with `--open-loop-seconds 0`).
    pub open_loop: Option<OpenLoop>,
    /// The balances afterwards against the answers.
    pub check: CreditCheck,
    /// Resident memory of both servers at rest and at their peak (`null` without `/proc`); with
    /// several issuer processes, the first one's.
    pub memory: Option<MemoryReport>,
}

impl CreditReport {
    /// Why the run does not show every credit operation done and accounted for, if it does not.
    /// Missing the latency goal is reported, not a failure.
    pub fn failure(&self) -> Option<String> {
        self.hello
            .failure("hello")
            .or_else(|| self.credits.failure("closed loop"))
            .or_else(|| {
                self.open_loop
                    .as_ref()
                    .and_then(|open| open.credits.failure("open loop"))
            })
            .or_else(|| {
                self.check
                    .problems
                    .first()
                    .map(|first| format!("check: {first}"))
            })
    }

    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut out = self.run.header();
        if self.per_round.len() > 1 {
            for (i, round) in self.per_round.iter().enumerate() {
                out.push_str(&round.hello.row(&format!("round {}: hello", i + 1)));
                out.push_str(
                    &round
                        .credits
                        .operations
                        .row(&format!("round {}: credit operations", i + 1)),
                );
            }
        }
        out.push_str(&self.hello.row("hello: GET /"));
        out.push_str(&self.credits.rows("closed loop"));
        if let Some(open) = &self.open_loop {
            out.push_str(&open.credits.rows("open loop"));
        }
        out.push('\n');
        let _ = writeln!(
            out,
            "closed loop: {:.1} credit operations/s = {:.1} pairs/s, {} licences, {} connections",
            self.credits.operations.throughput,
            self.credits.pairs.throughput,
            self.licenses,
            self.run.concurrency
        );
        if let Some(ratio) = self.throughput_ratio {
            let per_round: Vec<Option<f64>> =
                self.per_round.iter().map(|r| r.throughput_ratio).collect();
            out.push_str(&ratio_line("credit operations / hello", ratio, &per_round));
        }
        if let Some(open) = &self.open_loop {
            let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"));
            let ops = &open.credits.operations;
            let _ = writeln!(
                out,
                "open loop: {:.1} operations/s due ({:.1} achieved), {} connections; from the due \
                 time: p50 {} ms, p99 {} ms, max {} ms; goal p99 < {} ms {}",
                open.target_operations_per_second,
                ops.throughput,
                open.connections,
                ms(ops.p50_ms),
                ms(ops.p99_ms),
                ms(ops.max_ms),
                open.goal_p99_ms,
                if open.meets_goal { "met" } else { "MISSED" }
            );
            let _ = writeln!(
                out,
                "open loop: the client's timer sent pairs late by p50 {} ms, p99 {} ms, max {} ms; \
                 {} of {} pairs fell due with all connections busy (longest wait {} ms)",
                ms(open.timer_lag_p50_ms),
                ms(open.timer_lag_p99_ms),
                ms(open.timer_lag_max_ms),
                open.due_while_busy,
                open.scheduled_pairs,
                ms(open.busy_wait_max_ms)
            );
        }
        if let Some(memory) = &self.memory {
            out.push_str(&memory.line());
        }
        let c = &self.check;
        let _ = writeln!(
            out,
            "check: {} reservations (201), {} committed (200); used {} = consumed {}; {} credits \
             reserved after, over {} licences: {}",
            c.reservations,
            c.commits,
            c.used,
            c.consumed,
            c.reserved_after,
            c.licenses,
            if c.problems.is_empty() {
                "ok".to_owned()
            } else {
                c.problems.join("; ")
            }
        );
        out
    }
}

/// Runs the credit scenario: setup, `options.rounds` rounds of (hello, closed-loop pairs), the open
/// loop at half the pooled peak, then the check.
pub async fn run(options: &Options) -> anyhow::Result<CreditReport> {
    let credit = &options.credits;
    anyhow::ensure!(
        !options.hello_only,
        "--hello-only measures no scenario; leave out --scenario credits"
    );
    anyhow::ensure!(credit.pairs > 0, "--pairs must be positive");
    anyhow::ensure!(options.concurrency > 0, "--concurrency must be positive");
    anyhow::ensure!(options.rounds > 0, "--rounds must be positive");
    let licenses = credit
        .licenses
        .unwrap_or(options.concurrency.div_ceil(4))
        .max(1);
    let issuer_bin = server::find_issuer_bin(options.issuer_bin.as_deref())?;
    let mut machine = Machine::now();
    let phase = options.phase();
    let hello_requests = hello_requests(options, 2 * credit.pairs);
    let mut servers = Servers::start(Some(&issuer_bin), &options.backend, &mut machine)?;
    let hello_addr = servers.hello.addr();
    // The pairs' connections are spread over every process; setup and check use the first.
    let issuers = servers.issuer_addrs();
    let issuer = servers.issuer()?.addr();
    let resident = |servers: &mut Servers| {
        let issuer = servers.issuer().ok().and_then(|s| Resident::of(s.pid()));
        (issuer, Resident::of(servers.hello.pid()))
    };
    let at_rest = resident(&mut servers);

    let accounts = accounts::open(
        issuer,
        licenses,
        options.request_timeout,
        options.time_budget,
    )
    .await?;
    let accounts = Arc::new(accounts);
    // Every pair of the run has its own number, hence its own Idempotency-Key.
    let mut next_pair = 0u64;
    let mut take = |count: u64| {
        let first = next_pair;
        next_pair += count;
        first
    };
    // `count` pairs numbered from `first`, closed loop, spread over every issuer process.
    let closed_loop = |first: u64, count: u64| {
        let plan = Plan {
            count,
            connections: options.concurrency,
            pairs_per_second: None,
        };
        pairs::run(&issuers, Arc::clone(&accounts), first, plan, phase)
    };
    // What every phase (warm-up included) did to each licence, for the check.
    let mut spent = vec![Tally::default(); licenses];
    if options.warmup > 0 {
        warm_up_hello(hello_addr, options).await?;
        let count = options.warmup as u64;
        let warmup = closed_loop(take(count), count).await?;
        if let Some(failure) = warmup.summary().failure("warm-up") {
            anyhow::bail!("{failure}");
        }
        // Its answers count in the check, not in the figures.
        pairs::add_tallies(&mut spent, &warmup.recorded.tally);
    }

    let hello_get = Arc::new(vec![Request::get("/"); hello_requests]);
    let mut hello_all = Measured::default();
    let mut closed_all = PairsMeasured::default();
    let mut per_round = Vec::with_capacity(options.rounds);
    for _ in 0..options.rounds {
        let hello = run_phase(&[hello_addr], Arc::clone(&hello_get), phase, is_success).await?;
        let count = credit.pairs as u64;
        let credits = closed_loop(take(count), count).await?;
        let (hello_summary, credit_summary) = (hello.summary(), credits.summary());
        per_round.push(CreditRound {
            throughput_ratio: throughput_ratio(Some(&credit_summary.operations), &hello_summary),
            hello: hello_summary,
            credits: credit_summary,
        });
        hello_all.pool(hello);
        closed_all.pool(credits);
    }
    let closed = closed_all.summary();

    let open_loop = if credit.open_loop.is_zero() {
        None
    } else {
        let operations_per_second = closed.operations.throughput / 2.0;
        anyhow::ensure!(
            operations_per_second > 0.0,
            "the closed loop answered nothing, so there is no peak to take half of"
        );
        let pairs_per_second = operations_per_second / 2.0;
        let count = (pairs_per_second * credit.open_loop.as_secs_f64()).ceil() as u64;
        let plan = Plan {
            count: count.clamp(1, MAX_OPEN_LOOP_PAIRS),
            connections: credit.open_loop_connections,
            pairs_per_second: Some(pairs_per_second),
        };
        let first = take(plan.count);
        let measured = pairs::run(&issuers, Arc::clone(&accounts), first, plan, phase).await?;
        pairs::add_tallies(&mut spent, &measured.recorded.tally);
        Some(open_loop_report(
            operations_per_second,
            pairs_per_second,
            plan,
            credit,
            &measured,
        ))
    };
    pairs::add_tallies(&mut spent, &closed_all.recorded.tally);

    let check = accounts::check(issuer, &accounts, &spent, options.request_timeout).await?;
    servers.check_issuer_alive()?;
    let memory = match (at_rest, resident(&mut servers)) {
        ((Some(issuer_rest), Some(hello_rest)), (Some(issuer_end), Some(hello_end))) => Some(
            MemoryReport::new((issuer_rest, issuer_end), (hello_rest, hello_end)),
        ),
        _ => None,
    };
    drop(servers);
    machine.finish();
    let hello = hello_all.summary();
    Ok(CreditReport {
        scenario: "credits".to_owned(),
        pairs: credit.pairs,
        licenses,
        amount: pairs::AMOUNT,
        run: RunShape::new(options, hello_requests, machine),
        throughput_ratio: throughput_ratio(Some(&closed.operations), &hello),
        hello,
        credits: closed,
        per_round,
        open_loop,
        check,
        memory,
    })
}

/// The open loop's figures: what it aimed at, what it measured, how late its sends were.
fn open_loop_report(
    operations_per_second: f64,
    pairs_per_second: f64,
    plan: Plan,
    credit: &CreditOptions,
    measured: &PairsMeasured,
) -> OpenLoop {
    let credits = measured.summary();
    let mut lag = measured.recorded.timer_lag.clone();
    lag.sort_unstable();
    let busy = &measured.recorded.busy_wait;
    let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1e3);
    OpenLoop {
        target_operations_per_second: operations_per_second,
        target_pairs_per_second: pairs_per_second,
        scheduled_seconds: credit.open_loop.as_secs_f64(),
        scheduled_pairs: plan.count,
        connections: plan.connections,
        timer_lag_p50_ms: ms(percentile(&lag, 50.0)),
        timer_lag_p99_ms: ms(percentile(&lag, 99.0)),
        timer_lag_max_ms: ms(lag.last().copied()),
        due_while_busy: busy.len() as u64,
        busy_wait_max_ms: ms(busy.iter().max().copied()),
        goal_p99_ms: GOAL_P99_MS,
        meets_goal: credits
            .operations
            .p99_ms
            .is_some_and(|p99| p99 < GOAL_P99_MS),
        credits,
    }
}
