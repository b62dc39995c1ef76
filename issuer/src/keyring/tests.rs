//! Keyrings of several "processes" (one keyring each) sharing a data directory or a database.

use std::path::Path;
use std::sync::{Arc, Barrier};

use super::*;
use crate::store::sqlite::SqliteStore;

fn database(dir: &Path) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(&dir.join("tessera.sqlite3")).unwrap())
}

fn kek(byte: u8) -> KekSource {
    KekSource::Environment(crate::config::Secret::new(format!("{byte:02x}").repeat(32)))
}

/// A keyring on its own connection to the database in `dir`, sealing with `kek`.
fn in_database(
    dir: &Path,
    key_file: Option<&Path>,
    kek: &KekSource,
) -> Result<(Keyring, KeyOrigin), KeyringError> {
    let source = KeySource::database(database(dir), Some(kek))?;
    Keyring::load(key_file, dir, &[], source)
}

fn in_directory(dir: &Path) -> Keyring {
    Keyring::load(None, dir, &[], KeySource::Directory)
        .unwrap()
        .0
}

fn ids(keyring: &Keyring) -> Vec<u32> {
    keyring.trusted().iter().map(|key| key.id).collect()
}

#[test]
fn a_rotation_in_a_shared_directory_is_read_by_the_other_process() {
    let dir = tempfile::tempdir().unwrap();
    let first = in_directory(dir.path());
    let second = in_directory(dir.path());
    assert_eq!(first.active().public_key(), second.active().public_key());
    assert!(!second.reload().unwrap(), "nothing changed yet");

    let rotated = first.rotate().unwrap();
    assert_eq!(rotated.id, 2);
    assert!(second.reload().unwrap());
    assert_eq!(second.active().public_key(), rotated);
    assert_eq!(second.trusted(), first.trusted());
    assert_eq!(ids(&second), [2, 1]);
    // A rotation by the second process, which knows key 2 now, takes the next id.
    assert_eq!(second.rotate().unwrap().id, 3);
    assert!(first.reload().unwrap());
    assert_eq!(ids(&first), [3, 2, 1]);
    // Nothing half-written is left beside the keys.
    let names: Vec<String> = std::fs::read_dir(dir.path().join(ROTATED_KEYS_DIR))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn the_first_start_makes_one_development_key_in_the_database_however_many_processes_start() {
    let dir = tempfile::tempdir().unwrap();
    let kek = kek(7);
    // Each "process" has its store opened before they all start at once.
    let sources: Vec<KeySource> = (0..4)
        .map(|_| KeySource::database(database(dir.path()), Some(&kek)).unwrap())
        .collect();
    let barrier = Barrier::new(sources.len());
    let loaded: Vec<(Keyring, KeyOrigin)> = std::thread::scope(|scope| {
        let started: Vec<_> = sources
            .into_iter()
            .map(|source| {
                let (barrier, dir) = (&barrier, dir.path());
                scope.spawn(move || {
                    barrier.wait();
                    Keyring::load(None, dir, &[], source).unwrap()
                })
            })
            .collect();
        started.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let made = loaded
        .iter()
        .filter(|(_, origin)| *origin == KeyOrigin::NewDevelopmentKey)
        .count();
    assert_eq!(made, 1);
    let public = loaded[0].0.active().public_key();
    assert_eq!(public.id, DEV_KEY_ID);
    for (keyring, _) in &loaded {
        assert_eq!(keyring.trusted(), [public]);
    }
    assert_eq!(database(dir.path()).signing_keys().unwrap().len(), 1);
    assert!(!dir.path().join(DEV_KEY_FILE).exists(), "no key file");
    assert_eq!(
        loaded[0].0.development_key_location(),
        "the database",
        "what the start-up log says"
    );
}

#[test]
fn a_rotation_in_the_database_is_read_by_the_other_process_and_sealed_there() {
    let dir = tempfile::tempdir().unwrap();
    let kek = kek(7);
    let (first, origin) = in_database(dir.path(), None, &kek).unwrap();
    assert_eq!(origin, KeyOrigin::NewDevelopmentKey);
    let (second, origin) = in_database(dir.path(), None, &kek).unwrap();
    assert_eq!(origin, KeyOrigin::ExistingDevelopmentKey);

    let rotated = first.rotate().unwrap();
    assert_eq!(rotated.id, 2);
    assert!(second.reload().unwrap());
    assert!(!second.reload().unwrap());
    assert_eq!(second.active().public_key(), rotated);
    assert_eq!(ids(&second), [2, 1]);

    // The database holds every public key in clear, and no secret.
    let stored = database(dir.path()).signing_keys().unwrap();
    assert_eq!(
        stored.iter().map(|key| key.public_key).collect::<Vec<_>>(),
        [first.trusted()[1], rotated]
    );
    let seed = first.active().to_seed();
    for key in &stored {
        assert_eq!(key.sealed_secret.len(), sealing::SEALED_LEN);
        assert!(!key.sealed_secret.windows(32).any(|w| w == seed.as_slice()));
    }
}

#[test]
fn rotations_at_once_in_two_processes_take_two_key_ids() {
    let dir = tempfile::tempdir().unwrap();
    let kek = kek(7);
    let (first, _) = in_database(dir.path(), None, &kek).unwrap();
    let (second, _) = in_database(dir.path(), None, &kek).unwrap();
    let barrier = Barrier::new(2);
    let rotated: Vec<PublicKey> = std::thread::scope(|scope| {
        let started: Vec<_> = [&first, &second]
            .into_iter()
            .map(|keyring| {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    keyring.rotate().unwrap()
                })
            })
            .collect();
        started.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let mut made: Vec<u32> = rotated.iter().map(|key| key.id).collect();
    made.sort_unstable();
    assert_eq!(made, [2, 3]);
    first.reload().unwrap();
    second.reload().unwrap();
    assert_eq!(ids(&first), [3, 2, 1]);
    assert_eq!(first.trusted(), second.trusted());
    assert_eq!(first.active().public_key(), second.active().public_key());
}

#[test]
fn another_kek_is_refused_naming_the_key_and_a_missing_one_is_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let (first, _) = in_database(dir.path(), None, &kek(7)).unwrap();
    first.rotate().unwrap();
    let err = in_database(dir.path(), None, &kek(8)).unwrap_err();
    assert!(
        matches!(
            err,
            KeyringError::Unseal {
                key_id: 2,
                problem: OpenError::WrongKek
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.starts_with("signing key 2 in the database does not open")
            && message.contains("is not the one that sealed it"),
        "{message}"
    );
    assert!(!message.contains(&"08".repeat(32)), "{message}");

    let err = KeySource::database(database(dir.path()), None).unwrap_err();
    assert!(err.to_string().contains(KEK_VARIABLE), "{err}");
    let malformed = KekSource::Environment(crate::config::Secret::new("0123"));
    let err = KeySource::database(database(dir.path()), Some(&malformed)).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("TESSERA_KEY_ENCRYPTION_KEY: not a key-encryption key"),
        "{err}"
    );
}

#[test]
fn with_the_kek_lost_a_configured_newer_key_signs_and_the_sealed_keys_stay_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let (first, _) = in_database(dir.path(), None, &kek(7)).unwrap();
    first.rotate().unwrap();
    let sealed_keys = first.trusted();

    // The recovery procedure: a new signing key with an id above every key in the database,
    // configured, and a new KEK.
    let key_file = dir.path().join("new-signing-key.tssk");
    SigningKey::generate(10).write_file(&key_file).unwrap();
    let (recovered, origin) = in_database(dir.path(), Some(&key_file), &kek(9)).unwrap();
    assert_eq!(origin, KeyOrigin::Configured);
    assert_eq!(recovered.active().id(), 10);
    assert_eq!(recovered.trusted()[1..], sealed_keys[..]);
    // Later rotations are sealed with the new KEK, and sign.
    assert_eq!(recovered.rotate().unwrap().id, 11);
    let (restarted, _) = in_database(dir.path(), Some(&key_file), &kek(9)).unwrap();
    assert_eq!(ids(&restarted), [11, 10, 2, 1]);
    assert_eq!(
        restarted.active().public_key(),
        recovered.active().public_key()
    );
}

#[test]
fn a_configured_key_with_a_rotated_keys_id_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    in_directory(dir.path()).rotate().unwrap();
    let key_file = dir.path().join("configured.tssk");
    SigningKey::generate(2).write_file(&key_file).unwrap();
    let err = Keyring::load(Some(&key_file), dir.path(), &[], KeySource::Directory).unwrap_err();
    assert!(matches!(err, KeyringError::KeyIdTwice(2)), "{err}");
}
