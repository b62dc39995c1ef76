//! The Tessera licence verifier behind a C ABI: `libtessera` and `include/tessera.h`.
//!
//! C, C++, and anything that calls C (C# P/Invoke, Swift, Go cgo, Dart FFI) verify licence keys with the
//! same code as the Rust `tessera-verifier` crate:
//!
//! ```c
//! TesseraVerifier *verifier = NULL;
//! TesseraError error;
//! if (tessera_verifier_new(keys, 1, &product, &verifier, &error) != TESSERA_OK) { ... }
//! TesseraLicense license;
//! if (tessera_verify(verifier, key_text, tessera_system_now(), &license, &error) != TESSERA_OK) {
//!     fprintf(stderr, "%s\n", error.message);
//! }
//! tessera_verifier_free(verifier);
//! ```
//!
//! Rules every function keeps:
//! - The caller owns all memory but the verifier handle, which [`tessera_verifier_free`] releases.
//!   Results are written into structs the caller provides; nothing returned needs freeing.
//! - Every pointer is checked for null before use (a null where one is required is
//!   [`TesseraStatus::InvalidArgument`]); strings are NUL-terminated UTF-8 of at most
//!   [`TESSERA_MAX_TEXT_LEN`] bytes, and no byte beyond that bound is read.
//! - No panic crosses the boundary: one would be caught and reported as [`TesseraStatus::Failure`].
//! - Status values are the exit codes of the `tessera` command (`tessera verify` exits 17 for an
//!   expired licence; `tessera_verify` returns `TESSERA_EXPIRED`, 17).
//!
//! Threads: a verifier is immutable while it verifies, so any number of threads may call
//! [`tessera_verify`], [`tessera_verify_activated`] and the `tessera_license_*` functions on one
//! verifier at once. [`tessera_verifier_set_revocations`], [`tessera_verifier_without_grace`],
//! [`tessera_verifier_set_clock_tolerance`] and
//! [`tessera_verifier_free`] change it and need exclusive access (no other call on that verifier at the
//! same time).

mod activation;
mod error;
mod license;
mod text;
mod verifier;

pub use activation::{
    tessera_fingerprint_from_hex, tessera_fingerprint_of_machine_id, tessera_machine_fingerprint,
    tessera_verify_activated, TesseraActivation, TESSERA_FINGERPRINT_LEN,
};
pub use error::{tessera_status_message, TesseraError, TesseraMalformed, TesseraRevocationProblem};
pub use license::{
    tessera_license_has_feature, tessera_license_tier_at_least, tessera_system_now, tessera_verify,
    TesseraLicense, TesseraValidity,
};
pub use text::TESSERA_MAX_TEXT_LEN;
pub use verifier::{
    tessera_verifier_free, tessera_verifier_new, tessera_verifier_set_clock_tolerance,
    tessera_verifier_set_revocations, tessera_verifier_without_grace, TesseraProduct,
    TesseraVerifier,
};

/// What a call did: `TESSERA_STATUS_OK`, or why not. The values are the `tessera` command's exit codes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TesseraStatus {
    /// Success; for `tessera_verify`, the licence is valid (possibly in its grace period).
    Ok = 0,
    /// An internal error that should not happen (a caught panic).
    Failure = 1,
    /// A required pointer was null, a count was out of range, or a name was not UTF-8: a bug in the
    /// calling code, not a problem with the licence.
    InvalidArgument = 2,
    /// A public-key text or the product table cannot be used (malformed, duplicate key id, not a
    /// valid Ed25519 key, too many keys).
    Input = 3,
    /// The licence key is not well formed.
    Malformed = 10,
    /// The licence key is of a format version this build does not know.
    UnsupportedVersion = 11,
    /// The licence key is signed by a key id none of the trusted keys has.
    UnknownKeyId = 12,
    /// The licence key's signature does not match: it was altered or forged.
    BadSignature = 13,
    /// The licence is for another product.
    WrongProduct = 14,
    /// The licence is on the revocation list.
    Revoked = 15,
    /// The licence's start date has not come yet.
    NotYetValid = 16,
    /// The licence has expired (and its grace period is over, or grace is not honoured).
    Expired = 17,
    /// The revocation list was refused: malformed, bad signature, unknown key id, or stale.
    RevocationsRefused = 19,
    /// The licence works only on activated machines: check it with `tessera_verify_activated`.
    ActivationRequired = 30,
    /// The machine certificate is refused: not well formed (`TesseraError.malformed`), of an unknown
    /// format version, or its signature does not match.
    CertificateRefused = 31,
    /// The machine certificate is for another machine (copied, or the machine changed).
    AnotherMachine = 32,
    /// The machine certificate is for another licence.
    AnotherLicense = 33,
    /// The machine certificate's lease is over (grace included): renew it online.
    LeaseExpired = 34,
    /// The clock reads earlier than the time the app saw before: it was turned back.
    ClockRolledBack = 35,
}

/// Runs `body`, turning a panic into [`TesseraStatus::Failure`] so that it never unwinds into C.
fn guarded(body: impl FnOnce() -> TesseraStatus) -> TesseraStatus {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or(TesseraStatus::Failure)
}
