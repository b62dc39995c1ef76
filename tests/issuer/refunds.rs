//! Refunds and disputes of subscription payments: a webhook charge names only its payment intent,
//! so the issuer ties it to the subscription (from `invoice.paid` when it lists its payments, else
//! through Stripe's API: invoice payment -> invoice -> subscription) and revokes that licence.

use serde_json::{json, Value};
use tessera_keys::LicenseId;

use super::harness::{get_json, Issuer, Workspace};
use super::seed::now;
use super::stripe_fixtures::{
    deliver, event, fixture, paid_invoice, paid_session, unique, with, FakeStripe,
};
use super::webhooks::{charge, config, db, delivery, licence, public_key, setup, tessera_verify};

const DAY: u64 = 86_400;

/// A subscription bought through Checkout and its first invoice paid.
struct Subscribed {
    session: String,
    /// The paid invoice, as Stripe's API would answer for it.
    invoice: Value,
    license_id: String,
    key: String,
}

/// The paid invoice of a new subscription (served for `GET /v1/subscriptions/{id}` too); its
/// payments are listed when `listed_payment` names one.
fn first_invoice(fake: &FakeStripe, listed_payment: Option<&str>) -> (String, Value) {
    let subscription = unique("sub");
    let period_end = now() + 30 * DAY;
    fake.subscription(&subscription, "price_pro_monthly", period_end);
    let mut invoice = paid_invoice(
        &subscription,
        "price_pro_monthly",
        period_end,
        "subscription_create",
    );
    if let Some(payment_intent) = listed_payment {
        let payment = with(
            fixture("invoice_payment"),
            json!({"id": unique("inpay"), "invoice": invoice["id"].clone(), "status": "paid",
                   "payment": {"type": "payment_intent", "payment_intent": payment_intent}}),
        );
        invoice["payments"] = json!({"object": "list", "data": [payment], "has_more": false,
                                     "url": "/v1/invoice_payments"});
    }
    (subscription, invoice)
}

/// Delivers the checkout and the first `invoice.paid` of `subscription`.
fn subscribe(issuer: &Issuer, subscription: &str, invoice: Value) -> Subscribed {
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
    let (status, body) = deliver(issuer, &event("invoice.paid", invoice.clone(), now()));
    assert_eq!(status, 200, "{body}");
    let served = licence(issuer, &session);
    Subscribed {
        session,
        invoice,
        license_id: served["license"]["id"].as_str().unwrap().to_owned(),
        key: served["key"].as_str().unwrap().to_owned(),
    }
}

fn status_of(issuer: &Issuer, session: &str) -> String {
    licence(issuer, session)["license"]["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The served revocation list: its sequence and whether it lists `license_id`.
fn revocations(issuer: &Issuer, license_id: &str) -> (u64, bool, Value) {
    let (status, list) = get_json(&issuer.url("/v1/revocations"));
    assert_eq!(status, 200, "{list}");
    let text = list["list"].as_str().unwrap();
    let count = list["revoked"].as_u64().unwrap() as usize;
    let mut buf = vec![0u8; tessera_keys::revocations_buffer_len(count)];
    let signed = tessera_keys::decode_revocations(text, &mut buf).expect("a revocation list");
    let listed = signed
        .list
        .contains(&LicenseId::from_hex(license_id).expect("a licence id"));
    (list["sequence"].as_u64().unwrap(), listed, list)
}

/// Exit code of `tessera verify` for `key` against the issuer's key and revocation list `list`.
fn verify_with_list(workspace: &Workspace, issuer: &Issuer, key: &str, list: &Value) -> i32 {
    let file = workspace
        .path()
        .join(format!("{}.revocations", unique("rl")));
    std::fs::write(&file, list["list"].as_str().unwrap()).unwrap();
    tessera_verify(
        key,
        &public_key(issuer),
        &["--revocations", file.to_str().unwrap()],
    )
}

fn api_calls(fake: &FakeStripe, path_prefix: &str) -> usize {
    fake.requests()
        .iter()
        .filter(|path| path.starts_with(path_prefix))
        .count()
}

fn dispute(payment_intent: &str) -> Value {
    with(
        fixture("dispute"),
        json!({"id": unique("dp"), "payment_intent": payment_intent}),
    )
}

#[test]
fn a_refund_or_dispute_of_a_subscription_payment_revokes_its_licence() {
    let (workspace, fake) = setup();
    let issuer = workspace.start();
    let (subscription, invoice) = first_invoice(&fake, None);
    let bought = subscribe(&issuer, &subscription, invoice);
    let payment = unique("pi");

    // A partial refund keeps the licence and asks Stripe nothing.
    let partial = event("charge.refunded", charge(&payment, 1000, 400), now());
    let (status, body) = deliver(&issuer, &partial);
    assert_eq!((status, body["status"].as_str()), (200, Some("ignored")));
    assert_eq!(api_calls(&fake, "/v1/invoice_payments"), 0);
    let (sequence, listed, list) = revocations(&issuer, &bought.license_id);
    assert_eq!((sequence, listed), (0, false));
    assert_eq!(verify_with_list(&workspace, &issuer, &bought.key, &list), 0);

    // A full refund: the payment's invoice and its subscription come from Stripe's API.
    fake.invoice_payment(&payment, &bought.invoice);
    let refund = event("charge.refunded", charge(&payment, 1000, 1000), now());
    let (status, body) = deliver(&issuer, &refund);
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("processed")),
        "{body}"
    );
    assert_eq!(status_of(&issuer, &bought.session), "revoked");
    let (sequence, listed, list) = revocations(&issuer, &bought.license_id);
    assert_eq!((sequence, listed), (1, true));
    assert_eq!(
        verify_with_list(&workspace, &issuer, &bought.key, &list),
        15,
        "the revoked key is refused"
    );
    assert_eq!(api_calls(&fake, "/v1/invoice_payments"), 1);
    assert_eq!(api_calls(&fake, "/v1/invoices/"), 1);

    // Delivered again, or told again in another event: one revocation, and no API call.
    let (status, body) = deliver(&issuer, &refund);
    assert_eq!((status, body["status"].as_str()), (200, Some("duplicate")));
    let again = event("charge.refunded", charge(&payment, 1000, 1000), now());
    assert_eq!(deliver(&issuer, &again).0, 200);
    assert_eq!(revocations(&issuer, &bought.license_id).0, 1);
    assert_eq!(api_calls(&fake, "/v1/invoice_payments"), 1);

    // An `invoice.paid` that lists its payments ties them to the subscription: a dispute of one
    // then needs no API call.
    let disputed_payment = unique("pi");
    let (subscription, invoice) = first_invoice(&fake, Some(&disputed_payment));
    let disputed = subscribe(&issuer, &subscription, invoice);
    let (status, body) = deliver(
        &issuer,
        &event("charge.dispute.created", dispute(&disputed_payment), now()),
    );
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("processed")),
        "{body}"
    );
    assert_eq!(status_of(&issuer, &disputed.session), "revoked");
    let (sequence, listed, list) = revocations(&issuer, &disputed.license_id);
    assert_eq!((sequence, listed), (2, true));
    assert_eq!(
        verify_with_list(&workspace, &issuer, &disputed.key, &list),
        15
    );
    assert_eq!(api_calls(&fake, "/v1/invoice_payments"), 1);
    assert_eq!(api_calls(&fake, "/v1/invoices/"), 1);
}

#[test]
fn a_subscription_refund_waits_for_stripes_api_and_does_not_depend_on_order() {
    let (workspace, fake) = setup();
    let issuer = workspace.start();
    let (subscription, invoice) = first_invoice(&fake, None);
    let bought = subscribe(&issuer, &subscription, invoice);
    let payment = unique("pi");

    // Stripe's API is down: recorded as failed and answered 500, so Stripe retries.
    fake.invoice_payment(&payment, &bought.invoice);
    fake.set_down(true);
    let refund = event("charge.refunded", charge(&payment, 1000, 1000), now());
    let (status, body) = deliver(&issuer, &refund);
    assert_eq!(status, 500, "{body}");
    let (recorded, error, _) = delivery(&workspace, &refund);
    assert_eq!(recorded, "failed");
    assert!(
        error.as_deref().unwrap_or("").contains(&payment),
        "{error:?}"
    );
    assert_eq!(status_of(&issuer, &bought.session), "active");
    assert_eq!(revocations(&issuer, &bought.license_id).0, 0);

    // Once it answers, Stripe's retry revokes.
    fake.set_down(false);
    let (status, body) = deliver(&issuer, &refund);
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("processed")),
        "{body}"
    );
    assert_eq!(delivery(&workspace, &refund).0, "processed");
    assert_eq!(status_of(&issuer, &bought.session), "revoked");
    let (sequence, listed, _) = revocations(&issuer, &bought.license_id);
    assert_eq!((sequence, listed), (1, true));

    // A refund delivered before the subscription's licence exists revokes it when it is issued.
    let early_payment = unique("pi");
    let (subscription, invoice) = first_invoice(&fake, None);
    fake.invoice_payment(&early_payment, &invoice);
    let (status, body) = deliver(
        &issuer,
        &event("charge.refunded", charge(&early_payment, 1000, 1000), now()),
    );
    assert_eq!((status, body["status"].as_str()), (200, Some("processed")));
    let early = subscribe(&issuer, &subscription, invoice);
    assert_eq!(status_of(&issuer, &early.session), "revoked");
    let (sequence, listed, _) = revocations(&issuer, &early.license_id);
    assert_eq!((sequence, listed), (2, true));

    // A payment Stripe says belongs to no invoice: processed with no effect, until an
    // `invoice.paid` that lists it ties it to a subscription.
    let unlinked_payment = unique("pi");
    let unlinked = event(
        "charge.refunded",
        charge(&unlinked_payment, 1000, 1000),
        now(),
    );
    let (status, body) = deliver(&issuer, &unlinked);
    assert_eq!((status, body["status"].as_str()), (200, Some("processed")));
    assert_eq!(delivery(&workspace, &unlinked).0, "processed");
    assert_eq!(revocations(&issuer, &early.license_id).0, 2);
    let (subscription, invoice) = first_invoice(&fake, Some(&unlinked_payment));
    let late = subscribe(&issuer, &subscription, invoice);
    assert_eq!(status_of(&issuer, &late.session), "revoked");
    assert_eq!(revocations(&issuer, &late.license_id).0, 3);
}

/// Without an API key (STRIPE_SECRET_KEY) a subscription bought in the normal order (checkout
/// before `invoice.paid`) gets its licence from the events alone; a full refund that the events do
/// not tie to a licence is never a silent 200: it is a recorded failure, and a retry once a key is
/// configured revokes the licence.
#[test]
fn without_an_api_key_subscriptions_work_from_the_events_and_an_unresolved_refund_fails_until_retried(
) {
    let fake = FakeStripe::start();
    let with_key = "secret_key = \"sk_test_tessera\"";
    let workspace = Workspace::new(&config(&fake).replace(with_key, "mode = \"test\""));
    let issuer = workspace.start();
    let (subscription, invoice) = first_invoice(&fake, None);
    let bought = subscribe(&issuer, &subscription, invoice);
    assert_eq!(status_of(&issuer, &bought.session), "active");
    let email: Option<String> = db(&workspace)
        .query_row(
            "SELECT email FROM licenses WHERE checkout_session_id = ?1",
            [&bought.session],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(
        email.as_deref(),
        Some("buyer@example.com"),
        "the checkout's address"
    );
    assert!(fake.requests().is_empty(), "Stripe's API was not asked");

    let payment = unique("pi");
    fake.invoice_payment(&payment, &bought.invoice);
    let refund = event("charge.refunded", charge(&payment, 1000, 1000), now());
    let (status, body) = deliver(&issuer, &refund);
    assert_eq!(
        (status, body["error"].as_str()),
        (500, Some("processing_failed")),
        "{body}"
    );
    let (recorded, error, _) = delivery(&workspace, &refund);
    assert_eq!(recorded, "failed");
    let error = error.unwrap_or_default();
    assert!(error.contains("STRIPE_SECRET_KEY"), "{error}");
    assert_eq!(status_of(&issuer, &bought.session), "active");
    drop(issuer);

    // The key configured, Stripe's retry takes effect.
    let config_file = workspace.path().join("tessera.toml");
    let text = std::fs::read_to_string(&config_file).unwrap();
    std::fs::write(&config_file, text.replace("mode = \"test\"", with_key)).unwrap();
    let issuer = workspace.start();
    let (status, body) = deliver(&issuer, &refund);
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("processed")),
        "{body}"
    );
    assert_eq!(status_of(&issuer, &bought.session), "revoked");
    assert_eq!(delivery(&workspace, &refund).0, "processed");
}
