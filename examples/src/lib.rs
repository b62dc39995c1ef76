//! Runnable examples of embedding Tessera; their sources sit next to this crate's `Cargo.toml`.
//!
//! - `desktop_app`: what a desktop app does with a licence: embedded public key and product table,
//!   the saved key read from a file, an optional cached revocation list, offline verification, feature
//!   gating, days left and the grace period.
//!   `cargo run -p tessera-examples --example desktop_app -- examples/demo-license.txt`
//! - `make_demo_licenses`: rewrites the `demo-*.txt` files, signed with a published DEMO key.
