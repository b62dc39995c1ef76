//! Refunds and disputes: reversals recorded against payments, and the licences they revoke.

use super::*;

pub(super) fn refunded(
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

pub(super) fn disputed(
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
pub(super) fn reverse(
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
    take_back_top_ups(ctx, tx, payment, kind, object_id)?;
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
                    "cannot tell which subscription payment {payment} ({kind} {object_id}) paid \
                     for: {why}"
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

pub(super) fn revoke(
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

/// Takes back the top-up credits bought with a refunded or disputed payment: what is left of them in
/// the licence's top-up bucket, never below zero. What was already spent (or is held by open
/// reservations) is recorded as the ledger row's shortfall. Each top-up is taken back once.
pub(super) fn take_back_top_ups(
    ctx: &Context<'_>,
    tx: &mut dyn Tx,
    payment_intent_id: &str,
    kind: &str,
    object_id: &str,
) -> Result<(), ApplyError> {
    for grant in tx.top_ups_by_payment(payment_intent_id)? {
        // What is left is read and taken back with no credit operation in between.
        tx.lock_credits(&grant.license_id)?;
        let left = tx
            .credit_account(&grant.license_id)?
            .map_or(0, |account| account.balances.top_up);
        let taken = grant.credits.min(left);
        let shortfall = grant.credits - taken;
        let reason = format!("{kind} {object_id}");
        tx.credit_entry(&NewLedgerEntry::refund(
            &grant.license_id,
            taken,
            shortfall,
            &reason,
            ctx.event_id,
            ctx.now,
        )?)?;
        tx.top_up_reversed(grant.id, ctx.now)?;
        tracing::warn!(license = %grant.license_id, payment = payment_intent_id, kind,
            credits = grant.credits, taken, shortfall, "top-up credits taken back");
    }
    Ok(())
}
