//! What each Stripe event does to licences, run inside the delivery's transaction.
//!
//! # Exactly once
//! [`apply`] runs inside `process_delivery` (an operation of [`crate::store::Store`]): the delivery record and every
//! change below commit together, and a delivery of an event that already took effect never runs it
//! again. Network calls (line items, subscriptions) happen before, in [`crate::webhooks`].
//!
//! # Order independence
//! Stripe does not promise order, so events do not drive a state machine. Each event merges the facts
//! it carries into a record, and the licence is derived from the merged facts:
//! - a subscription's plan is taken from the newest event that names one, newest by
//!   `(event.created, rank)` where the rank breaks ties in the order Stripe causes them (checkout,
//!   invoice, `customer.subscription.created`, `.updated`, `.deleted`);
//! - its paid-through time is the latest period end of any paid event (checkout, `invoice.paid`),
//!   so it only moves forward;
//! - cancellation is sticky;
//! - a refund or dispute is recorded against its payment, and a licence bought with that payment is
//!   revoked whether it exists yet or is issued later. A subscription payment is tied to its
//!   subscription (from `invoice.paid` when it lists its payments, else from Stripe's API when the
//!   refund or dispute arrives), and the subscription's licence is revoked in the same way.
//!
//! The first paid event that carries enough to issue a licence (a catalogue price and, for a
//! subscription, a period end) creates it; later ones fill in what it lacked (the Checkout Session,
//! the e-mail address) and issue a new key only when the derived product, tier, features or expiry
//! differ from the current key's.

mod checkout;
mod reversal;
mod subscription;

use tessera_keys::{Claims, FeatureSet, LicenseId, SigningKey, UnixTime};

use checkout::*;
use reversal::*;
use subscription::*;

use crate::config::{Config, Sale};
use crate::store::{
    ApplyError, CreditGrant, DeliveryStatus, IssuedKey, LicenseRecord, LicenseStatus,
    NewLedgerEntry, PaymentReversal, PaymentSubscription, SeatPolicy, StoreError,
    SubscriptionRecord, Timestamp, Tx, MAX_AMOUNT,
};
use crate::stripe::api::{BoughtPrice, PaymentOwner, SubscriptionSnapshot};
use crate::stripe::objects::{Charge, CheckoutSession, Dispute, Invoice, Subscription};

/// An event, read into what the issuer acts on.
#[derive(Debug)]
pub enum Action {
    /// A Checkout Session completed or its delayed payment succeeded.
    Checkout(CheckoutSession),
    /// An invoice was paid.
    InvoicePaid(Invoice),
    /// A subscription was created, updated or deleted.
    Subscription(Subscription, SubscriptionEvent),
    /// A charge was refunded (fully or partly).
    Refunded(Charge),
    /// A payment was disputed.
    Disputed(Dispute),
    /// A type the issuer does not act on.
    Ignore,
    /// A handled type whose object could not be read; recorded as failed.
    Unreadable(String),
}

/// Which subscription event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscriptionEvent {
    /// `customer.subscription.created`.
    Created,
    /// `customer.subscription.updated`.
    Updated,
    /// `customer.subscription.deleted`.
    Deleted,
}

impl Action {
    /// Reads `object` as the object of an event of `event_type`.
    pub fn read(event_type: &str, object: serde_json::Value) -> Action {
        fn read<T: serde::de::DeserializeOwned>(
            event_type: &str,
            object: serde_json::Value,
            wrap: impl FnOnce(T) -> Action,
        ) -> Action {
            match serde_json::from_value(object) {
                Ok(value) => wrap(value),
                Err(err) => {
                    Action::Unreadable(format!("cannot read the {event_type} object: {err}"))
                }
            }
        }
        match event_type {
            "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
                read(event_type, object, Action::Checkout)
            }
            "invoice.paid" => read(event_type, object, Action::InvoicePaid),
            "customer.subscription.created" => read(event_type, object, |s| {
                Action::Subscription(s, SubscriptionEvent::Created)
            }),
            "customer.subscription.updated" => read(event_type, object, |s| {
                Action::Subscription(s, SubscriptionEvent::Updated)
            }),
            "customer.subscription.deleted" => read(event_type, object, |s| {
                Action::Subscription(s, SubscriptionEvent::Deleted)
            }),
            "charge.refunded" => read(event_type, object, Action::Refunded),
            "charge.dispute.created" => read(event_type, object, Action::Disputed),
            _ => Action::Ignore,
        }
    }
}

impl CheckoutSession {
    /// Whether the buyer has paid (or owes nothing, as with a free trial or a full discount).
    pub fn is_paid(&self) -> bool {
        matches!(self.payment_status.as_str(), "paid" | "no_payment_required")
    }
}

/// What the webhook handler fetched from Stripe before the transaction.
#[derive(Debug, Default)]
pub struct Fetched {
    /// The Checkout Session's line items, when its metadata names no price.
    pub line_items: Option<Result<Vec<BoughtPrice>, String>>,
    /// The subscription a Checkout Session started, when its paid period is not known yet.
    pub subscription: Option<Result<SubscriptionSnapshot, String>>,
    /// What a refunded or disputed payment paid for, when no licence is known to have been bought
    /// with it.
    pub payment_owner: Option<Result<PaymentOwner, String>>,
}

/// Everything [`apply`] needs besides the event.
#[derive(Debug)]
pub struct Context<'a> {
    /// The configuration (catalogue, grace period).
    pub config: &'a Config,
    /// The key that signs new licence keys.
    pub signer: &'a SigningKey,
    /// The event being applied.
    pub event_id: &'a str,
    /// When Stripe created it (orders facts from different events).
    pub event_created: i64,
    /// Now.
    pub now: Timestamp,
}

/// Applies an event's effects in `tx`; returns whether it was processed or ignored.
pub fn apply(
    ctx: &Context<'_>,
    action: &Action,
    fetched: &Fetched,
    tx: &mut dyn Tx,
) -> Result<DeliveryStatus, ApplyError> {
    match action {
        Action::Checkout(session) => checkout(ctx, session, fetched, tx),
        Action::InvoicePaid(invoice) => invoice_paid(ctx, invoice, tx),
        Action::Subscription(subscription, kind) => {
            subscription_changed(ctx, subscription, *kind, tx)
        }
        Action::Refunded(charge) => refunded(ctx, charge, fetched, tx),
        Action::Disputed(dispute) => disputed(ctx, dispute, fetched, tx),
        Action::Ignore => Ok(DeliveryStatus::Ignored),
        Action::Unreadable(why) => Err(ApplyError::Unprocessable(why.clone())),
    }
}

/// What a licence price sells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LicenseTerms {
    product: u32,
    tier: u8,
    features: u64,
    duration_days: Option<u32>,
    seats: Option<SeatPolicy>,
}

fn unprocessable(message: impl Into<String>) -> ApplyError {
    ApplyError::Unprocessable(message.into())
}

fn license_terms(config: &Config, price_id: &str) -> Option<LicenseTerms> {
    match &config.price(price_id)?.sells {
        Sale::License {
            product,
            tier,
            features,
            duration_days,
            seats,
            ..
        } => Some(LicenseTerms {
            product: *product,
            tier: *tier,
            features: *features,
            duration_days: *duration_days,
            seats: *seats,
        }),
        Sale::TopUp { .. } => None,
    }
}

fn unknown_price(what: &str, prices: &[String]) -> ApplyError {
    let prices = if prices.is_empty() {
        "no price".to_owned()
    } else {
        prices.join(", ")
    };
    unprocessable(format!(
        "{what} names {prices}, which is not a licence price in the catalogue ([[prices]]); add it \
         and Stripe's next retry will issue the licence"
    ))
}

/// Queues `key` to the buyer if mail is on (see [`queue_email`]).
fn queue_key_email(
    ctx: &Context<'_>,
    tx: &mut dyn Tx,
    license: &LicenseRecord,
    key: &IssuedKey,
) -> Result<(), ApplyError> {
    queue_email(ctx.config, tx, license, key, Some(ctx.event_id))?;
    Ok(())
}

/// With `[smtp]` configured and the licence's address known, queues `key` to it in this transaction
/// (see [`crate::email`]); returns whether it did. An address that cannot be mailed is logged, not an
/// error: the key stands.
pub fn queue_email(
    config: &Config,
    tx: &mut dyn Tx,
    license: &LicenseRecord,
    key: &IssuedKey,
    event_id: Option<&str>,
) -> Result<bool, StoreError> {
    let (Some(smtp), Some(to)) = (&config.smtp, &license.email) else {
        return Ok(false);
    };
    match crate::email::compose(config, smtp, license, key, to, event_id) {
        Ok(email) => {
            tx.enqueue_email(&email)?;
            Ok(true)
        }
        Err(why) => {
            tracing::warn!(license = %license.id, %why, "licence key not e-mailed");
            Ok(false)
        }
    }
}

fn sign(
    ctx: &Context<'_>,
    license: &LicenseRecord,
    grace_seconds: Option<u32>,
    reason: &str,
) -> Result<IssuedKey, ApplyError> {
    sign_key(ctx.signer, license, grace_seconds, reason, ctx.now).map_err(unprocessable)
}

/// Signs a new key for `license` as it stands (product, tier, features, expiry) at `now`.
/// Subscription licences carry the configured grace period; one-time licences end at their expiry.
pub fn sign_key(
    signer: &SigningKey,
    license: &LicenseRecord,
    grace_seconds: Option<u32>,
    reason: &str,
    now: Timestamp,
) -> Result<IssuedKey, String> {
    let to_time = |t: Timestamp| UnixTime(u64::try_from(t).unwrap_or(0));
    let claims = Claims {
        key_id: signer.id(),
        license_id: license.id,
        product: license.product,
        tier: license.tier,
        issued_at: to_time(now),
        not_before: None,
        expires_at: license.expires_at.map(to_time),
        grace_seconds,
        features: FeatureSet(license.features),
        licensee: None,
        // The licence's seat policy says so: such a key works only with a machine certificate.
        requires_activation: license.seats.is_some(),
    };
    let key = signer
        .sign_license(&claims)
        .map_err(|err| format!("cannot sign licence {}: {err}", license.id))?;
    Ok(IssuedKey {
        key,
        signing_key_id: signer.id(),
        issued_at: now,
        expires_at: license.expires_at,
        reason: reason.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::Environment;
    use crate::store::sqlite::SqliteStore;
    use crate::store::{IncomingDelivery, Store};

    const CONFIG: &str = r#"
        [[products]]
        id = 7
        name = "editor"
        tiers = ["free", "pro", "team"]
        features = ["export", "sync"]
        [[prices]]
        id = "price_pro"
        product = "editor"
        tier = "pro"
        features = ["export"]
        [[prices]]
        id = "price_team"
        product = "editor"
        tier = "team"
        features = ["export", "sync"]
        max_machines = 5
        lease_days = 7
    "#;

    /// A time the key format accepts.
    const T: i64 = 1_800_000_000;

    struct World {
        _dir: tempfile::TempDir,
        store: SqliteStore,
        config: Config,
        signer: SigningKey,
        next: u32,
    }

    impl World {
        fn new() -> World {
            let dir = tempfile::tempdir().unwrap();
            let store = SqliteStore::open(&dir.path().join("db.sqlite3")).unwrap();
            World {
                _dir: dir,
                store,
                config: Config::from_toml_str(CONFIG, &Environment::default()).unwrap(),
                signer: SigningKey::generate(1),
                next: 0,
            }
        }

        fn deliver(&mut self, event_type: &str, object: serde_json::Value, created: i64) {
            self.next += 1;
            let event_id = format!("evt_{}", self.next);
            let action = Action::read(event_type, object);
            let ctx = Context {
                config: &self.config,
                signer: &self.signer,
                event_id: &event_id,
                event_created: created,
                now: T,
            };
            let incoming = IncomingDelivery {
                event_id: &event_id,
                event_type,
                payload: "{}",
                received_at: T,
                note: None,
            };
            (&self.store as &dyn Store)
                .process_delivery(incoming, &mut |tx| {
                    apply(&ctx, &action, &Fetched::default(), tx)
                })
                .unwrap();
        }
    }

    fn invoice(period_end: i64) -> serde_json::Value {
        invoice_for("price_pro", period_end)
    }

    fn invoice_for(price: &str, period_end: i64) -> serde_json::Value {
        json!({"id": "in_1", "billing_reason": "subscription_create", "customer": "cus_1",
               "parent": {"subscription_details": {"subscription": "sub_1"}},
               "lines": {"data": [{"period": {"start": 0, "end": period_end},
                                   "pricing": {"price_details": {"price": price}}}]}})
    }

    /// The licence that follows `sub_1` and the claims of its newest key.
    fn licence_and_newest_key(world: &World) -> (LicenseRecord, tessera_keys::Claims<'static>) {
        let store: &dyn Store = &world.store;
        let found = store
            .find_licenses(&crate::store::LicenseQuery::Subscription("sub_1".into()), 1)
            .unwrap();
        let (license, keys) = store.license(&found[0].id).unwrap().unwrap();
        let mut buf = tessera_keys::LicenseBuffer::new();
        let claims = buf.decode_text(&keys.last().unwrap().key).unwrap().claims;
        let claims = tessera_keys::Claims {
            licensee: None,
            ..claims
        };
        (license, claims)
    }

    /// A plan change takes the new plan's seat policy (and its keys need activation); a renewal
    /// keeps the licence's own, as support changed it.
    #[test]
    fn a_plan_change_takes_the_new_seat_policy_and_a_renewal_keeps_the_licences() {
        let mut world = World::new();
        world.deliver("invoice.paid", invoice(T + 5_000), T);
        let (license, claims) = licence_and_newest_key(&world);
        assert_eq!(license.seats, None);
        assert!(!claims.requires_activation);

        world.deliver(
            "customer.subscription.updated",
            subscription("price_team"),
            T + 1,
        );
        let (mut license, claims) = licence_and_newest_key(&world);
        let seats = license.seats.expect("the team plan's seats");
        assert_eq!((seats.max_machines, seats.lease_days), (Some(5), Some(7)));
        assert!(claims.requires_activation);

        // Support gives this licence two more seats.
        license.seats = Some(crate::store::SeatPolicy {
            max_machines: Some(7),
            ..seats
        });
        (&world.store as &dyn Store)
            .write(&mut |tx| Ok(tx.update_license(&license)?))
            .unwrap();
        world.deliver("invoice.paid", invoice_for("price_team", T + 9_000), T + 2);
        let (renewed, claims) = licence_and_newest_key(&world);
        assert_eq!(renewed.expires_at, Some(T + 9_000), "renewed");
        assert_eq!(renewed.seats.and_then(|s| s.max_machines), Some(7));
        assert!(claims.requires_activation);
    }

    fn subscription(price: &str) -> serde_json::Value {
        json!({"id": "sub_1", "status": "active", "customer": "cus_1",
               "items": {"data": [{"price": {"id": price}}]}})
    }

    /// `.created` and `.updated` in the same second: the update wins in either delivery order.
    #[test]
    fn a_plan_change_wins_over_creation_in_the_same_second_in_either_order() {
        for updated_first in [false, true] {
            let mut world = World::new();
            world.deliver("invoice.paid", invoice(T + 5_000), T);
            let created = ("customer.subscription.created", subscription("price_pro"));
            let updated = ("customer.subscription.updated", subscription("price_team"));
            let order = if updated_first {
                [updated, created]
            } else {
                [created, updated]
            };
            for (event_type, object) in order {
                world.deliver(event_type, object, T + 1);
            }
            let record = world.store.subscription("sub_1").unwrap().unwrap();
            assert_eq!(record.price_id.as_deref(), Some("price_team"));
            assert_eq!(record.paid_through, Some(T + 5_000));
        }
    }

    /// An older invoice delivered late never shortens the paid period.
    #[test]
    fn the_paid_period_only_moves_forward() {
        let mut world = World::new();
        world.deliver("invoice.paid", invoice(T + 9_000), T + 300);
        world.deliver("invoice.paid", invoice(T + 5_000), T + 100);
        let record = world.store.subscription("sub_1").unwrap().unwrap();
        assert_eq!(record.paid_through, Some(T + 9_000));
    }
}
