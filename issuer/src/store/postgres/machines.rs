//! Machines and their seats, on PostgreSQL (see [`crate::store::Machine`]).

use ::postgres::GenericClient;
use tessera_keys::LicenseId;

use super::Session;
use crate::store::rows::{self, MACHINE_COLUMNS};
use crate::store::{Deactivation, Machine, StoreError, Timestamp};

/// Seat locks are advisory locks of the two-key form, which PostgreSQL keeps apart from the
/// one-key locks of credits, writes and migrations; the first key is this tag ("mach") mixed into
/// the licence id's upper half, the second its lower half. Two licences that share both halves
/// would only wait for each other.
const SEAT_LOCK_TAG: i32 = 0x6d61_6368;

pub(super) fn lock<C: GenericClient>(
    session: &mut Session<'_, C>,
    id: &LicenseId,
) -> Result<(), StoreError> {
    let [a, b, c, d, e, f, g, h] = id.0;
    let high = i32::from_be_bytes([a, b, c, d]) ^ SEAT_LOCK_TAG;
    let low = i32::from_be_bytes([e, f, g, h]);
    session.execute("SELECT pg_advisory_xact_lock($1, $2)", &[&high, &low])?;
    Ok(())
}

pub(super) fn of_license<C: GenericClient>(
    session: &mut Session<'_, C>,
    id: &LicenseId,
    active_only: bool,
) -> Result<Vec<Machine>, StoreError> {
    session.every(
        &format!(
            "SELECT {MACHINE_COLUMNS} FROM machines
             WHERE license_id = $1 AND (deactivated_at IS NULL OR NOT $2)
             ORDER BY activated_at, id"
        ),
        &[&id.to_hex().as_str(), &active_only],
        rows::machine,
    )
}

pub(super) fn by_id<C: GenericClient>(
    session: &mut Session<'_, C>,
    machine_id: &str,
) -> Result<Option<Machine>, StoreError> {
    session.first(
        &format!("SELECT {MACHINE_COLUMNS} FROM machines WHERE id = $1"),
        &[&machine_id],
        rows::machine,
    )
}

pub(super) fn insert<C: GenericClient>(
    session: &mut Session<'_, C>,
    m: &Machine,
) -> Result<(), StoreError> {
    session.execute(
        &format!(
            "INSERT INTO machines ({MACHINE_COLUMNS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ),
        &[
            &m.id,
            &m.license_id.to_hex().as_str(),
            &m.fingerprint,
            &m.name,
            &m.platform,
            &m.activated_at,
            &m.last_seen_at,
            &m.lease_ends_at,
            &m.lapses_at,
            &m.deactivated_at,
            &m.deactivated_how.map(Deactivation::as_str),
        ],
    )?;
    Ok(())
}

pub(super) fn update<C: GenericClient>(
    session: &mut Session<'_, C>,
    m: &Machine,
) -> Result<(), StoreError> {
    session.execute(
        "UPDATE machines SET name = $2, platform = $3, last_seen_at = $4, lease_ends_at = $5,
             lapses_at = $6, deactivated_at = $7, deactivated_how = $8
         WHERE id = $1",
        &[
            &m.id,
            &m.name,
            &m.platform,
            &m.last_seen_at,
            &m.lease_ends_at,
            &m.lapses_at,
            &m.deactivated_at,
            &m.deactivated_how.map(Deactivation::as_str),
        ],
    )?;
    Ok(())
}

pub(super) fn deactivations_since<C: GenericClient>(
    session: &mut Session<'_, C>,
    id: &LicenseId,
    how: Deactivation,
    since: Timestamp,
) -> Result<u32, StoreError> {
    let row = session.query_one(
        "SELECT count(*) FROM machines
         WHERE license_id = $1 AND deactivated_how = $2 AND deactivated_at >= $3",
        &[&id.to_hex().as_str(), &how.as_str(), &since],
    )?;
    rows::narrow(row.get::<_, i64>(0), "deactivation count")
}

pub(super) fn lapsed<C: GenericClient>(
    session: &mut Session<'_, C>,
    now: Timestamp,
    limit: u32,
) -> Result<Vec<(LicenseId, String)>, StoreError> {
    session.every(
        "SELECT license_id, id FROM machines
         WHERE deactivated_at IS NULL AND lapses_at <= $1
         ORDER BY lapses_at, id LIMIT $2",
        &[&now, &i64::from(limit)],
        rows::machine_key,
    )
}
