//! The issuer's signing keys: the active one that signs, and the public keys apps should trust.
//!
//! The active key is the configured one (or the development key), unless keys were rotated: a
//! rotation (`POST /v1/admin/keys/rotate`) makes a new key with the next key id in
//! `<data_dir>/signing-keys/` (mode 0600), where the next start finds it again; the newest key there
//! signs, and every earlier key stays trusted, so licences they signed keep verifying. Another process
//! sharing the data directory sees a rotation when it restarts.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use tessera_keys::{PublicKey, SigningKey};

use crate::private_files::create_private_dir;

/// The file name of the development key made on first start.
pub const DEV_KEY_FILE: &str = "dev-signing-key.tssk";

/// The directory, in the data directory, of keys made by rotations.
pub const ROTATED_KEYS_DIR: &str = "signing-keys";

/// The active signing key and every public key still trusted.
#[derive(Debug)]
pub struct Keyring {
    keys: RwLock<KeySet>,
    rotated_dir: PathBuf,
}

#[derive(Debug)]
struct KeySet {
    active: Arc<SigningKey>,
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
    /// A rotation would make apps trust more keys than they can.
    TooManyKeys,
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
            KeyringError::TooManyKeys => write!(
                f,
                "apps trust at most {} keys: drop old ones from `signing.retired_public_keys` \
                 (or delete old rotated keys) before rotating again",
                tessera_verifier::MAX_TRUSTED_KEYS
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
        let rotated_dir = data_dir.join(ROTATED_KEYS_DIR);
        let mut rotated = read_rotated(&rotated_dir)?;
        let mut trusted = Vec::new();
        let active = match rotated.pop() {
            Some(newest) => {
                trusted.push(newest.public_key());
                trusted.extend(rotated.iter().rev().map(SigningKey::public_key));
                trusted.push(active.public_key());
                newest
            }
            None => {
                trusted.push(active.public_key());
                active
            }
        };
        for key in retired {
            if trusted.iter().any(|t| t.id == key.id) {
                return Err(KeyringError::DuplicateKeyId(key.id));
            }
            trusted.push(*key);
        }
        let keys = KeySet {
            active: Arc::new(active),
            trusted,
        };
        Ok((
            Keyring {
                keys: RwLock::new(keys),
                rotated_dir,
            },
            origin,
        ))
    }

    /// The key that signs new licences and revocation lists.
    pub fn active(&self) -> Arc<SigningKey> {
        Arc::clone(&self.keys().active)
    }

    /// Every public key apps should trust, the active one first.
    pub fn trusted(&self) -> Vec<PublicKey> {
        self.keys().trusted.clone()
    }

    /// Makes a new signing key with the next key id, stores it (mode 0600) and makes it the active
    /// one; the previous keys stay trusted. Returns the new key's public key.
    pub fn rotate(&self) -> Result<PublicKey, KeyringError> {
        let mut keys = self
            .keys
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if keys.trusted.len() >= tessera_verifier::MAX_TRUSTED_KEYS {
            return Err(KeyringError::TooManyKeys);
        }
        let id = keys.trusted.iter().map(|key| key.id).max().unwrap_or(0) + 1;
        let key = SigningKey::generate(id);
        let create = |source| KeyringError::Create {
            path: self.rotated_dir.clone(),
            source,
        };
        create_private_dir(&self.rotated_dir).map_err(create)?;
        let path = self.rotated_dir.join(format!("key-{id}.tssk"));
        key.write_file(&path).map_err(create)?;
        let public = key.public_key();
        keys.trusted.insert(0, public);
        keys.active = Arc::new(key);
        Ok(public)
    }

    fn keys(&self) -> std::sync::RwLockReadGuard<'_, KeySet> {
        // Both fields are replaced together under the write lock; a panic elsewhere cannot leave
        // them half-changed.
        self.keys
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The keys made by earlier rotations, oldest (lowest key id) first.
fn read_rotated(dir: &Path) -> Result<Vec<SigningKey>, KeyringError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(KeyringError::Create {
                path: dir.to_owned(),
                source,
            })
        }
    };
    let mut keys = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|source| KeyringError::Create {
                path: dir.to_owned(),
                source,
            })?
            .path();
        if path.extension().is_some_and(|ext| ext == "tssk") {
            keys.push(read(&path)?);
        }
    }
    keys.sort_by_key(SigningKey::id);
    Ok(keys)
}

fn read(path: &Path) -> Result<SigningKey, KeyringError> {
    SigningKey::read_file(path).map_err(|source| KeyringError::Read {
        path: path.to_owned(),
        source,
    })
}
