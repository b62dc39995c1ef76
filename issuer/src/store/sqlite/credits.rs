//! Credit accounts in SQLite: the typed reads and writes the credit rules
//! (`crate::credits::rules`) run on. Every function that writes runs inside a transaction its caller
//! opened with `BEGIN IMMEDIATE` (the write lock is taken before anything is read, so two requests,
//! or two processes, never decide on the same balance): the writer's batch, or a webhook's delivery.

use rusqlite::{params, Connection, OptionalExtension, Row};
use tessera_keys::LicenseId;

use crate::store::{
    signed, CreditAccount, CreditBalances, LedgerEntry, LedgerMismatch, NewLedgerEntry,
    Reservation, ReservationStatus, StoreError, StoredAnswer, Timestamp, TopUpGrant,
};

fn hex(id: &LicenseId) -> String {
    id.to_hex().to_string()
}

fn amount(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::corrupt(format!("negative {what}: {value}")))
}

pub(super) fn account(
    conn: &Connection,
    id: &LicenseId,
) -> Result<Option<CreditAccount>, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT period_balance, top_up_balance, period_reserved, top_up_reserved, period_start,
                 period_end
             FROM credit_accounts WHERE license_id = ?1",
        )?
        .query_row([hex(id)], |row| {
            Ok((
                [row.get::<_, i64>(0)?, row.get(1)?, row.get(2)?, row.get(3)?],
                row.get(4)?,
                row.get(5)?,
            ))
        })
        .optional()?;
    let Some((numbers, period_start, period_end)) = row else {
        return Ok(None);
    };
    Ok(Some(CreditAccount {
        balances: CreditBalances {
            period: amount(numbers[0], "period balance")?,
            top_up: amount(numbers[1], "top-up balance")?,
            period_reserved: amount(numbers[2], "reserved period credits")?,
            top_up_reserved: amount(numbers[3], "reserved top-up credits")?,
        },
        period_start,
        period_end,
    }))
}

pub(super) fn append(conn: &Connection, e: &NewLedgerEntry<'_>) -> Result<(), StoreError> {
    let license = hex(e.license_id);
    let deltas = params![
        license,
        e.period,
        e.top_up,
        e.period_reserved,
        e.top_up_reserved,
        e.at
    ];
    // The CHECK constraints refuse a negative balance: the operation then fails as a whole. (An
    // upsert cannot serve both cases: SQLite checks the inserted row, deltas and all, first.)
    let updated = conn
        .prepare_cached(
            "UPDATE credit_accounts SET period_balance = period_balance + ?2,
                 top_up_balance = top_up_balance + ?3, period_reserved = period_reserved + ?4,
                 top_up_reserved = top_up_reserved + ?5, updated_at = ?6
             WHERE license_id = ?1",
        )?
        .execute(deltas)?;
    if updated == 0 {
        conn.prepare_cached(
            "INSERT INTO credit_accounts (license_id, period_balance, top_up_balance,
                 period_reserved, top_up_reserved, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(deltas)?;
    }
    conn.prepare_cached(
        "INSERT INTO credit_ledger (license_id, kind, period, top_up, period_reserved,
             top_up_reserved, used, shortfall, reason, reference, reservation_id, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        license,
        e.kind.as_str(),
        e.period,
        e.top_up,
        e.period_reserved,
        e.top_up_reserved,
        signed(e.used)?,
        signed(e.shortfall)?,
        e.reason,
        e.reference,
        e.reservation_id,
        e.at
    ])?;
    Ok(())
}

pub(super) fn set_period(
    conn: &Connection,
    id: &LicenseId,
    start: Option<Timestamp>,
    end: Timestamp,
    at: Timestamp,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO credit_accounts (license_id, period_balance, top_up_balance, period_reserved,
             top_up_reserved, period_start, period_end, updated_at)
         VALUES (?1, 0, 0, 0, 0, ?2, ?3, ?4)
         ON CONFLICT (license_id) DO UPDATE SET period_start = excluded.period_start,
             period_end = excluded.period_end, updated_at = excluded.updated_at",
        params![hex(id), start, end, at],
    )?;
    Ok(())
}

pub(super) fn top_ups_by_payment(
    conn: &Connection,
    payment_intent_id: &str,
) -> Result<Vec<TopUpGrant>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, license_id, credits, price_id FROM credit_grants
         WHERE payment_intent_id = ?1 AND license_id IS NOT NULL AND reversed_at IS NULL
         ORDER BY id",
    )?;
    let rows = stmt
        .query_map([payment_intent_id], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, String>(3)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(id, license, credits, price_id)| {
            Ok(TopUpGrant {
                id,
                license_id: LicenseId::from_hex(&license).ok_or_else(|| {
                    StoreError::corrupt(format!("credit grant {id} names licence `{license}`"))
                })?,
                credits: amount(credits, "credit grant")?,
                price_id,
            })
        })
        .collect()
}

const RESERVATION_COLUMNS: &str = "id, amount, period_part, top_up_part, status, used, reference, \
     created_at, expires_at, settled_at, period_end";

fn reservation_from_row(row: &Row<'_>) -> rusqlite::Result<Result<Reservation, StoreError>> {
    let id: String = row.get(0)?;
    let numbers: [i64; 3] = [row.get(1)?, row.get(2)?, row.get(3)?];
    let status: String = row.get(4)?;
    let used: Option<i64> = row.get(5)?;
    let reference: Option<String> = row.get(6)?;
    let times: (i64, i64, Option<i64>) = (row.get(7)?, row.get(8)?, row.get(9)?);
    let period_end: Option<i64> = row.get(10)?;
    let build = || -> Result<Reservation, StoreError> {
        Ok(Reservation {
            status: ReservationStatus::from_name(&status).ok_or_else(|| {
                StoreError::corrupt(format!("reservation {id} has status `{status}`"))
            })?,
            amount: amount(numbers[0], "reservation amount")?,
            period_part: amount(numbers[1], "reservation part")?,
            top_up_part: amount(numbers[2], "reservation part")?,
            used: used.map(|u| amount(u, "used credits")).transpose()?,
            reference: reference.clone(),
            created_at: times.0,
            expires_at: times.1,
            settled_at: times.2,
            period_end,
            id: id.clone(),
        })
    };
    Ok(build())
}

pub(super) fn open_reservations(
    conn: &Connection,
    id: &LicenseId,
) -> Result<Vec<Reservation>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {RESERVATION_COLUMNS} FROM credit_reservations
         WHERE license_id = ?1 AND status = 'open' ORDER BY created_at, id LIMIT 1000"
    ))?;
    let rows = stmt
        .query_map([hex(id)], reservation_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter().collect()
}

pub(super) fn reservation(
    conn: &Connection,
    id: &LicenseId,
    reservation_id: &str,
) -> Result<Option<Reservation>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {RESERVATION_COLUMNS} FROM credit_reservations WHERE id = ?1 AND license_id = ?2"
    ))?
    .query_row(params![reservation_id, hex(id)], reservation_from_row)
    .optional()?
    .transpose()
}

pub(super) fn idempotent_answer(
    conn: &Connection,
    id: &LicenseId,
    key: &str,
) -> Result<Option<(String, StoredAnswer)>, StoreError> {
    let earlier = conn
        .prepare_cached(
            "SELECT fingerprint, status, body FROM credit_idempotency
             WHERE license_id = ?1 AND key = ?2",
        )?
        .query_row(params![hex(id), key], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, String>(2)?,
            ))
        })
        .optional()?;
    earlier
        .map(|(fingerprint, status, body)| {
            let status = u16::try_from(status)
                .map_err(|_| StoreError::corrupt(format!("stored answer status {status}")))?;
            Ok((fingerprint, StoredAnswer { status, body }))
        })
        .transpose()
}

pub(super) fn keep_idempotent_answer(
    conn: &Connection,
    id: &LicenseId,
    key: &str,
    fingerprint: &str,
    answer: &StoredAnswer,
    at: Timestamp,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO credit_idempotency (license_id, key, fingerprint, status, body, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        hex(id),
        key,
        fingerprint,
        answer.status,
        answer.body,
        at
    ])?;
    Ok(())
}

pub(super) fn insert_reservation(
    conn: &Connection,
    id: &LicenseId,
    r: &Reservation,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO credit_reservations (id, license_id, amount, period_part, top_up_part,
             period_end, status, reference, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        r.id,
        hex(id),
        signed(r.amount)?,
        signed(r.period_part)?,
        signed(r.top_up_part)?,
        r.period_end,
        r.status.as_str(),
        r.reference,
        r.created_at,
        r.expires_at
    ])?;
    Ok(())
}

pub(super) fn close_reservation(
    conn: &Connection,
    id: &LicenseId,
    closed: &Reservation,
) -> Result<bool, StoreError> {
    let changed = conn
        .prepare_cached(
            "UPDATE credit_reservations SET status = ?3, used = ?4, settled_at = ?5
             WHERE id = ?1 AND license_id = ?2 AND status = 'open'",
        )?
        .execute(params![
            closed.id,
            hex(id),
            closed.status.as_str(),
            closed.used.map(signed).transpose()?,
            closed.settled_at
        ])?;
    Ok(changed == 1)
}

pub(super) fn due_reservations(
    conn: &Connection,
    now: Timestamp,
    limit: u32,
) -> Result<Vec<(LicenseId, String)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT license_id, id FROM credit_reservations
         WHERE status = 'open' AND expires_at <= ?1 ORDER BY expires_at, id LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![now, limit], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(license, id)| {
            let license_id = LicenseId::from_hex(&license).ok_or_else(|| {
                StoreError::corrupt(format!("reservation {id} of licence `{license}`"))
            })?;
            Ok((license_id, id))
        })
        .collect()
}

pub(super) fn ledger(
    conn: &Connection,
    id: &LicenseId,
    after: Option<i64>,
    limit: u32,
) -> Result<Vec<LedgerEntry>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, kind, period, top_up, period_reserved, top_up_reserved, used, shortfall, reason,
             reference, reservation_id, at
         FROM credit_ledger WHERE license_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
    )?;
    let rows = stmt
        .query_map(params![hex(id), after.unwrap_or(0), limit], |row| {
            Ok(LedgerEntry {
                id: row.get(0)?,
                kind: row.get(1)?,
                period: row.get(2)?,
                top_up: row.get(3)?,
                period_reserved: row.get(4)?,
                top_up_reserved: row.get(5)?,
                used: row.get::<_, i64>(6)?.max(0) as u64,
                shortfall: row.get::<_, i64>(7)?.max(0) as u64,
                reason: row.get(8)?,
                reference: row.get(9)?,
                reservation_id: row.get(10)?,
                at: row.get(11)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub(super) fn totals(conn: &Connection) -> Result<Vec<LedgerMismatch>, StoreError> {
    let mut stmt = conn.prepare(
        "WITH ids AS (SELECT license_id FROM credit_accounts
                      UNION SELECT license_id FROM credit_ledger
                      UNION SELECT license_id FROM credit_reservations),
              sums AS (SELECT license_id, sum(period) AS p, sum(top_up) AS t,
                              sum(period_reserved) AS pr, sum(top_up_reserved) AS tr
                       FROM credit_ledger GROUP BY license_id),
              held AS (SELECT license_id, sum(period_part) AS p, sum(top_up_part) AS t
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
    )?;
    let rows = stmt
        .query_map([], |row| {
            Ok(LedgerMismatch {
                license_id: row.get(0)?,
                cached: [row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?],
                ledger: [row.get(5)?, row.get(6)?, row.get(7)?, row.get(8)?],
                open_reservations: [row.get(9)?, row.get(10)?],
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;
    use crate::store::{Idempotent, LedgerKind, ReserveOutcome, ReserveRequest, Store};

    const ID: LicenseId = LicenseId([0, 0, 0, 0, 0, 0, 0, 7]);

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db.sqlite3")).unwrap();
        (dir, store)
    }

    fn entry(kind: LedgerKind, period: i64, top_up: i64) -> NewLedgerEntry<'static> {
        NewLedgerEntry {
            kind,
            ..NewLedgerEntry::adjustment(&ID, period, top_up, "test", "test", 1)
        }
    }

    fn render(outcome: &ReserveOutcome) -> StoredAnswer {
        match outcome {
            ReserveOutcome::Reserved(r, _) => StoredAnswer {
                status: 201,
                body: r.id.clone(),
            },
            ReserveOutcome::Insufficient { available, .. } => StoredAnswer {
                status: 402,
                body: available.to_string(),
            },
        }
    }

    fn reserve_id(store: &SqliteStore, key: &str, amount: u64) -> String {
        let request = ReserveRequest {
            license_id: ID,
            idempotency_key: key.to_owned(),
            fingerprint: key.to_owned(),
            amount,
            ttl_seconds: 60,
            reference: None,
            now: 10,
        };
        match (store as &dyn Store)
            .reserve_credits(request, render)
            .wait()
            .unwrap()
        {
            Ok(Idempotent::New(answer)) if answer.status == 201 => answer.body,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_check_reports_cached_balances_that_differ_from_the_ledger() {
        let (_dir, store) = store();
        store
            .immediate(|conn| append(conn, &entry(LedgerKind::Grant, 0, 50)))
            .unwrap();
        reserve_id(&store, "a", 20);
        assert_eq!(
            (&store as &dyn Store).verify_credit_ledger().unwrap(),
            vec![]
        );
        store
            .conn()
            .execute("UPDATE credit_accounts SET top_up_balance = 31", [])
            .unwrap();
        let mismatches = (&store as &dyn Store).verify_credit_ledger().unwrap();
        assert_eq!(mismatches.len(), 1);
        assert_eq!(mismatches[0].cached[1], 31);
        assert_eq!(mismatches[0].ledger[1], 30);
        assert_eq!(mismatches[0].open_reservations, [0, 20]);
    }
}
