//! What the issuer does with a store, written once over the backend's transactions ([`Store::write`],
//! [`Store::submit`]) so that every backend runs the same rules: a webhook delivery takes effect
//! once, an audited change commits with its audit entry, credit operations are queued for the
//! backend's writer.

use tessera_keys::LicenseId;

use super::pending::write_job;
use super::{
    ApplyError, Credited, DeliveryStatus, Idempotent, IncomingDelivery, LedgerMismatch,
    NewAuditEntry, Pending, ProcessOutcome, Refused, ReserveOutcome, ReserveRequest, SettleOutcome,
    Settlement, Store, StoreError, StoredAnswer, Timestamp, Tx,
};
use crate::credits::rules;

/// Queues `work` for `store`'s writer; the answer comes once its transaction is durable.
pub fn queued<T, F>(store: &dyn Store, work: F) -> Pending<T>
where
    F: FnOnce(&mut dyn Tx) -> Result<T, StoreError> + Send + 'static,
    T: Send + 'static,
{
    let (job, pending) = write_job(work);
    store.submit(job);
    pending
}

impl dyn Store {
    /// Records a webhook delivery and applies its effects in one transaction.
    ///
    /// If an earlier delivery of the event was processed or ignored, `apply` is not run and the
    /// earlier record is returned. Otherwise `apply` runs; on success the delivery is recorded with
    /// the status it returns, all in one commit. On failure its effects are rolled back and the
    /// delivery is recorded as failed with the error, which is also returned.
    pub fn process_delivery(
        &self,
        incoming: IncomingDelivery<'_>,
        apply: &mut dyn FnMut(&mut dyn Tx) -> Result<DeliveryStatus, ApplyError>,
    ) -> Result<ProcessOutcome, ApplyError> {
        let mut outcome = None;
        self.write(&mut |tx| {
            // The write transaction excludes every other, so two deliveries of one event (even to
            // two processes) cannot both see it as new.
            if let Some(earlier) = tx.delivery(incoming.event_id)? {
                if earlier.status != DeliveryStatus::Failed {
                    tx.record_attempt(incoming.event_id)?;
                    outcome = Some(Ok(ProcessOutcome::AlreadyDone(earlier)));
                    return Ok(());
                }
            }
            let mut status = DeliveryStatus::Failed;
            let applied = tx.savepoint(&mut |tx| {
                status = apply(tx)?;
                Ok(())
            });
            let at = crate::clock::now().0 as Timestamp;
            match applied {
                Ok(()) => {
                    tx.record_delivery(&incoming, status, incoming.note, at)?;
                    outcome = Some(Ok(ProcessOutcome::Applied(status)));
                }
                Err(err) => {
                    let why = err.to_string();
                    tx.record_delivery(&incoming, DeliveryStatus::Failed, Some(&why), at)?;
                    outcome = Some(Err(err));
                }
            }
            Ok(())
        })?;
        outcome.unwrap_or_else(|| {
            Err(ApplyError::Store(StoreError::internal(
                "a delivery's transaction did not run",
            )))
        })
    }

    /// Runs `change` and records `entry` in the audit trail in one write transaction: both commit,
    /// or neither.
    pub fn audited(
        &self,
        entry: &NewAuditEntry<'_>,
        change: &mut dyn FnMut(&mut dyn Tx) -> Result<(), ApplyError>,
    ) -> Result<(), ApplyError> {
        self.write(&mut |tx| {
            change(tx)?;
            tx.record_audit(entry)?;
            Ok(())
        })
    }

    /// Whether the issuer's records refuse licence `id` (revoked, suspended).
    pub fn credit_refusal(&self, id: &LicenseId) -> Result<Option<Refused>, StoreError> {
        Ok(Refused::of(self.license_status(id)?))
    }

    /// Reserves credits ([`rules::reserve`]), queued for the writer. `render` turns a new outcome
    /// into the answer that is kept for the idempotency key.
    pub fn reserve_credits(
        &self,
        request: ReserveRequest,
        render: fn(&ReserveOutcome) -> StoredAnswer,
    ) -> Pending<Credited<Idempotent>> {
        queued(self, move |tx| rules::reserve(tx, &request, render))
    }

    /// Commits or releases a reservation ([`rules::settle`]), queued for the writer.
    pub fn settle_reservation(
        &self,
        id: LicenseId,
        reservation_id: String,
        settlement: Settlement,
        now: Timestamp,
    ) -> Pending<Credited<SettleOutcome>> {
        queued(self, move |tx| {
            rules::settle(tx, &id, &reservation_id, settlement, now)
        })
    }

    /// Expires up to `limit` reservations past their TTL ([`rules::expire_due`]), queued for the
    /// writer; answers how many.
    pub fn expire_reservations(&self, now: Timestamp, limit: u32) -> Pending<usize> {
        queued(self, move |tx| rules::expire_due(tx, now, limit))
    }

    /// The credit accounts whose cached balances differ from their ledger or their open
    /// reservations (none, unless something is badly wrong).
    pub fn verify_credit_ledger(&self) -> Result<Vec<LedgerMismatch>, StoreError> {
        let mut totals = self.credit_totals()?;
        totals.retain(LedgerMismatch::differs);
        Ok(totals)
    }
}
