//! The credit rules, written once over [`Tx`] and run by every storage backend: period credits are
//! reserved first, a commit charges the period part first and returns the rest where it came from,
//! period credits returned after their period ended expire, and an idempotency key answers once.
//!
//! Every function runs inside one write transaction and begins with [`Tx::lock_credits`], so two
//! operations on one licence (in one process or several) never decide on the same balance.

use tessera_keys::LicenseId;

use crate::store::{
    signed, CreditAccount, CreditBalances, Credited, Idempotent, NewLedgerEntry, Refused,
    Reservation, ReservationStatus, ReserveOutcome, ReserveRequest, SettleOutcome, Settlement,
    StoreError, StoredAnswer, Timestamp, Tx,
};

/// Whether the licence's record refuses it (revoked, suspended).
fn refusal(tx: &mut dyn Tx, id: &LicenseId) -> Result<Option<Refused>, StoreError> {
    Ok(Refused::of(tx.license_status(id)?))
}

/// Reserves `r.amount` credits, period credits first, and keeps the answer `render` makes of the
/// outcome under the request's idempotency key: a repeat with the same fingerprint gets that answer,
/// with another fingerprint [`Idempotent::Mismatch`].
pub fn reserve(
    tx: &mut dyn Tx,
    r: &ReserveRequest,
    render: fn(&ReserveOutcome) -> StoredAnswer,
) -> Result<Credited<Idempotent>, StoreError> {
    tx.lock_credits(&r.license_id)?;
    if let Some(refused) = refusal(tx, &r.license_id)? {
        return Ok(Err(refused));
    }
    if let Some((fingerprint, answer)) = tx.idempotent_answer(&r.license_id, &r.idempotency_key)? {
        if fingerprint != r.fingerprint {
            return Ok(Ok(Idempotent::Mismatch));
        }
        return Ok(Ok(Idempotent::Replay(answer)));
    }

    let current = tx.credit_account(&r.license_id)?.unwrap_or_default();
    let balances = current.balances;
    let outcome = if r.amount > balances.available() {
        ReserveOutcome::Insufficient {
            needed: r.amount,
            available: balances.available(),
        }
    } else {
        let period_part = r.amount.min(balances.period);
        let top_up_part = r.amount - period_part;
        let reservation = Reservation {
            id: format!("rsv_{}", hex_bytes(&rand::random::<[u8; 12]>())),
            amount: r.amount,
            period_part,
            top_up_part,
            period_end: current.period_end,
            status: ReservationStatus::Open,
            used: None,
            reference: r.reference.clone(),
            created_at: r.now,
            expires_at: r.now.saturating_add(signed(r.ttl_seconds)?),
            settled_at: None,
        };
        tx.insert_reservation(&r.license_id, &reservation)?;
        tx.credit_entry(&NewLedgerEntry::reservation(
            &r.license_id,
            &reservation.id,
            period_part,
            top_up_part,
            r.now,
        )?)?;
        let after = CreditBalances {
            period: balances.period - period_part,
            top_up: balances.top_up - top_up_part,
            period_reserved: balances.period_reserved + period_part,
            top_up_reserved: balances.top_up_reserved + top_up_part,
        };
        ReserveOutcome::Reserved(reservation, after)
    };
    let answer = render(&outcome);
    tx.keep_idempotent_answer(
        &r.license_id,
        &r.idempotency_key,
        &r.fingerprint,
        &answer,
        r.now,
    )?;
    Ok(Ok(Idempotent::New(answer)))
}

/// Commits or releases reservation `reservation_id` of licence `id`. Settling again the same way
/// answers the settled reservation; an open reservation past its expiry is expired first (its TTL
/// decides, not the sweeper's timing).
pub fn settle(
    tx: &mut dyn Tx,
    id: &LicenseId,
    reservation_id: &str,
    settlement: Settlement,
    now: Timestamp,
) -> Result<Credited<SettleOutcome>, StoreError> {
    tx.lock_credits(id)?;
    if let Some(refused) = refusal(tx, id)? {
        return Ok(Err(refused));
    }
    let Some(mut r) = tx.reservation(id, reservation_id)? else {
        return Ok(Ok(SettleOutcome::NotFound));
    };
    let mut account = tx.credit_account(id)?.unwrap_or_default();
    if r.status == ReservationStatus::Open && r.expires_at <= now {
        r = close(tx, id, &mut account, &r, Closing::Expired, now)?;
    }
    let settled = match (r.status, settlement) {
        (ReservationStatus::Open, Settlement::Commit { used }) => {
            if used > r.amount {
                return Ok(Ok(SettleOutcome::UsedExceedsReserved {
                    reserved: r.amount,
                }));
            }
            close(tx, id, &mut account, &r, Closing::Committed(used), now)?
        }
        (ReservationStatus::Open, Settlement::Release) => {
            close(tx, id, &mut account, &r, Closing::Released, now)?
        }
        (ReservationStatus::Committed, Settlement::Commit { used }) if r.used == Some(used) => r,
        (ReservationStatus::Released | ReservationStatus::Expired, Settlement::Release) => r,
        _ => return Ok(Ok(SettleOutcome::Conflict(r))),
    };
    Ok(Ok(SettleOutcome::Settled(settled, account.balances)))
}

/// Expires up to `limit` open reservations whose TTL has passed at `now`, releasing their credits;
/// returns how many it expired. Each is read again under its licence's lock, so a reservation that
/// another process settled or expired meanwhile is left alone.
pub fn expire_due(tx: &mut dyn Tx, now: Timestamp, limit: u32) -> Result<usize, StoreError> {
    let mut expired = 0;
    for (license_id, reservation_id) in tx.due_reservations(now, limit)? {
        tx.lock_credits(&license_id)?;
        let Some(r) = tx.reservation(&license_id, &reservation_id)? else {
            continue;
        };
        if r.status != ReservationStatus::Open || r.expires_at > now {
            continue;
        }
        let mut account = tx.credit_account(&license_id)?.unwrap_or_default();
        close(tx, &license_id, &mut account, &r, Closing::Expired, now)?;
        expired += 1;
    }
    Ok(expired)
}

/// How an open reservation ends.
#[derive(Clone, Copy)]
enum Closing {
    /// Charged this much, the rest released.
    Committed(u64),
    /// Released by the client.
    Released,
    /// Released at its TTL.
    Expired,
}

/// Ends open reservation `r` as `closing` says, charging what it used and returning the rest to the
/// buckets it came from (period credits charged first).
///
/// `account` is the licence's account as it stands; it is kept up to date with the rows appended.
fn close(
    tx: &mut dyn Tx,
    license_id: &LicenseId,
    account: &mut CreditAccount,
    r: &Reservation,
    closing: Closing,
    now: Timestamp,
) -> Result<Reservation, StoreError> {
    let (status, used, settlement) = match closing {
        Closing::Committed(used) => (
            ReservationStatus::Committed,
            Some(used),
            NewLedgerEntry::commit(license_id, r, used, "committed", now)?,
        ),
        Closing::Released => (
            ReservationStatus::Released,
            None,
            NewLedgerEntry::release(license_id, r, "released", now)?,
        ),
        Closing::Expired => (
            ReservationStatus::Expired,
            None,
            NewLedgerEntry::release(license_id, r, "ttl", now)?,
        ),
    };
    append_applied(tx, &mut account.balances, &settlement)?;
    let returned_period = r.period_part - used.unwrap_or(0).min(r.period_part);
    // Drawn from a period that has ended since: they expire as its other unused ones did.
    if returned_period > 0 && account.period_end != r.period_end {
        append_applied(
            tx,
            &mut account.balances,
            &NewLedgerEntry::period_expiry(license_id, returned_period, &r.id, now)?
                .of_reservation(&r.id),
        )?;
    }
    let closed = Reservation {
        status,
        used,
        settled_at: Some(now),
        ..r.clone()
    };
    if !tx.close_reservation(license_id, &closed)? {
        return Err(StoreError::internal(format!(
            "reservation {} was not open",
            r.id
        )));
    }
    Ok(closed)
}

/// Appends `e` and applies its deltas to `balances`, a copy of the account's numbers kept in step
/// so that nobody reads them back.
fn append_applied(
    tx: &mut dyn Tx,
    balances: &mut CreditBalances,
    e: &NewLedgerEntry<'_>,
) -> Result<(), StoreError> {
    tx.credit_entry(e)?;
    let moved = |value: u64, delta: i64| {
        value
            .checked_add_signed(delta)
            .ok_or_else(|| StoreError::corrupt(format!("a balance of {value} moved by {delta}")))
    };
    *balances = CreditBalances {
        period: moved(balances.period, e.period)?,
        top_up: moved(balances.top_up, e.top_up)?,
        period_reserved: moved(balances.period_reserved, e.period_reserved)?,
        top_up_reserved: moved(balances.top_up_reserved, e.top_up_reserved)?,
    };
    Ok(())
}

fn hex_bytes(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}
