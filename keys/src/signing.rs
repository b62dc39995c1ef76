//! Signing licences and revocation lists, and the signing-key file.
//!
//! A signing key file is text, one line that matters:
//!
//! ```text
//! # Tessera signing key. Secret: whoever reads this file can issue licences.
//! tssk1_<key id>_<base64url of the 32-byte Ed25519 seed>
//! ```
//!
//! Lines starting with `#` and blank lines are ignored. Files are created with mode 0600 and refused
//! when group or others can read them, as OpenSSH does with private keys.

use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::string::{String, ToString};
use std::vec::Vec;

use base64ct::{Base64UrlUnpadded, Encoding};
use ed25519_dalek::Signer;
use zeroize::Zeroizing;

use crate::error::{DecodeError, EncodeError, Malformed};
use crate::license::{LICENSE_DOMAIN, MAX_CLAIMS_LEN};
use crate::revocation::{RevocationList, MAX_REVOCATIONS_HEADER_LEN, REVOCATIONS_DOMAIN};
use crate::{
    certificate_text, license_text, revocations_text, text, Claims, LicenseId, MachineClaims,
    PublicKey, UnixTime, CERTIFICATE_DOMAIN, MAX_MACHINE_CLAIMS_LEN,
};

/// What the key line of a signing-key file starts with.
pub const SIGNING_KEY_PREFIX: &str = "tssk1_";

/// An issuer's Ed25519 signing key and the id licences name it by.
///
/// The secret is wiped from memory when the key is dropped, and `Debug` does not show it.
pub struct SigningKey {
    id: u32,
    inner: ed25519_dalek::SigningKey,
}

impl SigningKey {
    /// A new random key from the operating system's random source.
    pub fn generate(id: u32) -> SigningKey {
        let seed: Zeroizing<[u8; 32]> = Zeroizing::new(rand::random());
        SigningKey::from_seed(id, &seed)
    }

    /// The key with the given 32-byte Ed25519 seed; for test vectors and key files.
    pub fn from_seed(id: u32, seed: &[u8; 32]) -> SigningKey {
        SigningKey {
            id,
            inner: ed25519_dalek::SigningKey::from_bytes(seed),
        }
    }

    /// The key id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The public key that verifies this key's signatures.
    pub fn public_key(&self) -> PublicKey {
        PublicKey::new(self.id, self.inner.verifying_key().to_bytes())
    }

    /// Signs `claims` and returns the licence in binary form (claims, then signature).
    ///
    /// The licence names this key: `claims.key_id` is replaced by [`SigningKey::id`].
    pub fn sign_license_bytes(&self, claims: &Claims<'_>) -> Result<Vec<u8>, EncodeError> {
        let claims = Claims {
            key_id: self.id,
            ..*claims
        };
        let mut buf = [0u8; MAX_CLAIMS_LEN];
        let payload = claims.encode(&mut buf)?;
        Ok(self.sign_tagged(LICENSE_DOMAIN, payload))
    }

    /// Signs `claims` and returns the licence key text.
    pub fn sign_license(&self, claims: &Claims<'_>) -> Result<String, EncodeError> {
        self.sign_license_bytes(claims)
            .map(|bytes| license_text(&bytes))
    }

    /// Signs a machine certificate and returns it in binary form (claims, then signature).
    ///
    /// The certificate names this key: `claims.key_id` is replaced by [`SigningKey::id`].
    pub fn sign_machine_certificate_bytes(
        &self,
        claims: &MachineClaims,
    ) -> Result<Vec<u8>, EncodeError> {
        let claims = MachineClaims {
            key_id: self.id,
            ..*claims
        };
        let mut buf = [0u8; MAX_MACHINE_CLAIMS_LEN];
        let payload = claims.encode(&mut buf)?;
        Ok(self.sign_tagged(CERTIFICATE_DOMAIN, payload))
    }

    /// Signs a machine certificate and returns its text (`tsm1_…`).
    pub fn sign_machine_certificate(&self, claims: &MachineClaims) -> Result<String, EncodeError> {
        self.sign_machine_certificate_bytes(claims)
            .map(|bytes| certificate_text(&bytes))
    }

    /// Signs a revocation list of `ids` (in any order, without repeats) and returns its text.
    pub fn sign_revocations(
        &self,
        sequence: u64,
        issued_at: UnixTime,
        ids: &[LicenseId],
    ) -> Result<String, EncodeError> {
        let mut sorted = ids.to_vec();
        sorted.sort_unstable();
        let mut buf = std::vec![0u8; MAX_REVOCATIONS_HEADER_LEN + 8 * sorted.len()];
        let payload =
            RevocationList::encode_unsigned(self.id, sequence, issued_at, &sorted, &mut buf)?;
        Ok(revocations_text(
            &self.sign_tagged(REVOCATIONS_DOMAIN, payload),
        ))
    }

    fn sign_tagged(&self, domain: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut message = Vec::with_capacity(domain.len() + payload.len());
        message.extend_from_slice(domain);
        message.extend_from_slice(payload);
        let signature = self.inner.sign(&message).to_bytes();
        let mut signed = payload.to_vec();
        signed.extend_from_slice(&signature);
        signed
    }

    /// The 32-byte Ed25519 seed ([`SigningKey::from_seed`] makes the key again from it), for
    /// storing the key elsewhere than in a key file; wiped from memory when dropped.
    pub fn to_seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.inner.to_bytes())
    }

    /// The signing-key file's contents; wiped from memory when dropped.
    pub fn to_file_text(&self) -> Zeroizing<String> {
        let seed = self.to_seed();
        let encoded = Zeroizing::new(Base64UrlUnpadded::encode_string(&*seed));
        let mut text = Zeroizing::new(String::with_capacity(160));
        text.push_str(
            "# Tessera signing key. Secret: whoever reads this file can issue licences.\n",
        );
        text.push_str(SIGNING_KEY_PREFIX);
        text.push_str(&self.id.to_string());
        text.push('_');
        text.push_str(&encoded);
        text.push('\n');
        text
    }

    /// Parses a signing-key file's contents.
    pub fn from_file_text(contents: &str) -> Result<SigningKey, DecodeError> {
        let mut lines = contents
            .lines()
            .map(str::trim_ascii)
            .filter(|line| !line.is_empty() && !line.starts_with('#'));
        let line = lines.next().ok_or(Malformed::Empty)?;
        if lines.next().is_some() {
            return Err(Malformed::TrailingBytes.into());
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        let id = text::decode_key_text(line, "tssk", SIGNING_KEY_PREFIX, &mut bytes)?;
        Ok(SigningKey::from_seed(id, &bytes))
    }

    /// Writes the key to a new file at `path` with mode 0600; fails if the file exists.
    pub fn write_file(&self, path: &Path) -> io::Result<()> {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path)?;
        file.write_all(self.to_file_text().as_bytes())?;
        file.sync_all()
    }

    /// Reads a signing-key file, refusing one that group or others may read.
    pub fn read_file(path: &Path) -> Result<SigningKey, KeyFileError> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(path)
                .map_err(KeyFileError::Io)?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(KeyFileError::Exposed { mode: mode & 0o777 });
            }
        }
        let contents = Zeroizing::new(fs::read_to_string(path).map_err(KeyFileError::Io)?);
        SigningKey::from_file_text(&contents).map_err(KeyFileError::Decode)
    }
}

impl core::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SigningKey")
            .field("id", &self.id)
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

/// Why a signing-key file could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The file could not be read.
    Io(io::Error),
    /// Group or others may read the file, so the key may have leaked.
    Exposed {
        /// The file's permission bits.
        mode: u32,
    },
    /// The file is not a signing-key file.
    Decode(DecodeError),
}

impl core::fmt::Display for KeyFileError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            KeyFileError::Io(_) => f.write_str("cannot read signing key file"),
            KeyFileError::Exposed { mode } => write!(
                f,
                "signing key file is readable by others (mode {mode:04o}); run `chmod 600` on it"
            ),
            KeyFileError::Decode(err) => write!(f, "not a signing key file: {err}"),
        }
    }
}

impl std::error::Error for KeyFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KeyFileError::Io(err) => Some(err),
            KeyFileError::Exposed { .. } => None,
            KeyFileError::Decode(_) => None,
        }
    }
}
