//! This machine's fingerprint, from the identifier the operating system keeps for it.

use core::fmt;
use std::string::String;

use tessera_keys::Fingerprint;

/// Why this machine's identifier could not be read.
#[derive(Debug)]
pub struct FingerprintError {
    reason: String,
}

impl fmt::Display for FingerprintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot read this machine's id: {}", self.reason)
    }
}

impl std::error::Error for FingerprintError {}

/// This machine's fingerprint for `product`: [`Fingerprint::of_machine_id`] of the OS machine id
/// (Linux `/etc/machine-id` or `/var/lib/dbus/machine-id`, macOS IOPlatformUUID, Windows
/// MachineGuid), with surrounding whitespace removed. The id itself never leaves the machine.
pub fn machine_fingerprint(product: u32) -> Result<Fingerprint, FingerprintError> {
    let id = machine_uid::get().map_err(|err| FingerprintError {
        reason: std::string::ToString::to_string(&err),
    })?;
    let id = id.trim();
    if id.is_empty() {
        return Err(FingerprintError {
            reason: "the operating system gives an empty machine id".into(),
        });
    }
    Ok(Fingerprint::of_machine_id(product, id.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_is_stable_and_depends_on_the_product() {
        // Containers without a machine id cannot take part; everything else must.
        let Ok(first) = machine_fingerprint(1) else {
            return;
        };
        assert_eq!(machine_fingerprint(1).unwrap(), first);
        assert_ne!(machine_fingerprint(2).unwrap(), first);
    }
}
