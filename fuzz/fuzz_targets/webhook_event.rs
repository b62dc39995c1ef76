//! Stripe webhook bodies from untrusted hands, down the issuer's path: the body must be UTF-8 (the
//! issuer answers 400 otherwise), then `stripe::signature::verify`, then the event is read with
//! `serde_json` into `EventEnvelope` and its object with `fulfil::Action::read`.
//!
//! For any body, with the webhook secrets `[an old one, SECRET]`:
//! - a header signed long ago for another body, or the body itself used as the header, is refused;
//! - a header signed with `SECRET` now is accepted, whatever the body holds (async-stripe parses it
//!   into its own models after the signature matches; that must not panic either);
//! - for a body that is an event, a header signed at the event's `created` time is accepted within
//!   300 s of now and refused as stale beyond (as malformed for a time before any clock);
//! - reading the event and its object never panics, and the object's accessors have answers.
#![no_main]

use std::hint::black_box;
use std::sync::LazyLock;
use std::time::{SystemTime, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use stripe_webhook::Webhook;
use tessera_issuer::config::Secret;
use tessera_issuer::fulfil::Action;
use tessera_issuer::stripe::objects::EventEnvelope;
use tessera_issuer::stripe::signature::{verify, SignatureError};

const SECRET: &str = "whsec_fuzz";

static SECRETS: LazyLock<[Secret; 2]> =
    LazyLock::new(|| [Secret::new("whsec_rotated_out"), Secret::new(SECRET)]);

/// A genuine header, for an empty object signed in 2023.
static OLD_HEADER: LazyLock<String> =
    LazyLock::new(|| Webhook::generate_test_header("{}", SECRET, Some(1_700_000_000)));

fuzz_target!(|data: &[u8]| {
    let Ok(body) = std::str::from_utf8(data) else {
        return;
    };
    // Read once, as the issuer does once the signature matches; here both run whatever it is.
    let event = serde_json::from_str::<EventEnvelope>(body).ok();
    signature(body, event.as_ref().map(|event| event.created));
    if let Some(event) = event {
        read(event);
    }
});

/// `created`: the event's own time, if the body is an event.
fn signature(body: &str, created: Option<i64>) {
    let secrets = &*SECRETS;
    assert_ne!(verify(body, Some(&OLD_HEADER), secrets), Ok(()));
    assert_ne!(verify(body, Some(body), secrets), Ok(()));
    assert_eq!(verify(body, None, secrets), Err(SignatureError::Missing));

    let now = now();
    let header = Webhook::generate_test_header(body, SECRET, Some(now));
    assert_eq!(verify(body, Some(&header), secrets), Ok(()));

    if let Some(created) = created {
        let header = Webhook::generate_test_header(body, SECRET, Some(created));
        let result = verify(body, Some(&header), secrets);
        // A margin either side of the 300 s tolerance: the clock moves while we check.
        match now.abs_diff(created) {
            _ if created < i64::MIN / 2 => {
                // Before any clock: refused as malformed (async-stripe's `now - t` would overflow).
                assert_eq!(result, Err(SignatureError::Invalid))
            }
            0..290 => assert_eq!(result, Ok(()), "signed at {created}"),
            311.. => assert_eq!(result, Err(SignatureError::Stale)),
            _ => {}
        }
    }
}

fn read(event: EventEnvelope) {
    black_box((&event.id, event.created));
    match Action::read(&event.event_type, event.data.object) {
        Action::Checkout(session) => {
            black_box((
                session.is_paid(),
                session.customer(),
                session.email(),
                session.payment_intent(),
                session.subscription(),
                session.metadata_license(),
                session.metadata_price(),
            ));
        }
        Action::InvoicePaid(invoice) => {
            black_box((
                invoice.customer(),
                invoice.email(),
                invoice.subscription(),
                invoice.payment_intents(),
            ));
            for line in invoice.period_lines() {
                black_box((
                    line.price(),
                    line.period_start(),
                    line.period_end(),
                    line.is_proration(),
                ));
            }
        }
        Action::Subscription(subscription, kind) => {
            black_box((subscription.customer(), subscription.prices(), kind));
        }
        Action::Refunded(charge) => {
            black_box((
                charge.payment_intent(),
                charge.invoice(),
                charge.fully_refunded(),
            ));
        }
        Action::Disputed(dispute) => {
            black_box(dispute.payment_intent());
        }
        Action::Unreadable(why) => assert!(!why.is_empty()),
        Action::Ignore => {}
    }
}

fn now() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX)
}
