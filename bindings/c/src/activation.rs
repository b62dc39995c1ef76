//! Licences bound to machines: this machine's fingerprint, and a key verified together with the
//! machine certificate the issuer signed when the machine was activated.

use std::ffi::c_char;

use tessera_verifier::{ActivationBuffers, Fingerprint, UnixTime};

use crate::error::TesseraError;
use crate::license::TesseraLicense;
use crate::text::{self, TESSERA_MAX_TEXT_LEN};
use crate::verifier::TesseraVerifier;
use crate::{guarded, TesseraStatus};

/// The length of a machine fingerprint in bytes (the issuer's API and `tessera fingerprint` write it
/// as 64 hex digits).
pub const TESSERA_FINGERPRINT_LEN: usize = 32;

/// A licence verified together with this machine's certificate (nothing in it needs freeing).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TesseraActivation {
    /// The verified licence, as `tessera_verify` fills it.
    pub license: TesseraLicense,
    /// When the issuer signed the certificate (Unix seconds).
    pub certificate_issued_at: u64,
    /// Whether the certificate's lease ends; without one it works as long as the licence.
    pub has_lease: bool,
    /// When the lease ends (Unix seconds; 0 without a lease): renew the certificate online before.
    pub lease_ends_at: u64,
    /// Seconds from `now` until the lease ends (0 while in the licence's grace after it; 0 without a
    /// lease).
    pub lease_seconds_left: u64,
    /// Whole days from `now` until the lease ends (0 without a lease): renew when this gets small.
    pub lease_days_left: u64,
}

/// Verifies the licence key text `key_text` together with the machine certificate text
/// `certificate_text` (`tsm1_…`) for the machine whose 32-byte fingerprint `fingerprint` points to
/// (`tessera_machine_fingerprint` on a desktop, `tessera_fingerprint_of_machine_id` elsewhere), at
/// `now` (Unix seconds).
///
/// `last_seen` is null, or points to the latest time the app saw before (which it should keep, e.g. in
/// a file, and raise after each check): a clock that reads earlier by more than the verifier's
/// tolerance (`tessera_verifier_set_clock_tolerance`) is refused with
/// `TESSERA_STATUS_CLOCK_ROLLED_BACK`.
///
/// On success fills `*activation` and returns `TESSERA_STATUS_OK`. Otherwise returns why and fills
/// `*error` if it is not null, leaving `*activation` unchanged: the licence's own statuses (10 to 17),
/// `TESSERA_STATUS_CERTIFICATE_REFUSED` (31: malformed, unsupported version, bad signature; a
/// certificate signed by an unknown key id is `TESSERA_STATUS_UNKNOWN_KEY_ID`, one issued after `now`
/// `TESSERA_STATUS_NOT_YET_VALID`), `_ANOTHER_MACHINE` (32), `_ANOTHER_LICENSE` (33),
/// `_LEASE_EXPIRED` (34), `_CLOCK_ROLLED_BACK` (35). A licence that needs no activation verifies too.
///
/// Safe to call from many threads at once on one verifier.
///
/// # Safety
/// `verifier` is null or a live handle; `key_text` and `certificate_text` are NUL-terminated strings;
/// `fingerprint` is null or points to 32 readable bytes; `last_seen` is null or valid; `activation` is
/// a writable `TesseraActivation`; `error` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_verify_activated(
    verifier: *const TesseraVerifier,
    key_text: *const c_char,
    certificate_text: *const c_char,
    fingerprint: *const u8,
    now: u64,
    last_seen: *const u64,
    activation: *mut TesseraActivation,
    error: *mut TesseraError,
) -> TesseraStatus {
    guarded(|| {
        // SAFETY: null or a live handle, as the caller promises.
        let Some(verifier) = (unsafe { verifier.as_ref() }) else {
            // SAFETY: `error` is null or writable.
            return unsafe { TesseraError::invalid_argument("`verifier` is null").report(error) };
        };
        if activation.is_null() {
            // SAFETY: `error` is null or writable.
            return unsafe { TesseraError::invalid_argument("`activation` is null").report(error) };
        }
        // SAFETY: null or 32 readable bytes, as the caller promises.
        let Some(fingerprint) = (unsafe { read_fingerprint(fingerprint) }) else {
            // SAFETY: `error` is null or writable.
            return unsafe {
                TesseraError::invalid_argument("`fingerprint` is null").report(error)
            };
        };
        // SAFETY: a NUL-terminated string, as the caller promises.
        let key_text = match unsafe { text::read(key_text) } {
            Ok(text) => text,
            // SAFETY: `error` is null or writable.
            Err(why) => return unsafe { TesseraError::unreadable_key(why).report(error) },
        };
        // SAFETY: as above.
        let certificate_text = match unsafe { text::read(certificate_text) } {
            Ok(text) => text,
            // SAFETY: `error` is null or writable.
            Err(why) => return unsafe { TesseraError::unreadable_certificate(why).report(error) },
        };
        // SAFETY: null or valid, as the caller promises.
        let last_seen = unsafe { last_seen.as_ref() }.map(|&time| UnixTime(time));
        let mut bufs = ActivationBuffers::new();
        match verifier.verifier.verify_activated(
            key_text,
            certificate_text,
            &fingerprint,
            UnixTime(now),
            last_seen,
            &mut bufs,
        ) {
            Ok(verified) => {
                let out = TesseraActivation {
                    license: TesseraLicense::new(verified.license()),
                    certificate_issued_at: verified.certificate().issued_at.0,
                    has_lease: verified.lease_ends_at().is_some(),
                    lease_ends_at: verified.lease_ends_at().map_or(0, |time| time.0),
                    lease_seconds_left: verified.lease_seconds_left().unwrap_or(0),
                    lease_days_left: verified.lease_days_left().unwrap_or(0),
                };
                // SAFETY: checked not null above; writable as the caller promises.
                unsafe { *activation = out };
                TesseraStatus::Ok
            }
            // SAFETY: `error` is null or writable.
            Err(err) => unsafe { TesseraError::from_verify(&err).report(error) },
        }
    })
}

/// # Safety
/// `fingerprint` is null or points to 32 readable bytes.
unsafe fn read_fingerprint(fingerprint: *const u8) -> Option<Fingerprint> {
    // SAFETY: null or 32 readable bytes, as the caller promises.
    let bytes = unsafe { fingerprint.cast::<[u8; TESSERA_FINGERPRINT_LEN]>().as_ref() }?;
    Some(Fingerprint(*bytes))
}

/// Writes to `out` (32 bytes) the fingerprint of the machine whose raw identifier is the `len` bytes
/// at `machine_id`, for product `product`: what an app without an operating system (or with its own
/// notion of a machine) passes to `tessera_verify_activated`. The raw id never leaves the machine;
/// fingerprints differ per product.
///
/// Returns `TESSERA_STATUS_INVALID_ARGUMENT` if `out` is null, `machine_id` is null with a non-zero
/// `len`, or `len` is over 64 KiB.
///
/// # Safety
/// `machine_id` is null or points to `len` readable bytes; `out` is null or points to 32 writable
/// bytes.
#[no_mangle]
pub unsafe extern "C" fn tessera_fingerprint_of_machine_id(
    product: u32,
    machine_id: *const u8,
    len: usize,
    out: *mut u8,
) -> TesseraStatus {
    guarded(|| {
        if out.is_null() || (machine_id.is_null() && len > 0) || len > TESSERA_MAX_TEXT_LEN {
            return TesseraStatus::InvalidArgument;
        }
        let raw: &[u8] = if len == 0 {
            &[]
        } else {
            // SAFETY: not null, `len` readable bytes, as the caller promises.
            unsafe { std::slice::from_raw_parts(machine_id, len) }
        };
        // SAFETY: not null, 32 writable bytes, as the caller promises.
        unsafe { write_fingerprint(&Fingerprint::of_machine_id(product, raw), out) };
        TesseraStatus::Ok
    })
}

/// Writes to `out` (32 bytes) this machine's fingerprint for product `product`, from the operating
/// system's machine id (Linux `/etc/machine-id`, macOS IOPlatformUUID, Windows MachineGuid): the
/// fingerprint `tessera fingerprint --product` prints and activation sends to the issuer.
///
/// Returns `TESSERA_STATUS_FAILURE` (as `tessera fingerprint` exits 1) with `*error` saying why if the
/// id cannot be read, `TESSERA_STATUS_INVALID_ARGUMENT` if `out` is null.
///
/// # Safety
/// `out` is null or points to 32 writable bytes; `error` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_machine_fingerprint(
    product: u32,
    out: *mut u8,
    error: *mut TesseraError,
) -> TesseraStatus {
    guarded(|| {
        if out.is_null() {
            // SAFETY: `error` is null or writable.
            return unsafe { TesseraError::invalid_argument("`out` is null").report(error) };
        }
        match tessera_verifier::machine_fingerprint(product) {
            Ok(fingerprint) => {
                // SAFETY: not null, 32 writable bytes, as the caller promises.
                unsafe { write_fingerprint(&fingerprint, out) };
                TesseraStatus::Ok
            }
            // SAFETY: `error` is null or writable.
            Err(err) => unsafe { TesseraError::failure(&err).report(error) },
        }
    })
}

/// Reads a fingerprint written as 64 hex digits (as the issuer's API and `tessera fingerprint` write
/// it) into `out` (32 bytes). `TESSERA_STATUS_INVALID_ARGUMENT` for null pointers or any other text.
///
/// # Safety
/// `hex` is null or a NUL-terminated string; `out` is null or points to 32 writable bytes.
#[no_mangle]
pub unsafe extern "C" fn tessera_fingerprint_from_hex(
    hex: *const c_char,
    out: *mut u8,
) -> TesseraStatus {
    guarded(|| {
        // SAFETY: null or a NUL-terminated string, as the caller promises.
        let hex = unsafe { text::read(hex) };
        match (hex.ok().and_then(Fingerprint::from_hex), out.is_null()) {
            (Some(fingerprint), false) => {
                // SAFETY: not null, 32 writable bytes, as the caller promises.
                unsafe { write_fingerprint(&fingerprint, out) };
                TesseraStatus::Ok
            }
            _ => TesseraStatus::InvalidArgument,
        }
    })
}

/// # Safety
/// `out` points to 32 writable bytes.
unsafe fn write_fingerprint(fingerprint: &Fingerprint, out: *mut u8) {
    // SAFETY: 32 writable bytes, as the caller promises; the source is a distinct Rust value.
    unsafe { std::ptr::copy_nonoverlapping(fingerprint.0.as_ptr(), out, TESSERA_FINGERPRINT_LEN) };
}
