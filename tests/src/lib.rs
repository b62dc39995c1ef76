//! End-to-end tests for Tessera live in `main.rs` and its modules; this library is intentionally empty.
