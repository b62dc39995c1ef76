//! `POST /v1/webhooks/stripe` end to end: events built from Stripe's fixtures, signed as Stripe signs
//! them, sent to the real issuer, with a local stand-in for Stripe's API.

use std::process::Command;

use serde_json::{json, Value};
use tessera_issuer::store::LicenseQuery;

use super::harness::{get_json, Issuer, Workspace};
use super::seed::now;
use super::stripe_fixtures::{
    deliver, event, fixture, paid_invoice, paid_session, post_raw, signature, subscription_object,
    unique, with, FakeStripe, SECRET,
};

const DAY: u64 = 86_400;

/// A catalogue of one product, a yearly and a perpetual licence, two monthly plans and a top-up.
pub(super) fn config(fake: &FakeStripe) -> String {
    format!(
        r#"
[licenses]
grace_days = 7

[stripe]
webhook_secrets = ["whsec_rotated_out", "{SECRET}"]
secret_key = "sk_test_tessera"
api_base = "{}"

[[products]]
id = 7
name = "editor"
tiers = ["free", "pro", "team"]
features = ["export", "sync", "cloud"]

[[prices]]
id = "price_pro_year"
product = "editor"
tier = "pro"
features = ["export", "sync"]
duration_days = 365

[[prices]]
id = "price_pro_forever"
product = "editor"
tier = "pro"
features = ["export"]
perpetual = true

[[prices]]
id = "price_pro_monthly"
product = "editor"
tier = "pro"
features = ["export", "sync"]
credits_per_period = 100

[[prices]]
id = "price_team_monthly"
product = "editor"
tier = "team"
features = ["export", "sync", "cloud"]
credits_per_period = 1000

[[prices]]
id = "price_credits_500"
topup_credits = 500
"#,
        fake.base_url
    )
}

pub(super) fn setup() -> (Workspace, FakeStripe) {
    let fake = FakeStripe::start();
    (Workspace::new(&config(&fake)), fake)
}

/// Runs `test` on what [`setup`] makes, but with the issuers on a PostgreSQL database of their own
/// (see [`Workspace::on_postgres`]); without PostgreSQL, skips it after a notice.
pub(super) fn on_postgres(test: impl FnOnce((Workspace, FakeStripe))) {
    let fake = FakeStripe::start();
    if let Some(workspace) = Workspace::on_postgres(&config(&fake)) {
        test((workspace, fake));
    }
}

pub(super) fn db(workspace: &Workspace) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(
        workspace.path().join("data/tessera.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open the issuer's database")
}

pub(super) fn count(workspace: &Workspace, sql: &str, param: &str) -> i64 {
    db(workspace)
        .query_row(sql, [param], |row| row.get(0))
        .expect(sql)
}

/// `(status, error, attempts)` of the recorded delivery of `event`.
pub(super) fn delivery(workspace: &Workspace, event: &Value) -> (String, Option<String>, i64) {
    let recorded = workspace
        .store()
        .delivery(event["id"].as_str().unwrap())
        .expect("read the delivery")
        .expect("a recorded delivery");
    (
        recorded.status.as_str().to_owned(),
        recorded.error,
        i64::from(recorded.attempts),
    )
}

pub(super) fn licence(issuer: &Issuer, session: &str) -> Value {
    let (status, body) =
        get_json(&issuer.url(&format!("/v1/licenses/by-checkout-session/{session}")));
    assert_eq!(status, 200, "{body}");
    body
}

/// product, tier, features, expiry and status of the licence that follows `subscription`, and how
/// many licences follow it.
fn subscription_licence(workspace: &Workspace, subscription: &str) -> (Value, i64) {
    let conn = db(workspace);
    let state = conn
        .query_row(
            "SELECT product, tier, features, expires_at, status FROM licenses WHERE subscription_id = ?1",
            [subscription],
            |row| {
                Ok(json!([
                    row.get::<_, i64>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, Option<i64>>(3)?,
                    row.get::<_, String>(4)?
                ]))
            },
        )
        .expect("a licence for the subscription");
    let n = count(
        workspace,
        "SELECT count(*) FROM licenses WHERE subscription_id = ?1",
        subscription,
    );
    (state, n)
}

/// How many licences `query` finds, and how many keys they have between them.
fn licences_and_keys(workspace: &Workspace, query: LicenseQuery) -> (i64, i64) {
    let store = workspace.store();
    let found = store.find_licenses(&query, 100).expect("find the licences");
    let keys = found
        .iter()
        .map(|found| {
            let (_, keys) = store
                .license(&found.id)
                .expect("read the licence")
                .expect("a licence found is on record");
            keys.len() as i64
        })
        .sum();
    (found.len() as i64, keys)
}

/// How many keys the licence that follows `subscription` has.
pub(super) fn keys_of_subscription(workspace: &Workspace, subscription: &str) -> i64 {
    licences_and_keys(
        workspace,
        LicenseQuery::Subscription(subscription.to_owned()),
    )
    .1
}

/// How many licences checkout session `session` made, and how many keys they have between them.
pub(super) fn licences_and_keys_of_session(workspace: &Workspace, session: &str) -> (i64, i64) {
    licences_and_keys(workspace, LicenseQuery::CheckoutSession(session.to_owned()))
}

pub(super) fn public_key(issuer: &Issuer) -> String {
    let (_, keys) = get_json(&issuer.url("/v1/keys"));
    keys["keys"][0]["public_key"].as_str().unwrap().to_owned()
}

/// Exit code of `tessera verify KEY --public-key PK ARGS…`.
pub(super) fn tessera_verify(key: &str, public_key: &str, args: &[&str]) -> i32 {
    Command::new(crate::util::tessera_bin())
        .args(["verify", key, "--public-key", public_key])
        .args(args)
        .output()
        .expect("run tessera verify")
        .status
        .code()
        .expect("exit code")
}

/// Status and JSON answer of a webhook request that announces a `length`-byte body and sends none.
fn announce_oversized_body(issuer: &Issuer, length: usize) -> (u16, Value) {
    use std::io::{Read, Write};
    let address = issuer.base_url().trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    write!(
        stream,
        "POST /v1/webhooks/stripe HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\n\
         stripe-signature: t=1,v1=00\r\ncontent-length: {length}\r\nconnection: close\r\n\r\n"
    )
    .expect("send headers");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    (
        status,
        serde_json::from_str(body).unwrap_or(Value::String(answer.clone())),
    )
}

pub(super) fn charge(payment_intent: &str, amount: u64, refunded: u64) -> Value {
    with(
        fixture("charge"),
        json!({"id": unique("ch"), "payment_intent": payment_intent, "amount": amount,
               "amount_captured": amount, "amount_refunded": refunded,
               "refunded": refunded >= amount, "captured": true}),
    )
}

#[test]
fn a_paid_checkout_issues_a_key_that_verifies_offline_survives_restart_and_a_refund_revokes() {
    let (workspace, _fake) = setup();
    let issuer = workspace.start();
    let bought = paid_session(
        "payment",
        json!({"metadata": {"tessera_price": "price_pro_year"}, "payment_intent": "pi_test_bought"}),
    );
    let session = bought["id"].as_str().unwrap().to_owned();
    let (status, body) =
        get_json(&issuer.url(&format!("/v1/licenses/by-checkout-session/{session}")));
    assert_eq!(status, 404, "no licence before the webhook: {body}");

    let before = now();
    let (status, body) = deliver(&issuer, &event("checkout.session.completed", bought, now()));
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("processed")),
        "{body}"
    );

    let served = licence(&issuer, &session);
    assert_eq!(served["license"]["product"], 7);
    assert_eq!(served["license"]["tier_name"], "pro");
    assert_eq!(served["license"]["features"], json!(["export", "sync"]));
    assert_eq!(served["license"]["status"], "active");
    let expires = served["key_expires_at"].as_u64().unwrap();
    assert!(
        (before + 365 * DAY..=now() + 365 * DAY).contains(&expires),
        "{expires}"
    );
    let key = served["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("ts1_"));
    assert!(!issuer.log().contains(&key), "the key is never logged");
    assert!(!issuer.log().contains(SECRET), "the secret is never logged");

    let public_key = public_key(&issuer);
    assert_eq!(
        tessera_verify(
            &key,
            &public_key,
            &["--product", "7", "--require-feature", "1"]
        ),
        0
    );
    assert_eq!(
        tessera_verify(&key, &public_key, &["--require-feature", "2"]),
        18,
        "a feature it did not buy"
    );

    // A restart keeps the licence.
    assert!(issuer.stop());
    let issuer = workspace.start();
    assert_eq!(licence(&issuer, &session)["key"], key.as_str());

    // A partial refund keeps it; a full refund revokes it.
    let (status, body) = deliver(
        &issuer,
        &event(
            "charge.refunded",
            charge("pi_test_bought", 5000, 1000),
            now(),
        ),
    );
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("ignored")),
        "{body}"
    );
    assert_eq!(licence(&issuer, &session)["license"]["status"], "active");
    let (_, list) = get_json(&issuer.url("/v1/revocations"));
    assert_eq!(list["sequence"], 0);

    let (status, body) = deliver(
        &issuer,
        &event(
            "charge.refunded",
            charge("pi_test_bought", 5000, 5000),
            now(),
        ),
    );
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("processed")),
        "{body}"
    );
    let served = licence(&issuer, &session);
    assert_eq!(served["license"]["status"], "revoked");
    let (_, list) = get_json(&issuer.url("/v1/revocations"));
    assert_eq!(
        (list["sequence"].as_u64(), list["revoked"].as_u64()),
        (Some(1), Some(1))
    );
    let list_file = workspace.path().join("revocations.txt");
    std::fs::write(&list_file, list["list"].as_str().unwrap()).unwrap();
    assert_eq!(
        tessera_verify(
            &key,
            &public_key,
            &["--revocations", list_file.to_str().unwrap()]
        ),
        15,
        "the revoked key is refused"
    );
}

#[test]
fn line_items_name_the_price_when_metadata_does_not_and_top_ups_grant_credits() {
    let (workspace, fake) = setup();
    let issuer = workspace.start();

    let perpetual = paid_session("payment", json!({"payment_intent": "pi_test_forever"}));
    let session = perpetual["id"].as_str().unwrap().to_owned();
    fake.line_items(&session, &["price_pro_forever"]);
    let (status, body) = deliver(
        &issuer,
        &event("checkout.session.completed", perpetual, now()),
    );
    assert_eq!(status, 200, "{body}");
    let served = licence(&issuer, &session);
    assert_eq!(served["license"]["features"], json!(["export"]));
    assert_eq!(served["key_expires_at"], Value::Null, "perpetual");
    assert!(fake
        .requests()
        .contains(&format!("/v1/checkout/sessions/{session}/line_items")));

    // Credits only: no new licence, a credit grant to the licence the metadata names.
    let license_id = served["license"]["id"].as_str().unwrap().to_owned();
    let top_up = paid_session(
        "payment",
        json!({"metadata": {"tessera_license": license_id}}),
    );
    let top_up_session = top_up["id"].as_str().unwrap().to_owned();
    fake.line_items(&top_up_session, &["price_credits_500"]);
    let (status, body) = deliver(&issuer, &event("checkout.session.completed", top_up, now()));
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("processed")),
        "{body}"
    );
    assert_eq!(
        count(
            &workspace,
            "SELECT sum(credits) FROM credit_grants WHERE checkout_session_id = ?1",
            &top_up_session
        ),
        500
    );
    let (status, _) = get_json(&issuer.url(&format!(
        "/v1/licenses/by-checkout-session/{top_up_session}"
    )));
    assert_eq!(status, 404);

    // An unpaid session (delayed payment) does nothing; async_payment_succeeded then issues.
    let delayed = paid_session(
        "payment",
        json!({"payment_status": "unpaid", "metadata": {"tessera_price": "price_pro_year"}}),
    );
    let delayed_session = delayed["id"].as_str().unwrap().to_owned();
    let (status, body) = deliver(
        &issuer,
        &event("checkout.session.completed", delayed.clone(), now()),
    );
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("ignored")),
        "{body}"
    );
    let (status, _) = get_json(&issuer.url(&format!(
        "/v1/licenses/by-checkout-session/{delayed_session}"
    )));
    assert_eq!(status, 404);
    let succeeded = with(delayed, json!({"payment_status": "paid"}));
    let (status, _) = deliver(
        &issuer,
        &event("checkout.session.async_payment_succeeded", succeeded, now()),
    );
    assert_eq!(status, 200);
    assert_eq!(
        licence(&issuer, &delayed_session)["license"]["tier_name"],
        "pro"
    );
}

#[test]
fn the_same_event_delivered_five_times_or_concurrently_has_one_effect() {
    let (workspace, fake) = setup();
    let issuer = workspace.start();

    let once = event(
        "checkout.session.completed",
        paid_session(
            "payment",
            json!({"metadata": {"tessera_price": "price_pro_year"}}),
        ),
        now(),
    );
    let session = once["data"]["object"]["id"].as_str().unwrap().to_owned();
    let statuses: Vec<_> = (0..5)
        .map(|_| {
            let (status, body) = deliver(&issuer, &once);
            (status, body["status"].as_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(statuses[0], (200, "processed".to_owned()));
    assert!(
        statuses[1..]
            .iter()
            .all(|s| *s == (200, "duplicate".to_owned())),
        "{statuses:?}"
    );
    let key = licence(&issuer, &session)["key"].clone();
    assert_eq!(licences_and_keys_of_session(&workspace, &session), (1, 1));
    assert_eq!(
        delivery(&workspace, &once).2,
        5,
        "every delivery is counted"
    );
    assert_eq!(licence(&issuer, &session)["key"], key);

    // Five at once, through the line-items path so that each delivery also waits on the network.
    let racing = paid_session("payment", json!({}));
    let racing_session = racing["id"].as_str().unwrap().to_owned();
    fake.line_items(&racing_session, &["price_pro_year"]);
    let racing = event("checkout.session.completed", racing, now());
    let answers: Vec<(u16, String)> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..5)
            .map(|_| {
                scope.spawn(|| {
                    let (status, body) = deliver(&issuer, &racing);
                    (status, body["status"].as_str().unwrap_or("").to_owned())
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert!(
        answers.iter().all(|(status, _)| *status == 200),
        "{answers:?}"
    );
    assert_eq!(
        answers.iter().filter(|(_, s)| s == "processed").count(),
        1,
        "{answers:?}"
    );
    assert_eq!(
        licences_and_keys_of_session(&workspace, &racing_session),
        (1, 1)
    );
}

/// Purchases in a webhook storm, and senders delivering each of them at once.
const STORM_PURCHASES: usize = 12;
const STORM_SENDERS: usize = 6;

/// A storm over `processes` issuers sharing `workspace`'s database: every one of
/// [`STORM_PURCHASES`] purchases (half of them through the line-items path, so that a delivery
/// also waits on the network) delivered by [`STORM_SENDERS`] senders at once, each sender to
/// another issuer. Each purchase makes exactly one licence with one key, whichever process
/// answered first, and every process then serves that same key.
fn a_webhook_storm_over_processes_makes_one_licence_per_purchase(
    (workspace, fake): (Workspace, FakeStripe),
    processes: usize,
) {
    let issuers: Vec<Issuer> = (0..processes).map(|_| workspace.start()).collect();
    let purchases: Vec<Value> = (0..STORM_PURCHASES)
        .map(|n| {
            let session = if n % 2 == 0 {
                paid_session(
                    "payment",
                    json!({"metadata": {"tessera_price": "price_pro_year"}}),
                )
            } else {
                let session = paid_session("payment", json!({}));
                fake.line_items(session["id"].as_str().unwrap(), &["price_pro_year"]);
                session
            };
            event("checkout.session.completed", session, now())
        })
        .collect();
    for purchase in &purchases {
        let answers: Vec<(u16, Value)> = std::thread::scope(|scope| {
            let senders: Vec<_> = (0..STORM_SENDERS)
                .map(|sender| {
                    let issuer = &issuers[sender % processes];
                    scope.spawn(move || deliver(issuer, purchase))
                })
                .collect();
            senders.into_iter().map(|s| s.join().unwrap()).collect()
        });
        let id = purchase["id"].as_str().unwrap();
        assert!(
            answers.iter().all(|(status, _)| *status == 200),
            "{id}: {answers:?}"
        );
        let processed = answers
            .iter()
            .filter(|(_, body)| body["status"] == "processed")
            .count();
        let duplicates = answers
            .iter()
            .filter(|(_, body)| body["status"] == "duplicate")
            .count();
        assert_eq!(
            (processed, duplicates),
            (1, STORM_SENDERS - 1),
            "{id}: {answers:?}"
        );
        assert_eq!(
            delivery(&workspace, purchase),
            ("processed".to_owned(), None, STORM_SENDERS as i64),
            "{id}: every delivery counted"
        );
    }
    for purchase in &purchases {
        let session = purchase["data"]["object"]["id"].as_str().unwrap();
        assert_eq!(
            licences_and_keys_of_session(&workspace, session),
            (1, 1),
            "{session}"
        );
        let served: Vec<Value> = issuers
            .iter()
            .map(|issuer| licence(issuer, session)["key"].clone())
            .collect();
        assert!(served[0].is_string(), "{served:?}");
        assert!(
            served.iter().all(|key| *key == served[0]),
            "{session}: {served:?}"
        );
    }
    assert_eq!(
        workspace.store().deliveries(true, None, 10).unwrap(),
        vec![]
    );
}

#[test]
fn a_webhook_storm_over_two_processes_sharing_one_sqlite_file_makes_one_licence_per_purchase() {
    a_webhook_storm_over_processes_makes_one_licence_per_purchase(setup(), 2);
}

#[test]
fn a_webhook_storm_over_three_processes_on_postgres_makes_one_licence_per_purchase() {
    on_postgres(|setup| a_webhook_storm_over_processes_makes_one_licence_per_purchase(setup, 3));
}

#[test]
fn refused_deliveries_have_no_effect_and_unknown_types_are_recorded_as_ignored() {
    let (workspace, _fake) = setup();
    let issuer = workspace.start();
    let bought = event(
        "checkout.session.completed",
        paid_session(
            "payment",
            json!({"metadata": {"tessera_price": "price_pro_year"}}),
        ),
        now(),
    );
    let session = bought["data"]["object"]["id"].as_str().unwrap().to_owned();
    let payload = bought.to_string();

    let refused = [
        (
            Some(signature(&payload, "whsec_someone_else", now())),
            "invalid_signature",
        ),
        (
            Some(signature(&payload, SECRET, now() - 400)),
            "stale_timestamp",
        ),
        (Some("t=1,v1=zz".to_owned()), "invalid_signature"),
        (None, "missing_signature"),
    ];
    for (header, code) in refused {
        let (status, body) = post_raw(&issuer, &payload, header.as_deref());
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some(code)),
            "{body}"
        );
    }
    // Signed for one body, sent with another.
    let tampered = payload.replace("price_pro_year", "price_pro_forever");
    let (status, body) = post_raw(
        &issuer,
        &tampered,
        Some(&signature(&payload, SECRET, now())),
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_signature"))
    );

    // Malformed JSON with a valid signature.
    let garbage = "{\"id\": \"evt_1\", \"type\": ";
    let (status, body) = post_raw(&issuer, garbage, Some(&signature(garbage, SECRET, now())));
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("malformed_event")),
        "{body}"
    );

    // Larger than the body limit (256 KiB by default): refused on its Content-Length, before the
    // body is read (sent as headers only, so that the early answer cannot race the upload).
    let (status, body) = announce_oversized_body(&issuer, 300 * 1024);
    assert_eq!(
        (status, body["error"].as_str()),
        (413, Some("payload_too_large")),
        "{body}"
    );

    let (status, _) = get_json(&issuer.url(&format!("/v1/licenses/by-checkout-session/{session}")));
    assert_eq!(status, 404, "no refused delivery had an effect");
    assert_eq!(
        count(
            &workspace,
            "SELECT count(*) FROM webhook_events WHERE id != ?1",
            ""
        ),
        0,
        "refused deliveries are not recorded"
    );
    assert!(
        issuer.log().contains("stale_timestamp"),
        "refusals are logged"
    );

    // An event signed with the older of two configured secrets (rotation) is accepted.
    let (status, body) = post_raw(
        &issuer,
        &payload,
        Some(&signature(&payload, "whsec_rotated_out", now())),
    );
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("processed")),
        "{body}"
    );

    let unknown = event("customer.tax_id.created", fixture("tax_id"), now());
    let (status, body) = deliver(&issuer, &unknown);
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("ignored")),
        "{body}"
    );
    assert_eq!(delivery(&workspace, &unknown).0, "ignored");

    // No secret configured: 503 with a clear error.
    let unconfigured = Workspace::new("");
    let issuer = unconfigured.start();
    let (status, body) = post_raw(&issuer, &payload, Some(&signature(&payload, SECRET, now())));
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("webhooks_not_configured")),
        "{body}"
    );
    assert!(issuer.log().contains("no webhook secret is configured"));
    drop(issuer);
    // The secret may come from the environment instead.
    let issuer = unconfigured.start_with_env(&[("STRIPE_WEBHOOK_SECRET", SECRET)]);
    let (status, body) = post_raw(&issuer, &payload, Some(&signature(&payload, SECRET, now())));
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("ignored")),
        "accepted; a test-mode event on an issuer serving live mode is not acted on: {body}"
    );
    assert!(
        issuer
            .log()
            .contains("webhook secrets from STRIPE_WEBHOOK_SECRET"),
        "{}",
        issuer.log()
    );
}

/// STRIPE_WEBHOOK_SECRET replaces the file's secrets, and the log says so: a secret left in the
/// file is not valid beside it.
#[test]
fn the_environment_s_webhook_secret_replaces_the_file_s() {
    let (workspace, _fake) = setup();
    let issuer = workspace.start_with_env(&[("STRIPE_WEBHOOK_SECRET", "whsec_from_env")]);
    let bought = event(
        "checkout.session.completed",
        paid_session("payment", json!({})),
        now(),
    );
    let payload = bought.to_string();
    let (status, body) = post_raw(&issuer, &payload, Some(&signature(&payload, SECRET, now())));
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_signature")),
        "the file's secret no longer signs: {body}"
    );
    let (status, body) = post_raw(
        &issuer,
        &payload,
        Some(&signature(&payload, "whsec_from_env", now())),
    );
    assert_ne!(status, 400, "the environment's secret signs: {body}");
    let log = issuer.log();
    assert!(
        log.contains("STRIPE_WEBHOOK_SECRET replaces [stripe] webhook_secrets"),
        "{log}"
    );
    assert!(
        !log.contains("whsec_from_env"),
        "a secret in the log: {log}"
    );
}

/// An issuer serving live mode records a test-mode event (a test card) and does not act on it:
/// no licence.
#[test]
fn an_event_of_the_other_stripe_mode_is_recorded_and_not_acted_on() {
    let fake = FakeStripe::start();
    let live = config(&fake).replace("secret_key = \"sk_test_tessera\"", "mode = \"live\"");
    let workspace = Workspace::new(&live);
    let issuer = workspace.start();
    let session = paid_session(
        "payment",
        json!({"metadata": {"tessera_price": "price_pro_year"}}),
    );
    let session_id = session["id"].as_str().unwrap().to_owned();
    let test_card = event("checkout.session.completed", session.clone(), now());
    assert_eq!(test_card["livemode"], false);
    let (status, body) = deliver(&issuer, &test_card);
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("ignored")),
        "{body}"
    );
    let (status, _) =
        get_json(&issuer.url(&format!("/v1/licenses/by-checkout-session/{session_id}")));
    assert_eq!(status, 404, "no licence for a test-mode purchase");
    let (recorded, note, _) = delivery(&workspace, &test_card);
    assert_eq!(recorded, "ignored");
    assert_eq!(
        note.as_deref(),
        Some("a test-mode event; this issuer serves live mode ([stripe] mode): recorded, not acted on")
    );

    // The same purchase in live mode takes effect.
    let real = with(
        event("checkout.session.completed", session, now()),
        json!({"livemode": true}),
    );
    let (status, body) = deliver(&issuer, &real);
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("processed")),
        "{body}"
    );
    assert!(licence(&issuer, &session_id)["key"].is_string());
}

#[test]
fn an_unknown_price_is_recorded_as_failed_and_answered_500_until_fixed() {
    let (workspace, fake) = setup();
    let issuer = workspace.start();
    let bought = event(
        "checkout.session.completed",
        paid_session(
            "payment",
            json!({"metadata": {"tessera_price": "price_not_in_catalogue"}}),
        ),
        now(),
    );
    for attempt in 1..=2 {
        let (status, body) = deliver(&issuer, &bought);
        assert_eq!(
            (status, body["error"].as_str()),
            (500, Some("processing_failed")),
            "{body}"
        );
        assert!(body["message"]
            .as_str()
            .unwrap()
            .contains("price_not_in_catalogue"));
        let (recorded, error, attempts) = delivery(&workspace, &bought);
        assert_eq!((recorded.as_str(), attempts), ("failed", attempt));
        assert!(error.unwrap().contains("price_not_in_catalogue"));
    }
    let session = bought["data"]["object"]["id"].as_str().unwrap();
    let (status, _) = get_json(&issuer.url(&format!("/v1/licenses/by-checkout-session/{session}")));
    assert_eq!(status, 404);
    assert!(issuer.log().contains("recorded as failed"));

    // Nothing to resolve the price from: no metadata, and Stripe's API does not know the session.
    let unresolvable = event(
        "checkout.session.completed",
        paid_session("payment", json!({})),
        now(),
    );
    let (status, body) = deliver(&issuer, &unresolvable);
    assert_eq!(status, 500, "{body}");
    assert_eq!(delivery(&workspace, &unresolvable).0, "failed");
    // Once Stripe's API answers (here: the operator fixed the key), the retry issues the licence.
    let session = unresolvable["data"]["object"]["id"].as_str().unwrap();
    fake.line_items(session, &["price_pro_year"]);
    let (status, body) = deliver(&issuer, &unresolvable);
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("processed")),
        "{body}"
    );
    assert_eq!(delivery(&workspace, &unresolvable).0, "processed");
    assert_eq!(licence(&issuer, session)["license"]["tier_name"], "pro");
}

#[test]
fn a_subscription_is_issued_renewed_changes_plan_and_ends() {
    let (workspace, fake) = setup();
    let issuer = workspace.start();
    let subscription = unique("sub");
    let start = now();
    let first_end = start + 30 * DAY;
    fake.subscription(&subscription, "price_pro_monthly", first_end);
    let checkout = paid_session(
        "subscription",
        json!({"subscription": subscription, "payment_intent": null}),
    );
    let session = checkout["id"].as_str().unwrap().to_owned();
    let (status, body) = deliver(
        &issuer,
        &event("checkout.session.completed", checkout, start),
    );
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("processed")),
        "{body}"
    );
    let served = licence(&issuer, &session);
    assert_eq!(served["license"]["tier_name"], "pro");
    assert_eq!(served["key_expires_at"], first_end);
    let key = served["key"].as_str().unwrap().to_owned();
    let public_key = public_key(&issuer);
    assert_eq!(tessera_verify(&key, &public_key, &["--product", "7"]), 0);
    // The grace period is signed into the key: valid 6 days after the period ends, not 8.
    let at = |t: u64| t.to_string();
    let six_days_late = at(first_end + 6 * DAY);
    let eight_days_late = at(first_end + 8 * DAY);
    assert_eq!(
        tessera_verify(&key, &public_key, &["--at", &six_days_late]),
        0
    );
    assert_eq!(
        tessera_verify(&key, &public_key, &["--at", &eight_days_late]),
        17
    );

    // The first invoice pays the same period: no new key.
    let first_invoice = paid_invoice(
        &subscription,
        "price_pro_monthly",
        first_end,
        "subscription_create",
    );
    let (status, _) = deliver(&issuer, &event("invoice.paid", first_invoice, start));
    assert_eq!(status, 200);
    assert_eq!(keys_of_subscription(&workspace, &subscription), 1);

    // A renewal adds a key with the new expiry; the old key stays stored.
    let second_end = first_end + 30 * DAY;
    let renewal = paid_invoice(
        &subscription,
        "price_pro_monthly",
        second_end,
        "subscription_cycle",
    );
    let (status, _) = deliver(&issuer, &event("invoice.paid", renewal, start + 10));
    assert_eq!(status, 200);
    let served = licence(&issuer, &session);
    assert_eq!(served["key_expires_at"], second_end);
    assert_ne!(served["key"], key.as_str());
    assert_eq!(keys_of_subscription(&workspace, &subscription), 2);

    // An invoice of prorations only (a mid-period upgrade billed at once) renews nothing.
    let mut prorations = paid_invoice(
        &subscription,
        "price_team_monthly",
        second_end,
        "subscription_update",
    );
    prorations["lines"]["data"][0]["parent"]["subscription_item_details"]["proration"] =
        json!(true);
    let (status, body) = deliver(&issuer, &event("invoice.paid", prorations, start + 15));
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("ignored")),
        "{body}"
    );
    assert_eq!(keys_of_subscription(&workspace, &subscription), 2);

    // A plan change issues a key with the new tier and features.
    let upgraded = subscription_object(&subscription, "price_team_monthly", second_end);
    let (status, _) = deliver(
        &issuer,
        &event(
            "customer.subscription.updated",
            upgraded.clone(),
            start + 20,
        ),
    );
    assert_eq!(status, 200);
    let served = licence(&issuer, &session);
    assert_eq!(served["license"]["tier_name"], "team");
    assert_eq!(
        served["license"]["features"],
        json!(["export", "sync", "cloud"])
    );
    assert_eq!(served["key_expires_at"], second_end);
    let team_key = served["key"].as_str().unwrap().to_owned();
    assert_eq!(
        tessera_verify(&team_key, &public_key, &["--require-feature", "2"]),
        0
    );
    assert_eq!(keys_of_subscription(&workspace, &subscription), 3);

    // Cancelled: marked, no new key, the licence runs to its expiry.
    let ended = with(upgraded, json!({"status": "canceled"}));
    let (status, _) = deliver(
        &issuer,
        &event("customer.subscription.deleted", ended, start + 30),
    );
    assert_eq!(status, 200);
    let served = licence(&issuer, &session);
    assert_eq!(served["license"]["status"], "active");
    assert_eq!(served["key"], team_key.as_str());
    assert_eq!(keys_of_subscription(&workspace, &subscription), 3);
    assert_eq!(
        count(
            &workspace,
            "SELECT count(*) FROM subscriptions WHERE id = ?1 AND canceled_at IS NOT NULL",
            &subscription
        ),
        1
    );

    // A crash (SIGKILL) loses nothing that was answered 200.
    issuer.kill();
    let issuer = workspace.start();
    assert_eq!(licence(&issuer, &session)["key"], team_key.as_str());
}

#[test]
fn outcomes_do_not_depend_on_delivery_order() {
    let (workspace, fake) = setup();
    let issuer = workspace.start();
    let t = now();
    let period_end = t + 30 * DAY;

    // invoice.paid before and after checkout.session.completed.
    let mut outcomes = Vec::new();
    for invoice_first in [false, true] {
        let subscription = unique("sub");
        fake.subscription(&subscription, "price_pro_monthly", period_end);
        let checkout = event(
            "checkout.session.completed",
            paid_session("subscription", json!({"subscription": subscription})),
            t,
        );
        let invoice = event(
            "invoice.paid",
            paid_invoice(
                &subscription,
                "price_pro_monthly",
                period_end,
                "subscription_create",
            ),
            t,
        );
        let order = if invoice_first {
            [&invoice, &checkout]
        } else {
            [&checkout, &invoice]
        };
        for event in order {
            let (status, body) = deliver(&issuer, event);
            assert_eq!(status, 200, "{body}");
        }
        let session = checkout["data"]["object"]["id"].as_str().unwrap();
        assert_eq!(licence(&issuer, session)["license"]["tier_name"], "pro");
        outcomes.push((
            subscription_licence(&workspace, &subscription),
            keys_of_subscription(&workspace, &subscription),
        ));
    }
    assert_eq!(outcomes[0], outcomes[1]);
    assert_eq!(outcomes[0].0 .1, 1, "one licence");
    assert_eq!(outcomes[0].0 .0[3], period_end);

    // customer.subscription.updated (a plan change) before and after .created.
    let mut outcomes = Vec::new();
    for updated_first in [false, true] {
        let subscription = unique("sub");
        let invoice = event(
            "invoice.paid",
            paid_invoice(
                &subscription,
                "price_pro_monthly",
                period_end,
                "subscription_create",
            ),
            t,
        );
        assert_eq!(deliver(&issuer, &invoice).0, 200);
        let created = event(
            "customer.subscription.created",
            subscription_object(&subscription, "price_pro_monthly", period_end),
            t,
        );
        let updated = event(
            "customer.subscription.updated",
            subscription_object(&subscription, "price_team_monthly", period_end),
            t + 5,
        );
        let order = if updated_first {
            [&updated, &created]
        } else {
            [&created, &updated]
        };
        for event in order {
            let (status, body) = deliver(&issuer, event);
            assert_eq!(status, 200, "{body}");
        }
        outcomes.push(subscription_licence(&workspace, &subscription));
    }
    assert_eq!(outcomes[0], outcomes[1]);
    assert_eq!(outcomes[0].0[1], 2, "the team tier, whichever came first");
    assert_eq!(outcomes[0].1, 1);

    // A refund delivered before the purchase still revokes the licence.
    let refund = event(
        "charge.refunded",
        charge("pi_test_early_refund", 900, 900),
        t,
    );
    assert_eq!(deliver(&issuer, &refund).0, 200);
    let bought = paid_session(
        "payment",
        json!({"metadata": {"tessera_price": "price_pro_year"}, "payment_intent": "pi_test_early_refund"}),
    );
    let session = bought["id"].as_str().unwrap().to_owned();
    assert_eq!(
        deliver(&issuer, &event("checkout.session.completed", bought, t)).0,
        200
    );
    assert_eq!(licence(&issuer, &session)["license"]["status"], "revoked");

    // A dispute revokes too.
    let disputed = paid_session(
        "payment",
        json!({"metadata": {"tessera_price": "price_pro_year"}, "payment_intent": "pi_test_disputed"}),
    );
    let disputed_session = disputed["id"].as_str().unwrap().to_owned();
    assert_eq!(
        deliver(&issuer, &event("checkout.session.completed", disputed, t)).0,
        200
    );
    let dispute = with(
        fixture("dispute"),
        json!({"id": unique("dp"), "payment_intent": "pi_test_disputed"}),
    );
    assert_eq!(
        deliver(&issuer, &event("charge.dispute.created", dispute, t)).0,
        200
    );
    assert_eq!(
        licence(&issuer, &disputed_session)["license"]["status"],
        "revoked"
    );
    let (_, list) = get_json(&issuer.url("/v1/revocations"));
    assert_eq!(list["revoked"], 2);
}
