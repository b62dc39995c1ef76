//! Signing keys kept in the database, for processes that share no directory.

use tessera_keys::PublicKey;

use super::Timestamp;

/// A signing key as the database keeps it: the public key in clear, so that it stays trusted and
/// published whatever happens to the key-encryption key, and the secret sealed with that key
/// (see [`crate::keyring::sealing`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSigningKey {
    /// The key id licences name (its public key carries the same id).
    pub key_id: u32,
    /// The public key.
    pub public_key: PublicKey,
    /// The secret key, sealed.
    pub sealed_secret: Vec<u8>,
    /// When it was made.
    pub created_at: Timestamp,
}
