//! Reading and adding signing keys where they live: files in the data directory, or the database.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tessera_keys::{PublicKey, SigningKey};

use super::sealing::{Kek, OpenError};
use super::{read, KeyOrigin, KeyringError, DEV_KEY_ID};
use crate::private_files::create_private_dir;
use crate::store::{Store, Timestamp};

/// Where keys made on first start and by rotations are kept.
pub(super) enum Source {
    /// Files, mode 0600.
    Directory {
        /// The development key file.
        dev_key: PathBuf,
        /// The directory of rotated keys, one file each.
        rotated: PathBuf,
    },
    /// Rows of the store, their secrets sealed.
    Database { store: Arc<dyn Store>, kek: Kek },
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Directory { rotated, .. } => f
                .debug_struct("Directory")
                .field("rotated", rotated)
                .finish_non_exhaustive(),
            Source::Database { .. } => f.debug_struct("Database").finish_non_exhaustive(),
        }
    }
}

/// A key found where keys live.
pub(super) struct Listed {
    pub(super) public: PublicKey,
    pub(super) secret: Secret,
}

/// A found key's secret, as it was found.
pub(super) enum Secret {
    /// Read from a file (or configured).
    Open(Arc<SigningKey>),
    /// Sealed in the database: opened only if it is to sign.
    Sealed(Vec<u8>),
}

impl Source {
    /// The development key, made on first start: a file (directory source), or none beside the
    /// database's keys, where it is made once when the database holds none.
    pub(super) fn development_key(&self) -> Result<(Option<SigningKey>, KeyOrigin), KeyringError> {
        match self {
            Source::Directory { dev_key, .. } => {
                if dev_key.exists() {
                    return Ok((Some(read(dev_key)?), KeyOrigin::ExistingDevelopmentKey));
                }
                let key = SigningKey::generate(DEV_KEY_ID);
                key.write_file(dev_key)
                    .map_err(|source| KeyringError::Create {
                        path: dev_key.clone(),
                        source,
                    })?;
                Ok((Some(key), KeyOrigin::NewDevelopmentKey))
            }
            Source::Database { store, .. } => {
                if !store
                    .signing_keys()
                    .map_err(KeyringError::Store)?
                    .is_empty()
                {
                    return Ok((None, KeyOrigin::ExistingDevelopmentKey));
                }
                // Several processes starting at once may each make one: the database keeps the
                // first, and the others use it.
                let made = self.add(&SigningKey::generate(DEV_KEY_ID))?;
                let origin = if made {
                    KeyOrigin::NewDevelopmentKey
                } else {
                    KeyOrigin::ExistingDevelopmentKey
                };
                Ok((None, origin))
            }
        }
    }

    /// The keys made by rotations (and the database's development key), in no particular order.
    pub(super) fn list(&self) -> Result<Vec<Listed>, KeyringError> {
        match self {
            Source::Directory { rotated, .. } => Ok(read_rotated(rotated)?
                .into_iter()
                .map(|key| Listed {
                    public: key.public_key(),
                    secret: Secret::Open(Arc::new(key)),
                })
                .collect()),
            Source::Database { store, .. } => Ok(store
                .signing_keys()
                .map_err(KeyringError::Store)?
                .into_iter()
                .map(|stored| Listed {
                    public: stored.public_key,
                    secret: Secret::Sealed(stored.sealed_secret),
                })
                .collect()),
        }
    }

    /// Keeps `key` unless a key with its id is kept already; returns whether it was new.
    pub(super) fn add(&self, key: &SigningKey) -> Result<bool, KeyringError> {
        match self {
            Source::Directory { rotated, .. } => add_file(rotated, key),
            Source::Database { store, kek } => store
                .add_signing_key(&kek.seal_for_store(key, crate::clock::now().0 as Timestamp))
                .map_err(KeyringError::Store),
        }
    }

    /// The signing key `public` names, from its sealed secret.
    pub(super) fn open(
        &self,
        public: &PublicKey,
        sealed: &[u8],
    ) -> Result<SigningKey, KeyringError> {
        let problem = match self {
            Source::Database { kek, .. } => match kek.open(public, sealed) {
                Ok(key) => return Ok(key),
                Err(problem) => problem,
            },
            // Files hold no sealed keys: nothing of the directory's can come here.
            Source::Directory { .. } => OpenError::Malformed,
        };
        Err(KeyringError::Unseal {
            key_id: public.id,
            problem,
        })
    }
}

/// Writes `key` as `key-<id>.tssk` in `dir` unless that file exists; returns whether it was new.
///
/// Written whole under another name first, then linked into place, which fails if the name is
/// taken: a process reading the directory meanwhile never sees half a key, and of two processes
/// rotating at once only one gets the id.
fn add_file(dir: &Path, key: &SigningKey) -> Result<bool, KeyringError> {
    let failed = |path: &Path| {
        let path = path.to_owned();
        move |source| KeyringError::Create { path, source }
    };
    create_private_dir(dir).map_err(failed(dir))?;
    let path = dir.join(format!("key-{}.tssk", key.id()));
    // Not `.tssk`, so that readers skip it; named by the process, so that two never share one.
    let partial = dir.join(format!(".key-{}.{}.partial", key.id(), std::process::id()));
    let _ = std::fs::remove_file(&partial);
    key.write_file(&partial).map_err(failed(&partial))?;
    let linked = std::fs::hard_link(&partial, &path);
    let _ = std::fs::remove_file(&partial);
    match linked {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(source) => Err(KeyringError::Create { path, source }),
    }
}

/// The keys made by earlier rotations, oldest (lowest key id) first.
pub(super) fn read_rotated(dir: &Path) -> Result<Vec<SigningKey>, KeyringError> {
    let unreadable = |source| KeyringError::Create {
        path: dir.to_owned(),
        source,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(unreadable(source)),
    };
    let mut keys = Vec::new();
    for entry in entries {
        let path = entry.map_err(unreadable)?.path();
        if path.extension().is_some_and(|ext| ext == "tssk") {
            keys.push(read(&path)?);
        }
    }
    keys.sort_by_key(SigningKey::id);
    Ok(keys)
}
