//! Reads the signing keys again every few seconds, so that a rotation made by another process
//! (sharing the data directory or the database) signs here too, and its public key is trusted and
//! published.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::Keyring;
use crate::verified_keys::VerifiedKeys;

/// The running reloader; [`KeyReloader::stop`] ends it.
#[derive(Debug)]
pub struct KeyReloader {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Starts reading `keyring`'s keys again every `every`, trusting what it finds in `verified`.
/// Call inside the tokio runtime.
pub fn start(keyring: Arc<Keyring>, verified: Arc<VerifiedKeys>, every: Duration) -> KeyReloader {
    let (stop, mut stopped) = watch::channel(false);
    let task = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is at once, and the keys were just loaded.
        ticks.tick().await;
        // Logged when it changes, not every few seconds while a database is away.
        let mut last_failure: Option<String> = None;
        loop {
            tokio::select! {
                _ = stopped.changed() => return,
                _ = ticks.tick() => {}
            }
            let reloading = Arc::clone(&keyring);
            let outcome = match tokio::task::spawn_blocking(move || reloading.reload()).await {
                Ok(reloaded) => reloaded.map_err(|err| err.to_string()),
                Err(err) => Err(format!("the reload task failed: {err}")),
            };
            match outcome {
                Ok(changed) => {
                    if last_failure.take().is_some() {
                        tracing::info!("signing keys read again");
                    }
                    if changed {
                        trust(&keyring, &verified);
                    }
                }
                Err(err) => {
                    if last_failure.as_ref() != Some(&err) {
                        tracing::error!(
                            error = %err,
                            "cannot read the signing keys again: signing with the keys read before"
                        );
                        last_failure = Some(err);
                    }
                }
            }
        }
    });
    KeyReloader { stop, task }
}

/// Trusts the keyring's keys, after they changed.
fn trust(keyring: &Keyring, verified: &VerifiedKeys) {
    let active = keyring.active().id();
    match verified.trust(&keyring.trusted()) {
        Ok(()) => tracing::warn!(
            key_id = active,
            "signing keys changed where they live (rotated by another process?): new licences are \
             signed with key {active}"
        ),
        Err(err) => tracing::error!(error = %err, "cannot trust the signing keys read again"),
    }
}

impl KeyReloader {
    /// Stops the reloader after the reload in progress, if any.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}
