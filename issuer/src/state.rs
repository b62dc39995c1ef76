//! What every handler shares.

use std::sync::Arc;

use crate::config::Config;
use crate::error::ApiError;
use crate::keyring::Keyring;
use crate::rate_limit::RateLimits;
use crate::store::Store;
use crate::verified_keys::VerifiedKeys;

/// Shared by all handlers; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The configuration the issuer started with.
    pub config: Arc<Config>,
    /// Where the data lives.
    pub store: Arc<dyn Store>,
    /// Signing keys.
    pub keyring: Arc<Keyring>,
    /// Judges licence keys against the keyring's trusted public keys.
    pub verified_keys: Arc<VerifiedKeys>,
    /// Per-address and per-licence rate limits.
    pub rate_limits: Arc<RateLimits>,
    /// Notified after a webhook's effects commit, so that the e-mail sender looks for new mail.
    pub outbox: Arc<tokio::sync::Notify>,
    /// Set when the process has been asked to stop: `/readyz` then answers 503 while requests are
    /// still served (see [`crate::server::drain_then_stop`]).
    pub draining: Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

impl AppState {
    /// Runs blocking storage work on the blocking thread pool, off the async executor.
    pub async fn db<T, E>(
        &self,
        work: impl FnOnce(&dyn Store) -> Result<T, E> + Send + 'static,
    ) -> Result<T, ApiError>
    where
        T: Send + 'static,
        E: Into<ApiError> + Send + 'static,
    {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || work(&*store))
            .await
            .map_err(|err| ApiError::Internal(format!("storage task failed: {err}")))?
            .map_err(Into::into)
    }
}
