//! What support staff look up and change through the admin API, and the audit trail of the changes.

use tessera_keys::LicenseId;

use super::Timestamp;

/// How support finds a licence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LicenseQuery {
    /// The buyer's e-mail address (exact, case-insensitive).
    Email(String),
    /// The Stripe customer, `cus_…`.
    Customer(String),
    /// The Stripe subscription, `sub_…`.
    Subscription(String),
    /// The Checkout Session that bought it, `cs_…`.
    CheckoutSession(String),
    /// The licence id (from a key the customer pasted).
    Id(LicenseId),
}

/// An audit entry to write with a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAuditEntry<'a> {
    /// When.
    pub at: Timestamp,
    /// The admin token's name.
    pub actor: &'a str,
    /// What: `license.revoke`, `credits.grant`, …
    pub action: &'a str,
    /// On which licence, if one.
    pub license_id: Option<LicenseId>,
    /// Why, as the operator said.
    pub reason: Option<&'a str>,
    /// The particulars, as a JSON object.
    pub details: String,
}

/// An audit entry as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// Increasing with time.
    pub id: i64,
    /// When.
    pub at: Timestamp,
    /// The admin token's name.
    pub actor: String,
    /// What.
    pub action: String,
    /// On which licence (hex), if one.
    pub license_id: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// The particulars, a JSON object.
    pub details: String,
}
