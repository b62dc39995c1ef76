//! `tessera-issuer migrate-from-sqlite`: moves an issuer from its embedded SQLite database to
//! PostgreSQL, for vendors who start small and outgrow one machine.
//!
//! Every row is copied into an empty PostgreSQL database ([`PgStore::copy_from_sqlite`]), and the
//! signing keys the SQLite issuer kept as files (the development key and rotated keys in the data
//! directory) are sealed with the key-encryption key into the database, where issuers on PostgreSQL
//! keep them: they sign with the same active key and trust the same keys. A configured `[signing]
//! key_file` stays a file, as configured. The credit ledger check then runs on the copy.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::{Config, ConfigError, DatabaseUrl};
use crate::credits::check::{check, CheckReport};
use crate::keyring::sealing::{Kek, KekError};
use crate::keyring::{directory_keys, KeySource, Keyring, KeyringError};
use crate::startup::{use_development_kek, DATABASE_FILE};
use crate::store::postgres::from_sqlite::{CopyError, CopyReport};
use crate::store::postgres::{PgStore, PgTarget};
use crate::store::{Store, StoreError};

/// Connections the copy uses: one copies, one more for the checks that follow.
const POOL_SIZE: u32 = 2;

/// What to copy where.
#[derive(Debug)]
pub struct Migration {
    /// The PostgreSQL database to copy into (`--to`), as given.
    pub to: String,
    /// The SQLite database (`--from`); by default `tessera.sqlite3` in the configured data
    /// directory.
    pub from: Option<PathBuf>,
}

/// Exit codes of `migrate-from-sqlite` (clap's usage errors exit 2 too).
pub mod exit_code {
    /// Copied, and the credit ledger check found the copy consistent.
    pub const SUCCESS: u8 = 0;
    /// Any failure not listed here (a database that fails, a key that cannot be read…).
    pub const FAILURE: u8 = 1;
    /// A bad argument: `--to` is not a PostgreSQL URL, or no SQLite database is at `--from`.
    pub const USAGE: u8 = 2;
    /// The target database holds data already: nothing was copied.
    pub const TARGET_NOT_EMPTY: u8 = 3;
    /// The SQLite database is not at this issuer's schema version: nothing was copied.
    pub const SOURCE_NOT_MIGRATED: u8 = 4;
    /// Copied, but the credit ledger check found differences (copied as the SQLite database has
    /// them: run `check-credits` on it).
    pub const CHECK_FAILED: u8 = 5;
}

/// Why nothing (or not everything) was done.
#[derive(Debug)]
pub enum MigrateError {
    /// `--to` is not a PostgreSQL URL.
    BadTarget(ConfigError),
    /// The development key-encryption key could not be read or made.
    DevelopmentKek(std::io::Error),
    /// No key-encryption key to seal the signing keys with.
    Kek(KekError),
    /// The signing key files could not be read, or the copied keys do not make a keyring.
    Keys(KeyringError),
    /// The target could not be connected to: the server and why, with its causes.
    Unreachable(String),
    /// The target could not be opened (connected to, migrated).
    Open(StoreError),
    /// The copy was refused or failed: the target is left as it was.
    Copy(CopyError),
    /// The credit ledger check could not run.
    Check(StoreError),
}

impl MigrateError {
    /// The process's exit code for this error ([`exit_code`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            MigrateError::BadTarget(_) | MigrateError::Copy(CopyError::NoSource(_)) => {
                exit_code::USAGE
            }
            MigrateError::Copy(CopyError::TargetNotEmpty { .. }) => exit_code::TARGET_NOT_EMPTY,
            MigrateError::Copy(CopyError::SourceVersion { .. }) => exit_code::SOURCE_NOT_MIGRATED,
            _ => exit_code::FAILURE,
        }
    }
}

impl std::fmt::Display for MigrateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MigrateError::BadTarget(err) => write!(f, "--to: {}", err.problem),
            MigrateError::DevelopmentKek(err) => write!(
                f,
                "cannot read or make the development key-encryption key in the data directory: \
                 {err}"
            ),
            MigrateError::Kek(err) => err.fmt(f),
            MigrateError::Keys(err) => err.fmt(f),
            MigrateError::Unreachable(why) => f.write_str(why),
            MigrateError::Open(err) => write!(f, "cannot open the target database: {err}"),
            MigrateError::Copy(err) => write!(f, "nothing copied: {err}"),
            MigrateError::Check(err) => write!(f, "copied, but the credit check failed: {err}"),
        }
    }
}

impl std::error::Error for MigrateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MigrateError::DevelopmentKek(err) => Some(err),
            MigrateError::Kek(err) => Some(err),
            MigrateError::Keys(err) => Some(err),
            MigrateError::Open(err) | MigrateError::Check(err) => Some(err),
            MigrateError::Copy(err) => Some(err),
            MigrateError::BadTarget(_) | MigrateError::Unreachable(_) => None,
        }
    }
}

/// What was done, for the operator.
#[derive(Debug)]
pub struct Summary {
    from: PathBuf,
    to: DatabaseUrl,
    copy: CopyReport,
    key_file: Option<PathBuf>,
    /// The keys an issuer on the target signs with (first) and trusts; `None` if it holds none
    /// and no key is configured.
    keys: Option<(u32, Vec<u32>)>,
    check: CheckReport,
}

impl Summary {
    /// Whether the copy passed the credit ledger check.
    pub fn is_consistent(&self) -> bool {
        self.check.is_consistent()
    }

    /// The exit code for this outcome.
    pub fn exit_code(&self) -> u8 {
        if self.is_consistent() {
            exit_code::SUCCESS
        } else {
            exit_code::CHECK_FAILED
        }
    }

    /// Rows per table, keys sealed, the keys issuers on the target use, and the check's result.
    pub fn text(&self) -> String {
        let mut out = format!("copied {} into {}\n", self.from.display(), self.to);
        for (table, rows) in &self.copy.tables {
            let _ = writeln!(out, "  {table:<24} {rows:>10} rows");
        }
        let _ = writeln!(
            out,
            "  {:<24} {:>10} rows in {:.2} s ({:.0} rows/s)",
            "total",
            self.copy.rows(),
            self.copy.elapsed.as_secs_f64(),
            self.copy.rows_per_second()
        );
        let _ = writeln!(
            out,
            "signing keys: {} sealed into signing_keys with the key-encryption key (key ids {:?})",
            self.copy.keys_added.len(),
            self.copy.keys_added
        );
        if let Some(path) = &self.key_file {
            let _ = writeln!(
                out,
                "  the configured [signing] key_file {} stays a file: configure it on every \
                 issuer process on PostgreSQL too",
                path.display()
            );
        }
        match &self.keys {
            Some((active, trusted)) => {
                let _ = writeln!(
                    out,
                    "  issuers on PostgreSQL sign with key id {active} and trust key ids {trusted:?}"
                );
            }
            None => out.push_str(
                "  no signing key found: issuers on PostgreSQL make a development key on first \
                 start\n",
            ),
        }
        out.push_str(&self.check.text());
        out
    }
}

/// Copies the SQLite database of `config`'s issuer (or `migration.from`) into the empty
/// PostgreSQL database `migration.to`, with its signing keys, then checks the credit ledger there.
pub fn migrate(mut config: Config, migration: Migration) -> Result<Summary, MigrateError> {
    let to = DatabaseUrl::parse("--to", &migration.to).map_err(MigrateError::BadTarget)?;
    let from = migration
        .from
        .unwrap_or_else(|| config.data_dir.join(DATABASE_FILE));
    if !from.is_file() {
        return Err(MigrateError::Copy(CopyError::NoSource(from)));
    }
    // The same key-encryption key issuers on PostgreSQL will use, found the same way, before the
    // target is touched.
    use_development_kek(&mut config).map_err(MigrateError::DevelopmentKek)?;
    let kek =
        Kek::configured(config.key_encryption_key.take().as_ref()).map_err(MigrateError::Kek)?;
    let created_at = crate::clock::now().0 as crate::store::Timestamp;
    let sealed: Vec<_> = directory_keys(config.signing_key_file.as_deref(), &config.data_dir)
        .map_err(MigrateError::Keys)?
        .iter()
        .map(|key| kek.seal_for_store(key, created_at))
        .collect();

    reach(&to)?;
    let store = Arc::new(PgStore::open(to.expose(), POOL_SIZE).map_err(MigrateError::Open)?);
    let copy = store
        .copy_from_sqlite(&from, &sealed)
        .map_err(MigrateError::Copy)?;
    let keys = keys_in_use(&config, Arc::clone(&store), kek)?;
    let check = check(&*store).map_err(MigrateError::Check)?;
    Ok(Summary {
        from,
        to,
        copy,
        key_file: config.signing_key_file,
        keys,
        check,
    })
}

/// Connects to `url` once, so that a server that cannot be reached or a database that does not
/// exist is told at once, with its cause, rather than after the pool has tried for seconds.
fn reach(url: &DatabaseUrl) -> Result<(), MigrateError> {
    // Read once already, by `DatabaseUrl::parse`; only a `sslrootcert` gone since fails here.
    let target = PgTarget::parse(url.expose())
        .map_err(|err| MigrateError::Unreachable(format!("cannot connect to {url}: {err}")))?;
    let client = target.connect().map_err(|err| {
        let mut why = format!("cannot connect to {url}: ");
        if let Some(refusal) = target.refusal(&err) {
            why.push_str(&format!("{refusal}: "));
        }
        why.push_str(&err.to_string());
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            why.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        MigrateError::Unreachable(why.split_whitespace().collect::<Vec<_>>().join(" "))
    })?;
    // Closing waits for the server's goodbye; its failure changes nothing here.
    let _ = client.close();
    Ok(())
}

/// The active key id and the trusted key ids of an issuer on `store`, as it loads them at start
/// (which also shows that `kek` opens the active key). `None` when it would make a development
/// key instead: loading must not make one here.
fn keys_in_use(
    config: &Config,
    store: Arc<PgStore>,
    kek: Kek,
) -> Result<Option<(u32, Vec<u32>)>, MigrateError> {
    let kept = store
        .signing_keys()
        .map_err(|err| MigrateError::Keys(KeyringError::Store(err)))?;
    if kept.is_empty() && config.signing_key_file.is_none() {
        return Ok(None);
    }
    let (keyring, _) = Keyring::load(
        config.signing_key_file.as_deref(),
        &config.data_dir,
        &config.retired_public_keys,
        KeySource::Database { store, kek },
    )
    .map_err(MigrateError::Keys)?;
    let trusted = keyring.trusted().iter().map(|key| key.id).collect();
    Ok(Some((keyring.active().id(), trusted)))
}
