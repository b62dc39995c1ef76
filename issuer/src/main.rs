//! `tessera-issuer`: boots the issuer. Everything else lives in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tessera_issuer::config::{Config, ConfigError, Environment};

/// The Tessera issuer: signs licence keys when Stripe says someone paid.
///
/// With no arguments it runs on the embedded default: data in ./tessera-data (SQLite, and a
/// development signing key made on first start), listening on 127.0.0.1:8080, taking Stripe
/// test-mode events. The data directory must be private (0700): one that group or others can use is
/// refused at start.
///
/// STRIPE_WEBHOOK_SECRET (comma-separated) replaces the config file's webhook secrets;
/// STRIPE_SECRET_KEY overrides its API key.
///
/// A bad setting stops it with one line naming the setting and exit code 2; any other failure to
/// start exits 1.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// TOML configuration file (see examples/tessera.toml).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Listen on this address instead of the configured one (e.g. 127.0.0.1:0 for any free port).
    #[arg(long, value_name = "ADDR")]
    listen: Option<std::net::SocketAddr>,
    /// How the log on stderr is written: `text` (one line per record; coloured only when stderr is
    /// a terminal and NO_COLOR is unset) or `json` (one JSON object per line, for log shippers).
    #[arg(
        long,
        value_name = "FORMAT",
        env = "TESSERA_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Recompute every credit account from its ledger and report any difference from the cached
    /// balances; exits 0 if all agree, 1 if any differs. Safe beside a running issuer.
    CheckCredits,
    /// Copy this issuer's SQLite database and signing keys into an empty PostgreSQL database, then
    /// check the credit ledger there.
    ///
    /// Every row is copied, ids and all, in one transaction. The signing keys kept as files in the
    /// data directory are sealed into the database with the key-encryption key
    /// (TESSERA_KEY_ENCRYPTION_KEY or [signing] key_encryption_key_file; in development, the one in
    /// the data directory, made if missing); a configured [signing] key_file stays a file. Stop
    /// the issuer first: what it writes after the copy starts is not copied. The SQLite file is
    /// only read.
    ///
    /// Exit codes: 0 copied and consistent; 1 failed (nothing copied); 2 bad --to or --from;
    /// 3 the target holds data (nothing copied); 4 the SQLite database needs this issuer started on
    /// it once first (nothing copied); 5 copied, but the credit check found differences.
    MigrateFromSqlite {
        /// The PostgreSQL database to copy into (postgres://user@host/database); it must hold no
        /// rows. Its schema is made if missing.
        #[arg(long, value_name = "URL")]
        to: String,
        /// The SQLite database to copy [default: tessera.sqlite3 in the configured data_dir].
        #[arg(long, value_name = "FILE")]
        from: Option<PathBuf>,
    },
}

/// The exit code of a start refused for a bad setting (named on the one line), as for a bad
/// argument: apart from 1, any other failure, so that a deploy can tell a typo from an outage.
const EXIT_BAD_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.log_format);
    match run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            if err.is::<ConfigError>() {
                ExitCode::from(EXIT_BAD_CONFIG)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn init_logging(format: LogFormat) {
    let logger = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=info".into()),
        )
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => logger.json().init(),
        // Colour codes are noise in a file or a pipe (https://no-color.org for the rest).
        LogFormat::Text => {
            let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
            logger.with_ansi(colour).init()
        }
    }
}

fn run(args: Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let mut config = Config::load(args.config.as_deref(), &Environment::from_process())?;
    match args.command {
        Some(Command::CheckCredits) => {
            let report = tessera_issuer::startup::check_credits(&config)?;
            print!("{}", report.text());
            return if report.is_consistent() {
                Ok(ExitCode::SUCCESS)
            } else {
                Err("the credit ledger check found differences".into())
            };
        }
        Some(Command::MigrateFromSqlite { to, from }) => {
            let migration = tessera_issuer::migrate_from_sqlite::Migration { to, from };
            return Ok(
                match tessera_issuer::migrate_from_sqlite::migrate(config, migration) {
                    Ok(summary) => {
                        print!("{}", summary.text());
                        ExitCode::from(summary.exit_code())
                    }
                    Err(err) => {
                        eprintln!("error: {err}");
                        ExitCode::from(err.exit_code())
                    }
                },
            );
        }
        None => {}
    }
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    let state = tessera_issuer::startup::open(config)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let mailer = tessera_issuer::email::start(&state)
            .map_err(|err| format!("cannot set up e-mail delivery ([smtp]): {err}"))?;
        let sweeper = tessera_issuer::credits::sweeper::start(&state);
        let seat_sweeper = tessera_issuer::machines::sweeper::start(&state);
        let key_reloader = tessera_issuer::keyring::reloader::start(
            std::sync::Arc::clone(&state.keyring),
            std::sync::Arc::clone(&state.verified_keys),
            state.config.key_reload_interval,
        );
        let _housekeeping = tessera_issuer::rate_limit::RateLimits::start_housekeeping(
            std::sync::Arc::clone(&state.rate_limits),
        );
        let listener = tokio::net::TcpListener::bind(state.config.listen)
            .await
            .map_err(|err| format!("cannot listen on {}: {err}", state.config.listen))?;
        let address = listener.local_addr()?;
        // Tests and scripts read this line to learn the port when listening on port 0.
        println!("tessera-issuer listening on http://{address}");
        tracing::info!(%address, "listening");
        let stop = tessera_issuer::server::drain_then_stop(state.clone());
        tessera_issuer::serve(listener, state, stop).await;
        sweeper.stop().await;
        seat_sweeper.stop().await;
        key_reloader.stop().await;
        if let Some(mailer) = mailer {
            mailer.stop().await;
        }
        Ok::<(), Box<dyn std::error::Error>>(())
    })?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}
