//! `tessera-load`: how fast the real issuer turns signed Stripe webhooks into stored licence keys, on
//! loopback, against a hello-world axum server measured in the same run.
//!
//! A run has rounds of two phases, then a check, each bounded in count and time:
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

pub mod client;
pub mod event;
pub mod server;
pub mod stats;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use hyper::header::{HeaderName, HeaderValue};
use hyper::StatusCode;
use serde::{Deserialize, Serialize};

use crate::client::{is_success, run_phase, PhaseOptions, Request};
use crate::server::{PRICE, WEBHOOK_SECRET};
use crate::stats::{Measured, Summary};

/// Hello requests by default: enough for the phase to last a second or more at tens of thousands of
/// answers per second, where as many as the webhook phase's events would be over in milliseconds.
pub const DEFAULT_HELLO_REQUESTS: usize = 50_000;

/// The webhook endpoint under test.
pub const WEBHOOK_PATH: &str = "/v1/webhooks/stripe";

/// What a run does.
#[derive(Clone, Debug)]
pub struct Options {
    /// Webhook events to send per round.
    pub events: usize,
    /// Hello requests; `None` means [`DEFAULT_HELLO_REQUESTS`] or `events`, whichever is more.
    pub hello_requests: Option<usize>,
    /// Rounds of (hello phase, webhook phase), interleaved so that load from elsewhere hits both.
    pub rounds: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Unmeasured requests sent to each server first (connections, caches, SQLite pages).
    pub warmup: usize,
    /// Time budget of each phase.
    pub time_budget: Duration,
    /// A request without an answer after this long counts as an error.
    pub request_timeout: Duration,
    /// The issuer binary; `None` means `tessera-issuer` next to this executable.
    pub issuer_bin: Option<PathBuf>,
    /// Measure the hello server only (no issuer needed).
    pub hello_only: bool,
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
        }
    }
}

/// The machine a run was made on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// CPUs this process may use.
    pub cpus: usize,
    /// `model name` from `/proc/cpuinfo`, if there is one.
    pub cpu_model: Option<String>,
    /// 1-, 5- and 15-minute load averages before the run (`/proc/loadavg`).
    pub load_average_before: Option<[f64; 3]>,
    /// The same after the run.
    pub load_average_after: Option<[f64; 3]>,
    /// The file system type (from `/proc/self/mounts`) holding the issuer's temporary data directory:
    /// SQLite's fsync costs what this file system and its disk make it cost (nothing on tmpfs).
    pub data_filesystem: Option<String>,
    /// Median time of a 4 KiB append and `fdatasync` (what SQLite does to commit in WAL mode with
    /// `synchronous=FULL`) in that directory, in milliseconds, over 200 tries before the run.
    pub fsync_p50_ms: Option<f64>,
    /// The slowest of those 200, in milliseconds: how much a shared disk can stall a commit.
    pub fsync_max_ms: Option<f64>,
}

impl Machine {
    fn now() -> Machine {
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|line| line.starts_with("model name"))
                    .and_then(|line| line.split_once(':'))
                    .map(|(_, model)| model.trim().to_owned())
            });
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model,
            load_average_before: load_average(),
            load_average_after: None,
            data_filesystem: None,
            fsync_p50_ms: None,
            fsync_max_ms: None,
        }
    }
}

/// The median and the slowest time of appending 4 KiB to a file in `dir` and `fdatasync`ing it.
fn fsync_times(dir: &std::path::Path) -> std::io::Result<(Duration, Duration)> {
    use std::io::Write as _;
    let path = dir.join("fsync-probe");
    let mut file = std::fs::File::create(&path)?;
    let block = [0x5au8; 4096];
    let mut times = Vec::with_capacity(200);
    for _ in 0..200 {
        let start = std::time::Instant::now();
        file.write_all(&block)?;
        file.sync_data()?;
        times.push(start.elapsed());
    }
    drop(file);
    std::fs::remove_file(&path)?;
    times.sort_unstable();
    let median = stats::percentile(&times, 50.0).unwrap_or_default();
    Ok((median, times.last().copied().unwrap_or_default()))
}

/// The type of the file system mounted closest above `path` (Linux only).
fn filesystem_of(path: &std::path::Path) -> Option<String> {
    let path = path.canonicalize().ok()?;
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (_device, mount_point, fs_type) = (fields.next()?, fields.next()?, fields.next()?);
            // Mount points escape spaces as \040; such paths simply never match.
            path.starts_with(mount_point)
                .then(|| (mount_point.len(), fs_type.to_owned()))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, fs_type)| fs_type)
}

fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut fields = text.split_whitespace().map(str::parse::<f64>);
    Some([
        fields.next()?.ok()?,
        fields.next()?.ok()?,
        fields.next()?.ok()?,
    ])
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

/// Everything a run measured: the `--json` output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Webhook events asked for, per round.
    pub events: usize,
    /// Hello requests asked for, per round.
    pub hello_requests: usize,
    /// Rounds of (hello, webhook).
    pub rounds: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Unmeasured requests sent to each server first.
    pub warmup: usize,
    /// Time budget of each phase, in seconds.
    pub time_budget_seconds: f64,
    /// Where the run was made.
    pub machine: Machine,
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
        let incomplete = |name: &str, summary: &Summary| {
            let failed = summary.requests - summary.ok + summary.errors;
            (failed > 0).then(|| {
                format!(
                    "{name}: {failed} of {} requests failed{}",
                    summary.requests + summary.errors,
                    summary
                        .first_failure
                        .as_deref()
                        .map(|first| format!(" (first: {first})"))
                        .unwrap_or_default()
                )
            })
        };
        incomplete("hello", &self.hello)
            .or_else(|| self.webhook.as_ref().and_then(|w| incomplete("webhook", w)))
            .or_else(|| {
                self.stored_keys
                    .as_ref()
                    .and_then(|k| incomplete("stored keys", k))
            })
    }

    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let load =
            |l: Option<[f64; 3]>| l.map_or_else(|| "?".to_owned(), |l| format!("{:.2}", l[0]));
        let _ = writeln!(
            out,
            "tessera-load: {} round(s), concurrency {}, warm-up {} per server, loopback; {} CPU(s){}; \
             load average {} before, {} after",
            self.rounds,
            self.concurrency,
            self.warmup,
            self.machine.cpus,
            self.machine
                .cpu_model
                .as_deref()
                .map(|m| format!(" ({m})"))
                .unwrap_or_default(),
            load(self.machine.load_average_before),
            load(self.machine.load_average_after),
        );
        if let Some(fs) = &self.machine.data_filesystem {
            let _ = write!(out, "issuer data directory on {fs}");
            if let (Some(median), Some(max)) =
                (self.machine.fsync_p50_ms, self.machine.fsync_max_ms)
            {
                let _ = write!(
                    out,
                    "; 4 KiB append + fdatasync there: median {median:.3} ms, max {max:.1} ms"
                );
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<36} {:>8} {:>8} {:>8} {:>10} {:>9} {:>9} {:>9}",
            "phase", "answers", "ok", "seconds", "req/s", "p50 ms", "p99 ms", "max ms"
        );
        let mut row = |name: &str, s: &Summary| {
            let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"));
            let _ = writeln!(
                out,
                "{:<36} {:>8} {:>8} {:>8.2} {:>10.1} {:>9} {:>9} {:>9}{}",
                name,
                s.requests,
                s.ok,
                s.seconds,
                s.throughput,
                ms(s.p50_ms),
                ms(s.p99_ms),
                ms(s.max_ms),
                if s.stopped_by_time_limit {
                    "  (time budget ran out)"
                } else {
                    ""
                }
            );
        };
        if self.per_round.len() > 1 {
            for (i, round) in self.per_round.iter().enumerate() {
                row(&format!("round {}: hello", i + 1), &round.hello);
                if let Some(webhook) = &round.webhook {
                    row(&format!("round {}: webhook", i + 1), webhook);
                }
            }
        }
        row("hello: GET /", &self.hello);
        if let Some(webhook) = &self.webhook {
            row("webhook: POST /v1/webhooks/stripe", webhook);
        }
        if let Some(keys) = &self.stored_keys {
            row("check: GET /v1/licenses/by-checkout-…", keys);
        }
        let _ = writeln!(out);
        if let Some(keys) = &self.stored_keys {
            let _ = writeln!(
                out,
                "stored keys: {} of {} sent events have a licence with a ts1_ key",
                keys.ok,
                keys.requests + keys.errors
            );
        }
        if let Some(ratio) = self.throughput_ratio {
            let _ = write!(out, "throughput webhook / hello: {ratio:.4}");
            let per_round: Vec<String> = self
                .per_round
                .iter()
                .filter_map(|round| round.throughput_ratio.map(|r| format!("{r:.4}")))
                .collect();
            if per_round.len() > 1 {
                let _ = write!(out, " (per round: {})", per_round.join(" "));
            }
            let _ = writeln!(out);
        }
        out
    }
}

/// A ratio is only a figure when both phases answered everything as they should.
fn throughput_ratio(webhook: Option<&Summary>, hello: &Summary) -> Option<f64> {
    let clean = |s: &Summary| s.errors == 0 && s.ok == s.requests && s.throughput > 0.0;
    webhook
        .filter(|w| clean(w) && clean(hello))
        .map(|w| w.throughput / hello.throughput)
}

/// Runs `options.rounds` rounds of a hello phase then a webhook phase (hello only with
/// `hello_only`), then checks that every sent event has a stored key.
pub async fn run(options: &Options) -> anyhow::Result<Report> {
    anyhow::ensure!(options.events > 0, "--events must be positive");
    anyhow::ensure!(options.concurrency > 0, "--concurrency must be positive");
    anyhow::ensure!(options.rounds > 0, "--rounds must be positive");
    // Found before anything runs, so a missing binary fails at once.
    let issuer_bin = match (&options.issuer_bin, options.hello_only) {
        (_, true) => None,
        (Some(bin), false) => Some(bin.clone()),
        (None, false) => Some(server::default_issuer_bin()?),
    };
    if let Some(bin) = issuer_bin.as_deref().filter(|bin| !bin.is_file()) {
        anyhow::bail!(
            "no issuer binary at {} (build it first: cargo build --release -p tessera-issuer, \
             or pass --issuer-bin)",
            bin.display()
        );
    }
    // The issuer runs in the temporary directory, where a relative path would mean something else.
    let issuer_bin = issuer_bin
        .map(|bin| std::path::absolute(&bin))
        .transpose()
        .context("the issuer binary's path")?;
    let mut machine = Machine::now();
    let dir = tempfile::Builder::new()
        .prefix("tessera-load-")
        .tempdir()
        .context("temporary directory")?;
    let phase = PhaseOptions {
        concurrency: options.concurrency,
        time_budget: options.time_budget,
        request_timeout: options.request_timeout,
    };
    let hello_requests = options
        .hello_requests
        .unwrap_or(options.events.max(DEFAULT_HELLO_REQUESTS));

    // Both servers run through all rounds, so load from elsewhere that comes and goes hits both.
    let hello_server = server::start_hello(dir.path())?;
    let mut issuer = match issuer_bin {
        None => None,
        Some(bin) => {
            machine.data_filesystem = filesystem_of(dir.path());
            if let Ok((median, max)) = fsync_times(dir.path()) {
                machine.fsync_p50_ms = Some(median.as_secs_f64() * 1e3);
                machine.fsync_max_ms = Some(max.as_secs_f64() * 1e3);
            }
            let config_file = dir.path().join("tessera.toml");
            std::fs::write(
                &config_file,
                server::issuer_config(&dir.path().join("data")),
            )
            .context("writing the issuer's config")?;
            Some(server::start_issuer(&bin, &config_file, dir.path())?)
        }
    };

    // Warm-up: connections, caches, SQLite's first pages. Warm-up events are numbered after every
    // measured one, so the measured ones are 0..rounds·events.
    let measured_events = (options.rounds * options.events) as u64;
    if options.warmup > 0 {
        let warmup = Arc::new(vec![Request::get("/"); options.warmup]);
        run_phase(hello_server.addr(), warmup, phase, is_success).await?;
        if let Some(issuer) = &issuer {
            let events = signed_events(measured_events..measured_events + options.warmup as u64);
            run_phase(issuer.addr(), Arc::new(events), phase, is_success).await?;
        }
    }

    let hello_get = Arc::new(vec![Request::get("/"); hello_requests]);
    let mut hello_all = Measured::default();
    let mut webhook_all: Option<Measured> = None;
    let mut per_round = Vec::with_capacity(options.rounds);
    let mut sent_sessions = Vec::new();
    for round in 0..options.rounds {
        let hello = run_phase(
            hello_server.addr(),
            Arc::clone(&hello_get),
            phase,
            is_success,
        )
        .await?;
        let webhook = match &issuer {
            None => None,
            Some(issuer) => {
                let first = (round * options.events) as u64;
                // Signed just before sending: Stripe's tolerance is 300 s, a phase lasts at most
                // its budget.
                let events = Arc::new(signed_events(first..first + options.events as u64));
                let measured = run_phase(issuer.addr(), events, phase, is_success).await?;
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

    let stored_keys = match &mut issuer {
        None => None,
        Some(issuer) => {
            let lookups = sent_sessions
                .iter()
                .map(|&n| {
                    Request::get(format!(
                        "/v1/licenses/by-checkout-session/{}",
                        event::session_id(n)
                    ))
                })
                .collect();
            let keys = run_phase(issuer.addr(), Arc::new(lookups), phase, has_key).await?;
            if !issuer.is_running() {
                anyhow::bail!("the issuer exited during the run{}", issuer.log_tail());
            }
            Some(keys.summary())
        }
    };
    drop(issuer);
    drop(hello_server);

    machine.load_average_after = load_average();
    let hello = hello_all.summary();
    let webhook = webhook_all.as_ref().map(Measured::summary);
    Ok(Report {
        events: options.events,
        hello_requests,
        rounds: options.rounds,
        concurrency: options.concurrency,
        warmup: options.warmup,
        time_budget_seconds: options.time_budget.as_secs_f64(),
        machine,
        throughput_ratio: throughput_ratio(webhook.as_ref(), &hello),
        hello,
        webhook,
        stored_keys,
        per_round,
    })
}

/// Signed webhook requests for events numbered `range`, timestamped now.
pub fn signed_events(range: std::ops::Range<u64>) -> Vec<Request> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    range
        .map(|n| {
            let body = serde_json::to_vec(&event::checkout_completed(n, PRICE, now))
                .expect("JSON values serialise");
            let signature = event::signature_header(WEBHOOK_SECRET, now, &body);
            Request::post_json(
                WEBHOOK_PATH,
                body,
                vec![(
                    HeaderName::from_static("stripe-signature"),
                    HeaderValue::from_str(&signature).expect("the header is ASCII"),
                )],
            )
        })
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
