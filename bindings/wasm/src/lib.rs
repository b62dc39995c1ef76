//! The Tessera licence verifier for JavaScript (Node, browsers, Electron and Tauri front ends), as the
//! npm package `@tessera/verifier` that `scripts/build-wasm` lays out in `bindings/wasm/pkg`.
//!
//! ```js
//! import { Verifier } from "@tessera/verifier";
//! const verifier = new Verifier(["tspk1_1_…"], { product: { id: 1, tiers: ["free", "pro"],
//!                                                          features: ["export"] } });
//! const licence = verifier.verify(savedKey);          // or throws an Error with a `code`
//! verifier.hasFeature(licence, "export");
//! // A licence that must be activated: with this machine's certificate (WebAssembly has no OS
//! // machine id: the app passes its own, e.g. from Electron's or Tauri's native side).
//! const fingerprint = fingerprintOfMachineId(1, machineId);
//! const activated = verifier.verifyActivated(savedKey, savedCertificate, fingerprint, { lastSeen });
//! ```

mod activation;
mod errors;

use std::sync::Arc;

use js_sys::{Array, BigInt, Object, Reflect};
use tessera_bindings_shared::{ActivationCheck, CheckedList, Tables};
#[cfg(feature = "bench")]
use tessera_verifier::{LicenseBuffer, Product};
use tessera_verifier::{PublicKey, UnixTime, Validity, Verifier as RustVerifier};
use wasm_bindgen::prelude::*;

use errors::{public_key_error, refusal_error, revocation_error, setup_error, usage_error};

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** A product's tables: tier names from lowest to highest, feature names (bit 0 first). */
export interface ProductTables { id: number; tiers?: string[]; features?: string[]; }
export interface VerifierOptions {
  /** Accept only licences for this product, and answer feature and tier questions by name. */
  product?: ProductTables;
  /** false: a licence in its grace period is expired (default true: it is valid). */
  grace?: boolean;
  /**
   * Seconds the clock may read behind `lastSeen`, or behind when a key or certificate was issued,
   * in verifyActivated (default 3600).
   */
  clockTolerance?: number;
}
export interface VerifyOptions {
  /** Unix seconds; default: the system clock. */
  now?: number;
  /** A revocation list's text, checked against the trusted keys on this call. */
  revocations?: string;
}
/** A verified licence. Times are Unix seconds. */
export interface License {
  licenseId: string; keyId: number; product: number; tier: number; tierName: string | null;
  /** Names of the granted features the product lists (empty without the product's tables). */
  features: string[];
  /** Every granted feature as a bit set: bit n is the product's feature n. */
  featureBits: bigint;
  issuedAt: number; notBefore: number | null; expiresAt: number | null;
  graceSeconds: number | null; graceEndsAt: number | null; licensee: string | null;
  validity: "perpetual" | "active" | "grace"; inGrace: boolean;
}
export interface VerifyActivatedOptions extends VerifyOptions {
  /** The latest time (Unix seconds) the app saw before: a clock turned back further is refused (35). */
  lastSeen?: number;
}
/** A licence verified together with this machine's certificate. Times are Unix seconds. */
export interface ActivatedLicense {
  license: License;
  certificateIssuedAt: number;
  /** When the certificate's lease ends; null if it lasts as long as the licence. */
  leaseEndsAt: number | null;
  /** Seconds from the check to the lease's end (0 in the licence's grace after it), or null. */
  leaseSecondsLeft: number | null;
  /** Whole days from the check to the lease's end: renew online when this gets small. */
  leaseDaysLeft: number | null;
}
/**
 * The fingerprint of the machine whose raw identifier is `machineId` (bytes, or a string taken as
 * UTF-8) for product `product`: 32 bytes. WebAssembly cannot read the operating system's machine id;
 * the app passes its own (a desktop shell's native side can read it).
 */
export function fingerprintOfMachineId(product: number, machineId: Uint8Array | string): Uint8Array;
/** A fingerprint as the issuer's API and `tessera fingerprint` write it: 64 lowercase hex digits. */
export function fingerprintHex(fingerprint: Uint8Array): string;
export interface RevocationList { keyId: number; sequence: bigint; issuedAt: number; revoked: string[]; }
/**
 * What verify and the constructor throw: an Error whose `code` is the `tessera` command's exit code
 * (10 malformed, 11 unsupported version, 12 unknown key id, 13 bad signature, 14 wrong product,
 * 15 revoked, 16 not yet valid, 17 expired, 19 revocation list refused, 3 bad public key, 2 bad
 * argument; from verifyActivated also 30 activation required (verify), 31 machine certificate
 * refused, 32 certificate for another machine, 33 for another licence, 34 lease over, 35 clock
 * turned back), with the error's facts.
 */
export interface LicenseError extends Error {
  code: number; reason: string; malformed?: string; field?: string; foundVersion?: number;
  keyId?: number; keyIndex?: number; expectedProduct?: number; foundProduct?: number; licenseId?: string;
  notBefore?: number; expiredAt?: number; inGrace?: boolean;
  /** A stale revocation list's sequence numbers are bigints; for code 35 `lastSeen` is a time. */
  sequence?: bigint; lastSeen?: bigint | number;
  certifiedLicenseId?: string; leaseEndedAt?: number; now?: number;
}
/** Checks licence keys against the issuer's public keys, and optionally a product and a revocation list. */
export class Verifier {
  /** `publicKeys`: texts `tspk1_<id>_<base64url>` as `tessera keygen` prints them. Throws a LicenseError (code 3). */
  constructor(publicKeys: string[], options?: VerifierOptions);
  /** Verifies a licence key's text; returns the licence or throws a LicenseError. */
  verify(keyText: string, options?: VerifyOptions): License;
  /**
   * Verifies a licence key's text together with this machine's certificate (`tsm1_…`) for the
   * machine `fingerprint` (32 bytes, or 64 hex digits); throws a LicenseError (codes 10-17, 31-35).
   */
  verifyActivated(
    keyText: string, certificateText: string, fingerprint: Uint8Array | string,
    options?: VerifyActivatedOptions,
  ): ActivatedLicense;
  /** Checks a revocation list (not older than `lastSeen`); throws a LicenseError (code 19). */
  checkRevocations(text: string, lastSeen?: bigint): RevocationList;
  /** A verifier like this one that also refuses the licences the list revokes. */
  withRevocations(text: string, lastSeen?: bigint): Verifier;
  /** Whether `license` grants feature `name` of this verifier's product. */
  hasFeature(license: License, name: string): boolean;
  /** Whether `license`'s tier is `name` or higher in this verifier's product's ladder. */
  tierAtLeast(license: License, name: string): boolean;
  /** Releases the verifier's WebAssembly memory now rather than when it is garbage-collected. */
  free(): void;
}
"#;

/// Checks licence keys against the issuer's public keys, and optionally a product and a revocation
/// list. Its TypeScript declaration is written out in `TYPES`, for the optional arguments.
#[wasm_bindgen(skip_typescript)]
#[derive(Debug)]
pub struct Verifier {
    verifier: RustVerifier<'static>,
    product: Option<Arc<Tables>>,
    /// A revocation list already checked against the trusted keys.
    revocations: Option<CheckedList>,
}

/// The product's tables from the options object `{ id, tiers?, features? }`.
fn tables_from_js(value: &JsValue) -> Result<Arc<Tables>, JsValue> {
    let id = Reflect::get(value, &"id".into())?
        .as_f64()
        .filter(|id| id.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(id))
        .ok_or_else(|| usage_error("product.id must be an integer from 0 to 2^32 - 1"))?;
    let names = |field: &str| -> Result<Vec<String>, JsValue> {
        let list = Reflect::get(value, &field.into())?;
        if list.is_undefined() {
            return Ok(Vec::new());
        }
        Array::from(&list)
            .iter()
            .map(|name| name.as_string())
            .collect::<Option<_>>()
            .ok_or_else(|| usage_error(&format!("product.{field} must be strings")))
    };
    Tables::new(id as u32, names("tiers")?, names("features")?)
        .ok_or_else(|| usage_error("a product has at most 256 tiers and 64 features"))
}

fn option(options: &Option<Object>, name: &str) -> Result<JsValue, JsValue> {
    match options {
        Some(options) => Reflect::get(options, &name.into()),
        None => Ok(JsValue::UNDEFINED),
    }
}

/// `options[name]` as whole Unix seconds (or a count of seconds), if given.
fn seconds_option(options: &Option<Object>, name: &str) -> Result<Option<UnixTime>, JsValue> {
    let value = option(options, name)?;
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    match value.as_f64() {
        Some(seconds) if seconds >= 0.0 && seconds.fract() == 0.0 => {
            Ok(Some(UnixTime(seconds as u64)))
        }
        _ => Err(usage_error(&format!(
            "{name} must be a whole number of seconds"
        ))),
    }
}

/// The system clock, in Unix seconds.
fn system_now() -> UnixTime {
    UnixTime((js_sys::Date::now() / 1000.0) as u64)
}

pub(crate) fn set(object: &Object, name: &str, value: impl Into<JsValue>) {
    // Setting a property of a fresh plain object cannot fail.
    let _ = Reflect::set(object, &name.into(), &value.into());
}

pub(crate) fn number_or_null(value: Option<u64>) -> JsValue {
    value.map_or(JsValue::NULL, |value| JsValue::from_f64(value as f64))
}

#[wasm_bindgen]
impl Verifier {
    /// A verifier that trusts `publicKeys`, texts `tspk1_<id>_<base64url>` as `tessera keygen`
    /// prints them.
    #[wasm_bindgen(constructor, skip_typescript)]
    pub fn new(
        #[wasm_bindgen(js_name = publicKeys)] public_keys: Vec<String>,
        options: Option<Object>,
    ) -> Result<Verifier, JsValue> {
        let keys = public_keys
            .iter()
            .enumerate()
            .map(|(index, text)| {
                PublicKey::from_text(text).map_err(|err| public_key_error(index, &err))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut verifier = RustVerifier::new(&keys).map_err(|err| setup_error(&err))?;
        if option(&options, "grace")?.as_bool() == Some(false) {
            verifier = verifier.without_grace();
        }
        if let Some(seconds) = seconds_option(&options, "clockTolerance")? {
            verifier = verifier.with_clock_tolerance(seconds.0);
        }
        let product = option(&options, "product")?;
        let product = if product.is_undefined() || product.is_null() {
            None
        } else {
            Some(tables_from_js(&product)?)
        };
        Ok(Verifier {
            verifier,
            product,
            revocations: None,
        })
    }

    /// Checks a revocation list's signature (and, with `lastSeen`, that it is not older than the last
    /// one accepted); returns what it says, or throws (code 19).
    #[wasm_bindgen(js_name = checkRevocations, skip_typescript)]
    pub fn check_revocations(
        &self,
        text: &str,
        #[wasm_bindgen(js_name = lastSeen)] last_seen: Option<u64>,
    ) -> Result<JsValue, JsValue> {
        let list = self.checked(text, last_seen)?;
        let out = Object::new();
        set(&out, "keyId", list.key_id);
        set(&out, "sequence", BigInt::from(list.sequence));
        set(&out, "issuedAt", list.issued_at as f64);
        let revoked: Array = list.revoked.iter().map(JsValue::from).collect();
        set(&out, "revoked", revoked);
        Ok(out.into())
    }

    /// A verifier like this one that also refuses licences the revocation list `text` revokes,
    /// after checking it as `checkRevocations` does.
    #[wasm_bindgen(js_name = withRevocations, skip_typescript)]
    pub fn with_revocations(
        &self,
        text: &str,
        #[wasm_bindgen(js_name = lastSeen)] last_seen: Option<u64>,
    ) -> Result<Verifier, JsValue> {
        Ok(Verifier {
            verifier: self.verifier.clone(),
            product: self.product.clone(),
            revocations: Some(self.checked(text, last_seen)?),
        })
    }

    /// Verifies a licence key's text; returns the licence, or throws an Error with a `code`.
    #[wasm_bindgen(skip_typescript)]
    pub fn verify(
        &self,
        #[wasm_bindgen(js_name = keyText)] key_text: &str,
        options: Option<Object>,
    ) -> Result<JsValue, JsValue> {
        let now = seconds_option(&options, "now")?.unwrap_or_else(system_now);
        let per_call = self.per_call_revocations(&options)?;
        tessera_bindings_shared::verify(
            &self.verifier,
            self.product.as_deref(),
            per_call.as_ref().or(self.revocations.as_ref()),
            key_text,
            now,
            |verified| license_object(verified, self.product.as_deref()),
        )
        .map_err(|refusal| refusal_error(&refusal))
    }

    /// Verifies a licence key's text together with this machine's certificate; returns the
    /// activated licence, or throws an Error with a `code`.
    #[wasm_bindgen(js_name = verifyActivated, skip_typescript)]
    pub fn verify_activated(
        &self,
        #[wasm_bindgen(js_name = keyText)] key_text: &str,
        #[wasm_bindgen(js_name = certificateText)] certificate_text: &str,
        fingerprint: &JsValue,
        options: Option<Object>,
    ) -> Result<JsValue, JsValue> {
        let fingerprint = activation::fingerprint_arg(fingerprint)?;
        let per_call = self.per_call_revocations(&options)?;
        let check = ActivationCheck {
            key: key_text,
            certificate: certificate_text,
            fingerprint: &fingerprint,
            now: seconds_option(&options, "now")?.unwrap_or_else(system_now),
            last_seen: seconds_option(&options, "lastSeen")?,
        };
        tessera_bindings_shared::verify_activated(
            &self.verifier,
            self.product.as_deref(),
            per_call.as_ref().or(self.revocations.as_ref()),
            &check,
            |verified| {
                let license = license_object(verified.license(), self.product.as_deref());
                activation::activated_object(verified, license)
            },
        )
        .map_err(|refusal| refusal_error(&refusal))
    }

    /// Whether `license` grants feature `name` of this verifier's product (false for a name the
    /// product does not list, or without the product's tables).
    #[wasm_bindgen(js_name = hasFeature, skip_typescript)]
    pub fn has_feature(&self, license: &JsValue, name: &str) -> Result<bool, JsValue> {
        let bits = feature_bits(license)?;
        Ok(self
            .product
            .as_ref()
            .is_some_and(|tables| tables.grants(bits, name)))
    }

    /// Whether `license`'s tier is `name` or higher in this verifier's product's tier ladder.
    #[wasm_bindgen(js_name = tierAtLeast, skip_typescript)]
    pub fn tier_at_least(&self, license: &JsValue, name: &str) -> Result<bool, JsValue> {
        let tier = Reflect::get(license, &"tier".into())?
            .as_f64()
            .filter(|tier| tier.fract() == 0.0 && (0.0..=255.0).contains(tier))
            .ok_or_else(|| usage_error("license.tier must be an integer from 0 to 255"))?;
        Ok(self
            .product
            .as_ref()
            .is_some_and(|tables| tables.tier_at_least(tier as u8, name)))
    }
}

impl Verifier {
    /// The revocation list's text in `options.revocations`, checked for this call only.
    fn per_call_revocations(
        &self,
        options: &Option<Object>,
    ) -> Result<Option<CheckedList>, JsValue> {
        let per_call = option(options, "revocations")?;
        if per_call.is_undefined() || per_call.is_null() {
            return Ok(None);
        }
        let text = per_call
            .as_string()
            .ok_or_else(|| usage_error("revocations must be a revocation list's text"))?;
        Ok(Some(self.checked(&text, None)?))
    }

    /// A revocation list checked against this verifier's keys.
    fn checked(&self, text: &str, last_seen: Option<u64>) -> Result<CheckedList, JsValue> {
        tessera_bindings_shared::check_revocations(&self.verifier, text, last_seen)
            .map_err(|err| revocation_error(&err))
    }
}

fn feature_bits(license: &JsValue) -> Result<u64, JsValue> {
    let bits = Reflect::get(license, &"featureBits".into())?;
    u64::try_from(bits).map_err(|_| usage_error("license.featureBits must be a bigint"))
}

/// The licence as a plain object (see the `License` interface).
fn license_object(license: &tessera_verifier::License<'_>, tables: Option<&Tables>) -> JsValue {
    let claims = license.claims();
    let out = Object::new();
    set(&out, "licenseId", claims.license_id.to_hex().as_str());
    set(&out, "keyId", claims.key_id);
    set(&out, "product", claims.product);
    set(&out, "tier", claims.tier);
    set(
        &out,
        "tierName",
        license.tier_name().map_or(JsValue::NULL, JsValue::from_str),
    );
    let features: Array = tables
        .map_or_else(Vec::new, |tables| tables.feature_names(claims.features.0))
        .iter()
        .map(JsValue::from)
        .collect();
    set(&out, "features", features);
    set(&out, "featureBits", BigInt::from(claims.features.0));
    set(&out, "issuedAt", claims.issued_at.0 as f64);
    set(
        &out,
        "notBefore",
        number_or_null(claims.not_before.map(|t| t.0)),
    );
    set(
        &out,
        "expiresAt",
        number_or_null(claims.expires_at.map(|t| t.0)),
    );
    set(
        &out,
        "graceSeconds",
        number_or_null(claims.grace_seconds.map(u64::from)),
    );
    set(
        &out,
        "graceEndsAt",
        number_or_null(claims.grace_ends_at().map(|t| t.0)),
    );
    set(
        &out,
        "licensee",
        claims.licensee.map_or(JsValue::NULL, JsValue::from_str),
    );
    let validity = match license.validity() {
        Validity::Perpetual => "perpetual",
        Validity::Active { .. } => "active",
        Validity::Grace { .. } => "grace",
    };
    set(&out, "validity", validity);
    set(&out, "inGrace", validity == "grace");
    out.into()
}

/// Verifies the reference licence `n` times inside WebAssembly, for `scripts/bench-bindings` to tell
/// the cost of the JavaScript glue from that of the WebAssembly itself.
#[cfg(feature = "bench")]
#[wasm_bindgen(js_name = benchRustVerify)]
pub fn bench_rust_verify(n: u32) -> bool {
    const KEY: &str = "ts1_AQEA2Uevh4x_IgEBAoD2_CiA3YE4H5yFzNQoS4SeF-xdzqY0ITq77_DPtlYLeJj4W4X4GbqwEavEwYKikN_qS4gbN3E0iEfCZIJmfY_x_yslyX8BPA8";
    const EDITOR: Product = Product {
        id: 1,
        name: "acme-editor",
        tiers: &["free", "pro", "team"],
        features: &["export", "sync", "cloud", "ai", "plugins"],
    };
    let Ok(key) = PublicKey::from_text("tspk1_1_11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
    else {
        return false;
    };
    let Ok(verifier) = RustVerifier::new(&[key]) else {
        return false;
    };
    let verifier = verifier.for_product(&EDITOR);
    (0..n).all(|_| {
        let mut buf = LicenseBuffer::new();
        verifier
            .verify(
                core::hint::black_box(KEY),
                UnixTime(1_798_761_600),
                &mut buf,
            )
            .is_ok()
    })
}
