//! The issuer's signing keys: the active one that signs, and the public keys apps should trust.
//!
//! Keys live in one of two places ([`KeySource`]):
//! - a directory: the configured key file (or the development key made on first start in the data
//!   directory), and the keys made by rotations in `<data_dir>/signing-keys/` (mode 0600). Processes
//!   sharing a data directory share these files. This is the embedded default's place.
//! - the database: for processes on several machines that share a database and no directory. The
//!   public key is kept in clear, the secret sealed with a key-encryption key the database never
//!   sees ([`sealing`]). The first start with no configured key makes one development key there,
//!   once, however many processes start at once: the database keeps the first row of a key id.
//!
//! Of all the keys, the configured one included, the one with the highest key id signs; every
//! other one stays trusted, so licences it signed keep verifying, and so do the configured
//! `retired_public_keys`. Only the secret of the key that signs is ever opened. A rotation
//! (`POST /v1/admin/keys/rotate`) adds a key with the next id where keys live, and every process
//! reads its keys again every `[signing] reload_seconds` ([`reloader`]), so a rotation made by one
//! process signs in all of them within seconds.

pub mod reloader;
pub mod sealing;
mod sources;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use tessera_keys::{PublicKey, SigningKey};

use crate::config::{KekSource, KEK_VARIABLE};
use crate::store::{Store, StoreError};
use sealing::{Kek, KekError, OpenError};
use sources::{Listed, Secret, Source};

/// The file name of the development key made on first start (directory source).
pub const DEV_KEY_FILE: &str = "dev-signing-key.tssk";

/// The directory, in the data directory, of keys made by rotations (directory source).
pub const ROTATED_KEYS_DIR: &str = "signing-keys";

/// The key id of the development key.
const DEV_KEY_ID: u32 = 1;

/// How many times a rotation tries again after another process took the key id it chose.
const ROTATION_TRIES: usize = 5;

/// Where the signing keys live.
pub enum KeySource {
    /// Files: the development key in the data directory and rotated keys in `signing-keys/` there.
    Directory,
    /// The store's signing keys, sealed with `kek`. For processes that share no directory (the
    /// issuer uses it whenever the store is PostgreSQL).
    Database {
        /// Where the keys are kept.
        store: Arc<dyn Store>,
        /// Seals and opens their secrets.
        kek: Kek,
    },
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeySource::Directory => "KeySource::Directory",
            KeySource::Database { .. } => "KeySource::Database",
        })
    }
}

impl KeySource {
    /// Keys in `store`, sealed with the configured key-encryption key, which is then required.
    pub fn database(
        store: Arc<dyn Store>,
        kek: Option<&KekSource>,
    ) -> Result<KeySource, KeyringError> {
        let kek = Kek::configured(kek).map_err(KeyringError::Kek)?;
        Ok(KeySource::Database { store, kek })
    }
}

/// The active signing key and every public key still trusted.
#[derive(Debug)]
pub struct Keyring {
    keys: RwLock<KeySet>,
    /// Taken by rotations and reloads of this process, so that they do not interleave.
    updating: Mutex<()>,
    places: Places,
}

/// Where the keys come from.
#[derive(Debug)]
struct Places {
    source: Source,
    /// The configured key, or the development key file (directory source).
    base: Option<Arc<SigningKey>>,
    retired: Vec<PublicKey>,
}

#[derive(Debug)]
struct KeySet {
    active: Arc<SigningKey>,
    /// The active key's first, then by key id, highest first; the retired keys last.
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
    /// A retired key has the id of a signing key.
    DuplicateKeyId(u32),
    /// Two signing keys have one key id.
    KeyIdTwice(u32),
    /// A rotation would make apps trust more keys than they can.
    TooManyKeys,
    /// Other processes took every key id this rotation chose.
    RotationContended,
    /// No signing key: none is configured, and none is kept where keys live (removed meanwhile).
    NoKey,
    /// The key-encryption key could not be had.
    Kek(KekError),
    /// A sealed key in the database did not open.
    Unseal {
        /// Its key id.
        key_id: u32,
        /// Why.
        problem: OpenError,
    },
    /// The database failed.
    Store(StoreError),
}

impl std::fmt::Display for KeyringError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyringError::Read { path, source } => write!(f, "{}: {source}", path.display()),
            KeyringError::Create { path, source } => {
                write!(f, "cannot create signing key {}: {source}", path.display())
            }
            KeyringError::DuplicateKeyId(id) => write!(
                f,
                "config `signing.retired_public_keys`: key id {id} is a signing key's id"
            ),
            KeyringError::KeyIdTwice(id) => write!(
                f,
                "two signing keys have key id {id} (the configured `signing.key_file` and a \
                 rotated key): give the configured key an id no rotated key has"
            ),
            KeyringError::TooManyKeys => write!(
                f,
                "apps trust at most {} keys: drop old ones from `signing.retired_public_keys` \
                 (or delete old rotated keys) before rotating again",
                tessera_verifier::MAX_TRUSTED_KEYS
            ),
            KeyringError::RotationContended => {
                f.write_str("other issuer processes are rotating keys at the same time: try again")
            }
            KeyringError::NoKey => f.write_str(
                "no signing key: none is configured (`signing.key_file`) and none is kept where \
                 signing keys live",
            ),
            KeyringError::Kek(err) => err.fmt(f),
            KeyringError::Unseal { key_id, problem } => match problem {
                OpenError::WrongKek => write!(
                    f,
                    "signing key {key_id} in the database does not open: the key-encryption key \
                     given ({KEK_VARIABLE} or [signing] key_encryption_key_file) is not the one \
                     that sealed it"
                ),
                OpenError::Malformed => write!(
                    f,
                    "signing key {key_id} in the database is not a sealed key this issuer can read"
                ),
                OpenError::NotItsPublicKey => write!(
                    f,
                    "signing key {key_id} in the database: its sealed secret is not the secret of \
                     its public key"
                ),
            },
            KeyringError::Store(err) => write!(f, "cannot read the signing keys: {err}"),
        }
    }
}

impl std::error::Error for KeyringError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KeyringError::Create { source, .. } => Some(source),
            KeyringError::Kek(err) => Some(err),
            KeyringError::Store(err) => Some(err),
            _ => None,
        }
    }
}

/// Whether the keyring's active key was just made as a development key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyOrigin {
    /// Read from the configured file.
    Configured,
    /// The development key, made before (by this process or another).
    ExistingDevelopmentKey,
    /// The development key, made now.
    NewDevelopmentKey,
}

impl Keyring {
    /// Loads the configured key (or the development key, making it on first start) and the keys
    /// in `source`; `data_dir` holds the development key and rotated keys of the directory source.
    pub fn load(
        key_file: Option<&Path>,
        data_dir: &Path,
        retired: &[PublicKey],
        source: KeySource,
    ) -> Result<(Keyring, KeyOrigin), KeyringError> {
        let source = match source {
            KeySource::Directory => Source::Directory {
                dev_key: data_dir.join(DEV_KEY_FILE),
                rotated: data_dir.join(ROTATED_KEYS_DIR),
            },
            KeySource::Database { store, kek } => Source::Database { store, kek },
        };
        let (base, origin) = match key_file {
            Some(path) => (Some(read(path)?), KeyOrigin::Configured),
            None => source.development_key()?,
        };
        let places = Places {
            source,
            base: base.map(Arc::new),
            retired: retired.to_vec(),
        };
        let keys = places.assemble(places.source.list()?, None)?;
        let keyring = Keyring {
            keys: RwLock::new(keys),
            updating: Mutex::new(()),
            places,
        };
        Ok((keyring, origin))
    }

    /// The key that signs new licences and revocation lists.
    pub fn active(&self) -> Arc<SigningKey> {
        Arc::clone(&self.keys().active)
    }

    /// Every public key apps should trust, the active one first.
    pub fn trusted(&self) -> Vec<PublicKey> {
        self.keys().trusted.clone()
    }

    /// Where the development key is, for the log.
    pub fn development_key_location(&self) -> String {
        match &self.places.source {
            Source::Directory { dev_key, .. } => dev_key.display().to_string(),
            Source::Database { .. } => "the database".to_owned(),
        }
    }

    /// Makes a new signing key with the next key id, keeps it where keys live, and makes it the
    /// active one; the previous keys stay trusted. Returns the new key's public key. Blocks.
    pub fn rotate(&self) -> Result<PublicKey, KeyringError> {
        let _updating = self.updating();
        let source = &self.places.source;
        for _ in 0..ROTATION_TRIES {
            // The keys as they are now where they live: another process may have rotated since
            // this one last looked.
            let keys = self.places.assemble(source.list()?, Some(&self.keys()))?;
            if keys.trusted.len() >= tessera_verifier::MAX_TRUSTED_KEYS {
                return Err(KeyringError::TooManyKeys);
            }
            let id = keys.trusted.iter().map(|key| key.id).max().unwrap_or(0) + 1;
            let key = SigningKey::generate(id);
            if !source.add(&key)? {
                continue;
            }
            let keys = self.places.assemble(source.list()?, Some(&keys))?;
            *self.keys_mut() = keys;
            return Ok(key.public_key());
        }
        Err(KeyringError::RotationContended)
    }

    /// Reads the keys again from where they live; returns whether they changed (a rotation by
    /// another process). Blocks.
    pub fn reload(&self) -> Result<bool, KeyringError> {
        let _updating = self.updating();
        let listed = self.places.source.list()?;
        let keys = self.places.assemble(listed, Some(&self.keys()))?;
        let mut current = self.keys_mut();
        let changed = keys.trusted != current.trusted;
        if changed {
            *current = keys;
        }
        Ok(changed)
    }

    fn keys(&self) -> std::sync::RwLockReadGuard<'_, KeySet> {
        // Both fields are replaced together under the write lock; a panic elsewhere cannot leave
        // them half-changed.
        self.keys
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn keys_mut(&self) -> std::sync::RwLockWriteGuard<'_, KeySet> {
        self.keys
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn updating(&self) -> std::sync::MutexGuard<'_, ()> {
        // Guards no data: a panic while holding it leaves nothing half-done.
        self.updating
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Places {
    /// The key set of the base key, the listed keys and the retired keys: the highest key id
    /// signs. Opens its secret unless `current` already holds that key.
    fn assemble(
        &self,
        listed: Vec<Listed>,
        current: Option<&KeySet>,
    ) -> Result<KeySet, KeyringError> {
        let mut signing: Vec<Listed> = self
            .base
            .iter()
            .map(|key| Listed {
                public: key.public_key(),
                secret: Secret::Open(Arc::clone(key)),
            })
            .chain(listed)
            .collect();
        signing.sort_by_key(|key| std::cmp::Reverse(key.public.id));
        if let Some(pair) = signing
            .windows(2)
            .find(|pair| pair[0].public.id == pair[1].public.id)
        {
            return Err(KeyringError::KeyIdTwice(pair[0].public.id));
        }
        let newest = signing.first().ok_or(KeyringError::NoKey)?;
        let active = match (&newest.secret, current) {
            (_, Some(current)) if current.active.public_key() == newest.public => {
                Arc::clone(&current.active)
            }
            (Secret::Open(key), _) => Arc::clone(key),
            (Secret::Sealed(sealed), _) => Arc::new(self.source.open(&newest.public, sealed)?),
        };
        let mut trusted: Vec<PublicKey> = signing.iter().map(|key| key.public).collect();
        for key in &self.retired {
            if trusted.iter().any(|t| t.id == key.id) {
                return Err(KeyringError::DuplicateKeyId(key.id));
            }
            trusted.push(*key);
        }
        Ok(KeySet { active, trusted })
    }
}

/// The keys a keyring of the directory source loads from files in `data_dir` beside the configured
/// `key_file`: the development key (only when no key is configured, as at start) and the keys made
/// by rotations, lowest key id first. Makes none. For moving the keys into a database.
pub fn directory_keys(
    key_file: Option<&Path>,
    data_dir: &Path,
) -> Result<Vec<SigningKey>, KeyringError> {
    let dev_key = data_dir.join(DEV_KEY_FILE);
    let mut keys = match key_file {
        None if dev_key.exists() => vec![read(&dev_key)?],
        _ => Vec::new(),
    };
    keys.extend(sources::read_rotated(&data_dir.join(ROTATED_KEYS_DIR))?);
    keys.sort_by_key(SigningKey::id);
    Ok(keys)
}

/// The signing key in the file at `path`.
fn read(path: &Path) -> Result<SigningKey, KeyringError> {
    SigningKey::read_file(path).map_err(|source| KeyringError::Read {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests;
