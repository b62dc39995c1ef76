//! The real `tessera-load` binary: its JSON report (hello phase only, so no issuer is needed) and its
//! one-line failures when the issuer binary is missing (every scenario) or the credit scenario is
//! asked for with `--hello-only`. No timing is asserted.

use std::process::Command;

use tessera_load::Report;

fn tessera_load() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tessera-load"))
}

#[test]
fn hello_only_run_reports_every_request() {
    let output = tessera_load()
        .args(["--hello-only", "--events", "300", "--hello-requests", "300"])
        .args(["--concurrency", "4", "--rounds", "2"])
        .args(["--warmup", "10", "--max-seconds", "60", "--json"])
        .output()
        .expect("run tessera-load");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stderr: {stderr}");
    let report: Report = serde_json::from_slice(&output.stdout).expect("the report's JSON schema");
    assert_eq!(report.events, 300);
    assert_eq!(report.run.hello_requests, 300);
    assert_eq!(report.run.concurrency, 4);
    assert_eq!(report.run.warmup, 10);
    assert_eq!(report.run.rounds, 2);
    assert_eq!(report.per_round.len(), 2);
    for round in &report.per_round {
        assert_eq!(round.hello.requests, 300);
        assert_eq!(round.hello.ok, 300);
        assert!(round.webhook.is_none() && round.throughput_ratio.is_none());
    }
    // The pooled figures hold both rounds.
    assert_eq!(report.hello.requests, 600);
    assert_eq!(report.hello.ok, 600);
    assert_eq!(report.hello.errors, 0);
    assert_eq!(report.hello.statuses.get(&200), Some(&600));
    assert!(!report.hello.stopped_by_time_limit);
    assert_eq!(report.hello.first_failure, None);
    let (p50, p99, max) = (
        report.hello.p50_ms.unwrap(),
        report.hello.p99_ms.unwrap(),
        report.hello.max_ms.unwrap(),
    );
    assert!(p50 <= p99 && p99 <= max, "{p50} {p99} {max}");
    assert!(report.webhook.is_none() && report.stored_keys.is_none());
    assert_eq!(report.throughput_ratio, None);
    assert!(report.run.machine.cpus >= 1);
    assert_eq!(report.failure(), None);
}

#[test]
fn a_missing_issuer_binary_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-issuer");
    for scenario in ["webhook", "credits", "heartbeat"] {
        let output = tessera_load()
            .args(["--scenario", scenario, "--events", "10", "--pairs", "10"])
            .args(["--warmup", "0", "--issuer-bin"])
            .arg(&missing)
            .output()
            .expect("run tessera-load");
        assert_eq!(output.status.code(), Some(1), "{scenario}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.starts_with("error: no issuer binary at")
                && stderr.contains("cargo build --release"),
            "{scenario} stderr: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{scenario} stderr: {stderr}");
    }
}

#[test]
fn hello_server_stays_on_loopback() {
    let output = tessera_load()
        .args(["hello", "--listen", "0.0.0.0:0"])
        .output()
        .expect("run tessera-load hello");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("loopback"));
}

#[test]
fn the_credit_scenario_is_not_a_hello_only_run() {
    let output = tessera_load()
        .args(["--scenario", "credits", "--hello-only"])
        .output()
        .expect("run tessera-load");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--hello-only"), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr}");
}
