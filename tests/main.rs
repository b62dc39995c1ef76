//! End-to-end tests: golden vectors, property tests, and the `tessera` binary run for real.

mod admin_cli;
mod cli;
mod issuer;
mod key_vectors;
mod machine_properties;
mod machine_vectors;
mod machines_cli;
mod properties;
mod store;
mod util;
mod vectors;
