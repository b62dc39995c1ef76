//! `tessera-load`: parses arguments and runs the measurement; everything else lives in the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Measures webhook -> stored key throughput and latency of the real tessera-issuer on loopback,
/// against a hello-world axum server measured in the same run.
///
/// Starts `tessera-load hello` and `tessera-issuer` (a temporary config and data directory) as child
/// processes on ephemeral loopback ports, sends each its requests from `--concurrency` keep-alive
/// connections, then checks that every sent event has a stored licence key. Child processes are
/// killed when the run ends.
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
Exit codes: 0 every request answered and every event has a stored key; 1 a failure (the table, if
any, is still printed); 2 usage error.

--json prints one object: {events, hello_requests, rounds, concurrency, warmup, time_budget_seconds,
machine: {cpus, cpu_model, load_average_before, load_average_after, data_filesystem,
fsync_p50_ms, fsync_max_ms}, hello, webhook, stored_keys, throughput_ratio, per_round: [{hello,
webhook, throughput_ratio}]}. hello, webhook (all rounds pooled) and stored_keys (the last two
null with --hello-only) are {requests, ok, errors, statuses: {\"200\": n, ...}, seconds,
throughput, p50_ms, p99_ms, max_ms, stopped_by_time_limit, first_failure}; throughput is answers
per second, latencies are in milliseconds (nearest-rank percentiles), throughput_ratio is webhook
/ hello throughput.";

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
    /// Webhook events to send per round, each a different checkout session (at most 1,000,000).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    events: u32,
    /// Requests to the hello server per round [default: 50000, or --events if that is more].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    hello_requests: Option<u32>,
    /// Rounds of (hello phase, webhook phase), interleaved so that load from other processes hits
    /// both; the figures pool all rounds and are also given per round.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    rounds: u32,
    /// Requests in flight at once, one keep-alive connection each.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=1024))]
    concurrency: u32,
    /// Unmeasured requests sent to each server before its measured phase.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    warmup: u32,
    /// Time budget of each phase in seconds; a phase stops sending when it runs out. At most 240,
    /// so every event is delivered within Stripe's 300 s signature tolerance.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=240))]
    max_seconds: u64,
    /// The tessera-issuer binary [default: next to this executable].
    #[arg(long, value_name = "PATH")]
    issuer_bin: Option<PathBuf>,
    /// Measure the hello server only; no issuer needed.
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
            Err(err) => {
                eprintln!("error: {err:#}");
                ExitCode::FAILURE
            }
        };
    }
    let args = cli.run;
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
    };
    let report = tokio::runtime::Runtime::new()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(tessera_load::run(&options)));
    let report = match report {
        Ok(report) => report,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("the report serialises")
        );
    } else {
        print!("{}", report.table());
    }
    match report.failure() {
        None => ExitCode::SUCCESS,
        Some(problem) => {
            eprintln!("error: {problem}");
            ExitCode::FAILURE
        }
    }
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
