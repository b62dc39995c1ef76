//! Where the issuer under load keeps its data: the embedded SQLite in its data directory (one
//! process), or PostgreSQL, in a database made for the run and dropped after it, shared by one or
//! more issuer processes.

use std::io::Read as _;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

/// The issuer's database and how many processes share it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite in a fresh data directory, one process.
    Sqlite,
    /// PostgreSQL: a fresh database on the server `server_url` names (the URL of a database to
    /// connect to while creating and dropping it, e.g. `postgres://postgres@127.0.0.1:5432/postgres`),
    /// shared by `processes` issuer processes, each with `pool_size` connections (`None`: the
    /// issuer's default).
    Postgres {
        /// Any database on the server, to create and drop the run's own from.
        server_url: String,
        /// Issuer processes on the one database.
        processes: usize,
        /// `[database] pool_size` of each process.
        pool_size: Option<u32>,
    },
}

impl Backend {
    /// The backend named by the command line: PostgreSQL when there is a server URL, else SQLite,
    /// which runs one process only.
    pub fn from_args(
        database_url: Option<String>,
        processes: usize,
        pool_size: Option<u32>,
    ) -> anyhow::Result<Backend> {
        match database_url {
            Some(server_url) => {
                database_url_for(&server_url, "tessera_load_check")?;
                if processes == 0 {
                    bail!("--processes must be at least 1");
                }
                Ok(Backend::Postgres {
                    server_url,
                    processes,
                    pool_size,
                })
            }
            None if processes != 1 => {
                bail!("--processes above 1 needs --database-url (SQLite runs one issuer process)")
            }
            None if pool_size.is_some() => bail!("--pool-size needs --database-url"),
            None => Ok(Backend::Sqlite),
        }
    }

    /// Issuer processes to start.
    pub fn processes(&self) -> usize {
        match self {
            Backend::Sqlite => 1,
            Backend::Postgres { processes, .. } => *processes,
        }
    }

    /// What a report says about it.
    pub fn shape(&self) -> BackendShape {
        BackendShape {
            backend: match self {
                Backend::Sqlite => "sqlite",
                Backend::Postgres { .. } => "postgres",
            }
            .to_owned(),
            processes: self.processes(),
        }
    }
}

/// The backend of a run, as its report names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendShape {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Issuer processes the load was spread over.
    pub processes: usize,
}

impl BackendShape {
    /// `SQLite, 1 issuer process` and the like.
    pub fn describe(&self) -> String {
        let name = match self.backend.as_str() {
            "sqlite" => "SQLite",
            "postgres" => "PostgreSQL",
            other => other,
        };
        let plural = if self.processes == 1 { "" } else { "es" };
        format!("{name}, {} issuer process{plural}", self.processes)
    }
}

/// `server_url` with its database replaced by `name`; its user, host, port and options are kept.
pub fn database_url_for(server_url: &str, name: &str) -> anyhow::Result<String> {
    let (scheme, rest) = server_url
        .split_once("://")
        .filter(|(scheme, _)| matches!(*scheme, "postgres" | "postgresql"))
        .context("--database-url must be a postgres:// or postgresql:// URL")?;
    let (location, query) = match rest.split_once('?') {
        Some((location, query)) => (location, Some(query)),
        None => (rest, None),
    };
    let authority = location.split_once('/').map_or(location, |(host, _)| host);
    if authority.is_empty() || authority.ends_with('@') {
        bail!("--database-url names no host");
    }
    let query = query.map(|query| format!("?{query}")).unwrap_or_default();
    Ok(format!("{scheme}://{authority}/{name}{query}"))
}

/// A database made for one run, dropped (connections and all) when this is dropped.
#[derive(Debug)]
pub struct ScratchDatabase {
    server_url: String,
    name: String,
    /// The URL the issuer processes connect to.
    pub url: String,
}

impl ScratchDatabase {
    /// Creates `tessera_load_<pid>_<nanoseconds>` on the server `server_url` reaches.
    pub fn create(server_url: &str) -> anyhow::Result<ScratchDatabase> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let name = format!("tessera_load_{}_{nanos}", std::process::id());
        let url = database_url_for(server_url, &name)?;
        execute(server_url, &format!("CREATE DATABASE {name}"))
            .with_context(|| format!("creating the database {name}"))?;
        Ok(ScratchDatabase {
            server_url: server_url.to_owned(),
            name,
            url,
        })
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(err) = execute(&self.server_url, &drop) {
            eprintln!(
                "warning: could not drop the database {}: {err:#}",
                self.name
            );
        }
    }
}

/// Runs `statement` on the server, from a thread of its own: the blocking client runs a runtime of
/// its own, which may not start on the load tool's.
fn execute(server_url: &str, statement: &str) -> anyhow::Result<()> {
    let (server_url, statement) = (server_url.to_owned(), statement.to_owned());
    std::thread::spawn(move || -> anyhow::Result<()> {
        let mut client = tessera_issuer::store::postgres::PgTarget::parse(&server_url)
            .context("--database-url")?
            .connect()
            .context("cannot connect to --database-url")?;
        client.batch_execute(&statement)?;
        Ok(())
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the database thread panicked"))?
}

/// A random key-encryption key for the run's processes (all share it): 64 hex digits.
pub fn random_key_encryption_key() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .context("reading /dev/urandom for a key-encryption key")?;
    Ok(hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_database_replaces_the_servers() {
        let url = |server: &str| database_url_for(server, "run1").map_err(|e| e.to_string());
        assert_eq!(
            url("postgres://postgres@127.0.0.1:5432/postgres"),
            Ok("postgres://postgres@127.0.0.1:5432/run1".into())
        );
        assert_eq!(
            url("postgresql://u:p@db:5433"),
            Ok("postgresql://u:p@db:5433/run1".into())
        );
        assert_eq!(
            url("postgres://db/main?sslmode=disable&application_name=x"),
            Ok("postgres://db/run1?sslmode=disable&application_name=x".into())
        );
        assert!(url("mysql://db/x").unwrap_err().contains("postgres://"));
        assert!(url("postgres:///x").unwrap_err().contains("no host"));
    }

    #[test]
    fn processes_need_postgres() {
        assert_eq!(Backend::from_args(None, 1, None).unwrap(), Backend::Sqlite);
        let two = Backend::from_args(Some("postgres://h/d".into()), 2, Some(8)).unwrap();
        assert_eq!(two.processes(), 2);
        assert_eq!(two.shape().describe(), "PostgreSQL, 2 issuer processes");
        assert_eq!(
            Backend::Sqlite.shape().describe(),
            "SQLite, 1 issuer process"
        );
        let err = Backend::from_args(None, 2, None).unwrap_err().to_string();
        assert!(err.contains("needs --database-url"), "{err}");
        assert!(Backend::from_args(None, 1, Some(4)).is_err());
        assert!(Backend::from_args(Some("postgres://h/d".into()), 0, None).is_err());
        assert!(Backend::from_args(Some("http://h/d".into()), 1, None).is_err());
    }
}
