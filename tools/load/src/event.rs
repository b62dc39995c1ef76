//! Stripe events as the load tool sends them: `checkout.session.completed`, built from Stripe's own
//! fixture objects and signed exactly as Stripe signs.

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use hyper::header::{HeaderName, HeaderValue};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::client::Request;
use crate::server::WEBHOOK_SECRET;
use crate::WEBHOOK_PATH;

/// Stripe's example `checkout.session` object (`resources["checkout.session"]` of
/// `shared/stripe/fixtures3.json`), committed so the tool runs anywhere.
pub const CHECKOUT_SESSION_FIXTURE: &str = include_str!("../fixtures/checkout_session.json");

/// Stripe's example event envelope (`resources["event"]` of the same file), with an empty
/// `data.object`.
pub const EVENT_FIXTURE: &str = include_str!("../fixtures/event.json");

/// The event id of load event `n`.
pub fn event_id(n: u64) -> String {
    format!("evt_load_{n}")
}

/// The Checkout Session id of load event `n`; its licence is fetched by this id.
pub fn session_id(n: u64) -> String {
    format!("cs_load_{n}")
}

/// A paid one-time `checkout.session.completed` event for `price` (through the session's
/// `tessera_price` metadata, so the issuer needs no Stripe API call), numbered `n`: event id
/// `evt_load_<n>`, session `cs_load_<n>`, payment intent `pi_load_<n>`, e-mail
/// `load-<n>@example.com`.
pub fn checkout_completed(n: u64, price: &str, created: i64) -> Value {
    paid_session_event(n, json!({ "tessera_price": price }), created)
}

/// The same for a top-up: `price` is a top-up price, and the session's metadata names the licence
/// to credit (`tessera_license`, its hex id), as `POST /v1/credits/checkout` creates it.
pub fn top_up_completed(n: u64, price: &str, license_hex: &str, created: i64) -> Value {
    paid_session_event(
        n,
        json!({ "tessera_price": price, "tessera_license": license_hex }),
        created,
    )
}

fn paid_session_event(n: u64, metadata: Value, created: i64) -> Value {
    let mut session: Value =
        serde_json::from_str(CHECKOUT_SESSION_FIXTURE).expect("committed fixture is JSON");
    let fields = session
        .as_object_mut()
        .expect("the checkout.session fixture is an object");
    fields.insert("id".into(), json!(session_id(n)));
    fields.insert("created".into(), json!(created));
    fields.insert("mode".into(), json!("payment"));
    fields.insert("payment_status".into(), json!("paid"));
    fields.insert("status".into(), json!("complete"));
    fields.insert("metadata".into(), metadata);
    fields.insert("payment_intent".into(), json!(format!("pi_load_{n}")));
    fields.insert("url".into(), Value::Null);
    if let Some(details) = fields
        .get_mut("customer_details")
        .and_then(Value::as_object_mut)
    {
        details.insert("email".into(), json!(format!("load-{n}@example.com")));
    }

    let mut event: Value = serde_json::from_str(EVENT_FIXTURE).expect("committed fixture is JSON");
    let envelope = event
        .as_object_mut()
        .expect("the event fixture is an object");
    envelope.insert("id".into(), json!(event_id(n)));
    envelope.insert("type".into(), json!("checkout.session.completed"));
    envelope.insert("created".into(), json!(created));
    envelope.insert("pending_webhooks".into(), json!(1));
    envelope.insert("data".into(), json!({ "object": session }));
    event
}

/// The `Stripe-Signature` header for `payload` sent at `timestamp` (unix seconds):
/// `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<payload>")>`. The key is the whole
/// secret string, `whsec_` included, as Stripe's libraries use it.
pub fn signature_header(secret: &str, timestamp: i64, payload: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    let signature = hex::encode(mac.finalize().into_bytes());
    format!("t={timestamp},v1={signature}")
}

/// Seconds since the Unix epoch, as Stripe stamps events and signatures.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `event` as a webhook request to the issuer, signed at `now` with [`WEBHOOK_SECRET`].
pub fn signed_request(event: &Value, now: i64) -> Request {
    let body = serde_json::to_vec(event).expect("JSON values serialise");
    let signature = signature_header(WEBHOOK_SECRET, now, &body);
    Request::post_json(
        WEBHOOK_PATH,
        body,
        vec![(
            HeaderName::from_static("stripe-signature"),
            HeaderValue::from_str(&signature).expect("the header is ASCII"),
        )],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_hmac_vector() {
        // python3 -c 'import hmac,hashlib;print(hmac.new(b"whsec_test_secret",
        //   b"1700000000.{\"id\":\"evt_1\"}", hashlib.sha256).hexdigest())'
        assert_eq!(
            signature_header("whsec_test_secret", 1_700_000_000, br#"{"id":"evt_1"}"#),
            "t=1700000000,v1=248a374f50f943a28b0f6ab50faf9a7e7e29b710fa26df9fb1618b9bf8ea9c9a"
        );
    }

    #[test]
    fn event_carries_what_the_issuer_needs() {
        let event = checkout_completed(42, "price_bench", 1_700_000_000);
        assert_eq!(event["id"], "evt_load_42");
        assert_eq!(event["object"], "event");
        assert_eq!(event["type"], "checkout.session.completed");
        let session = &event["data"]["object"];
        assert_eq!(session["object"], "checkout.session");
        assert_eq!(session["id"], "cs_load_42");
        assert_eq!(session["mode"], "payment");
        assert_eq!(session["payment_status"], "paid");
        assert_eq!(session["status"], "complete");
        assert_eq!(
            session["metadata"],
            json!({ "tessera_price": "price_bench" })
        );
        assert_eq!(session["payment_intent"], "pi_load_42");
        assert_eq!(session["customer_details"]["email"], "load-42@example.com");
        // The rest is Stripe's fixture, untouched.
        assert_eq!(session["success_url"], "https://example.com/success");
        assert_eq!(session["livemode"], false);
    }

    #[test]
    fn a_top_up_names_its_price_and_licence() {
        let event = top_up_completed(7, "price_bench_credits", "00112233aabbccdd", 1_700_000_000);
        assert_eq!(event["data"]["object"]["id"], "cs_load_7");
        assert_eq!(
            event["data"]["object"]["metadata"],
            json!({ "tessera_price": "price_bench_credits", "tessera_license": "00112233aabbccdd" })
        );
    }

    #[test]
    fn events_are_unique() {
        let a = checkout_completed(1, "price_bench", 0);
        let b = checkout_completed(2, "price_bench", 0);
        assert_ne!(a["id"], b["id"]);
        assert_ne!(a["data"]["object"]["id"], b["data"]["object"]["id"]);
    }
}
