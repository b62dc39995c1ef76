//! `tessera activate`, `deactivate`, `verify --machine-certificate` and `tessera admin machines`
//! against the real issuer: a seat taken and renewed, every seat taken (the machines listed, exit
//! 36), support freeing one and changing the seat count, the air-gapped round trip, a revoked
//! licence refused.

use assert_cmd::Command;
use serde::Deserialize;
use serde_json::Value;

use super::harness::{get_json, Issuer};
use super::machines::{buy, fingerprint, offline_request, workspace, ADMIN_TOKEN};
use crate::machines_cli::ActivationJson;
use crate::util::{fails, stdout_of, Sandbox};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeatsJson {
    max_machines: Option<u32>,
    lease_days: Option<u32>,
    floating: bool,
    heartbeat_seconds: Option<u32>,
    max_deactivations_per_30_days: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdminMachineJson {
    id: String,
    fingerprint: String,
    name: Option<String>,
    platform: Option<String>,
    activated_at: u64,
    last_seen_at: u64,
    lease_ends_at: Option<u64>,
    license_id: String,
    active: bool,
    deactivated_at: Option<u64>,
    deactivated_how: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LicenseMachinesJson {
    license_id: String,
    seats: Option<SeatsJson>,
    active: usize,
    machines: Vec<AdminMachineJson>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MachineDetailJson {
    machine: AdminMachineJson,
}

/// A sandbox to run `tessera` in, next to a running issuer, with its public keys saved as
/// `keys.json` (the JSON of `GET /v1/keys`).
struct Cli {
    sandbox: Sandbox,
    url: String,
}

impl Cli {
    fn new(issuer: &Issuer) -> Cli {
        let sandbox = Sandbox::new();
        let (status, keys) = get_json(&issuer.url("/v1/keys"));
        assert_eq!(status, 200, "{keys}");
        sandbox.write("keys.json", &keys.to_string());
        Cli {
            sandbox,
            url: issuer.base_url().to_owned(),
        }
    }

    /// `tessera ARGS...`.
    fn tessera(&self, args: &[&str]) -> Command {
        let mut command = self.sandbox.tessera(args);
        command
            .env_remove("TESSERA_URL")
            .env_remove("TESSERA_TOKEN");
        command
    }

    /// `tessera admin --url URL ARGS...` with the support token.
    fn admin(&self, args: &[&str]) -> Command {
        let mut command = self.tessera(&["admin", "--url", &self.url]);
        command.env("TESSERA_TOKEN", ADMIN_TOKEN).args(args);
        command
    }

    fn ok(&self, mut command: Command) -> String {
        stdout_of(command.assert().success().stderr(""))
    }

    fn json<T: serde::de::DeserializeOwned>(&self, command: Command) -> T {
        let out = self.ok(command);
        serde_json::from_str(&out).unwrap_or_else(|err| panic!("{err}: {out}"))
    }
}

#[test]
fn activate_renew_verify_and_deactivate_this_machine() {
    let (workspace, _fake) = workspace();
    let issuer = workspace.start();
    let (license, key) = buy(&issuer, "price_three_seats");
    let cli = Cli::new(&issuer);

    // A licence that needs activation is refused alone.
    fails(
        cli.tessera(&["verify", &key, "--public-key", "keys.json"])
            .assert(),
        30,
    );

    let first: ActivationJson = cli.json(cli.tessera(&[
        "--json",
        "activate",
        &key,
        "--url",
        &cli.url,
        "--name",
        "build box",
    ]));
    assert_eq!(first.license_id, license);
    assert!(first.new_seat);
    let machine_id = first.machine_id.clone().expect("a machine id");
    assert!(machine_id.starts_with("m_"), "{machine_id}");
    assert_eq!(
        first.fingerprint,
        tessera_verifier::machine_fingerprint(7)
            .unwrap()
            .to_string()
    );
    assert!(first.certificate.starts_with("tsm1_"));
    // lease_days = 30.
    let lease = first.lease_ends_at.expect("a lease");
    assert!(lease > super::seed::now() + 29 * 86_400, "{lease}");
    let saved = cli
        .sandbox
        .path(&format!("machine-certificate-{license}.txt"));
    assert_eq!(first.out, format!("machine-certificate-{license}.txt"));
    assert_eq!(
        std::fs::read_to_string(&saved).unwrap().trim(),
        first.certificate
    );

    // Again: the same machine, a fresh certificate; in words this time, checked with the keys.
    let out = cli.ok(cli.tessera(&[
        "activate",
        &key,
        "--url",
        &cli.url,
        "--public-key",
        "keys.json",
        "--name",
        "build box",
    ]));
    assert!(
        out.starts_with(&format!(
            "renewed this machine's certificate ({machine_id})"
        )),
        "{out}"
    );

    // What was saved verifies offline, with this machine's fingerprint.
    let out = cli.ok(cli.tessera(&[
        "verify",
        &key,
        "--public-key",
        "keys.json",
        "--machine-certificate",
        saved.to_str().unwrap(),
        "--last-seen",
        "last-seen",
    ]));
    assert!(out.contains("machine:") && out.contains("lease:"), "{out}");

    // Support sees it.
    let list: LicenseMachinesJson = cli.json(cli.admin(&["--json", "machines", "list", &license]));
    assert_eq!(list.license_id, license);
    assert_eq!(list.active, 1);
    let seats = list.seats.expect("a seat policy");
    assert_eq!(seats.max_machines, Some(3));
    assert_eq!(seats.lease_days, Some(30));
    assert!(!seats.floating);
    assert_eq!(seats.heartbeat_seconds, None);
    assert_eq!(seats.max_deactivations_per_30_days, Some(2));
    assert_eq!(list.machines.len(), 1);
    let machine = &list.machines[0];
    assert_eq!(machine.id, machine_id);
    assert_eq!(machine.name.as_deref(), Some("build box"));
    let platform = format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH);
    assert_eq!(machine.platform.as_deref(), Some(platform.as_str()));
    assert!(machine.activated_at <= machine.last_seen_at, "{machine:?}");
    assert!(machine
        .lease_ends_at
        .is_some_and(|end| end > machine.last_seen_at));
    assert_eq!(machine.license_id, license);
    assert!(machine.active && machine.deactivated_at.is_none());
    let out = cli.ok(cli.admin(&["licenses", "show", &license]));
    assert!(
        out.contains(&format!("seats of licence {license}")) && out.contains(&machine_id),
        "{out}"
    );

    // Freed from here; then it holds no seat to free.
    let out = cli.ok(cli.tessera(&["deactivate", &key, "--url", &cli.url]));
    assert!(out.contains(&machine_id), "{out}");
    let line = fails(
        cli.tessera(&["deactivate", &key, "--url", &cli.url])
            .assert(),
        22,
    );
    assert!(line.contains("holds no seat"), "{line}");
    let shown: MachineDetailJson =
        cli.json(cli.admin(&["--json", "machines", "show", &machine_id]));
    assert!(!shown.machine.active);
    assert_eq!(shown.machine.deactivated_how.as_deref(), Some("customer"));
}

#[test]
fn every_seat_taken_lists_the_machines_and_support_frees_one() {
    let (workspace, _fake) = workspace();
    let issuer = workspace.start();
    let (license, key) = buy(&issuer, "price_three_seats");
    let cli = Cli::new(&issuer);

    // Support activates three other machines from their requests (audited).
    let mut ids = Vec::new();
    for n in 0..3 {
        let request = offline_request(&key, n);
        let out = cli.ok(cli.admin(&[
            "machines",
            "activate",
            "--request",
            &request,
            "--reason",
            "customer on the phone",
        ]));
        let id = out
            .lines()
            .next()
            .and_then(|line| line.strip_prefix("activated machine "))
            .unwrap_or_else(|| panic!("{out}"))
            .to_owned();
        assert!(
            out.contains("certificate:") && out.contains("tsm1_"),
            "{out}"
        );
        ids.push(id);
    }

    // This machine finds every seat taken: the machines holding them, how to free one, exit 36.
    let assert = cli
        .tessera(&["activate", &key, "--url", &cli.url])
        .assert()
        .code(36);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    for id in &ids {
        assert!(stderr.contains(id.as_str()), "{id} not in {stderr}");
    }
    assert!(stderr.contains("air-gapped"), "{stderr}");
    assert!(stderr.contains("tessera deactivate KEY"), "{stderr}");
    assert!(
        stderr
            .lines()
            .last()
            .unwrap()
            .starts_with("error: all 3 seats of licence"),
        "{stderr}"
    );
    // Support's activation is refused the same way.
    let request = offline_request(&key, 9);
    cli.admin(&[
        "machines",
        "activate",
        "--request",
        &request,
        "--reason",
        "r",
    ])
    .assert()
    .code(36);

    // Support frees one (a reason is required), and this machine gets the seat.
    fails(cli.admin(&["machines", "deactivate", &ids[0]]).assert(), 2);
    let freed: MachineDetailJson = cli.json(cli.admin(&[
        "--json",
        "machines",
        "deactivate",
        &ids[0],
        "--reason",
        "laptop stolen",
    ]));
    assert_eq!(freed.machine.id, ids[0]);
    assert!(!freed.machine.active);
    assert_eq!(freed.machine.fingerprint, fingerprint(0).to_string());
    let activated: ActivationJson = cli.json(cli.tessera(&[
        "--json", "activate", &key, "--url", &cli.url, "--out", "cert.txt",
    ]));
    assert!(activated.new_seat);

    // One more seat for the licence, in the audit trail.
    let out = cli.ok(cli.admin(&[
        "licenses",
        "seats",
        &license,
        "4",
        "--reason",
        "bought a fourth seat",
    ]));
    assert!(out.contains("max machines:") && out.contains('4'), "{out}");
    let changed: Value = cli.json(cli.admin(&[
        "--json",
        "licenses",
        "seats",
        &license,
        "unlimited",
        "--reason",
        "site licence",
    ]));
    assert_eq!(changed["seats"]["max_machines"], Value::Null);
    let audit = cli.ok(cli.admin(&["audit", "list", "--license", &license]));
    for action in ["license.seats", "machine.deactivate", "machine.activate"] {
        assert!(audit.contains(action), "{action} not in {audit}");
    }
    // Unknown machines are not found.
    fails(
        cli.admin(&["machines", "show", "m_nosuchmachine"]).assert(),
        22,
    );
}

#[test]
fn air_gapped_round_trip_through_the_offline_endpoint() {
    let (workspace, _fake) = workspace();
    let issuer = workspace.start();
    let (_license, key) = buy(&issuer, "price_three_seats");
    let cli = Cli::new(&issuer);

    let request = cli.ok(cli.tessera(&["activate", &key, "--offline-request"]));
    let request = request.trim();
    assert!(request.starts_with("tsq1_"), "{request}");
    // The online device: the endpoint the /activate page posts to.
    let mut answer = super::harness::http()
        .post(&issuer.url("/v1/machines/offline"))
        .header("content-type", "application/json")
        .send(serde_json::json!({ "request": request }).to_string())
        .expect("offline activation");
    assert_eq!(answer.status().as_u16(), 201);
    let body: Value = serde_json::from_str(&answer.body_mut().read_to_string().unwrap()).unwrap();
    let certificate = body["certificate"].as_str().expect("a certificate");
    cli.sandbox.write("brought-back.txt", certificate);

    let out = cli.ok(cli.tessera(&[
        "activate",
        &key,
        "--import",
        "brought-back.txt",
        "--public-key",
        "keys.json",
        "--out",
        "machine.txt",
    ]));
    assert!(
        out.starts_with("imported this machine's certificate"),
        "{out}"
    );
    cli.ok(cli.tessera(&[
        "verify",
        &key,
        "--public-key",
        "keys.json",
        "--machine-certificate",
        "machine.txt",
    ]));
}

#[test]
fn a_revoked_licence_cannot_activate_and_an_unreachable_issuer_exits_20() {
    let (workspace, _fake) = workspace();
    let issuer = workspace.start();
    let (license, key) = buy(&issuer, "price_three_seats");
    let cli = Cli::new(&issuer);
    cli.ok(cli.admin(&["licenses", "revoke", &license, "--reason", "chargeback"]));
    let line = fails(
        cli.tessera(&["activate", &key, "--url", &cli.url]).assert(),
        15,
    );
    assert!(line.contains("revoked"), "{line}");

    // Nothing listens: unreachable, before anything is saved.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    fails(
        cli.tessera(&["activate", &key, "--url", &closed]).assert(),
        20,
    );
}
