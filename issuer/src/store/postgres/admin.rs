//! Support's look-ups and the audit trail in PostgreSQL.

use ::postgres::GenericClient;
use tessera_keys::LicenseId;

use super::Session;
use crate::store::rows::{self, AUDIT_COLUMNS, DELIVERY_COLUMNS, LICENSE_COLUMNS};
use crate::store::{AuditEntry, Delivery, LicenseQuery, LicenseRecord, NewAuditEntry, StoreError};

pub(super) fn find_licenses(
    client: &mut Session<'_, impl GenericClient>,
    query: &LicenseQuery,
    limit: u32,
) -> Result<Vec<LicenseRecord>, StoreError> {
    // lower() on both sides uses the `licenses_by_email_nocase` index.
    let (condition, value) = match query {
        LicenseQuery::Email(email) => ("lower(email) = lower($1)", email.trim().to_owned()),
        LicenseQuery::Customer(id) => ("customer_id = $1", id.clone()),
        LicenseQuery::Subscription(id) => ("subscription_id = $1", id.clone()),
        LicenseQuery::CheckoutSession(id) => ("checkout_session_id = $1", id.clone()),
        LicenseQuery::Id(id) => ("id = $1", id.to_hex().to_string()),
    };
    client.every(
        &format!(
            "SELECT {LICENSE_COLUMNS} FROM licenses WHERE {condition}
             ORDER BY created_at DESC, id LIMIT $2"
        ),
        &[&value, &i64::from(limit)],
        rows::license,
    )
}

/// The events that took effect on a licence: those that issued its keys, granted or took back its
/// credits, or recorded a refund or dispute of the payment that bought it.
const EVENTS_OF_LICENSE: &str = "
    SELECT event_id FROM license_keys WHERE license_id = $1 AND event_id IS NOT NULL
    UNION SELECT event_id FROM credit_grants WHERE license_id = $1
    UNION SELECT reference FROM credit_ledger WHERE license_id = $1 AND reference LIKE 'evt%'
    UNION SELECT r.event_id FROM payment_reversals r JOIN licenses l
          ON l.payment_intent_id = r.payment_intent_id WHERE l.id = $1
    UNION SELECT p.event_id FROM payment_subscriptions p JOIN licenses l
          ON l.subscription_id = p.subscription_id WHERE l.id = $1";

pub(super) fn license_deliveries(
    client: &mut Session<'_, impl GenericClient>,
    id: &LicenseId,
    limit: u32,
) -> Result<Vec<Delivery>, StoreError> {
    client.every(
        &format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_events
             WHERE id IN ({EVENTS_OF_LICENSE}) ORDER BY received_at DESC, id LIMIT $2"
        ),
        &[&id.to_hex().as_str(), &i64::from(limit)],
        rows::delivery,
    )
}

pub(super) fn delivery_licenses(
    client: &mut Session<'_, impl GenericClient>,
    event_id: &str,
) -> Result<Vec<String>, StoreError> {
    client.every(
        "SELECT license_id FROM license_keys WHERE event_id = $1
         UNION SELECT license_id FROM credit_grants WHERE event_id = $1 AND license_id IS NOT NULL
         UNION SELECT license_id FROM credit_ledger WHERE reference = $1
         ORDER BY 1",
        &[&event_id],
        |row| row.text(0),
    )
}

pub(super) fn deliveries(
    client: &mut Session<'_, impl GenericClient>,
    failed_only: bool,
    event_type: Option<&str>,
    limit: u32,
) -> Result<Vec<Delivery>, StoreError> {
    client.every(
        &format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_events
             WHERE (NOT $1 OR status = 'failed') AND ($2::TEXT IS NULL OR type = $2)
             ORDER BY received_at DESC, id LIMIT $3"
        ),
        &[&failed_only, &event_type, &i64::from(limit)],
        rows::delivery,
    )
}

pub(super) fn delivery_payload(
    client: &mut Session<'_, impl GenericClient>,
    event_id: &str,
) -> Result<Option<(Delivery, String)>, StoreError> {
    client.first(
        &format!("SELECT {DELIVERY_COLUMNS}, payload FROM webhook_events WHERE id = $1"),
        &[&event_id],
        rows::delivery_with_payload,
    )
}

/// Appends `entry` to the audit trail, in the caller's transaction.
pub(super) fn record(
    client: &mut Session<'_, impl GenericClient>,
    entry: &NewAuditEntry<'_>,
) -> Result<(), StoreError> {
    client.execute(
        "INSERT INTO audit_log (at, actor, action, license_id, reason, details)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &entry.at,
            &entry.actor,
            &entry.action,
            &entry.license_id.map(|id| id.to_hex().to_string()),
            &entry.reason,
            &entry.details,
        ],
    )?;
    Ok(())
}

pub(super) fn audit_log(
    client: &mut Session<'_, impl GenericClient>,
    license: Option<&LicenseId>,
    limit: u32,
) -> Result<Vec<AuditEntry>, StoreError> {
    client.every(
        &format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log
             WHERE $1::TEXT IS NULL OR license_id = $1 ORDER BY id DESC LIMIT $2"
        ),
        &[
            &license.map(|id| id.to_hex().to_string()),
            &i64::from(limit),
        ],
        rows::audit_entry,
    )
}
