//! `tessera admin` against the real issuer: every command, its `--json` shape as ADMIN-API.md
//! specifies it (typed structs that refuse unknown fields), its human output, and its failures with
//! their exit codes. Licences come from signed Stripe events or from `licenses issue`; keys are
//! verified offline with `tessera verify`, before and after a key rotation.

use std::process::Output;

use assert_cmd::Command;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::credits::subscribe;
use super::harness::{get_json, Issuer, Workspace};
use super::seed::now;
use super::stripe_fixtures::{deliver, event, paid_session, FakeStripe};
use super::webhooks::config;
use crate::admin_cli::TokenJson;
use crate::util::{fails, stdout_of, Sandbox};

const DAY: u64 = 86_400;
/// 2030-01-01T00:00:00Z and 2031-01-01T00:00:00Z.
const Y2030: u64 = 1_893_456_000;
const Y2031: u64 = 1_924_992_000;
/// Licence ids no licence has.
const NO_SUCH_LICENCE: &str = "ffffffffffffffff";

// The shapes of ADMIN-API.md, as a client in another language would declare them.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LicenseJson {
    id: String,
    product: u32,
    product_name: Option<String>,
    tier: u8,
    tier_name: Option<String>,
    features: Vec<String>,
    status: String,
    expires_at: Option<u64>,
    email: Option<String>,
    customer_id: Option<String>,
    checkout_session_id: Option<String>,
    subscription_id: Option<String>,
    payment_intent_id: Option<String>,
    price_id: Option<String>,
    created_at: u64,
    updated_at: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IssuedKeyJson {
    key: String,
    signing_key_id: u32,
    issued_at: u64,
    expires_at: Option<u64>,
    reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscriptionJson {
    id: String,
    customer_id: Option<String>,
    price_id: Option<String>,
    paid_through: Option<u64>,
    canceled_at: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreditsJson {
    license_id: String,
    balances: BalancesJson,
    period: PeriodJson,
    reservations: Vec<ReservationJson>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct BalancesJson {
    period: u64,
    top_up: u64,
    available: u64,
    reserved: u64,
    period_reserved: u64,
    top_up_reserved: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PeriodJson {
    start: Option<u64>,
    end: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReservationJson {
    id: String,
    status: String,
    amount: u64,
    period_part: u64,
    top_up_part: u64,
    used: Option<u64>,
    reference: Option<String>,
    created_at: u64,
    expires_at: u64,
    settled_at: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventJson {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    status: String,
    error: Option<String>,
    attempts: u32,
    received_at: u64,
    processed_at: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditEntryJson {
    id: u64,
    at: u64,
    actor: String,
    action: String,
    license_id: Option<String>,
    reason: Option<String>,
    details: Value,
}

/// A licence's seats and machines (ADMIN-API.md "Machines").
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MachinesJson {
    license_id: String,
    seats: Option<Value>,
    active: u64,
    machines: Vec<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FoundJson {
    licenses: Vec<LicenseJson>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShownJson {
    license: LicenseJson,
    keys: Vec<IssuedKeyJson>,
    subscription: Option<SubscriptionJson>,
    credits: CreditsJson,
    machines: MachinesJson,
    webhook_events: Vec<EventJson>,
    audit: Vec<AuditEntryJson>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WithKeyJson {
    license: LicenseJson,
    key: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReissuedJson {
    license: LicenseJson,
    key: String,
    emailed: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokedJson {
    license: LicenseJson,
    revocation_sequence: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LicenseOnlyJson {
    license: LicenseJson,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LedgerJson {
    entries: Vec<LedgerEntryJson>,
    next_cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LedgerEntryJson {
    id: u64,
    kind: String,
    period: i64,
    top_up: i64,
    period_reserved: i64,
    top_up_reserved: i64,
    used: u64,
    shortfall: u64,
    reason: String,
    reference: Option<String>,
    reservation_id: Option<String>,
    at: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckJson {
    consistent: bool,
    mismatches: Vec<MismatchJson>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MismatchJson {
    license_id: String,
    cached: [i64; 4],
    ledger: [i64; 4],
    open_reservations: [i64; 2],
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsJson {
    events: Vec<EventJson>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventShownJson {
    event: EventJson,
    payload: Value,
    licenses: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetriedJson {
    event_id: String,
    status: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RotatedJson {
    active_key_id: u32,
    public_key: String,
    keys: Vec<PublishedKeyJson>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct PublishedKeyJson {
    key_id: u32,
    public_key: String,
    active: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysJson {
    keys: Vec<PublishedKeyJson>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditJson {
    entries: Vec<AuditEntryJson>,
}

fn parse<T: DeserializeOwned>(text: &str) -> T {
    assert_eq!(text.lines().count(), 1, "JSON is one line: {text}");
    serde_json::from_str(text).unwrap_or_else(|err| panic!("{err}: {text}"))
}

/// An issuer (the catalogue of `webhooks.rs`: product 7 `editor`, tiers free/pro/team, features
/// export/sync/cloud) with one admin token, `support`, made by `tessera admin token`; and the
/// `tessera` binary pointed at it.
struct Admin {
    sandbox: Sandbox,
    fake: FakeStripe,
    workspace: Workspace,
    issuer: Option<Issuer>,
    url: String,
    token: String,
}

impl Admin {
    fn start() -> Admin {
        let sandbox = Sandbox::new();
        let made: TokenJson = parse(&sandbox.ok(["--json", "admin", "token", "--name", "support"]));
        assert_eq!(made.name, "support");
        let fake = FakeStripe::start();
        let workspace = Workspace::new(&format!(
            "{}\n[admin]\ntokens = [{{ name = \"support\", sha256 = \"{}\" }}]\n",
            config(&fake),
            made.sha256
        ));
        let issuer = workspace.start();
        Admin {
            url: issuer.base_url().to_owned(),
            issuer: Some(issuer),
            sandbox,
            fake,
            workspace,
            token: made.token,
        }
    }

    fn issuer(&self) -> &Issuer {
        self.issuer.as_ref().expect("the issuer is running")
    }

    /// Stops the issuer gracefully.
    fn stop(&mut self) {
        assert!(self.issuer.take().expect("running").stop());
    }

    /// Stops the issuer if it runs, and starts it again on the same data (on a new port).
    fn restart(&mut self) {
        if self.issuer.is_some() {
            self.stop();
        }
        let issuer = self.workspace.start();
        self.url = issuer.base_url().to_owned();
        self.issuer = Some(issuer);
    }

    /// `tessera admin ARGS...` with the issuer's URL and the token in the environment.
    fn admin(&self, args: &[&str]) -> Command {
        let mut command = self.sandbox.tessera(["admin"]);
        command
            .env("TESSERA_URL", &self.url)
            .env("TESSERA_TOKEN", &self.token)
            .args(args);
        command
    }

    /// Runs `admin ARGS...`, expects success with nothing on stderr; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        stdout_of(self.admin(args).assert().success().stderr(""))
    }

    /// `admin --json ARGS...`, parsed.
    fn json<T: DeserializeOwned>(&self, args: &[&str]) -> T {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        parse(&self.ok(&all))
    }

    /// Runs `admin ARGS...`, expects exit `code` with one error line; returns it.
    fn fails(&self, args: &[&str], code: i32) -> String {
        let line = fails(self.admin(args).assert(), code);
        assert!(!line.contains(&self.token), "the token was printed: {line}");
        line
    }

    /// The public keys the issuer publishes, `GET /v1/keys`.
    fn published_keys(&self) -> Vec<PublishedKeyJson> {
        let (status, body) = get_json(&self.issuer().url("/v1/keys"));
        assert_eq!(status, 200, "{body}");
        serde_json::from_value::<KeysJson>(body).unwrap().keys
    }

    /// Exit code of `tessera verify KEY --public-key PK...` (each of `public_keys`) `ARGS...`.
    fn verify(&self, key: &str, public_keys: &[&str], args: &[&str]) -> i32 {
        let mut command = self.sandbox.tessera(["verify", key]);
        for public_key in public_keys {
            command.args(["--public-key", public_key]);
        }
        let output: Output = command.args(args).output().expect("run tessera verify");
        output.status.code().expect("an exit code")
    }

    /// The expiry signed into `key`, read by `tessera inspect`.
    fn signed_expiry(&self, key: &str) -> Option<u64> {
        let out = self.sandbox.ok(["--json", "inspect", key]);
        let inspected: Value = serde_json::from_str(&out).unwrap();
        inspected["claims"]["expires_at"].as_u64()
    }

    /// A licence bought through Checkout (`price_pro_year`, 365 days, export and sync) for
    /// buyer@example.com, customer `cus_test_buyer`; returns the session id and the event.
    fn buy(&self, payment_intent: &str) -> (String, Value) {
        let session = paid_session(
            "payment",
            json!({"metadata": {"tessera_price": "price_pro_year"},
                   "payment_intent": payment_intent}),
        );
        let id = session["id"].as_str().unwrap().to_owned();
        let completed = event("checkout.session.completed", session, now());
        let (status, body) = deliver(self.issuer(), &completed);
        assert_eq!((status, body["status"].as_str()), (200, Some("processed")));
        (id, completed)
    }

    /// `licenses issue ARGS...` (JSON): the new licence and its key.
    fn issue(&self, args: &[&str]) -> WithKeyJson {
        let mut all = vec!["licenses", "issue"];
        all.extend_from_slice(args);
        self.json(&all)
    }
}

fn actions(entries: &[AuditEntryJson]) -> Vec<&str> {
    entries.iter().map(|entry| entry.action.as_str()).collect()
}

#[test]
fn support_finds_a_bought_licence_shows_it_and_changes_it() {
    let admin = Admin::start();
    let (session, completed) = admin.buy("pi_admin_bought");
    let public_key = admin.published_keys()[0].public_key.clone();

    // Found by each search term; the human table has the id.
    let found: FoundJson = admin.json(&["licenses", "find", "--email", "buyer@example.com"]);
    assert_eq!(found.licenses.len(), 1, "{found:?}");
    let licence = &found.licenses[0];
    let id = licence.id.clone();
    assert_eq!(id.len(), 16);
    assert_eq!(
        (licence.product, licence.product_name.as_deref()),
        (7, Some("editor"))
    );
    assert_eq!(
        (licence.tier, licence.tier_name.as_deref()),
        (1, Some("pro"))
    );
    assert_eq!(licence.features, ["export", "sync"]);
    assert_eq!(licence.status, "active");
    assert_eq!(licence.email.as_deref(), Some("buyer@example.com"));
    assert_eq!(licence.customer_id.as_deref(), Some("cus_test_buyer"));
    assert_eq!(
        licence.checkout_session_id.as_deref(),
        Some(session.as_str())
    );
    assert_eq!(
        licence.payment_intent_id.as_deref(),
        Some("pi_admin_bought")
    );
    assert_eq!(licence.price_id.as_deref(), Some("price_pro_year"));
    assert_eq!(licence.subscription_id, None);
    assert!(licence.created_at <= licence.updated_at);
    let expires = licence.expires_at.expect("a yearly licence expires");
    assert!(expires >= now() + 364 * DAY, "{expires}");
    for term in [
        ["--customer", "cus_test_buyer"],
        ["--checkout-session", session.as_str()],
        ["--email", "BUYER@example.com"],
    ] {
        let found: FoundJson = admin.json(&["licenses", "find", term[0], term[1]]);
        assert_eq!(found.licenses.len(), 1, "{term:?}");
        assert_eq!(found.licenses[0].id, id, "{term:?}");
    }
    let table = admin.ok(&["licenses", "find", "--customer", "cus_test_buyer"]);
    assert!(table.contains("ID") && table.contains("STATUS"), "{table}");
    assert!(
        table.contains(&id) && table.contains("7 (editor)"),
        "{table}"
    );
    let nobody: FoundJson = admin.json(&["licenses", "find", "--email", "nobody@example.com"]);
    assert!(nobody.licenses.is_empty());
    assert!(admin
        .ok(&["licenses", "find", "--email", "nobody@example.com"])
        .contains("none"));

    // Everything about it.
    let shown: ShownJson = admin.json(&["licenses", "show", &id]);
    assert_eq!(shown.license.id, id);
    assert_eq!(shown.keys.len(), 1);
    let bought_key = shown.keys[0].key.clone();
    assert_eq!(shown.keys[0].reason, "purchase");
    assert_eq!(shown.keys[0].expires_at, Some(expires));
    assert!(shown.keys[0].issued_at <= now());
    assert!(shown.subscription.is_none());
    assert_eq!(shown.credits.license_id, id);
    assert_eq!(shown.credits.balances.available, 0);
    // A plan without machine activation: no seats, no machines (tests/issuer/machines.rs has more).
    assert_eq!(shown.machines.license_id, id);
    assert!(shown.machines.seats.is_none());
    assert_eq!(
        (shown.machines.active, shown.machines.machines.len()),
        (0, 0)
    );
    assert_eq!(shown.webhook_events.len(), 1);
    assert_eq!(
        shown.webhook_events[0].id,
        completed["id"].as_str().unwrap()
    );
    assert_eq!(shown.webhook_events[0].status, "processed");
    assert!(shown.audit.is_empty());
    assert_eq!(admin.verify(&bought_key, &[&public_key], &[]), 0);
    // Found by its key too, also from standard input.
    let found: FoundJson = admin.json(&["licenses", "find", "--key", &bought_key]);
    assert_eq!(found.licenses[0].id, id);
    let out = stdout_of(
        admin
            .admin(&["--json", "licenses", "find", "--key", "-"])
            .write_stdin(format!("{bought_key}\n"))
            .assert()
            .success(),
    );
    assert_eq!(parse::<FoundJson>(&out).licenses[0].id, id);

    // A lost key: a fresh one with the same claims (no SMTP: not e-mailed).
    let reissued: ReissuedJson = admin.json(&[
        "licenses", "reissue", &id, "--email", "--reason", "lost key",
    ]);
    // (Signed in the same second as the purchase, with the same claims, it is the same text.)
    assert_eq!(reissued.license.id, id);
    assert!(!reissued.emailed);
    assert_eq!(
        admin.verify(&reissued.key, &[&public_key], &["--product", "7"]),
        0
    );
    assert_eq!(admin.signed_expiry(&reissued.key), Some(expires));

    // Extended by days (from the current expiry), then to a date; each key carries the expiry.
    let extended: WithKeyJson = admin.json(&[
        "licenses",
        "extend",
        &id,
        "--days",
        "10",
        "--reason",
        "outage credit",
    ]);
    assert_eq!(extended.license.expires_at, Some(expires + 10 * DAY));
    assert_eq!(admin.signed_expiry(&extended.key), Some(expires + 10 * DAY));
    let text = admin.ok(&[
        "licenses",
        "extend",
        &id,
        "--until",
        "2031-01-01",
        "--reason",
        "goodwill",
    ]);
    assert!(
        text.starts_with(&format!("extended licence {id}\n")),
        "{text}"
    );
    assert!(text.contains("2031-01-01T00:00:00Z"), "{text}");
    let key_line = text
        .lines()
        .find_map(|line| line.trim_start().strip_prefix("key:"))
        .unwrap_or_else(|| panic!("no key line: {text}"));
    assert_eq!(admin.signed_expiry(key_line.trim()), Some(Y2031));

    // Suspended, refused twice, reinstated, refused twice.
    let suspended: LicenseOnlyJson =
        admin.json(&["licenses", "suspend", &id, "--reason", "payment dispute"]);
    assert_eq!(suspended.license.status, "suspended");
    let line = admin.fails(&["licenses", "suspend", &id, "--reason", "again"], 23);
    assert!(line.contains("already_suspended"), "{line}");
    let reinstated: LicenseOnlyJson =
        admin.json(&["licenses", "reinstate", &id, "--reason", "dispute won"]);
    assert_eq!(reinstated.license.status, "active");
    let line = admin.fails(&["licenses", "reinstate", &id, "--reason", "again"], 23);
    assert!(line.contains("409 not_suspended"), "{line}");

    // Revoked: in the next signed revocation list, which apps then refuse it by offline.
    let revoked: RevokedJson = admin.json(&["licenses", "revoke", &id, "--reason", "chargeback"]);
    assert_eq!(revoked.license.status, "revoked");
    assert!(revoked.revocation_sequence >= 1);
    let line = admin.fails(&["licenses", "revoke", &id, "--reason", "again"], 23);
    assert!(line.contains("already_revoked"), "{line}");
    let line = admin.fails(&["licenses", "reissue", &id], 23);
    assert!(line.contains("revoked"), "{line}");
    let (_, list) = get_json(&admin.issuer().url("/v1/revocations"));
    assert_eq!(list["sequence"], revoked.revocation_sequence);
    let list_file = admin
        .sandbox
        .write("revocations.txt", list["list"].as_str().unwrap());
    let list_file = list_file.to_str().unwrap();
    // The list itself, and the whole answer saved as it came.
    let answer_file = admin.sandbox.write("revocations.json", &list.to_string());
    for file in [list_file, answer_file.to_str().unwrap()] {
        assert_eq!(
            admin.verify(&reissued.key, &[&public_key], &["--revocations", file]),
            15
        );
    }

    // The human view of all that; then the audit trail, newest first, under the token's name.
    let text = admin.ok(&["licenses", "show", &id]);
    assert!(text.starts_with(&format!("licence {id}\n")), "{text}");
    for part in [
        "status:",
        "revoked",
        "keys (oldest first):",
        "purchase",
        "reissue",
        &bought_key,
        "webhook events (newest first):",
        "checkout.session.completed",
        "audit trail (newest first):",
        "license.revoke",
        "chargeback",
    ] {
        assert!(text.contains(part), "{part} missing from:\n{text}");
    }
    let shown: ShownJson = admin.json(&["licenses", "show", &id]);
    assert_eq!(shown.keys.len(), 4, "purchase, reissue, two extensions");
    let expected = [
        "license.revoke",
        "license.reinstate",
        "license.suspend",
        "license.extend",
        "license.extend",
        "license.reissue",
    ];
    assert_eq!(actions(&shown.audit), expected);
    let audit: AuditJson = admin.json(&["audit", "list", "--license", &id]);
    assert_eq!(actions(&audit.entries), expected);
    assert!(audit.entries.iter().all(|entry| entry.actor == "support"));
    assert!(audit
        .entries
        .iter()
        .all(|entry| entry.license_id.as_deref() == Some(id.as_str())));
    assert_eq!(audit.entries[0].reason.as_deref(), Some("chargeback"));
    assert_eq!(audit.entries[4].reason.as_deref(), Some("outage credit"));
    assert_eq!(audit.entries[4].details["days"], 10);
    assert_eq!(audit.entries[3].details["until"], Y2031);
    assert!(audit
        .entries
        .windows(2)
        .all(|w| w[0].id > w[1].id && w[0].at >= w[1].at));
    let last: AuditJson = admin.json(&["audit", "list", "--limit", "1"]);
    assert_eq!(actions(&last.entries), ["license.revoke"]);
    let text = admin.ok(&["audit", "list", "--license", &id]);
    assert!(text.contains("ACTOR") && text.contains("support"), "{text}");
    assert!(text.contains("payment dispute"), "{text}");
}

#[test]
fn manual_licences_and_credits_from_grant_to_the_ledger_check() {
    let admin = Admin::start();
    let public_key = admin.published_keys()[0].public_key.clone();

    // A comp licence by names, 30 days.
    let before = now();
    let comp = admin.issue(&[
        "--product",
        "editor",
        "--tier",
        "pro",
        "--feature",
        "export",
        "--feature",
        "1",
        "--days",
        "30",
        "--email",
        "reviewer@example.com",
        "--reason",
        "press copy",
    ]);
    let id = comp.license.id.clone();
    assert_eq!(comp.license.product, 7);
    assert_eq!(comp.license.tier_name.as_deref(), Some("pro"));
    assert_eq!(comp.license.features, ["export", "sync"]);
    assert_eq!(comp.license.email.as_deref(), Some("reviewer@example.com"));
    assert_eq!(comp.license.status, "active");
    let expires = comp.license.expires_at.unwrap();
    assert!((before + 30 * DAY..=now() + 30 * DAY).contains(&expires));
    assert_eq!(
        admin.verify(
            &comp.key,
            &[&public_key],
            &[
                "--product",
                "7",
                "--require-feature",
                "1",
                "--require-tier",
                "1"
            ]
        ),
        0
    );
    // By numbers, to a date; and perpetual, which cannot be extended.
    let dated = admin.issue(&["--product", "7", "--tier", "2", "--expires", "2030-01-01"]);
    assert_eq!(dated.license.expires_at, Some(Y2030));
    assert_eq!(dated.license.tier_name.as_deref(), Some("team"));
    assert_eq!(admin.signed_expiry(&dated.key), Some(Y2030));
    let text = admin.ok(&["licenses", "issue", "--product", "editor", "--tier", "free"]);
    assert!(text.starts_with("issued licence "), "{text}");
    assert!(text.contains("never"), "{text}");
    let perpetual = text
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("issued licence ");
    let line = admin.fails(
        &[
            "licenses", "extend", perpetual, "--days", "5", "--reason", "r",
        ],
        23,
    );
    assert!(line.contains("409 perpetual"), "{line}");
    for (args, code) in [
        (
            &["--product", "nope", "--tier", "pro"][..],
            "unknown_product",
        ),
        (&["--product", "editor", "--tier", "gold"], "unknown_tier"),
        (
            &["--product", "editor", "--tier", "pro", "--feature", "ai"],
            "unknown_feature",
        ),
        (
            &[
                "--product",
                "editor",
                "--tier",
                "pro",
                "--expires",
                "2020-01-01",
            ],
            "invalid_expiry",
        ),
    ] {
        let mut all = vec!["licenses", "issue"];
        all.extend_from_slice(args);
        let line = admin.fails(&all, 23);
        assert!(line.contains(&format!("422 {code}")), "{args:?}: {line}");
    }
    let audit: AuditJson = admin.json(&["audit", "list", "--license", &id]);
    assert_eq!(actions(&audit.entries), ["license.issue"]);
    assert_eq!(audit.entries[0].reason.as_deref(), Some("press copy"));

    // Credits: none, a grant, a deduction, one too large.
    let credits: CreditsJson = admin.json(&["credits", "show", &id]);
    assert_eq!(credits.license_id, id);
    assert_eq!(credits.balances.available, 0);
    assert!(credits.reservations.is_empty());
    assert_eq!((credits.period.start, credits.period.end), (None, None));
    let granted: CreditsJson =
        admin.json(&["credits", "grant", &id, "500", "--reason", "launch bonus"]);
    assert_eq!(
        granted.balances,
        BalancesJson {
            period: 0,
            top_up: 500,
            available: 500,
            reserved: 0,
            period_reserved: 0,
            top_up_reserved: 0,
        }
    );
    let text = admin.ok(&["credits", "deduct", &id, "200", "--reason", "manual job"]);
    assert!(
        text.starts_with(&format!("credits of licence {id}\n")),
        "{text}"
    );
    assert!(
        text.contains("available:") && text.contains("300"),
        "{text}"
    );
    assert!(text.contains("open reservations: none"), "{text}");
    let line = admin.fails(&["credits", "deduct", &id, "10000", "--reason", "x"], 23);
    assert!(
        line.contains("409 insufficient_credits")
            && line.contains("10000 credits needed, 300 available"),
        "{line}"
    );
    let line = admin.fails(
        &["credits", "grant", NO_SUCH_LICENCE, "5", "--reason", "x"],
        22,
    );
    assert!(line.contains("404"), "{line}");

    // The ledger: two adjustments, a page at a time.
    let ledger: LedgerJson = admin.json(&["credits", "ledger", &id]);
    assert_eq!(ledger.next_cursor, None);
    let changes: Vec<(&str, i64, i64, &str)> = ledger
        .entries
        .iter()
        .map(|entry| {
            (
                entry.kind.as_str(),
                entry.period,
                entry.top_up,
                entry.reason.as_str(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            ("adjustment", 0, 500, "launch bonus"),
            ("adjustment", 0, -200, "manual job")
        ]
    );
    assert!(ledger.entries.iter().all(|entry| {
        entry.reference.as_deref() == Some("admin:support")
            && (entry.period_reserved, entry.top_up_reserved) == (0, 0)
            && (entry.used, entry.shortfall) == (0, 0)
            && entry.reservation_id.is_none()
            && entry.at <= now()
    }));
    let first: LedgerJson = admin.json(&["credits", "ledger", &id, "--limit", "1"]);
    assert_eq!(first.entries.len(), 1);
    let cursor = first.next_cursor.expect("a second page");
    let second: LedgerJson = admin.json(&[
        "credits", "ledger", &id, "--limit", "1", "--cursor", &cursor,
    ]);
    assert_eq!(second.entries[0].id, ledger.entries[1].id);
    let text = admin.ok(&["credits", "ledger", &id, "--limit", "1"]);
    assert!(
        text.contains("+500") && text.contains(&format!("--cursor {cursor}")),
        "{text}"
    );
    let line = admin.fails(&["credits", "ledger", &id, "--cursor", "bogus"], 23);
    assert!(line.contains("invalid_cursor"), "{line}");

    // A reservation made with the licence key shows among its credits and in its ledger.
    let (status, reservation) = reserve(admin.issuer(), &comp.key, 50);
    assert_eq!(status, 201, "{reservation}");
    let credits: CreditsJson = admin.json(&["credits", "show", &id]);
    assert_eq!(
        (credits.balances.available, credits.balances.reserved),
        (250, 50)
    );
    assert_eq!(credits.reservations.len(), 1);
    let open = &credits.reservations[0];
    assert_eq!(open.id, reservation["id"].as_str().unwrap());
    assert_eq!((open.status.as_str(), open.amount), ("open", 50));
    assert_eq!((open.period_part, open.top_up_part), (0, 50));
    assert_eq!((open.used, open.settled_at), (None, None));
    assert_eq!(open.reference.as_deref(), Some("render 1"));
    assert!(open.created_at < open.expires_at);
    let text = admin.ok(&["credits", "show", &id]);
    assert!(
        text.contains("open reservations:") && text.contains(&open.id),
        "{text}"
    );
    let ledger: LedgerJson = admin.json(&["credits", "ledger", &id]);
    let last = ledger.entries.last().unwrap();
    assert_eq!(last.kind, "reservation");
    assert_eq!(last.reservation_id.as_deref(), Some(open.id.as_str()));
    assert_eq!(last.period_reserved + last.top_up_reserved, 50);

    // The ledger check: consistent; then a cached balance changed behind the issuer's back.
    let check: CheckJson = admin.json(&["credits", "check"]);
    assert!(check.consistent && check.mismatches.is_empty(), "{check:?}");
    assert!(admin.ok(&["credits", "check"]).contains("consistent"));
    let db = rusqlite::Connection::open(admin.workspace.path().join("data/tessera.sqlite3"))
        .expect("open the issuer's database");
    db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    let changed = db
        .execute(
            "UPDATE credit_accounts SET top_up_balance = top_up_balance + 7 WHERE license_id = ?1",
            [&id],
        )
        .expect("update");
    assert_eq!(changed, 1);
    let output = admin
        .admin(&["--json", "credits", "check"])
        .assert()
        .code(25);
    let check: CheckJson = parse(&String::from_utf8_lossy(&output.get_output().stdout));
    assert!(!check.consistent);
    assert_eq!(check.mismatches.len(), 1);
    let mismatch = &check.mismatches[0];
    assert_eq!(mismatch.license_id, id);
    assert_eq!(mismatch.cached[1] - mismatch.ledger[1], 7);
    assert_eq!(mismatch.open_reservations, [0, 50]);
    let output = admin.admin(&["credits", "check"]).assert().code(25);
    let output = output.get_output();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.contains(&id), "{stdout}");
    assert!(
        stdout.contains(&format!("{:?}", mismatch.cached)),
        "{stdout}"
    );
    assert_eq!(
        stderr,
        "error: 1 credit account(s) differ from their ledger\n"
    );
}

/// `POST /v1/credits/reservations` of `amount` with licence `key` (reference `render 1`).
fn reserve(issuer: &Issuer, key: &str, amount: u64) -> (u16, Value) {
    let mut response = super::harness::http()
        .post(&issuer.url("/v1/credits/reservations"))
        .header("authorization", &format!("License {key}"))
        .header("idempotency-key", "admin-test-1")
        .header("content-type", "application/json")
        .send(json!({"amount": amount, "reference": "render 1"}).to_string())
        .expect("POST reservation");
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().expect("body");
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

#[test]
fn a_subscription_licence_shows_its_subscription_and_period_credits() {
    let admin = Admin::start();
    let period_end = now() + 30 * DAY;
    // Checkout, then the first invoice, which brings the period's credits.
    let (subscription, _) = subscribe(admin.issuer(), &admin.fake, period_end);

    let found: FoundJson = admin.json(&["licenses", "find", "--subscription", &subscription]);
    assert_eq!(found.licenses.len(), 1);
    let id = found.licenses[0].id.clone();
    assert_eq!(
        found.licenses[0].subscription_id.as_deref(),
        Some(subscription.as_str())
    );
    let shown: ShownJson = admin.json(&["licenses", "show", &id]);
    let sub = shown.subscription.expect("the licence's subscription");
    assert_eq!(sub.id, subscription);
    assert!(sub.customer_id.is_some());
    assert_eq!(sub.price_id.as_deref(), Some("price_pro_monthly"));
    assert_eq!(sub.paid_through, Some(period_end));
    assert_eq!(sub.canceled_at, None);
    assert_eq!(
        shown.credits.balances.period, 100,
        "the plan's credits per period"
    );
    assert_eq!(shown.credits.period.end, Some(period_end));
    assert!(shown.credits.period.start.is_some());
    let text = admin.ok(&["licenses", "show", &id]);
    assert!(
        text.contains(&format!("subscription {subscription}\n")),
        "{text}"
    );
    assert!(text.contains("paid period:"), "{text}");
}

#[test]
fn webhook_deliveries_are_listed_shown_and_retried() {
    let admin = Admin::start();
    let (session, completed) = admin.buy("pi_admin_hooks");
    let good = completed["id"].as_str().unwrap().to_owned();
    // An event whose price cannot be resolved yet: recorded as failed.
    let pending = paid_session("payment", json!({}));
    let pending_session = pending["id"].as_str().unwrap().to_owned();
    let failing = event("checkout.session.completed", pending, now());
    let bad = failing["id"].as_str().unwrap().to_owned();
    let (status, _) = deliver(admin.issuer(), &failing);
    assert_eq!(status, 500);

    // Newest first, to the second (both arrive within one here, so their order is not pinned).
    let all: EventsJson = admin.json(&["webhooks", "list"]);
    let mut ids: Vec<&str> = all.events.iter().map(|e| e.id.as_str()).collect();
    assert!(all
        .events
        .windows(2)
        .all(|w| w[0].received_at >= w[1].received_at));
    ids.sort_unstable();
    let mut expected = [bad.as_str(), good.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected);
    let failed: EventsJson = admin.json(&["webhooks", "list", "--failed"]);
    assert_eq!(failed.events.len(), 1);
    let failure = &failed.events[0];
    assert_eq!(
        (failure.id.as_str(), failure.status.as_str()),
        (bad.as_str(), "failed")
    );
    assert_eq!(failure.attempts, 1);
    assert!(failure.error.is_some(), "{failure:?}");
    assert_eq!(failure.event_type, "checkout.session.completed");
    let some: EventsJson = admin.json(&[
        "webhooks",
        "list",
        "--type",
        "checkout.session.completed",
        "--limit",
        "1",
    ]);
    assert_eq!(some.events.len(), 1);
    let none: EventsJson = admin.json(&["webhooks", "list", "--type", "invoice.paid"]);
    assert!(none.events.is_empty());
    let text = admin.ok(&["webhooks", "list"]);
    assert!(
        text.contains("ATTEMPTS") && text.contains(&bad) && text.contains(&good),
        "{text}"
    );

    let shown: EventShownJson = admin.json(&["webhooks", "show", &good]);
    assert_eq!(shown.event.id, good);
    assert_eq!(shown.event.status, "processed");
    assert!(shown.event.processed_at.is_some() && shown.event.received_at <= now());
    assert_eq!(shown.payload, completed, "the event as Stripe sent it");
    let found: FoundJson = admin.json(&["licenses", "find", "--checkout-session", &session]);
    assert_eq!(shown.licenses, [found.licenses[0].id.clone()]);
    let text = admin.ok(&["webhooks", "show", &good]);
    assert!(text.starts_with(&format!("event {good}\n")), "{text}");
    assert!(
        text.contains("payload (as Stripe sent it):") && text.contains(&session),
        "{text}"
    );

    // Retried while the price is still unknown: fails again (5xx); once Stripe's API knows the
    // session, the retry issues the licence, once.
    let line = admin.fails(&["webhooks", "retry", &bad], 24);
    assert!(line.contains("processing_failed"), "{line}");
    admin.fake.line_items(&pending_session, &["price_pro_year"]);
    let retried: RetriedJson = admin.json(&["webhooks", "retry", &bad]);
    assert_eq!(
        (retried.event_id.as_str(), retried.status.as_str()),
        (bad.as_str(), "processed")
    );
    let found: FoundJson =
        admin.json(&["licenses", "find", "--checkout-session", &pending_session]);
    assert_eq!(found.licenses.len(), 1);
    let again = admin.ok(&["webhooks", "retry", &bad]);
    assert_eq!(
        again,
        format!("event {bad}: duplicate: it had already taken effect; nothing changed\n")
    );
    let retried: RetriedJson = admin.json(&["webhooks", "retry", &good]);
    assert_eq!(retried.status, "duplicate");
    let failed: EventsJson = admin.json(&["webhooks", "list", "--failed"]);
    assert!(failed.events.is_empty(), "{failed:?}");

    let audit: AuditJson = admin.json(&["audit", "list"]);
    assert_eq!(actions(&audit.entries), ["webhook.retry"; 4]);
    assert_eq!(audit.entries[3].details["event_id"], bad.as_str());
    assert_eq!(audit.entries[3].details["outcome"], "failed");
    assert_eq!(audit.entries[2].details["outcome"], "processed");
    assert!(audit.entries.iter().all(|entry| entry.license_id.is_none()));

    let line = admin.fails(&["webhooks", "show", "evt_never_received"], 22);
    assert!(line.contains("no Stripe event"), "{line}");
    admin.fails(&["webhooks", "retry", "evt_never_received"], 22);
}

#[test]
fn licences_signed_before_and_after_a_key_rotation_both_verify_offline() {
    let mut admin = Admin::start();
    let old_keys = admin.published_keys();
    assert_eq!(old_keys.len(), 1);
    let old = old_keys[0].public_key.clone();
    let before = admin.issue(&["--product", "editor", "--tier", "pro", "--days", "30"]);

    let rotated: RotatedJson = admin.json(&["keys", "rotate", "--reason", "yearly rotation"]);
    assert_ne!(rotated.active_key_id, old_keys[0].key_id);
    assert_eq!(rotated.keys.len(), 2);
    let active: Vec<&PublishedKeyJson> = rotated.keys.iter().filter(|k| k.active).collect();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].key_id, rotated.active_key_id);
    assert_eq!(active[0].public_key, rotated.public_key);
    assert_eq!(
        rotated.keys,
        admin.published_keys(),
        "the same list GET /v1/keys serves"
    );
    let new = rotated.public_key.clone();

    let after = admin.issue(&["--product", "editor", "--tier", "pro", "--days", "30"]);
    let shown: ShownJson = admin.json(&["licenses", "show", &after.license.id]);
    assert_eq!(shown.keys[0].signing_key_id, rotated.active_key_id);
    let shown: ShownJson = admin.json(&["licenses", "show", &before.license.id]);
    assert_eq!(shown.keys[0].signing_key_id, old_keys[0].key_id);

    // Apps that trust every published key accept both; each key alone accepts only its own.
    let published: Vec<String> = admin
        .published_keys()
        .into_iter()
        .map(|key| key.public_key)
        .collect();
    let every: Vec<&str> = published.iter().map(String::as_str).collect();
    for key in [&before.key, &after.key] {
        assert_eq!(admin.verify(key, &every, &["--product", "7"]), 0);
    }
    assert_eq!(admin.verify(&before.key, &[&old], &[]), 0);
    assert_eq!(admin.verify(&after.key, &[&new], &[]), 0);
    assert_eq!(admin.verify(&after.key, &[&old], &[]), 12, "unknown key id");
    assert_eq!(admin.verify(&before.key, &[&new], &[]), 12);
    // The README's recipe: GET /v1/keys saved to a file is a --public-key for licences of every key.
    let (status, published) = get_json(&admin.issuer().url("/v1/keys"));
    assert_eq!(status, 200, "{published}");
    admin
        .sandbox
        .write("issuer-keys.json", &published.to_string());
    for key in [&before.key, &after.key] {
        assert_eq!(admin.verify(key, &["issuer-keys.json"], &[]), 0);
    }

    // After a restart the rotated key still signs, and both are still published.
    admin.restart();
    let later = admin.issue(&["--product", "editor", "--tier", "pro"]);
    assert_eq!(admin.verify(&later.key, &[&new], &[]), 0);
    assert_eq!(admin.published_keys(), rotated.keys);
    let audit: AuditJson = admin.json(&["audit", "list", "--limit", "5"]);
    let rotation = audit
        .entries
        .iter()
        .find(|entry| entry.action == "keys.rotate")
        .expect("the rotation is audited");
    assert_eq!(rotation.reason.as_deref(), Some("yearly rotation"));
    assert_eq!(rotation.details["key_id"], rotated.active_key_id);

    // The human output, and the limit of trusted keys (8): then 409 too_many_keys.
    let text = admin.ok(&["keys", "rotate"]);
    assert!(
        text.starts_with("signing key rotated: new licences are signed with key "),
        "{text}"
    );
    assert!(text.contains("KEY ID") && text.contains(&old), "{text}");
    for _ in 3..8 {
        let _: RotatedJson = admin.json(&["keys", "rotate"]);
    }
    assert_eq!(admin.published_keys().len(), 8);
    let line = admin.fails(&["keys", "rotate"], 23);
    assert!(line.contains("409 too_many_keys"), "{line}");
}

#[test]
fn refusals_have_their_exit_codes_and_never_show_the_token() {
    let mut admin = Admin::start();
    let licence = admin.issue(&["--product", "editor", "--tier", "pro"]);
    let id = licence.license.id.as_str();

    // A wrong token, or one that is not a token: 401, the same message.
    for token in [
        "tsadm_0000000000000000000000000000000000000000000000000000000000000000",
        "not-a-token",
    ] {
        for args in [&["licenses", "show", id][..], &["credits", "check"]] {
            let mut command = admin.admin(args);
            command.env("TESSERA_TOKEN", token);
            let line = fails(command.assert(), 21);
            assert_eq!(line, "error: the server refused the admin token (401)");
        }
    }
    // Nothing by that id: 404, with the issuer's words.
    for args in [
        &["licenses", "show", NO_SUCH_LICENCE][..],
        &["licenses", "revoke", NO_SUCH_LICENCE, "--reason", "x"],
        &[
            "licenses",
            "extend",
            NO_SUCH_LICENCE,
            "--days",
            "1",
            "--reason",
            "x",
        ],
        &["licenses", "reissue", NO_SUCH_LICENCE],
        &["credits", "show", NO_SUCH_LICENCE],
        &["credits", "ledger", NO_SUCH_LICENCE],
    ] {
        let line = admin.fails(args, 22);
        assert!(line.contains("no licence by that id"), "{args:?}: {line}");
    }
    // A missing reason is caught before any request: nothing is audited.
    let line = admin.fails(&["licenses", "revoke", id], 2);
    assert!(line.contains("--reason"), "{line}");
    admin.fails(&["credits", "grant", id, "5"], 2);
    let audit: AuditJson = admin.json(&["audit", "list"]);
    assert_eq!(actions(&audit.entries), ["license.issue"]);
    // --json failures print no JSON.
    admin.fails(&["--json", "licenses", "show", NO_SUCH_LICENCE], 22);
    // Neither the token nor a licence key reaches the issuer's log; the token's name may.
    let log = admin.issuer().log();
    assert!(
        !log.contains(&admin.token),
        "the admin token reached the log"
    );
    assert!(
        !log.contains(licence.key.as_str()),
        "a licence key reached the log"
    );
    assert!(log.contains("admin request refused"), "{log}");

    // The issuer stopped: 20, naming its URL.
    let url = admin.url.clone();
    admin.stop();
    let line = admin.fails(&["licenses", "show", id], 20);
    assert!(line.contains(&url), "{line}");
    let line = admin.fails(&["--json", "audit", "list"], 20);
    assert!(line.contains(&url), "{line}");
    // Back up: it remembers.
    admin.restart();
    let shown: ShownJson = admin.json(&["licenses", "show", id]);
    assert_eq!(shown.license.status, "active");
}

#[test]
fn the_embedded_default_makes_a_development_admin_token() {
    let workspace = Workspace::new("");
    let issuer = workspace.start_embedded_default();
    let path = workspace.path().join("tessera-data/dev-admin-token");
    let token = std::fs::read_to_string(&path).expect("the development admin token");
    let token = token.trim();
    assert!(
        token.starts_with("tsadm_") && token.len() == 6 + 64,
        "{token}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let sandbox = Sandbox::new();
    let run = |args: &[&str]| {
        let mut command = sandbox.tessera(["--json", "admin"]);
        command
            .args(["--url", issuer.base_url()])
            .env("TESSERA_TOKEN", token)
            .args(args);
        stdout_of(command.assert().success().stderr(""))
    };
    let issued: WithKeyJson = parse(&run(&[
        "licenses",
        "issue",
        "--product",
        "demo-app",
        "--tier",
        "pro",
        "--feature",
        "export",
    ]));
    assert_eq!(issued.license.product_name.as_deref(), Some("demo-app"));
    let audit: AuditJson = parse(&run(&["audit", "list"]));
    assert_eq!(audit.entries[0].actor, "dev");
}

#[test]
fn answers_carrying_licence_keys_are_never_cached_and_session_ids_stay_out_of_the_log() {
    let admin = Admin::start();
    let (session, _) = admin.buy("pi_test_no_store");
    let issuer = admin.issuer();
    let agent = super::harness::http();
    let get = |path: &str, token: Option<&str>| {
        let mut request = agent.get(&issuer.url(path));
        if let Some(token) = token {
            request = request.header("authorization", &format!("Bearer {token}"));
        }
        let mut response = request.call().expect("GET");
        let cache_control = response
            .headers()
            .get("cache-control")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let body: Value =
            serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
        (response.status().as_u16(), cache_control, body)
    };
    let (status, cache_control, found) = get(
        &format!("/v1/admin/licenses?checkout_session={session}"),
        Some(&admin.token),
    );
    assert_eq!((status, cache_control.as_deref()), (200, Some("no-store")));
    let id = found["licenses"][0]["id"].as_str().unwrap().to_owned();
    let (status, cache_control, shown) =
        get(&format!("/v1/admin/licenses/{id}"), Some(&admin.token));
    assert_eq!((status, cache_control.as_deref()), (200, Some("no-store")));
    let key = shown["keys"][0]["key"].as_str().unwrap();
    assert!(key.starts_with("ts1_"), "{shown}");
    // Refusals too: every admin answer.
    let (status, cache_control, _) = get(&format!("/v1/admin/licenses/{id}"), None);
    assert_eq!((status, cache_control.as_deref()), (401, Some("no-store")));
    let (status, cache_control, _) =
        get(&format!("/v1/licenses/by-checkout-session/{session}"), None);
    assert_eq!((status, cache_control.as_deref()), (200, Some("no-store")));

    // The session id fetches the key, so the log names the licence instead.
    let log = issuer.log();
    assert!(
        log.lines()
            .any(|line| line.contains("licence issued") && line.contains(&id)),
        "{log}"
    );
    assert!(
        !log.contains(&session),
        "a checkout session id reached the log:\n{log}"
    );
}
