//! Opening what the server needs: the data directory, the signing keys and the database.

use std::sync::Arc;

use crate::config::{AdminToken, Config, KekSource, Secret};
use crate::keyring::{KeyOrigin, KeySource, Keyring, KeyringError};
use crate::private_files::{create_private_dir, open_to_others};
use crate::rate_limit::RateLimits;
use crate::state::AppState;
use crate::store::postgres::PgStore;
use crate::store::sqlite::SqliteStore;
use crate::store::{Store, StoreError};
use crate::verified_keys::VerifiedKeys;

/// The database file's name inside the data directory.
pub const DATABASE_FILE: &str = "tessera.sqlite3";

/// Why the issuer could not start.
#[derive(Debug)]
pub enum StartError {
    /// The data directory could not be created.
    DataDir(std::io::Error),
    /// The data directory is open to group or others, who could read the database and keys.
    DataDirNotPrivate {
        /// The directory.
        path: std::path::PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The signing keys could not be loaded.
    Keys(KeyringError),
    /// The database could not be opened or migrated.
    Store(StoreError),
    /// The trusted public keys cannot make a verifier (too many of them, say).
    Verifier(tessera_verifier::SetupError),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::DataDir(err) => write!(f, "cannot create the data directory: {err}"),
            StartError::DataDirNotPrivate { path, mode } => write!(
                f,
                "the data directory {} is open to group or others (mode {mode:04o}), who could \
                 read the database and keys: run `chmod 700 {}`",
                path.display(),
                path.display()
            ),
            StartError::Keys(err) => err.fmt(f),
            StartError::Store(err) => write!(f, "cannot open the database: {err}"),
            StartError::Verifier(err) => write!(f, "cannot trust the signing keys: {err}"),
        }
    }
}

impl std::error::Error for StartError {}

/// Creates the data directory if needed, loads the keys and opens the database.
pub fn open(mut config: Config) -> Result<AppState, StartError> {
    create_private_dir(&config.data_dir).map_err(StartError::DataDir)?;
    refuse_open_dir(&config.data_dir)?;
    if config.development && config.stripe.webhook_secrets.is_empty() {
        let path = config.data_dir.join(DEV_WEBHOOK_SECRET_FILE);
        let secret = development_webhook_secret(&path).map_err(StartError::DataDir)?;
        config.stripe.webhook_secrets.push(secret);
        tracing::warn!(
            path = %path.display(),
            "using a DEVELOPMENT webhook secret (sign test events with it, e.g. \
             scripts/send-test-event); configure [stripe] webhook_secrets for production"
        );
    }
    if config.development && config.admin_tokens.is_empty() {
        let path = config.data_dir.join(DEV_ADMIN_TOKEN_FILE);
        let token = development_secret(&path, crate::admin::tokens::generate)
            .map_err(StartError::DataDir)?;
        config
            .admin_tokens
            .push(AdminToken::from_value(DEV_ADMIN_TOKEN_NAME, &token));
        tracing::warn!(
            path = %path.display(),
            "using a DEVELOPMENT admin token (TESSERA_TOKEN=$(cat {})); configure [admin] tokens \
             for production",
            path.display()
        );
    }
    let store = open_store(&config)?;
    match &config.database {
        Some(database) => {
            tracing::info!(url = %database.url, pool_size = database.pool_size, "database: PostgreSQL")
        }
        None => tracing::info!("database: SQLite in the data directory"),
    }
    // Processes on SQLite share the data directory, so the keys stay in files there; processes on
    // PostgreSQL may share nothing but the database, so it keeps the keys, sealed with the
    // key-encryption key.
    let source = match &config.database {
        None => KeySource::Directory,
        Some(_) => {
            use_development_kek(&mut config).map_err(StartError::DataDir)?;
            // Taken out of the configuration, so that the key does not stay in memory for the life
            // of the process.
            KeySource::database(
                Arc::clone(&store),
                config.key_encryption_key.take().as_ref(),
            )
            .map_err(StartError::Keys)?
        }
    };
    let (keyring, origin) = Keyring::load(
        config.signing_key_file.as_deref(),
        &config.data_dir,
        &config.retired_public_keys,
        source,
    )
    .map_err(StartError::Keys)?;
    let dev_key_path = keyring.development_key_location();
    match origin {
        KeyOrigin::Configured => {}
        KeyOrigin::NewDevelopmentKey => tracing::warn!(
            path = %dev_key_path,
            public_key = %keyring.active().public_key(),
            "DEVELOPMENT SIGNING KEY CREATED: licences signed with it are only for testing; \
             set [signing] key_file for production"
        ),
        KeyOrigin::ExistingDevelopmentKey => tracing::warn!(
            path = %dev_key_path,
            public_key = %keyring.active().public_key(),
            "using the DEVELOPMENT signing key; set [signing] key_file for production"
        ),
    }
    let verified_keys = VerifiedKeys::new(&keyring.trusted()).map_err(StartError::Verifier)?;
    let rate_limits = Arc::new(RateLimits::new(&config));
    Ok(AppState {
        rate_limits,
        config: Arc::new(config),
        store,
        keyring: Arc::new(keyring),
        verified_keys: Arc::new(verified_keys),
        outbox: Arc::default(),
        draining: Arc::default(),
    })
}

/// In development mode with no key-encryption key given, sets the development one from the data
/// directory (made on first use), which seals the signing keys kept in the database.
pub fn use_development_kek(config: &mut Config) -> std::io::Result<()> {
    if !config.development || config.key_encryption_key.is_some() {
        return Ok(());
    }
    let path = config.data_dir.join(DEV_KEY_ENCRYPTION_KEY_FILE);
    let key = development_secret(&path, || {
        let random: [u8; 32] = rand::random();
        random.iter().map(|byte| format!("{byte:02x}")).collect()
    })?;
    config.key_encryption_key = Some(KekSource::Environment(Secret::new(key)));
    tracing::warn!(
        path = %path.display(),
        "using a DEVELOPMENT key-encryption key for the signing keys in the database; \
         set TESSERA_KEY_ENCRYPTION_KEY (the same on every process) for production"
    );
    Ok(())
}

/// Opens the configured database: PostgreSQL if `[database] url` (or `DATABASE_URL`) names one,
/// else SQLite in the data directory. Blocks: never call it on the async executor.
pub fn open_store(config: &Config) -> Result<Arc<dyn Store>, StartError> {
    Ok(match &config.database {
        Some(database) => Arc::new(
            PgStore::open(database.url.expose(), database.pool_size).map_err(StartError::Store)?,
        ),
        None => Arc::new(
            SqliteStore::open(&config.data_dir.join(DATABASE_FILE)).map_err(StartError::Store)?,
        ),
    })
}

/// Runs the credit ledger check on the configured database.
pub fn check_credits(config: &Config) -> Result<crate::credits::check::CheckReport, StartError> {
    if config.database.is_none() {
        let path = config.data_dir.join(DATABASE_FILE);
        if !path.exists() {
            return Err(StartError::Store(StoreError::internal(format!(
                "no database at {} (is `data_dir` right?)",
                path.display()
            ))));
        }
    }
    let store = open_store(config)?;
    crate::credits::check::check(&*store).map_err(StartError::Store)
}

/// The file holding the development key-encryption key (PostgreSQL only), in the data directory.
pub const DEV_KEY_ENCRYPTION_KEY_FILE: &str = "dev-key-encryption-key";

/// The file holding the development admin token, in the data directory.
pub const DEV_ADMIN_TOKEN_FILE: &str = "dev-admin-token";
/// The name the development admin token goes by in the audit trail.
pub const DEV_ADMIN_TOKEN_NAME: &str = "dev";

/// The file holding the development webhook secret, in the data directory.
pub const DEV_WEBHOOK_SECRET_FILE: &str = "dev-webhook-secret";

/// Reads the development webhook secret, making a random one (mode 0600) on first start.
fn development_webhook_secret(path: &std::path::Path) -> std::io::Result<Secret> {
    development_secret(path, || {
        let random: [u8; 24] = rand::random();
        let hex: String = random.iter().map(|byte| format!("{byte:02x}")).collect();
        format!("whsec_dev_{hex}")
    })
    .map(Secret::new)
}

/// Reads the secret in `path`, or makes one with `make` and writes it there (mode 0600) on first start.
fn development_secret(
    path: &std::path::Path,
    make: impl FnOnce() -> String,
) -> std::io::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => return Ok(text.trim().to_owned()),
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err),
        Err(_) => {}
    }
    let secret = make();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    std::io::Write::write_all(&mut file, format!("{secret}\n").as_bytes())?;
    file.sync_all()?;
    Ok(secret)
}

/// Refuses a data directory that group or others may use: 0700 is applied only to a directory the
/// issuer creates, and one made beforehand (by a package or `mkdir`) is often 0755.
fn refuse_open_dir(path: &std::path::Path) -> Result<(), StartError> {
    match open_to_others(path).map_err(StartError::DataDir)? {
        Some(mode) => Err(StartError::DataDirNotPrivate {
            path: path.to_owned(),
            mode,
        }),
        None => Ok(()),
    }
}
