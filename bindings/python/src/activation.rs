//! Licences bound to machines: fingerprints, and a licence verified with this machine's
//! certificate as an immutable Python object.

use pyo3::exceptions::{PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use tessera_verifier::{Activated, Fingerprint};

use crate::license::License;

/// A licence verified together with this machine's certificate (`Verifier.verify_activated`).
#[pyclass(frozen, module = "tessera")]
#[derive(Debug)]
pub(crate) struct ActivatedLicense {
    /// The verified licence.
    #[pyo3(get)]
    license: Py<License>,
    /// When the issuer signed the certificate (Unix seconds).
    #[pyo3(get)]
    certificate_issued_at: u64,
    /// When the certificate's lease ends; `None` if it lasts as long as the licence.
    #[pyo3(get)]
    lease_ends_at: Option<u64>,
    /// Seconds from the check until the lease ends (0 in the licence's grace after it).
    #[pyo3(get)]
    lease_seconds_left: Option<u64>,
    /// Whole days from the check until the lease ends: renew online when this gets small.
    #[pyo3(get)]
    lease_days_left: Option<u64>,
}

impl ActivatedLicense {
    pub(crate) fn new(activated: &Activated<'_>, license: Py<License>) -> ActivatedLicense {
        ActivatedLicense {
            license,
            certificate_issued_at: activated.certificate().issued_at.0,
            lease_ends_at: activated.lease_ends_at().map(|time| time.0),
            lease_seconds_left: activated.lease_seconds_left(),
            lease_days_left: activated.lease_days_left(),
        }
    }
}

#[pymethods]
impl ActivatedLicense {
    fn __repr__(&self) -> String {
        format!(
            "ActivatedLicense(license={}, lease_ends_at={:?})",
            Python::attach(|py| self
                .license
                .bind(py)
                .repr()
                .map(|repr| repr.to_string())
                .unwrap_or_default()),
            self.lease_ends_at
        )
    }
}

/// A fingerprint given as 32 bytes or 64 hex digits.
pub(crate) fn fingerprint_arg(value: &Bound<'_, PyAny>) -> PyResult<Fingerprint> {
    let fingerprint = if let Ok(bytes) = value.cast::<PyBytes>() {
        tessera_bindings_shared::fingerprint_of(Some(bytes.as_bytes()), None)
    } else if let Ok(text) = value.cast::<PyString>() {
        tessera_bindings_shared::fingerprint_of(None, Some(&text.to_cow()?))
    } else {
        return Err(PyTypeError::new_err(
            "a fingerprint is bytes (32) or a str (64 hex digits)",
        ));
    };
    fingerprint.ok_or_else(|| PyValueError::new_err("a fingerprint is 32 bytes or 64 hex digits"))
}

/// The fingerprint of the machine whose raw identifier is `raw` (bytes, or a str taken as UTF-8),
/// for product `product`: 32 bytes (`.hex()` gives the issuer's form). The raw id never leaves the
/// machine; fingerprints differ per product.
#[pyfunction]
pub(crate) fn fingerprint_of_machine_id<'py>(
    py: Python<'py>,
    product: u32,
    raw: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let fingerprint = if let Ok(bytes) = raw.cast::<PyBytes>() {
        Fingerprint::of_machine_id(product, bytes.as_bytes())
    } else if let Ok(text) = raw.cast::<PyString>() {
        Fingerprint::of_machine_id(product, text.to_cow()?.as_bytes())
    } else {
        return Err(PyTypeError::new_err("a machine id is bytes or a str"));
    };
    Ok(PyBytes::new(py, &fingerprint.0))
}

/// This machine's fingerprint for product `product`, from the operating system's machine id (Linux
/// /etc/machine-id, macOS IOPlatformUUID, Windows MachineGuid): 32 bytes, what
/// `tessera fingerprint --product` prints as hex. Raises `OSError` if the id cannot be read.
#[pyfunction]
pub(crate) fn machine_fingerprint(py: Python<'_>, product: u32) -> PyResult<Bound<'_, PyBytes>> {
    let fingerprint = tessera_verifier::machine_fingerprint(product)
        .map_err(|err| PyOSError::new_err(err.to_string()))?;
    Ok(PyBytes::new(py, &fingerprint.0))
}
