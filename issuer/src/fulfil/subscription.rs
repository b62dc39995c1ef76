//! Subscriptions: facts merged from invoices and subscription events, and the licence derived from them.

use super::*;

/// Tie-breaking ranks of events that name a subscription's price, for events created in the same
/// second: the order in which Stripe causes them.
pub(super) const RANK_CHECKOUT: i64 = 0;
pub(super) const RANK_INVOICE: i64 = 1;
pub(super) const RANK_CREATED: i64 = 2;
pub(super) const RANK_UPDATED: i64 = 3;
pub(super) const RANK_DELETED: i64 = 4;

/// The first of `prices` that sells a licence, else the first one (to name it in errors).
pub(super) fn pick_license_price(config: &Config, prices: &[String]) -> Option<String> {
    prices
        .iter()
        .find(|price| license_terms(config, price).is_some())
        .or(prices.first())
        .cloned()
}

/// The subscription record with the facts of this event merged in (not yet stored).
pub(super) fn merge_subscription(
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
        checkout_session_id: None,
        email: None,
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

pub(super) fn invoice_paid(
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
    let period_start = lines.iter().filter_map(|line| line.period_start()).min();
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
    reset_period_credits(ctx, tx, &license, &record, period_start, period_end)?;
    tracing::info!(license = %license.id, subscription = %subscription_id, invoice = %invoice.id,
        reason = invoice.billing_reason.as_deref().unwrap_or("-"), paid_through = period_end,
        "subscription invoice paid");
    Ok(DeliveryStatus::Processed)
}

/// Ties the payments an invoice lists (when Stripe includes them) to its subscription, so that a
/// refund or dispute of one needs no API call; revokes the licence if one was already reversed.
pub(super) fn record_invoice_payments(
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
pub(super) fn revoke_if_reversed(
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

/// A paid period starts with the plan's `credits_per_period`: the unused period credits of the
/// previous period expire (a ledger `expiry` row) and the new allowance is granted (a `grant` row).
/// Top-up credits and credits held by open reservations are untouched. Only a period that ends later
/// than the account's current one resets, so a late or repeated invoice grants nothing twice.
pub(super) fn reset_period_credits(
    ctx: &Context<'_>,
    tx: &mut dyn Tx,
    license: &LicenseRecord,
    record: &SubscriptionRecord,
    period_start: Option<Timestamp>,
    period_end: Timestamp,
) -> Result<(), ApplyError> {
    let credits = match record
        .price_id
        .as_deref()
        .and_then(|price| ctx.config.price(price))
        .map(|entry| &entry.sells)
    {
        Some(Sale::License {
            credits_per_period, ..
        }) => (*credits_per_period).min(MAX_AMOUNT),
        _ => 0,
    };
    // The unused period credits are read and expired with no credit operation in between.
    tx.lock_credits(&license.id)?;
    let account = tx.credit_account(&license.id)?;
    if account
        .as_ref()
        .is_some_and(|account| account.period_end >= Some(period_end))
    {
        return Ok(());
    }
    if account.is_none() && credits == 0 {
        return Ok(());
    }
    let unused = account.map_or(0, |account| account.balances.period);
    if unused > 0 {
        tx.credit_entry(&NewLedgerEntry::period_expiry(
            &license.id,
            unused,
            ctx.event_id,
            ctx.now,
        )?)?;
    }
    if credits > 0 {
        tx.credit_entry(&NewLedgerEntry::period_grant(
            &license.id,
            credits,
            ctx.event_id,
            ctx.now,
        )?)?;
    }
    tx.set_credit_period(&license.id, period_start, period_end, ctx.now)?;
    tracing::info!(license = %license.id, expired = unused, granted = credits, period_end,
        "period credits reset");
    Ok(())
}

pub(super) fn subscription_changed(
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

pub(super) fn create_subscription_license(
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
        email: record.email.clone().or(email),
        checkout_session_id: checkout_session_id.or_else(|| record.checkout_session_id.clone()),
        subscription_id: Some(record.id.clone()),
        payment_intent_id: None,
        price_id: Some(price_id),
        expires_at: record.paid_through,
        created_at: ctx.now,
        updated_at: ctx.now,
        seats: terms.seats,
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
pub(super) fn reconcile(
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
    if plan_changed {
        // The new plan's seat policy; a renewal keeps the licence's own (support may have changed
        // it). The machines stay: a lower seat count only stops new activations until enough are
        // freed.
        license.seats = terms.seats;
    }
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
