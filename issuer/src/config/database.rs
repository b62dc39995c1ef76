//! `[database]`: PostgreSQL instead of the embedded SQLite, for several issuer processes on one
//! database. The environment variable `DATABASE_URL` wins over `[database] url`; with neither, the
//! issuer keeps SQLite in `data_dir`.

use serde::Deserialize;

use super::{invalid, refuse_placeholder, ConfigError};
use crate::store::postgres::PgTarget;

/// Connections each process keeps at most, unless `[database] pool_size` says otherwise.
pub const DEFAULT_POOL_SIZE: u32 = 16;
/// The largest `pool_size` accepted: several processes share the server's connection limit.
pub const MAX_POOL_SIZE: u32 = 256;

/// Where the issuer keeps its data when it is not the embedded SQLite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatabaseConfig {
    /// The PostgreSQL URL.
    pub url: DatabaseUrl,
    /// The most connections this process opens.
    pub pool_size: u32,
}

/// A `postgres://` or `postgresql://` URL. It may carry a password, so it is shown (`Display`,
/// `Debug`) with the password replaced by `***`; [`DatabaseUrl::expose`] gives the URL itself.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The URL as given, with its password, for the one place that connects.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with its password (in the user part or a `password=` option) replaced by `***`, fit
    /// for a log.
    pub fn redacted(&self) -> String {
        let url = &self.0;
        let (base, query) = match url.split_once('?') {
            Some((base, query)) => (base, Some(query)),
            None => (url.as_str(), None),
        };
        let authority_start = base.find("://").map_or(0, |i| i + 3);
        let authority_end = base[authority_start..]
            .find('/')
            .map_or(base.len(), |i| authority_start + i);
        let authority = &base[authority_start..authority_end];
        let mut out = base[..authority_start].to_owned();
        // The user part ends at the last `@`; its password, if any, follows the first `:`.
        match authority.rsplit_once('@') {
            Some((user_part, hosts)) => {
                match user_part.split_once(':') {
                    Some((user, _password)) => out.push_str(&format!("{user}:***")),
                    None => out.push_str(user_part),
                }
                out.push('@');
                out.push_str(hosts);
            }
            None => out.push_str(authority),
        }
        out.push_str(&base[authority_end..]);
        if let Some(query) = query {
            let options: Vec<String> = query
                .split('&')
                .map(|option| match option.split_once('=') {
                    Some((name, _)) if name.eq_ignore_ascii_case("password") => {
                        format!("{name}=***")
                    }
                    _ => option.to_owned(),
                })
                .collect();
            out.push('?');
            out.push_str(&options.join("&"));
        }
        out
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DatabaseFile {
    url: Option<String>,
    pool_size: Option<u32>,
}

/// The database to use: `env_url` (`DATABASE_URL`) if set, else the file's; `None` for SQLite.
pub(super) fn database_config(
    file: DatabaseFile,
    env_url: Option<&str>,
) -> Result<Option<DatabaseConfig>, ConfigError> {
    let pool_size = file.pool_size.unwrap_or(DEFAULT_POOL_SIZE);
    if !(1..=MAX_POOL_SIZE).contains(&pool_size) {
        return Err(invalid(
            "database.pool_size",
            format!("must be from 1 to {MAX_POOL_SIZE}"),
        ));
    }
    let (field, url) = match (env_url, file.url.as_deref()) {
        (Some(url), _) => ("DATABASE_URL", url),
        (None, Some(url)) => ("database.url", url),
        (None, None) => return Ok(None),
    };
    Ok(Some(DatabaseConfig {
        url: DatabaseUrl::parse(field, url)?,
        pool_size,
    }))
}

impl DatabaseUrl {
    /// `url`, given as `field` (a setting, a variable or an option, named in the error), if it is
    /// a PostgreSQL URL. Checked before any connection, so that a typo stops here with `field`
    /// named; the error names the option at fault, never its value.
    pub fn parse(field: &str, url: &str) -> Result<DatabaseUrl, ConfigError> {
        let url = url.trim();
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(invalid(field, "must be a postgres:// or postgresql:// URL"));
        }
        refuse_placeholder(field, url)?;
        // Read as it will be connected with, `sslrootcert` file and all, so that a bad TLS setting
        // stops the start too.
        PgTarget::parse(url).map_err(|err| invalid(field, err.to_string()))?;
        Ok(DatabaseUrl(url.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: Option<&str>, pool_size: Option<u32>, env: Option<&str>) -> String {
        let file = DatabaseFile {
            url: url.map(str::to_owned),
            pool_size,
        };
        match database_config(file, env) {
            Ok(Some(config)) => format!("{} {}", config.url, config.pool_size),
            Ok(None) => "sqlite".to_owned(),
            Err(err) => err.to_string(),
        }
    }

    #[test]
    fn the_environment_wins_and_without_either_it_is_sqlite() {
        assert_eq!(parse(None, None, None), "sqlite");
        assert_eq!(parse(None, Some(4), None), "sqlite");
        assert_eq!(
            parse(Some("postgres://a@file/db"), None, None),
            "postgres://a@file/db 16"
        );
        assert_eq!(
            parse(
                Some("postgres://a@file/db"),
                Some(4),
                Some("postgresql://b@env/db")
            ),
            "postgresql://b@env/db 4"
        );
    }

    #[test]
    fn bad_settings_are_refused_naming_the_field() {
        assert_eq!(
            parse(Some("mysql://a@h/db"), None, None),
            "config `database.url`: must be a postgres:// or postgresql:// URL"
        );
        assert_eq!(
            parse(None, None, Some("host=h dbname=db")),
            "config `DATABASE_URL`: must be a postgres:// or postgresql:// URL"
        );
        assert_eq!(
            parse(Some("postgres://a:secret@h:x/db"), None, None),
            "config `database.url`: is not a valid PostgreSQL URL: invalid value for option `port`"
        );
        assert_eq!(
            parse(
                None,
                None,
                Some("postgres://a:secret@h/db?sslmode=verify-everything")
            ),
            "config `DATABASE_URL`: option `sslmode` must be one of disable, prefer, require, \
             verify-ca, verify-full"
        );
        assert!(parse(
            Some("postgres://h/db?sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem"),
            None,
            None
        )
        .starts_with("config `database.url`: option `sslrootcert`: /nonexistent/ca.pem: "));
        assert!(parse(Some("postgres://a:REPLACE_ME@h/db"), None, None)
            .starts_with("config `database.url`: is the documentation's placeholder"));
        for size in [0, MAX_POOL_SIZE + 1] {
            assert_eq!(
                parse(Some("postgres://h/db"), Some(size), None),
                "config `database.pool_size`: must be from 1 to 256"
            );
        }
    }

    #[test]
    fn the_password_never_shows() {
        let shown = |url: &str| {
            let url = DatabaseUrl(url.to_owned());
            assert_eq!(format!("{url:?}"), format!("DatabaseUrl({url})"));
            url.to_string()
        };
        assert_eq!(
            shown("postgres://tessera:s3cr%40t@db1:5432,db2/tessera?sslmode=disable"),
            "postgres://tessera:***@db1:5432,db2/tessera?sslmode=disable"
        );
        assert_eq!(
            shown("postgresql://tessera@db/x?password=s3cret&application_name=a"),
            "postgresql://tessera@db/x?password=***&application_name=a"
        );
        assert_eq!(shown("postgres://a:b:c@d@host"), "postgres://a:***@host");
        assert_eq!(shown("postgres://host/db"), "postgres://host/db");
    }
}
