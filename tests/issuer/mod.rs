//! The issuer server, run for real.

mod basics;
pub mod harness;
mod page;
pub mod seed;
pub mod stripe_fixtures;
mod validate;
mod webhooks;
