//! The issuer server, run for real.

mod admin;
mod basics;
mod connections;
mod crash;
mod credit_faults;
mod credits;
mod desktop_example;
mod email;
mod email_processes;
pub mod harness;
mod key_rotation;
mod limits;
mod machines;
mod machines_cli;
mod migrate;
mod openapi;
mod page;
mod pg_tls;
mod refunds;
pub mod seed;
pub mod smtp_sink;
pub mod stripe_fixtures;
mod validate;
mod webhooks;
