//! The Tessera licence verifier as the Python module `tessera` (this is its native part,
//! `tessera._tessera`; `python/tessera/__init__.py` re-exports it with type stubs beside it).
//!
//! ```python
//! import tessera
//! verifier = tessera.Verifier(["tspk1_1_…"], product=tessera.Product(1, tiers=["free", "pro"],
//!                                                                    features=["export"]))
//! licence = verifier.verify(saved_key)          # now: the system clock
//! licence.has_feature("export")
//! activated = verifier.verify_activated(saved_key, saved_certificate,
//!                                       tessera.machine_fingerprint(1), last_seen=kept_time)
//! ```

mod activation;
mod errors;
mod license;

use std::sync::Arc;

use pyo3::prelude::*;
use tessera_bindings_shared::{ActivationCheck, CheckedList, Tables};
use tessera_verifier::{PublicKey, UnixTime, Verifier as RustVerifier};

use activation::{fingerprint_arg, ActivatedLicense};
use errors::{public_key_error, refusal_error, revocation_error, setup_error};
use license::License;

/// A product's tables: its id, tier names from lowest to highest, feature names (bit 0 first).
#[pyclass(frozen, module = "tessera")]
#[derive(Clone, Debug)]
pub(crate) struct Product {
    tables: Arc<Tables>,
}

#[pymethods]
impl Product {
    #[new]
    #[pyo3(signature = (id, tiers = Vec::new(), features = Vec::new()))]
    fn new(id: u32, tiers: Vec<String>, features: Vec<String>) -> PyResult<Product> {
        let tables = Tables::new(id, tiers, features).ok_or_else(|| {
            pyo3::exceptions::PyValueError::new_err(
                "a product has at most 256 tiers and 64 features",
            )
        })?;
        Ok(Product { tables })
    }

    #[getter]
    fn id(&self) -> u32 {
        self.tables.id
    }

    #[getter]
    fn tiers(&self) -> Vec<String> {
        self.tables.tiers.clone()
    }

    #[getter]
    fn features(&self) -> Vec<String> {
        self.tables.features.clone()
    }

    fn __repr__(&self) -> String {
        format!(
            "Product({}, tiers={:?}, features={:?})",
            self.tables.id, self.tables.tiers, self.tables.features
        )
    }
}

/// A revocation list whose signature a verifier has checked (`Verifier.check_revocations`).
#[pyclass(frozen, module = "tessera")]
#[derive(Clone, Debug)]
struct RevocationList {
    list: CheckedList,
}

#[pymethods]
impl RevocationList {
    #[getter]
    fn key_id(&self) -> u32 {
        self.list.key_id
    }

    #[getter]
    fn sequence(&self) -> u64 {
        self.list.sequence
    }

    #[getter]
    fn issued_at(&self) -> u64 {
        self.list.issued_at
    }

    #[getter]
    fn revoked(&self) -> Vec<String> {
        self.list.revoked.clone()
    }
}

/// Checks licence keys against the issuer's public keys, and optionally a product and a revocation
/// list. Immutable, so one verifier can serve every thread.
#[pyclass(frozen, module = "tessera")]
#[derive(Debug)]
struct Verifier {
    verifier: RustVerifier<'static>,
    product: Option<Product>,
    grace: bool,
    clock_tolerance: u64,
}

#[pymethods]
impl Verifier {
    /// `public_keys`: texts `tspk1_<id>_<base64url>` as `tessera keygen` prints them.
    /// `clock_tolerance`: how many seconds the clock may read behind `last_seen`, or behind when a
    /// key or certificate was issued, in `verify_activated` (default: the Rust verifier's, an hour).
    #[new]
    #[pyo3(signature = (public_keys, *, product = None, grace = true, clock_tolerance = None))]
    fn new(
        public_keys: Vec<String>,
        product: Option<Product>,
        grace: bool,
        clock_tolerance: Option<u64>,
    ) -> PyResult<Verifier> {
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
        let clock_tolerance =
            clock_tolerance.unwrap_or(tessera_verifier::DEFAULT_CLOCK_TOLERANCE_SECONDS);
        verifier = verifier.with_clock_tolerance(clock_tolerance);
        Ok(Verifier {
            verifier,
            product,
            grace,
            clock_tolerance,
        })
    }

    /// Checks a revocation list's signature (and, with `last_seen`, that it is not older than the
    /// last one accepted) for use with `verify(..., revocations=...)`.
    #[pyo3(signature = (text, *, last_seen = None))]
    fn check_revocations(&self, text: &str, last_seen: Option<u64>) -> PyResult<RevocationList> {
        let list = tessera_bindings_shared::check_revocations(&self.verifier, text, last_seen)
            .map_err(|err| revocation_error(&err))?;
        Ok(RevocationList { list })
    }

    /// Verifies a licence key's text at `now` (Unix seconds; default: the system clock). Returns the
    /// licence, or raises a `LicenseError` subclass saying why it is not valid. `revocations`: a list
    /// from `check_revocations`, or a list's text (checked on this call).
    #[pyo3(signature = (key, now = None, revocations = None))]
    fn verify(
        &self,
        key: &str,
        now: Option<u64>,
        revocations: Option<Bound<'_, PyAny>>,
    ) -> PyResult<License> {
        let now = now.map_or_else(tessera_verifier::system_now, UnixTime);
        let list = self.revocation_list(revocations)?;
        let tables = self.product.as_ref().map(|product| &product.tables);
        tessera_bindings_shared::verify(
            &self.verifier,
            tables.map(Arc::as_ref),
            list.as_ref(),
            key,
            now,
            |verified| License::new(verified, tables.cloned()),
        )
        .map_err(|refusal| refusal_error(&refusal))
    }

    /// Verifies a licence key's text together with this machine's certificate (`tsm1_…`), for the
    /// machine `fingerprint` (32 bytes or 64 hex digits: `machine_fingerprint(product)`), at `now`
    /// (default: the system clock). `last_seen`: the latest time the app saw before (keep it, e.g.
    /// in a file), to refuse a clock turned back. Raises a `LicenseError` subclass saying why not:
    /// the licence's own, or `CertificateRefusedError` (31), `AnotherMachineError` (32),
    /// `AnotherLicenseError` (33), `LeaseExpiredError` (34), `ClockRolledBackError` (35).
    #[pyo3(signature = (key, certificate, fingerprint, now = None, last_seen = None, revocations = None))]
    fn verify_activated(
        &self,
        key: &str,
        certificate: &str,
        fingerprint: &Bound<'_, PyAny>,
        now: Option<u64>,
        last_seen: Option<u64>,
        revocations: Option<Bound<'_, PyAny>>,
    ) -> PyResult<ActivatedLicense> {
        let py = fingerprint.py();
        let fingerprint = fingerprint_arg(fingerprint)?;
        let list = self.revocation_list(revocations)?;
        let tables = self.product.as_ref().map(|product| &product.tables);
        let check = ActivationCheck {
            key,
            certificate,
            fingerprint: &fingerprint,
            now: now.map_or_else(tessera_verifier::system_now, UnixTime),
            last_seen: last_seen.map(UnixTime),
        };
        tessera_bindings_shared::verify_activated(
            &self.verifier,
            tables.map(Arc::as_ref),
            list.as_ref(),
            &check,
            |verified| {
                let license = License::new(verified.license(), tables.cloned());
                Ok(ActivatedLicense::new(verified, Py::new(py, license)?))
            },
        )
        .map_err(|refusal| refusal_error(&refusal))?
    }

    #[getter]
    fn product(&self) -> Option<Product> {
        self.product.clone()
    }

    #[getter]
    fn grace(&self) -> bool {
        self.grace
    }

    #[getter]
    fn clock_tolerance(&self) -> u64 {
        self.clock_tolerance
    }
}

impl Verifier {
    /// A checked list from `check_revocations`, or a list's text checked now.
    fn revocation_list(&self, list: Option<Bound<'_, PyAny>>) -> PyResult<Option<CheckedList>> {
        let Some(list) = list else {
            return Ok(None);
        };
        Ok(Some(match list.cast::<RevocationList>() {
            Ok(checked) => checked.get().list.clone(),
            Err(_) => {
                self.check_revocations(&list.extract::<String>()?, None)?
                    .list
            }
        }))
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
    module.add_class::<ActivatedLicense>()?;
    module.add_function(wrap_pyfunction!(system_now, module)?)?;
    module.add_function(wrap_pyfunction!(activation::machine_fingerprint, module)?)?;
    module.add_function(wrap_pyfunction!(
        activation::fingerprint_of_machine_id,
        module
    )?)?;
    errors::add_to(module)?;
    Ok(())
}
