//! The heartbeat scenario (`--scenario heartbeat`): how fast the real issuer renews machine
//! certificates (`POST /v1/machines/{id}/heartbeat`: the licence key checked, the machine's lease
//! moved in a durable commit under its licence's seat lock, a certificate signed), against the
//! hello-world baseline measured in the same run.
//!
//! 1. **setup** (unmeasured): `--licenses` licences of a plan with seats bought through signed
//!    webhooks, their keys fetched, and `--machines` machines activated on them in turn
//!    (`POST /v1/machines`, each answering `201` with a `tsm1_` certificate).
//! 2. **rounds** of a hello phase (`GET /`) then a heartbeat phase: `--heartbeats` heartbeats in a
//!    closed loop, the machines in turn, each of which must answer `200`. Throughput as heartbeats
//!    per second, and its ratio to hello's.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use hyper::header::{HeaderValue, AUTHORIZATION};
use hyper::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::client::{is_success, run_phase, Connection, Request};
use crate::server::{Servers, SEAT_PRICE};
use crate::stats::{Measured, Summary};
use crate::{
    accounts, hello_requests, ratio_line, server, throughput_ratio, warm_up_hello, Machine,
    Options, RunShape,
};

/// The heartbeat scenario's own settings.
#[derive(Clone, Copy, Debug)]
pub struct HeartbeatOptions {
    /// Heartbeats per round, closed loop.
    pub heartbeats: usize,
    /// Machines activated (and heart-beating in turn).
    pub machines: usize,
    /// Licences the machines are spread over.
    pub licenses: usize,
}

impl Default for HeartbeatOptions {
    fn default() -> HeartbeatOptions {
        HeartbeatOptions {
            heartbeats: 10_000,
            machines: 64,
            licenses: 8,
        }
    }
}

/// One round: a hello phase and, right after it, a heartbeat phase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatRound {
    /// `GET /` on the hello-world server.
    pub hello: Summary,
    /// The heartbeats.
    pub heartbeat: Summary,
    /// This round's heartbeat throughput divided by its hello throughput.
    pub throughput_ratio: Option<f64>,
}

/// Everything a heartbeat run measured: the `--json` output of `--scenario heartbeat`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatReport {
    /// `"heartbeat"`.
    pub scenario: String,
    /// Heartbeats asked for, per round.
    pub heartbeats: usize,
    /// Machines heart-beating in turn.
    pub machines: usize,
    /// Licences they hold seats of.
    pub licenses: usize,
    /// The run's settings and machine.
    #[serde(flatten)]
    pub run: RunShape,
    /// `GET /` on the hello-world server, all rounds pooled.
    pub hello: Summary,
    /// The heartbeats, all rounds pooled.
    pub heartbeat: Summary,
    /// Pooled heartbeats per second divided by pooled hello requests per second; `null` unless
    /// both answered every request with success.
    pub throughput_ratio: Option<f64>,
    /// Each round on its own.
    pub per_round: Vec<HeartbeatRound>,
}

impl HeartbeatReport {
    /// Why the run does not show working heartbeats, if it does not.
    pub fn failure(&self) -> Option<String> {
        self.hello
            .failure("hello")
            .or_else(|| self.heartbeat.failure("heartbeat"))
    }

    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut out = self.run.header();
        if self.per_round.len() > 1 {
            for (i, round) in self.per_round.iter().enumerate() {
                out.push_str(&round.hello.row(&format!("round {}: hello", i + 1)));
                out.push_str(&round.heartbeat.row(&format!("round {}: heartbeat", i + 1)));
            }
        }
        out.push_str(&self.hello.row("hello: GET /"));
        out.push_str(&self.heartbeat.row("heartbeat: POST …/heartbeat"));
        out.push('\n');
        let _ = writeln!(
            out,
            "{} machines on {} licences, heart-beating in turn",
            self.machines, self.licenses
        );
        if let Some(ratio) = self.throughput_ratio {
            let per_round: Vec<Option<f64>> =
                self.per_round.iter().map(|r| r.throughput_ratio).collect();
            out.push_str(&ratio_line("heartbeats / hello", ratio, &per_round));
        }
        out
    }
}

/// A machine holding a seat: its heartbeat path and its licence's credential.
#[derive(Clone, Debug)]
struct Seat {
    path: String,
    authorization: HeaderValue,
}

/// Buys `options.licenses` licences of [`SEAT_PRICE`] and activates `options.machines` machines on
/// them in turn. One request at a time; at most `time_budget`.
async fn activate(
    issuer: SocketAddr,
    options: &HeartbeatOptions,
    timeout: Duration,
    time_budget: Duration,
) -> anyhow::Result<Vec<Seat>> {
    let deadline = Instant::now() + time_budget;
    let mut connection = Connection::open(issuer).await?;
    let mut credentials = Vec::with_capacity(options.licenses);
    for i in 0..options.licenses as u64 {
        let bought = accounts::buy(&mut connection, i, SEAT_PRICE, timeout).await?;
        credentials.push(bought.authorization);
    }
    let mut seats = Vec::with_capacity(options.machines);
    for n in 0..options.machines {
        if Instant::now() >= deadline {
            bail!(
                "activating {} machines took longer than {time_budget:?}",
                options.machines
            );
        }
        let authorization = credentials[n % credentials.len()].clone();
        let body = json!({"fingerprint": format!("{n:064x}"), "name": format!("load {n}")});
        let request = Request::post_json(
            "/v1/machines",
            body.to_string(),
            vec![(AUTHORIZATION, authorization.clone())],
        );
        let answer = connection.call(&request, 201, timeout).await?;
        let (Some(id), Some(_)) = (
            answer["machine"]["id"].as_str(),
            answer["certificate"]
                .as_str()
                .filter(|c| c.starts_with("tsm1_")),
        ) else {
            bail!("POST /v1/machines: no machine id or tsm1_ certificate in {answer}");
        };
        seats.push(Seat {
            path: format!("/v1/machines/{id}/heartbeat"),
            authorization,
        });
    }
    Ok(seats)
}

/// `count` heartbeats, the seats in turn from `first`.
fn heartbeats(seats: &[Seat], first: usize, count: usize) -> Vec<Request> {
    (first..first + count)
        .map(|n| {
            let seat = &seats[n % seats.len()];
            Request::post_json(
                seat.path.clone(),
                "",
                vec![(AUTHORIZATION, seat.authorization.clone())],
            )
        })
        .collect()
}

/// A heartbeat that renewed the lease: 200.
fn renewed(status: StatusCode, _body: &[u8]) -> bool {
    status == StatusCode::OK
}

/// Runs the heartbeat scenario: setup, then `options.rounds` rounds of (hello, heartbeats).
pub async fn run(options: &Options) -> anyhow::Result<HeartbeatReport> {
    let beat = &options.heartbeat;
    anyhow::ensure!(
        !options.hello_only,
        "--hello-only measures no scenario; leave out --scenario heartbeat"
    );
    anyhow::ensure!(beat.heartbeats > 0, "--heartbeats must be positive");
    anyhow::ensure!(beat.machines > 0, "--machines must be positive");
    anyhow::ensure!(beat.licenses > 0, "--licenses must be positive");
    anyhow::ensure!(options.rounds > 0, "--rounds must be positive");
    let issuer_bin = server::find_issuer_bin(options.issuer_bin.as_deref())?;
    let mut machine = Machine::now();
    let phase = options.phase();
    let hello_requests = hello_requests(options, beat.heartbeats);
    let mut servers = Servers::start(Some(&issuer_bin), &options.backend, &mut machine)?;
    let hello_addr = servers.hello.addr();
    let issuers = servers.issuer_addrs();
    let issuer = servers.issuer()?.addr();
    let seats = activate(issuer, beat, options.request_timeout, options.time_budget).await?;
    let mut next = 0;
    if options.warmup > 0 {
        warm_up_hello(hello_addr, options).await?;
        let warmup = heartbeats(&seats, next, options.warmup);
        next += options.warmup;
        let measured = run_phase(&issuers, Arc::new(warmup), phase, renewed).await?;
        if let Some(failure) = measured.summary().failure("warm-up") {
            bail!("{failure}");
        }
    }

    let hello_get = Arc::new(vec![Request::get("/"); hello_requests]);
    let mut hello_all = Measured::default();
    let mut beat_all = Measured::default();
    let mut per_round = Vec::with_capacity(options.rounds);
    for _ in 0..options.rounds {
        let hello = run_phase(&[hello_addr], Arc::clone(&hello_get), phase, is_success).await?;
        let requests = Arc::new(heartbeats(&seats, next, beat.heartbeats));
        next += beat.heartbeats;
        let measured = run_phase(&issuers, requests, phase, renewed).await?;
        let (hello_summary, beat_summary) = (hello.summary(), measured.summary());
        per_round.push(HeartbeatRound {
            throughput_ratio: throughput_ratio(Some(&beat_summary), &hello_summary),
            hello: hello_summary,
            heartbeat: beat_summary,
        });
        hello_all.pool(hello);
        beat_all.pool(measured);
    }
    servers.check_issuer_alive()?;
    drop(servers);
    machine.finish();
    let (hello, heartbeat) = (hello_all.summary(), beat_all.summary());
    Ok(HeartbeatReport {
        scenario: "heartbeat".to_owned(),
        heartbeats: beat.heartbeats,
        machines: beat.machines,
        licenses: beat.licenses,
        run: RunShape::new(options, hello_requests, machine),
        throughput_ratio: throughput_ratio(Some(&heartbeat), &hello),
        hello,
        heartbeat,
        per_round,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeats_take_the_seats_in_turn_with_their_licences_key() {
        let seats: Vec<Seat> = (0..3)
            .map(|n| Seat {
                path: format!("/v1/machines/m_{n}/heartbeat"),
                authorization: HeaderValue::from_str(&format!("License k{n}")).unwrap(),
            })
            .collect();
        let requests = heartbeats(&seats, 2, 4);
        let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/v1/machines/m_2/heartbeat",
                "/v1/machines/m_0/heartbeat",
                "/v1/machines/m_1/heartbeat",
                "/v1/machines/m_2/heartbeat"
            ]
        );
        let auth = requests[1]
            .headers
            .iter()
            .find(|(name, _)| name == AUTHORIZATION)
            .map(|(_, value)| value.to_str().unwrap());
        assert_eq!(auth, Some("License k0"));
        assert!(renewed(StatusCode::OK, b""));
        assert!(!renewed(StatusCode::NOT_FOUND, b""));
    }
}
