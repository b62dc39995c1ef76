//! `tessera-load`: how fast the real issuer answers, on loopback, against a hello-world axum server
//! measured in the same run. Two scenarios:
//!
//! - **webhook** (the default, [`run`]): how fast it turns signed Stripe webhooks into stored licence
//!   keys.
//! - **credits** ([`credits::run`]): how fast it reserves and commits credits, at peak and at a fixed
//!   arrival rate; see [`credits`].
//! - **heartbeat** ([`heartbeat::run`]): how fast it renews machine certificates; see
//!   [`heartbeat`].
//!
//! A webhook run has rounds of two phases, then a check, each bounded in count and time:
//!
//! 1. **hello** — `tessera-load hello` (a one-route axum server in its own process) answers
//!    `GET /` with `ok`: the ceiling of this client, this runtime and this machine.
//! 2. **webhook** — the real `tessera-issuer` (its own process, a fresh data directory) receives
//!    `checkout.session.completed` events built from Stripe's fixture object and signed as Stripe signs
//!    them, each for a different Checkout Session.
//! 3. **stored keys** — every session whose event was sent is looked up with
//!    `GET /v1/licenses/by-checkout-session/cs_load_<n>`, which must answer 200 with a `ts1_` key.
//!
//! Both servers run in child processes, started once and killed when the run ends, however it ends.
//! Several rounds (`--rounds`) interleave the two phases, so that load from other processes on a
//! shared machine hits both.
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! let options = tessera_load::Options {
//!     events: 200,
//!     ..tessera_load::Options::default()
//! };
//! let report = tessera_load::run(&options).await?;
//! println!("{}", report.table());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod accounts;
pub mod backend;
pub mod client;
pub mod credits;
pub mod event;
pub mod heartbeat;
pub mod machine;
pub mod memory;
pub mod pairs;
pub mod server;
pub mod stats;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::StatusCode;
use serde::{Deserialize, Serialize};

use crate::backend::{Backend, BackendShape};
use crate::client::{is_success, run_phase, PhaseOptions, Request};
pub use crate::machine::Machine;
use crate::server::{Servers, PRICE};
use crate::stats::{Measured, Summary};

/// Hello requests by default: enough for the phase to last a second or more at tens of thousands of
/// answers per second, where as many as the webhook phase's events would be over in milliseconds.
pub const DEFAULT_HELLO_REQUESTS: usize = 50_000;

/// The webhook endpoint under test.
pub const WEBHOOK_PATH: &str = "/v1/webhooks/stripe";

/// What a run does.
#[derive(Clone, Debug)]
pub struct Options {
    /// Webhook events to send per round (webhook scenario).
    pub events: usize,
    /// Hello requests; `None` means [`DEFAULT_HELLO_REQUESTS`] or the scenario's requests per
    /// round, whichever is more.
    pub hello_requests: Option<usize>,
    /// Rounds of (hello phase, measured phase), interleaved so that load from elsewhere hits both.
    pub rounds: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Unmeasured requests sent to each server first (connections, caches, SQLite pages); in the
    /// credit scenario, unmeasured reserve + commit pairs.
    pub warmup: usize,
    /// Time budget of each phase.
    pub time_budget: Duration,
    /// A request without an answer after this long counts as an error.
    pub request_timeout: Duration,
    /// The issuer binary; `None` means `tessera-issuer` next to this executable.
    pub issuer_bin: Option<PathBuf>,
    /// Measure the hello server only (no issuer needed).
    pub hello_only: bool,
    /// Where the issuer keeps its data, and how many processes serve it.
    pub backend: Backend,
    /// The credit scenario's own settings.
    pub credits: credits::CreditOptions,
    /// The heartbeat scenario's own settings.
    pub heartbeat: heartbeat::HeartbeatOptions,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            events: 2000,
            hello_requests: None,
            rounds: 1,
            concurrency: 32,
            warmup: 64,
            time_budget: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            issuer_bin: None,
            hello_only: false,
            backend: Backend::Sqlite,
            credits: credits::CreditOptions::default(),
            heartbeat: heartbeat::HeartbeatOptions::default(),
        }
    }
}

impl Options {
    /// How a closed-loop phase of this run goes.
    pub fn phase(&self) -> PhaseOptions {
        PhaseOptions {
            concurrency: self.concurrency,
            time_budget: self.time_budget,
            request_timeout: self.request_timeout,
        }
    }
}

/// One round: a hello phase and, right after it, a webhook phase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Round {
    /// `GET /` on the hello-world server.
    pub hello: Summary,
    /// The webhook events (`null` with `--hello-only`).
    pub webhook: Option<Summary>,
    /// This round's webhook throughput divided by its hello throughput.
    pub throughput_ratio: Option<f64>,
}

/// What every report says about its run, whatever the scenario (its fields stand at the top level
/// of the `--json` output).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunShape {
    /// The issuer's database and how many processes served the load.
    #[serde(flatten)]
    pub backend: BackendShape,
    /// Hello requests asked for, per round.
    pub hello_requests: usize,
    /// Rounds of (hello, measured phase).
    pub rounds: usize,
    /// Requests in flight at once (closed loops).
    pub concurrency: usize,
    /// Unmeasured requests sent to each server first (credits: unmeasured pairs).
    pub warmup: usize,
    /// Time budget of each phase, in seconds.
    pub time_budget_seconds: f64,
    /// Where the run was made.
    pub machine: Machine,
}

impl RunShape {
    /// The shape of a run with `options` and `hello_requests` per round, made on `machine`.
    pub fn new(options: &Options, hello_requests: usize, machine: Machine) -> RunShape {
        RunShape {
            backend: options.backend.shape(),
            hello_requests,
            rounds: options.rounds,
            concurrency: options.concurrency,
            warmup: options.warmup,
            time_budget_seconds: options.time_budget.as_secs_f64(),
            machine,
        }
    }

    /// The first lines of a report's table, and its column headings.
    pub fn header(&self) -> String {
        let mut out = self
            .machine
            .header(self.rounds, self.concurrency, self.warmup);
        let _ = writeln!(out, "issuer: {}", self.backend.describe());
        out.push('\n');
        out.push_str(&Summary::heading());
        out
    }
}

/// Everything a run measured: the `--json` output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Webhook events asked for, per round.
    pub events: usize,
    /// The run's settings and machine.
    #[serde(flatten)]
    pub run: RunShape,
    /// `GET /` on the hello-world server, all rounds pooled: latencies of every request, throughput
    /// as answers over the phases' summed time.
    pub hello: Summary,
    /// Signed `checkout.session.completed` events to the issuer, all rounds pooled (`null` with
    /// `--hello-only`).
    pub webhook: Option<Summary>,
    /// The licence lookups of every sent event, after the last round: `ok` counts the 200s with a
    /// `ts1_` key.
    pub stored_keys: Option<Summary>,
    /// Pooled webhook throughput divided by pooled hello throughput; `null` unless both answered
    /// every request with success.
    pub throughput_ratio: Option<f64>,
    /// Each round on its own.
    pub per_round: Vec<Round>,
}

impl Report {
    /// Why the run does not show a working webhook -> stored key path, if it does not.
    pub fn failure(&self) -> Option<String> {
        self.hello
            .failure("hello")
            .or_else(|| self.webhook.as_ref().and_then(|w| w.failure("webhook")))
            .or_else(|| {
                self.stored_keys
                    .as_ref()
                    .and_then(|k| k.failure("stored keys"))
            })
    }

    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut out = self.run.header();
        if self.per_round.len() > 1 {
            for (i, round) in self.per_round.iter().enumerate() {
                out.push_str(&round.hello.row(&format!("round {}: hello", i + 1)));
                if let Some(webhook) = &round.webhook {
                    out.push_str(&webhook.row(&format!("round {}: webhook", i + 1)));
                }
            }
        }
        out.push_str(&self.hello.row("hello: GET /"));
        if let Some(webhook) = &self.webhook {
            out.push_str(&webhook.row("webhook: POST /v1/webhooks/stripe"));
        }
        if let Some(keys) = &self.stored_keys {
            out.push_str(&keys.row("check: GET /v1/licenses/by-checkout-…"));
        }
        out.push('\n');
        if let Some(keys) = &self.stored_keys {
            let _ = writeln!(
                out,
                "stored keys: {} of {} sent events have a licence with a ts1_ key",
                keys.ok,
                keys.requests + keys.errors
            );
        }
        if let Some(ratio) = self.throughput_ratio {
            let per_round: Vec<Option<f64>> =
                self.per_round.iter().map(|r| r.throughput_ratio).collect();
            out.push_str(&ratio_line("webhook / hello", ratio, &per_round));
        }
        out
    }
}

/// `throughput <what>: <ratio>`, with each round's ratio when there are several.
pub(crate) fn ratio_line(what: &str, ratio: f64, per_round: &[Option<f64>]) -> String {
    let mut line = format!("throughput {what}: {ratio:.4}");
    let rounds: Vec<String> = per_round
        .iter()
        .flatten()
        .map(|r| format!("{r:.4}"))
        .collect();
    if rounds.len() > 1 {
        let _ = write!(line, " (per round: {})", rounds.join(" "));
    }
    line.push('\n');
    line
}

/// A ratio is only a figure when both phases answered everything as they should.
pub(crate) fn throughput_ratio(measured: Option<&Summary>, hello: &Summary) -> Option<f64> {
    measured
        .filter(|m| m.is_clean() && hello.is_clean())
        .map(|m| m.throughput / hello.throughput)
}

/// The hello requests of each round: as asked, or [`DEFAULT_HELLO_REQUESTS`] or `scenario_requests`,
/// whichever is more.
pub(crate) fn hello_requests(options: &Options, scenario_requests: usize) -> usize {
    options
        .hello_requests
        .unwrap_or(scenario_requests.max(DEFAULT_HELLO_REQUESTS))
}

/// Runs `options.rounds` rounds of a hello phase then a webhook phase (hello only with
/// `hello_only`), then checks that every sent event has a stored key.
pub async fn run(options: &Options) -> anyhow::Result<Report> {
    anyhow::ensure!(options.events > 0, "--events must be positive");
    anyhow::ensure!(options.concurrency > 0, "--concurrency must be positive");
    anyhow::ensure!(options.rounds > 0, "--rounds must be positive");
    // Found before anything runs, so a missing binary fails at once.
    let issuer_bin = match options.hello_only {
        true => None,
        false => Some(server::find_issuer_bin(options.issuer_bin.as_deref())?),
    };
    let mut machine = Machine::now();
    let phase = options.phase();
    let hello_requests = hello_requests(options, options.events);
    // Both servers run through all rounds, so load from elsewhere that comes and goes hits both.
    let mut servers = Servers::start(issuer_bin.as_deref(), &options.backend, &mut machine)?;
    let hello_addr = servers.hello.addr();
    // Empty with `hello_only`; the connections of each phase are spread over them.
    let issuers = servers.issuer_addrs();

    // Warm-up: connections, caches, SQLite's first pages. Warm-up events are numbered after every
    // measured one, so the measured ones are 0..rounds·events.
    let measured_events = (options.rounds * options.events) as u64;
    if options.warmup > 0 {
        warm_up_hello(hello_addr, options).await?;
        if !issuers.is_empty() {
            let events = signed_events(measured_events..measured_events + options.warmup as u64);
            run_phase(&issuers, Arc::new(events), phase, is_success).await?;
        }
    }

    let hello_get = Arc::new(vec![Request::get("/"); hello_requests]);
    let mut hello_all = Measured::default();
    let mut webhook_all: Option<Measured> = None;
    let mut per_round = Vec::with_capacity(options.rounds);
    let mut sent_sessions = Vec::new();
    for round in 0..options.rounds {
        let hello = run_phase(&[hello_addr], Arc::clone(&hello_get), phase, is_success).await?;
        let webhook = match issuers.is_empty() {
            true => None,
            false => {
                let first = (round * options.events) as u64;
                // Signed just before sending: Stripe's tolerance is 300 s, a phase lasts at most
                // its budget.
                let events = Arc::new(signed_events(first..first + options.events as u64));
                let measured = run_phase(&issuers, events, phase, is_success).await?;
                // Workers take events in order, so the sent ones are the first `sent`.
                let sent = measured.recorded.latencies.len() as u64 + measured.recorded.errors;
                sent_sessions.extend(first..first + sent);
                Some(measured)
            }
        };
        let hello_summary = hello.summary();
        let webhook_summary = webhook.as_ref().map(Measured::summary);
        per_round.push(Round {
            throughput_ratio: throughput_ratio(webhook_summary.as_ref(), &hello_summary),
            hello: hello_summary,
            webhook: webhook_summary,
        });
        hello_all.pool(hello);
        if let Some(webhook) = webhook {
            webhook_all
                .get_or_insert_with(Measured::default)
                .pool(webhook);
        }
    }

    let stored_keys = match issuers.is_empty() {
        true => None,
        false => {
            let lookups = sent_sessions
                .iter()
                .map(|&n| {
                    Request::get(format!(
                        "/v1/licenses/by-checkout-session/{}",
                        event::session_id(n)
                    ))
                })
                .collect();
            let keys = run_phase(&issuers, Arc::new(lookups), phase, has_key).await?;
            servers.check_issuer_alive()?;
            Some(keys.summary())
        }
    };
    drop(servers);

    machine.finish();
    let hello = hello_all.summary();
    let webhook = webhook_all.as_ref().map(Measured::summary);
    Ok(Report {
        events: options.events,
        run: RunShape::new(options, hello_requests, machine),
        throughput_ratio: throughput_ratio(webhook.as_ref(), &hello),
        hello,
        webhook,
        stored_keys,
        per_round,
    })
}

/// `options.warmup` unmeasured `GET /` to the hello server.
pub(crate) async fn warm_up_hello(hello: SocketAddr, options: &Options) -> anyhow::Result<()> {
    let warmup = Arc::new(vec![Request::get("/"); options.warmup]);
    run_phase(&[hello], warmup, options.phase(), is_success).await?;
    Ok(())
}

/// Signed webhook requests for events numbered `range`, timestamped now.
pub fn signed_events(range: std::ops::Range<u64>) -> Vec<Request> {
    let now = event::unix_now();
    range
        .map(|n| event::signed_request(&event::checkout_completed(n, PRICE, now), now))
        .collect()
}

/// A licence lookup that found a stored key: 200 and `"key": "ts1_…"`.
fn has_key(status: StatusCode, body: &[u8]) -> bool {
    status == StatusCode::OK
        && serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|json| json.get("key")?.as_str().map(|k| k.starts_with("ts1_")))
            .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::WEBHOOK_SECRET;

    #[test]
    fn a_stored_key_is_a_200_with_a_ts1_key() {
        assert!(has_key(
            StatusCode::OK,
            br#"{"license":{},"key":"ts1_AQGb","key_expires_at":null}"#
        ));
        assert!(!has_key(StatusCode::OK, br#"{"license":{},"key":null}"#));
        assert!(!has_key(StatusCode::OK, br#"{"key":"ts2_AQGb"}"#));
        assert!(!has_key(StatusCode::NOT_FOUND, br#"{"key":"ts1_AQGb"}"#));
        assert!(!has_key(StatusCode::OK, b"not json"));
    }

    #[test]
    fn signed_events_verify_against_the_secret() {
        let requests = signed_events(5..7);
        assert_eq!(requests.len(), 2);
        for (n, request) in (5..).zip(&requests) {
            assert_eq!(request.path, WEBHOOK_PATH);
            let header = request
                .headers
                .iter()
                .find(|(name, _)| name == "stripe-signature")
                .map(|(_, value)| value.to_str().unwrap())
                .expect("a Stripe-Signature header");
            let t: i64 = header
                .strip_prefix("t=")
                .and_then(|rest| rest.split(',').next())
                .and_then(|t| t.parse().ok())
                .expect("t=<unix>");
            assert_eq!(
                header,
                event::signature_header(WEBHOOK_SECRET, t, &request.body)
            );
            let event: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
            assert_eq!(event["id"], event::event_id(n));
            assert_eq!(event["data"]["object"]["metadata"]["tessera_price"], PRICE);
        }
    }
}
