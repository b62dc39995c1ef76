//! The credit endpoints end to end: licence-key auth, grants from signed webhooks, reservations,
//! idempotency, the TTL sweeper, and many concurrent clients against one account.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tessera_keys::SigningKey;

use super::credit_faults::hammer;
use super::harness::{http, Issuer, Workspace};
use super::seed::{dev_key, now, Seed};
use super::stripe_fixtures::{deliver, event, paid_invoice, paid_session, unique, FakeStripe};
use super::webhooks::{charge, delivery, licence, setup};

const DAY: u64 = 86_400;

/// Status and JSON body of `method path` with `Authorization: License <key>` (if any), an
/// `Idempotency-Key` (if any) and a JSON body (if any).
fn call(
    issuer: &Issuer,
    method: &str,
    path: &str,
    key: Option<&str>,
    idempotency_key: Option<&str>,
    body: Option<&str>,
) -> (u16, Value) {
    let (status, _, body) = call_raw(issuer.base_url(), method, path, key, idempotency_key, body)
        .unwrap_or_else(|err| panic!("{method} {path}: {err}"));
    (status, body)
}

/// [`call`] on the issuer at `base_url`, also saying whether the answer is an idempotent replay;
/// `Err` when no whole answer came back, and the client cannot tell whether the issuer acted (it
/// may have died after committing, before answering).
fn call_raw(
    base_url: &str,
    method: &str,
    path: &str,
    key: Option<&str>,
    idempotency_key: Option<&str>,
    body: Option<&str>,
) -> Result<(u16, bool, Value), ureq::Error> {
    let agent = http();
    let url = format!("{base_url}{path}");
    let authorization = key.map(|key| format!("License {key}"));
    let mut response = if method == "GET" {
        let mut request = agent.get(&url);
        if let Some(value) = &authorization {
            request = request.header("authorization", value);
        }
        request.call()?
    } else {
        let mut request = agent.post(&url);
        if let Some(value) = &authorization {
            request = request.header("authorization", value);
        }
        if let Some(value) = idempotency_key {
            request = request.header("idempotency-key", value);
        }
        match body {
            Some(body) => request
                .header("content-type", "application/json")
                .send(body)?,
            None => request.send_empty()?,
        }
    };
    let status = response.status().as_u16();
    let replayed = response.headers().contains_key("idempotent-replayed");
    // A body cut short (the issuer killed mid-answer) is no answer, not an empty one.
    let text = response.body_mut().read_to_string()?;
    Ok((
        status,
        replayed,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

pub(super) fn balances(issuer: &Issuer, key: &str) -> Value {
    let (status, body) = call(issuer, "GET", "/v1/credits", Some(key), None, None);
    assert_eq!(status, 200, "{body}");
    body
}

/// `(period, top_up, reserved)` of the licence.
pub(super) fn buckets(issuer: &Issuer, key: &str) -> (u64, u64, u64) {
    let b = &balances(issuer, key)["balances"];
    (
        b["period"].as_u64().unwrap(),
        b["top_up"].as_u64().unwrap(),
        b["reserved"].as_u64().unwrap(),
    )
}

pub(super) fn reserve(
    issuer: &Issuer,
    key: &str,
    idempotency_key: &str,
    body: Value,
) -> (u16, Value) {
    try_reserve(issuer.base_url(), key, idempotency_key, &body).expect("reserve")
}

pub(super) fn commit(issuer: &Issuer, key: &str, id: &str, used: u64) -> (u16, Value) {
    try_commit(issuer.base_url(), key, id, used).expect("commit")
}

fn release(issuer: &Issuer, key: &str, id: &str) -> (u16, Value) {
    try_release(issuer.base_url(), key, id).expect("release")
}

/// [`reserve`] on the issuer at `base_url`; `Err`: outcome unknown.
pub(super) fn try_reserve(
    base_url: &str,
    key: &str,
    idempotency_key: &str,
    body: &Value,
) -> Result<(u16, Value), ureq::Error> {
    call_raw(
        base_url,
        "POST",
        "/v1/credits/reservations",
        Some(key),
        Some(idempotency_key),
        Some(&body.to_string()),
    )
    .map(|(status, _, body)| (status, body))
}

/// [`commit`] on the issuer at `base_url`; `Err`: outcome unknown.
pub(super) fn try_commit(
    base_url: &str,
    key: &str,
    id: &str,
    used: u64,
) -> Result<(u16, Value), ureq::Error> {
    call_raw(
        base_url,
        "POST",
        &format!("/v1/credits/reservations/{id}/commit"),
        Some(key),
        None,
        Some(&json!({ "used": used }).to_string()),
    )
    .map(|(status, _, body)| (status, body))
}

/// [`release`] on the issuer at `base_url`; `Err`: outcome unknown.
pub(super) fn try_release(
    base_url: &str,
    key: &str,
    id: &str,
) -> Result<(u16, Value), ureq::Error> {
    call_raw(
        base_url,
        "POST",
        &format!("/v1/credits/reservations/{id}/release"),
        Some(key),
        None,
        None,
    )
    .map(|(status, _, body)| (status, body))
}

/// The whole ledger, walked page by page with `limit`.
pub(super) fn ledger(issuer: &Issuer, key: &str, limit: u32) -> Vec<Value> {
    let mut entries = Vec::new();
    let mut cursor = String::new();
    for _ in 0..10_000 {
        let (status, page) = call(
            issuer,
            "GET",
            &format!("/v1/credits/ledger?limit={limit}&cursor={cursor}"),
            Some(key),
            None,
            None,
        );
        assert_eq!(status, 200, "{page}");
        let rows = page["entries"].as_array().unwrap();
        assert!(rows.len() <= limit as usize);
        entries.extend(rows.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => return entries,
        }
    }
    panic!("the ledger does not end");
}

/// Asserts that the ledger sums to the balances `GET /v1/credits` shows, and that the store's own
/// check finds every account consistent.
pub(super) fn assert_ledger_matches(workspace: &Workspace, issuer: &Issuer, key: &str) {
    let entries = ledger(issuer, key, 7);
    let ids: Vec<i64> = entries.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "pages in order, no repeats"
    );
    let sum = |field: &str| -> i64 { entries.iter().map(|e| e[field].as_i64().unwrap()).sum() };
    let b = balances(issuer, key)["balances"].clone();
    assert_eq!(sum("period"), b["period"].as_i64().unwrap(), "period");
    assert_eq!(sum("top_up"), b["top_up"].as_i64().unwrap(), "top-up");
    assert_eq!(
        sum("period_reserved") + sum("top_up_reserved"),
        b["reserved"].as_i64().unwrap(),
        "reserved"
    );
    assert_eq!(workspace.store().verify_credit_ledger().unwrap(), vec![]);
}

/// A subscription on `price_pro_monthly` (100 credits a period) whose first period ends at
/// `period_end`: `(subscription, key)`.
pub(super) fn subscribe(issuer: &Issuer, fake: &FakeStripe, period_end: u64) -> (String, String) {
    let subscription = unique("sub");
    fake.subscription(&subscription, "price_pro_monthly", period_end);
    let checkout = paid_session(
        "subscription",
        json!({"subscription": subscription, "payment_intent": null}),
    );
    let session = checkout["id"].as_str().unwrap().to_owned();
    let (status, body) = deliver(
        issuer,
        &event("checkout.session.completed", checkout, now()),
    );
    assert_eq!(status, 200, "{body}");
    let invoice = paid_invoice(
        &subscription,
        "price_pro_monthly",
        period_end,
        "subscription_create",
    );
    let (status, body) = deliver(issuer, &event("invoice.paid", invoice, now()));
    assert_eq!(status, 200, "{body}");
    let served = licence(issuer, &session);
    (subscription, served["key"].as_str().unwrap().to_owned())
}

/// A perpetual one-time licence: `(licence id, key)`.
fn buy_licence(issuer: &Issuer) -> (String, String) {
    super::machines::buy(issuer, "price_pro_forever")
}

/// A paid top-up of 500 credits for `license_id`: the session object and its payment intent.
pub(super) fn top_up_session(license_id: &str) -> (Value, String) {
    let payment_intent = unique("pi");
    let session = paid_session(
        "payment",
        json!({"payment_intent": payment_intent,
               "metadata": {"tessera_license": license_id, "tessera_price": "price_credits_500"}}),
    );
    (session, payment_intent)
}

/// Buys the licence of `key` a top-up of 500 credits.
fn top_up(issuer: &Issuer, key: &str) {
    let license_id = balances(issuer, key)["license_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (session, _) = top_up_session(&license_id);
    let (status, body) = deliver(issuer, &event("checkout.session.completed", session, now()));
    assert_eq!(status, 200, "{body}");
}

/// A subscription's licence with its 100 period credits and a top-up of 500: its key and its 600
/// credits.
pub(super) fn funded_licence(issuer: &Issuer, fake: &FakeStripe) -> (String, u64) {
    let (_, key) = subscribe(issuer, fake, now() + 30 * DAY);
    top_up(issuer, &key);
    assert_eq!(buckets(issuer, &key), (100, 500, 0));
    (key, 600)
}

#[test]
fn credit_endpoints_refuse_missing_bad_forged_expired_revoked_and_suspended_keys() {
    let (workspace, _fake) = setup();
    let issuer = workspace.start();
    let data = workspace.path().join("data");

    let (status, body) = call(&issuer, "GET", "/v1/credits", None, None, None);
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("missing_credentials"))
    );
    let agent = http();
    let mut response = agent
        .get(&issuer.url("/v1/credits"))
        .header("authorization", "Bearer abc")
        .call()
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let body: Value = serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(body["error"], "invalid_authorization");

    let cases: Vec<(String, u16, &str)> = vec![
        ("garbage".to_owned(), 401, "malformed"),
        (
            Seed::active(11).sign_with(&SigningKey::generate(dev_key(&data).id())),
            401,
            "bad_signature",
        ),
        (
            {
                let mut seed = Seed::active(12);
                seed.issued_at = now() - 90 * DAY;
                seed.expires_at = Some(now() - 30 * DAY);
                seed.grace_seconds = Some(DAY as u32);
                seed.insert(&data)
            },
            401,
            "expired",
        ),
        (
            {
                let mut seed = Seed::active(13);
                seed.status = "revoked";
                seed.insert(&data)
            },
            403,
            "revoked",
        ),
        (
            {
                let mut seed = Seed::active(14);
                seed.status = "suspended";
                seed.insert(&data)
            },
            403,
            "suspended",
        ),
    ];
    for (key, expected_status, reason) in &cases {
        for (method, path, body) in [
            ("GET", "/v1/credits", None),
            ("POST", "/v1/credits/reservations", Some(r#"{"amount": 1}"#)),
            ("GET", "/v1/credits/ledger", None),
        ] {
            let (status, answer) = call(&issuer, method, path, Some(key), Some("k"), body);
            assert_eq!(
                (status, answer["error"].as_str()),
                (*expected_status, Some(*reason)),
                "{method} {path}: {answer}"
            );
        }
    }
    // Within its grace period a key still spends; an unrecorded but validly signed key has nothing.
    let mut in_grace = Seed::active(15);
    in_grace.expires_at = Some(now() - 60);
    let key = in_grace.insert(&data);
    assert_eq!(buckets(&issuer, &key), (0, 0, 0));
    assert!(!issuer.log().contains(&key), "keys are never logged");
}

#[test]
fn top_ups_reserve_commit_release_and_refunds_with_exact_balances() {
    let (workspace, _fake) = setup();
    let issuer = workspace.start();
    let (license_id, key) = buy_licence(&issuer);
    assert_eq!(buckets(&issuer, &key), (0, 0, 0));

    let (session, payment_intent) = top_up_session(&license_id);
    let completed = event("checkout.session.completed", session.clone(), now());
    for _ in 0..2 {
        let (status, body) = deliver(&issuer, &completed);
        assert_eq!(status, 200, "{body}");
    }
    // The same session reported paid by another event grants nothing more.
    let again = event("checkout.session.async_payment_succeeded", session, now());
    assert_eq!(deliver(&issuer, &again).0, 200);
    assert_eq!(buckets(&issuer, &key), (0, 500, 0));

    let (status, reserved) = reserve(
        &issuer,
        &key,
        "k1",
        json!({"amount": 200, "reference": "job 1"}),
    );
    assert_eq!(status, 201, "{reserved}");
    assert_eq!(reserved["amount"], 200);
    assert_eq!(reserved["status"], "open");
    assert_eq!(reserved["reference"], "job 1");
    assert_eq!(reserved["balances"]["top_up"], 300);
    assert_eq!(reserved["balances"]["reserved"], 200);
    assert!(reserved["expires_at"].as_i64().unwrap() >= now() as i64 + 899);
    let id = reserved["id"].as_str().unwrap();
    let summary = balances(&issuer, &key);
    assert_eq!(summary["reservations"][0]["id"], id);

    let (status, committed) = commit(&issuer, &key, id, 150);
    assert_eq!(status, 200, "{committed}");
    assert_eq!(
        (committed["status"].as_str(), committed["used"].as_u64()),
        (Some("committed"), Some(150))
    );
    assert_eq!(buckets(&issuer, &key), (0, 350, 0));

    let (status, second) = reserve(&issuer, &key, "k2", json!({"amount": 100}));
    assert_eq!(status, 201, "{second}");
    let (status, released) = release(&issuer, &key, second["id"].as_str().unwrap());
    assert_eq!(
        (status, released["status"].as_str()),
        (200, Some("released"))
    );
    assert_eq!(buckets(&issuer, &key), (0, 350, 0));

    // A full refund takes back what is left (350 of 500) and records the 150 already spent.
    let refund = event(
        "charge.refunded",
        charge(&payment_intent, 1000, 1000),
        now(),
    );
    assert_eq!(deliver(&issuer, &refund).0, 200);
    assert_eq!(
        deliver(
            &issuer,
            &event(
                "charge.refunded",
                charge(&payment_intent, 1000, 1000),
                now()
            )
        )
        .0,
        200
    );
    assert_eq!(buckets(&issuer, &key), (0, 0, 0));
    let entries = ledger(&issuer, &key, 100);
    let kinds: Vec<&str> = entries
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "grant",
            "reservation",
            "commit",
            "reservation",
            "release",
            "refund"
        ]
    );
    let refund_row = entries.last().unwrap();
    assert_eq!(
        (
            refund_row["top_up"].as_i64(),
            refund_row["shortfall"].as_u64()
        ),
        (Some(-350), Some(150))
    );
    assert_eq!(refund_row["reference"], refund["id"]);
    assert_eq!(entries[2]["used"], 150);
    assert_ledger_matches(&workspace, &issuer, &key);

    // A top-up that names no licence is recorded as failed, with the reason.
    let orphan = paid_session(
        "payment",
        json!({"payment_intent": unique("pi"), "metadata": {"tessera_price": "price_credits_500"}}),
    );
    let orphan = event("checkout.session.completed", orphan, now());
    let (status, body) = deliver(&issuer, &orphan);
    assert_eq!(status, 500, "{body}");
    let (state, error, _) = delivery(&workspace, &orphan);
    assert_eq!(state, "failed");
    assert!(error.unwrap().contains("tessera_license"));
}

#[test]
fn renewals_reset_period_credits_and_spending_draws_period_credits_first() {
    let (workspace, fake) = setup();
    let issuer = workspace.start();
    let first_end = now() + 30 * DAY;
    let (subscription, key) = subscribe(&issuer, &fake, first_end);
    assert_eq!(buckets(&issuer, &key), (100, 0, 0));
    let summary = balances(&issuer, &key);
    assert_eq!(summary["period"]["end"], first_end);
    assert_eq!(summary["period"]["start"], first_end - 30 * DAY);

    let (status, r) = reserve(&issuer, &key, "a", json!({"amount": 40}));
    assert_eq!(status, 201, "{r}");
    assert_eq!(commit(&issuer, &key, r["id"].as_str().unwrap(), 40).0, 200);
    assert_eq!(buckets(&issuer, &key), (60, 0, 0));
    top_up(&issuer, &key);
    assert_eq!(buckets(&issuer, &key), (60, 500, 0));

    // The renewal expires the 60 unused period credits and grants the plan's 100; top-ups stay.
    let second_end = first_end + 30 * DAY;
    let renewal = paid_invoice(
        &subscription,
        "price_pro_monthly",
        second_end,
        "subscription_cycle",
    );
    let renewal = event("invoice.paid", renewal, now());
    assert_eq!(deliver(&issuer, &renewal).0, 200);
    assert_eq!(buckets(&issuer, &key), (100, 500, 0));
    let entries = ledger(&issuer, &key, 100);
    let expiry = &entries[entries.len() - 2];
    assert_eq!(
        (expiry["kind"].as_str(), expiry["period"].as_i64()),
        (Some("expiry"), Some(-60))
    );
    assert_eq!(expiry["reference"], renewal["id"]);
    assert_eq!(entries.last().unwrap()["period"], 100);
    // An older invoice delivered late resets nothing.
    let late = paid_invoice(
        &subscription,
        "price_pro_monthly",
        first_end,
        "subscription_cycle",
    );
    assert_eq!(deliver(&issuer, &event("invoice.paid", late, now())).0, 200);
    assert_eq!(buckets(&issuer, &key), (100, 500, 0));

    // 150 draws all 100 period credits and 50 top-up credits; committing 120 charges period first.
    let (status, r) = reserve(&issuer, &key, "b", json!({"amount": 150}));
    assert_eq!(status, 201, "{r}");
    assert_eq!(
        (r["period_part"].as_u64(), r["top_up_part"].as_u64()),
        (Some(100), Some(50))
    );
    assert_eq!(commit(&issuer, &key, r["id"].as_str().unwrap(), 120).0, 200);
    assert_eq!(buckets(&issuer, &key), (0, 480, 0));

    let (status, short) = reserve(&issuer, &key, "c", json!({"amount": 1000}));
    assert_eq!(status, 402, "{short}");
    assert_eq!(
        (
            short["error"].as_str(),
            short["needed"].as_u64(),
            short["available"].as_u64()
        ),
        (Some("insufficient_credits"), Some(1000), Some(480))
    );
    assert_ledger_matches(&workspace, &issuer, &key);
}

#[test]
fn idempotency_keys_settlement_conflicts_and_bad_input_get_clear_answers() {
    let (workspace, fake) = setup();
    let issuer = workspace.start();
    let (_, key) = subscribe(&issuer, &fake, now() + 30 * DAY);
    let (_, other_key) = subscribe(&issuer, &fake, now() + 30 * DAY);

    let (status, body) = call(
        &issuer,
        "POST",
        "/v1/credits/reservations",
        Some(&key),
        None,
        Some(r#"{"amount": 1}"#),
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("missing_idempotency_key"))
    );

    let (status, replayed, first) = call_raw(
        issuer.base_url(),
        "POST",
        "/v1/credits/reservations",
        Some(&key),
        Some("same"),
        Some(r#"{"amount": 10}"#),
    )
    .expect("reserve");
    assert_eq!((status, replayed), (201, false), "{first}");
    let (status, replayed, repeat) = call_raw(
        issuer.base_url(),
        "POST",
        "/v1/credits/reservations",
        Some(&key),
        Some("same"),
        Some(r#"{ "amount" : 10 }"#),
    )
    .expect("reserve");
    assert_eq!((status, replayed), (201, true));
    assert_eq!(repeat, first, "the original answer, unchanged");
    let (status, body) = reserve(&issuer, &key, "same", json!({"amount": 11}));
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("idempotency_key_reused"))
    );
    // Keys belong to a licence: another licence may use the same one.
    assert_eq!(
        reserve(&issuer, &other_key, "same", json!({"amount": 10})).0,
        201
    );
    assert_eq!(buckets(&issuer, &key), (90, 0, 10));

    for (body, expected) in [
        (r#"{"amount": 0}"#, 422),
        (r#"{"amount": -5}"#, 400),
        (r#"{"amount": 1.5}"#, 400),
        (r#"{"amount": "5"}"#, 400),
        (r#"{"amount": 10000000000000}"#, 422),
        (r#"{"amount": 100000000000000000000000000}"#, 400),
        (r#"{"amount": 1, "ttl_seconds": 0}"#, 422),
        (r#"{"amount": 1, "ttl_seconds": 86401}"#, 422),
        (r#"{"amount": 1, "extra": true}"#, 400),
        (r#"{}"#, 400),
        ("nonsense", 400),
    ] {
        let (status, answer) = call(
            &issuer,
            "POST",
            "/v1/credits/reservations",
            Some(&key),
            Some(&unique("bad")),
            Some(body),
        );
        assert_eq!(status, expected, "{body}: {answer}");
        assert!(answer["error"].is_string(), "{body}: {answer}");
    }

    let id = first["id"].as_str().unwrap();
    let (status, body) = commit(&issuer, &key, id, 11);
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("used_exceeds_reserved"))
    );
    let (status, body) = call(
        &issuer,
        "POST",
        &format!("/v1/credits/reservations/{id}/commit"),
        Some(&key),
        None,
        Some(r#"{"used": -1}"#),
    );
    assert_eq!(status, 400, "{body}");
    let (status, done) = commit(&issuer, &key, id, 4);
    assert_eq!(status, 200, "{done}");
    let (status, again) = commit(&issuer, &key, id, 4);
    assert_eq!(status, 200);
    assert_eq!(again["status"], "committed");
    assert_eq!(again["settled_at"], done["settled_at"]);
    let (status, body) = commit(&issuer, &key, id, 5);
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("reservation_committed"))
    );
    let (status, body) = release(&issuer, &key, id);
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("reservation_committed"))
    );
    assert_eq!(buckets(&issuer, &key), (96, 0, 0));

    let (_, second) = reserve(&issuer, &key, "second", json!({"amount": 6}));
    let second_id = second["id"].as_str().unwrap();
    assert_eq!(release(&issuer, &key, second_id).0, 200);
    assert_eq!(release(&issuer, &key, second_id).0, 200);
    let (status, body) = commit(&issuer, &key, second_id, 1);
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("reservation_released"))
    );

    // Unknown ids and other licences' reservations look the same: not found.
    let (_, theirs) = reserve(&issuer, &other_key, "theirs", json!({"amount": 3}));
    for id in ["rsv_nope", theirs["id"].as_str().unwrap(), "nope", "%20"] {
        let (status, body) = commit(&issuer, &key, id, 1);
        assert_eq!(
            (status, body["error"].as_str()),
            (404, Some("not_found")),
            "{id}"
        );
        assert_eq!(release(&issuer, &key, id).0, 404, "{id}");
    }

    // A 402 is an answer too: repeated as it was.
    let (status, short) = reserve(&issuer, &key, "big", json!({"amount": 1000}));
    assert_eq!(status, 402);
    assert_eq!(
        reserve(&issuer, &key, "big", json!({"amount": 1000})),
        (402, short)
    );

    for query in ["cursor=garbage", "limit=0", "limit=abc", "limit=100000"] {
        let (status, body) = call(
            &issuer,
            "GET",
            &format!("/v1/credits/ledger?{query}"),
            Some(&key),
            None,
            None,
        );
        assert_eq!(status, 400, "{query}: {body}");
    }
    assert_ledger_matches(&workspace, &issuer, &key);
    assert!(!issuer.log().contains("internal error"));
}

#[test]
fn the_sweeper_releases_expired_reservations_also_after_a_restart() {
    let (workspace, fake) = setup();
    let issuer = workspace.start();
    let (_, key) = subscribe(&issuer, &fake, now() + 30 * DAY);

    let (status, r) = reserve(
        &issuer,
        &key,
        "short",
        json!({"amount": 30, "ttl_seconds": 1}),
    );
    assert_eq!(status, 201, "{r}");
    let (status, _) = reserve(
        &issuer,
        &key,
        "later",
        json!({"amount": 20, "ttl_seconds": 2}),
    );
    assert_eq!(status, 201);
    let deadline = Instant::now() + Duration::from_secs(6);
    while buckets(&issuer, &key) != (80, 0, 20) {
        assert!(
            Instant::now() < deadline,
            "not released: {}",
            balances(&issuer, &key)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, body) = commit(&issuer, &key, r["id"].as_str().unwrap(), 1);
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("reservation_expired"))
    );

    // Stopped while the second is open: released after the next start.
    assert!(issuer.stop());
    std::thread::sleep(Duration::from_millis(2100));
    let issuer = workspace.start();
    let deadline = Instant::now() + Duration::from_secs(5);
    while buckets(&issuer, &key) != (100, 0, 0) {
        assert!(
            Instant::now() < deadline,
            "not released: {}",
            balances(&issuer, &key)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let kinds: Vec<String> = ledger(&issuer, &key, 100)
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["kind"].as_str().unwrap(),
                e["reason"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "release ttl").count(),
        2,
        "{kinds:?}"
    );
    assert_ledger_matches(&workspace, &issuer, &key);
}

#[test]
fn concurrent_clients_never_overspend_or_spend_twice() {
    let (workspace, fake) = setup();
    let issuer = workspace.start();
    let (key, initial) = funded_licence(&issuer, &fake);
    let record = hammer(&[issuer.base_url()], &key, false, |_| ()).0;
    record.check(&workspace, &issuer, &key, initial);
}

#[test]
fn checkout_creates_a_top_up_session_for_the_licence_and_its_webhook_grants_once() {
    let (workspace, fake) = setup();
    let issuer = workspace.start();
    let (license_id, key) = buy_licence(&issuer);

    let (status, body) = call(
        &issuer,
        "POST",
        "/v1/credits/checkout",
        Some(&key),
        None,
        Some(r#"{"pack": "price_pro_forever"}"#),
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("unknown_pack"))
    );
    let (status, created) = call(
        &issuer,
        "POST",
        "/v1/credits/checkout",
        Some(&key),
        None,
        Some(r#"{"pack": "price_credits_500"}"#),
    );
    assert_eq!(status, 200, "{created}");
    let session_id = created["session_id"].as_str().unwrap();
    assert!(session_id.starts_with("cs_"));
    assert!(created["url"].as_str().unwrap().contains(session_id));
    let (path, form) = fake.posted().pop().expect("a session was created");
    assert_eq!(path, "/v1/checkout/sessions");
    for field in [
        "mode=payment".to_owned(),
        format!("metadata[tessera_license]={license_id}"),
        "metadata[tessera_price]=price_credits_500".to_owned(),
        "line_items[0][price]=price_credits_500".to_owned(),
    ] {
        assert!(
            form.split('&').any(|pair| pair == field),
            "{field} in {form}"
        );
    }

    // Stripe reports the session paid, with the metadata it was created with.
    let paid = paid_session(
        "payment",
        json!({"id": session_id, "payment_intent": unique("pi"),
               "metadata": {"tessera_license": license_id, "tessera_price": "price_credits_500"}}),
    );
    for event_type in [
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
    ] {
        assert_eq!(
            deliver(&issuer, &event(event_type, paid.clone(), now())).0,
            200
        );
    }
    assert_eq!(buckets(&issuer, &key), (0, 500, 0));
    assert_ledger_matches(&workspace, &issuer, &key);
}
