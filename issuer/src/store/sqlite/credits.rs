//! Credit accounts in SQLite: the typed reads and writes the credit rules
//! (`crate::credits::rules`) run on. Every function that writes runs inside a transaction its caller
//! opened with `BEGIN IMMEDIATE` (the write lock is taken before anything is read, so two requests,
//! or two processes, never decide on the same balance): the writer's batch, or a webhook's delivery.

use rusqlite::{params, Connection};
use tessera_keys::LicenseId;

use super::{every, first};
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
    conn: &Connection,
    id: &LicenseId,
) -> Result<Option<CreditAccount>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ACCOUNT_COLUMNS} FROM credit_accounts WHERE license_id = ?1"
    ))?;
    first(&mut stmt, [hex(id)], rows::credit_account)
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
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {TOP_UP_COLUMNS} FROM credit_grants
         WHERE payment_intent_id = ?1 AND license_id IS NOT NULL AND reversed_at IS NULL
         ORDER BY id"
    ))?;
    every(&mut stmt, [payment_intent_id], rows::top_up)
}

pub(super) fn open_reservations(
    conn: &Connection,
    id: &LicenseId,
) -> Result<Vec<Reservation>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {RESERVATION_COLUMNS} FROM credit_reservations
         WHERE license_id = ?1 AND status = 'open' ORDER BY created_at, id LIMIT 1000"
    ))?;
    every(&mut stmt, [hex(id)], rows::reservation)
}

pub(super) fn reservation(
    conn: &Connection,
    id: &LicenseId,
    reservation_id: &str,
) -> Result<Option<Reservation>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {RESERVATION_COLUMNS} FROM credit_reservations WHERE id = ?1 AND license_id = ?2"
    ))?;
    first(
        &mut stmt,
        params![reservation_id, hex(id)],
        rows::reservation,
    )
}

pub(super) fn idempotent_answer(
    conn: &Connection,
    id: &LicenseId,
    key: &str,
) -> Result<Option<(String, StoredAnswer)>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {IDEMPOTENT_ANSWER_COLUMNS} FROM credit_idempotency
         WHERE license_id = ?1 AND key = ?2"
    ))?;
    first(&mut stmt, params![hex(id), key], rows::idempotent_answer)
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
    every(&mut stmt, params![now, limit], rows::due_reservation)
}

pub(super) fn ledger(
    conn: &Connection,
    id: &LicenseId,
    after: Option<i64>,
    limit: u32,
) -> Result<Vec<LedgerEntry>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {LEDGER_COLUMNS} FROM credit_ledger
         WHERE license_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
    ))?;
    every(
        &mut stmt,
        params![hex(id), after.unwrap_or(0), limit],
        rows::ledger_entry,
    )
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
    every(&mut stmt, [], rows::ledger_totals)
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
