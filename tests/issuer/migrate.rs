//! `tessera-issuer migrate-from-sqlite`: an issuer that ran on SQLite, copied into PostgreSQL, goes
//! on there as it was: the same licences, credits, reservations and signing keys, ids and all.

use std::process::{Command, Output};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tessera_issuer::store::sqlite::SqliteStore;
use tessera_issuer::testing::TestDatabase;
use tessera_keys::PublicKey;

use super::credits::{balances, commit, ledger, reserve, top_up_session};
use super::harness::{get_json, http, Issuer, Workspace};
use super::key_rotation::{assert_signed_by, post};
use super::seed::now;
use super::stripe_fixtures::{deliver, event, paid_session, unique, FakeStripe};
use super::webhooks::{config, licence};
use crate::util::issuer_bin;

const ADMIN_TOKEN: &str = "tsa_migrate_test_token";
/// The key-encryption key every process on the PostgreSQL database is given.
const KEK: &str = "4b45b2c7a4e1a2f00c3e9c1d86b5e2a70f6d3b8e1c2a4d6f8091a3b5c7d9e1f3";

fn workspace(fake: &FakeStripe) -> Workspace {
    let sha256: String = Sha256::digest(ADMIN_TOKEN.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    Workspace::new(&format!(
        "{}\n[admin]\ntokens = [{{ name = \"support\", sha256 = \"{sha256}\" }}]\n",
        config(fake)
    ))
}

/// `tessera-issuer --config <workspace's> <args>` with `env`.
fn issuer_command(workspace: &Workspace, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(issuer_bin());
    command
        .arg("--config")
        .arg(workspace.path().join("tessera.toml"))
        .args(args)
        .current_dir(workspace.path())
        .env_remove("DATABASE_URL")
        .env_remove("TESSERA_KEY_ENCRYPTION_KEY")
        .env("NO_COLOR", "1");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("run tessera-issuer")
}

fn migrate(workspace: &Workspace, args: &[&str]) -> Output {
    let mut all = vec!["migrate-from-sqlite"];
    all.extend_from_slice(args);
    issuer_command(workspace, &all, &[("TESSERA_KEY_ENCRYPTION_KEY", KEK)])
}

/// The exit code and stderr of a refused run, which must be one line.
fn refusal(output: &Output) -> (i32, String) {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    (output.status.code().unwrap(), stderr.trim_end().to_owned())
}

/// Status and JSON answer of an admin POST.
fn admin_post(issuer: &Issuer, path: &str, body: &Value) -> (u16, Value) {
    post(issuer, Some(ADMIN_TOKEN), path, body)
}

/// What a buyer and an app see of the issuer, to compare before and after the move.
#[derive(Debug, PartialEq)]
struct Seen {
    served: Value,
    credits: Value,
    keys: Value,
}

fn seen(issuer: &Issuer, session: &str, key: &str) -> Seen {
    let (status, keys) = get_json(&issuer.url("/v1/keys"));
    assert_eq!(status, 200, "{keys}");
    Seen {
        served: licence(issuer, session),
        credits: balances(issuer, key),
        keys,
    }
}

fn largest_ledger_id(issuer: &Issuer, key: &str) -> i64 {
    ledger(issuer, key, 100)
        .iter()
        .map(|entry| entry["id"].as_i64().unwrap())
        .max()
        .unwrap()
}

#[test]
fn an_issuer_moved_from_sqlite_serves_spends_and_signs_on_postgres_as_before() {
    let Some(db) = TestDatabase::create() else {
        return;
    };
    let fake = FakeStripe::start();
    let workspace = workspace(&fake);

    // On SQLite: a licence bought through a signed webhook, a top-up, a committed and an open
    // reservation, an admin grant (audited) and a key rotation (audited).
    let on_sqlite = workspace.start();
    let checkout = paid_session(
        "payment",
        json!({"payment_intent": unique("pi"), "metadata": {"tessera_price": "price_pro_forever"}}),
    );
    let session = checkout["id"].as_str().unwrap().to_owned();
    let (status, body) = deliver(
        &on_sqlite,
        &event("checkout.session.completed", checkout, now()),
    );
    assert_eq!(status, 200, "{body}");
    let served = licence(&on_sqlite, &session);
    let key = served["key"].as_str().unwrap().to_owned();
    let license_id = served["license"]["id"].as_str().unwrap().to_owned();
    let (top_up, _) = top_up_session(&license_id);
    let (status, body) = deliver(
        &on_sqlite,
        &event("checkout.session.completed", top_up, now()),
    );
    assert_eq!(status, 200, "{body}");
    let (status, committed) = reserve(&on_sqlite, &key, "job-1", json!({"amount": 120}));
    assert_eq!(status, 201, "{committed}");
    let id = committed["id"].as_str().unwrap();
    assert_eq!(commit(&on_sqlite, &key, id, 100).0, 200);
    let (status, open) = reserve(&on_sqlite, &key, "job-2", json!({"amount": 50}));
    assert_eq!(status, 201, "{open}");
    let (status, body) = admin_post(
        &on_sqlite,
        &format!("/v1/admin/licenses/{license_id}/credits/grant"),
        &json!({"amount": 25, "reason": "goodwill"}),
    );
    assert_eq!(status, 200, "{body}");
    let (status, rotated) = admin_post(
        &on_sqlite,
        "/v1/admin/keys/rotate",
        &json!({"reason": "before the move"}),
    );
    assert_eq!(status, 200, "{rotated}");
    let active_id = rotated["active_key_id"].as_u64().unwrap();
    let active_key = PublicKey::from_text(rotated["public_key"].as_str().unwrap()).unwrap();
    assert_eq!(active_id, 2);
    let before = seen(&on_sqlite, &session, &key);
    assert_eq!(before.credits["balances"]["top_up"], 500 - 100 - 50 + 25);
    let copied_ledger = largest_ledger_id(&on_sqlite, &key);
    assert!(on_sqlite.stop(), "the SQLite issuer stops cleanly");

    let output = migrate(&workspace, &["--to", db.url()]);
    let summary = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{summary}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for line in [
        "credit_ledger",
        "rows/s",
        "signing keys: 2 sealed into signing_keys",
        "sign with key id 2 and trust key ids [2, 1]",
        "credit ledger consistent",
    ] {
        assert!(summary.contains(line), "{line:?} in {summary}");
    }

    // The key files go: an issuer on PostgreSQL has its keys from the database alone.
    let data = workspace.path().join("data");
    std::fs::remove_file(data.join("dev-signing-key.tssk")).unwrap();
    std::fs::remove_dir_all(data.join("signing-keys")).unwrap();
    let on_postgres = workspace.start_with_env(&[
        ("DATABASE_URL", db.url()),
        ("TESSERA_KEY_ENCRYPTION_KEY", KEK),
    ]);
    assert!(
        on_postgres.log().contains("database: PostgreSQL"),
        "{}",
        on_postgres.log()
    );
    assert_eq!(seen(&on_postgres, &session, &key), before);

    // The open reservation commits there; the ledger row that records it follows the copied ones.
    let open_id = open["id"].as_str().unwrap();
    let (status, settled) = commit(&on_postgres, &key, open_id, 50);
    assert_eq!(status, 200, "{settled}");
    assert_eq!(settled["status"], "committed");
    assert!(largest_ledger_id(&on_postgres, &key) > copied_ledger);

    // A new licence is signed by the same active key.
    let (status, issued) = admin_post(
        &on_postgres,
        "/v1/admin/licenses",
        &json!({"product": "editor", "tier": "pro", "reason": "after the move"}),
    );
    assert_eq!(status, 201, "{issued}");
    assert_signed_by(issued["key"].as_str().unwrap(), &active_key);
    // The audit trail goes on from the copied entries, newest first.
    let mut response = http()
        .get(on_postgres.url("/v1/admin/audit"))
        .header("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
        .call()
        .expect("GET /v1/admin/audit");
    assert_eq!(response.status().as_u16(), 200);
    let audit: Value =
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    let entries = audit["entries"].as_array().unwrap();
    let trail: Vec<(&str, i64)> = entries
        .iter()
        .map(|entry| {
            (
                entry["action"].as_str().unwrap(),
                entry["id"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        trail,
        [
            ("license.issue", 3),
            ("keys.rotate", 2),
            ("credits.grant", 1)
        ]
    );
    assert!(on_postgres.stop(), "the PostgreSQL issuer stops cleanly");

    let check = issuer_command(
        &workspace,
        &["check-credits"],
        &[("DATABASE_URL", db.url())],
    );
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );

    // The target now holds data: a second copy is refused, and changes nothing.
    let (code, message) = refusal(&migrate(&workspace, &["--to", db.url()]));
    assert_eq!(code, 3, "{message}");
    assert_eq!(
        message,
        "error: nothing copied: the target database is not empty (table audit_log has rows): \
         copy only into a new, empty database"
    );

    // A SQLite database an older issuer left is refused before anything else.
    let old = workspace.path().join("old.sqlite3");
    let conn = rusqlite::Connection::open(&old).unwrap();
    conn.execute_batch("CREATE TABLE licenses (id TEXT); PRAGMA user_version = 4;")
        .unwrap();
    drop(conn);
    let (code, message) = refusal(&migrate(
        &workspace,
        &["--to", db.url(), "--from", old.to_str().unwrap()],
    ));
    assert_eq!(code, 4, "{message}");
    assert!(
        message.contains("start this issuer once on it"),
        "{message}"
    );
}

#[test]
fn a_bad_target_or_a_missing_source_is_refused_with_one_line() {
    let fake = FakeStripe::start();
    let workspace = workspace(&fake);
    let (code, message) = refusal(&migrate(&workspace, &["--to", "mysql://root@db/tessera"]));
    assert_eq!(
        (code, message.as_str()),
        (2, "error: --to: must be a postgres:// or postgresql:// URL")
    );
    let (code, message) = refusal(&migrate(
        &workspace,
        &["--to", "postgres://tessera@db:port/tessera"],
    ));
    assert_eq!(
        (code, message.as_str()),
        (
            2,
            "error: --to: is not a valid PostgreSQL URL: invalid value for option `port`"
        )
    );
    // The configured data directory holds no database yet.
    let (code, message) = refusal(&migrate(&workspace, &["--to", "postgres://tessera@db/t"]));
    assert_eq!(code, 2, "{message}");
    assert!(
        message.starts_with("error: nothing copied: no SQLite database at "),
        "{message}"
    );

    // With one, a server that cannot be reached is said at once, with its cause.
    let data = workspace.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    drop(SqliteStore::open(&data.join("tessera.sqlite3")).unwrap());
    let (code, message) = refusal(&migrate(
        &workspace,
        &["--to", "postgres://tessera:s3cret@127.0.0.1:1/tessera"],
    ));
    assert_eq!(code, 1, "{message}");
    assert!(
        message.starts_with(
            "error: cannot connect to postgres://tessera:***@127.0.0.1:1/tessera: error \
             connecting to server: "
        ),
        "{message}"
    );
}
