//! Machines and their seats, on SQLite (see [`crate::store::Machine`]).

use rusqlite::{params, Connection};
use tessera_keys::LicenseId;

use super::{every, first};
use crate::store::rows::{self, MACHINE_COLUMNS};
use crate::store::{Deactivation, Machine, StoreError, Timestamp};

pub(super) fn of_license(
    conn: &Connection,
    id: &LicenseId,
    active_only: bool,
) -> Result<Vec<Machine>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MACHINE_COLUMNS} FROM machines
         WHERE license_id = ?1 AND (deactivated_at IS NULL OR NOT ?2)
         ORDER BY activated_at, id"
    ))?;
    every(
        &mut stmt,
        params![id.to_hex().as_str(), active_only],
        rows::machine,
    )
}

pub(super) fn by_id(conn: &Connection, machine_id: &str) -> Result<Option<Machine>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MACHINE_COLUMNS} FROM machines WHERE id = ?1"
    ))?;
    first(&mut stmt, [machine_id], rows::machine)
}

pub(super) fn insert(conn: &Connection, m: &Machine) -> Result<(), StoreError> {
    conn.prepare_cached(&format!(
        "INSERT INTO machines ({MACHINE_COLUMNS})
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
    ))?
    .execute(params![
        m.id,
        m.license_id.to_hex().as_str(),
        m.fingerprint,
        m.name,
        m.platform,
        m.activated_at,
        m.last_seen_at,
        m.lease_ends_at,
        m.lapses_at,
        m.deactivated_at,
        m.deactivated_how.map(Deactivation::as_str)
    ])?;
    Ok(())
}

pub(super) fn update(conn: &Connection, m: &Machine) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE machines SET name = ?2, platform = ?3, last_seen_at = ?4, lease_ends_at = ?5,
             lapses_at = ?6, deactivated_at = ?7, deactivated_how = ?8
         WHERE id = ?1",
    )?
    .execute(params![
        m.id,
        m.name,
        m.platform,
        m.last_seen_at,
        m.lease_ends_at,
        m.lapses_at,
        m.deactivated_at,
        m.deactivated_how.map(Deactivation::as_str)
    ])?;
    Ok(())
}

pub(super) fn deactivations_since(
    conn: &Connection,
    id: &LicenseId,
    how: Deactivation,
    since: Timestamp,
) -> Result<u32, StoreError> {
    let count: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM machines
             WHERE license_id = ?1 AND deactivated_how = ?2 AND deactivated_at >= ?3",
        )?
        .query_row(params![id.to_hex().as_str(), how.as_str(), since], |row| {
            row.get(0)
        })?;
    rows::narrow(count, "deactivation count")
}

pub(super) fn lapsed(
    conn: &Connection,
    now: Timestamp,
    limit: u32,
) -> Result<Vec<(LicenseId, String)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT license_id, id FROM machines
         WHERE deactivated_at IS NULL AND lapses_at <= ?1
         ORDER BY lapses_at, id LIMIT ?2",
    )?;
    every(&mut stmt, params![now, limit], rows::machine_key)
}
