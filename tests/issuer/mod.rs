//! The issuer server, run for real.

mod basics;
pub mod harness;
