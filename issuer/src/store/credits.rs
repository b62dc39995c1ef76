//! Credit accounts as stored: balances, reservations, the ledger, and idempotent answers.
//!
//! Amounts are `u64` here and `INTEGER` (i64) in SQLite; the HTTP layer bounds every amount by
//! [`MAX_AMOUNT`], so sums never overflow.

use tessera_keys::LicenseId;

use super::{LicenseStatus, Timestamp};

/// The largest amount a request may name (reserve, commit) and a grant may add at once.
pub const MAX_AMOUNT: u64 = 1_000_000_000_000;

/// A licence's credits: what can be spent, and what open reservations hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CreditBalances {
    /// Period credits that can be reserved.
    pub period: u64,
    /// Top-up credits that can be reserved.
    pub top_up: u64,
    /// Period credits held by open reservations.
    pub period_reserved: u64,
    /// Top-up credits held by open reservations.
    pub top_up_reserved: u64,
}

impl CreditBalances {
    /// What a new reservation can take.
    pub fn available(&self) -> u64 {
        self.period + self.top_up
    }
}

/// A licence's credit account.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CreditAccount {
    /// The cached balances.
    pub balances: CreditBalances,
    /// The start of the paid period the period credits belong to, if known.
    pub period_start: Option<Timestamp>,
    /// Its end.
    pub period_end: Option<Timestamp>,
}

/// Where a reservation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReservationStatus {
    /// Holds its credits.
    Open,
    /// Settled: `used` charged, the rest released.
    Committed,
    /// Released by the client: nothing charged.
    Released,
    /// Not settled before its TTL: released by the sweeper (or the first request that noticed).
    Expired,
}

impl ReservationStatus {
    /// The stored and published name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReservationStatus::Open => "open",
            ReservationStatus::Committed => "committed",
            ReservationStatus::Released => "released",
            ReservationStatus::Expired => "expired",
        }
    }

    /// The status stored as `name`.
    pub fn from_name(name: &str) -> Option<ReservationStatus> {
        [
            ReservationStatus::Open,
            ReservationStatus::Committed,
            ReservationStatus::Released,
            ReservationStatus::Expired,
        ]
        .into_iter()
        .find(|status| status.as_str() == name)
    }
}

/// A reservation of credits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reservation {
    /// `rsv_…`.
    pub id: String,
    /// What it holds (or held).
    pub amount: u64,
    /// The part drawn from period credits.
    pub period_part: u64,
    /// The part drawn from top-up credits.
    pub top_up_part: u64,
    /// The end of the paid period its period part was drawn from: period credits released after a
    /// renewal expire instead of joining the new period's.
    pub period_end: Option<Timestamp>,
    /// Where it stands.
    pub status: ReservationStatus,
    /// What a commit charged.
    pub used: Option<u64>,
    /// The client's free-form reference.
    pub reference: Option<String>,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it expires if still open.
    pub expires_at: Timestamp,
    /// When it was committed, released or expired.
    pub settled_at: Option<Timestamp>,
}

/// A reservation request, as checked by the HTTP layer. Owned: it travels to the store's writer.
#[derive(Clone, Debug)]
pub struct ReserveRequest {
    /// Whose credits.
    pub license_id: LicenseId,
    /// The client's `Idempotency-Key`.
    pub idempotency_key: String,
    /// A canonical form of the request body: the same key with another fingerprint is refused.
    pub fingerprint: String,
    /// How many credits, `1..=MAX_AMOUNT`.
    pub amount: u64,
    /// How long it holds them unless settled.
    pub ttl_seconds: u64,
    /// The client's free-form reference.
    pub reference: Option<String>,
    /// Now.
    pub now: Timestamp,
}

/// The issuer's records refuse the licence although its key is valid: it was revoked or suspended.
/// Checked inside each credit operation's transaction, so that no credit moves after a revocation
/// commits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused(pub LicenseStatus);

/// A credit operation's outcome, or the issuer's refusal of the licence.
pub type Credited<T> = Result<T, Refused>;

/// What a new reservation request came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReserveOutcome {
    /// Reserved; the balances after it.
    Reserved(Reservation, CreditBalances),
    /// Not enough credits.
    Insufficient {
        /// What was asked for.
        needed: u64,
        /// What could have been reserved.
        available: u64,
    },
}

/// An HTTP answer kept for an idempotency key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredAnswer {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: String,
}

/// The answer to a request carrying an idempotency key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Idempotent {
    /// Acted on now; this answer is kept for repeats.
    New(StoredAnswer),
    /// A repeat of an earlier request: its answer, unchanged; nothing was done.
    Replay(StoredAnswer),
    /// The key was used before for a different request; nothing was done.
    Mismatch,
}

/// How to settle a reservation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settlement {
    /// Charge `used` (at most the reserved amount) and release the rest.
    Commit {
        /// Credits consumed.
        used: u64,
    },
    /// Release everything.
    Release,
}

/// What settling came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SettleOutcome {
    /// Settled as asked, now or by an identical earlier request; the balances now.
    Settled(Reservation, CreditBalances),
    /// No reservation by that id for this licence.
    NotFound,
    /// Already settled otherwise (or expired); the reservation as it stands.
    Conflict(Reservation),
    /// `used` is more than the reservation holds.
    UsedExceedsReserved {
        /// What it holds.
        reserved: u64,
    },
}

/// One kind of ledger row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LedgerKind {
    /// Credits added: a top-up or a new period's allowance.
    Grant,
    /// Unused period credits lost at a renewal.
    Expiry,
    /// Credits moved from a balance to a reservation.
    Reservation,
    /// A reservation settled: `used` consumed, the rest back to its balances.
    Commit,
    /// A reservation released (by the client or at its TTL): all back to its balances.
    Release,
    /// A refunded or disputed top-up taken back.
    Refund,
    /// A correction by an operator.
    Adjustment,
}

impl LedgerKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerKind::Grant => "grant",
            LedgerKind::Expiry => "expiry",
            LedgerKind::Reservation => "reservation",
            LedgerKind::Commit => "commit",
            LedgerKind::Release => "release",
            LedgerKind::Refund => "refund",
            LedgerKind::Adjustment => "adjustment",
        }
    }
}

/// A ledger row to append. Deltas change the account's four cached numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewLedgerEntry<'a> {
    /// Whose account.
    pub license_id: &'a LicenseId,
    /// What happened.
    pub kind: LedgerKind,
    /// Change of the period balance.
    pub period: i64,
    /// Change of the top-up balance.
    pub top_up: i64,
    /// Change of the period credits held by reservations.
    pub period_reserved: i64,
    /// Change of the top-up credits held by reservations.
    pub top_up_reserved: i64,
    /// Credits consumed (commit rows).
    pub used: u64,
    /// What a refund could not take back.
    pub shortfall: u64,
    /// Why, for people: `top_up price_…`, `period_reset`, `ttl`, `refund ch_…`.
    pub reason: &'a str,
    /// The cause: a Stripe event id, a reservation id, the admin.
    pub reference: Option<&'a str>,
    /// The reservation it moves, if any.
    pub reservation_id: Option<&'a str>,
    /// When.
    pub at: Timestamp,
}

/// A ledger row as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerEntry {
    /// Increasing with time.
    pub id: i64,
    /// `grant`, `expiry`, `reservation`, `commit`, `release`, `refund` or `adjustment`.
    pub kind: String,
    /// Change of the period balance.
    pub period: i64,
    /// Change of the top-up balance.
    pub top_up: i64,
    /// Change of the period credits held.
    pub period_reserved: i64,
    /// Change of the top-up credits held.
    pub top_up_reserved: i64,
    /// Credits consumed.
    pub used: u64,
    /// What a refund could not take back.
    pub shortfall: u64,
    /// Why.
    pub reason: String,
    /// The cause.
    pub reference: Option<String>,
    /// The reservation it moves.
    pub reservation_id: Option<String>,
    /// When.
    pub at: Timestamp,
}

/// A top-up bought with a payment, as a refund finds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopUpGrant {
    /// The `credit_grants` row.
    pub id: i64,
    /// The licence credited.
    pub license_id: LicenseId,
    /// How many credits it granted.
    pub credits: u64,
    /// The price.
    pub price_id: String,
}

/// An account whose cached numbers differ from its ledger or its open reservations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerMismatch {
    /// The licence (hex).
    pub license_id: String,
    /// `[period, top_up, period_reserved, top_up_reserved]` as cached.
    pub cached: [i64; 4],
    /// The same, summed from the ledger.
    pub ledger: [i64; 4],
    /// `[period, top_up]` held by open reservations.
    pub open_reservations: [i64; 2],
}
