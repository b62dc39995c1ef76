//! Rate limits: per client address on every endpoint, per licence on the credit endpoints; 429 with
//! `Retry-After`, and neither keys nor tokens in the log.

use super::credits::{balances, funded_licence};
use super::harness::{get_json, http, Workspace};
use super::seed::Seed;
use super::stripe_fixtures::FakeStripe;
use super::webhooks::config;

/// Status, `Retry-After` and body of a GET with an optional licence key.
fn get(url: &str, key: Option<&str>) -> (u16, Option<String>, serde_json::Value) {
    let mut request = http().get(url);
    if let Some(key) = key {
        request = request.header("authorization", &format!("License {key}"));
    }
    let mut response = request.call().expect("GET");
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.body_mut().read_to_string().unwrap_or_default();
    (
        response.status().as_u16(),
        retry_after,
        serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)),
    )
}

/// Sends 8 requests for `path` to an issuer allowing a burst of 5 per address: the burst gets
/// `status`, the last 429 with `Retry-After`.
fn limited_after_a_burst(path: &str, status: u16) {
    let workspace = Workspace::new("[limits]\nrequests_per_second_per_ip = 1\nburst_per_ip = 5\n");
    let issuer = workspace.start();
    let answers: Vec<_> = (0..8).map(|_| get(&issuer.url(path), None)).collect();
    // The burst passes (a sixth may too, if a second has gone by); then the limit holds.
    assert!(
        answers[..5]
            .iter()
            .all(|(answered, _, _)| *answered == status),
        "{answers:?}"
    );
    let (answered, retry_after, body) = answers.last().unwrap();
    assert_eq!(*answered, 429, "{answers:?}");
    let seconds: u64 = retry_after.as_deref().unwrap().parse().unwrap();
    assert!((1..=2).contains(&seconds), "{seconds}");
    assert_eq!(body["error"], "rate_limited");
    assert!(body["message"].as_str().unwrap().contains("retry after"));
}

#[test]
fn a_client_address_over_its_limit_gets_429_with_retry_after() {
    limited_after_a_burst("/healthz", 200);
}

#[test]
fn unknown_paths_are_rate_limited_too() {
    limited_after_a_burst("/nope", 404);
}

#[test]
fn a_licence_over_its_credit_limit_gets_429_and_others_do_not() {
    let fake = FakeStripe::start();
    let workspace = Workspace::new(&format!(
        "{}\n[limits]\ncredit_requests_per_second_per_license = 1\ncredit_burst_per_license = 4\n",
        config(&fake)
    ));
    let issuer = workspace.start();
    let (key, _) = funded_licence(&issuer, &fake);
    let (other, _) = funded_licence(&issuer, &fake);
    // funded_licence itself read the balance once per licence.
    let answers: Vec<_> = (0..6)
        .map(|_| get(&issuer.url("/v1/credits"), Some(&key)))
        .collect();
    let (status, retry_after, body) = answers.last().unwrap();
    assert_eq!(
        (*status, body["error"].as_str()),
        (429, Some("rate_limited")),
        "{answers:?}"
    );
    assert!(retry_after.is_some());
    assert_eq!(balances(&issuer, &other)["balances"]["top_up"], 500);
    // Other endpoints are not counted against the licence.
    assert_eq!(get_json(&issuer.url("/healthz")).0, 200);

    let log = issuer.log();
    assert!(log.contains("rate limited"), "{log}");
    for secret in [&key, &other] {
        assert!(
            !log.contains(secret.as_str()),
            "a licence key reached the log"
        );
    }
}

#[test]
fn a_licence_key_text_longer_than_any_key_is_refused_before_decoding() {
    let workspace = Workspace::new("");
    let issuer = workspace.start();
    let key = Seed::active(0x0b1e_c7ed_0000_0001).insert(&workspace.path().join("data"));
    let max = tessera_issuer::verified_keys::MAX_KEY_TEXT_LEN;
    // Wrapped and indented as in an e-mail: still the key.
    let wrapped: String = key
        .as_bytes()
        .chunks(40)
        .map(|line| format!("    {} ", std::str::from_utf8(line).unwrap()))
        .collect();
    assert!(wrapped.len() <= max);
    let (status, _, body) = get(&issuer.url("/v1/credits"), Some(&wrapped));
    assert_ne!(status, 401, "{body}");
    // The same key with more whitespace than any key needs.
    let padded = format!("{}{}{}", &key[..10], " ".repeat(max), &key[10..]);
    let (status, _, body) = get(&issuer.url("/v1/credits"), Some(&padded));
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("malformed")),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("too long"),
        "{body}"
    );
}
