//! Signing keys sealed for the database with a key-encryption key (KEK) it never sees.
//!
//! Whoever reads the database (a backup, a replica, a DBA) must not be able to issue licences, so
//! a signing key's secret is stored sealed: XChaCha20-Poly1305 under a 32-byte KEK given to every
//! issuer process by the environment (`TESSERA_KEY_ENCRYPTION_KEY`) or a file (`[signing]
//! key_encryption_key_file`, mode 0600). XChaCha's 192-bit nonce is drawn at random for every seal:
//! processes on several machines seal without sharing a counter, and a collision is out of reach.
//! The key id is the associated data, so a sealed secret copied onto another key's row does not
//! open. Opening also checks the secret against the row's public key.
//!
//! Sealed form: `[1] (format version) || nonce (24 bytes) || sealed seed (32 bytes) || tag (16 bytes)`.
//!
//! The KEK stays in memory while the process runs (rotations seal, reloads open) and is wiped when
//! dropped; it is never logged, and no error shows it.

use std::path::{Path, PathBuf};

use base64ct::{Base64, Encoding};
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};
use tessera_keys::{PublicKey, SigningKey};
use zeroize::Zeroizing;

use crate::config::{KekSource, KEK_VARIABLE};
use crate::private_files::open_to_others;
use crate::store::{StoredSigningKey, Timestamp};

const FORMAT: u8 = 1;
const NONCE_LEN: usize = 24;
const SEED_LEN: usize = 32;
const TAG_LEN: usize = 16;
/// The length of a sealed secret.
pub const SEALED_LEN: usize = 1 + NONCE_LEN + SEED_LEN + TAG_LEN;
/// Binds the associated data to this use, beside the key id.
const DOMAIN: &[u8] = b"tessera signing key\0";

/// The key-encryption key; wiped from memory when dropped.
pub struct Kek {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(…)")
    }
}

/// Why the key-encryption key could not be had.
#[derive(Debug)]
pub enum KekError {
    /// Keys live in the database, and no KEK is given.
    Missing,
    /// The text is not 32 bytes as hex or base64.
    Malformed {
        /// Where it came from: the variable, or the file.
        from: String,
    },
    /// The KEK file could not be read.
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Group or others may read the KEK file.
    Exposed {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

impl std::fmt::Display for KekError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KekError::Missing => write!(
                f,
                "signing keys live in the database, sealed with a key-encryption key: set \
                 {KEK_VARIABLE} or [signing] key_encryption_key_file (32 random bytes, e.g. \
                 `openssl rand -hex 32`)"
            ),
            KekError::Malformed { from } => write!(
                f,
                "{from}: not a key-encryption key: it must be 32 bytes written as 64 hex digits or \
                 base64 (e.g. `openssl rand -hex 32`)"
            ),
            KekError::Unreadable { path, source } => write!(
                f,
                "cannot read the key-encryption key file {}: {source}",
                path.display()
            ),
            KekError::Exposed { path, mode } => write!(
                f,
                "the key-encryption key file {} is open to group or others (mode {mode:04o}): run \
                 `chmod 600 {}`",
                path.display(),
                path.display()
            ),
        }
    }
}

impl std::error::Error for KekError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KekError::Unreadable { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Why a sealed secret did not open.
#[derive(Debug, PartialEq, Eq)]
pub enum OpenError {
    /// The tag does not verify: sealed with another KEK (or altered since).
    WrongKek,
    /// Not a sealed secret of a known format.
    Malformed,
    /// It opens, but to a key other than the row's public key.
    NotItsPublicKey,
}

impl Kek {
    /// The KEK from `source`: the variable's text, or the file's (which must be 0600).
    pub fn load(source: &KekSource) -> Result<Kek, KekError> {
        match source {
            KekSource::Environment(text) => Kek::parse(text.expose(), || KEK_VARIABLE.to_owned()),
            KekSource::File(path) => {
                let text = read_private(path)?;
                Kek::parse(&text, || {
                    format!("the key-encryption key file {}", path.display())
                })
            }
        }
    }

    /// The KEK written as 64 hex digits or base64 (surrounding whitespace ignored); `from` names
    /// where the text came from, for the error.
    pub fn parse(text: &str, from: impl FnOnce() -> String) -> Result<Kek, KekError> {
        let bytes = decode_kek(text.trim()).ok_or_else(|| KekError::Malformed { from: from() })?;
        Ok(Kek::from_bytes(&bytes))
    }

    /// The KEK made of these bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Kek {
        Kek {
            cipher: XChaCha20Poly1305::new(bytes.into()),
        }
    }

    /// The KEK from `source`, which is required: keys in the database are never kept unsealed.
    pub fn configured(source: Option<&KekSource>) -> Result<Kek, KekError> {
        Kek::load(source.ok_or(KekError::Missing)?)
    }

    /// `key` as the database keeps it, its secret sealed, made at `created_at`.
    pub fn seal_for_store(&self, key: &SigningKey, created_at: Timestamp) -> StoredSigningKey {
        StoredSigningKey {
            key_id: key.id(),
            public_key: key.public_key(),
            sealed_secret: self.seal(key),
            created_at,
        }
    }

    /// `key`'s secret, sealed (with a fresh random nonce) for storage beside its public key.
    pub fn seal(&self, key: &SigningKey) -> Vec<u8> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let mut seed = key.to_seed();
        let tag = self
            .cipher
            .encrypt_inout_detached(
                &XNonce::from(nonce),
                &associated_data(key.id()),
                seed.as_mut_slice().into(),
            )
            .expect("a 32-byte message is far below XChaCha20-Poly1305's length limit");
        let mut sealed = Vec::with_capacity(SEALED_LEN);
        sealed.push(FORMAT);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(seed.as_slice());
        sealed.extend_from_slice(&tag);
        sealed
    }

    /// The signing key `public` names, from its sealed secret.
    pub fn open(&self, public: &PublicKey, sealed: &[u8]) -> Result<SigningKey, OpenError> {
        let Some((&FORMAT, rest)) = sealed.split_first() else {
            return Err(OpenError::Malformed);
        };
        let (nonce, rest) = rest
            .split_at_checked(NONCE_LEN)
            .ok_or(OpenError::Malformed)?;
        let (ciphertext, tag) = rest
            .split_at_checked(SEED_LEN)
            .ok_or(OpenError::Malformed)?;
        let nonce = XNonce::try_from(nonce).map_err(|_| OpenError::Malformed)?;
        let tag = Tag::try_from(tag).map_err(|_| OpenError::Malformed)?;
        let mut seed = Zeroizing::new([0u8; SEED_LEN]);
        seed.copy_from_slice(ciphertext);
        self.cipher
            .decrypt_inout_detached(
                &nonce,
                &associated_data(public.id),
                seed.as_mut_slice().into(),
                &tag,
            )
            .map_err(|_| OpenError::WrongKek)?;
        let key = SigningKey::from_seed(public.id, &seed);
        if key.public_key() != *public {
            return Err(OpenError::NotItsPublicKey);
        }
        Ok(key)
    }
}

fn associated_data(key_id: u32) -> Vec<u8> {
    [DOMAIN, &key_id.to_be_bytes()].concat()
}

/// 32 bytes from 64 hex digits, or from base64 (standard alphabet, padded).
fn decode_kek(text: &str) -> Option<Zeroizing<[u8; 32]>> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    if text.len() == 64 && text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        for (byte, pair) in bytes.iter_mut().zip(text.as_bytes().chunks(2)) {
            let pair = std::str::from_utf8(pair).ok()?;
            *byte = u8::from_str_radix(pair, 16).ok()?;
        }
        return Some(bytes);
    }
    match Base64::decode(text, bytes.as_mut_slice()) {
        Ok(decoded) if decoded.len() == 32 => Some(bytes),
        _ => None,
    }
}

/// The file's text, refused if group or others may read it.
fn read_private(path: &Path) -> Result<Zeroizing<String>, KekError> {
    let unreadable = |source| KekError::Unreadable {
        path: path.to_owned(),
        source,
    };
    if let Some(mode) = open_to_others(path).map_err(unreadable)? {
        return Err(KekError::Exposed {
            path: path.to_owned(),
            mode,
        });
    }
    std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(unreadable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kek(byte: u8) -> Kek {
        Kek::from_bytes(&[byte; 32])
    }

    #[test]
    fn a_sealed_key_opens_to_the_same_key() {
        let key = SigningKey::generate(3);
        let sealed = kek(1).seal(&key);
        assert_eq!(sealed.len(), SEALED_LEN);
        let opened = kek(1).open(&key.public_key(), &sealed).unwrap();
        assert_eq!(opened.public_key(), key.public_key());
        assert_eq!(*opened.to_seed(), *key.to_seed());
        // The seed is not in the sealed form, and two seals of one key differ (random nonces).
        assert!(!sealed.windows(32).any(|w| w == key.to_seed().as_slice()));
        assert_ne!(sealed, kek(1).seal(&key));
    }

    #[test]
    fn another_kek_does_not_open_it() {
        let key = SigningKey::generate(3);
        let sealed = kek(1).seal(&key);
        assert_eq!(
            kek(2).open(&key.public_key(), &sealed).unwrap_err(),
            OpenError::WrongKek
        );
    }

    #[test]
    fn an_altered_sealed_key_does_not_open() {
        let key = SigningKey::generate(3);
        let sealed = kek(1).seal(&key);
        for at in 1..sealed.len() {
            let mut altered = sealed.clone();
            altered[at] ^= 0x01;
            assert_eq!(
                kek(1).open(&key.public_key(), &altered).unwrap_err(),
                OpenError::WrongKek,
                "byte {at}"
            );
        }
        let mut other_format = sealed.clone();
        other_format[0] = 2;
        assert_eq!(
            kek(1).open(&key.public_key(), &other_format).unwrap_err(),
            OpenError::Malformed
        );
        assert_eq!(
            kek(1)
                .open(&key.public_key(), &sealed[..SEALED_LEN - 1])
                .unwrap_err(),
            OpenError::Malformed
        );
    }

    #[test]
    fn a_sealed_secret_is_bound_to_its_key_id() {
        // Key 3's sealed secret on the row of key 4 (with key 4's public key, or key 3's point
        // relabelled 4) does not open: the key id is the associated data.
        let three = SigningKey::generate(3);
        let four = SigningKey::generate(4);
        let sealed = kek(1).seal(&three);
        assert_eq!(
            kek(1).open(&four.public_key(), &sealed).unwrap_err(),
            OpenError::WrongKek
        );
        let relabelled = PublicKey::new(4, three.public_key().bytes);
        assert_eq!(
            kek(1).open(&relabelled, &sealed).unwrap_err(),
            OpenError::WrongKek
        );
        // Sealed for the right id, it must also match the row's public key.
        let other_three = SigningKey::generate(3);
        assert_eq!(
            kek(1).open(&other_three.public_key(), &sealed).unwrap_err(),
            OpenError::NotItsPublicKey
        );
    }

    #[test]
    fn a_kek_is_64_hex_digits_or_base64_of_32_bytes() {
        let key = SigningKey::generate(1);
        let sealed = kek(0xab).seal(&key);
        let hex = "ab".repeat(32);
        let base64 = Base64::encode_string(&[0xab; 32]);
        for text in [
            hex.as_str(),
            &hex.to_uppercase(),
            &base64,
            &format!("  {base64}\n"),
        ] {
            let parsed = Kek::parse(text, || "test".into()).unwrap();
            assert!(parsed.open(&key.public_key(), &sealed).is_ok(), "{text}");
        }
        let short = Base64::encode_string(&[0xab; 31]);
        for text in [
            "",
            &hex[..62],
            &format!("{hex}00"),
            &short,
            "not a key at all",
        ] {
            let err = Kek::parse(text, || "TESSERA_KEY_ENCRYPTION_KEY".into()).unwrap_err();
            let message = err.to_string();
            assert!(
                message.starts_with("TESSERA_KEY_ENCRYPTION_KEY: not a key-encryption key"),
                "{message}"
            );
            assert!(text.is_empty() || !message.contains(text), "{message}");
        }
    }

    #[test]
    fn a_kek_file_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek");
        std::fs::write(&path, format!("{}\n", "cd".repeat(32))).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Kek::load(&KekSource::File(path.clone())).unwrap_err();
        assert!(
            matches!(err, KekError::Exposed { mode: 0o644, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("chmod 600"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let key = SigningKey::generate(1);
        let loaded = Kek::load(&KekSource::File(path.clone())).unwrap();
        assert!(loaded
            .open(&key.public_key(), &kek(0xcd).seal(&key))
            .is_ok());
        let missing = Kek::load(&KekSource::File(dir.path().join("none"))).unwrap_err();
        assert!(matches!(missing, KekError::Unreadable { .. }), "{missing}");
    }
}
