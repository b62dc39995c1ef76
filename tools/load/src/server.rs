//! The servers under load, each in its own child process: the real `tessera-issuer`, and a
//! hello-world axum server (`tessera-load hello`) as the baseline.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use axum::routing::get;
use axum::Router;

use crate::backend::{random_key_encryption_key, Backend, ScratchDatabase};
use crate::machine::Machine;

/// How long a server may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The Stripe webhook secret the load tool configures and signs with.
pub const WEBHOOK_SECRET: &str = "whsec_load_test";

/// The Stripe price every load event buys.
pub const PRICE: &str = "price_bench";

/// The licence price of the heartbeat scenario: its keys need machine activation (fixed seats with a
/// 30-day lease, as many as a run activates).
pub const SEAT_PRICE: &str = "price_bench_seats";

/// The top-up price the credit scenario grants its licences' credits with.
pub const TOP_UP_PRICE: &str = "price_bench_credits";

/// Credits one top-up of [`TOP_UP_PRICE`] grants: the most the issuer grants at once, so that no
/// run can use them up.
pub const TOP_UP_CREDITS: u64 = 1_000_000_000_000;

/// The issuer's configuration for a load run: loopback on an ephemeral port, data in `data_dir`,
/// one webhook secret, a one-product catalogue, one licence price and one top-up price. Stripe's API
/// base points at a closed loopback port, so nothing can leave the machine (events carry
/// `tessera_price`, so none is expected). Rate limits are off: the run measures the issuer's ceiling
/// from one client address, which a production limit exists to stop.
///
/// With `database` (a PostgreSQL URL and the pool size of each process, `None` for the issuer's
/// default), the data lives there instead of in SQLite.
pub fn issuer_config(data_dir: &Path, database: Option<(&str, Option<u32>)>) -> String {
    // JSON string escapes are valid TOML basic-string escapes.
    let data_dir = serde_json::to_string(&data_dir.to_string_lossy()).expect("a string");
    let database = match database {
        None => String::new(),
        Some((url, pool_size)) => {
            let url = serde_json::to_string(url).expect("a string");
            let pool_size = pool_size.map_or_else(String::new, |n| format!("pool_size = {n}\n"));
            format!("\n[database]\nurl = {url}\n{pool_size}")
        }
    };
    format!(
        r#"listen = "127.0.0.1:0"
data_dir = {data_dir}

[stripe]
mode = "test"
webhook_secrets = ["{WEBHOOK_SECRET}"]
api_base = "http://127.0.0.1:9"

[limits]
requests_per_second_per_ip = 0
credit_requests_per_second_per_license = 0

[[products]]
id = 1
name = "bench"
tiers = ["free", "pro"]
features = ["export"]

[[prices]]
id = "{PRICE}"
product = "bench"
tier = "pro"
features = ["export"]
duration_days = 365

[[prices]]
id = "{TOP_UP_PRICE}"
topup_credits = {TOP_UP_CREDITS}

[[prices]]
id = "{SEAT_PRICE}"
product = "bench"
tier = "pro"
features = ["export"]
duration_days = 365
max_machines = 1000
lease_days = 30
{database}"#
    )
}

/// A server child process, killed (and reaped) when dropped, also on an error or a panic.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl ServerProcess {
    /// Starts `command` with its stdout piped and its stderr written to `log`, and waits for the line
    /// `<name> listening on http://<addr>` (at most 30 s). `addr` must be a loopback address.
    pub fn start(mut command: Command, name: &str, log: &Path) -> anyhow::Result<ServerProcess> {
        let log_file = std::fs::File::create(log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file);
        let program = command.get_program().to_string_lossy().into_owned();
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {program}"))?;
        let stdout = child.stdout.take().context("child stdout")?;
        // The guard exists before anything below can fail.
        let mut server = ServerProcess {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log: log.to_owned(),
        };
        let prefix = format!("{name} listening on http://");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            // Keeps reading to the end so the child never blocks on a full pipe.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix(&prefix) {
                    let _ = sender.send(addr.trim().trim_end_matches('/').to_owned());
                }
            }
        });
        let addr = match receiver.recv_timeout(START_TIMEOUT) {
            Ok(addr) => addr,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                bail!(
                    "{name} did not print its address within {START_TIMEOUT:?}{}",
                    server.log_tail()
                )
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = server.child.wait().ok();
                bail!(
                    "{name} exited ({}) before listening{}",
                    status.map_or_else(|| "unknown status".to_owned(), |s| s.to_string()),
                    server.log_tail()
                )
            }
        };
        server.addr = addr
            .parse()
            .map_err(|_| anyhow!("{name} printed an address that is not ip:port: {addr}"))?;
        if !server.addr.ip().is_loopback() {
            bail!("{name} listens on {}, not a loopback address", server.addr);
        }
        Ok(server)
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The last lines of the server's log, to explain a failure (empty if there are none).
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        if lines.is_empty() {
            return String::new();
        }
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        format!("; last lines of {}:\n{tail}", self.log.display())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `tessera-issuer` binary next to this executable (same target directory), where
/// `cargo build --release -p tessera-issuer` puts it.
pub fn default_issuer_bin() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find this executable's path")?;
    let dir = exe.parent().context("executable has no directory")?;
    // `cargo test` runs test binaries from target/<profile>/deps.
    let dir = if dir.ends_with("deps") {
        dir.parent().unwrap_or(dir)
    } else {
        dir
    };
    Ok(dir.join(format!("tessera-issuer{}", std::env::consts::EXE_SUFFIX)))
}

/// The issuer binary to run: `given`, or [`default_issuer_bin`], as an absolute path (the issuer runs
/// in a temporary directory, where a relative path would mean something else). Fails at once, with
/// how to build it, if there is none.
pub fn find_issuer_bin(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let bin = match given {
        Some(bin) => bin.to_owned(),
        None => default_issuer_bin()?,
    };
    if !bin.is_file() {
        bail!(
            "no issuer binary at {} (build it first: cargo build --release -p tessera-issuer, \
             or pass --issuer-bin)",
            bin.display()
        );
    }
    std::path::absolute(&bin).context("the issuer binary's path")
}

/// The servers of one run and the temporary directory holding the issuer's config, its data and
/// the logs. Dropping it kills every server, then drops the run's PostgreSQL database (if any), then
/// removes the directory.
#[derive(Debug)]
pub struct Servers {
    /// The hello-world baseline.
    pub hello: ServerProcess,
    /// The real issuer's processes, all on the same data (none when only the hello server is
    /// measured).
    pub issuers: Vec<ServerProcess>,
    // Declared after the servers, so it is dropped once nothing uses it.
    _database: Option<ScratchDatabase>,
    // Declared last, so it is removed after every server is killed.
    _dir: tempfile::TempDir,
}

impl Servers {
    /// Starts the hello server and, given its binary, the issuer's processes on `backend` with
    /// [`issuer_config`] and a fresh data directory (and database), noting in `machine` what that
    /// directory's disk costs per commit. The processes start one after another, each once the last
    /// listens, with the same config and key-encryption key.
    pub fn start(
        issuer_bin: Option<&Path>,
        backend: &Backend,
        machine: &mut Machine,
    ) -> anyhow::Result<Servers> {
        let dir = tempfile::Builder::new()
            .prefix("tessera-load-")
            .tempdir()
            .context("temporary directory")?;
        let hello = start_hello(dir.path())?;
        let mut servers = Servers {
            hello,
            issuers: Vec::new(),
            _database: None,
            _dir: dir,
        };
        let Some(bin) = issuer_bin else {
            return Ok(servers);
        };
        let dir = servers._dir.path().to_owned();
        machine.probe_data_dir(&dir);
        let (database, key_encryption_key) = match backend {
            Backend::Sqlite => (None, None),
            Backend::Postgres {
                server_url,
                pool_size,
                ..
            } => {
                let database = servers
                    ._database
                    .insert(ScratchDatabase::create(server_url)?);
                (
                    Some((database.url.clone(), *pool_size)),
                    Some(random_key_encryption_key()?),
                )
            }
        };
        let config_file = dir.join("tessera.toml");
        let database = database.as_ref().map(|(url, size)| (url.as_str(), *size));
        std::fs::write(&config_file, issuer_config(&dir.join("data"), database))
            .context("writing the issuer's config")?;
        for process in 1..=backend.processes() {
            let log = match process {
                1 => dir.join("issuer.log"),
                n => dir.join(format!("issuer-{n}.log")),
            };
            let issuer = start_issuer(bin, &config_file, key_encryption_key.as_deref(), &log)?;
            servers.issuers.push(issuer);
        }
        Ok(servers)
    }

    /// The first issuer process; an error if none was started.
    pub fn issuer(&self) -> anyhow::Result<&ServerProcess> {
        self.issuers.first().context("no issuer was started")
    }

    /// Where the issuer's processes listen.
    pub fn issuer_addrs(&self) -> Vec<SocketAddr> {
        self.issuers.iter().map(ServerProcess::addr).collect()
    }

    /// An error with the end of its log if an issuer process is no longer running.
    pub fn check_issuer_alive(&mut self) -> anyhow::Result<()> {
        for issuer in &mut self.issuers {
            if !issuer.is_running() {
                bail!("the issuer exited during the run{}", issuer.log_tail());
            }
        }
        Ok(())
    }
}

/// Starts the issuer at `bin` with `config_file` (and `key_encryption_key`, which seals the signing
/// keys a PostgreSQL database keeps), working in the log's directory and logging to `log`.
pub fn start_issuer(
    bin: &Path,
    config_file: &Path,
    key_encryption_key: Option<&str>,
    log: &Path,
) -> anyhow::Result<ServerProcess> {
    let mut command = Command::new(bin);
    command
        .arg("--config")
        .arg(config_file)
        .current_dir(log.parent().context("the log has no directory")?)
        .env_remove("STRIPE_WEBHOOK_SECRET")
        .env_remove("STRIPE_SECRET_KEY")
        // The config names the database; the environment would win over it.
        .env_remove("DATABASE_URL")
        .env_remove("TESSERA_KEY_ENCRYPTION_KEY")
        .env("NO_COLOR", "1");
    if let Some(key) = key_encryption_key {
        command.env("TESSERA_KEY_ENCRYPTION_KEY", key);
    }
    ServerProcess::start(command, "tessera-issuer", log)
}

/// Starts `tessera-load hello` (this executable) on an ephemeral loopback port; its log is
/// `dir/hello.log`.
pub fn start_hello(dir: &Path) -> anyhow::Result<ServerProcess> {
    let exe = std::env::current_exe().context("cannot find this executable's path")?;
    let mut command = Command::new(exe);
    command.args(["hello", "--listen", "127.0.0.1:0"]);
    ServerProcess::start(command, "tessera-load hello", &dir.join("hello.log"))
}

/// The baseline's whole application: `GET /` answers `ok`.
pub fn hello_app() -> Router {
    Router::new().route("/", get(|| async { "ok" }))
}

/// Runs the hello-world server on `listen` until the process is killed, with the same runtime as the
/// issuer (tokio's default multi-threaded one), printing `tessera-load hello listening on
/// http://<addr>` once it accepts connections.
pub fn serve_hello(listen: SocketAddr) -> anyhow::Result<()> {
    if !listen.ip().is_loopback() {
        bail!("the hello server listens on loopback addresses only, not {listen}");
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        println!(
            "tessera-load hello listening on http://{}",
            listener.local_addr()?
        );
        axum::serve(listener, hello_app()).await?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_names_what_the_events_need() {
        let text = issuer_config(Path::new("/tmp/x \"y\"/data"), None);
        assert!(text.contains(r#"data_dir = "/tmp/x \"y\"/data""#), "{text}");
        assert!(text.contains(r#"listen = "127.0.0.1:0""#));
        assert!(text.contains(r#"webhook_secrets = ["whsec_load_test"]"#));
        assert!(text.contains(r#"id = "price_bench""#));
        assert!(text.contains(r#"id = "price_bench_credits""#));
        assert!(text.contains("topup_credits = 1000000000000"));
        assert!(!text.contains("[database]"));
    }

    #[test]
    fn config_names_the_database_when_there_is_one() {
        let text = issuer_config(Path::new("/d"), Some(("postgres://h/run1", Some(8))));
        assert!(
            text.ends_with("\n[database]\nurl = \"postgres://h/run1\"\npool_size = 8\n"),
            "{text}"
        );
        let text = issuer_config(Path::new("/d"), Some(("postgres://h/run1", None)));
        assert!(
            text.ends_with("\n[database]\nurl = \"postgres://h/run1\"\n"),
            "{text}"
        );
    }
}
