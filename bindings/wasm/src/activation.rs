//! Licences bound to machines in JavaScript: fingerprints from the app's own machine id (WebAssembly
//! cannot read the operating system's), and the activated licence as a plain object.

use js_sys::{Object, Uint8Array};
use tessera_verifier::{Activated, Fingerprint};
use wasm_bindgen::prelude::*;

use crate::errors::usage_error;
use crate::{number_or_null, set};

/// A fingerprint given as a `Uint8Array` of 32 bytes or a string of 64 hex digits.
pub(crate) fn fingerprint_arg(value: &JsValue) -> Result<Fingerprint, JsValue> {
    let fingerprint = if let Some(text) = value.as_string() {
        tessera_bindings_shared::fingerprint_of(None, Some(&text))
    } else if let Some(bytes) = value.dyn_ref::<Uint8Array>() {
        tessera_bindings_shared::fingerprint_of(Some(&bytes.to_vec()), None)
    } else {
        None
    };
    fingerprint.ok_or_else(|| {
        usage_error("a fingerprint is a Uint8Array of 32 bytes or a string of 64 hex digits")
    })
}

/// The fingerprint of the machine whose raw identifier is `machineId` (bytes, or a string taken as
/// UTF-8) for product `product`: 32 bytes.
#[wasm_bindgen(js_name = fingerprintOfMachineId, skip_typescript)]
pub fn fingerprint_of_machine_id(
    product: u32,
    #[wasm_bindgen(js_name = machineId)] machine_id: &JsValue,
) -> Result<Uint8Array, JsValue> {
    let raw = if let Some(text) = machine_id.as_string() {
        text.into_bytes()
    } else if let Some(bytes) = machine_id.dyn_ref::<Uint8Array>() {
        bytes.to_vec()
    } else {
        return Err(usage_error("a machine id is a Uint8Array or a string"));
    };
    Ok(Uint8Array::from(
        &Fingerprint::of_machine_id(product, &raw).0[..],
    ))
}

/// A fingerprint as 64 lowercase hex digits.
#[wasm_bindgen(js_name = fingerprintHex, skip_typescript)]
pub fn fingerprint_hex(fingerprint: &JsValue) -> Result<String, JsValue> {
    Ok(fingerprint_arg(fingerprint)?.to_hex().as_str().to_owned())
}

/// The activated licence as a plain object (see the `ActivatedLicense` interface).
pub(crate) fn activated_object(activated: &Activated<'_>, license: JsValue) -> JsValue {
    let out = Object::new();
    set(&out, "license", license);
    set(
        &out,
        "certificateIssuedAt",
        activated.certificate().issued_at.0 as f64,
    );
    set(
        &out,
        "leaseEndsAt",
        number_or_null(activated.lease_ends_at().map(|time| time.0)),
    );
    set(
        &out,
        "leaseSecondsLeft",
        number_or_null(activated.lease_seconds_left()),
    );
    set(
        &out,
        "leaseDaysLeft",
        number_or_null(activated.lease_days_left()),
    );
    out.into()
}
