//! The issuer's signing keys: the active one that signs, and the public keys apps should trust.

use std::path::{Path, PathBuf};

use tessera_keys::{PublicKey, SigningKey};

/// The file name of the development key made on first start.
pub const DEV_KEY_FILE: &str = "dev-signing-key.tssk";

/// The active signing key and every public key still trusted.
#[derive(Debug)]
pub struct Keyring {
    active: SigningKey,
    trusted: Vec<PublicKey>,
}

/// Why the keys could not be loaded.
#[derive(Debug)]
pub enum KeyringError {
    /// The configured key file could not be read or is not a key.
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: tessera_keys::KeyFileError,
    },
    /// The development key could not be created.
    Create {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A retired key has the active key's id.
    DuplicateKeyId(u32),
}

impl std::fmt::Display for KeyringError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyringError::Read { path, source } => write!(f, "{}: {source}", path.display()),
            KeyringError::Create { path, source } => {
                write!(
                    f,
                    "cannot create development signing key {}: {source}",
                    path.display()
                )
            }
            KeyringError::DuplicateKeyId(id) => write!(
                f,
                "config `signing.retired_public_keys`: key id {id} is the active key's id"
            ),
        }
    }
}

impl std::error::Error for KeyringError {}

/// Whether the keyring's active key was just made as a development key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyOrigin {
    /// Read from the configured file.
    Configured,
    /// The development key in the data directory, made before.
    ExistingDevelopmentKey,
    /// The development key, made now.
    NewDevelopmentKey,
}

impl Keyring {
    /// Loads the configured key, or the development key in `data_dir` (making it on first start).
    pub fn load(
        key_file: Option<&Path>,
        data_dir: &Path,
        retired: &[PublicKey],
    ) -> Result<(Keyring, KeyOrigin), KeyringError> {
        let (active, origin) = match key_file {
            Some(path) => (read(path)?, KeyOrigin::Configured),
            None => {
                let path = data_dir.join(DEV_KEY_FILE);
                if path.exists() {
                    (read(&path)?, KeyOrigin::ExistingDevelopmentKey)
                } else {
                    let key = SigningKey::generate(1);
                    key.write_file(&path)
                        .map_err(|source| KeyringError::Create { path, source })?;
                    (key, KeyOrigin::NewDevelopmentKey)
                }
            }
        };
        if let Some(dup) = retired.iter().find(|key| key.id == active.id()) {
            return Err(KeyringError::DuplicateKeyId(dup.id));
        }
        let mut trusted = vec![active.public_key()];
        trusted.extend_from_slice(retired);
        Ok((Keyring { active, trusted }, origin))
    }

    /// The key that signs new licences and revocation lists.
    pub fn active(&self) -> &SigningKey {
        &self.active
    }

    /// Every public key apps should trust, the active one first.
    pub fn trusted(&self) -> &[PublicKey] {
        &self.trusted
    }
}

fn read(path: &Path) -> Result<SigningKey, KeyringError> {
    SigningKey::read_file(path).map_err(|source| KeyringError::Read {
        path: path.to_owned(),
        source,
    })
}
