//! A licence that passed verification, and questions an app asks of it.

use tessera_keys::{Claims, LicenseId, Product, UnixTime};

/// A verified licence: its claims, borrowed from the caller's buffer, and the time it was checked at.
#[derive(Clone, Copy, Debug)]
pub struct License<'a> {
    claims: Claims<'a>,
    product: Option<&'a Product<'a>>,
    checked_at: UnixTime,
}

/// Where a verified licence stands in its lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validity {
    /// The licence never expires.
    Perpetual,
    /// The licence is valid until `expires_at`.
    Active {
        /// When it expires.
        expires_at: UnixTime,
        /// Seconds from the check until expiry.
        seconds_left: u64,
    },
    /// The licence has expired but is within its grace period: keep working, ask for renewal.
    Grace {
        /// When it expired.
        expired_at: UnixTime,
        /// When the grace period ends and the licence stops working.
        grace_ends_at: UnixTime,
    },
}

impl<'a> License<'a> {
    pub(crate) fn new(
        claims: Claims<'a>,
        product: Option<&'a Product<'a>>,
        checked_at: UnixTime,
    ) -> Self {
        License {
            claims,
            product,
            checked_at,
        }
    }

    /// Everything the licence says.
    pub fn claims(&self) -> &Claims<'a> {
        &self.claims
    }

    /// The licence's id, as support staff and revocation lists know it.
    pub fn license_id(&self) -> LicenseId {
        self.claims.license_id
    }

    /// The licensee's name, if the licence carries one.
    pub fn licensee(&self) -> Option<&'a str> {
        self.claims.licensee
    }

    /// The tier's name, if the verifier knows the product's tier ladder.
    pub fn tier_name(&self) -> Option<&'a str> {
        self.product?.tier_name(self.claims.tier)
    }

    /// Whether the licence grants feature `name` of the verifier's product.
    ///
    /// A name the product does not list is never granted; so is every name when the verifier was not
    /// given a product table.
    pub fn has_feature(&self, name: &str) -> bool {
        self.product
            .and_then(|product| product.feature_bit(name))
            .is_some_and(|bit| self.claims.features.contains(bit))
    }

    /// Whether the licence grants the feature with bit `bit`.
    pub fn has_feature_bit(&self, bit: u8) -> bool {
        self.claims.features.contains(bit)
    }

    /// Whether the licence's tier is `name` or a higher one in the product's ladder; `false` for a name
    /// the product does not list.
    pub fn tier_at_least(&self, name: &str) -> bool {
        self.product
            .and_then(|product| product.tier_index(name))
            .is_some_and(|minimum| self.claims.tier >= minimum)
    }

    /// Where the licence stands at the time it was checked.
    pub fn validity(&self) -> Validity {
        match (self.claims.expires_at, self.claims.grace_ends_at()) {
            (Some(expires_at), _) if self.checked_at < expires_at => Validity::Active {
                expires_at,
                seconds_left: self.checked_at.seconds_until(expires_at),
            },
            (Some(expired_at), Some(grace_ends_at)) => Validity::Grace {
                expired_at,
                grace_ends_at,
            },
            _ => Validity::Perpetual,
        }
    }
}
