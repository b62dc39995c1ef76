//! Runnable examples live in `examples/`; see `cargo run -p tessera-examples --example desktop_app`.
