//! Tessera licence keys: the claims a licence carries, their compact binary form, their text form, and
//! signing.
//!
//! A licence is a handful of facts (product, tier, features, expiry, …) encoded with
//! [postcard](https://docs.rs/postcard), signed with Ed25519 over a domain-separation tag and the encoded
//! claims, and written as `ts1_` followed by unpadded base64url of the claims and signature. A typical
//! licence is under 120 characters. `FORMAT.md` at the repository root specifies every byte.
//!
//! This crate is `no_std` and allocation-free for decoding; the `sign` feature (on by default) adds
//! [`SigningKey`], which needs `std` and an OS random source. Apps check licences with the
//! `tessera-verifier` crate, which builds on this one.
//!
//! ```
//! # #[cfg(feature = "sign")] {
//! use tessera_keys::{Claims, FeatureSet, LicenseBuffer, LicenseId, SigningKey, UnixTime};
//!
//! let issuer = SigningKey::from_seed(1, &[7; 32]);
//! let claims = Claims {
//!     key_id: 1,
//!     license_id: LicenseId([1, 2, 3, 4, 5, 6, 7, 8]),
//!     product: 1,
//!     tier: 1,
//!     issued_at: UnixTime(1_790_000_000),
//!     not_before: None,
//!     expires_at: Some(UnixTime(1_821_536_000)),
//!     grace_seconds: None,
//!     features: FeatureSet(0b11111),
//!     licensee: None,
//!     requires_activation: false,
//! };
//! let key = issuer.sign_license(&claims)?;
//! assert!(key.starts_with("ts1_") && key.len() <= 120);
//!
//! // Decoding alone does not check the signature: that is the verifier's job.
//! let mut buf = LicenseBuffer::new();
//! let decoded = buf.decode_text(&key)?;
//! assert_eq!(decoded.claims, claims);
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![no_std]
#![deny(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(any(test, feature = "std"))]
extern crate std;

mod activation_request;
#[cfg(feature = "catalog")]
mod catalog;
mod claims;
mod error;
mod license;
mod machine;
mod product;
mod public_key;
mod revocation;
#[cfg(feature = "sign")]
mod signing;
mod text;
mod time;
mod wire;

#[cfg(feature = "alloc")]
pub use activation_request::activation_request_text;
pub use activation_request::{
    ActivationRequest, ActivationRequestBuffer, ACTIVATION_REQUEST_PREFIX,
    ACTIVATION_REQUEST_VERSION, MAX_ACTIVATION_REQUEST_LEN, MAX_ACTIVATION_REQUEST_TEXT_LEN,
    MAX_MACHINE_NAME_LEN, MAX_PLATFORM_LEN,
};
#[cfg(feature = "catalog")]
pub use catalog::{Catalog, CatalogError, ProductSpec, ProductTables};
pub use claims::{Claims, FeatureSet, HexId, LicenseId, MAX_LICENSEE_LEN};
pub use error::{DecodeError, EncodeError, Malformed};
#[cfg(feature = "alloc")]
pub use license::license_text;
pub use license::{
    encode_license_text, LicenseBuffer, SignedLicense, LICENSE_DOMAIN, LICENSE_PREFIX,
    LICENSE_VERSION, MAX_CLAIMS_LEN, MAX_LICENSE_LEN, MAX_LICENSE_TEXT_LEN, SIGNATURE_LEN,
};
#[cfg(feature = "alloc")]
pub use machine::certificate_text;
pub use machine::{
    CertificateBuffer, Fingerprint, FingerprintHex, MachineClaims, SignedCertificate,
    CERTIFICATE_DOMAIN, CERTIFICATE_PREFIX, CERTIFICATE_VERSION, CERTIFIED_FINGERPRINT_LEN,
    FINGERPRINT_DOMAIN, FINGERPRINT_LEN, MAX_CERTIFICATE_LEN, MAX_CERTIFICATE_TEXT_LEN,
    MAX_MACHINE_CLAIMS_LEN,
};
pub use product::Product;
pub use public_key::{PublicKey, MAX_PUBLIC_KEY_TEXT_LEN, PUBLIC_KEY_PREFIX};
#[cfg(feature = "alloc")]
pub use revocation::revocations_text;
pub use revocation::{
    decode_revocations, revocations_buffer_len, RevocationList, SignedRevocationList,
    MAX_REVOCATIONS_HEADER_LEN, REVOCATIONS_DOMAIN, REVOCATIONS_PREFIX, REVOCATIONS_VERSION,
};
#[cfg(feature = "sign")]
pub use signing::{KeyFileError, SigningKey, SIGNING_KEY_PREFIX};
pub use time::{UnixTime, MAX_WIRE_TIME, WIRE_EPOCH};
