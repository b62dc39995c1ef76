//! The one place the issuer reads the clock.

use tessera_keys::UnixTime;

/// The current time.
pub fn now() -> UnixTime {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    UnixTime(since_epoch.as_secs())
}
