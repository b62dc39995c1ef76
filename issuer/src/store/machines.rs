//! Machine activation as stored: a licence's seat policy and the machines that hold its seats.
//!
//! The rules that move seats ([`crate::machines::rules`]) are written once over the [`Tx`]
//! primitives both backends give for these records.
//!
//! [`Tx`]: super::Tx

use tessera_keys::LicenseId;

use super::Timestamp;

/// How many machines a licence may activate, and how their certificates last. Kept on the licence
/// record, so that support can change it per licence; a renewal keeps it, a plan change takes the
/// new plan's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeatPolicy {
    /// At most this many active machines; `None`: no limit (support lifted it), certificates are
    /// still needed.
    pub max_machines: Option<u32>,
    /// A certificate works offline this many days before the app renews it; `None`: it does not
    /// expire on its own. Ignored for floating seats, whose lease follows the heartbeat.
    pub lease_days: Option<u32>,
    /// Floating seats: a machine heart-beats every this many seconds, and its seat is freed once it
    /// has not for twice as long.
    pub heartbeat_seconds: Option<u32>,
    /// At most this many self-service deactivations in any 30 days; `None`: no cap.
    pub max_deactivations_per_30_days: Option<u32>,
}

impl SeatPolicy {
    /// Whether seats float (are freed when their machine stops heart-beating).
    pub fn floating(&self) -> bool {
        self.heartbeat_seconds.is_some()
    }

    /// The lease a certificate issued at `now` carries, and when a floating seat lapses unless it
    /// heart-beats again: both `now + 2 × heartbeat_seconds` for floating seats; `lease_days` (or no
    /// end) and never for fixed ones.
    pub fn lease_from(&self, now: Timestamp) -> (Option<Timestamp>, Option<Timestamp>) {
        match self.heartbeat_seconds {
            Some(seconds) => {
                let end = now.saturating_add(2 * i64::from(seconds));
                (Some(end), Some(end))
            }
            None => (
                self.lease_days
                    .map(|days| now.saturating_add(i64::from(days) * 86_400)),
                None,
            ),
        }
    }
}

/// Why a machine stopped holding a seat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deactivation {
    /// The customer freed it (`DELETE /v1/machines/{id}`): counts toward the 30-day cap.
    Customer,
    /// Support freed it.
    Admin,
    /// A floating seat whose machine stopped heart-beating.
    Lapsed,
}

impl Deactivation {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Deactivation::Customer => "customer",
            Deactivation::Admin => "admin",
            Deactivation::Lapsed => "lapsed",
        }
    }

    /// The deactivation stored as `name`.
    pub fn from_name(name: &str) -> Option<Deactivation> {
        [
            Deactivation::Customer,
            Deactivation::Admin,
            Deactivation::Lapsed,
        ]
        .into_iter()
        .find(|how| how.as_str() == name)
    }
}

/// A machine activated for a licence. Rows are kept after deactivation, as history and for the
/// deactivation cap; a machine activated again later gets a new row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Machine {
    /// `m_…`: opaque.
    pub id: String,
    /// The licence whose seat it holds (or held).
    pub license_id: LicenseId,
    /// The machine's fingerprint hash, 64 lower-case hex digits.
    pub fingerprint: String,
    /// What the customer calls it.
    pub name: Option<String>,
    /// Its platform, as the app says it (`linux`, `macos`, …).
    pub platform: Option<String>,
    /// When it was activated.
    pub activated_at: Timestamp,
    /// When it last activated again or heart-beat.
    pub last_seen_at: Timestamp,
    /// When its newest certificate's lease ends; `None`: never.
    pub lease_ends_at: Option<Timestamp>,
    /// Floating seats: when the seat is freed unless the machine heart-beats before.
    pub lapses_at: Option<Timestamp>,
    /// When it stopped holding a seat; `None` while it holds one.
    pub deactivated_at: Option<Timestamp>,
    /// How it stopped.
    pub deactivated_how: Option<Deactivation>,
}

impl Machine {
    /// Whether it holds a seat at `now`: not deactivated, and (floating) not lapsed.
    pub fn holds_seat(&self, now: Timestamp) -> bool {
        self.deactivated_at.is_none() && self.lapses_at.is_none_or(|at| at > now)
    }
}

/// The longest machine name kept, in characters.
pub const MAX_MACHINE_NAME: usize = 64;
/// The longest platform kept, in characters.
pub const MAX_MACHINE_PLATFORM: usize = 32;
