//! Signing keys kept in the store: the first key of an id wins (two processes rotating at once
//! learn which of them lost), and keys are read back lowest id first.

use tessera_issuer::store::StoredSigningKey;
use tessera_keys::SigningKey;

use super::on_each_backend;

/// Key `key_id`, whose sealed secret is 73 bytes of `sealed`, so that two keys of one id differ.
fn stored(key_id: u32, sealed: u8) -> StoredSigningKey {
    StoredSigningKey {
        key_id,
        public_key: SigningKey::generate(key_id).public_key(),
        sealed_secret: vec![sealed; 73],
        created_at: 1_800_000_000,
    }
}

#[test]
fn the_first_signing_key_of_an_id_is_kept_and_keys_are_read_lowest_id_first() {
    on_each_backend(|store| {
        assert!(store.signing_keys().unwrap().is_empty());
        let (two, one) = (stored(2, 7), stored(1, 8));
        assert!(store.add_signing_key(&two).unwrap());
        assert!(store.add_signing_key(&one).unwrap());
        assert!(
            !store.add_signing_key(&stored(2, 9)).unwrap(),
            "id 2 is taken"
        );
        let highest = stored(u32::MAX, 0);
        assert!(store.add_signing_key(&highest).unwrap());
        assert_eq!(store.signing_keys().unwrap(), [one, two, highest]);
    });
}
