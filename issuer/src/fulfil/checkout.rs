//! Checkout Sessions: one-time licences, top-up credits, and the first facts of a subscription.

use super::*;

pub(super) fn checkout(
    ctx: &Context<'_>,
    session: &CheckoutSession,
    fetched: &Fetched,
    tx: &mut dyn Tx,
) -> Result<DeliveryStatus, ApplyError> {
    if !session.is_paid() {
        // `checkout.session.completed` with a delayed payment method: the licence waits for
        // `checkout.session.async_payment_succeeded`.
        tracing::info!(status = %session.payment_status,
            "checkout not paid yet; nothing to do");
        return Ok(DeliveryStatus::Ignored);
    }
    match session.mode.as_str() {
        "payment" => one_time_purchase(ctx, session, fetched, tx),
        "subscription" => subscription_checkout(ctx, session, fetched, tx),
        _ => Ok(DeliveryStatus::Ignored),
    }
}

pub(super) fn one_time_purchase(
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
            Some(Sale::License { .. }) => tracing::warn!(
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
        tracing::warn!(prices = %unknown.join(", "),
            "checkout also bought prices that are not in the catalogue; they are ignored");
    }

    let session_license = match license_price {
        Some(item) => Some(one_time_license(ctx, session, item, tx)?),
        None => None,
    };
    if !top_ups.is_empty() {
        let target = top_up_target(session, session_license, tx)?;
        for (item, credits) in top_ups {
            grant_top_up(ctx, session, item, credits, &target, tx)?;
        }
    }
    Ok(DeliveryStatus::Processed)
}

/// The licence a one-time purchase bought: issued now, or by an earlier event about the session.
fn one_time_license(
    ctx: &Context<'_>,
    session: &CheckoutSession,
    item: &BoughtPrice,
    tx: &mut dyn Tx,
) -> Result<LicenseId, ApplyError> {
    if let Some(license) = tx.license_by_checkout_session(&session.id)? {
        // Both `completed` and `async_payment_succeeded` can say a session is paid.
        return Ok(license.id);
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
        seats: terms.seats,
    };
    tx.insert_license(&license)?;
    let key = sign(ctx, &license, None, "purchase")?;
    tx.add_key(&license.id, &key, Some(ctx.event_id))?;
    // Not the session id: for a while it fetches the key (`by-checkout-session`).
    tracing::info!(license = %license.id, price = %item.price_id,
        "licence issued for a one-time purchase");
    let reversal = match &license.payment_intent_id {
        Some(payment_intent) => tx.payment_reversal(payment_intent)?,
        None => None,
    };
    match reversal {
        Some(reversal) => revoke(ctx, tx, &license, &reversal)?,
        None => queue_key_email(ctx, tx, &license, &key)?,
    }
    Ok(license.id)
}

/// The licence a top-up credits: the one named in the session's `tessera_license` metadata (set by
/// `POST /v1/credits/checkout`), else the one bought in the same session.
fn top_up_target(
    session: &CheckoutSession,
    session_license: Option<LicenseId>,
    tx: &mut dyn Tx,
) -> Result<LicenseId, ApplyError> {
    let Some(named) = session.metadata_license() else {
        return session_license.ok_or_else(|| {
            unprocessable(format!(
                "top-up Checkout Session {} names no licence to credit (metadata \
                 `tessera_license`); top-ups are bought through POST /v1/credits/checkout",
                session.id
            ))
        });
    };
    let id = LicenseId::from_hex(&named).ok_or_else(|| {
        unprocessable(format!(
            "top-up Checkout Session {} names licence `{named}` (metadata `tessera_license`), \
             which is not a licence id",
            session.id
        ))
    })?;
    if tx.license(&id)?.is_none() && session_license != Some(id) {
        return Err(unprocessable(format!(
            "top-up Checkout Session {} names licence {named} (metadata `tessera_license`), which \
             is not on record",
            session.id
        )));
    }
    Ok(id)
}

/// Adds the credits a top-up price bought to `license`'s top-up bucket, once per session and price.
/// A payment refunded before its top-up was delivered takes the credits back at once.
pub(super) fn grant_top_up(
    ctx: &Context<'_>,
    session: &CheckoutSession,
    item: &BoughtPrice,
    credits: u64,
    license: &LicenseId,
    tx: &mut dyn Tx,
) -> Result<(), ApplyError> {
    let credits = credits.saturating_mul(item.quantity);
    if credits > MAX_AMOUNT {
        return Err(unprocessable(format!(
            "Checkout Session {} buys {credits} credits of {}, more than {MAX_AMOUNT} at once",
            session.id, item.price_id
        )));
    }
    let grant = CreditGrant {
        checkout_session_id: session.id.clone(),
        license_id: Some(*license),
        payment_intent_id: session.payment_intent(),
        price_id: item.price_id.clone(),
        customer_id: session.customer(),
        email: session.email(),
        credits,
        granted_at: ctx.now,
    };
    if !tx.grant_credits(&grant, ctx.event_id)? {
        return Ok(());
    }
    let reason = format!("top_up {}", item.price_id);
    tx.credit_entry(&NewLedgerEntry::top_up_grant(
        license,
        credits,
        &reason,
        ctx.event_id,
        ctx.now,
    )?)?;
    tracing::info!(%license, price = %item.price_id, credits,
        "top-up credits granted");
    if let Some(payment_intent) = &grant.payment_intent_id {
        if let Some(reversal) = tx.payment_reversal(payment_intent)? {
            take_back_top_ups(ctx, tx, payment_intent, reversal.kind, &reversal.object_id)?;
        }
    }
    Ok(())
}

pub(super) fn subscription_checkout(
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
            if record.paid_through.is_none() && fetched.subscription.is_none() {
                // Stripe's API was not asked (no key): the first `invoice.paid` says how long it is
                // paid for, and issues the licence with this checkout's session and address.
                record.checkout_session_id = Some(session.id.clone());
                record.email = session.email();
                tx.put_subscription(&record)?;
                tracing::info!(subscription = %subscription_id,
                    "subscription checkout recorded; its licence comes with the first paid invoice");
                return Ok(DeliveryStatus::Processed);
            }
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
