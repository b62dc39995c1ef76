//! The issuer server, run for real.

mod basics;
mod email;
pub mod harness;
mod page;
pub mod seed;
pub mod stripe_fixtures;
mod validate;
mod webhooks;
