//! A verified licence as an immutable Python object.

use std::sync::Arc;

use pyo3::prelude::*;
use tessera_bindings_shared::Tables;
use tessera_verifier::Validity;

/// A licence that passed verification: what it says, and where it stands at the time of the check.
#[pyclass(frozen, module = "tessera")]
#[derive(Debug)]
pub(crate) struct License {
    /// The licence's id, 16 lowercase hex digits.
    #[pyo3(get)]
    license_id: String,
    #[pyo3(get)]
    key_id: u32,
    #[pyo3(get)]
    product: u32,
    /// Index into the product's tier ladder.
    #[pyo3(get)]
    tier: u8,
    /// The tier's name, if the verifier was given the product's tables.
    #[pyo3(get)]
    tier_name: Option<String>,
    /// Names of the granted features the product lists (empty without the product's tables).
    #[pyo3(get)]
    features: Vec<String>,
    /// Every granted feature as a bit set: bit n is the product's feature n.
    #[pyo3(get)]
    feature_bits: u64,
    #[pyo3(get)]
    issued_at: u64,
    #[pyo3(get)]
    not_before: Option<u64>,
    #[pyo3(get)]
    expires_at: Option<u64>,
    #[pyo3(get)]
    grace_seconds: Option<u32>,
    /// When the grace period ends (the expiry, without grace); `None` for a perpetual licence.
    #[pyo3(get)]
    grace_ends_at: Option<u64>,
    #[pyo3(get)]
    licensee: Option<String>,
    /// "perpetual", "active" or "grace" (expired, but within the grace period).
    #[pyo3(get)]
    validity: &'static str,
    tables: Option<Arc<Tables>>,
}

impl License {
    pub(crate) fn new(
        license: &tessera_verifier::License<'_>,
        tables: Option<Arc<Tables>>,
    ) -> License {
        let claims = license.claims();
        let features = tables
            .as_ref()
            .map_or_else(Vec::new, |tables| tables.feature_names(claims.features.0));
        License {
            license_id: claims.license_id.to_hex().to_string(),
            key_id: claims.key_id,
            product: claims.product,
            tier: claims.tier,
            tier_name: license.tier_name().map(str::to_owned),
            features,
            feature_bits: claims.features.0,
            issued_at: claims.issued_at.0,
            not_before: claims.not_before.map(|time| time.0),
            expires_at: claims.expires_at.map(|time| time.0),
            grace_seconds: claims.grace_seconds,
            grace_ends_at: claims.grace_ends_at().map(|time| time.0),
            licensee: claims.licensee.map(str::to_owned),
            validity: match license.validity() {
                Validity::Perpetual => "perpetual",
                Validity::Active { .. } => "active",
                Validity::Grace { .. } => "grace",
            },
            tables,
        }
    }
}

#[pymethods]
impl License {
    /// Whether the licence is in its grace period: expired, still working, renewal due.
    #[getter]
    fn in_grace(&self) -> bool {
        self.validity == "grace"
    }

    /// Whether the licence grants feature `name` of the verifier's product (False for a name the
    /// product does not list, or without the product's tables).
    fn has_feature(&self, name: &str) -> bool {
        self.tables
            .as_ref()
            .is_some_and(|tables| tables.grants(self.feature_bits, name))
    }

    /// Whether the licence's tier is `name` or higher in the product's tier ladder.
    fn tier_at_least(&self, name: &str) -> bool {
        self.tables
            .as_ref()
            .is_some_and(|tables| tables.tier_at_least(self.tier, name))
    }

    fn __repr__(&self) -> String {
        format!(
            "License(license_id={:?}, product={}, tier={}, validity={:?})",
            self.license_id, self.product, self.tier, self.validity
        )
    }
}
