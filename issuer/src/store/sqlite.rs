//! The embedded default store: one SQLite file in WAL mode.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{params, Connection, Params, Row, Statement, TransactionBehavior};
use tessera_keys::LicenseId;

mod admin;
mod checkpointer;
mod credits;
mod machines;
mod writer;

use super::migrations::MIGRATIONS;
use super::rows::{
    self, Columns, CREDIT_GRANT_COLUMNS, DELIVERY_COLUMNS, KEY_COLUMNS, LICENSE_COLUMNS,
    OUTBOX_COLUMNS, PAYMENT_SUBSCRIPTION_COLUMNS, SIGNING_KEY_COLUMNS, SUBSCRIPTION_COLUMNS,
};
use super::{
    signed, ApplyError, AuditEntry, CreditAccount, CreditGrant, Deactivation, Delivery,
    DeliveryStatus, IncomingDelivery, IssuedKey, LedgerEntry, LedgerMismatch, LicenseQuery,
    LicenseRecord, LicenseStatus, Machine, NewAuditEntry, NewEmail, NewLedgerEntry, OutboxEmail,
    PaymentReversal, PaymentSubscription, Reservation, Revocations, Store, StoreError,
    StoreErrorKind, StoredAnswer, StoredSigningKey, SubscriptionRecord, Timestamp, TopUpGrant, Tx,
    WriteJob,
};

const REVOCATION_SEQUENCE: &str = "revocation_sequence";

/// A SQLite database file.
///
/// Two connections: one behind a mutex for webhooks, e-mail and reads (every call already runs on a
/// blocking thread), and one owned by the [`writer::Writer`] thread, which groups concurrent credit
/// operations into shared commits. SQLite's own lock orders the two, as it orders two processes
/// sharing the file.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
    /// Held by whoever writes in this process (see [`WriteGate`]).
    gate: WriteGate,
    writer: writer::Writer,
    _checkpointer: checkpointer::Checkpointer,
}

/// The one place rusqlite's errors are given a kind.
impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        // What the disk or another process causes, and a later attempt can get past, is
        // unavailable: BEGIN IMMEDIATE takes the write lock before anything is read, so a busy
        // database means waiting longer than the busy timeout, not a lost race.
        let kind = match err.sqlite_error_code() {
            Some(
                ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::SystemIoFailure
                | ErrorCode::DiskFull
                | ErrorCode::CannotOpen
                | ErrorCode::ReadOnly
                | ErrorCode::FileLockingProtocolFailed
                | ErrorCode::OutOfMemory
                | ErrorCode::TooBig,
            ) => StoreErrorKind::Unavailable,
            Some(ErrorCode::ConstraintViolation) => StoreErrorKind::Constraint,
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => StoreErrorKind::Corrupt,
            _ => StoreErrorKind::Internal,
        };
        StoreError::new(kind, "").caused_by(err)
    }
}

super::rows::impl_columns!(Row<'_>, get);

/// The first row `stmt` selects with `params`, decoded by `decode`.
pub(super) fn first<T>(
    stmt: &mut Statement<'_>,
    params: impl Params,
    decode: impl FnOnce(&dyn Columns) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let mut rows = stmt.query(params)?;
    rows.next()?.map(|row| decode(row)).transpose()
}

/// Every row `stmt` selects with `params`, decoded by `decode`.
pub(super) fn every<T>(
    stmt: &mut Statement<'_>,
    params: impl Params,
    mut decode: impl FnMut(&dyn Columns) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut rows = stmt.query(params)?;
    let mut decoded = Vec::new();
    while let Some(row) = rows.next()? {
        decoded.push(decode(row)?);
    }
    Ok(decoded)
}

impl SqliteStore {
    /// Opens (or creates) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let mut conn = connect(path)?;
        migrate(&mut conn)?;
        let gate = WriteGate::default();
        let writer = writer::Writer::start(connect(path)?, gate.clone())
            .map_err(|err| StoreError::internal("cannot start the writer thread").caused_by(err))?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            gate,
            writer,
            _checkpointer: checkpointer::Checkpointer::start(path)?,
        })
    }

    /// The connection, for a write: after the process's write gate.
    fn write_conn(&self) -> (parking_lot::MutexGuard<'_, ()>, MutexGuard<'_, Connection>) {
        let gate = self.gate.0.lock();
        (gate, self.conn())
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite itself consistent (the transaction rolls back
        // on drop), so a poisoned lock is safe to keep using.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One writer at a time within this process, handed over fairly.
///
/// SQLite admits one writer per database; two connections that both want to write find out with
/// `SQLITE_BUSY`, and the loser sleeps and polls (1, 2, 5, … 100 ms) until the lock is free. Against
/// the credit writer, which takes the lock again right after each commit, a webhook could wait most
/// of a second or time out. Both connections of this process take this gate first instead, and the
/// writer hands it over fairly (`unlock_fair`), so a waiting webhook gets the next turn. Other
/// processes sharing the file still meet SQLite's own lock and `busy_timeout`.
#[derive(Clone, Debug, Default)]
pub(super) struct WriteGate(std::sync::Arc<parking_lot::Mutex<()>>);

/// Makes the database file owner-only (0600) before SQLite opens it: SQLite creates a missing file
/// 0644, and its `-wal` and `-shm` files with the database file's mode. Files an earlier version
/// left readable by others are narrowed too.
#[cfg(unix)]
fn make_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let failed = |err: std::io::Error| {
        StoreError::unavailable(format!("cannot make {} private", path.display())).caused_by(err)
    };
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(failed)?;
    let mut files = vec![path.to_owned()];
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        files.push(name.into());
    }
    for file in files {
        match std::fs::metadata(&file) {
            Ok(metadata) if metadata.permissions().mode() & 0o077 != 0 => {
                tracing::warn!(path = %file.display(), "database file readable by others: made 0600");
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                    .map_err(failed)?;
            }
            Ok(_) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(failed(err)),
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn make_private(_path: &Path) -> Result<(), StoreError> {
    Ok(())
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    make_private(path)?;
    let conn = Connection::open(path)?;
    // WAL lets readers run beside the writer; FULL makes every commit durable before the HTTP
    // answer, which a licence or a credit movement must be. busy_timeout lets another connection or
    // process sharing the file wait for the lock instead of failing.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // Checkpoints run on their own thread (see `checkpointer`), never inside a commit.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    // Every statement of the credit path stays prepared (rusqlite keeps 16 by default, fewer than
    // the path uses, and re-preparing costs more than running most of them).
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let current = usize::try_from(current).unwrap_or(usize::MAX);
    if current > MIGRATIONS.len() {
        return Err(StoreError::corrupt(format!(
            "database schema version {current} is newer than this issuer knows ({})",
            MIGRATIONS.len()
        )));
    }
    for (version, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}

/// Runs `sql` with the licence's fields bound as ?1..?19, in [`LICENSE_COLUMNS`] order.
fn write_license(conn: &Connection, sql: &str, l: &LicenseRecord) -> Result<(), StoreError> {
    let (activation, [max_machines, lease_days, heartbeat_seconds, max_deactivations]) =
        rows::seat_columns(&l.seats);
    conn.execute(
        sql,
        params![
            l.id.to_hex().as_str(),
            l.product,
            l.tier,
            l.features as i64,
            l.status.as_str(),
            l.customer_id,
            l.email,
            l.checkout_session_id,
            l.subscription_id,
            l.payment_intent_id,
            l.price_id,
            l.expires_at,
            l.created_at,
            l.updated_at,
            activation,
            max_machines,
            lease_days,
            heartbeat_seconds,
            max_deactivations
        ],
    )?;
    Ok(())
}

fn license_where(
    conn: &Connection,
    column: &str,
    value: &str,
) -> Result<Option<LicenseRecord>, StoreError> {
    let sql = format!(
        "SELECT {LICENSE_COLUMNS} FROM licenses WHERE {column} = ?1 ORDER BY created_at LIMIT 1"
    );
    first(&mut *conn.prepare_cached(&sql)?, [value], rows::license)
}

fn keys_of(conn: &Connection, id: &LicenseId) -> Result<Vec<IssuedKey>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {KEY_COLUMNS} FROM license_keys WHERE license_id = ?1 ORDER BY id"
    ))?;
    every(&mut stmt, [id.to_hex().as_str()], rows::issued_key)
}

fn delivery(conn: &Connection, event_id: &str) -> Result<Option<Delivery>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_events WHERE id = ?1"
    ))?;
    first(&mut stmt, [event_id], rows::delivery)
}

fn record_delivery(
    conn: &Connection,
    delivery: &IncomingDelivery<'_>,
    status: DeliveryStatus,
    error: Option<&str>,
    now: Timestamp,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO webhook_events (id, type, status, error, attempts, received_at, processed_at, payload)
         VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?7)
         ON CONFLICT (id) DO UPDATE SET
             status = excluded.status, error = excluded.error, attempts = attempts + 1,
             processed_at = excluded.processed_at",
        params![
            delivery.event_id,
            delivery.event_type,
            status.as_str(),
            error,
            delivery.received_at,
            now,
            delivery.payload
        ],
    )?;
    Ok(())
}

/// A transaction's view for [`Tx`]: a savepoint inside the delivery's transaction.
struct Effects<'c> {
    conn: &'c Connection,
}

impl Tx for Effects<'_> {
    fn license_by_checkout_session(
        &mut self,
        id: &str,
    ) -> Result<Option<LicenseRecord>, StoreError> {
        license_where(self.conn, "checkout_session_id", id)
    }

    fn license_by_subscription(&mut self, id: &str) -> Result<Option<LicenseRecord>, StoreError> {
        license_where(self.conn, "subscription_id", id)
    }

    fn license_by_payment_intent(&mut self, id: &str) -> Result<Option<LicenseRecord>, StoreError> {
        license_where(self.conn, "payment_intent_id", id)
    }

    fn insert_license(&mut self, license: &LicenseRecord) -> Result<(), StoreError> {
        write_license(
            self.conn,
            &format!(
                "INSERT INTO licenses ({LICENSE_COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                         ?17, ?18, ?19)"
            ),
            license,
        )
    }

    fn update_license(&mut self, license: &LicenseRecord) -> Result<(), StoreError> {
        // ?13 (created_at) is bound but never changes.
        write_license(
            self.conn,
            "UPDATE licenses SET product = ?2, tier = ?3, features = ?4, status = ?5, customer_id = ?6,
                 email = ?7, checkout_session_id = ?8, subscription_id = ?9, payment_intent_id = ?10,
                 price_id = ?11, expires_at = ?12, updated_at = ?14, activation = ?15,
                 max_machines = ?16, lease_days = ?17, heartbeat_seconds = ?18,
                 max_deactivations = ?19
             WHERE id = ?1",
            license,
        )
    }

    fn add_key(
        &mut self,
        id: &LicenseId,
        key: &IssuedKey,
        event_id: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO license_keys (license_id, key_text, signing_key_id, issued_at, expires_at, reason, event_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                id.to_hex().as_str(),
                key.key,
                key.signing_key_id,
                key.issued_at,
                key.expires_at,
                key.reason,
                event_id
            ],
        )?;
        Ok(())
    }

    fn revoke(&mut self, id: &LicenseId, reason: &str, at: Timestamp) -> Result<bool, StoreError> {
        let inserted = self.conn.execute(
            "INSERT INTO revocations (license_id, revoked_at, reason) VALUES (?1, ?2, ?3)
             ON CONFLICT (license_id) DO NOTHING",
            params![id.to_hex().as_str(), at, reason],
        )?;
        if inserted == 0 {
            return Ok(false);
        }
        self.conn.execute(
            "UPDATE licenses SET status = 'revoked', updated_at = ?2 WHERE id = ?1",
            params![id.to_hex().as_str(), at],
        )?;
        self.conn.execute(
            "INSERT INTO counters (name, value, changed_at) VALUES (?1, 1, ?2)
             ON CONFLICT (name) DO UPDATE SET value = value + 1, changed_at = excluded.changed_at",
            params![REVOCATION_SEQUENCE, at],
        )?;
        Ok(true)
    }
    fn subscription(&mut self, id: &str) -> Result<Option<SubscriptionRecord>, StoreError> {
        subscription(self.conn, id)
    }

    fn put_subscription(&mut self, s: &SubscriptionRecord) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO subscriptions
                 (id, customer_id, price_id, price_as_of, paid_through, canceled_at, updated_at,
                  checkout_session_id, email)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (id) DO UPDATE SET
                 customer_id = excluded.customer_id, price_id = excluded.price_id,
                 price_as_of = excluded.price_as_of, paid_through = excluded.paid_through,
                 canceled_at = excluded.canceled_at, updated_at = excluded.updated_at,
                 checkout_session_id = excluded.checkout_session_id, email = excluded.email",
            params![
                s.id,
                s.customer_id,
                s.price_id,
                s.price_as_of,
                s.paid_through,
                s.canceled_at,
                s.updated_at,
                s.checkout_session_id,
                s.email
            ],
        )?;
        Ok(())
    }

    fn payment_reversal(
        &mut self,
        payment_intent_id: &str,
    ) -> Result<Option<PaymentReversal>, StoreError> {
        payment_reversal_where(
            self.conn,
            "SELECT payment_intent_id, kind, object_id, at FROM payment_reversals
             WHERE payment_intent_id = ?1",
            payment_intent_id,
        )
    }

    fn payment_subscription(
        &mut self,
        payment_intent_id: &str,
    ) -> Result<Option<PaymentSubscription>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {PAYMENT_SUBSCRIPTION_COLUMNS} FROM payment_subscriptions
             WHERE payment_intent_id = ?1"
        ))?;
        first(&mut stmt, [payment_intent_id], rows::payment_subscription)
    }

    fn record_payment_subscription(
        &mut self,
        link: &PaymentSubscription,
        event_id: &str,
    ) -> Result<bool, StoreError> {
        let inserted = self.conn.execute(
            "INSERT INTO payment_subscriptions
                 (payment_intent_id, subscription_id, invoice_id, event_id, at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (payment_intent_id) DO NOTHING",
            params![
                link.payment_intent_id,
                link.subscription_id,
                link.invoice_id,
                event_id,
                link.at
            ],
        )?;
        Ok(inserted == 1)
    }

    fn subscription_reversal(
        &mut self,
        subscription_id: &str,
    ) -> Result<Option<PaymentReversal>, StoreError> {
        payment_reversal_where(
            self.conn,
            "SELECT r.payment_intent_id, r.kind, r.object_id, r.at
             FROM payment_reversals r
             JOIN payment_subscriptions p ON p.payment_intent_id = r.payment_intent_id
             WHERE p.subscription_id = ?1
             ORDER BY r.at, r.payment_intent_id LIMIT 1",
            subscription_id,
        )
    }

    fn record_payment_reversal(
        &mut self,
        r: &PaymentReversal,
        event_id: &str,
    ) -> Result<bool, StoreError> {
        let inserted = self.conn.execute(
            "INSERT INTO payment_reversals (payment_intent_id, kind, object_id, event_id, at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (payment_intent_id) DO NOTHING",
            params![r.payment_intent_id, r.kind, r.object_id, event_id, r.at],
        )?;
        Ok(inserted == 1)
    }

    fn grant_credits(&mut self, g: &CreditGrant, event_id: &str) -> Result<bool, StoreError> {
        let credits = signed(g.credits)?;
        let inserted = self.conn.execute(
            "INSERT INTO credit_grants
                 (checkout_session_id, price_id, customer_id, email, credits, event_id, granted_at,
                  license_id, payment_intent_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (checkout_session_id, price_id) DO NOTHING",
            params![
                g.checkout_session_id,
                g.price_id,
                g.customer_id,
                g.email,
                credits,
                event_id,
                g.granted_at,
                g.license_id.as_ref().map(|id| id.to_hex().to_string()),
                g.payment_intent_id
            ],
        )?;
        Ok(inserted == 1)
    }

    fn license(&mut self, id: &LicenseId) -> Result<Option<LicenseRecord>, StoreError> {
        license_where(self.conn, "id", id.to_hex().as_str())
    }

    fn credit_account(&mut self, id: &LicenseId) -> Result<Option<CreditAccount>, StoreError> {
        credits::account(self.conn, id)
    }

    fn credit_entry(&mut self, entry: &NewLedgerEntry<'_>) -> Result<(), StoreError> {
        credits::append(self.conn, entry)
    }

    fn set_credit_period(
        &mut self,
        id: &LicenseId,
        start: Option<Timestamp>,
        end: Timestamp,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        credits::set_period(self.conn, id, start, end, at)
    }

    fn top_ups_by_payment(
        &mut self,
        payment_intent_id: &str,
    ) -> Result<Vec<TopUpGrant>, StoreError> {
        credits::top_ups_by_payment(self.conn, payment_intent_id)
    }

    fn top_up_reversed(&mut self, id: i64, at: Timestamp) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE credit_grants SET reversed_at = ?2 WHERE id = ?1",
            params![id, at],
        )?;
        Ok(())
    }

    fn enqueue_email(&mut self, e: &NewEmail<'_>) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO email_outbox (license_id, event_id, to_address, subject, body, status,
                 attempts, next_attempt_at, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'queued', 0, ?6, ?6)",
            params![
                e.license_id.to_hex().as_str(),
                e.event_id,
                e.to,
                e.subject,
                e.body,
                e.created_at
            ],
        )?;
        Ok(())
    }

    fn revocation_sequence(&mut self) -> Result<u64, StoreError> {
        Ok(revocation_counter(self.conn)?.0)
    }

    fn savepoint(
        &mut self,
        work: &mut dyn FnMut(&mut dyn Tx) -> Result<(), ApplyError>,
    ) -> Result<(), ApplyError> {
        self.conn
            .prepare_cached("SAVEPOINT effects")
            .and_then(|mut stmt| stmt.execute([]))
            .map_err(StoreError::from)?;
        let result = work(self);
        let finish = |sql: &str| -> Result<(), StoreError> {
            self.conn.prepare_cached(sql)?.execute([])?;
            Ok(())
        };
        if result.is_err() {
            finish("ROLLBACK TO effects")?;
        }
        finish("RELEASE effects")?;
        result
    }

    fn delivery(&mut self, event_id: &str) -> Result<Option<Delivery>, StoreError> {
        delivery(self.conn, event_id)
    }

    fn record_delivery(
        &mut self,
        delivery: &IncomingDelivery<'_>,
        status: DeliveryStatus,
        error: Option<&str>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        record_delivery(self.conn, delivery, status, error, at)
    }

    fn record_attempt(&mut self, event_id: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE webhook_events SET attempts = attempts + 1 WHERE id = ?1",
            [event_id],
        )?;
        Ok(())
    }

    fn record_audit(&mut self, entry: &NewAuditEntry<'_>) -> Result<(), StoreError> {
        admin::record(self.conn, entry)
    }

    fn lock_credits(&mut self, _id: &LicenseId) -> Result<(), StoreError> {
        // Every write transaction here is `BEGIN IMMEDIATE`: it holds the whole database already.
        Ok(())
    }

    fn license_status(&mut self, id: &LicenseId) -> Result<Option<LicenseStatus>, StoreError> {
        license_status(self.conn, id)
    }

    fn idempotent_answer(
        &mut self,
        id: &LicenseId,
        key: &str,
    ) -> Result<Option<(String, StoredAnswer)>, StoreError> {
        credits::idempotent_answer(self.conn, id, key)
    }

    fn keep_idempotent_answer(
        &mut self,
        id: &LicenseId,
        key: &str,
        fingerprint: &str,
        answer: &StoredAnswer,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        credits::keep_idempotent_answer(self.conn, id, key, fingerprint, answer, at)
    }

    fn insert_reservation(&mut self, id: &LicenseId, r: &Reservation) -> Result<(), StoreError> {
        credits::insert_reservation(self.conn, id, r)
    }

    fn reservation(
        &mut self,
        id: &LicenseId,
        reservation_id: &str,
    ) -> Result<Option<Reservation>, StoreError> {
        credits::reservation(self.conn, id, reservation_id)
    }

    fn close_reservation(
        &mut self,
        id: &LicenseId,
        closed: &Reservation,
    ) -> Result<bool, StoreError> {
        credits::close_reservation(self.conn, id, closed)
    }

    fn due_reservations(
        &mut self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<(LicenseId, String)>, StoreError> {
        credits::due_reservations(self.conn, now, limit)
    }

    fn lock_machines(&mut self, _id: &LicenseId) -> Result<(), StoreError> {
        // As `lock_credits`: the write transaction holds the whole database already.
        Ok(())
    }

    fn active_machines(&mut self, id: &LicenseId) -> Result<Vec<Machine>, StoreError> {
        machines::of_license(self.conn, id, true)
    }

    fn machine(&mut self, machine_id: &str) -> Result<Option<Machine>, StoreError> {
        machines::by_id(self.conn, machine_id)
    }

    fn insert_machine(&mut self, machine: &Machine) -> Result<(), StoreError> {
        machines::insert(self.conn, machine)
    }

    fn update_machine(&mut self, machine: &Machine) -> Result<(), StoreError> {
        machines::update(self.conn, machine)
    }

    fn deactivations_since(
        &mut self,
        id: &LicenseId,
        how: Deactivation,
        since: Timestamp,
    ) -> Result<u32, StoreError> {
        machines::deactivations_since(self.conn, id, how, since)
    }

    fn lapsed_machines(
        &mut self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<(LicenseId, String)>, StoreError> {
        machines::lapsed(self.conn, now, limit)
    }
}

/// Licence `id`'s status, if it is on record.
fn license_status(conn: &Connection, id: &LicenseId) -> Result<Option<LicenseStatus>, StoreError> {
    first(
        &mut *conn.prepare_cached("SELECT status FROM licenses WHERE id = ?1")?,
        [id.to_hex().as_str()],
        rows::license_status,
    )
}

/// The payment reversal selected by `sql` (its columns: payment intent, kind, object, time) with
/// `param` as `?1`.
fn payment_reversal_where(
    conn: &Connection,
    sql: &str,
    param: &str,
) -> Result<Option<PaymentReversal>, StoreError> {
    first(
        &mut *conn.prepare_cached(sql)?,
        [param],
        rows::payment_reversal,
    )
}

fn subscription(conn: &Connection, id: &str) -> Result<Option<SubscriptionRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = ?1"
    ))?;
    first(&mut stmt, [id], rows::subscription)
}

impl Store for SqliteStore {
    fn ready(&self) -> Result<(), StoreError> {
        self.conn().query_row("SELECT 1", [], |_| Ok(()))?;
        Ok(())
    }

    fn write(
        &self,
        work: &mut dyn FnMut(&mut dyn Tx) -> Result<(), ApplyError>,
    ) -> Result<(), ApplyError> {
        let (_gate, mut conn) = self.write_conn();
        // IMMEDIATE takes the write lock before anything is read, so no other write (of this
        // process or another sharing the file) interleaves.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::from)?;
        // Dropping the transaction on an error rolls it back.
        work(&mut Effects { conn: &tx })?;
        tx.commit().map_err(StoreError::from)?;
        Ok(())
    }

    fn submit(&self, job: Box<dyn WriteJob>) {
        self.writer.submit(job);
    }

    fn delivery(&self, event_id: &str) -> Result<Option<Delivery>, StoreError> {
        delivery(&self.conn(), event_id)
    }

    fn license_by_checkout_session(
        &self,
        id: &str,
    ) -> Result<Option<(LicenseRecord, Option<IssuedKey>)>, StoreError> {
        let conn = self.conn();
        let Some(license) = license_where(&conn, "checkout_session_id", id)? else {
            return Ok(None);
        };
        let newest = keys_of(&conn, &license.id)?.pop();
        Ok(Some((license, newest)))
    }

    fn license(
        &self,
        id: &LicenseId,
    ) -> Result<Option<(LicenseRecord, Vec<IssuedKey>)>, StoreError> {
        let conn = self.conn();
        let Some(license) = license_where(&conn, "id", id.to_hex().as_str())? else {
            return Ok(None);
        };
        let keys = keys_of(&conn, &license.id)?;
        Ok(Some((license, keys)))
    }

    fn revocations(&self) -> Result<Revocations, StoreError> {
        let conn = self.conn();
        let (sequence, changed_at) = revocation_counter(&conn)?;
        let mut stmt =
            conn.prepare_cached("SELECT license_id FROM revocations ORDER BY license_id")?;
        let ids = every(&mut stmt, [], rows::revoked_license)?;
        Ok(Revocations {
            sequence,
            changed_at,
            ids,
        })
    }

    fn subscription(&self, id: &str) -> Result<Option<SubscriptionRecord>, StoreError> {
        subscription(&self.conn(), id)
    }

    fn payment_resolved(&self, payment_intent_id: &str) -> Result<bool, StoreError> {
        Ok(self.conn().query_row(
            "SELECT EXISTS (SELECT 1 FROM licenses WHERE payment_intent_id = ?1)
                 OR EXISTS (SELECT 1 FROM payment_subscriptions WHERE payment_intent_id = ?1)
                 OR EXISTS (SELECT 1 FROM credit_grants WHERE payment_intent_id = ?1)",
            [payment_intent_id],
            |row| row.get(0),
        )?)
    }

    fn credit_grants(&self, checkout_session_id: &str) -> Result<Vec<CreditGrant>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {CREDIT_GRANT_COLUMNS} FROM credit_grants
             WHERE checkout_session_id = ?1 ORDER BY id"
        ))?;
        every(&mut stmt, [checkout_session_id], rows::credit_grant)
    }

    fn claim_email(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<OutboxEmail>, StoreError> {
        // One statement, so claiming is atomic even with another process on the same file.
        let (_gate, conn) = self.write_conn();
        let mut stmt = conn.prepare_cached(&format!(
            "UPDATE email_outbox SET attempts = attempts + 1, next_attempt_at = ?2
             WHERE id = (SELECT id FROM email_outbox
                         WHERE status = 'queued' AND next_attempt_at <= ?1
                         ORDER BY next_attempt_at, id LIMIT 1)
             RETURNING {OUTBOX_COLUMNS}"
        ))?;
        first(&mut stmt, params![now, lease_until], rows::outbox_email)
    }

    fn email_sent(&self, id: i64, at: Timestamp) -> Result<(), StoreError> {
        self.write_conn().1.execute(
            "UPDATE email_outbox SET status = 'sent', sent_at = ?2, last_error = NULL WHERE id = ?1",
            params![id, at],
        )?;
        Ok(())
    }

    fn email_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        self.write_conn().1.execute(
            "UPDATE email_outbox SET last_error = ?2,
                 status = CASE WHEN ?3 IS NULL THEN 'failed' ELSE 'queued' END,
                 next_attempt_at = coalesce(?3, next_attempt_at)
             WHERE id = ?1",
            params![id, error, retry_at],
        )?;
        Ok(())
    }

    fn next_email_due(&self) -> Result<Option<Timestamp>, StoreError> {
        Ok(self.conn().query_row(
            "SELECT min(next_attempt_at) FROM email_outbox WHERE status = 'queued'",
            [],
            |row| row.get(0),
        )?)
    }

    fn credits(&self, id: &LicenseId) -> Result<(CreditAccount, Vec<Reservation>), StoreError> {
        let mut conn = self.conn();
        // One read transaction, so the balances and the reservations are of the same moment.
        let tx = conn.transaction()?;
        let account = credits::account(&tx, id)?.unwrap_or_default();
        let open = credits::open_reservations(&tx, id)?;
        tx.commit()?;
        Ok((account, open))
    }

    fn license_status(&self, id: &LicenseId) -> Result<Option<LicenseStatus>, StoreError> {
        license_status(&self.conn(), id)
    }

    fn credit_ledger(
        &self,
        id: &LicenseId,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        credits::ledger(&self.conn(), id, after, limit)
    }

    fn find_licenses(
        &self,
        query: &LicenseQuery,
        limit: u32,
    ) -> Result<Vec<LicenseRecord>, StoreError> {
        admin::find_licenses(&self.conn(), query, limit)
    }

    fn license_deliveries(&self, id: &LicenseId, limit: u32) -> Result<Vec<Delivery>, StoreError> {
        admin::license_deliveries(&self.conn(), id, limit)
    }

    fn deliveries(
        &self,
        failed_only: bool,
        event_type: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        admin::deliveries(&self.conn(), failed_only, event_type, limit)
    }

    fn delivery_payload(&self, event_id: &str) -> Result<Option<(Delivery, String)>, StoreError> {
        admin::delivery_payload(&self.conn(), event_id)
    }

    fn delivery_licenses(&self, event_id: &str) -> Result<Vec<String>, StoreError> {
        admin::delivery_licenses(&self.conn(), event_id)
    }

    fn audit_log(
        &self,
        license: Option<&LicenseId>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        admin::audit_log(&self.conn(), license, limit)
    }

    fn credit_totals(&self) -> Result<Vec<LedgerMismatch>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let totals = credits::totals(&tx)?;
        tx.commit()?;
        Ok(totals)
    }

    fn signing_keys(&self) -> Result<Vec<StoredSigningKey>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {SIGNING_KEY_COLUMNS} FROM signing_keys ORDER BY key_id"
        ))?;
        every(&mut stmt, [], rows::signing_key)
    }

    fn add_signing_key(&self, key: &StoredSigningKey) -> Result<bool, StoreError> {
        let added = self.write_conn().1.execute(
            "INSERT INTO signing_keys (key_id, public_key, sealed_secret, created_at)
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (key_id) DO NOTHING",
            params![
                i64::from(key.key_id),
                key.public_key.to_string(),
                key.sealed_secret,
                key.created_at
            ],
        )?;
        Ok(added == 1)
    }

    fn machines(&self, id: &LicenseId, active_only: bool) -> Result<Vec<Machine>, StoreError> {
        machines::of_license(&self.conn(), id, active_only)
    }

    fn machine(&self, machine_id: &str) -> Result<Option<Machine>, StoreError> {
        machines::by_id(&self.conn(), machine_id)
    }
}

#[cfg(test)]
impl SqliteStore {
    /// Runs `work` in a `BEGIN IMMEDIATE` transaction: committed if it returns `Ok`, rolled back
    /// otherwise.
    fn immediate<T>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = work(&tx)?;
        tx.commit()?;
        Ok(value)
    }
}

/// The revocation list's sequence number and when it last changed (0 and 0 before any revocation).
fn revocation_counter(conn: &Connection) -> Result<(u64, Timestamp), StoreError> {
    let counter = first(
        &mut *conn.prepare_cached("SELECT value, changed_at FROM counters WHERE name = ?1")?,
        [REVOCATION_SEQUENCE],
        rows::revocation_counter,
    )?;
    Ok(counter.unwrap_or((0, 0)))
}

#[cfg(test)]
mod error_kinds {
    use super::*;

    fn kind_of(code: std::ffi::c_int) -> StoreErrorKind {
        StoreError::from(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(code),
            None,
        ))
        .kind()
    }

    #[test]
    fn sqlite_errors_are_given_backend_neutral_kinds() {
        use rusqlite::ffi;
        assert_eq!(kind_of(ffi::SQLITE_BUSY), StoreErrorKind::Unavailable);
        assert_eq!(kind_of(ffi::SQLITE_FULL), StoreErrorKind::Unavailable);
        assert_eq!(kind_of(ffi::SQLITE_READONLY), StoreErrorKind::Unavailable);
        assert_eq!(kind_of(ffi::SQLITE_CONSTRAINT), StoreErrorKind::Constraint);
        assert_eq!(kind_of(ffi::SQLITE_CORRUPT), StoreErrorKind::Corrupt);
        assert_eq!(kind_of(ffi::SQLITE_ERROR), StoreErrorKind::Internal);
        let err = StoreError::from(rusqlite::Error::QueryReturnedNoRows);
        assert!(std::error::Error::source(&err).is_some());
    }
}
