//! Storage behind a trait, so that handlers do not know which database holds the data.
//!
//! A backend provides transactions and typed reads and writes ([`Store`], [`Tx`]); the rules are
//! written once over them and run on every backend: webhook delivery dedupe and audited changes in
//! [`operations`], the credit rules in [`crate::credits::rules`], licence lifecycle in
//! [`crate::fulfil`]. SQLite ([`sqlite::SqliteStore`]) is the embedded default; PostgreSQL
//! ([`postgres::PgStore`]) serves several issuer processes on one database.
//!
//! Every method blocks: call them through [`crate::state::AppState::db`], which runs them on the
//! blocking thread pool, never on the async executor. The exceptions are the credit operations that
//! write (reserve, settle, expire): they are queued ([`Store::submit`]) and return a [`Pending`]
//! answer at once, so that a backend can group many of them into one durable commit.

mod admin;
mod credits;
mod machines;
mod migrations;
mod operations;
mod pending;
pub mod postgres;
mod rows;
mod signing_keys;
pub mod sqlite;

pub use admin::*;
pub use credits::*;
pub use machines::*;
pub use operations::queued;
pub use pending::{Panicked, Pending, RanJob, WriteJob};
pub use signing_keys::StoredSigningKey;

use std::sync::Arc;

use tessera_keys::LicenseId;

/// Seconds since the Unix epoch, as stored.
pub type Timestamp = i64;

/// A licence as the issuer keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LicenseRecord {
    /// The id signed into every key of this licence.
    pub id: LicenseId,
    /// Product id.
    pub product: u32,
    /// Tier index.
    pub tier: u8,
    /// Feature bits.
    pub features: u64,
    /// Where it stands.
    pub status: LicenseStatus,
    /// Stripe customer id, `cus_…`.
    pub customer_id: Option<String>,
    /// The buyer's e-mail address.
    pub email: Option<String>,
    /// The Checkout Session that bought it, `cs_…`.
    pub checkout_session_id: Option<String>,
    /// The subscription it follows, `sub_…`.
    pub subscription_id: Option<String>,
    /// The payment that bought a one-time licence, `pi_…` (refunds and disputes name it).
    pub payment_intent_id: Option<String>,
    /// The Stripe price it was bought at.
    pub price_id: Option<String>,
    /// When the current key expires; `None` is perpetual.
    pub expires_at: Option<Timestamp>,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// Its seat policy if its keys need machine activation (`requires_activation`); `None`: they
    /// do not.
    pub seats: Option<SeatPolicy>,
}

/// Where a licence stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LicenseStatus {
    /// Valid.
    Active,
    /// Past its expiry and not renewed.
    Expired,
    /// Revoked for good (refund, dispute, support); listed in the revocation list.
    Revoked,
    /// Disabled by support for now; may be reinstated.
    Suspended,
}

impl LicenseStatus {
    /// The stored and published name.
    pub fn as_str(self) -> &'static str {
        match self {
            LicenseStatus::Active => "active",
            LicenseStatus::Expired => "expired",
            LicenseStatus::Revoked => "revoked",
            LicenseStatus::Suspended => "suspended",
        }
    }

    /// The status with the stored name `name`.
    pub fn from_name(name: &str) -> Option<LicenseStatus> {
        [
            LicenseStatus::Active,
            LicenseStatus::Expired,
            LicenseStatus::Revoked,
            LicenseStatus::Suspended,
        ]
        .into_iter()
        .find(|status| status.as_str() == name)
    }
}

/// One key issued for a licence; a renewal adds one, older ones stay valid to their own expiry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedKey {
    /// The key text, `ts1_…`.
    pub key: String,
    /// The signing key that signed it.
    pub signing_key_id: u32,
    /// When it was signed.
    pub issued_at: Timestamp,
    /// When it expires; `None` is perpetual.
    pub expires_at: Option<Timestamp>,
    /// Why it was issued: `purchase`, `renewal`, `plan_change`, `reissue`, …
    pub reason: String,
}

/// The revoked licences, and the version of that set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocations {
    /// Raised by every revocation, so that apps can refuse older lists.
    pub sequence: u64,
    /// When the set last changed.
    pub changed_at: Timestamp,
    /// The revoked ids.
    pub ids: Vec<LicenseId>,
}

/// What the issuer knows about a Stripe subscription, merged from every event that mentions it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionRecord {
    /// `sub_…`.
    pub id: String,
    /// Stripe customer id, `cus_…`.
    pub customer_id: Option<String>,
    /// The price (plan) it is on, from the newest event that named one.
    pub price_id: Option<String>,
    /// The ordering key of the event `price_id` came from; an older event never overwrites it.
    pub price_as_of: i64,
    /// The end of the latest paid billing period seen.
    pub paid_through: Option<Timestamp>,
    /// When Stripe said it ended (`customer.subscription.deleted`): no more renewals.
    pub canceled_at: Option<Timestamp>,
    /// The Checkout Session that started it, for the licence issued later.
    pub checkout_session_id: Option<String>,
    /// The buyer's e-mail address from that checkout.
    pub email: Option<String>,
    /// When this record last changed.
    pub updated_at: Timestamp,
}

/// A refunded or disputed payment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentReversal {
    /// The payment, `pi_…`.
    pub payment_intent_id: String,
    /// `refund` or `dispute`.
    pub kind: &'static str,
    /// The charge or dispute, `ch_…` / `dp_…`.
    pub object_id: String,
    /// When it was recorded.
    pub at: Timestamp,
}

/// A payment known to have paid an invoice of a subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentSubscription {
    /// The payment, `pi_…`.
    pub payment_intent_id: String,
    /// The subscription it paid for, `sub_…`.
    pub subscription_id: String,
    /// The invoice it paid, `in_…`, when known.
    pub invoice_id: Option<String>,
    /// When it was recorded.
    pub at: Timestamp,
}

/// Credits bought with a top-up price: the record of the purchase (once per session and price); the
/// credits themselves are a `grant` row of the licence's credit ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreditGrant {
    /// The Checkout Session that bought them.
    pub checkout_session_id: String,
    /// The licence credited.
    pub license_id: Option<LicenseId>,
    /// The payment, `pi_…` (a refund names it).
    pub payment_intent_id: Option<String>,
    /// The top-up price.
    pub price_id: String,
    /// Stripe customer id.
    pub customer_id: Option<String>,
    /// The buyer's e-mail address.
    pub email: Option<String>,
    /// How many credits.
    pub credits: u64,
    /// When they were granted.
    pub granted_at: Timestamp,
}

/// A webhook delivery as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// Stripe's event id, `evt_…`.
    pub event_id: String,
    /// The event type, e.g. `checkout.session.completed`.
    pub event_type: String,
    /// What became of it.
    pub status: DeliveryStatus,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// How many times Stripe delivered it.
    pub attempts: u32,
    /// When it was first received.
    pub received_at: Timestamp,
    /// When it was last processed.
    pub processed_at: Option<Timestamp>,
}

/// What became of a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Its effects are committed.
    Processed,
    /// A type the issuer does not act on.
    Ignored,
    /// Processing failed; a redelivery tries again.
    Failed,
}

impl DeliveryStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Processed => "processed",
            DeliveryStatus::Ignored => "ignored",
            DeliveryStatus::Failed => "failed",
        }
    }

    fn from_name(name: &str) -> Option<DeliveryStatus> {
        [
            DeliveryStatus::Processed,
            DeliveryStatus::Ignored,
            DeliveryStatus::Failed,
        ]
        .into_iter()
        .find(|status| status.as_str() == name)
    }
}

/// A delivery about to be processed.
#[derive(Clone, Copy, Debug)]
pub struct IncomingDelivery<'a> {
    /// Stripe's event id.
    pub event_id: &'a str,
    /// The event type.
    pub event_type: &'a str,
    /// The raw body as Stripe signed it, kept for audits and retries.
    pub payload: &'a str,
    /// When it arrived.
    pub received_at: Timestamp,
    /// Why it is not acted on (an event of the Stripe mode the issuer does not serve), recorded in
    /// the delivery's `error` for support to see.
    pub note: Option<&'a str>,
}

/// Whether an event's effects were applied now or before.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProcessOutcome {
    /// Applied now, in the same transaction as the delivery record.
    Applied(DeliveryStatus),
    /// An earlier delivery of the same event was processed (or ignored): nothing was done.
    AlreadyDone(Delivery),
}

/// What went wrong in storage, in terms every backend shares: its [`StoreErrorKind`] decides the
/// answer, and the backend's own error is kept as [`std::error::Error::source`]. Details are for
/// logs, never for HTTP answers.
#[derive(Clone, Debug)]
pub struct StoreError {
    kind: StoreErrorKind,
    detail: String,
    // Shared, not boxed: one failed commit is answered to every operation of its batch.
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

/// What kind of storage failure, as far as the caller can act on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// The transaction lost a race with another one (a serialization failure, a deadlock): running
    /// it again can succeed.
    Conflict,
    /// The storage cannot be used for now (disk full or read-only, I/O error, locked too long): the
    /// same request can succeed later.
    Unavailable,
    /// The database refused a write that breaks one of its constraints (a negative balance, a
    /// duplicate key): a fault in the issuer's rules.
    Constraint,
    /// Stored data makes no sense (a bad status name, say), or the database file is damaged.
    Corrupt,
    /// Anything else: a bad statement, a writer that stopped, a number too large to store.
    Internal,
}

impl StoreErrorKind {
    fn describe(self) -> &'static str {
        match self {
            StoreErrorKind::Conflict => "storage conflict",
            StoreErrorKind::Unavailable => "storage unavailable",
            StoreErrorKind::Constraint => "database constraint violated",
            StoreErrorKind::Corrupt => "stored data is corrupt",
            StoreErrorKind::Internal => "database error",
        }
    }
}

impl StoreError {
    /// An error of `kind`, saying `detail`.
    pub fn new(kind: StoreErrorKind, detail: impl Into<String>) -> StoreError {
        StoreError {
            kind,
            detail: detail.into(),
            source: None,
        }
    }

    /// Storage that cannot be used for now.
    pub fn unavailable(detail: impl Into<String>) -> StoreError {
        StoreError::new(StoreErrorKind::Unavailable, detail)
    }

    /// Stored data that makes no sense.
    pub fn corrupt(detail: impl Into<String>) -> StoreError {
        StoreError::new(StoreErrorKind::Corrupt, detail)
    }

    /// A fault of no other kind.
    pub fn internal(detail: impl Into<String>) -> StoreError {
        StoreError::new(StoreErrorKind::Internal, detail)
    }

    /// The same error, caused by `source` (kept for [`std::error::Error::source`]).
    pub fn caused_by(self, source: impl std::error::Error + Send + Sync + 'static) -> StoreError {
        StoreError {
            source: Some(Arc::new(source)),
            ..self
        }
    }

    /// What kind of failure.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }
}

/// One line, whatever the backend's message holds: `<kind>: <detail>: <source>`.
impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut text = self.kind.describe().to_owned();
        // The whole chain of causes: a driver's own message is often only "db error", its cause
        // says which database refused what.
        let mut causes = Vec::new();
        let mut cause = self
            .source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static));
        while let Some(error) = cause {
            causes.push(error.to_string());
            cause = error.source();
        }
        for part in std::iter::once(self.detail.clone())
            .chain(causes)
            .filter(|part| !part.is_empty())
        {
            text.push_str(": ");
            text.push_str(&part);
        }
        f.write_str(&text.split_whitespace().collect::<Vec<_>>().join(" "))
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}

/// Why an event's effects could not be applied.
#[derive(Debug)]
pub enum ApplyError {
    /// The event cannot be acted on as it stands (unknown price, nothing to resolve…); recorded as
    /// failed with this message, and tried again when Stripe redelivers.
    Unprocessable(String),
    /// Storage failed.
    Store(StoreError),
}

impl From<StoreError> for ApplyError {
    fn from(err: StoreError) -> Self {
        ApplyError::Store(err)
    }
}

impl std::fmt::Display for ApplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApplyError::Unprocessable(why) => f.write_str(why),
            ApplyError::Store(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for ApplyError {}

/// Reads and writes inside one transaction; everything or nothing of it commits.
pub trait Tx {
    /// The licence bought by Checkout Session `id`.
    fn license_by_checkout_session(
        &mut self,
        id: &str,
    ) -> Result<Option<LicenseRecord>, StoreError>;
    /// The licence that follows subscription `id`.
    fn license_by_subscription(&mut self, id: &str) -> Result<Option<LicenseRecord>, StoreError>;
    /// The licence bought with payment intent `id`.
    fn license_by_payment_intent(&mut self, id: &str) -> Result<Option<LicenseRecord>, StoreError>;
    /// Inserts a new licence.
    fn insert_license(&mut self, license: &LicenseRecord) -> Result<(), StoreError>;
    /// Overwrites a licence's stored fields.
    fn update_license(&mut self, license: &LicenseRecord) -> Result<(), StoreError>;
    /// Records a key issued for licence `id`, with the event that caused it.
    fn add_key(
        &mut self,
        id: &LicenseId,
        key: &IssuedKey,
        event_id: Option<&str>,
    ) -> Result<(), StoreError>;
    /// Revokes licence `id` (if not already) and raises the revocation sequence; returns whether it
    /// changed anything.
    fn revoke(&mut self, id: &LicenseId, reason: &str, at: Timestamp) -> Result<bool, StoreError>;
    /// What is known about subscription `id`.
    fn subscription(&mut self, id: &str) -> Result<Option<SubscriptionRecord>, StoreError>;
    /// Inserts or overwrites a subscription record.
    fn put_subscription(&mut self, subscription: &SubscriptionRecord) -> Result<(), StoreError>;
    /// The refund or dispute recorded for payment `payment_intent_id`.
    fn payment_reversal(
        &mut self,
        payment_intent_id: &str,
    ) -> Result<Option<PaymentReversal>, StoreError>;
    /// Records a refund or dispute of a payment (the first one recorded stays); returns whether it
    /// is new.
    fn record_payment_reversal(
        &mut self,
        reversal: &PaymentReversal,
        event_id: &str,
    ) -> Result<bool, StoreError>;
    /// The subscription payment `payment_intent_id` paid for, if known.
    fn payment_subscription(
        &mut self,
        payment_intent_id: &str,
    ) -> Result<Option<PaymentSubscription>, StoreError>;
    /// Records which subscription a payment paid for (the first one recorded stays); returns
    /// whether it is new.
    fn record_payment_subscription(
        &mut self,
        link: &PaymentSubscription,
        event_id: &str,
    ) -> Result<bool, StoreError>;
    /// The first refund or dispute recorded for any payment known to have paid subscription
    /// `subscription_id`.
    fn subscription_reversal(
        &mut self,
        subscription_id: &str,
    ) -> Result<Option<PaymentReversal>, StoreError>;
    /// Records a credit grant (once per session and price); returns whether it is new. The credits
    /// themselves are added with [`Tx::credit_entry`].
    fn grant_credits(&mut self, grant: &CreditGrant, event_id: &str) -> Result<bool, StoreError>;
    /// The licence `id`.
    fn license(&mut self, id: &LicenseId) -> Result<Option<LicenseRecord>, StoreError>;
    /// The credit account of licence `id`, if it has one.
    fn credit_account(&mut self, id: &LicenseId) -> Result<Option<CreditAccount>, StoreError>;
    /// Appends a ledger row and applies its deltas to the account's cached balances (creating the
    /// account at zero if needed). Fails, rolling back the caller's transaction, if a balance would go
    /// below zero.
    fn credit_entry(&mut self, entry: &NewLedgerEntry<'_>) -> Result<(), StoreError>;
    /// Sets the paid period licence `id`'s period credits belong to.
    fn set_credit_period(
        &mut self,
        id: &LicenseId,
        start: Option<Timestamp>,
        end: Timestamp,
        at: Timestamp,
    ) -> Result<(), StoreError>;
    /// The top-ups bought with payment `payment_intent_id` and not yet taken back.
    fn top_ups_by_payment(
        &mut self,
        payment_intent_id: &str,
    ) -> Result<Vec<TopUpGrant>, StoreError>;
    /// Marks top-up grant `id` as taken back.
    fn top_up_reversed(&mut self, id: i64, at: Timestamp) -> Result<(), StoreError>;
    /// Queues an e-mail in the outbox, due at once; it commits (or not) with the key it carries.
    fn enqueue_email(&mut self, email: &NewEmail<'_>) -> Result<(), StoreError>;
    /// The revocation list's sequence number.
    fn revocation_sequence(&mut self) -> Result<u64, StoreError>;

    /// Runs `work` in a savepoint: if it fails, its writes are undone and the rest of the
    /// transaction stands. Its error (or the savepoint's own failure) is returned.
    fn savepoint(
        &mut self,
        work: &mut dyn FnMut(&mut dyn Tx) -> Result<(), ApplyError>,
    ) -> Result<(), ApplyError>;

    // Webhook deliveries and the audit trail.

    /// The recorded delivery of event `event_id`.
    fn delivery(&mut self, event_id: &str) -> Result<Option<Delivery>, StoreError>;
    /// Records a delivery of `delivery` with `status` (a first one, or over an earlier failed one),
    /// counting the attempt.
    fn record_delivery(
        &mut self,
        delivery: &IncomingDelivery<'_>,
        status: DeliveryStatus,
        error: Option<&str>,
        at: Timestamp,
    ) -> Result<(), StoreError>;
    /// Counts one more delivery of event `event_id`, changing nothing else.
    fn record_attempt(&mut self, event_id: &str) -> Result<(), StoreError>;
    /// Appends `entry` to the audit trail.
    fn record_audit(&mut self, entry: &NewAuditEntry<'_>) -> Result<(), StoreError>;

    // Credits, for the rules in `crate::credits::rules`.

    /// Holds licence `id`'s credits for the rest of the transaction: another transaction that asks
    /// for them, in this process or another, waits until this one ends. A backend whose write
    /// transactions already exclude each other does nothing here.
    fn lock_credits(&mut self, id: &LicenseId) -> Result<(), StoreError>;
    /// Licence `id`'s status, if it is on record.
    fn license_status(&mut self, id: &LicenseId) -> Result<Option<LicenseStatus>, StoreError>;
    /// The answer kept for idempotency key `key` of licence `id`, with the fingerprint of the
    /// request that made it.
    fn idempotent_answer(
        &mut self,
        id: &LicenseId,
        key: &str,
    ) -> Result<Option<(String, StoredAnswer)>, StoreError>;
    /// Keeps `answer` for idempotency key `key` of licence `id`.
    fn keep_idempotent_answer(
        &mut self,
        id: &LicenseId,
        key: &str,
        fingerprint: &str,
        answer: &StoredAnswer,
        at: Timestamp,
    ) -> Result<(), StoreError>;
    /// Inserts reservation `r` of licence `id`.
    fn insert_reservation(&mut self, id: &LicenseId, r: &Reservation) -> Result<(), StoreError>;
    /// Licence `id`'s reservation `reservation_id`.
    fn reservation(
        &mut self,
        id: &LicenseId,
        reservation_id: &str,
    ) -> Result<Option<Reservation>, StoreError>;
    /// Stores the status, `used` and `settled_at` of `closed`, a reservation of licence `id` that
    /// was open; returns whether it was still open.
    fn close_reservation(
        &mut self,
        id: &LicenseId,
        closed: &Reservation,
    ) -> Result<bool, StoreError>;
    /// Up to `limit` open reservations whose TTL has passed at `now`, earliest first: the licence
    /// and the reservation id.
    fn due_reservations(
        &mut self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<(LicenseId, String)>, StoreError>;

    // Machine activation, for the rules in `crate::machines::rules`.

    /// Holds licence `id`'s seats for the rest of the transaction: another transaction that asks
    /// for them, in this process or another, waits until this one ends. A backend whose write
    /// transactions already exclude each other does nothing here.
    fn lock_machines(&mut self, id: &LicenseId) -> Result<(), StoreError>;
    /// Licence `id`'s machines not deactivated (lapsed floating ones included), oldest first.
    fn active_machines(&mut self, id: &LicenseId) -> Result<Vec<Machine>, StoreError>;
    /// Machine `machine_id`, whatever its licence or state.
    fn machine(&mut self, machine_id: &str) -> Result<Option<Machine>, StoreError>;
    /// Inserts a new machine.
    fn insert_machine(&mut self, machine: &Machine) -> Result<(), StoreError>;
    /// Stores what can change of a machine: name, platform, last seen, lease, lapse and
    /// deactivation.
    fn update_machine(&mut self, machine: &Machine) -> Result<(), StoreError>;
    /// How many of licence `id`'s machines were deactivated `how` at or after `since`.
    fn deactivations_since(
        &mut self,
        id: &LicenseId,
        how: Deactivation,
        since: Timestamp,
    ) -> Result<u32, StoreError>;
    /// Up to `limit` floating machines, not deactivated, whose seat lapsed at or before `now`,
    /// earliest first: the licence and the machine id.
    fn lapsed_machines(
        &mut self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<(LicenseId, String)>, StoreError>;
}

/// Where the issuer keeps its data.
pub trait Store: Send + Sync + 'static {
    /// Whether the database answers.
    fn ready(&self) -> Result<(), StoreError>;

    /// Runs `work` in one write transaction, which no other write transaction on the database
    /// (from this process or another) interleaves with: committed if it returns `Ok`, rolled back
    /// otherwise. Webhook deliveries and audited changes run here.
    fn write(
        &self,
        work: &mut dyn FnMut(&mut dyn Tx) -> Result<(), ApplyError>,
    ) -> Result<(), ApplyError>;

    /// Queues `job` for the backend's writer, which may run it in a transaction shared with other
    /// jobs (each rolled back alone if it fails); it answers once that transaction is durable.
    /// Credit operations run here (see [`crate::store::queued`]).
    fn submit(&self, job: Box<dyn WriteJob>);

    /// The recorded delivery of event `event_id`.
    fn delivery(&self, event_id: &str) -> Result<Option<Delivery>, StoreError>;

    /// The licence bought by Checkout Session `id`, and its newest key.
    fn license_by_checkout_session(
        &self,
        id: &str,
    ) -> Result<Option<(LicenseRecord, Option<IssuedKey>)>, StoreError>;

    /// The licence `id` and every key issued for it, oldest first.
    fn license(
        &self,
        id: &LicenseId,
    ) -> Result<Option<(LicenseRecord, Vec<IssuedKey>)>, StoreError>;

    /// The revoked licences.
    fn revocations(&self) -> Result<Revocations, StoreError>;

    /// What is known about subscription `id`.
    fn subscription(&self, id: &str) -> Result<Option<SubscriptionRecord>, StoreError>;

    /// Whether payment `payment_intent_id` is already tied to a licence: one bought with it, or a
    /// subscription it is known to have paid for. A refund or dispute of it then needs no API call.
    fn payment_resolved(&self, payment_intent_id: &str) -> Result<bool, StoreError>;

    /// The credits granted by Checkout Session `id`.
    fn credit_grants(&self, checkout_session_id: &str) -> Result<Vec<CreditGrant>, StoreError>;

    /// Claims the queued e-mail due first at `now`, if any: counts the attempt and leases the row
    /// until `lease_until`, so that no other sender takes it meanwhile and a crash leaves it to be
    /// tried again then.
    fn claim_email(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<OutboxEmail>, StoreError>;

    /// Records that e-mail `id` was accepted by the SMTP server.
    fn email_sent(&self, id: i64, at: Timestamp) -> Result<(), StoreError>;

    /// Records a failed attempt at e-mail `id`: tried again at `retry_at`, or failed for good if `None`.
    fn email_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> Result<(), StoreError>;

    /// When the next queued e-mail is due, if any is queued.
    fn next_email_due(&self) -> Result<Option<Timestamp>, StoreError>;

    /// Licence `id`'s credit account (zero if it has none) and its open reservations, oldest first.
    fn credits(&self, id: &LicenseId) -> Result<(CreditAccount, Vec<Reservation>), StoreError>;

    /// Licence `id`'s status, if it is on record.
    fn license_status(&self, id: &LicenseId) -> Result<Option<LicenseStatus>, StoreError>;

    /// Licence `id`'s ledger rows after row `after` (from the start if `None`), at most `limit`.
    fn credit_ledger(
        &self,
        id: &LicenseId,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>, StoreError>;

    /// Licences matching `query`, newest first, at most `limit`.
    fn find_licenses(
        &self,
        query: &LicenseQuery,
        limit: u32,
    ) -> Result<Vec<LicenseRecord>, StoreError>;

    /// The webhook deliveries that took effect on licence `id` (issued its keys, granted or took back
    /// its credits, revoked it), newest first, at most `limit`.
    fn license_deliveries(&self, id: &LicenseId, limit: u32) -> Result<Vec<Delivery>, StoreError>;

    /// Recorded deliveries, newest first: only failed ones if `failed_only`, only of `event_type` if
    /// given; at most `limit`.
    fn deliveries(
        &self,
        failed_only: bool,
        event_type: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError>;

    /// A recorded delivery and its payload as Stripe signed it.
    fn delivery_payload(&self, event_id: &str) -> Result<Option<(Delivery, String)>, StoreError>;

    /// The licences an event took effect on (see [`Store::license_deliveries`]).
    fn delivery_licenses(&self, event_id: &str) -> Result<Vec<String>, StoreError>;

    /// Audit entries, newest first, of licence `id` if given; at most `limit`.
    fn audit_log(
        &self,
        license: Option<&LicenseId>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError>;

    /// Every credit account's cached numbers beside the same numbers recomputed from the ledger and
    /// the open reservations, read in one transaction (see [`LedgerMismatch::differs`]).
    fn credit_totals(&self) -> Result<Vec<LedgerMismatch>, StoreError>;

    /// Every signing key kept in the database, lowest key id first.
    fn signing_keys(&self) -> Result<Vec<StoredSigningKey>, StoreError>;

    /// Keeps `key` unless a key with its id is kept already; returns whether it was new. Two
    /// processes that make a key with the same id at once (the first key, or two rotations) learn
    /// which one the database kept.
    fn add_signing_key(&self, key: &StoredSigningKey) -> Result<bool, StoreError>;

    /// Licence `id`'s machines, oldest first: only those not deactivated if `active_only`.
    fn machines(&self, id: &LicenseId, active_only: bool) -> Result<Vec<Machine>, StoreError>;

    /// Machine `machine_id`, whatever its licence or state.
    fn machine(&self, machine_id: &str) -> Result<Option<Machine>, StoreError>;
}

/// An e-mail for the outbox, made where the key it carries is issued.
#[derive(Clone, PartialEq, Eq)]
pub struct NewEmail<'a> {
    /// The licence whose key it carries.
    pub license_id: &'a LicenseId,
    /// The webhook event that issued the key.
    pub event_id: Option<&'a str>,
    /// The buyer's address.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// Plain text; carries the licence key, so it is never logged.
    pub body: String,
    /// When it was queued (and first due).
    pub created_at: Timestamp,
}

impl std::fmt::Debug for NewEmail<'_> {
    /// Without the body: it carries the licence key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewEmail")
            .field("license_id", &self.license_id)
            .field("event_id", &self.event_id)
            .finish_non_exhaustive()
    }
}

/// A queued e-mail claimed for sending.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboxEmail {
    /// The outbox row.
    pub id: i64,
    /// The licence whose key it carries.
    pub license_id: String,
    /// The buyer's address.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// Plain text with the licence key.
    pub body: String,
    /// Attempts so far, this one included.
    pub attempts: u32,
}

impl std::fmt::Debug for OutboxEmail {
    /// Without the body: it carries the licence key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxEmail")
            .field("id", &self.id)
            .field("license_id", &self.license_id)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_error_keeps_its_kind_and_source_and_displays_on_one_line() {
        let err =
            StoreError::unavailable("cannot write").caused_by(std::io::Error::other("disk\nfull"));
        assert_eq!(err.kind(), StoreErrorKind::Unavailable);
        assert_eq!(
            err.to_string(),
            "storage unavailable: cannot write: disk full"
        );
        let source = std::error::Error::source(&err).expect("the source is kept");
        assert_eq!(source.to_string(), "disk\nfull");
    }
}
