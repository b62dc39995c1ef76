//! Signing keys kept in the database, for processes that share no directory.

use tessera_keys::PublicKey;

use super::{StoreError, Timestamp};

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

impl StoredSigningKey {
    /// A key as a backend reads it back: its public key (text) must parse and carry the row's key
    /// id, else the row is corrupt.
    pub fn from_row(
        key_id: i64,
        public_key: &str,
        sealed_secret: Vec<u8>,
        created_at: Timestamp,
    ) -> Result<StoredSigningKey, StoreError> {
        let public_key = PublicKey::from_text(public_key)
            .ok()
            .filter(|public| i64::from(public.id) == key_id)
            .ok_or_else(|| {
                StoreError::corrupt(format!(
                    "signing key {key_id}: the stored public key is not a public key of that id"
                ))
            })?;
        Ok(StoredSigningKey {
            key_id: public_key.id,
            public_key,
            sealed_secret,
            created_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreErrorKind;
    use tessera_keys::SigningKey;

    #[test]
    fn a_row_whose_public_key_is_not_of_its_id_is_corrupt() {
        let key = SigningKey::generate(4).public_key().to_string();
        assert_eq!(
            StoredSigningKey::from_row(4, &key, vec![], 0)
                .unwrap()
                .key_id,
            4
        );
        for (id, text) in [(5, key.as_str()), (4, "tspk1_4_not-a-key")] {
            let err = StoredSigningKey::from_row(id, text, vec![], 0).unwrap_err();
            assert_eq!(err.kind(), StoreErrorKind::Corrupt, "{err}");
        }
    }
}
