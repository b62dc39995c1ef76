//! Runnable examples of embedding Tessera; their sources sit next to this crate's `Cargo.toml`.
//!
//! - `desktop_app`: what a desktop app does with a licence: embedded public key and product table,
//!   the saved key read from a file, an optional cached revocation list, offline verification, feature
//!   gating, days left and the grace period; for a seat-limited licence, activation on first run
//!   against the issuer (`--issuer URL`), offline checks of the machine certificate with a last-seen
//!   file, lease renewal, and what to do when every seat is taken (`desktop_app/activation.rs`).
//!   `cargo run -p tessera-examples --example desktop_app -- examples/demo-license.txt`
//! - `make_demo_licenses`: rewrites the `demo-*.txt` files, signed with a published DEMO key.
