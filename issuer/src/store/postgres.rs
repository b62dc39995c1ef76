//! The PostgreSQL store, for several issuer processes on one database.
//!
//! The schema is SQLite's ([`migrations`]), licence ids and all, so data copies across. Every call
//! blocks (the `postgres` client runs its own small runtime): like the SQLite store's, it runs on
//! the blocking thread pool, never on the async executor. Connections come from an r2d2 pool.
//!
//! Writes go through [`PgTx`], the [`Tx`](crate::store::Tx) of one PostgreSQL transaction. Plain
//! `BEGIN` is READ COMMITTED: a statement that changes a row waits for any other transaction holding
//! it, then works on its newest version, so single-statement updates (a balance moved by a delta, a
//! counter raised) never lose a write. Rules that read before they decide take row locks first.

use std::time::Duration;

use ::postgres::error::SqlState;
use ::postgres::{GenericClient, IsolationLevel, Row};
use tessera_keys::LicenseId;

mod admin;
mod connection;
mod credits;
pub mod from_sqlite;
mod machines;
mod migrations;
#[cfg(test)]
mod tests;
pub mod tls;
mod tx;
mod writer;

pub use tls::{PgTarget, PgUrlError};
pub use tx::PgTx;

use super::rows::{
    self, CREDIT_GRANT_COLUMNS, DELIVERY_COLUMNS, KEY_COLUMNS, LICENSE_COLUMNS, OUTBOX_COLUMNS,
    SIGNING_KEY_COLUMNS, SUBSCRIPTION_COLUMNS,
};
use super::{
    ApplyError, AuditEntry, CreditAccount, CreditGrant, Delivery, IssuedKey, LedgerEntry,
    LedgerMismatch, LicenseQuery, LicenseRecord, LicenseStatus, Machine, OutboxEmail,
    PaymentReversal, Reservation, Revocations, Store, StoreError, StoreErrorKind, StoredSigningKey,
    SubscriptionRecord, Timestamp, Tx, WriteJob,
};

use connection::{Manager, Session};

type Client = ::postgres::Client;

/// How long a caller waits for a pooled connection before the store counts as unavailable.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);

const REVOCATION_SEQUENCE: &str = "revocation_sequence";

/// A PostgreSQL database, shared by every issuer process that opens it.
#[derive(Debug)]
pub struct PgStore {
    // Dropped first, while the writer threads still hold clones: the pool's connections are then
    // closed on the last of those threads, never on the thread dropping the store, which may be
    // driving async tasks (where the blocking client cannot run its own runtime).
    pool: r2d2::Pool<Manager>,
    writer: writer::Writer,
}

/// The one place PostgreSQL's errors are given a kind, by SQLSTATE.
impl From<::postgres::Error> for StoreError {
    fn from(err: ::postgres::Error) -> Self {
        let kind = match err.code() {
            Some(state) => kind_of(state),
            // No SQLSTATE: the connection broke or could not be made (a server error always has
            // one; so do constraint violations).
            None if err.is_closed() || std::error::Error::source(&err).is_some() => {
                StoreErrorKind::Unavailable
            }
            None => StoreErrorKind::Internal,
        };
        StoreError::new(kind, "").caused_by(err)
    }
}

/// The pool found no connection in time: the database is down, unreachable or saturated.
impl From<r2d2::Error> for StoreError {
    fn from(err: r2d2::Error) -> Self {
        StoreError::unavailable("no database connection").caused_by(err)
    }
}

super::rows::impl_columns!(Row, try_get);

fn kind_of(state: &SqlState) -> StoreErrorKind {
    let code = state.code();
    match code {
        // The transaction lost a race: running it again can succeed.
        "40001" | "40P01" => StoreErrorKind::Conflict,
        // Shutting down, starting up, or out of connections, disk or memory.
        "57P01" | "57P02" | "57P03" => StoreErrorKind::Unavailable,
        _ if code.starts_with("08") || code.starts_with("53") => StoreErrorKind::Unavailable,
        _ if code.starts_with("23") => StoreErrorKind::Constraint,
        "XX001" | "XX002" => StoreErrorKind::Corrupt,
        _ => StoreErrorKind::Internal,
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://…`, TLS as its `sslmode` says: [`tls`]) with
    /// a pool of at most `pool_size` connections, and brings its schema up to date.
    pub fn open(url: &str, pool_size: u32) -> Result<PgStore, StoreError> {
        let target = PgTarget::parse(url)
            .map_err(|err| StoreError::internal("bad database URL").caused_by(err))?;
        // Connected to once before the pool, so that a server that cannot be reached, a database
        // that does not exist or a certificate refused is told at once, with its cause, not after
        // the pool has tried for seconds.
        let mut first = target.connect().map_err(|err| match target.refusal(&err) {
            Some(refusal) => StoreError::unavailable(refusal).caused_by(err),
            None => StoreError::from(err),
        })?;
        migrations::migrate(&mut first)?;
        let _ = first.close();
        // One connection kept open, the others made when a burst needs them: several processes
        // share the server's connection limit.
        let pool = r2d2::Pool::builder()
            .max_size(pool_size.max(1))
            .min_idle(Some(1))
            .connection_timeout(CONNECTION_TIMEOUT)
            .build_unchecked(Manager::new(target));
        let writer = writer::Writer::start(pool.clone(), pool_size.max(1)).map_err(|err| {
            StoreError::internal("cannot start the writer threads").caused_by(err)
        })?;
        Ok(PgStore { pool, writer })
    }

    fn client(&self) -> Result<r2d2::PooledConnection<Manager>, StoreError> {
        Ok(self.pool.get()?)
    }

    /// Runs `work` in one transaction: committed if it returns `Ok`, rolled back otherwise.
    pub fn transaction<T, E: From<StoreError>>(
        &self,
        work: impl FnOnce(&mut PgTx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut conn = self.client()?;
        let (client, statements) = conn.parts();
        let mut tx = PgTx::new(client.transaction().map_err(StoreError::from)?, statements);
        let value = work(&mut tx)?;
        tx.commit()?;
        Ok(value)
    }

    /// Runs `read` in one read-only REPEATABLE READ transaction, so that everything it reads is of
    /// the same moment.
    fn snapshot<T>(
        &self,
        read: impl FnOnce(&mut Session<'_, ::postgres::Transaction<'_>>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.client()?;
        let (client, statements) = conn.parts();
        let mut tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        let value = read(&mut Session {
            client: &mut tx,
            statements,
        })?;
        tx.commit()?;
        Ok(value)
    }
}

/// Every write transaction ([`Store::write`]) takes one advisory lock first, so none interleaves
/// with another, in this process or another: a webhook delivery is seen as new once. Credit jobs
/// ([`Store::submit`]) run on the [`writer`]'s threads, each in its own transaction, and exclude
/// each other per licence ([`Tx::lock_credits`]), so they run side by side for different licences.
impl Store for PgStore {
    /// Whether the database answers.
    fn ready(&self) -> Result<(), StoreError> {
        self.client()?.session().execute("SELECT 1", &[])?;
        Ok(())
    }

    /// The recorded delivery of event `event_id`.
    fn delivery(&self, event_id: &str) -> Result<Option<Delivery>, StoreError> {
        delivery(&mut self.client()?.session(), event_id)
    }

    /// The licence bought by Checkout Session `id`, and its newest key.
    fn license_by_checkout_session(
        &self,
        id: &str,
    ) -> Result<Option<(LicenseRecord, Option<IssuedKey>)>, StoreError> {
        self.snapshot(|tx| {
            let Some(license) = license_where(tx, "checkout_session_id", id)? else {
                return Ok(None);
            };
            let newest = keys_of(tx, &license.id)?.pop();
            Ok(Some((license, newest)))
        })
    }

    /// The licence `id` and every key issued for it, oldest first.
    fn license(
        &self,
        id: &LicenseId,
    ) -> Result<Option<(LicenseRecord, Vec<IssuedKey>)>, StoreError> {
        self.snapshot(|tx| {
            let Some(license) = license_where(tx, "id", id.to_hex().as_str())? else {
                return Ok(None);
            };
            let keys = keys_of(tx, &license.id)?;
            Ok(Some((license, keys)))
        })
    }

    /// The revoked licences.
    fn revocations(&self) -> Result<Revocations, StoreError> {
        self.snapshot(|tx| {
            let (sequence, changed_at) = revocation_counter(tx)?;
            let ids = tx.every(
                "SELECT license_id FROM revocations ORDER BY license_id",
                &[],
                rows::revoked_license,
            )?;
            Ok(Revocations {
                sequence,
                changed_at,
                ids,
            })
        })
    }

    /// What is known about subscription `id`.
    fn subscription(&self, id: &str) -> Result<Option<SubscriptionRecord>, StoreError> {
        subscription(&mut self.client()?.session(), id)
    }

    /// Whether payment `payment_intent_id` is already tied to a licence (see
    /// [`Store::payment_resolved`](crate::store::Store::payment_resolved)).
    fn payment_resolved(&self, payment_intent_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .client()?
            .session()
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM licenses WHERE payment_intent_id = $1)
                     OR EXISTS (SELECT 1 FROM payment_subscriptions WHERE payment_intent_id = $1)
                     OR EXISTS (SELECT 1 FROM credit_grants WHERE payment_intent_id = $1)",
                &[&payment_intent_id],
            )?
            .try_get(0)?)
    }

    /// The credits granted by Checkout Session `id`.
    fn credit_grants(&self, checkout_session_id: &str) -> Result<Vec<CreditGrant>, StoreError> {
        self.client()?.session().every(
            &format!(
                "SELECT {CREDIT_GRANT_COLUMNS} FROM credit_grants
                 WHERE checkout_session_id = $1 ORDER BY id"
            ),
            &[&checkout_session_id],
            rows::credit_grant,
        )
    }

    /// Claims the queued e-mail due first at `now`, if any, leasing it until `lease_until` (see
    /// [`Store::claim_email`](crate::store::Store::claim_email)).
    fn claim_email(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<OutboxEmail>, StoreError> {
        // SKIP LOCKED: a row another process is claiming right now is passed over, not waited for
        // and then claimed a second time.
        self.client()?.session().first(
            &format!(
                "UPDATE email_outbox SET attempts = attempts + 1, next_attempt_at = $2
                 WHERE id = (SELECT id FROM email_outbox
                             WHERE status = 'queued' AND next_attempt_at <= $1
                             ORDER BY next_attempt_at, id LIMIT 1
                             FOR UPDATE SKIP LOCKED)
                 RETURNING {OUTBOX_COLUMNS}"
            ),
            &[&now, &lease_until],
            rows::outbox_email,
        )
    }

    /// Records that e-mail `id` was accepted by the SMTP server.
    fn email_sent(&self, id: i64, at: Timestamp) -> Result<(), StoreError> {
        self.client()?.session().execute(
            "UPDATE email_outbox SET status = 'sent', sent_at = $2, last_error = NULL WHERE id = $1",
            &[&id, &at],
        )?;
        Ok(())
    }

    /// Records a failed attempt at e-mail `id`: tried again at `retry_at`, or failed for good if
    /// `None`.
    fn email_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        self.client()?.session().execute(
            "UPDATE email_outbox SET last_error = $2,
                 status = CASE WHEN $3::BIGINT IS NULL THEN 'failed' ELSE 'queued' END,
                 next_attempt_at = coalesce($3, next_attempt_at)
             WHERE id = $1",
            &[&id, &error, &retry_at],
        )?;
        Ok(())
    }

    /// When the next queued e-mail is due, if any is queued.
    fn next_email_due(&self) -> Result<Option<Timestamp>, StoreError> {
        Ok(self
            .client()?
            .session()
            .query_one(
                "SELECT min(next_attempt_at) FROM email_outbox WHERE status = 'queued'",
                &[],
            )?
            .try_get(0)?)
    }

    /// Licence `id`'s credit account (zero if it has none) and its open reservations, oldest first.
    fn credits(&self, id: &LicenseId) -> Result<(CreditAccount, Vec<Reservation>), StoreError> {
        self.snapshot(|tx| {
            let account = credits::account(tx, id)?.unwrap_or_default();
            let open = credits::open_reservations(tx, id)?;
            Ok((account, open))
        })
    }

    /// Licence `id`'s ledger rows after row `after` (from the start if `None`), at most `limit`.
    fn credit_ledger(
        &self,
        id: &LicenseId,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        credits::ledger(&mut self.client()?.session(), id, after, limit)
    }

    /// Licences matching `query`, newest first, at most `limit`.
    fn find_licenses(
        &self,
        query: &LicenseQuery,
        limit: u32,
    ) -> Result<Vec<LicenseRecord>, StoreError> {
        admin::find_licenses(&mut self.client()?.session(), query, limit)
    }

    /// The webhook deliveries that took effect on licence `id`, newest first, at most `limit`.
    fn license_deliveries(&self, id: &LicenseId, limit: u32) -> Result<Vec<Delivery>, StoreError> {
        admin::license_deliveries(&mut self.client()?.session(), id, limit)
    }

    /// Recorded deliveries, newest first: only failed ones if `failed_only`, only of `event_type`
    /// if given; at most `limit`.
    fn deliveries(
        &self,
        failed_only: bool,
        event_type: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        admin::deliveries(
            &mut self.client()?.session(),
            failed_only,
            event_type,
            limit,
        )
    }

    /// A recorded delivery and its payload as Stripe signed it.
    fn delivery_payload(&self, event_id: &str) -> Result<Option<(Delivery, String)>, StoreError> {
        admin::delivery_payload(&mut self.client()?.session(), event_id)
    }

    /// The licences an event took effect on.
    fn delivery_licenses(&self, event_id: &str) -> Result<Vec<String>, StoreError> {
        admin::delivery_licenses(&mut self.client()?.session(), event_id)
    }

    /// Audit entries, newest first, of licence `id` if given; at most `limit`.
    fn audit_log(
        &self,
        license: Option<&LicenseId>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        admin::audit_log(&mut self.client()?.session(), license, limit)
    }

    fn write(
        &self,
        work: &mut dyn FnMut(&mut dyn Tx) -> Result<(), ApplyError>,
    ) -> Result<(), ApplyError> {
        self.transaction(|tx| {
            tx.lock_writes()?;
            work(tx)
        })
    }

    fn submit(&self, job: Box<dyn WriteJob>) {
        self.writer.submit(job);
    }

    fn license_status(&self, id: &LicenseId) -> Result<Option<LicenseStatus>, StoreError> {
        license_status(&mut self.client()?.session(), id)
    }

    fn credit_totals(&self) -> Result<Vec<LedgerMismatch>, StoreError> {
        #[allow(clippy::redundant_closure)] // the function alone is not general over the lifetimes
        self.snapshot(|tx| credits::totals(tx))
    }

    fn signing_keys(&self) -> Result<Vec<StoredSigningKey>, StoreError> {
        self.client()?.session().every(
            &format!("SELECT {SIGNING_KEY_COLUMNS} FROM signing_keys ORDER BY key_id"),
            &[],
            rows::signing_key,
        )
    }

    fn machines(&self, id: &LicenseId, active_only: bool) -> Result<Vec<Machine>, StoreError> {
        machines::of_license(&mut self.client()?.session(), id, active_only)
    }

    fn machine(&self, machine_id: &str) -> Result<Option<Machine>, StoreError> {
        machines::by_id(&mut self.client()?.session(), machine_id)
    }

    fn add_signing_key(&self, key: &StoredSigningKey) -> Result<bool, StoreError> {
        add_signing_key(&mut self.client()?.session(), key)
    }
}

/// Keeps `key` unless a key with its id is kept already; returns whether it was new.
fn add_signing_key(
    client: &mut Session<'_, impl GenericClient>,
    key: &StoredSigningKey,
) -> Result<bool, StoreError> {
    let added = client.execute(
        "INSERT INTO signing_keys (key_id, public_key, sealed_secret, created_at)
         VALUES ($1, $2, $3, $4) ON CONFLICT (key_id) DO NOTHING",
        &[
            &i64::from(key.key_id),
            &key.public_key.to_string(),
            &key.sealed_secret,
            &key.created_at,
        ],
    )?;
    Ok(added == 1)
}

fn license_status(
    client: &mut Session<'_, impl GenericClient>,
    id: &LicenseId,
) -> Result<Option<LicenseStatus>, StoreError> {
    client.first(
        "SELECT status FROM licenses WHERE id = $1",
        &[&id.to_hex().as_str()],
        rows::license_status,
    )
}

fn license_where(
    client: &mut Session<'_, impl GenericClient>,
    column: &str,
    value: &str,
) -> Result<Option<LicenseRecord>, StoreError> {
    let sql = format!(
        "SELECT {LICENSE_COLUMNS} FROM licenses WHERE {column} = $1 ORDER BY created_at LIMIT 1"
    );
    client.first(&sql, &[&value], rows::license)
}

fn keys_of(
    client: &mut Session<'_, impl GenericClient>,
    id: &LicenseId,
) -> Result<Vec<IssuedKey>, StoreError> {
    client.every(
        &format!("SELECT {KEY_COLUMNS} FROM license_keys WHERE license_id = $1 ORDER BY id"),
        &[&id.to_hex().as_str()],
        rows::issued_key,
    )
}

fn delivery(
    client: &mut Session<'_, impl GenericClient>,
    event_id: &str,
) -> Result<Option<Delivery>, StoreError> {
    client.first(
        &format!("SELECT {DELIVERY_COLUMNS} FROM webhook_events WHERE id = $1"),
        &[&event_id],
        rows::delivery,
    )
}

fn subscription(
    client: &mut Session<'_, impl GenericClient>,
    id: &str,
) -> Result<Option<SubscriptionRecord>, StoreError> {
    client.first(
        &format!("SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = $1"),
        &[&id],
        rows::subscription,
    )
}

/// The payment reversal selected by `sql` (its columns: payment intent, kind, object, time) with
/// `param` as `$1`.
fn payment_reversal_where(
    client: &mut Session<'_, impl GenericClient>,
    sql: &str,
    param: &str,
) -> Result<Option<PaymentReversal>, StoreError> {
    client.first(sql, &[&param], rows::payment_reversal)
}

/// The revocation list's sequence number and when it last changed (0 and 0 before any revocation).
fn revocation_counter(
    client: &mut Session<'_, impl GenericClient>,
) -> Result<(u64, Timestamp), StoreError> {
    let counter = client.first(
        "SELECT value, changed_at FROM counters WHERE name = $1",
        &[&REVOCATION_SEQUENCE],
        rows::revocation_counter,
    )?;
    Ok(counter.unwrap_or((0, 0)))
}

#[cfg(test)]
mod error_kinds {
    use super::*;

    fn kind(code: &str) -> StoreErrorKind {
        kind_of(&SqlState::from_code(code))
    }

    #[test]
    fn postgres_errors_are_given_backend_neutral_kinds_by_sqlstate() {
        assert_eq!(kind("40001"), StoreErrorKind::Conflict);
        assert_eq!(kind("40P01"), StoreErrorKind::Conflict);
        assert_eq!(kind("08006"), StoreErrorKind::Unavailable);
        assert_eq!(kind("57P01"), StoreErrorKind::Unavailable);
        assert_eq!(kind("57P03"), StoreErrorKind::Unavailable);
        assert_eq!(kind("53300"), StoreErrorKind::Unavailable);
        assert_eq!(kind("23505"), StoreErrorKind::Constraint);
        assert_eq!(kind("23514"), StoreErrorKind::Constraint);
        assert_eq!(kind("XX001"), StoreErrorKind::Corrupt);
        assert_eq!(kind("XX002"), StoreErrorKind::Corrupt);
        assert_eq!(kind("42601"), StoreErrorKind::Internal);
        assert_eq!(kind("57014"), StoreErrorKind::Internal);
    }

    #[test]
    fn an_unreachable_server_is_unavailable_and_keeps_its_source() {
        // Port 1 on loopback: nothing listens there, so the connection is refused at once.
        let err = PgStore::open("postgres://postgres@127.0.0.1:1/postgres", 1).unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{err}");
        assert!(std::error::Error::source(&err).is_some());
    }
}
