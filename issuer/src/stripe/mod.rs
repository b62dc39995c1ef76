//! Stripe glue: webhook signatures, the event objects the issuer reads, and the few API calls it
//! makes.
//!
//! Signatures are checked by async-stripe's webhook support on the raw body, before anything is
//! parsed. The objects the issuer acts on are then read from the JSON with small serde models of only
//! the fields it needs (`objects`), so that fields Stripe adds, removes or renames elsewhere in an
//! object (the fixtures run ahead of async-stripe's typed models) cannot stop a licence from being
//! issued.

pub mod api;
pub mod objects;
pub mod signature;
