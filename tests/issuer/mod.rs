//! The issuer server, run for real.

mod admin;
mod basics;
mod credit_faults;
mod credits;
mod email;
mod limits;
pub mod harness;
mod page;
mod refunds;
pub mod seed;
pub mod stripe_fixtures;
mod validate;
mod webhooks;
