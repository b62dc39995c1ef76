//! Credit accounts in PostgreSQL: typed reads and writes, no rules. Every function runs on whatever
//! it is given, a pooled connection or a transaction.

use ::postgres::{GenericClient, Row};
use tessera_keys::LicenseId;

use super::{narrow, Session};
use crate::store::{
    signed, CreditAccount, CreditBalances, LedgerEntry, LedgerMismatch, NewLedgerEntry,
    Reservation, ReservationStatus, StoreError, StoredAnswer, Timestamp, TopUpGrant,
};

fn hex(id: &LicenseId) -> String {
    id.to_hex().to_string()
}

pub(super) fn account(
    client: &mut Session<'_, impl GenericClient>,
    id: &LicenseId,
) -> Result<Option<CreditAccount>, StoreError> {
    let Some(row) = client.query_opt(
        "SELECT period_balance, top_up_balance, period_reserved, top_up_reserved, period_start,
             period_end
         FROM credit_accounts WHERE license_id = $1",
        &[&hex(id)],
    )?
    else {
        return Ok(None);
    };
    Ok(Some(CreditAccount {
        balances: CreditBalances {
            period: narrow(row.try_get(0)?, "period balance")?,
            top_up: narrow(row.try_get(1)?, "top-up balance")?,
            period_reserved: narrow(row.try_get(2)?, "reserved period credits")?,
            top_up_reserved: narrow(row.try_get(3)?, "reserved top-up credits")?,
        },
        period_start: row.try_get(4)?,
        period_end: row.try_get(5)?,
    }))
}

/// Applies `e`'s deltas to the account (made at zero if missing) and appends the ledger row. A
/// balance that would go below zero breaks a CHECK constraint: the statement fails, and with it the
/// caller's transaction.
pub(super) fn append<C: GenericClient>(
    client: &mut Session<'_, C>,
    e: &NewLedgerEntry<'_>,
) -> Result<(), StoreError> {
    let license = hex(e.license_id);
    let deltas: [&(dyn ::postgres::types::ToSql + Sync); 6] = [
        &license,
        &e.period,
        &e.top_up,
        &e.period_reserved,
        &e.top_up_reserved,
        &e.at,
    ];
    let update = |client: &mut Session<'_, C>| -> Result<u64, StoreError> {
        Ok(client.execute(
            "UPDATE credit_accounts SET period_balance = period_balance + $2,
                 top_up_balance = top_up_balance + $3, period_reserved = period_reserved + $4,
                 top_up_reserved = top_up_reserved + $5, updated_at = $6
             WHERE license_id = $1",
            &deltas,
        )?)
    };
    // Not one upsert: PostgreSQL checks the proposed row, deltas and all, before it finds the
    // conflict. Another transaction may make the account between the update and the insert; the
    // insert then waits for it, does nothing, and the update runs again on its row.
    if update(client)? == 0 {
        let inserted = client.execute(
            "INSERT INTO credit_accounts (license_id, period_balance, top_up_balance,
                 period_reserved, top_up_reserved, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (license_id) DO NOTHING",
            &deltas,
        )?;
        if inserted == 0 && update(client)? == 0 {
            return Err(StoreError::internal(format!(
                "credit account {license} neither updated nor made"
            )));
        }
    }
    client.execute(
        "INSERT INTO credit_ledger (license_id, kind, period, top_up, period_reserved,
             top_up_reserved, used, shortfall, reason, reference, reservation_id, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        &[
            &license,
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
    client
        .query(
            "SELECT id, license_id, credits, price_id FROM credit_grants
             WHERE payment_intent_id = $1 AND license_id IS NOT NULL AND reversed_at IS NULL
             ORDER BY id",
            &[&payment_intent_id],
        )?
        .iter()
        .map(|row| {
            let id: i64 = row.try_get(0)?;
            let license: String = row.try_get(1)?;
            Ok(TopUpGrant {
                id,
                license_id: LicenseId::from_hex(&license).ok_or_else(|| {
                    StoreError::corrupt(format!("credit grant {id} names licence `{license}`"))
                })?,
                credits: narrow(row.try_get(2)?, "credit grant")?,
                price_id: row.try_get(3)?,
            })
        })
        .collect()
}

const RESERVATION_COLUMNS: &str = "id, amount, period_part, top_up_part, status, used, reference, \
     created_at, expires_at, settled_at, period_end";

fn reservation_from_row(row: &Row) -> Result<Reservation, StoreError> {
    let id: String = row.try_get(0)?;
    let status: String = row.try_get(4)?;
    Ok(Reservation {
        status: ReservationStatus::from_name(&status).ok_or_else(|| {
            StoreError::corrupt(format!("reservation {id} has status `{status}`"))
        })?,
        amount: narrow(row.try_get(1)?, "reservation amount")?,
        period_part: narrow(row.try_get(2)?, "reservation part")?,
        top_up_part: narrow(row.try_get(3)?, "reservation part")?,
        used: row
            .try_get::<_, Option<i64>>(5)?
            .map(|used| narrow(used, "used credits"))
            .transpose()?,
        reference: row.try_get(6)?,
        created_at: row.try_get(7)?,
        expires_at: row.try_get(8)?,
        settled_at: row.try_get(9)?,
        period_end: row.try_get(10)?,
        id,
    })
}

pub(super) fn open_reservations(
    client: &mut Session<'_, impl GenericClient>,
    id: &LicenseId,
) -> Result<Vec<Reservation>, StoreError> {
    client
        .query(
            &format!(
                "SELECT {RESERVATION_COLUMNS} FROM credit_reservations
                 WHERE license_id = $1 AND status = 'open' ORDER BY created_at, id LIMIT 1000"
            ),
            &[&hex(id)],
        )?
        .iter()
        .map(reservation_from_row)
        .collect()
}

pub(super) fn ledger(
    client: &mut Session<'_, impl GenericClient>,
    id: &LicenseId,
    after: Option<i64>,
    limit: u32,
) -> Result<Vec<LedgerEntry>, StoreError> {
    client
        .query(
            "SELECT id, kind, period, top_up, period_reserved, top_up_reserved, used, shortfall,
                 reason, reference, reservation_id, at
             FROM credit_ledger WHERE license_id = $1 AND id > $2 ORDER BY id LIMIT $3",
            &[&hex(id), &after.unwrap_or(0), &i64::from(limit)],
        )?
        .iter()
        .map(|row| {
            Ok(LedgerEntry {
                id: row.try_get(0)?,
                kind: row.try_get(1)?,
                period: row.try_get(2)?,
                top_up: row.try_get(3)?,
                period_reserved: row.try_get(4)?,
                top_up_reserved: row.try_get(5)?,
                used: row.try_get::<_, i64>(6)?.max(0) as u64,
                shortfall: row.try_get::<_, i64>(7)?.max(0) as u64,
                reason: row.try_get(8)?,
                reference: row.try_get(9)?,
                reservation_id: row.try_get(10)?,
                at: row.try_get(11)?,
            })
        })
        .collect()
}

/// Every account's cached numbers beside the same numbers recomputed from the ledger and the open
/// reservations.
pub(super) fn totals(
    client: &mut Session<'_, impl GenericClient>,
) -> Result<Vec<LedgerMismatch>, StoreError> {
    // sum() of BIGINT is NUMERIC in PostgreSQL: cast back, the sums fit (amounts are bounded).
    let rows = client.query(
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
    )?;
    rows.iter()
        .map(|row| {
            let number = |i| row.try_get::<_, i64>(i);
            Ok(LedgerMismatch {
                license_id: row.try_get(0)?,
                cached: [number(1)?, number(2)?, number(3)?, number(4)?],
                ledger: [number(5)?, number(6)?, number(7)?, number(8)?],
                open_reservations: [number(9)?, number(10)?],
            })
        })
        .collect()
}

pub(super) fn reservation(
    client: &mut Session<'_, impl GenericClient>,
    id: &LicenseId,
    reservation_id: &str,
) -> Result<Option<Reservation>, StoreError> {
    client
        .query_opt(
            &format!(
                "SELECT {RESERVATION_COLUMNS} FROM credit_reservations
                 WHERE id = $1 AND license_id = $2"
            ),
            &[&reservation_id, &hex(id)],
        )?
        .map(|row| reservation_from_row(&row))
        .transpose()
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
    client
        .query(
            "SELECT license_id, id FROM credit_reservations
             WHERE status = 'open' AND expires_at <= $1 ORDER BY expires_at, id LIMIT $2",
            &[&now, &i64::from(limit)],
        )?
        .iter()
        .map(|row| {
            let (license, id): (String, String) = (row.try_get(0)?, row.try_get(1)?);
            let license_id = LicenseId::from_hex(&license).ok_or_else(|| {
                StoreError::corrupt(format!("reservation {id} of licence `{license}`"))
            })?;
            Ok((license_id, id))
        })
        .collect()
}

pub(super) fn idempotent_answer(
    client: &mut Session<'_, impl GenericClient>,
    id: &LicenseId,
    key: &str,
) -> Result<Option<(String, StoredAnswer)>, StoreError> {
    let Some(row) = client.query_opt(
        "SELECT fingerprint, status, body FROM credit_idempotency
         WHERE license_id = $1 AND key = $2",
        &[&hex(id), &key],
    )?
    else {
        return Ok(None);
    };
    Ok(Some((
        row.try_get(0)?,
        StoredAnswer {
            status: narrow(row.try_get(1)?, "stored answer status")?,
            body: row.try_get(2)?,
        },
    )))
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
