//! The Tessera issuer: the server a vendor runs next to Stripe.
//!
//! Stripe tells it that someone paid (webhooks); it signs a licence key with the vendor's Ed25519 key
//! (format and signing from `tessera-keys`), stores it in SQLite, and serves it to the buyer, together
//! with the public keys and the signed revocation list apps use to verify offline.
//!
//! With no configuration it runs on the embedded default: data in `./tessera-data/` (SQLite in WAL
//! mode, and a development signing key made on first start), listening on `127.0.0.1:8080`.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use tessera_issuer::{config::{Config, Environment}, startup};
//!
//! let config = Config::load(None, &Environment::from_process())?;
//! let state = startup::open(config)?;
//! let listener = tokio::net::TcpListener::bind(state.config.listen).await?;
//! tessera_issuer::serve(listener, state, tessera_issuer::server::shutdown_signal()).await;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod admin;
pub mod checkout_page;
pub mod clock;
pub mod config;
pub mod connections;
pub mod credits;
pub mod email;
pub mod error;
pub mod extract;
pub mod fulfil;
pub mod health;
pub mod keyring;
pub mod licenses;
pub mod machines;
pub mod migrate_from_sqlite;
pub mod openapi;
mod private_files;
pub mod public_keys;
pub mod rate_limit;
pub mod server;
pub mod startup;
pub mod state;
pub mod store;
pub mod stripe;
pub mod sweeper;
#[doc(hidden)]
pub mod testing;
pub mod validate;
pub mod verified_keys;
pub mod webhooks;

use axum::Router;

use crate::state::AppState;

/// Serves the API on `listener` until `shutdown` resolves, within the connection limits of
/// `[limits]` ([`connections`]), then finishes the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let limits = state.config.connections;
    connections::serve(listener, app(state), limits, shutdown).await;
}

/// The whole HTTP API: one router per module, merged.
pub fn app(state: AppState) -> Router {
    let limits = server::Limits::from(&*state.config);
    let routes = Router::new()
        .merge(health::router())
        .merge(public_keys::router())
        .merge(licenses::router())
        .merge(validate::router())
        .merge(credits::router(&state))
        .merge(machines::router())
        .merge(admin::router(&state))
        .merge(checkout_page::router())
        .merge(webhooks::router(&state))
        .merge(openapi::router())
        // Before the rate limit, which then counts unknown paths too.
        .fallback(server::no_such_endpoint)
        .layer(axum::middleware::from_fn_with_state(
            std::sync::Arc::clone(&state.rate_limits),
            rate_limit::per_ip,
        ))
        .with_state(state);
    server::with_middleware(routes, limits)
}
