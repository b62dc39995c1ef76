//! The seat rules, written once over [`Tx`] and run by every storage backend: a machine activates
//! only while its licence has a free seat, the same machine activating again keeps its seat and its
//! id, a heartbeat renews the lease of a machine that still holds its seat, a floating seat is freed
//! once its machine has not heart-beaten for twice its interval, and self-service deactivations are
//! capped per 30 days.
//!
//! Every function runs inside one write transaction and begins with [`Tx::lock_machines`], so two
//! activations of one licence (in one process or several) never count the same free seat.

use tessera_keys::LicenseId;

use crate::store::{
    Credited, Deactivation, LicenseRecord, Machine, Refused, SeatPolicy, StoreError, Timestamp, Tx,
};

/// Thirty days, the window of the deactivation cap.
pub const DEACTIVATION_WINDOW: Timestamp = 30 * 86_400;

/// A machine asking for a seat, as checked by the HTTP layer. Owned: it travels to the store's
/// writer.
#[derive(Clone, Debug)]
pub struct ActivationRequest {
    /// The licence whose seat it wants.
    pub license_id: LicenseId,
    /// Its fingerprint hash, 64 lower-case hex digits.
    pub fingerprint: String,
    /// What the customer calls it.
    pub name: Option<String>,
    /// Its platform.
    pub platform: Option<String>,
    /// Now.
    pub now: Timestamp,
}

/// What an activation came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Activation {
    /// A new machine, holding a seat that was free.
    New(Machine),
    /// The machine already held a seat: the same machine, its lease renewed.
    Again(Machine),
    /// Every seat is held; by these machines.
    TooMany {
        /// The licence's seat count.
        max_machines: u32,
        /// The machines holding its seats, oldest first.
        machines: Vec<Machine>,
    },
    /// The licence's keys need no activation (or the issuer has no record of it).
    NotRequired,
}

/// What a deactivation came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deactivated {
    /// Freed now (or freed before, by the same hand: a retry).
    Freed(Machine),
    /// No machine by that id holds a seat of the licence.
    NotFound,
    /// The customer has freed as many seats in the last 30 days as the plan allows.
    TooMany {
        /// The plan's cap.
        cap: u32,
    },
}

/// The licence `id` and its seat policy, unless its record refuses it (revoked, suspended).
fn standing(
    tx: &mut dyn Tx,
    id: &LicenseId,
) -> Result<Credited<Option<(LicenseRecord, SeatPolicy)>>, StoreError> {
    let Some(license) = tx.license(id)? else {
        return Ok(Ok(None));
    };
    if let Some(refused) = Refused::of(Some(license.status)) {
        return Ok(Err(refused));
    }
    Ok(Ok(license.seats.map(|seats| (license, seats))))
}

/// Activates the machine `r` describes, if the licence has a free seat (or it holds one already).
pub fn activate(
    tx: &mut dyn Tx,
    r: &ActivationRequest,
) -> Result<Credited<Activation>, StoreError> {
    tx.lock_machines(&r.license_id)?;
    let (_, policy) = match standing(tx, &r.license_id)? {
        Err(refused) => return Ok(Err(refused)),
        Ok(None) => return Ok(Ok(Activation::NotRequired)),
        Ok(Some(found)) => found,
    };
    let mut holding = Vec::new();
    for machine in tx.active_machines(&r.license_id)? {
        if machine.holds_seat(r.now) {
            holding.push(machine);
        } else {
            // Lapsed and not yet swept: its seat is free now, whatever the sweeper's timing.
            free(tx, machine, Deactivation::Lapsed, r.now)?;
        }
    }
    let (lease_ends_at, lapses_at) = policy.lease_from(r.now);
    if let Some(mut machine) = holding
        .iter()
        .find(|m| m.fingerprint == r.fingerprint)
        .cloned()
    {
        machine.last_seen_at = r.now;
        machine.lease_ends_at = lease_ends_at;
        machine.lapses_at = lapses_at;
        machine.name = r.name.clone().or(machine.name);
        machine.platform = r.platform.clone().or(machine.platform);
        tx.update_machine(&machine)?;
        return Ok(Ok(Activation::Again(machine)));
    }
    if let Some(max_machines) = policy.max_machines {
        if holding.len() >= max_machines as usize {
            return Ok(Ok(Activation::TooMany {
                max_machines,
                machines: holding,
            }));
        }
    }
    let machine = Machine {
        id: new_machine_id(),
        license_id: r.license_id,
        fingerprint: r.fingerprint.clone(),
        name: r.name.clone(),
        platform: r.platform.clone(),
        activated_at: r.now,
        last_seen_at: r.now,
        lease_ends_at,
        lapses_at,
        deactivated_at: None,
        deactivated_how: None,
    };
    tx.insert_machine(&machine)?;
    Ok(Ok(Activation::New(machine)))
}

/// Renews the lease of machine `machine_id` of licence `id`; `None` if it holds no seat (never
/// did, was freed, or lapsed: the app activates again).
pub fn heartbeat(
    tx: &mut dyn Tx,
    id: &LicenseId,
    machine_id: &str,
    now: Timestamp,
) -> Result<Credited<Option<Machine>>, StoreError> {
    tx.lock_machines(id)?;
    let policy = match standing(tx, id)? {
        Err(refused) => return Ok(Err(refused)),
        Ok(found) => found.map(|(_, policy)| policy).unwrap_or_default(),
    };
    let Some(mut machine) = held_by(tx, id, machine_id)? else {
        return Ok(Ok(None));
    };
    if !machine.holds_seat(now) {
        free(tx, machine, Deactivation::Lapsed, now)?;
        return Ok(Ok(None));
    }
    let (lease_ends_at, lapses_at) = policy.lease_from(now);
    machine.last_seen_at = now;
    machine.lease_ends_at = lease_ends_at;
    machine.lapses_at = lapses_at;
    tx.update_machine(&machine)?;
    Ok(Ok(Some(machine)))
}

/// Frees the seat of machine `machine_id` of licence `id` at the customer's request, within the
/// plan's 30-day cap. A repeat of a deactivation that already happened answers the freed machine.
pub fn deactivate(
    tx: &mut dyn Tx,
    id: &LicenseId,
    machine_id: &str,
    now: Timestamp,
) -> Result<Credited<Deactivated>, StoreError> {
    tx.lock_machines(id)?;
    let policy = match standing(tx, id)? {
        Err(refused) => return Ok(Err(refused)),
        Ok(found) => found.map(|(_, policy)| policy).unwrap_or_default(),
    };
    let Some(machine) = tx.machine(machine_id)?.filter(|m| m.license_id == *id) else {
        return Ok(Ok(Deactivated::NotFound));
    };
    if machine.deactivated_how == Some(Deactivation::Customer) {
        return Ok(Ok(Deactivated::Freed(machine)));
    }
    if machine.deactivated_at.is_some() {
        return Ok(Ok(Deactivated::NotFound));
    }
    if let Some(cap) = policy.max_deactivations_per_30_days {
        let recent =
            tx.deactivations_since(id, Deactivation::Customer, now - DEACTIVATION_WINDOW)?;
        if recent >= cap {
            return Ok(Ok(Deactivated::TooMany { cap }));
        }
    }
    Ok(Ok(Deactivated::Freed(free(
        tx,
        machine,
        Deactivation::Customer,
        now,
    )?)))
}

/// Frees machine `machine_id`'s seat as support asked, whatever its licence's state or cap; `None`
/// if no such machine holds a seat.
pub fn deactivate_by_support(
    tx: &mut dyn Tx,
    machine_id: &str,
    now: Timestamp,
) -> Result<Option<Machine>, StoreError> {
    let Some(found) = tx.machine(machine_id)? else {
        return Ok(None);
    };
    tx.lock_machines(&found.license_id)?;
    // Read again under the lock: another transaction may have freed it meanwhile.
    match held_by(tx, &found.license_id, machine_id)? {
        Some(machine) => Ok(Some(free(tx, machine, Deactivation::Admin, now)?)),
        None => Ok(None),
    }
}

/// Frees up to `limit` floating seats whose machines stopped heart-beating before `now`; returns
/// how many. Each is read again under its licence's lock, so a machine that heart-beat meanwhile
/// (in another process) keeps its seat.
pub fn free_lapsed(tx: &mut dyn Tx, now: Timestamp, limit: u32) -> Result<usize, StoreError> {
    let mut lapsed = tx.lapsed_machines(now, limit)?;
    // One transaction takes several licences' locks: always in licence order, so that two
    // sweepers (in two processes) never wait for each other in a circle.
    lapsed.sort_by(|a, b| a.0 .0.cmp(&b.0 .0).then_with(|| a.1.cmp(&b.1)));
    let mut freed = 0;
    for (license_id, machine_id) in lapsed {
        tx.lock_machines(&license_id)?;
        let Some(machine) = held_by(tx, &license_id, &machine_id)? else {
            continue;
        };
        if machine.holds_seat(now) {
            continue;
        }
        free(tx, machine, Deactivation::Lapsed, now)?;
        freed += 1;
    }
    Ok(freed)
}

/// Machine `machine_id` if it belongs to licence `id` and is not deactivated.
fn held_by(
    tx: &mut dyn Tx,
    id: &LicenseId,
    machine_id: &str,
) -> Result<Option<Machine>, StoreError> {
    Ok(tx
        .machine(machine_id)?
        .filter(|m| m.license_id == *id && m.deactivated_at.is_none()))
}

/// Marks `machine` deactivated `how` at `now`, and stores it.
fn free(
    tx: &mut dyn Tx,
    mut machine: Machine,
    how: Deactivation,
    now: Timestamp,
) -> Result<Machine, StoreError> {
    machine.deactivated_at = Some(now);
    machine.deactivated_how = Some(how);
    tx.update_machine(&machine)?;
    Ok(machine)
}

/// A new machine id: `m_` and 24 hex digits, random.
fn new_machine_id() -> String {
    use std::fmt::Write;
    rand::random::<[u8; 12]>()
        .iter()
        .fold(String::from("m_"), |mut id, byte| {
            let _ = write!(id, "{byte:02x}");
            id
        })
}
