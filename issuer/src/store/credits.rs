//! Credit accounts as stored: balances, reservations, the ledger, and idempotent answers.
//!
//! Amounts are `u64` here and `INTEGER` (i64) in SQLite; the HTTP layer bounds every amount by
//! [`MAX_AMOUNT`], so sums never overflow.

use tessera_keys::LicenseId;

use super::{LicenseStatus, StoreError, Timestamp};

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

impl Refused {
    /// The refusal a licence with `status` gets: revoked and suspended licences are refused; one
    /// not on record (a key signed offline) is not, its key alone admits it.
    pub fn of(status: Option<LicenseStatus>) -> Option<Refused> {
        match status {
            Some(status @ (LicenseStatus::Revoked | LicenseStatus::Suspended)) => {
                Some(Refused(status))
            }
            _ => None,
        }
    }
}

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

/// `value` credits as a signed delta.
pub(crate) fn signed(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::internal(format!("{value} credits is too many")))
}

/// One constructor per business event, so that every movement of credits is written the same way
/// wherever it happens.
impl<'a> NewLedgerEntry<'a> {
    fn moving_nothing(
        license_id: &'a LicenseId,
        kind: LedgerKind,
        reason: &'a str,
        reference: &'a str,
        at: Timestamp,
    ) -> Self {
        NewLedgerEntry {
            license_id,
            kind,
            period: 0,
            top_up: 0,
            period_reserved: 0,
            top_up_reserved: 0,
            used: 0,
            shortfall: 0,
            reason,
            reference: Some(reference),
            reservation_id: None,
            at,
        }
    }

    /// A new paid period's credits, granted by Stripe event `event_id`.
    pub fn period_grant(
        license_id: &'a LicenseId,
        credits: u64,
        event_id: &'a str,
        at: Timestamp,
    ) -> Result<Self, StoreError> {
        Ok(NewLedgerEntry {
            period: signed(credits)?,
            ..Self::moving_nothing(license_id, LedgerKind::Grant, "period_reset", event_id, at)
        })
    }

    /// Top-up credits bought (`reason`: `top_up price_…`), granted by Stripe event `event_id`.
    pub fn top_up_grant(
        license_id: &'a LicenseId,
        credits: u64,
        reason: &'a str,
        event_id: &'a str,
        at: Timestamp,
    ) -> Result<Self, StoreError> {
        Ok(NewLedgerEntry {
            top_up: signed(credits)?,
            ..Self::moving_nothing(license_id, LedgerKind::Grant, reason, event_id, at)
        })
    }

    /// `unused` period credits expire because their period has ended; `cause` is the Stripe event
    /// that ended it, or the reservation that returned them after it ended
    /// (see [`Self::of_reservation`]).
    pub fn period_expiry(
        license_id: &'a LicenseId,
        unused: u64,
        cause: &'a str,
        at: Timestamp,
    ) -> Result<Self, StoreError> {
        Ok(NewLedgerEntry {
            period: -signed(unused)?,
            ..Self::moving_nothing(license_id, LedgerKind::Expiry, "period_ended", cause, at)
        })
    }

    /// Reservation `reservation_id` holds `period_part` period and `top_up_part` top-up credits.
    pub fn reservation(
        license_id: &'a LicenseId,
        reservation_id: &'a str,
        period_part: u64,
        top_up_part: u64,
        at: Timestamp,
    ) -> Result<Self, StoreError> {
        let (period, top_up) = (signed(period_part)?, signed(top_up_part)?);
        Ok(NewLedgerEntry {
            period: -period,
            top_up: -top_up,
            period_reserved: period,
            top_up_reserved: top_up,
            ..Self::moving_nothing(
                license_id,
                LedgerKind::Reservation,
                "reserved",
                reservation_id,
                at,
            )
        }
        .of_reservation(reservation_id))
    }

    /// Reservation `r` is committed: `used` of it is charged (period credits first), the rest
    /// returns to the buckets it came from.
    pub fn commit(
        license_id: &'a LicenseId,
        r: &'a Reservation,
        used: u64,
        reason: &'a str,
        at: Timestamp,
    ) -> Result<Self, StoreError> {
        Self::settlement(license_id, LedgerKind::Commit, r, used, reason, at)
    }

    /// Reservation `r` is released, by the client or at its TTL (`reason`): all of it returns.
    pub fn release(
        license_id: &'a LicenseId,
        r: &'a Reservation,
        reason: &'a str,
        at: Timestamp,
    ) -> Result<Self, StoreError> {
        Self::settlement(license_id, LedgerKind::Release, r, 0, reason, at)
    }

    fn settlement(
        license_id: &'a LicenseId,
        kind: LedgerKind,
        r: &'a Reservation,
        used: u64,
        reason: &'a str,
        at: Timestamp,
    ) -> Result<Self, StoreError> {
        let used_period = used.min(r.period_part);
        let used_top_up = used - used_period;
        Ok(NewLedgerEntry {
            period: signed(r.period_part - used_period)?,
            top_up: signed(r.top_up_part - used_top_up)?,
            period_reserved: -signed(r.period_part)?,
            top_up_reserved: -signed(r.top_up_part)?,
            used,
            ..Self::moving_nothing(license_id, kind, reason, &r.id, at)
        }
        .of_reservation(&r.id))
    }

    /// A refund or dispute (`reason`: `refund ch_…`) takes back `taken` top-up credits; `shortfall`
    /// more were already spent.
    pub fn refund(
        license_id: &'a LicenseId,
        taken: u64,
        shortfall: u64,
        reason: &'a str,
        event_id: &'a str,
        at: Timestamp,
    ) -> Result<Self, StoreError> {
        Ok(NewLedgerEntry {
            top_up: -signed(taken)?,
            shortfall,
            ..Self::moving_nothing(license_id, LedgerKind::Refund, reason, event_id, at)
        })
    }

    /// Support adds or removes credits (`reference` names who).
    pub fn adjustment(
        license_id: &'a LicenseId,
        period: i64,
        top_up: i64,
        reason: &'a str,
        reference: &'a str,
        at: Timestamp,
    ) -> Self {
        NewLedgerEntry {
            period,
            top_up,
            ..Self::moving_nothing(license_id, LedgerKind::Adjustment, reason, reference, at)
        }
    }

    /// The same movement, recorded against reservation `id`.
    pub fn of_reservation(self, id: &'a str) -> Self {
        NewLedgerEntry {
            reservation_id: Some(id),
            ..self
        }
    }
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

/// An account's cached numbers beside the same numbers recomputed; reported when they differ.
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

impl LedgerMismatch {
    /// Whether the cached numbers differ from the ledger's sums or from what open reservations
    /// hold, or any is negative.
    pub fn differs(&self) -> bool {
        self.cached != self.ledger
            || self.cached[2] != self.open_reservations[0]
            || self.cached[3] != self.open_reservations[1]
            || self.cached.iter().any(|n| *n < 0)
    }
}
