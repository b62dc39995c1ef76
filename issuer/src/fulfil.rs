//! What each Stripe event does to licences, run inside the delivery's transaction.
//!
//! # Exactly once
//! [`apply`] runs inside [`crate::store::Store::process_delivery`]: the delivery record and every
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

use tessera_keys::{Claims, FeatureSet, LicenseId, SigningKey, UnixTime};

use crate::config::{Config, Sale};
use crate::store::{
    ApplyError, CreditGrant, DeliveryStatus, IssuedKey, LicenseRecord, LicenseStatus,
    PaymentReversal, PaymentSubscription, SubscriptionRecord, Timestamp, Tx,
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
            ..
        } => Some(LicenseTerms {
            product: *product,
            tier: *tier,
            features: *features,
            duration_days: *duration_days,
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

// ---------------------------------------------------------------------------------------------
// Checkout

fn checkout(
    ctx: &Context<'_>,
    session: &CheckoutSession,
    fetched: &Fetched,
    tx: &mut dyn Tx,
) -> Result<DeliveryStatus, ApplyError> {
    if !session.is_paid() {
        // `checkout.session.completed` with a delayed payment method: the licence waits for
        // `checkout.session.async_payment_succeeded`.
        tracing::info!(session = %session.id, status = %session.payment_status,
            "checkout not paid yet; nothing to do");
        return Ok(DeliveryStatus::Ignored);
    }
    match session.mode.as_str() {
        "payment" => one_time_purchase(ctx, session, fetched, tx),
        "subscription" => subscription_checkout(ctx, session, fetched, tx),
        _ => Ok(DeliveryStatus::Ignored),
    }
}

fn one_time_purchase(
    ctx: &Context<'_>,
    session: &CheckoutSession,
    fetched: &Fetched,
    tx: &mut dyn Tx,
) -> Result<DeliveryStatus, ApplyError> {
    let bought = match session.metadata_price() {
        Some(price_id) => vec![BoughtPrice {
            price_id,
            quantity: 1,
        }],
        None => match &fetched.line_items {
            Some(Ok(items)) => items.clone(),
            Some(Err(why)) => return Err(unprocessable(why.clone())),
            None => {
                return Err(unprocessable(format!(
                    "Checkout Session {} has no `tessera_price` metadata and its line items were \
                     not fetched",
                    session.id
                )))
            }
        },
    };
    let mut license_price = None;
    let mut top_ups = Vec::new();
    let mut unknown = Vec::new();
    for item in &bought {
        match ctx.config.price(&item.price_id).map(|entry| &entry.sells) {
            Some(Sale::License { .. }) if license_price.is_none() => license_price = Some(item),
            Some(Sale::License { .. }) => tracing::warn!(session = %session.id,
                price = %item.price_id, "a second licence price in one checkout; one licence is issued"),
            Some(Sale::TopUp { credits }) => top_ups.push((item, *credits)),
            None => unknown.push(item.price_id.clone()),
        }
    }
    if license_price.is_none() && top_ups.is_empty() {
        return Err(unknown_price(
            &format!("Checkout Session {}", session.id),
            &unknown,
        ));
    }
    if !unknown.is_empty() {
        tracing::warn!(session = %session.id, prices = %unknown.join(", "),
            "checkout also bought prices that are not in the catalogue; they are ignored");
    }

    for (item, credits) in top_ups {
        grant_top_up(ctx, session, item, credits, tx)?;
    }

    let Some(item) = license_price else {
        return Ok(DeliveryStatus::Processed);
    };
    if tx.license_by_checkout_session(&session.id)?.is_some() {
        // Both `completed` and `async_payment_succeeded` can say a session is paid.
        return Ok(DeliveryStatus::Processed);
    }
    let terms = license_terms(ctx.config, &item.price_id)
        .ok_or_else(|| unknown_price("checkout", std::slice::from_ref(&item.price_id)))?;
    let expires_at = terms
        .duration_days
        .map(|days| ctx.now + i64::from(days) * 86_400);
    let license = LicenseRecord {
        id: LicenseId(rand::random()),
        product: terms.product,
        tier: terms.tier,
        features: terms.features,
        status: LicenseStatus::Active,
        customer_id: session.customer(),
        email: session.email(),
        checkout_session_id: Some(session.id.clone()),
        subscription_id: None,
        payment_intent_id: session.payment_intent(),
        price_id: Some(item.price_id.clone()),
        expires_at,
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    tx.insert_license(&license)?;
    let key = sign(ctx, &license, None, "purchase")?;
    tx.add_key(&license.id, &key, Some(ctx.event_id))?;
    tracing::info!(license = %license.id, session = %session.id, price = %item.price_id,
        "licence issued for a one-time purchase");
    let reversal = match &license.payment_intent_id {
        Some(payment_intent) => tx.payment_reversal(payment_intent)?,
        None => None,
    };
    match reversal {
        Some(reversal) => revoke(ctx, tx, &license, &reversal)?,
        None => queue_key_email(ctx, tx, &license, &key)?,
    }
    Ok(DeliveryStatus::Processed)
}

/// Hook for credit accounting (a later issue): records the credits a top-up price bought.
fn grant_top_up(
    ctx: &Context<'_>,
    session: &CheckoutSession,
    item: &BoughtPrice,
    credits: u64,
    tx: &mut dyn Tx,
) -> Result<(), ApplyError> {
    let grant = CreditGrant {
        checkout_session_id: session.id.clone(),
        price_id: item.price_id.clone(),
        customer_id: session.customer(),
        email: session.email(),
        credits: credits.saturating_mul(item.quantity),
        granted_at: ctx.now,
    };
    if tx.grant_credits(&grant, ctx.event_id)? {
        tracing::info!(session = %session.id, price = %item.price_id, credits = grant.credits,
            "top-up credits granted");
    }
    Ok(())
}

fn subscription_checkout(
    ctx: &Context<'_>,
    session: &CheckoutSession,
    fetched: &Fetched,
    tx: &mut dyn Tx,
) -> Result<DeliveryStatus, ApplyError> {
    let Some(subscription_id) = session.subscription() else {
        return Err(unprocessable(format!(
            "Checkout Session {} is in subscription mode but names no subscription",
            session.id
        )));
    };
    let snapshot = match &fetched.subscription {
        Some(Ok(snapshot)) => Some(snapshot),
        Some(Err(why)) => {
            tracing::warn!(subscription = %subscription_id, error = %why,
                "could not fetch the subscription");
            None
        }
        None => None,
    };
    let price = session.metadata_price().or_else(|| {
        let prices = snapshot.map(|s| s.prices.as_slice()).unwrap_or_default();
        pick_license_price(ctx.config, prices)
    });
    let mut record = merge_subscription(
        ctx,
        tx,
        &subscription_id,
        session.customer(),
        price,
        RANK_CHECKOUT,
    )?;
    if let Some(end) = snapshot.and_then(|s| s.current_period_end) {
        record.paid_through = record.paid_through.max(Some(end));
    }
    tx.put_subscription(&record)?;

    match tx.license_by_subscription(&subscription_id)? {
        Some(mut license) => {
            // An invoice was delivered first and issued the licence: link the checkout to it.
            let mut changed = false;
            if license.checkout_session_id.is_none() {
                license.checkout_session_id = Some(session.id.clone());
                changed = true;
            }
            if license.email.is_none() {
                license.email = session.email();
                changed |= license.email.is_some();
            }
            if changed {
                license.updated_at = ctx.now;
                tx.update_license(&license)?;
            }
            reconcile(ctx, tx, &record, license)?;
        }
        None => {
            if record.paid_through.is_none() {
                let why = match &fetched.subscription {
                    Some(Err(why)) => why.clone(),
                    _ => "no paid period is known yet".to_owned(),
                };
                return Err(unprocessable(format!(
                    "cannot tell when subscription {subscription_id} (Checkout Session {}) is paid \
                     until: {why}",
                    session.id
                )));
            }
            create_subscription_license(
                ctx,
                tx,
                &record,
                session.email(),
                Some(session.id.clone()),
            )?;
        }
    }
    Ok(DeliveryStatus::Processed)
}

// ---------------------------------------------------------------------------------------------
// Subscriptions

/// Tie-breaking ranks of events that name a subscription's price, for events created in the same
/// second: the order in which Stripe causes them.
const RANK_CHECKOUT: i64 = 0;
const RANK_INVOICE: i64 = 1;
const RANK_CREATED: i64 = 2;
const RANK_UPDATED: i64 = 3;
const RANK_DELETED: i64 = 4;

/// The first of `prices` that sells a licence, else the first one (to name it in errors).
fn pick_license_price(config: &Config, prices: &[String]) -> Option<String> {
    prices
        .iter()
        .find(|price| license_terms(config, price).is_some())
        .or(prices.first())
        .cloned()
}

/// The subscription record with the facts of this event merged in (not yet stored).
fn merge_subscription(
    ctx: &Context<'_>,
    tx: &mut dyn Tx,
    id: &str,
    customer_id: Option<String>,
    price_id: Option<String>,
    rank: i64,
) -> Result<SubscriptionRecord, ApplyError> {
    let mut record = tx.subscription(id)?.unwrap_or(SubscriptionRecord {
        id: id.to_owned(),
        customer_id: None,
        price_id: None,
        price_as_of: i64::MIN,
        paid_through: None,
        canceled_at: None,
        updated_at: ctx.now,
    });
    if record.customer_id.is_none() {
        record.customer_id = customer_id;
    }
    let as_of = ctx.event_created.saturating_mul(8).saturating_add(rank);
    if let Some(price_id) = price_id {
        if record.price_id.is_none() || as_of >= record.price_as_of {
            record.price_id = Some(price_id);
            record.price_as_of = as_of;
        }
    }
    record.updated_at = ctx.now;
    Ok(record)
}

fn invoice_paid(
    ctx: &Context<'_>,
    invoice: &Invoice,
    tx: &mut dyn Tx,
) -> Result<DeliveryStatus, ApplyError> {
    let Some(subscription_id) = invoice.subscription() else {
        // A one-off invoice (e.g. the receipt of a one-time checkout): the checkout event acts.
        return Ok(DeliveryStatus::Ignored);
    };
    record_invoice_payments(ctx, tx, invoice, &subscription_id)?;
    let lines: Vec<_> = invoice.period_lines().collect();
    if lines.is_empty() {
        // Only prorations (a mid-period plan change billed at once): the plan comes from
        // `customer.subscription.updated`, and the paid period does not move.
        tracing::info!(invoice = %invoice.id, subscription = %subscription_id,
            "invoice bills only prorations; nothing to renew");
        return Ok(DeliveryStatus::Ignored);
    }
    let prices: Vec<String> = lines.iter().filter_map(|line| line.price()).collect();
    let period_end = lines.iter().filter_map(|line| line.period_end()).max();
    let price = pick_license_price(ctx.config, &prices);
    let mut record = merge_subscription(
        ctx,
        tx,
        &subscription_id,
        invoice.customer(),
        price,
        RANK_INVOICE,
    )?;
    let Some(period_end) = period_end else {
        return Err(unprocessable(format!(
            "invoice {} for subscription {subscription_id} has no line with a billing period end",
            invoice.id
        )));
    };
    record.paid_through = record.paid_through.max(Some(period_end));
    tx.put_subscription(&record)?;

    let license = match tx.license_by_subscription(&subscription_id)? {
        Some(license) => reconcile(ctx, tx, &record, license)?,
        None => create_subscription_license(ctx, tx, &record, invoice.email(), None)?,
    };
    reset_period_credits(&license, period_end);
    tracing::info!(license = %license.id, subscription = %subscription_id, invoice = %invoice.id,
        reason = invoice.billing_reason.as_deref().unwrap_or("-"), paid_through = period_end,
        "subscription invoice paid");
    Ok(DeliveryStatus::Processed)
}

/// Ties the payments an invoice lists (when Stripe includes them) to its subscription, so that a
/// refund or dispute of one needs no API call; revokes the licence if one was already reversed.
fn record_invoice_payments(
    ctx: &Context<'_>,
    tx: &mut dyn Tx,
    invoice: &Invoice,
    subscription_id: &str,
) -> Result<(), ApplyError> {
    let mut new = false;
    for payment_intent_id in invoice.payment_intents() {
        let link = PaymentSubscription {
            payment_intent_id,
            subscription_id: subscription_id.to_owned(),
            invoice_id: Some(invoice.id.clone()),
            at: ctx.now,
        };
        new |= tx.record_payment_subscription(&link, ctx.event_id)?;
    }
    if new {
        if let Some(license) = tx.license_by_subscription(subscription_id)? {
            revoke_if_reversed(ctx, tx, &license)?;
        }
    }
    Ok(())
}

/// Revokes subscription licence `license` if a payment of its subscription was refunded or
/// disputed; returns whether such a payment is known.
fn revoke_if_reversed(
    ctx: &Context<'_>,
    tx: &mut dyn Tx,
    license: &LicenseRecord,
) -> Result<bool, ApplyError> {
    let Some(subscription_id) = &license.subscription_id else {
        return Ok(false);
    };
    match tx.subscription_reversal(subscription_id)? {
        Some(reversal) => {
            revoke(ctx, tx, license, &reversal)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Hook for credit accounting (a later issue): a paid period starts with the plan's
/// `credits_per_period`. Purchased top-up credits must survive the reset.
fn reset_period_credits(license: &LicenseRecord, period_end: Timestamp) {
    tracing::debug!(license = %license.id, period_end, "period credits reset (no credit ledger yet)");
}

fn subscription_changed(
    ctx: &Context<'_>,
    subscription: &Subscription,
    kind: SubscriptionEvent,
    tx: &mut dyn Tx,
) -> Result<DeliveryStatus, ApplyError> {
    let rank = match kind {
        SubscriptionEvent::Created => RANK_CREATED,
        SubscriptionEvent::Updated => RANK_UPDATED,
        SubscriptionEvent::Deleted => RANK_DELETED,
    };
    let price = pick_license_price(ctx.config, &subscription.prices());
    let mut record = merge_subscription(
        ctx,
        tx,
        &subscription.id,
        subscription.customer(),
        price,
        rank,
    )?;
    if kind == SubscriptionEvent::Deleted || subscription.status.as_deref() == Some("canceled") {
        // Sticky: no later-delivered older event brings it back. The licence runs to its expiry.
        record.canceled_at = record.canceled_at.or(Some(ctx.event_created));
    }
    tx.put_subscription(&record)?;
    if let Some(license) = tx.license_by_subscription(&subscription.id)? {
        reconcile(ctx, tx, &record, license)?;
    }
    Ok(DeliveryStatus::Processed)
}

fn create_subscription_license(
    ctx: &Context<'_>,
    tx: &mut dyn Tx,
    record: &SubscriptionRecord,
    email: Option<String>,
    checkout_session_id: Option<String>,
) -> Result<LicenseRecord, ApplyError> {
    let price_id = record.price_id.clone().unwrap_or_default();
    let terms = license_terms(ctx.config, &price_id).ok_or_else(|| {
        unknown_price(
            &format!("subscription {}", record.id),
            &record.price_id.iter().cloned().collect::<Vec<_>>(),
        )
    })?;
    let mut license = LicenseRecord {
        id: LicenseId(rand::random()),
        product: terms.product,
        tier: terms.tier,
        features: terms.features,
        status: LicenseStatus::Active,
        customer_id: record.customer_id.clone(),
        email,
        checkout_session_id,
        subscription_id: Some(record.id.clone()),
        payment_intent_id: None,
        price_id: Some(price_id),
        expires_at: record.paid_through,
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    tx.insert_license(&license)?;
    let key = sign(
        ctx,
        &license,
        Some(ctx.config.grace_seconds),
        "subscription",
    )?;
    tx.add_key(&license.id, &key, Some(ctx.event_id))?;
    tracing::info!(license = %license.id, subscription = %record.id, "licence issued for a subscription");
    // A payment of the subscription was refunded or disputed before the licence existed.
    if revoke_if_reversed(ctx, tx, &license)? {
        license.status = LicenseStatus::Revoked;
    } else {
        queue_key_email(ctx, tx, &license, &key)?;
    }
    Ok(license)
}

/// Brings a subscription's licence in line with what is known about the subscription: a new key
/// when the plan (product, tier, features) or the paid-through time differs from the current key's.
fn reconcile(
    ctx: &Context<'_>,
    tx: &mut dyn Tx,
    record: &SubscriptionRecord,
    mut license: LicenseRecord,
) -> Result<LicenseRecord, ApplyError> {
    if license.status == LicenseStatus::Revoked {
        return Ok(license);
    }
    let price_id = record.price_id.clone().unwrap_or_default();
    let terms = license_terms(ctx.config, &price_id).ok_or_else(|| {
        unknown_price(
            &format!("subscription {}", record.id),
            &record.price_id.iter().cloned().collect::<Vec<_>>(),
        )
    })?;
    let expires_at = record.paid_through.max(license.expires_at);
    let plan_changed = (terms.product, terms.tier, terms.features)
        != (license.product, license.tier, license.features);
    if !plan_changed && expires_at == license.expires_at {
        return Ok(license);
    }
    license.product = terms.product;
    license.tier = terms.tier;
    license.features = terms.features;
    license.price_id = Some(price_id);
    license.expires_at = expires_at;
    license.status = LicenseStatus::Active;
    license.updated_at = ctx.now;
    tx.update_license(&license)?;
    let reason = if plan_changed {
        "plan_change"
    } else {
        "renewal"
    };
    let key = sign(ctx, &license, Some(ctx.config.grace_seconds), reason)?;
    tx.add_key(&license.id, &key, Some(ctx.event_id))?;
    queue_key_email(ctx, tx, &license, &key)?;
    tracing::info!(license = %license.id, subscription = %record.id, reason, "new key issued");
    Ok(license)
}

// ---------------------------------------------------------------------------------------------
// Refunds and disputes

fn refunded(
    ctx: &Context<'_>,
    charge: &Charge,
    fetched: &Fetched,
    tx: &mut dyn Tx,
) -> Result<DeliveryStatus, ApplyError> {
    if !charge.fully_refunded() {
        tracing::info!(charge = %charge.id, amount = charge.amount, refunded = charge.amount_refunded,
            "partial refund: the licence stays valid");
        return Ok(DeliveryStatus::Ignored);
    }
    reverse(
        ctx,
        tx,
        fetched,
        charge.payment_intent(),
        "refund",
        &charge.id,
    )
}

fn disputed(
    ctx: &Context<'_>,
    dispute: &Dispute,
    fetched: &Fetched,
    tx: &mut dyn Tx,
) -> Result<DeliveryStatus, ApplyError> {
    reverse(
        ctx,
        tx,
        fetched,
        dispute.payment_intent(),
        "dispute",
        &dispute.id,
    )
}

/// Records a refund or dispute of a payment and revokes the licence the payment bought: a one-time
/// licence bought with it, or the licence of the subscription it paid for. A licence issued later
/// for either is revoked when it is issued.
fn reverse(
    ctx: &Context<'_>,
    tx: &mut dyn Tx,
    fetched: &Fetched,
    payment_intent: Option<String>,
    kind: &'static str,
    object_id: &str,
) -> Result<DeliveryStatus, ApplyError> {
    let Some(payment_intent_id) = payment_intent else {
        // Not a Checkout payment (a legacy charge): no licence can have been bought with it.
        tracing::info!(
            object = object_id,
            kind,
            "no payment intent; nothing to revoke"
        );
        return Ok(DeliveryStatus::Ignored);
    };
    let reversal = PaymentReversal {
        payment_intent_id,
        kind,
        object_id: object_id.to_owned(),
        at: ctx.now,
    };
    let payment = reversal.payment_intent_id.as_str();
    if let Some(license) = tx.license_by_payment_intent(payment)? {
        tx.record_payment_reversal(&reversal, ctx.event_id)?;
        revoke(ctx, tx, &license, &reversal)?;
        return Ok(DeliveryStatus::Processed);
    }
    let subscription_id = match tx.payment_subscription(payment)? {
        Some(link) => Some(link.subscription_id),
        None => match &fetched.payment_owner {
            Some(Ok(PaymentOwner::Invoice {
                invoice_id,
                subscription_id: Some(subscription_id),
            })) => {
                let link = PaymentSubscription {
                    payment_intent_id: payment.to_owned(),
                    subscription_id: subscription_id.clone(),
                    invoice_id: Some(invoice_id.clone()),
                    at: ctx.now,
                };
                tx.record_payment_subscription(&link, ctx.event_id)?;
                Some(subscription_id.clone())
            }
            Some(Ok(PaymentOwner::Invoice {
                invoice_id,
                subscription_id: None,
            })) => {
                tracing::info!(payment, kind, invoice = %invoice_id,
                    "the payment paid an invoice of no subscription");
                None
            }
            Some(Ok(PaymentOwner::NoInvoice)) => {
                tracing::info!(payment, kind,
                    "Stripe says the payment belongs to no invoice: no subscription licence to revoke");
                None
            }
            Some(Err(why)) => {
                return Err(unprocessable(format!(
                    "cannot tell which subscription payment {payment} ({kind} {object_id}) paid                      for: {why}"
                )))
            }
            None => None,
        },
    };
    // Recorded either way: a licence bought with this payment, or issued for its subscription,
    // later is revoked at once.
    tx.record_payment_reversal(&reversal, ctx.event_id)?;
    let license = match &subscription_id {
        Some(subscription_id) => tx.license_by_subscription(subscription_id)?,
        None => None,
    };
    match license {
        Some(license) => revoke(ctx, tx, &license, &reversal)?,
        None => tracing::info!(
            payment,
            kind,
            subscription = subscription_id.as_deref().unwrap_or("-"),
            "no licence for this payment (yet); one issued for it later is revoked at once"
        ),
    }
    Ok(DeliveryStatus::Processed)
}

fn revoke(
    ctx: &Context<'_>,
    tx: &mut dyn Tx,
    license: &LicenseRecord,
    reversal: &PaymentReversal,
) -> Result<(), ApplyError> {
    let reason = format!("{} {}", reversal.kind, reversal.object_id);
    if tx.revoke(&license.id, &reason, ctx.now)? {
        tracing::warn!(license = %license.id, reason = %reason, "licence revoked");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------

/// With `[smtp]` configured and the buyer's address known, queues `key` to them in this transaction
/// (see [`crate::email`]). An address that cannot be mailed is logged, not an error: the key stands.
fn queue_key_email(
    ctx: &Context<'_>,
    tx: &mut dyn Tx,
    license: &LicenseRecord,
    key: &IssuedKey,
) -> Result<(), ApplyError> {
    let (Some(smtp), Some(to)) = (&ctx.config.smtp, &license.email) else {
        return Ok(());
    };
    match crate::email::compose(ctx.config, smtp, license, key, to, Some(ctx.event_id)) {
        Ok(email) => tx.enqueue_email(&email)?,
        Err(why) => tracing::warn!(license = %license.id, %why, "licence key not e-mailed"),
    }
    Ok(())
}

fn sign(
    ctx: &Context<'_>,
    license: &LicenseRecord,
    grace_seconds: Option<u32>,
    reason: &str,
) -> Result<IssuedKey, ApplyError> {
    let to_time = |t: Timestamp| UnixTime(u64::try_from(t).unwrap_or(0));
    let claims = Claims {
        key_id: ctx.signer.id(),
        license_id: license.id,
        product: license.product,
        tier: license.tier,
        issued_at: to_time(ctx.now),
        not_before: None,
        expires_at: license.expires_at.map(to_time),
        grace_seconds,
        features: FeatureSet(license.features),
        licensee: None,
    };
    let key = ctx
        .signer
        .sign_license(&claims)
        .map_err(|err| unprocessable(format!("cannot sign licence {}: {err}", license.id)))?;
    Ok(IssuedKey {
        key,
        signing_key_id: ctx.signer.id(),
        issued_at: ctx.now,
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
            };
            self.store
                .process_delivery(incoming, &mut |tx| {
                    apply(&ctx, &action, &Fetched::default(), tx)
                })
                .unwrap();
        }
    }

    fn invoice(period_end: i64) -> serde_json::Value {
        json!({"id": "in_1", "billing_reason": "subscription_create", "customer": "cus_1",
               "parent": {"subscription_details": {"subscription": "sub_1"}},
               "lines": {"data": [{"period": {"start": 0, "end": period_end},
                                   "pricing": {"price_details": {"price": "price_pro"}}}]}})
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
