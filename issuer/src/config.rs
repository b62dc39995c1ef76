//! Configuration: a TOML file, secrets from the environment, and defaults that run with no file at all.
//!
//! `examples/tessera.toml` is a commented example of every setting.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tessera_keys::{Catalog, ProductSpec, PublicKey};

pub use crate::admin::tokens::AdminToken;
pub use database::{DatabaseConfig, DatabaseUrl, DEFAULT_POOL_SIZE, MAX_POOL_SIZE};

mod database;
pub mod seats;

/// Everything the issuer is told at start.
#[derive(Debug)]
pub struct Config {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Where the SQLite database and the development signing key live.
    pub data_dir: PathBuf,
    /// PostgreSQL (`DATABASE_URL`, else `[database] url`) instead of SQLite in `data_dir`; startup
    /// opens it with `store::postgres::PgStore::open(url.expose(), pool_size)`.
    pub database: Option<DatabaseConfig>,
    /// The active signing key file; `None` means the development key in the data directory, made on
    /// first start.
    pub signing_key_file: Option<PathBuf>,
    /// Public keys of retired signing keys, still trusted for verification and published.
    pub retired_public_keys: Vec<PublicKey>,
    /// Where the key-encryption key that seals signing keys kept in the database comes from, if
    /// it is given (see [`crate::keyring::sealing`]).
    pub key_encryption_key: Option<KekSource>,
    /// How often every process reads the signing keys again from where they live, so that a
    /// rotation made by another process signs here too (`[signing] reload_seconds`).
    pub key_reload_interval: std::time::Duration,
    /// Seconds after expiry during which a subscription's licence keeps working.
    pub grace_seconds: u32,
    /// Seconds after a licence is issued during which its Checkout Session id still fetches its key
    /// (the success page, `by-checkout-session`); after that the buyer has the e-mail.
    pub checkout_session_key_seconds: i64,
    /// Stripe settings.
    pub stripe: StripeConfig,
    /// E-mail delivery of licence keys; `None` (no `[smtp]` section) sends no mail.
    pub smtp: Option<SmtpConfig>,
    /// Products, their tiers and features.
    pub catalog: Catalog,
    /// What each Stripe price sells.
    pub prices: Vec<PriceEntry>,
    /// Largest accepted request body, in bytes.
    pub body_limit_bytes: usize,
    /// Longest a request may take, in seconds.
    pub request_timeout_seconds: u64,
    /// Open connections, idle ones included.
    pub connections: ConnectionLimits,
    /// Requests one client address may make: sustained per second, and at once.
    pub per_ip: RateLimit,
    /// Credit requests one licence may make: sustained per second, and at once.
    pub per_license: RateLimit,
    /// Tokens of the admin API (`[admin] tokens`), by name and hash.
    pub admin_tokens: Vec<AdminToken>,
    /// Started without a config file: development keys and secrets are made as needed.
    pub development: bool,
}

/// A rate limit: requests per second sustained, and how many may come at once; `per_second == 0`
/// turns it off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests per second, sustained; 0: no limit.
    pub per_second: u32,
    /// Requests that may come at once (at least `per_second`).
    pub burst: u32,
}

impl RateLimit {
    fn new(per_second: u32, burst: u32) -> Result<RateLimit, &'static str> {
        if per_second > 0 && burst < per_second {
            return Err("must be at least the requests per second");
        }
        Ok(RateLimit { per_second, burst })
    }
}

/// How many connections may be open, and how long one may wait for a request (`[limits]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections open at once; more wait to be accepted until one closes.
    pub max_connections: usize,
    /// How long a client has to send a request's complete header, from when the issuer starts
    /// waiting for it (the connection opened, or the previous answer went out).
    pub header_read_timeout: std::time::Duration,
    /// How long a connection is kept open after an answer for the next request; `None`: a connection
    /// serves one request only.
    pub keep_alive: Option<std::time::Duration>,
    /// After SIGTERM, how long `/readyz` answers 503 while requests are still served, so that a load
    /// balancer stops sending new ones before the listener closes. Zero: close at once.
    pub drain: std::time::Duration,
}

/// How the issuer talks to Stripe.
#[derive(Clone, Debug)]
pub struct StripeConfig {
    /// Webhook signing secrets (`whsec_…`); several during a rotation.
    pub webhook_secrets: Vec<Secret>,
    /// API key for calls to Stripe (`sk_…`).
    pub secret_key: Option<Secret>,
    /// Stripe's API base URL; tests point it at a local server.
    pub api_base: String,
    /// The mode whose events take effect; the other mode's are recorded and ignored.
    pub mode: StripeMode,
}

/// Stripe's two modes: real payments, or test cards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StripeMode {
    /// Real payments (`livemode: true`).
    Live,
    /// Test cards (`livemode: false`).
    Test,
}

impl StripeMode {
    /// The setting's name of the mode.
    pub fn as_str(self) -> &'static str {
        match self {
            StripeMode::Live => "live",
            StripeMode::Test => "test",
        }
    }

    /// The mode of an event's `livemode`.
    pub fn of_livemode(livemode: bool) -> StripeMode {
        if livemode {
            StripeMode::Live
        } else {
            StripeMode::Test
        }
    }

    /// The mode an API key belongs to, if its prefix says (`sk_test_…`, `rk_live_…`).
    fn of_key(key: &str) -> Option<StripeMode> {
        let rest = key
            .strip_prefix("sk_")
            .or_else(|| key.strip_prefix("rk_"))?;
        if rest.starts_with("test_") {
            Some(StripeMode::Test)
        } else if rest.starts_with("live_") {
            Some(StripeMode::Live)
        } else {
            None
        }
    }
}

/// A secret string that never appears in `Debug` output or logs, wiped from memory when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// Where the key-encryption key comes from.
#[derive(Debug)]
pub enum KekSource {
    /// `TESSERA_KEY_ENCRYPTION_KEY`: the key itself, as 64 hex digits or base64.
    Environment(Secret),
    /// `[signing] key_encryption_key_file`: a file (mode 0600) holding the key as the variable does.
    File(PathBuf),
}

/// What buying one Stripe price gets the customer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceEntry {
    /// The Stripe price id, `price_…`.
    pub price_id: String,
    /// What it sells.
    pub sells: Sale,
}

/// What a price sells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sale {
    /// A licence: product, tier index, feature bits, and how long it lasts.
    License {
        /// Product id.
        product: u32,
        /// Tier index in the product's ladder.
        tier: u8,
        /// Feature bits.
        features: u64,
        /// For one-time purchases: days until expiry, `None` for perpetual. Subscriptions follow the
        /// billing period instead.
        duration_days: Option<u32>,
        /// Credits granted per billing period (metered usage).
        credits_per_period: u64,
        /// Machine activation: `None` when its keys need none (no `max_machines`).
        seats: Option<crate::store::SeatPolicy>,
    },
    /// A pack of top-up credits.
    TopUp {
        /// Credits in the pack.
        credits: u64,
    },
}

/// Why the configuration was refused: always names the field.
#[derive(Debug)]
pub struct ConfigError {
    /// The setting, e.g. `prices[2].tier`.
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "config `{}`: {}", self.field, self.problem)
    }
}

impl std::error::Error for ConfigError {}

fn invalid(field: impl Into<String>, problem: impl std::fmt::Display) -> ConfigError {
    ConfigError {
        field: field.into(),
        problem: problem.to_string(),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    #[serde(default)]
    database: database::DatabaseFile,
    #[serde(default)]
    signing: SigningFile,
    #[serde(default)]
    licenses: LicensesFile,
    #[serde(default)]
    stripe: StripeFile,
    #[serde(default)]
    limits: LimitsFile,
    #[serde(default)]
    products: Vec<ProductSpec>,
    #[serde(default)]
    prices: Vec<PriceFile>,
    smtp: Option<SmtpFile>,
    #[serde(default)]
    admin: AdminFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdminFile {
    #[serde(default)]
    tokens: Vec<AdminTokenFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdminTokenFile {
    name: String,
    sha256: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SigningFile {
    key_file: Option<PathBuf>,
    key_encryption_key_file: Option<PathBuf>,
    reload_seconds: Option<u64>,
    #[serde(default)]
    retired_public_keys: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LicensesFile {
    grace_days: Option<u32>,
    checkout_session_key_hours: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StripeFile {
    #[serde(default)]
    webhook_secrets: Vec<String>,
    secret_key: Option<String>,
    api_base: Option<String>,
    mode: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    body_bytes: Option<usize>,
    request_timeout_seconds: Option<u64>,
    max_connections: Option<usize>,
    header_read_timeout_seconds: Option<u64>,
    keep_alive_seconds: Option<u64>,
    drain_seconds: Option<u64>,
    requests_per_second_per_ip: Option<u32>,
    burst_per_ip: Option<u32>,
    credit_requests_per_second_per_license: Option<u32>,
    credit_burst_per_license: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceFile {
    id: String,
    product: Option<String>,
    tier: Option<String>,
    #[serde(default)]
    features: Vec<String>,
    duration_days: Option<u32>,
    #[serde(default)]
    perpetual: bool,
    #[serde(default)]
    credits_per_period: u64,
    topup_credits: Option<u64>,
    max_machines: Option<u32>,
    lease_days: Option<u32>,
    #[serde(default)]
    floating: bool,
    heartbeat_seconds: Option<u32>,
    max_deactivations_per_30_days: Option<u32>,
}

/// The embedded default, for trying Tessera out: a demo product and price. With it the issuer also makes
/// a development signing key and webhook secret in the data directory (see `startup`).
pub const DEVELOPMENT_DEFAULTS: &str = r#"
# Development takes test-mode events (scripts/send-test-event sends them).
[stripe]
mode = "test"

[[products]]
id = 1
name = "demo-app"
tiers = ["free", "pro", "team"]
features = ["export", "sync", "cloud", "ai", "plugins"]

[[prices]]
id = "price_demo_pro"
product = "demo-app"
tier = "pro"
features = ["export", "sync"]
duration_days = 365

# Pro bound to machines: at most 3 activated at once, each certificate working offline for 30
# days before the app renews it (`scripts/send-test-event --price price_demo_seats` buys one;
# `tessera activate KEY --url http://127.0.0.1:8080` activates this machine).
[[prices]]
id = "price_demo_seats"
product = "demo-app"
tier = "pro"
features = ["export", "sync"]
duration_days = 365
max_machines = 3
lease_days = 30

# A top-up pack for the credit endpoint (`scripts/send-test-event --top-up KEY` buys one).
[[prices]]
id = "price_demo_credits"
topup_credits = 1000
"#;

/// The default listen address: loopback only, so a first start exposes nothing.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The default data directory, relative to where the issuer starts.
pub const DEFAULT_DATA_DIR: &str = "tessera-data";

/// The environment variable that gives the key-encryption key.
pub const KEK_VARIABLE: &str = "TESSERA_KEY_ENCRYPTION_KEY";

/// How often signing keys are read again when `[signing] reload_seconds` is not set.
pub const DEFAULT_KEY_RELOAD_SECONDS: u64 = 2;

/// Environment variables the issuer reads, for tests and for a sealed environment.
#[derive(Clone, Debug, Default)]
pub struct Environment {
    /// `STRIPE_WEBHOOK_SECRET`: one secret, or several separated by commas; replaces the file's list.
    pub webhook_secret: Option<String>,
    /// `STRIPE_SECRET_KEY`.
    pub secret_key: Option<String>,
    /// `SMTP_PASSWORD`.
    pub smtp_password: Option<String>,
    /// `DATABASE_URL`: PostgreSQL; wins over `[database] url`.
    pub database_url: Option<String>,
    /// `TESSERA_KEY_ENCRYPTION_KEY`: seals the signing keys kept in the database; wins over
    /// `[signing] key_encryption_key_file`.
    pub key_encryption_key: Option<Secret>,
}

impl Environment {
    /// Reads the variables from the process environment.
    pub fn from_process() -> Environment {
        let non_empty = |name| {
            std::env::var(name)
                .ok()
                .filter(|value| !value.trim().is_empty())
        };
        Environment {
            webhook_secret: non_empty("STRIPE_WEBHOOK_SECRET"),
            secret_key: non_empty("STRIPE_SECRET_KEY"),
            smtp_password: non_empty("SMTP_PASSWORD"),
            database_url: non_empty("DATABASE_URL"),
            key_encryption_key: non_empty(KEK_VARIABLE).map(Secret),
        }
    }
}

impl Config {
    /// The configuration in `path`, or the embedded development default if `path` is `None`.
    pub fn load(path: Option<&Path>, env: &Environment) -> Result<Config, ConfigError> {
        let file = match path {
            None => {
                let mut config = Config::from_toml_str(DEVELOPMENT_DEFAULTS, env)?;
                config.development = true;
                return Ok(config);
            }
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|err| {
                    invalid("--config", format!("cannot read {}: {err}", path.display()))
                })?;
                toml::from_str(&text).map_err(|err| toml_error(&err))?
            }
        };
        Config::from_file(file, env)
    }

    /// Parses configuration text (as in a file) with the given environment.
    pub fn from_toml_str(text: &str, env: &Environment) -> Result<Config, ConfigError> {
        let file = toml::from_str(text).map_err(|err| toml_error(&err))?;
        Config::from_file(file, env)
    }

    fn from_file(file: ConfigFile, env: &Environment) -> Result<Config, ConfigError> {
        let listen = file.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen = listen.parse().map_err(|_| {
            invalid(
                "listen",
                format!("`{listen}` is not an address like 127.0.0.1:8080"),
            )
        })?;
        let retired_public_keys = file
            .signing
            .retired_public_keys
            .iter()
            .enumerate()
            .map(|(i, text)| {
                PublicKey::from_text(text)
                    .map_err(|err| invalid(format!("signing.retired_public_keys[{i}]"), err))
            })
            .collect::<Result<Vec<_>, _>>()?;
        // Apps trust at most MAX_TRUSTED_KEYS keys: the active one and the retired ones.
        if retired_public_keys.len() >= tessera_verifier::MAX_TRUSTED_KEYS {
            return Err(invalid(
                "signing.retired_public_keys",
                format!(
                    "at most {} retired keys: apps trust {} keys at once",
                    tessera_verifier::MAX_TRUSTED_KEYS - 1,
                    tessera_verifier::MAX_TRUSTED_KEYS
                ),
            ));
        }
        let grace_days = file.licenses.grace_days.unwrap_or(7);
        let grace_seconds = grace_days
            .checked_mul(86_400)
            .ok_or_else(|| invalid("licenses.grace_days", "is too large"))?;
        let checkout_session_key_hours = file.licenses.checkout_session_key_hours.unwrap_or(24);
        if checkout_session_key_hours == 0 {
            return Err(invalid(
                "licenses.checkout_session_key_hours",
                "must be positive",
            ));
        }

        let webhook_secrets = webhook_secrets(file.stripe.webhook_secrets, env)?;
        if let Some(key) = &env.secret_key {
            refuse_placeholder("STRIPE_SECRET_KEY", key)?;
        }
        if let Some(key) = &file.stripe.secret_key {
            refuse_placeholder("stripe.secret_key", key)?;
        }
        let secret_key = env
            .secret_key
            .clone()
            .or(file.stripe.secret_key)
            .map(Secret);
        let mode = stripe_mode(file.stripe.mode.as_deref(), secret_key.as_ref())?;
        let api_base = file
            .stripe
            .api_base
            .unwrap_or_else(|| "https://api.stripe.com".to_owned());
        if !(api_base.starts_with("http://") || api_base.starts_with("https://")) {
            return Err(invalid(
                "stripe.api_base",
                "must be an http:// or https:// URL",
            ));
        }

        let catalog = Catalog::new(file.products).map_err(|err| invalid("products", err))?;
        let prices = file
            .prices
            .into_iter()
            .enumerate()
            .map(|(i, price)| price_entry(&catalog, i, price))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(dup) = prices
            .iter()
            .enumerate()
            .find(|(i, p)| prices[..*i].iter().any(|q| q.price_id == p.price_id))
        {
            return Err(invalid(format!("prices[{}].id", dup.0), "is listed twice"));
        }

        let body_limit_bytes = file.limits.body_bytes.unwrap_or(256 * 1024);
        let request_timeout_seconds = file.limits.request_timeout_seconds.unwrap_or(15);
        if body_limit_bytes == 0 {
            return Err(invalid("limits.body_bytes", "must be positive"));
        }
        if request_timeout_seconds == 0 {
            return Err(invalid(
                "limits.request_timeout_seconds",
                "must be positive",
            ));
        }

        let connections = connection_limits(&file.limits)?;

        let per_ip = RateLimit::new(
            file.limits.requests_per_second_per_ip.unwrap_or(1000),
            file.limits.burst_per_ip.unwrap_or(2000),
        )
        .map_err(|why| invalid("limits.burst_per_ip", why))?;
        let per_license = RateLimit::new(
            file.limits
                .credit_requests_per_second_per_license
                .unwrap_or(500),
            file.limits.credit_burst_per_license.unwrap_or(1000),
        )
        .map_err(|why| invalid("limits.credit_burst_per_license", why))?;

        let smtp = file.smtp.map(|smtp| smtp_config(smtp, env)).transpose()?;
        let database = database::database_config(file.database, env.database_url.as_deref())?;
        // The variable wins, as STRIPE_WEBHOOK_SECRET does: a sealed environment can override a file.
        let key_encryption_key = match (
            &env.key_encryption_key,
            file.signing.key_encryption_key_file,
        ) {
            (Some(key), _) => Some(KekSource::Environment(key.clone())),
            (None, Some(path)) => Some(KekSource::File(path)),
            (None, None) => None,
        };
        let key_reload_seconds = file
            .signing
            .reload_seconds
            .unwrap_or(DEFAULT_KEY_RELOAD_SECONDS);
        if key_reload_seconds == 0 {
            return Err(invalid("signing.reload_seconds", "must be positive"));
        }
        let mut admin_tokens: Vec<AdminToken> = Vec::new();
        for (i, token) in file.admin.tokens.into_iter().enumerate() {
            let parsed = AdminToken::from_hash(&token.name, &token.sha256)
                .map_err(|why| invalid(format!("admin.tokens[{i}]"), why))?;
            if parsed == AdminToken::from_value(&parsed.name, PLACEHOLDER_ADMIN_TOKEN) {
                return Err(invalid(
                    format!("admin.tokens[{i}].sha256"),
                    PLACEHOLDER_PROBLEM,
                ));
            }
            if admin_tokens.iter().any(|t| t.name == parsed.name) {
                return Err(invalid(
                    format!("admin.tokens[{i}].name"),
                    "is listed twice",
                ));
            }
            admin_tokens.push(parsed);
        }
        Ok(Config {
            listen,
            data_dir: file.data_dir.unwrap_or_else(|| DEFAULT_DATA_DIR.into()),
            database,
            signing_key_file: file.signing.key_file,
            retired_public_keys,
            key_encryption_key,
            key_reload_interval: std::time::Duration::from_secs(key_reload_seconds),
            grace_seconds,
            checkout_session_key_seconds: i64::from(checkout_session_key_hours) * 3600,
            stripe: StripeConfig {
                webhook_secrets,
                secret_key,
                api_base,
                mode,
            },
            smtp,
            catalog,
            prices,
            body_limit_bytes,
            request_timeout_seconds,
            connections,
            per_ip,
            per_license,
            admin_tokens,
            development: false,
        })
    }

    /// What `price_id` sells, if the catalogue lists it.
    pub fn price(&self, price_id: &str) -> Option<&PriceEntry> {
        self.prices.iter().find(|entry| entry.price_id == price_id)
    }
}

/// The longest drain after SIGTERM: orchestrators kill a process that takes much longer to stop.
const MAX_DRAIN_SECONDS: u64 = 300;

fn connection_limits(limits: &LimitsFile) -> Result<ConnectionLimits, ConfigError> {
    let max_connections = limits.max_connections.unwrap_or(512);
    if max_connections == 0 {
        return Err(invalid("limits.max_connections", "must be positive"));
    }
    let header_read_timeout = limits.header_read_timeout_seconds.unwrap_or(20);
    if header_read_timeout == 0 {
        return Err(invalid(
            "limits.header_read_timeout_seconds",
            "must be positive",
        ));
    }
    let keep_alive = limits.keep_alive_seconds.unwrap_or(5);
    let drain = limits.drain_seconds.unwrap_or(0);
    if drain > MAX_DRAIN_SECONDS {
        return Err(invalid(
            "limits.drain_seconds",
            format!("must be at most {MAX_DRAIN_SECONDS}"),
        ));
    }
    Ok(ConnectionLimits {
        max_connections,
        header_read_timeout: std::time::Duration::from_secs(header_read_timeout),
        keep_alive: (keep_alive > 0).then(|| std::time::Duration::from_secs(keep_alive)),
        drain: std::time::Duration::from_secs(drain),
    })
}

/// The admin token the documentation once showed the hash of.
const PLACEHOLDER_ADMIN_TOKEN: &str = "tsadm_REPLACE_ME";
/// What a documented placeholder secret contains (`whsec_REPLACE_…`, `sk_test_REPLACE_ME`, …).
const PLACEHOLDER_MARK: &str = "REPLACE";
const PLACEHOLDER_PROBLEM: &str =
    "is the documentation's placeholder, which anyone can read: put your own secret here";

/// Refuses a secret copied from the documentation: whoever read it could use it.
fn refuse_placeholder(field: &str, secret: &str) -> Result<(), ConfigError> {
    if secret.to_ascii_uppercase().contains(PLACEHOLDER_MARK) {
        return Err(invalid(field, PLACEHOLDER_PROBLEM));
    }
    Ok(())
}

/// The mode served: as set, else the API key's, else live. A key of the other mode is refused: its
/// calls would not find the events' objects.
fn stripe_mode(setting: Option<&str>, key: Option<&Secret>) -> Result<StripeMode, ConfigError> {
    let key_mode = key.and_then(|key| StripeMode::of_key(key.expose()));
    let mode = match setting {
        None => return Ok(key_mode.unwrap_or(StripeMode::Live)),
        Some("live") => StripeMode::Live,
        Some("test") => StripeMode::Test,
        Some(other) => {
            return Err(invalid(
                "stripe.mode",
                format!("`{other}` is not one of `live`, `test`"),
            ))
        }
    };
    match key_mode {
        Some(key_mode) if key_mode != mode => Err(invalid(
            "stripe.mode",
            format!(
                "is `{}` but the Stripe API key (stripe.secret_key or STRIPE_SECRET_KEY) is a \
                 {}-mode key",
                mode.as_str(),
                key_mode.as_str()
            ),
        )),
        _ => Ok(mode),
    }
}

/// The webhook secrets in force: `STRIPE_WEBHOOK_SECRET`'s if it is set (the file's list is then not
/// used at all, so a secret left in the file cannot stay valid beside it), else the file's.
fn webhook_secrets(file: Vec<String>, env: &Environment) -> Result<Vec<Secret>, ConfigError> {
    let (field, secrets): (&str, Vec<String>) = match &env.webhook_secret {
        Some(from_env) => {
            if file.is_empty() {
                tracing::info!("webhook secrets from STRIPE_WEBHOOK_SECRET");
            } else {
                tracing::warn!(
                    replaced = file.len(),
                    "STRIPE_WEBHOOK_SECRET replaces [stripe] webhook_secrets: the file's secrets \
                     are not used"
                );
            }
            let secrets = from_env.split(',').map(|s| s.trim().to_owned());
            ("STRIPE_WEBHOOK_SECRET", secrets.collect())
        }
        None => ("stripe.webhook_secrets", file),
    };
    let mut kept = Vec::with_capacity(secrets.len());
    for (i, secret) in secrets.into_iter().enumerate() {
        let field = format!("{field}[{i}]");
        if secret.is_empty() {
            continue;
        }
        if !secret.starts_with("whsec_") {
            return Err(invalid(
                field,
                "a Stripe webhook secret starts with `whsec_`",
            ));
        }
        refuse_placeholder(&field, &secret)?;
        kept.push(Secret(secret));
    }
    Ok(kept)
}

fn toml_error(err: &toml::de::Error) -> ConfigError {
    // toml's message spans several lines with a source excerpt; the first line names the problem.
    let message = err
        .message()
        .lines()
        .next()
        .unwrap_or("invalid TOML")
        .to_owned();
    let field = err
        .span()
        .map(|span| format!("at byte {}", span.start))
        .unwrap_or_else(|| "file".to_owned());
    invalid(field, message)
}

fn price_entry(catalog: &Catalog, i: usize, price: PriceFile) -> Result<PriceEntry, ConfigError> {
    let field = |name: &str| format!("prices[{i}].{name}");
    if !price.id.starts_with("price_") {
        return Err(invalid(
            field("id"),
            "a Stripe price id starts with `price_`",
        ));
    }
    let seat_settings = seats::SeatSettings {
        max_machines: price.max_machines,
        lease_days: price.lease_days,
        floating: price.floating,
        heartbeat_seconds: price.heartbeat_seconds,
        max_deactivations_per_30_days: price.max_deactivations_per_30_days,
    };
    if let Some(credits) = price.topup_credits {
        if seat_settings.any() {
            return Err(invalid(
                field("max_machines"),
                "a top-up price sells credits only: seat settings belong to licence prices",
            ));
        }
        if price.product.is_some() || price.tier.is_some() || !price.features.is_empty() {
            return Err(invalid(
                field("topup_credits"),
                "a top-up price sells credits only: drop product, tier and features",
            ));
        }
        if credits == 0 {
            return Err(invalid(field("topup_credits"), "must be positive"));
        }
        return Ok(PriceEntry {
            price_id: price.id,
            sells: Sale::TopUp { credits },
        });
    }
    let product_name = price
        .product
        .ok_or_else(|| invalid(field("product"), "is required (or set topup_credits)"))?;
    let product = catalog.lookup(&product_name).ok_or_else(|| {
        invalid(
            field("product"),
            format!("`{product_name}` is not in [[products]]"),
        )
    })?;
    let tier_name = price
        .tier
        .ok_or_else(|| invalid(field("tier"), "is required"))?;
    let tier = product.tier_index(&tier_name).ok_or_else(|| {
        invalid(
            field("tier"),
            format!("`{tier_name}` is not a tier of `{}`", product.name),
        )
    })?;
    let mut features = 0u64;
    for name in &price.features {
        let bit = product.feature_bit(name).ok_or_else(|| {
            invalid(
                field("features"),
                format!("`{name}` is not a feature of `{}`", product.name),
            )
        })?;
        features |= 1 << bit;
    }
    let duration_days = match (price.duration_days, price.perpetual) {
        (Some(_), true) => {
            return Err(invalid(
                field("perpetual"),
                "cannot be combined with duration_days",
            ))
        }
        (Some(0), false) => return Err(invalid(field("duration_days"), "must be positive")),
        (days, _) => days,
    };
    let seats = seat_settings.policy(field)?;
    Ok(PriceEntry {
        price_id: price.id,
        sells: Sale::License {
            product: product.id,
            tier,
            features,
            duration_days,
            credits_per_period: price.credits_per_period,
            seats,
        },
    })
}

/// How licence keys are e-mailed to buyers (`[smtp]`); see [`crate::email`].
#[derive(Clone, Debug)]
pub struct SmtpConfig {
    /// The SMTP server (relay or submission server).
    pub host: String,
    /// Its port; defaults by `tls`: 25, 587 (`starttls`) or 465 (`tls`).
    pub port: u16,
    /// How the connection is secured.
    pub tls: SmtpTls,
    /// Login name; `None` sends without authenticating.
    pub username: Option<String>,
    /// Password for `username` (`SMTP_PASSWORD` takes precedence over the file).
    pub password: Option<Secret>,
    /// The sender, e.g. `Acme Licensing <licences@acme.example>`.
    pub from: lettre::message::Mailbox,
    /// Where replies go, if not to `from`.
    pub reply_to: Option<lettre::message::Mailbox>,
    /// The subject line; `{product}` and `{tier}` are replaced by the licence's names.
    pub subject: String,
    /// Attempts before a message is given up as failed.
    pub max_attempts: u32,
    /// Delay before the first retry; each later one doubles it (with jitter, at most 6 hours).
    pub base_backoff_seconds: u64,
    /// Longest one SMTP command may take.
    pub timeout_seconds: u64,
}

/// How the SMTP connection is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text: only for a relay on the same host or a trusted network (and for tests).
    None,
    /// Plain text upgraded with STARTTLS, which the server must offer (never falls back).
    StartTls,
    /// TLS from the first byte (implicit TLS, "SMTPS").
    Tls,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SmtpFile {
    host: Option<String>,
    port: Option<u16>,
    tls: Option<String>,
    username: Option<String>,
    password: Option<String>,
    from: Option<String>,
    reply_to: Option<String>,
    subject: Option<String>,
    max_attempts: Option<u32>,
    base_backoff_seconds: Option<u64>,
    timeout_seconds: Option<u64>,
}

fn smtp_config(file: SmtpFile, env: &Environment) -> Result<SmtpConfig, ConfigError> {
    let host = file.host.unwrap_or_default();
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(invalid("smtp.host", "is required: the SMTP server's name"));
    }
    let tls = match file.tls.as_deref().unwrap_or("starttls") {
        "none" => SmtpTls::None,
        "starttls" => SmtpTls::StartTls,
        "tls" => SmtpTls::Tls,
        other => {
            return Err(invalid(
                "smtp.tls",
                format!("`{other}` is not one of `none`, `starttls`, `tls`"),
            ))
        }
    };
    let port = file.port.unwrap_or(match tls {
        SmtpTls::None => 25,
        SmtpTls::StartTls => 587,
        SmtpTls::Tls => 465,
    });
    if let Some(password) = &file.password {
        refuse_placeholder("smtp.password", password)?;
    }
    // SMTP_PASSWORD goes with a username; set for some other program, it does not stop the issuer.
    let password = match &file.username {
        Some(_) => env.smtp_password.clone().or(file.password),
        None => file.password,
    }
    .map(Secret);
    match (&file.username, &password) {
        (Some(_), None) => {
            return Err(invalid(
                "smtp.password",
                "is required with smtp.username (or set SMTP_PASSWORD)",
            ))
        }
        (None, Some(_)) => return Err(invalid("smtp.username", "is required with a password")),
        (Some(_), Some(_)) if tls == SmtpTls::None => {
            return Err(invalid(
                "smtp.tls",
                "`none` would send the password in clear: use `starttls` or `tls`",
            ))
        }
        _ => {}
    }
    let mailbox = |field: &str, text: Option<String>| {
        text.map(|text| {
            text.parse::<lettre::message::Mailbox>()
                .map_err(|err| invalid(field, format!("`{text}` is not an e-mail address: {err}")))
        })
        .transpose()
    };
    let from = mailbox("smtp.from", file.from)?
        .ok_or_else(|| invalid("smtp.from", "is required: the sender's address"))?;
    let reply_to = mailbox("smtp.reply_to", file.reply_to)?;
    let subject = file
        .subject
        .unwrap_or_else(|| "Your {product} licence key".to_owned());
    let bad_placeholder = || {
        invalid(
            "smtp.subject",
            "may contain only the placeholders {product} and {tier}",
        )
    };
    let mut rest = subject.as_str();
    while let Some(start) = rest.find('{') {
        let end = start + rest[start..].find('}').ok_or_else(bad_placeholder)?;
        if !matches!(&rest[start + 1..end], "product" | "tier") {
            return Err(bad_placeholder());
        }
        rest = &rest[end + 1..];
    }
    if subject.trim().is_empty() || subject.contains(['\r', '\n']) {
        return Err(invalid("smtp.subject", "must be one non-empty line"));
    }
    let positive = |field: &str, value: u64| match value {
        0 => Err(invalid(field, "must be positive")),
        value => Ok(value),
    };
    let max_attempts = positive("smtp.max_attempts", file.max_attempts.unwrap_or(10).into())?;
    Ok(SmtpConfig {
        host,
        port,
        tls,
        username: file.username,
        password,
        from,
        reply_to,
        subject,
        max_attempts: max_attempts as u32,
        base_backoff_seconds: positive(
            "smtp.base_backoff_seconds",
            file.base_backoff_seconds.unwrap_or(60),
        )?,
        timeout_seconds: positive("smtp.timeout_seconds", file.timeout_seconds.unwrap_or(30))?,
    })
}
