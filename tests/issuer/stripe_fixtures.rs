//! Stripe as the issuer sees it: events built from Stripe's own fixture objects, signed as Stripe
//! signs them, and a local stand-in for Stripe's API.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::harness::{http, Issuer};
use super::seed::now;

/// The webhook secret the test issuers accept (next to a rotated-out one).
pub const SECRET: &str = "whsec_test_tessera";

/// Stripe's fixture object `name` (`resources[name]` of `tests/fixtures/stripe/fixtures3.json`, a
/// committed copy of Stripe's OpenAPI fixtures for the current API version, so that the tests need
/// nothing outside the repository).
pub fn fixture(name: &str) -> Value {
    static FIXTURES: OnceLock<Value> = OnceLock::new();
    let all = FIXTURES.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/stripe/fixtures3.json"
        );
        let text = std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{path}: {err}"));
        serde_json::from_str(&text).expect("fixtures3.json")
    });
    all["resources"][name].clone()
}

/// `base` with the fields of `overrides` replaced (recursively for objects).
pub fn with(mut base: Value, overrides: Value) -> Value {
    merge(&mut base, overrides);
    base
}

fn merge(base: &mut Value, overrides: Value) {
    match (base, overrides) {
        (Value::Object(base), Value::Object(overrides)) => {
            for (key, value) in overrides {
                match base.get_mut(&key) {
                    Some(slot) if value.is_object() && slot.is_object() => merge(slot, value),
                    _ => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, value) => *base = value,
    }
}

/// A fresh id with `prefix`, unique within the test run.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "{prefix}_test{}x{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// An event of `event_type` about `object`, created `created` (unix seconds), with a fresh id.
pub fn event(event_type: &str, object: Value, created: u64) -> Value {
    with(
        fixture("event"),
        json!({"id": unique("evt"), "type": event_type, "created": created,
               "api_version": "2026-07-29.basil"}),
    )
    .as_object()
    .map(|event| {
        let mut event = event.clone();
        event.insert("data".into(), json!({ "object": object }));
        Value::Object(event)
    })
    .expect("event fixture is an object")
}

/// `Stripe-Signature` for `payload` signed with `secret` at `timestamp`.
pub fn signature(payload: &str, secret: &str, timestamp: u64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{timestamp}.{payload}").as_bytes());
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// Status and JSON answer of posting `payload` with `signature` (none if `None`).
pub fn post_raw(issuer: &Issuer, payload: &str, signature: Option<&str>) -> (u16, Value) {
    try_post_raw(issuer.base_url(), payload, signature).expect("POST webhook")
}

/// [`post_raw`] to the issuer at `base_url`; `Err` when no whole answer came back (the issuer
/// went away), and Stripe cannot tell whether it acted.
fn try_post_raw(
    base_url: &str,
    payload: &str,
    signature: Option<&str>,
) -> Result<(u16, Value), ureq::Error> {
    let mut request = http()
        .post(&format!("{base_url}/v1/webhooks/stripe"))
        .header("content-type", "application/json");
    if let Some(signature) = signature {
        request = request.header("stripe-signature", signature);
    }
    let mut response = request.send(payload)?;
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string()?;
    Ok((
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    ))
}

/// Posts `event` signed now with [`SECRET`], as Stripe does.
pub fn deliver(issuer: &Issuer, event: &Value) -> (u16, Value) {
    try_deliver(issuer.base_url(), event).expect("POST webhook")
}

/// [`deliver`] to the issuer at `base_url`; `Err` when no whole answer came back.
pub fn try_deliver(base_url: &str, event: &Value) -> Result<(u16, Value), ureq::Error> {
    let payload = event.to_string();
    try_post_raw(
        base_url,
        &payload,
        Some(&signature(&payload, SECRET, now())),
    )
}

/// A local stand-in for Stripe's API: answers `GET /v1/<path>` with the JSON set for that path, 404
/// otherwise, and counts requests.
#[derive(Clone)]
pub struct FakeStripe {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    routes: Arc<Mutex<HashMap<String, Value>>>,
    requests: Arc<Mutex<Vec<String>>>,
    posted: Arc<Mutex<Vec<(String, String)>>>,
    down: Arc<AtomicBool>,
}

impl FakeStripe {
    /// Starts it on an ephemeral loopback port; it lives as long as the test process.
    pub fn start() -> FakeStripe {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake Stripe");
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let fake = FakeStripe {
            base_url,
            routes: Arc::default(),
            requests: Arc::default(),
            posted: Arc::default(),
            down: Arc::default(),
        };
        let server = fake.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let server = server.clone();
                std::thread::spawn(move || server.answer(stream));
            }
        });
        fake
    }

    fn answer(&self, mut stream: std::net::TcpStream) {
        let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).is_err() {
            return;
        }
        let mut authorized = false;
        let mut content_length = 0;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            let lower = line.to_ascii_lowercase();
            authorized |= lower.starts_with("authorization: bearer sk_test_");
            if let Some(length) = lower.strip_prefix("content-length:") {
                content_length = length.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; content_length];
        if std::io::Read::read_exact(&mut reader, &mut body).is_err() {
            return;
        }
        let method = request_line.split_whitespace().next().unwrap_or("GET");
        let target = request_line.split_whitespace().nth(1).unwrap_or("/");
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let path = path.to_owned();
        self.requests.lock().unwrap().push(path.clone());
        let found = if method == "POST" && path == "/v1/checkout/sessions" {
            // Creating a session: Stripe's fixture with a fresh id, the posted form kept for tests.
            let form = String::from_utf8_lossy(&body).into_owned();
            let id = unique("cs");
            self.posted
                .lock()
                .unwrap()
                .push((path.clone(), form.clone()));
            Some(with(
                fixture("checkout.session"),
                json!({"id": id, "mode": "payment", "status": "open", "payment_status": "unpaid",
                       "url": format!("https://checkout.stripe.com/c/pay/{id}")}),
            ))
        } else if path == "/v1/invoice_payments" {
            // Listed by payment intent; Stripe answers an empty list for a payment of no invoice.
            let payment_intent = query
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .find(|(name, _)| percent_decode(name) == "payment[payment_intent]")
                .map(|(_, value)| percent_decode(value))
                .unwrap_or_default();
            let routes = self.routes.lock().unwrap();
            Some(
                routes
                    .get(&format!("{path}?{payment_intent}"))
                    .cloned()
                    .unwrap_or_else(|| {
                        json!({"object": "list", "data": [], "has_more": false,
                                              "url": "/v1/invoice_payments"})
                    }),
            )
        } else {
            self.routes.lock().unwrap().get(&path).cloned()
        };
        let (status, body) = match (authorized, found) {
            _ if self.down.load(Ordering::SeqCst) => (
                "500 Internal Server Error",
                json!({"error": {"type": "api_error", "message": "down for the test"}}),
            ),
            (false, _) => (
                "401 Unauthorized",
                json!({"error": {"type": "invalid_request_error", "message": "no key"}}),
            ),
            (true, Some(body)) => ("200 OK", body),
            (true, None) => (
                "404 Not Found",
                json!({"error": {"type": "invalid_request_error", "message": "No such object"}}),
            ),
        };
        let body = body.to_string();
        let _ = write!(
            stream,
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
    }

    /// Answers `GET /v1/checkout/sessions/{session}/line_items` with Stripe's `item` fixture, one per
    /// price.
    pub fn line_items(&self, session: &str, prices: &[&str]) {
        let data: Vec<Value> = prices
            .iter()
            .map(|price| {
                with(
                    fixture("item"),
                    json!({"id": unique("li"), "price": {"id": price}, "quantity": 1}),
                )
            })
            .collect();
        let list = json!({"object": "list", "data": data, "has_more": false,
                          "url": format!("/v1/checkout/sessions/{session}/line_items")});
        self.routes
            .lock()
            .unwrap()
            .insert(format!("/v1/checkout/sessions/{session}/line_items"), list);
    }

    /// Answers `GET /v1/subscriptions/{id}` with Stripe's `subscription` fixture on `price`, its
    /// period ending at `period_end`.
    pub fn subscription(&self, id: &str, price: &str, period_end: u64) {
        let body = subscription_object(id, price, period_end);
        self.routes
            .lock()
            .unwrap()
            .insert(format!("/v1/subscriptions/{id}"), body);
    }

    /// Answers `GET /v1/invoice_payments?payment[payment_intent]={payment_intent}` with Stripe's
    /// `invoice_payment` fixture for `invoice`, and `GET /v1/invoices/{invoice}` with `invoice_object`.
    pub fn invoice_payment(&self, payment_intent: &str, invoice_object: &Value) {
        let invoice = invoice_object["id"].as_str().expect("an invoice id");
        let payment = with(
            fixture("invoice_payment"),
            json!({"id": unique("inpay"), "invoice": invoice, "status": "paid",
                   "payment": {"type": "payment_intent", "payment_intent": payment_intent}}),
        );
        let list = json!({"object": "list", "data": [payment], "has_more": false,
                          "url": "/v1/invoice_payments"});
        let mut routes = self.routes.lock().unwrap();
        routes.insert(format!("/v1/invoice_payments?{payment_intent}"), list);
        routes.insert(format!("/v1/invoices/{invoice}"), invoice_object.clone());
    }

    /// While `down`, every request is answered 500.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// The path and the decoded form of every POST so far.
    pub fn posted(&self) -> Vec<(String, String)> {
        self.posted
            .lock()
            .unwrap()
            .iter()
            .map(|(path, form)| (path.clone(), percent_decode(form)))
            .collect()
    }

    /// The paths requested so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// Stripe's `subscription` fixture: `id`, active, one item on `price` whose period ends at
/// `period_end`.
pub fn subscription_object(id: &str, price: &str, period_end: u64) -> Value {
    let mut subscription = with(
        fixture("subscription"),
        json!({"id": id, "status": "active", "customer": "cus_test_sub", "cancel_at": null,
               "canceled_at": null, "ended_at": null, "cancel_at_period_end": false}),
    );
    let mut item = subscription["items"]["data"][0].clone();
    merge(
        &mut item,
        json!({"price": {"id": price}, "subscription": id,
               "current_period_start": period_end - 30 * 86_400, "current_period_end": period_end}),
    );
    subscription["items"]["data"] = json!([item]);
    subscription
}

/// Stripe's `checkout.session` fixture, completed and paid, in `mode`.
pub fn paid_session(mode: &str, overrides: Value) -> Value {
    with(
        with(
            fixture("checkout.session"),
            json!({"id": unique("cs"), "mode": mode, "status": "complete",
                   "payment_status": "paid", "customer": "cus_test_buyer",
                   "customer_details": {"email": "buyer@example.com"}}),
        ),
        overrides,
    )
}

/// Stripe's `invoice` fixture, paid, for subscription `subscription` on `price`, billing the period
/// that ends at `period_end`.
pub fn paid_invoice(subscription: &str, price: &str, period_end: u64, reason: &str) -> Value {
    let mut invoice = with(
        fixture("invoice"),
        json!({"id": unique("in"), "status": "paid", "billing_reason": reason,
               "customer": "cus_test_sub", "customer_email": "subscriber@example.com",
               "amount_paid": 1000, "amount_remaining": 0,
               "parent": {"type": "subscription_details", "quote_details": null,
                          "subscription_details": {"metadata": {}, "subscription": subscription}}}),
    );
    let mut line = invoice["lines"]["data"][0].clone();
    merge(
        &mut line,
        json!({"id": unique("il"), "invoice": invoice["id"].clone(),
               "period": {"start": period_end - 30 * 86_400, "end": period_end},
               "pricing": {"type": "price_details",
                           "price_details": {"price": price, "product": "prod_test"}},
               "parent": {"type": "subscription_item_details", "invoice_item_details": null,
                          "subscription_item_details": {"invoice_item": null, "proration": false,
                              "proration_details": {"credited_items": null},
                              "subscription": subscription, "subscription_item": "si_test"}}}),
    );
    invoice["lines"]["data"] = json!([line]);
    invoice
}

/// `text` with `%XX` escapes decoded (and `+` as a space), as a query string carries it.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(byte) => {
                        out.push(byte);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
