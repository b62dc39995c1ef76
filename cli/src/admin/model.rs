//! The issuer's answers (`issuer/ADMIN-API.md`), read for the human output. `--json` prints the
//! answer itself, so fields the issuer adds later pass through there; here they are ignored.

use serde::Deserialize;
use serde_json::Value;

pub(crate) use crate::machines::Machine;

/// AdminLicense.
#[derive(Debug, Deserialize)]
pub(crate) struct License {
    pub(crate) id: String,
    pub(crate) product: u32,
    pub(crate) product_name: Option<String>,
    pub(crate) tier: u8,
    pub(crate) tier_name: Option<String>,
    #[serde(default)]
    pub(crate) features: Vec<String>,
    pub(crate) status: String,
    pub(crate) expires_at: Option<i64>,
    pub(crate) email: Option<String>,
    pub(crate) customer_id: Option<String>,
    pub(crate) checkout_session_id: Option<String>,
    pub(crate) subscription_id: Option<String>,
    pub(crate) payment_intent_id: Option<String>,
    pub(crate) price_id: Option<String>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
}

/// IssuedKey.
#[derive(Debug, Deserialize)]
pub(crate) struct IssuedKey {
    pub(crate) key: String,
    pub(crate) signing_key_id: u32,
    pub(crate) issued_at: i64,
    pub(crate) expires_at: Option<i64>,
    pub(crate) reason: String,
}

/// The subscription behind a licence.
#[derive(Debug, Deserialize)]
pub(crate) struct Subscription {
    pub(crate) id: String,
    pub(crate) customer_id: Option<String>,
    pub(crate) price_id: Option<String>,
    pub(crate) paid_through: Option<i64>,
    pub(crate) canceled_at: Option<i64>,
}

/// Credits.
#[derive(Debug, Deserialize)]
pub(crate) struct Credits {
    pub(crate) license_id: String,
    pub(crate) balances: Balances,
    pub(crate) period: Period,
    #[serde(default)]
    pub(crate) reservations: Vec<Reservation>,
}

/// A licence's balances.
#[derive(Debug, Deserialize)]
pub(crate) struct Balances {
    pub(crate) period: u64,
    pub(crate) top_up: u64,
    pub(crate) available: u64,
    pub(crate) reserved: u64,
    pub(crate) period_reserved: u64,
    pub(crate) top_up_reserved: u64,
}

/// A licence's paid period.
#[derive(Debug, Deserialize)]
pub(crate) struct Period {
    pub(crate) start: Option<i64>,
    pub(crate) end: Option<i64>,
}

/// An open reservation.
#[derive(Debug, Deserialize)]
pub(crate) struct Reservation {
    pub(crate) id: String,
    pub(crate) status: String,
    pub(crate) amount: u64,
    pub(crate) reference: Option<String>,
    pub(crate) created_at: i64,
    pub(crate) expires_at: i64,
}

/// Event: a Stripe delivery.
#[derive(Debug, Deserialize)]
pub(crate) struct Event {
    pub(crate) id: String,
    #[serde(rename = "type")]
    pub(crate) event_type: String,
    pub(crate) status: String,
    pub(crate) error: Option<String>,
    pub(crate) attempts: u32,
    pub(crate) received_at: i64,
    pub(crate) processed_at: Option<i64>,
}

/// AuditEntry.
#[derive(Debug, Deserialize)]
pub(crate) struct AuditEntry {
    pub(crate) id: i64,
    pub(crate) at: i64,
    pub(crate) actor: String,
    pub(crate) action: String,
    pub(crate) license_id: Option<String>,
    pub(crate) reason: Option<String>,
    #[serde(default)]
    pub(crate) details: Value,
}

/// `GET /v1/admin/licenses?…`.
#[derive(Debug, Deserialize)]
pub(crate) struct Found {
    pub(crate) licenses: Vec<License>,
}

/// `GET /v1/admin/licenses/{id}`.
#[derive(Debug, Deserialize)]
pub(crate) struct Shown {
    pub(crate) license: License,
    pub(crate) keys: Vec<IssuedKey>,
    pub(crate) subscription: Option<Subscription>,
    pub(crate) credits: Credits,
    pub(crate) webhook_events: Vec<Event>,
    pub(crate) audit: Vec<AuditEntry>,
    /// Absent from issuers older than machine activation.
    pub(crate) machines: Option<LicenseMachines>,
}

/// A licence's seat policy.
#[derive(Debug, Deserialize)]
pub(crate) struct SeatsView {
    pub(crate) max_machines: Option<u32>,
    pub(crate) lease_days: Option<u32>,
    pub(crate) floating: bool,
    pub(crate) heartbeat_seconds: Option<u32>,
    pub(crate) max_deactivations_per_30_days: Option<u32>,
}

/// `GET /v1/admin/licenses/{id}/machines`.
#[derive(Debug, Deserialize)]
pub(crate) struct LicenseMachines {
    pub(crate) license_id: String,
    pub(crate) seats: Option<SeatsView>,
    pub(crate) active: usize,
    pub(crate) machines: Vec<Machine>,
}

/// `GET /v1/admin/machines/{id}`, `POST …/deactivate`.
#[derive(Debug, Deserialize)]
pub(crate) struct MachineDetail {
    pub(crate) machine: AdminMachine,
}

/// A machine with the licence whose seat it holds (or held).
#[derive(Debug, Deserialize)]
pub(crate) struct AdminMachine {
    #[serde(flatten)]
    pub(crate) machine: Machine,
    pub(crate) license_id: String,
}

/// `POST /v1/admin/machines/offline`.
#[derive(Debug, Deserialize)]
pub(crate) struct MachineActivated {
    pub(crate) machine: Machine,
    pub(crate) certificate: String,
}

/// `POST /v1/admin/licenses/{id}/seats`.
#[derive(Debug, Deserialize)]
pub(crate) struct SeatsChanged {
    pub(crate) license: License,
    pub(crate) seats: SeatsView,
}

/// A changed licence, with its new key, revocation list sequence or e-mail outcome where the change
/// has one.
#[derive(Debug, Deserialize)]
pub(crate) struct Changed {
    pub(crate) license: License,
    pub(crate) key: Option<String>,
    pub(crate) emailed: Option<bool>,
    pub(crate) revocation_sequence: Option<u64>,
}

/// `GET …/credits/ledger`.
#[derive(Debug, Deserialize)]
pub(crate) struct LedgerPage {
    pub(crate) entries: Vec<LedgerEntry>,
    pub(crate) next_cursor: Option<String>,
}

/// A ledger row.
#[derive(Debug, Deserialize)]
pub(crate) struct LedgerEntry {
    pub(crate) id: i64,
    pub(crate) kind: String,
    pub(crate) period: i64,
    pub(crate) top_up: i64,
    pub(crate) period_reserved: i64,
    pub(crate) top_up_reserved: i64,
    pub(crate) used: u64,
    pub(crate) reason: String,
    pub(crate) reference: Option<String>,
    pub(crate) at: i64,
}

/// `GET /v1/admin/credits/check`.
#[derive(Debug, Deserialize)]
pub(crate) struct Check {
    pub(crate) consistent: bool,
    pub(crate) mismatches: Vec<Mismatch>,
}

/// An account that differs from its ledger.
#[derive(Debug, Deserialize)]
pub(crate) struct Mismatch {
    pub(crate) license_id: String,
    pub(crate) cached: [i64; 4],
    pub(crate) ledger: [i64; 4],
    pub(crate) open_reservations: [i64; 2],
}

/// `GET /v1/admin/webhooks`.
#[derive(Debug, Deserialize)]
pub(crate) struct Events {
    pub(crate) events: Vec<Event>,
}

/// `GET /v1/admin/webhooks/{event_id}`.
#[derive(Debug, Deserialize)]
pub(crate) struct EventShown {
    pub(crate) event: Event,
    pub(crate) payload: Value,
    pub(crate) licenses: Vec<String>,
}

/// `POST /v1/admin/webhooks/{event_id}/retry`.
#[derive(Debug, Deserialize)]
pub(crate) struct Retried {
    pub(crate) event_id: String,
    pub(crate) status: String,
}

/// `POST /v1/admin/keys/rotate`.
#[derive(Debug, Deserialize)]
pub(crate) struct Rotated {
    pub(crate) active_key_id: u32,
    pub(crate) public_key: String,
    pub(crate) keys: Vec<PublishedKey>,
}

/// A public key apps trust.
#[derive(Debug, Deserialize)]
pub(crate) struct PublishedKey {
    pub(crate) key_id: u32,
    pub(crate) public_key: String,
    pub(crate) active: bool,
}

/// `GET /v1/admin/audit`.
#[derive(Debug, Deserialize)]
pub(crate) struct Audit {
    pub(crate) entries: Vec<AuditEntry>,
}
