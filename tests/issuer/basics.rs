//! Start-up on the embedded default, probes, published keys, shutdown and restart.

use std::process::{Command, Output};

use super::harness::{get_json, http, Issuer, Workspace};

#[test]
fn starts_with_a_development_key_and_serves_probes_and_keys() {
    let workspace = Workspace::new("");
    let issuer = workspace.start();

    assert_eq!(
        get_json(&issuer.url("/healthz")),
        (200, serde_json::json!({"status": "ok"}))
    );
    assert_eq!(
        get_json(&issuer.url("/readyz")),
        (200, serde_json::json!({"status": "ready"}))
    );

    let (status, keys) = get_json(&issuer.url("/v1/keys"));
    assert_eq!(status, 200);
    let public_key = keys["keys"][0]["public_key"]
        .as_str()
        .expect("a public key");
    assert!(public_key.starts_with("tspk1_1_"), "{public_key}");
    assert_eq!(keys["keys"][0]["active"], true);
    assert!(issuer.log().contains("DEVELOPMENT SIGNING KEY CREATED"));

    let key_file = workspace.path().join("data/dev-signing-key.tssk");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&key_file).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    assert!(!issuer
        .log()
        .contains(&std::fs::read_to_string(&key_file).unwrap()[80..]));

    assert!(issuer.stop(), "SIGTERM ends the issuer cleanly");

    // A restart keeps the same key and does not announce a new one.
    let issuer = workspace.start();
    let (_, again) = get_json(&issuer.url("/v1/keys"));
    assert_eq!(again["keys"][0]["public_key"], public_key);
    assert!(issuer.log().contains("using the DEVELOPMENT signing key"));
}

#[test]
fn revocation_list_verifies_against_published_keys() {
    let workspace = Workspace::new("");
    let issuer = workspace.start();
    let (status, body) = get_json(&issuer.url("/v1/revocations"));
    assert_eq!(status, 200);
    assert_eq!(body["sequence"], 0);
    assert_eq!(body["revoked"], 0);
    let (_, keys) = get_json(&issuer.url("/v1/keys"));
    let public_key =
        tessera_keys::PublicKey::from_text(keys["keys"][0]["public_key"].as_str().unwrap())
            .unwrap();
    let verifier = tessera_verifier::Verifier::new(&[public_key]).unwrap();
    let text = body["list"].as_str().unwrap();
    let mut buf = vec![0u8; tessera_verifier::revocations_buffer_len(0)];
    let list = verifier
        .check_revocations(text, &mut buf, None)
        .expect("a valid list");
    assert!(list.is_empty());
}

#[test]
fn unknown_paths_and_bad_ids_get_json_errors() {
    let workspace = Workspace::new("");
    let issuer = workspace.start();
    let (status, body) = get_json(&issuer.url("/v1/nothing-here"));
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    let (status, body) = get_json(&issuer.url("/v1/licenses/by-checkout-session/cs_test_unknown"));
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    let (status, body) = get_json(&issuer.url("/v1/licenses/by-checkout-session/pi_123"));
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_checkout_session"))
    );
    let response = http().get(&issuer.url("/healthz")).call().unwrap();
    assert!(response.headers().get("x-request-id").is_some());
}

#[test]
fn a_client_request_id_is_kept_only_if_short_and_safe() {
    let workspace = Workspace::new("");
    let issuer = workspace.start();
    // Validating a key logs a line, in the request's span.
    let echoed = |id: &str| {
        let response = http()
            .post(&issuer.url("/v1/licenses/validate"))
            .header("x-request-id", id)
            .content_type("application/json")
            .send(r#"{"key": "garbage"}"#)
            .unwrap();
        let ids: Vec<_> = response
            .headers()
            .get_all("x-request-id")
            .iter()
            .map(|value| value.to_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids.len(), 1, "{ids:?}");
        ids[0].clone()
    };
    let safe = "Client-1.trace_42";
    assert_eq!(echoed(safe), safe);
    let longest = "a".repeat(64);
    assert_eq!(echoed(&longest), longest);
    let forged = "x method=POST path=/v1/admin/keys/rotate";
    for hostile in [forged, &"a".repeat(65), "a\"b", "a\tb", ""] {
        let id = echoed(hostile);
        assert!(id.starts_with("req-"), "{hostile:?} came back as {id:?}");
    }
    let log = issuer.log();
    assert!(log.contains(&format!("id={safe}")), "{log}");
    assert!(
        !log.contains("path=/v1/admin"),
        "a forged field reached the log:\n{log}"
    );
    assert!(!log.contains(&"a".repeat(65)), "{log}");
}

#[test]
fn bad_config_fails_at_start_with_one_line_naming_the_field() {
    let workspace = Workspace::new("[licenses]\ngrace_days = \"seven\"\n");
    let output = std::process::Command::new(crate::util::issuer_bin())
        .arg("--config")
        .arg(workspace.path().join("tessera.toml"))
        .output()
        .unwrap();
    // 2: a bad setting, not an outage (1).
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<_> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("error: config `"), "{stderr}");

    let workspace = Workspace::new(
        "[[products]]\nid = 1\nname = \"editor\"\ntiers = [\"free\", \"pro\"]\nfeatures = []\n\
         [[prices]]\nid = \"price_1\"\nproduct = \"editor\"\ntier = \"gold\"\n",
    );
    let output = std::process::Command::new(crate::util::issuer_bin())
        .arg("--config")
        .arg(workspace.path().join("tessera.toml"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim(),
        "error: config `prices[0].tier`: `gold` is not a tier of `editor`"
    );
}

/// The README's newcomer flow: the issuer on the embedded default, a signed test event from
/// `scripts/send-test-event`, the key fetched and verified offline with `tessera verify`.
#[test]
fn readme_flow_on_the_embedded_default() {
    let workspace = Workspace::new("");
    let issuer = workspace.start_embedded_default();
    let sent = send_test_event(&workspace, &issuer, &["--email", "ada@example.com"]);
    let key = String::from_utf8(sent.stdout).unwrap().trim().to_owned();
    let stderr = String::from_utf8_lossy(&sent.stderr);
    let session = stderr
        .split_whitespace()
        .find(|word| word.starts_with("cs_test_"))
        .expect("the script names the checkout session");
    let response = http()
        .get(&issuer.url(&format!("/v1/licenses/by-checkout-session/{session}")))
        .call()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(key.starts_with("ts1_"), "{key}");
    assert!(workspace
        .path()
        .join("tessera-data/dev-webhook-secret")
        .exists());
    assert!(issuer.log().contains("DEVELOPMENT webhook secret"));

    let (_, keys) = get_json(&issuer.url("/v1/keys"));
    let public_key = keys["keys"][0]["public_key"].as_str().unwrap();
    let verified = std::process::Command::new(crate::util::tessera_bin())
        .args([
            "--json",
            "verify",
            &key,
            "--public-key",
            public_key,
            "--product",
            "1",
        ])
        .args(["--require-feature", "0", "--require-feature", "1"])
        .output()
        .unwrap();
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    let verdict: serde_json::Value = serde_json::from_slice(&verified.stdout).unwrap();
    assert_eq!(verdict["valid"], true);
    assert_eq!(verdict["claims"]["tier"]["index"], 1);
    // The demo price sells a 365-day licence.
    let days_left = verdict["days_left"].as_u64().unwrap();
    assert!((364..=365).contains(&days_left), "{days_left}");

    // The README's credit round trip: a top-up pack, then reserve 120, commit 100, balance.
    let topped_up = send_test_event(&workspace, &issuer, &["--top-up", &key]);
    let credits: serde_json::Value = serde_json::from_slice(&topped_up.stdout).unwrap();
    assert_eq!(credits["balances"]["top_up"], 1000, "{credits}");
    let authorization = format!("License {key}");
    let mut reserved = http()
        .post(&issuer.url("/v1/credits/reservations"))
        .header("authorization", &authorization)
        .header("idempotency-key", "render-42")
        .header("content-type", "application/json")
        .send(r#"{"amount": 120, "reference": "render 42"}"#)
        .unwrap();
    assert_eq!(reserved.status(), 201);
    let reservation: serde_json::Value =
        serde_json::from_str(&reserved.body_mut().read_to_string().unwrap()).unwrap();
    let mut committed = http()
        .post(&issuer.url(&format!(
            "/v1/credits/reservations/{}/commit",
            reservation["id"].as_str().unwrap()
        )))
        .header("authorization", &authorization)
        .header("content-type", "application/json")
        .send(r#"{"used": 100}"#)
        .unwrap();
    assert_eq!(committed.status(), 200);
    let committed: serde_json::Value =
        serde_json::from_str(&committed.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(
        (committed["status"].as_str(), committed["used"].as_u64()),
        (Some("committed"), Some(100))
    );
    let mut balance = http()
        .get(&issuer.url("/v1/credits"))
        .header("authorization", &authorization)
        .call()
        .unwrap();
    let balance: serde_json::Value =
        serde_json::from_str(&balance.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(balance["balances"]["available"], 900, "{balance}");
    assert_eq!(balance["balances"]["reserved"], 0, "{balance}");

    // The secret and the key never reach the log.
    let secret =
        std::fs::read_to_string(workspace.path().join("tessera-data/dev-webhook-secret")).unwrap();
    assert!(!issuer.log().contains(secret.trim()));
    assert!(!issuer.log().contains(&key));
}

/// Runs `scripts/send-test-event` against `issuer` from the workspace (where `tessera-data/` holds
/// the development webhook secret) and checks that it succeeded.
fn send_test_event(workspace: &Workspace, issuer: &Issuer, args: &[&str]) -> Output {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/send-test-event");
    let sent = Command::new("python3")
        .arg(script)
        .args(["--url", issuer.base_url()])
        .args(args)
        .current_dir(workspace.path())
        .output()
        .expect("run scripts/send-test-event");
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    sent
}

/// `tessera-issuer check-credits` on the embedded default's database, beside the running issuer.
fn check_credits(workspace: &Workspace) -> Output {
    Command::new(crate::util::issuer_bin())
        .arg("check-credits")
        .current_dir(workspace.path())
        .output()
        .expect("run tessera-issuer check-credits")
}

#[test]
fn check_credits_recomputes_accounts_from_the_ledger_and_names_any_difference() {
    let workspace = Workspace::new("");
    let missing = check_credits(&workspace);
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.starts_with("error: cannot open the database: "),
        "{stderr}"
    );
    assert!(stderr.contains("no database at"), "{stderr}");

    let issuer = workspace.start_embedded_default();
    let key = String::from_utf8(send_test_event(&workspace, &issuer, &[]).stdout).unwrap();
    let key = key.trim();
    let credits = send_test_event(&workspace, &issuer, &["--top-up", key]).stdout;
    let credits: serde_json::Value = serde_json::from_slice(&credits).unwrap();
    let license_id = credits["license_id"].as_str().unwrap();
    let reserved = http()
        .post(&issuer.url("/v1/credits/reservations"))
        .header("authorization", &format!("License {key}"))
        .header("idempotency-key", "check-1")
        .header("content-type", "application/json")
        .send(r#"{"amount": 30}"#)
        .unwrap();
    assert_eq!(reserved.status(), 201);

    let consistent = check_credits(&workspace);
    assert_eq!(consistent.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&consistent.stdout),
        "credit ledger consistent: every account equals the sums of its ledger\n"
    );

    // A cached balance changed behind the ledger's back.
    let db =
        rusqlite::Connection::open(workspace.path().join("tessera-data/tessera.sqlite3")).unwrap();
    db.execute(
        "UPDATE credit_accounts SET top_up_balance = top_up_balance + 5",
        [],
    )
    .unwrap();
    let differs = check_credits(&workspace);
    assert_eq!(differs.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&differs.stdout);
    assert!(
        stdout.starts_with(&format!(
            "licence {license_id}: cached [period, top_up, period_reserved, top_up_reserved] = \
             [0, 975, 0, 30], ledger sums = [0, 970, 0, 30]"
        )),
        "{stdout}"
    );
    assert!(stdout.ends_with("credit ledger INCONSISTENT: 1 account(s) differ from their ledger\n"));
    assert_eq!(
        String::from_utf8_lossy(&differs.stderr),
        "error: the credit ledger check found differences\n"
    );
}

/// A log written to a file carries no colour codes, even where NO_COLOR is not set.
#[test]
fn the_log_written_to_a_file_has_no_colour_codes() {
    let workspace = Workspace::new("");
    // Set but empty counts as unset (https://no-color.org).
    let issuer = workspace.start_with_env(&[("NO_COLOR", "")]);
    assert_eq!(get_json(&issuer.url("/healthz")).0, 200);
    let log = issuer.log();
    assert!(log.contains("listening"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "ANSI escapes in the log file: {log:?}"
    );
}

/// `--log-format json` (here through its variable, TESSERA_LOG_FORMAT): one JSON object per line.
#[test]
fn the_json_log_format_writes_one_object_per_line() {
    let workspace = Workspace::new("");
    let issuer = workspace.start_with_env(&[("TESSERA_LOG_FORMAT", "json")]);
    assert_eq!(get_json(&issuer.url("/healthz")).0, 200);
    assert!(issuer.stop(), "a clean stop");
    let log = std::fs::read_to_string(workspace.path().join("issuer.log")).unwrap();
    let records: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}")))
        .collect();
    let listening = records
        .iter()
        .find(|record| record["fields"]["message"] == "listening")
        .unwrap_or_else(|| panic!("no `listening` record: {log}"));
    assert_eq!(listening["level"], "INFO");
    assert!(listening["fields"]["address"].is_string(), "{listening}");
}

#[test]
fn an_unknown_log_format_is_refused_with_one_line() {
    let output = Command::new(crate::util::issuer_bin())
        .args(["--log-format", "xml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("invalid value 'xml' for '--log-format"),
        "{stderr}"
    );
}

fn mode_of(path: &std::path::Path) -> u32 {
    std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(path).unwrap().permissions()) & 0o777
}

/// The database and its `-wal` and `-shm` files are owner-only, whatever the umask made of others.
#[test]
fn database_files_are_created_0600_in_an_existing_private_directory() {
    use std::os::unix::fs::PermissionsExt;
    let workspace = Workspace::new("");
    let data = workspace.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    let issuer = workspace.start();
    assert_eq!(get_json(&issuer.url("/readyz")).0, 200);
    for name in [
        "tessera.sqlite3",
        "tessera.sqlite3-wal",
        "tessera.sqlite3-shm",
    ] {
        assert_eq!(mode_of(&data.join(name)), 0o600, "{name}");
    }
}

/// A data directory others can read stops the issuer at start with one line saying how to fix it.
#[test]
fn a_data_directory_open_to_others_is_refused_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let workspace = Workspace::new("");
    let data = workspace.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (code, stderr) = workspace.refused_start(&[]);
    assert_eq!(code, Some(1), "it stops: {stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        format!(
            "error: the data directory {} is open to group or others (mode 0755), who could read \
             the database and keys: run `chmod 700 {}`",
            data.display(),
            data.display()
        )
    );
    assert!(!data.join("tessera.sqlite3").exists(), "nothing written");

    // The README's first command makes its own directory, owner-only, and starts.
    let fresh = Workspace::new("");
    let issuer = fresh.start_embedded_default();
    assert_eq!(get_json(&issuer.url("/readyz")).0, 200);
    assert_eq!(mode_of(&fresh.path().join("tessera-data")), 0o700);
}
