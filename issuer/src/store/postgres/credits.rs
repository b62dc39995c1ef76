//! Credit accounts in PostgreSQL: typed reads and writes, no rules. Every function runs on whatever
//! it is given, a pooled connection or a transaction.

use ::postgres::GenericClient;
use tessera_keys::LicenseId;

use super::Session;
use crate::store::rows::{
    self, ACCOUNT_COLUMNS, IDEMPOTENT_ANSWER_COLUMNS, LEDGER_COLUMNS, RESERVATION_COLUMNS,
    TOP_UP_COLUMNS,
};
use crate::store::{
    signed, CreditAccount, LedgerEntry, LedgerMismatch, NewLedgerEntry, Reservation, StoreError,
    StoredAnswer, Timestamp, TopUpGrant,
};

fn hex(id: &LicenseId) -> String {
    id.to_hex().to_string()
}

pub(super) fn account(
    client: &mut Session<'_, impl GenericClient>,
    id: &LicenseId,
) -> Result<Option<CreditAccount>, StoreError> {
    client.first(
        &format!("SELECT {ACCOUNT_COLUMNS} FROM credit_accounts WHERE license_id = $1"),
        &[&hex(id)],
        rows::credit_account,
    )
}

/// Applies `e`'s deltas to the account (made at zero if missing) and appends the ledger row, in
/// one round trip (migration 3's function). A balance that would go below zero breaks a CHECK
/// constraint: the statement fails, and with it the caller's transaction.
pub(super) fn append(
    client: &mut Session<'_, impl GenericClient>,
    e: &NewLedgerEntry<'_>,
) -> Result<(), StoreError> {
    client.execute(
        "SELECT tessera_append_ledger($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        &[
            &hex(e.license_id),
            &e.kind.as_str(),
            &e.period,
            &e.top_up,
            &e.period_reserved,
            &e.top_up_reserved,
            &signed(e.used)?,
            &signed(e.shortfall)?,
            &e.reason,
            &e.reference,
            &e.reservation_id,
            &e.at,
        ],
    )?;
    Ok(())
}

pub(super) fn set_period(
    client: &mut Session<'_, impl GenericClient>,
    id: &LicenseId,
    start: Option<Timestamp>,
    end: Timestamp,
    at: Timestamp,
) -> Result<(), StoreError> {
    client.execute(
        "INSERT INTO credit_accounts (license_id, period_balance, top_up_balance, period_reserved,
             top_up_reserved, period_start, period_end, updated_at)
         VALUES ($1, 0, 0, 0, 0, $2, $3, $4)
         ON CONFLICT (license_id) DO UPDATE SET period_start = excluded.period_start,
             period_end = excluded.period_end, updated_at = excluded.updated_at",
        &[&hex(id), &start, &end, &at],
    )?;
    Ok(())
}

pub(super) fn top_ups_by_payment(
    client: &mut Session<'_, impl GenericClient>,
    payment_intent_id: &str,
) -> Result<Vec<TopUpGrant>, StoreError> {
    client.every(
        &format!(
            "SELECT {TOP_UP_COLUMNS} FROM credit_grants
             WHERE payment_intent_id = $1 AND license_id IS NOT NULL AND reversed_at IS NULL
             ORDER BY id"
        ),
        &[&payment_intent_id],
        rows::top_up,
    )
}

pub(super) fn open_reservations(
    client: &mut Session<'_, impl GenericClient>,
    id: &LicenseId,
) -> Result<Vec<Reservation>, StoreError> {
    client.every(
        &format!(
            "SELECT {RESERVATION_COLUMNS} FROM credit_reservations
             WHERE license_id = $1 AND status = 'open' ORDER BY created_at, id LIMIT 1000"
        ),
        &[&hex(id)],
        rows::reservation,
    )
}

pub(super) fn ledger(
    client: &mut Session<'_, impl GenericClient>,
    id: &LicenseId,
    after: Option<i64>,
    limit: u32,
) -> Result<Vec<LedgerEntry>, StoreError> {
    client.every(
        &format!(
            "SELECT {LEDGER_COLUMNS} FROM credit_ledger
             WHERE license_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        ),
        &[&hex(id), &after.unwrap_or(0), &i64::from(limit)],
        rows::ledger_entry,
    )
}

/// Every account's cached numbers beside the same numbers recomputed from the ledger and the open
/// reservations.
pub(super) fn totals(
    client: &mut Session<'_, impl GenericClient>,
) -> Result<Vec<LedgerMismatch>, StoreError> {
    // sum() of BIGINT is NUMERIC in PostgreSQL: cast back, the sums fit (amounts are bounded).
    client.every(
        "WITH ids AS (SELECT license_id FROM credit_accounts
                      UNION SELECT license_id FROM credit_ledger
                      UNION SELECT license_id FROM credit_reservations),
              sums AS (SELECT license_id, sum(period)::BIGINT AS p, sum(top_up)::BIGINT AS t,
                              sum(period_reserved)::BIGINT AS pr,
                              sum(top_up_reserved)::BIGINT AS tr
                       FROM credit_ledger GROUP BY license_id),
              held AS (SELECT license_id, sum(period_part)::BIGINT AS p,
                              sum(top_up_part)::BIGINT AS t
                       FROM credit_reservations WHERE status = 'open' GROUP BY license_id)
         SELECT ids.license_id,
                coalesce(a.period_balance, 0), coalesce(a.top_up_balance, 0),
                coalesce(a.period_reserved, 0), coalesce(a.top_up_reserved, 0),
                coalesce(s.p, 0), coalesce(s.t, 0), coalesce(s.pr, 0), coalesce(s.tr, 0),
                coalesce(h.p, 0), coalesce(h.t, 0)
         FROM ids
         LEFT JOIN credit_accounts a ON a.license_id = ids.license_id
         LEFT JOIN sums s ON s.license_id = ids.license_id
         LEFT JOIN held h ON h.license_id = ids.license_id
         ORDER BY ids.license_id",
        &[],
        rows::ledger_totals,
    )
}

pub(super) fn reservation(
    client: &mut Session<'_, impl GenericClient>,
    id: &LicenseId,
    reservation_id: &str,
) -> Result<Option<Reservation>, StoreError> {
    client.first(
        &format!(
            "SELECT {RESERVATION_COLUMNS} FROM credit_reservations
             WHERE id = $1 AND license_id = $2"
        ),
        &[&reservation_id, &hex(id)],
        rows::reservation,
    )
}

pub(super) fn insert_reservation(
    client: &mut Session<'_, impl GenericClient>,
    id: &LicenseId,
    r: &Reservation,
) -> Result<(), StoreError> {
    client.execute(
        "INSERT INTO credit_reservations (id, license_id, amount, period_part, top_up_part,
             period_end, status, reference, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            &r.id,
            &hex(id),
            &signed(r.amount)?,
            &signed(r.period_part)?,
            &signed(r.top_up_part)?,
            &r.period_end,
            &r.status.as_str(),
            &r.reference,
            &r.created_at,
            &r.expires_at,
        ],
    )?;
    Ok(())
}

pub(super) fn close_reservation(
    client: &mut Session<'_, impl GenericClient>,
    id: &LicenseId,
    closed: &Reservation,
) -> Result<bool, StoreError> {
    let changed = client.execute(
        "UPDATE credit_reservations SET status = $3, used = $4, settled_at = $5
         WHERE id = $1 AND license_id = $2 AND status = 'open'",
        &[
            &closed.id,
            &hex(id),
            &closed.status.as_str(),
            &closed.used.map(signed).transpose()?,
            &closed.settled_at,
        ],
    )?;
    Ok(changed == 1)
}

pub(super) fn due_reservations(
    client: &mut Session<'_, impl GenericClient>,
    now: Timestamp,
    limit: u32,
) -> Result<Vec<(LicenseId, String)>, StoreError> {
    client.every(
        "SELECT license_id, id FROM credit_reservations
         WHERE status = 'open' AND expires_at <= $1 ORDER BY expires_at, id LIMIT $2",
        &[&now, &i64::from(limit)],
        rows::due_reservation,
    )
}

pub(super) fn idempotent_answer(
    client: &mut Session<'_, impl GenericClient>,
    id: &LicenseId,
    key: &str,
) -> Result<Option<(String, StoredAnswer)>, StoreError> {
    client.first(
        &format!(
            "SELECT {IDEMPOTENT_ANSWER_COLUMNS} FROM credit_idempotency
             WHERE license_id = $1 AND key = $2"
        ),
        &[&hex(id), &key],
        rows::idempotent_answer,
    )
}

pub(super) fn keep_idempotent_answer(
    client: &mut Session<'_, impl GenericClient>,
    id: &LicenseId,
    key: &str,
    fingerprint: &str,
    answer: &StoredAnswer,
    at: Timestamp,
) -> Result<(), StoreError> {
    client.execute(
        "INSERT INTO credit_idempotency (license_id, key, fingerprint, status, body, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &hex(id),
            &key,
            &fingerprint,
            &i64::from(answer.status),
            &answer.body,
            &at,
        ],
    )?;
    Ok(())
}
