//! The Tessera licence verifier as the Python module `tessera` (this is its native part,
//! `tessera._tessera`; `python/tessera/__init__.py` re-exports it with type stubs beside it).
//!
//! ```python
//! import tessera
//! verifier = tessera.Verifier(["tspk1_1_…"], product=tessera.Product(1, tiers=["free", "pro"],
//!                                                                    features=["export"]))
//! licence = verifier.verify(saved_key)          # now: the system clock
//! licence.has_feature("export")
//! ```

mod errors;
mod license;

use pyo3::prelude::*;
use tessera_verifier::{
    revocations_buffer_len, LicenseBuffer, Product as Tables, PublicKey, UnixTime,
    Verifier as RustVerifier,
};

use errors::{license_error, public_key_error, revocation_error, setup_error};
use license::License;

/// A product's tables: its id, tier names from lowest to highest, feature names (bit 0 first).
#[pyclass(frozen, module = "tessera")]
#[derive(Clone, Debug)]
pub(crate) struct Product {
    #[pyo3(get)]
    id: u32,
    #[pyo3(get)]
    tiers: Vec<String>,
    #[pyo3(get)]
    features: Vec<String>,
}

#[pymethods]
impl Product {
    #[new]
    #[pyo3(signature = (id, tiers = Vec::new(), features = Vec::new()))]
    fn new(id: u32, tiers: Vec<String>, features: Vec<String>) -> PyResult<Product> {
        if tiers.len() > 256 || features.len() > 64 {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "a product has at most 256 tiers and 64 features",
            ));
        }
        Ok(Product {
            id,
            tiers,
            features,
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "Product({}, tiers={:?}, features={:?})",
            self.id, self.tiers, self.features
        )
    }
}

impl Product {
    /// Calls `body` with the tables as the Rust verifier takes them.
    pub(crate) fn with_tables<T>(&self, body: impl FnOnce(&Tables<'_>) -> T) -> T {
        let tiers: Vec<&str> = self.tiers.iter().map(String::as_str).collect();
        let features: Vec<&str> = self.features.iter().map(String::as_str).collect();
        body(&Tables {
            id: self.id,
            name: "",
            tiers: &tiers,
            features: &features,
        })
    }
}

/// A revocation list whose signature a verifier has checked (`Verifier.check_revocations`).
#[pyclass(frozen, module = "tessera")]
#[derive(Clone, Debug)]
struct RevocationList {
    text: String,
    #[pyo3(get)]
    key_id: u32,
    #[pyo3(get)]
    sequence: u64,
    #[pyo3(get)]
    issued_at: u64,
    #[pyo3(get)]
    revoked: Vec<String>,
}

/// Checks licence keys against the issuer's public keys, and optionally a product and a revocation
/// list. Immutable, so one verifier can serve every thread.
#[pyclass(frozen, module = "tessera")]
#[derive(Debug)]
struct Verifier {
    verifier: RustVerifier<'static>,
    product: Option<Product>,
    grace: bool,
}

#[pymethods]
impl Verifier {
    /// `public_keys`: texts `tspk1_<id>_<base64url>` as `tessera keygen` prints them.
    #[new]
    #[pyo3(signature = (public_keys, *, product = None, grace = true))]
    fn new(public_keys: Vec<String>, product: Option<Product>, grace: bool) -> PyResult<Verifier> {
        let keys = public_keys
            .iter()
            .enumerate()
            .map(|(index, text)| {
                PublicKey::from_text(text).map_err(|err| public_key_error(index, &err))
            })
            .collect::<PyResult<Vec<_>>>()?;
        let mut verifier = RustVerifier::new(&keys).map_err(|err| setup_error(&err))?;
        if !grace {
            verifier = verifier.without_grace();
        }
        Ok(Verifier {
            verifier,
            product,
            grace,
        })
    }

    /// Checks a revocation list's signature (and, with `last_seen`, that it is not older than the
    /// last one accepted) for use with `verify(..., revocations=...)`.
    #[pyo3(signature = (text, *, last_seen = None))]
    fn check_revocations(&self, text: String, last_seen: Option<u64>) -> PyResult<RevocationList> {
        let mut buf = vec![0; revocations_buffer_len(text.len() / 8 + 1)];
        let list = self
            .verifier
            .check_revocations(&text, &mut buf, last_seen)
            .map_err(|err| revocation_error(&err))?;
        Ok(RevocationList {
            key_id: list.key_id,
            sequence: list.sequence,
            issued_at: list.issued_at.0,
            revoked: list.iter().map(|id| id.to_hex().to_string()).collect(),
            text,
        })
    }

    /// Verifies a licence key's text at `now` (Unix seconds; default: the system clock). Returns the
    /// licence, or raises a `LicenseError` subclass saying why it is not valid.
    #[pyo3(signature = (key, *, now = None, revocations = None))]
    fn verify(
        &self,
        key: &str,
        now: Option<u64>,
        revocations: Option<Bound<'_, PyAny>>,
    ) -> PyResult<License> {
        let now = now.map_or_else(tessera_verifier::system_now, UnixTime);
        let list = match revocations {
            None => None,
            Some(list) => Some(match list.cast::<RevocationList>() {
                Ok(checked) => checked.get().clone(),
                Err(_) => self.check_revocations(list.extract()?, None)?,
            }),
        };
        let mut list_buf = Vec::new();
        let mut verifier = self.verifier.clone();
        if let Some(list) = &list {
            list_buf.resize(revocations_buffer_len(list.revoked.len()), 0);
            let decoded = tessera_keys::decode_revocations(&list.text, &mut list_buf)
                .map_err(|err| revocation_error(&err.into()))?;
            verifier = verifier.with_revocations(decoded.list);
        }
        let mut buf = LicenseBuffer::new();
        match &self.product {
            Some(product) => product.with_tables(|tables| {
                let verified = verifier
                    .for_product(tables)
                    .verify(key, now, &mut buf)
                    .map_err(|err| license_error(&err))?;
                Ok(License::new(&verified, Some(product.clone())))
            }),
            None => {
                let verified = verifier
                    .verify(key, now, &mut buf)
                    .map_err(|err| license_error(&err))?;
                Ok(License::new(&verified, None))
            }
        }
    }

    #[getter]
    fn product(&self) -> Option<Product> {
        self.product.clone()
    }

    #[getter]
    fn grace(&self) -> bool {
        self.grace
    }
}

/// The system clock in Unix seconds.
#[pyfunction]
fn system_now() -> u64 {
    tessera_verifier::system_now().0
}

#[pymodule]
fn _tessera(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<Product>()?;
    module.add_class::<RevocationList>()?;
    module.add_class::<Verifier>()?;
    module.add_class::<License>()?;
    module.add_function(wrap_pyfunction!(system_now, module)?)?;
    errors::add_to(module)?;
    Ok(())
}
