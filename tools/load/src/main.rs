//! `tessera-load`: parses arguments and runs the measurement; everything else lives in the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Serialize;

/// Measures the real tessera-issuer on loopback, against a hello-world axum server measured in the
/// same run: webhook -> stored key (`--scenario webhook`, the default), or credit reservations and
/// commits (`--scenario credits`), or machine heartbeats (`--scenario heartbeat`).
///
/// Starts `tessera-load hello` and `tessera-issuer` (a temporary config and data directory) as child
/// processes on ephemeral loopback ports and sends each its requests from `--concurrency` keep-alive
/// connections. Child processes are killed when the run ends.
///
/// webhook: rounds of hello requests then signed `checkout.session.completed` events, then a check
/// that every sent event has a stored licence key.
///
/// credits: `--licenses` licences bought and topped up (10^12 credits each) through signed webhooks;
/// rounds of hello requests then `--pairs` pairs of `POST /v1/credits/reservations` (`{"amount":
/// 10}`, a unique Idempotency-Key) and `POST /v1/credits/reservations/{id}/commit` (`{"used": 0..10}`)
/// in a closed loop (the peak); then an open loop: pairs due at fixed intervals at half the peak's
/// operations/s for `--open-loop-seconds`, latency from each due time (goal: p99 < 10 ms); then a
/// check that every reservation was committed, none is left reserved, and each licence's balance
/// fell by exactly the credits committed.
///
/// heartbeat: `--licenses` licences of a plan with seats bought through signed webhooks and
/// `--machines` machines activated on them; rounds of hello requests then `--heartbeats`
/// `POST /v1/machines/{id}/heartbeat` in a closed loop, the machines in turn, each answering 200.
///
/// Build the issuer first: `cargo build --release -p tessera-issuer -p tessera-load`.
#[derive(Debug, Parser)]
#[command(
    version,
    args_conflicts_with_subcommands = true,
    after_help = JSON_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

const JSON_HELP: &str = "\
Exit codes: 0 every request answered, and every event has a stored key (webhook) or every credit
balance agrees (credits); 1 a failure (the table, if any, is still printed); 2 usage error. Missing
the open loop's latency goal is reported, not a failure.

Both scenarios' figures are summaries: {requests, ok, errors, statuses: {\"200\": n, ...},
seconds, throughput, p50_ms, p99_ms, max_ms, stopped_by_time_limit, first_failure}; throughput is
answers per second, latencies are in milliseconds (nearest-rank percentiles over every request).

--json, webhook, prints one object: {events, backend, processes, hello_requests, rounds,
concurrency, warmup, time_budget_seconds, machine: {cpus, cpu_model, load_average_before, load_average_after,
data_filesystem, fsync_p50_ms, fsync_max_ms}, hello, webhook, stored_keys, throughput_ratio,
per_round: [{hello, webhook, throughput_ratio}]}. hello, webhook (all rounds pooled) and stored_keys (the last two
null with --hello-only) are summaries; throughput_ratio is webhook / hello throughput.

--json, credits, prints one object: {scenario: \"credits\", pairs, licenses, amount,
backend, processes, hello_requests, rounds, concurrency, warmup, time_budget_seconds, machine,
hello, credits, throughput_ratio, per_round: [{hello, credits, throughput_ratio}], open_loop: {
target_operations_per_second, target_pairs_per_second, scheduled_seconds, scheduled_pairs,
connections, credits, timer_lag_p50_ms, timer_lag_p99_ms, timer_lag_max_ms, due_while_busy,
busy_wait_max_ms, goal_p99_ms, meets_goal}, check: {licenses, reservations, commits, used, consumed, reserved_after, problems:
[...]}, memory: {issuer_at_rest_kib, issuer_peak_kib, hello_at_rest_kib, hello_peak_kib}}. Each credits is {operations, reserve, commit, pairs}, all summaries: operations pools
both requests (its throughput is HTTP requests/s), pairs times reserve-send to commit-answer (its
throughput is pairs/s). In open_loop every latency runs from the due time, not the send.
throughput_ratio is credit operations/s / hello requests/s. backend is \"sqlite\" or \"postgres\",
processes the issuer processes the load was spread over. open_loop is null with
--open-loop-seconds 0; check.problems is empty when the balances agree. memory is resident
memory from /proc (VmRSS before any request, VmHWM after the run), null where there is no /proc.

--json, heartbeat, prints one object: {scenario: \"heartbeat\", heartbeats, machines, licenses,
backend, processes, hello_requests, rounds, concurrency, warmup, time_budget_seconds, machine, hello,
heartbeat, throughput_ratio, per_round: [{hello, heartbeat, throughput_ratio}]}; heartbeat is a
summary of the heartbeats (its throughput is heartbeats/s), throughput_ratio heartbeats/s / hello
requests/s.";

/// What a run measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// Signed checkout.session.completed webhooks -> stored licence keys.
    Webhook,
    /// Credit reservations and commits, closed loop then open loop at half the peak.
    Credits,
    /// Machine certificate renewals (`POST /v1/machines/{id}/heartbeat`), closed loop.
    Heartbeat,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the hello-world baseline (GET / -> "ok") until killed; the load run starts this itself.
    Hello {
        /// Loopback address to listen on.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
}

#[derive(Debug, Args)]
struct RunArgs {
    /// What to measure against the hello baseline.
    #[arg(long, value_enum, default_value_t = Scenario::Webhook)]
    scenario: Scenario,
    /// webhook: events to send per round, each a different checkout session (at most 1,000,000).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    events: u32,
    /// credits: reserve + commit pairs per round, closed loop (at most 1,000,000).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pairs: u32,
    /// heartbeat: heartbeats per round, closed loop (at most 1,000,000).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    heartbeats: u32,
    /// heartbeat: machines activated, heart-beating in turn (at most 1000 per licence).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    machines: u32,
    /// credits: licences the pairs spend from, in turn [default: one per 4 connections];
    /// heartbeat: licences the machines are spread over [default: 8].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    licenses: Option<u32>,
    /// credits: how long the open loop at half the peak runs, in seconds; 0 skips it. At most
    /// --max-seconds: the open loop stops sending when its time budget runs out.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=240))]
    open_loop_seconds: u64,
    /// credits: connections the open loop sends from; a due pair waits for a free one.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1024))]
    open_loop_connections: u32,
    /// Requests to the hello server per round [default: 50000, or --events (webhook) or twice
    /// --pairs (credits) if that is more].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    hello_requests: Option<u32>,
    /// Rounds of (hello phase, webhook or credit phase), interleaved so that load from other
    /// processes hits both; the figures pool all rounds and are also given per round.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    rounds: u32,
    /// Requests in flight at once, one keep-alive connection each.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=1024))]
    concurrency: u32,
    /// Unmeasured requests sent to each server before its measured phase (credits: unmeasured
    /// pairs, which the check still counts).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    warmup: u32,
    /// Time budget of each phase in seconds; a phase stops sending when it runs out. At most 240,
    /// so every event is delivered within Stripe's 300 s signature tolerance.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=240))]
    max_seconds: u64,
    /// The tessera-issuer binary [default: next to this executable].
    #[arg(long, value_name = "PATH")]
    issuer_bin: Option<PathBuf>,
    /// Run the issuer on PostgreSQL: the URL of any database on the server (e.g.
    /// postgres://postgres@127.0.0.1:5432/postgres). The run creates a database of its own there
    /// (tessera_load_<pid>_<nanoseconds>), which its issuer processes share, and drops it at the
    /// end. Without it, the issuer runs on SQLite in its temporary data directory.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Issuer processes on the one PostgreSQL database (same config, key-encryption key and
    /// webhook secret); each phase's connections go to them in turn. Above 1 needs --database-url.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=16))]
    processes: u32,
    /// `[database] pool_size` of each issuer process [default: the issuer's]; needs
    /// --database-url.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=256))]
    pool_size: Option<u32>,
    /// Measure the hello server only; no issuer needed (webhook scenario only).
    #[arg(long)]
    hello_only: bool,
    /// Print the report as JSON (schema below) instead of a table.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Hello { listen }) = cli.command {
        return match tessera_load::server::serve_hello(listen) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => fail(&format!("{err:#}")),
        };
    }
    let args = cli.run;
    let backend = match tessera_load::backend::Backend::from_args(
        args.database_url,
        args.processes as usize,
        args.pool_size,
    ) {
        Ok(backend) => backend,
        Err(err) => return usage_error(&format!("{err:#}")),
    };
    let options = tessera_load::Options {
        events: args.events as usize,
        hello_requests: args.hello_requests.map(|n| n as usize),
        rounds: args.rounds as usize,
        concurrency: args.concurrency as usize,
        warmup: args.warmup as usize,
        time_budget: Duration::from_secs(args.max_seconds),
        request_timeout: Duration::from_secs(30),
        issuer_bin: args.issuer_bin,
        hello_only: args.hello_only,
        backend,
        credits: tessera_load::credits::CreditOptions {
            pairs: args.pairs as usize,
            licenses: args.licenses.map(|n| n as usize),
            open_loop: Duration::from_secs(args.open_loop_seconds),
            open_loop_connections: args.open_loop_connections as usize,
        },
        heartbeat: tessera_load::heartbeat::HeartbeatOptions {
            heartbeats: args.heartbeats as usize,
            machines: args.machines as usize,
            licenses: args.licenses.map_or(8, |n| n as usize),
        },
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => return fail(&format!("{err:#}")),
    };
    // A signal ends the run future, whose drop kills both servers.
    match args.scenario {
        Scenario::Webhook => match runtime.block_on(until_stopped(tessera_load::run(&options))) {
            Ok(report) => finish(&report, report.table(), report.failure(), args.json),
            Err(err) => fail(&format!("{err:#}")),
        },
        Scenario::Credits => {
            match runtime.block_on(until_stopped(tessera_load::credits::run(&options))) {
                Ok(report) => finish(&report, report.table(), report.failure(), args.json),
                Err(err) => fail(&format!("{err:#}")),
            }
        }
        Scenario::Heartbeat => {
            match runtime.block_on(until_stopped(tessera_load::heartbeat::run(&options))) {
                Ok(report) => finish(&report, report.table(), report.failure(), args.json),
                Err(err) => fail(&format!("{err:#}")),
            }
        }
    }
}

/// `run`, unless SIGINT, SIGTERM or SIGHUP comes first, which is then an error.
async fn until_stopped<T>(
    run: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    #[cfg(unix)]
    let stopped = async {
        use tokio::signal::unix::{signal, SignalKind};
        let wait = |kind: SignalKind, name: &'static str| async move {
            match signal(kind) {
                Ok(mut signal) => signal.recv().await.map(|()| name),
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            name = wait(SignalKind::interrupt(), "SIGINT") => name,
            name = wait(SignalKind::terminate(), "SIGTERM") => name,
            name = wait(SignalKind::hangup(), "SIGHUP") => name,
        }
    };
    #[cfg(not(unix))]
    let stopped = async { tokio::signal::ctrl_c().await.ok().map(|()| "Ctrl-C") };
    tokio::select! {
        result = run => result,
        name = stopped => anyhow::bail!(
            "stopped by {}; the servers were killed",
            name.unwrap_or("a signal")
        ),
    }
}

/// Prints `report` (as JSON, or `table`), then `failure` if there is one, and says how the run
/// ended.
fn finish(report: &impl Serialize, table: String, failure: Option<String>, json: bool) -> ExitCode {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).expect("the report serialises")
        );
    } else {
        print!("{table}");
    }
    match failure {
        None => ExitCode::SUCCESS,
        Some(problem) => fail(&problem),
    }
}

/// A bad combination of arguments: exit code 2, as clap gives for the ones it finds.
fn usage_error(problem: &str) -> ExitCode {
    eprintln!("error: {problem}");
    ExitCode::from(2)
}

fn fail(problem: &str) -> ExitCode {
    eprintln!("error: {problem}");
    ExitCode::FAILURE
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
