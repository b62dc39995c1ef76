//! [`Tx`] over one PostgreSQL transaction.

use std::collections::HashMap;

use ::postgres::types::ToSql;
use ::postgres::{Statement, Transaction};
use tessera_keys::LicenseId;

use super::{
    admin, credits, delivery, license_status, license_where, machines, payment_reversal_where,
    revocation_counter, subscription, Session, REVOCATION_SEQUENCE,
};
use crate::store::rows::{self, LICENSE_COLUMNS, PAYMENT_SUBSCRIPTION_COLUMNS};
use crate::store::{
    signed, ApplyError, CreditAccount, CreditGrant, Deactivation, Delivery, DeliveryStatus,
    IncomingDelivery, IssuedKey, LicenseRecord, LicenseStatus, Machine, NewAuditEntry, NewEmail,
    NewLedgerEntry, PaymentReversal, PaymentSubscription, Reservation, StoreError, StoredAnswer,
    SubscriptionRecord, Timestamp, TopUpGrant, Tx,
};

/// The advisory lock key of write transactions: "tesseraW" in ASCII.
const WRITE_LOCK: i64 = 0x7465_7373_6572_6157;

/// Reads and writes inside one PostgreSQL transaction (or a savepoint within one). Dropped without
/// [`PgTx::commit`], it rolls back.
pub struct PgTx<'c> {
    tx: Transaction<'c>,
    statements: &'c mut HashMap<String, Statement>,
    /// What [`Tx::lock_credits`] read with the lock, until the next statement that may write.
    locked: Option<LockedCredits>,
}

/// A licence's status and credit account, read in the same round trip that took its credit lock:
/// the two reads every credit rule makes next, so each saves a round trip while the lock is held.
#[derive(Debug)]
struct LockedCredits {
    id: LicenseId,
    status: Option<LicenseStatus>,
    account: Option<CreditAccount>,
}

impl std::fmt::Debug for PgTx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTx").finish_non_exhaustive()
    }
}

impl<'c> PgTx<'c> {
    /// Wraps `tx`, with the statements already prepared on its connection.
    pub(super) fn new(
        tx: Transaction<'c>,
        statements: &'c mut HashMap<String, Statement>,
    ) -> PgTx<'c> {
        PgTx {
            tx,
            statements,
            locked: None,
        }
    }

    /// For any statement that may write: what the credit lock read may be stale after it.
    fn session(&mut self) -> Session<'_, Transaction<'c>> {
        self.locked = None;
        self.reader()
    }

    /// For a statement that only reads.
    fn reader(&mut self) -> Session<'_, Transaction<'c>> {
        Session {
            client: &mut self.tx,
            statements: self.statements,
        }
    }

    /// What the credit lock of licence `id` read, if nothing may have written since.
    fn locked(&self, id: &LicenseId) -> Option<&LockedCredits> {
        self.locked.as_ref().filter(|locked| locked.id == *id)
    }

    /// Waits for, then holds until the transaction ends, the lock every write transaction
    /// ([`Store::write`](crate::store::Store::write)) takes first: no two of them interleave, in this
    /// process or another.
    pub fn lock_writes(&mut self) -> Result<(), StoreError> {
        self.session()
            .execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])?;
        Ok(())
    }

    /// Commits everything done through it.
    pub fn commit(self) -> Result<(), StoreError> {
        Ok(self.tx.commit()?)
    }
}

/// Which of a licence's fields a statement binds.
#[derive(PartialEq)]
enum LicenseFields {
    /// All, as $1..$19 in `LICENSE_COLUMNS` order.
    All,
    /// All but `created_at`, which never changes: $1..$18.
    Changeable,
}

fn write_license(
    tx: &mut Session<'_, Transaction<'_>>,
    sql: &str,
    l: &LicenseRecord,
    fields: LicenseFields,
) -> Result<(), StoreError> {
    let id = l.id.to_hex();
    let (id, status) = (id.as_str(), l.status.as_str());
    let (product, tier, features) = (i64::from(l.product), i64::from(l.tier), l.features as i64);
    let (activation, [max_machines, lease_days, heartbeat_seconds, max_deactivations]) =
        rows::seat_columns(&l.seats);
    let mut values: Vec<&(dyn ToSql + Sync)> = vec![
        &id,
        &product,
        &tier,
        &features,
        &status,
        &l.customer_id,
        &l.email,
        &l.checkout_session_id,
        &l.subscription_id,
        &l.payment_intent_id,
        &l.price_id,
        &l.expires_at,
        &l.created_at,
        &l.updated_at,
        &activation,
        &max_machines,
        &lease_days,
        &heartbeat_seconds,
        &max_deactivations,
    ];
    if fields == LicenseFields::Changeable {
        values.remove(12);
    }
    tx.execute(sql, &values)?;
    Ok(())
}

impl Tx for PgTx<'_> {
    fn license_by_checkout_session(
        &mut self,
        id: &str,
    ) -> Result<Option<LicenseRecord>, StoreError> {
        license_where(&mut self.session(), "checkout_session_id", id)
    }

    fn license_by_subscription(&mut self, id: &str) -> Result<Option<LicenseRecord>, StoreError> {
        license_where(&mut self.session(), "subscription_id", id)
    }

    fn license_by_payment_intent(&mut self, id: &str) -> Result<Option<LicenseRecord>, StoreError> {
        license_where(&mut self.session(), "payment_intent_id", id)
    }

    fn insert_license(&mut self, license: &LicenseRecord) -> Result<(), StoreError> {
        write_license(
            &mut self.session(),
            &format!(
                "INSERT INTO licenses ({LICENSE_COLUMNS})
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                         $17, $18, $19)"
            ),
            license,
            LicenseFields::All,
        )
    }

    fn update_license(&mut self, license: &LicenseRecord) -> Result<(), StoreError> {
        write_license(
            &mut self.session(),
            "UPDATE licenses SET product = $2, tier = $3, features = $4, status = $5,
                 customer_id = $6, email = $7, checkout_session_id = $8, subscription_id = $9,
                 payment_intent_id = $10, price_id = $11, expires_at = $12, updated_at = $13,
                 activation = $14, max_machines = $15, lease_days = $16, heartbeat_seconds = $17,
                 max_deactivations = $18
             WHERE id = $1",
            license,
            LicenseFields::Changeable,
        )
    }

    fn add_key(
        &mut self,
        id: &LicenseId,
        key: &IssuedKey,
        event_id: Option<&str>,
    ) -> Result<(), StoreError> {
        self.session().execute(
            "INSERT INTO license_keys
                 (license_id, key_text, signing_key_id, issued_at, expires_at, reason, event_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &id.to_hex().as_str(),
                &key.key,
                &i64::from(key.signing_key_id),
                &key.issued_at,
                &key.expires_at,
                &key.reason,
                &event_id,
            ],
        )?;
        Ok(())
    }

    fn revoke(&mut self, id: &LicenseId, reason: &str, at: Timestamp) -> Result<bool, StoreError> {
        let hex = id.to_hex();
        let inserted = self.session().execute(
            "INSERT INTO revocations (license_id, revoked_at, reason) VALUES ($1, $2, $3)
             ON CONFLICT (license_id) DO NOTHING",
            &[&hex.as_str(), &at, &reason],
        )?;
        if inserted == 0 {
            return Ok(false);
        }
        self.session().execute(
            "UPDATE licenses SET status = 'revoked', updated_at = $2 WHERE id = $1",
            &[&hex.as_str(), &at],
        )?;
        self.session().execute(
            "INSERT INTO counters (name, value, changed_at) VALUES ($1, 1, $2)
             ON CONFLICT (name) DO UPDATE SET value = counters.value + 1,
                 changed_at = excluded.changed_at",
            &[&REVOCATION_SEQUENCE, &at],
        )?;
        Ok(true)
    }

    fn subscription(&mut self, id: &str) -> Result<Option<SubscriptionRecord>, StoreError> {
        subscription(&mut self.session(), id)
    }

    fn put_subscription(&mut self, s: &SubscriptionRecord) -> Result<(), StoreError> {
        self.session().execute(
            "INSERT INTO subscriptions
                 (id, customer_id, price_id, price_as_of, paid_through, canceled_at, updated_at,
                  checkout_session_id, email)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (id) DO UPDATE SET
                 customer_id = excluded.customer_id, price_id = excluded.price_id,
                 price_as_of = excluded.price_as_of, paid_through = excluded.paid_through,
                 canceled_at = excluded.canceled_at, updated_at = excluded.updated_at,
                 checkout_session_id = excluded.checkout_session_id, email = excluded.email",
            &[
                &s.id,
                &s.customer_id,
                &s.price_id,
                &s.price_as_of,
                &s.paid_through,
                &s.canceled_at,
                &s.updated_at,
                &s.checkout_session_id,
                &s.email,
            ],
        )?;
        Ok(())
    }

    fn payment_reversal(
        &mut self,
        payment_intent_id: &str,
    ) -> Result<Option<PaymentReversal>, StoreError> {
        payment_reversal_where(
            &mut self.session(),
            "SELECT payment_intent_id, kind, object_id, at FROM payment_reversals
             WHERE payment_intent_id = $1",
            payment_intent_id,
        )
    }

    fn record_payment_reversal(
        &mut self,
        r: &PaymentReversal,
        event_id: &str,
    ) -> Result<bool, StoreError> {
        let inserted = self.session().execute(
            "INSERT INTO payment_reversals (payment_intent_id, kind, object_id, event_id, at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (payment_intent_id) DO NOTHING",
            &[
                &r.payment_intent_id,
                &r.kind,
                &r.object_id,
                &event_id,
                &r.at,
            ],
        )?;
        Ok(inserted == 1)
    }

    fn payment_subscription(
        &mut self,
        payment_intent_id: &str,
    ) -> Result<Option<PaymentSubscription>, StoreError> {
        self.session().first(
            &format!(
                "SELECT {PAYMENT_SUBSCRIPTION_COLUMNS} FROM payment_subscriptions
                 WHERE payment_intent_id = $1"
            ),
            &[&payment_intent_id],
            rows::payment_subscription,
        )
    }

    fn record_payment_subscription(
        &mut self,
        link: &PaymentSubscription,
        event_id: &str,
    ) -> Result<bool, StoreError> {
        let inserted = self.session().execute(
            "INSERT INTO payment_subscriptions
                 (payment_intent_id, subscription_id, invoice_id, event_id, at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (payment_intent_id) DO NOTHING",
            &[
                &link.payment_intent_id,
                &link.subscription_id,
                &link.invoice_id,
                &event_id,
                &link.at,
            ],
        )?;
        Ok(inserted == 1)
    }

    fn subscription_reversal(
        &mut self,
        subscription_id: &str,
    ) -> Result<Option<PaymentReversal>, StoreError> {
        payment_reversal_where(
            &mut self.session(),
            "SELECT r.payment_intent_id, r.kind, r.object_id, r.at
             FROM payment_reversals r
             JOIN payment_subscriptions p ON p.payment_intent_id = r.payment_intent_id
             WHERE p.subscription_id = $1
             ORDER BY r.at, r.payment_intent_id LIMIT 1",
            subscription_id,
        )
    }

    fn grant_credits(&mut self, g: &CreditGrant, event_id: &str) -> Result<bool, StoreError> {
        let inserted = self.session().execute(
            "INSERT INTO credit_grants
                 (checkout_session_id, price_id, customer_id, email, credits, event_id, granted_at,
                  license_id, payment_intent_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (checkout_session_id, price_id) DO NOTHING",
            &[
                &g.checkout_session_id,
                &g.price_id,
                &g.customer_id,
                &g.email,
                &signed(g.credits)?,
                &event_id,
                &g.granted_at,
                &g.license_id.as_ref().map(|id| id.to_hex().to_string()),
                &g.payment_intent_id,
            ],
        )?;
        Ok(inserted == 1)
    }

    fn license(&mut self, id: &LicenseId) -> Result<Option<LicenseRecord>, StoreError> {
        license_where(&mut self.session(), "id", id.to_hex().as_str())
    }

    fn credit_account(&mut self, id: &LicenseId) -> Result<Option<CreditAccount>, StoreError> {
        if let Some(locked) = self.locked(id) {
            return Ok(locked.account.clone());
        }
        credits::account(&mut self.reader(), id)
    }

    fn credit_entry(&mut self, entry: &NewLedgerEntry<'_>) -> Result<(), StoreError> {
        credits::append(&mut self.session(), entry)
    }

    fn set_credit_period(
        &mut self,
        id: &LicenseId,
        start: Option<Timestamp>,
        end: Timestamp,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        credits::set_period(&mut self.session(), id, start, end, at)
    }

    fn top_ups_by_payment(
        &mut self,
        payment_intent_id: &str,
    ) -> Result<Vec<TopUpGrant>, StoreError> {
        credits::top_ups_by_payment(&mut self.session(), payment_intent_id)
    }

    fn top_up_reversed(&mut self, id: i64, at: Timestamp) -> Result<(), StoreError> {
        self.session().execute(
            "UPDATE credit_grants SET reversed_at = $2 WHERE id = $1",
            &[&id, &at],
        )?;
        Ok(())
    }

    fn enqueue_email(&mut self, e: &NewEmail<'_>) -> Result<(), StoreError> {
        self.session().execute(
            "INSERT INTO email_outbox (license_id, event_id, to_address, subject, body, status,
                 attempts, next_attempt_at, created_at)
             VALUES ($1, $2, $3, $4, $5, 'queued', 0, $6, $6)",
            &[
                &e.license_id.to_hex().as_str(),
                &e.event_id,
                &e.to,
                &e.subject,
                &e.body,
                &e.created_at,
            ],
        )?;
        Ok(())
    }

    fn revocation_sequence(&mut self) -> Result<u64, StoreError> {
        Ok(revocation_counter(&mut self.session())?.0)
    }

    fn savepoint(
        &mut self,
        work: &mut dyn FnMut(&mut dyn Tx) -> Result<(), ApplyError>,
    ) -> Result<(), ApplyError> {
        // A nested transaction is a savepoint; dropped without commit, it rolls back to it.
        self.locked = None;
        let PgTx { tx, statements, .. } = self;
        let mut inner = PgTx::new(tx.transaction().map_err(StoreError::from)?, statements);
        work(&mut inner)?;
        inner.commit()?;
        Ok(())
    }

    fn delivery(&mut self, event_id: &str) -> Result<Option<Delivery>, StoreError> {
        delivery(&mut self.session(), event_id)
    }

    fn record_delivery(
        &mut self,
        delivery: &IncomingDelivery<'_>,
        status: DeliveryStatus,
        error: Option<&str>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.session().execute(
            "INSERT INTO webhook_events
                 (id, type, status, error, attempts, received_at, processed_at, payload)
             VALUES ($1, $2, $3, $4, 1, $5, $6, $7)
             ON CONFLICT (id) DO UPDATE SET
                 status = excluded.status, error = excluded.error,
                 attempts = webhook_events.attempts + 1, processed_at = excluded.processed_at",
            &[
                &delivery.event_id,
                &delivery.event_type,
                &status.as_str(),
                &error,
                &delivery.received_at,
                &at,
                &delivery.payload,
            ],
        )?;
        Ok(())
    }

    fn record_attempt(&mut self, event_id: &str) -> Result<(), StoreError> {
        self.session().execute(
            "UPDATE webhook_events SET attempts = attempts + 1 WHERE id = $1",
            &[&event_id],
        )?;
        Ok(())
    }

    fn record_audit(&mut self, entry: &NewAuditEntry<'_>) -> Result<(), StoreError> {
        admin::record(&mut self.session(), entry)
    }

    fn lock_credits(&mut self, id: &LicenseId) -> Result<(), StoreError> {
        // An advisory lock keyed by the licence id's 64 bits: exactly one per licence, and it needs
        // no account row to exist. (The one-key space is shared with the migration and write locks;
        // a licence id equal to one of those would only wait more, never deadlock: same lock.)
        // Migration 3's function takes it, then reads the status and the account.
        let locked = self.session().first(
            "SELECT * FROM tessera_lock_credits($1, $2)",
            &[&i64::from_be_bytes(id.0), &id.to_hex().as_str()],
            rows::account_and_status,
        )?;
        let Some((account, status)) = locked else {
            return Err(StoreError::internal("tessera_lock_credits returned no row"));
        };
        self.locked = Some(LockedCredits {
            id: *id,
            status,
            account,
        });
        Ok(())
    }

    fn license_status(&mut self, id: &LicenseId) -> Result<Option<LicenseStatus>, StoreError> {
        if let Some(locked) = self.locked(id) {
            return Ok(locked.status);
        }
        license_status(&mut self.reader(), id)
    }

    fn idempotent_answer(
        &mut self,
        id: &LicenseId,
        key: &str,
    ) -> Result<Option<(String, StoredAnswer)>, StoreError> {
        credits::idempotent_answer(&mut self.reader(), id, key)
    }

    fn keep_idempotent_answer(
        &mut self,
        id: &LicenseId,
        key: &str,
        fingerprint: &str,
        answer: &StoredAnswer,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        credits::keep_idempotent_answer(&mut self.session(), id, key, fingerprint, answer, at)
    }

    fn insert_reservation(&mut self, id: &LicenseId, r: &Reservation) -> Result<(), StoreError> {
        credits::insert_reservation(&mut self.session(), id, r)
    }

    fn reservation(
        &mut self,
        id: &LicenseId,
        reservation_id: &str,
    ) -> Result<Option<Reservation>, StoreError> {
        credits::reservation(&mut self.reader(), id, reservation_id)
    }

    fn close_reservation(
        &mut self,
        id: &LicenseId,
        closed: &Reservation,
    ) -> Result<bool, StoreError> {
        credits::close_reservation(&mut self.session(), id, closed)
    }

    fn due_reservations(
        &mut self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<(LicenseId, String)>, StoreError> {
        credits::due_reservations(&mut self.session(), now, limit)
    }

    fn lock_machines(&mut self, id: &LicenseId) -> Result<(), StoreError> {
        machines::lock(&mut self.session(), id)
    }

    fn active_machines(&mut self, id: &LicenseId) -> Result<Vec<Machine>, StoreError> {
        machines::of_license(&mut self.session(), id, true)
    }

    fn machine(&mut self, machine_id: &str) -> Result<Option<Machine>, StoreError> {
        machines::by_id(&mut self.session(), machine_id)
    }

    fn insert_machine(&mut self, machine: &Machine) -> Result<(), StoreError> {
        machines::insert(&mut self.session(), machine)
    }

    fn update_machine(&mut self, machine: &Machine) -> Result<(), StoreError> {
        machines::update(&mut self.session(), machine)
    }

    fn deactivations_since(
        &mut self,
        id: &LicenseId,
        how: Deactivation,
        since: Timestamp,
    ) -> Result<u32, StoreError> {
        machines::deactivations_since(&mut self.session(), id, how, since)
    }

    fn lapsed_machines(
        &mut self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<(LicenseId, String)>, StoreError> {
        machines::lapsed(&mut self.session(), now, limit)
    }
}
