//! The real `tessera-issuer` binary on an ephemeral loopback port, with a temporary data directory,
//! on SQLite in that directory or on a PostgreSQL test database of its own.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tessera_issuer::store::postgres::PgStore;
use tessera_issuer::store::sqlite::SqliteStore;
use tessera_issuer::store::Store;
use tessera_issuer::testing::TestDatabase;

use crate::util::issuer_bin;

/// The key-encryption key of every issuer on a PostgreSQL workspace: the same on each process, as
/// in production, so that each can unseal the signing keys another made.
const TEST_KEY_ENCRYPTION_KEY: &str =
    "5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed";

/// How long the issuer may take to start before a test fails.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running issuer. Killed when dropped; [`Issuer::stop`] shuts it down gracefully.
pub struct Issuer {
    child: Child,
    base_url: String,
    dir: PathBuf,
    /// Carries the log from a pipe to `issuer.log` (see [`Workspace::start_with_disk_control`]).
    log_copier: Option<JoinHandle<()>>,
}

/// A directory that outlives restarts of the issuer: config file and data directory; and, for a
/// workspace [`Workspace::on_postgres`], the database every issuer started on it shares.
pub struct Workspace {
    /// Opened on first use by [`Workspace::store`]; closed before the database goes.
    store: OnceLock<Box<dyn Store>>,
    /// Declared before `dir`: the database goes (and the connections of any issuer still running
    /// with it) while the directory is still there.
    postgres: Option<TestDatabase>,
    dir: TempDir,
    extra_config: String,
    /// Issuers started so far on a PostgreSQL workspace, each with a directory of its own.
    processes: AtomicUsize,
}

impl Workspace {
    /// A new directory with `extra_config` (TOML) written as the config; `listen` and `data_dir` are
    /// set here. Issuers started on it share its data directory and the SQLite database there.
    pub fn new(extra_config: &str) -> Workspace {
        let dir = tempfile::tempdir().expect("temporary directory");
        write_config(dir.path(), extra_config);
        Workspace {
            store: OnceLock::new(),
            postgres: None,
            dir,
            extra_config: extra_config.to_owned(),
            processes: AtomicUsize::new(0),
        }
    }

    /// As [`Workspace::new`], but every issuer started on it runs on one fresh PostgreSQL test
    /// database (`DATABASE_URL`) with the same key-encryption key, and shares nothing else: each
    /// has a directory of its own (`process-<n>`: config, data directory, log), as processes on
    /// several machines would. `None`, after a printed notice, without a PostgreSQL server (a
    /// failure instead under `TESSERA_REQUIRE_POSTGRES=1`).
    pub fn on_postgres(extra_config: &str) -> Option<Workspace> {
        let postgres = TestDatabase::create()?;
        Some(Workspace {
            postgres: Some(postgres),
            ..Workspace::new(extra_config)
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The URL of the PostgreSQL database of a workspace [`Workspace::on_postgres`].
    pub fn database_url(&self) -> Option<&str> {
        self.postgres.as_ref().map(TestDatabase::url)
    }

    /// The store the issuers keep their data in, opened beside them (once an issuer has made it),
    /// for tests to read what they did through the same interface on either backend.
    pub fn store(&self) -> &dyn Store {
        self.store
            .get_or_init(|| match &self.postgres {
                Some(db) => {
                    Box::new(PgStore::open(db.url(), 2).expect("open the PostgreSQL store"))
                }
                None => Box::new(
                    SqliteStore::open(&self.dir.path().join("data/tessera.sqlite3"))
                        .expect("open the issuer's SQLite store"),
                ),
            })
            .as_ref()
    }

    /// Every row of the e-mail outbox, oldest first, read from whichever database the issuers use:
    /// neither the issuer's API nor its commands show the outbox.
    pub fn outbox(&self) -> Vec<OutboxRow> {
        const ROWS: &str =
            "SELECT to_address, status, attempts, last_error FROM email_outbox ORDER BY id";
        match &self.postgres {
            Some(db) => {
                let mut client = postgres::Client::connect(db.url(), postgres::NoTls)
                    .expect("connect to the issuers' PostgreSQL database");
                let rows = client.query(ROWS, &[]).expect(ROWS);
                rows.iter()
                    .map(|row| OutboxRow {
                        to: row.get(0),
                        status: row.get(1),
                        attempts: row.get(2),
                        last_error: row.get(3),
                    })
                    .collect()
            }
            None => {
                let conn = rusqlite::Connection::open_with_flags(
                    self.dir.path().join("data/tessera.sqlite3"),
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                )
                .expect("open the issuer's SQLite database");
                let mut rows = conn.prepare(ROWS).expect(ROWS);
                let read: rusqlite::Result<Vec<OutboxRow>> = rows
                    .query_map([], |row| {
                        Ok(OutboxRow {
                            to: row.get(0)?,
                            status: row.get(1)?,
                            attempts: row.get(2)?,
                            last_error: row.get(3)?,
                        })
                    })
                    .and_then(Iterator::collect);
                read.expect(ROWS)
            }
        }
    }

    /// What points an issuer or a command at this workspace's database, if it is PostgreSQL.
    fn database_env(&self) -> Vec<(&'static str, &str)> {
        self.postgres.as_ref().map_or_else(Vec::new, |db| {
            vec![
                ("DATABASE_URL", db.url()),
                ("TESSERA_KEY_ENCRYPTION_KEY", TEST_KEY_ENCRYPTION_KEY),
            ]
        })
    }

    /// Starts the issuer on this workspace.
    pub fn start(&self) -> Issuer {
        self.start_with_env(&[])
    }

    /// Starts the issuer on this workspace with extra environment variables.
    pub fn start_with_env(&self, env: &[(&str, &str)]) -> Issuer {
        let dir = if self.postgres.is_some() {
            let n = self.processes.fetch_add(1, Ordering::Relaxed) + 1;
            let dir = self.dir.path().join(format!("process-{n}"));
            std::fs::create_dir(&dir).expect("a directory for the process");
            write_config(&dir, &self.extra_config);
            dir
        } else {
            self.dir.path().to_owned()
        };
        let config = dir.join("tessera.toml");
        let env: Vec<(&str, &str)> = self
            .database_env()
            .into_iter()
            .chain(env.iter().copied())
            .collect();
        Issuer::start(
            &dir,
            &["--config".as_ref(), config.as_os_str()],
            &env,
            false,
        )
    }

    /// Starts the issuer on this workspace's own config with extra environment variables, for a
    /// start that must be refused: its exit code and stderr once it stops (a test failure if it
    /// does not within [`START_TIMEOUT`]). With the log off (`RUST_LOG=off`), stderr holds only the
    /// error.
    pub fn refused_start(&self, env: &[(&str, &str)]) -> (Option<i32>, String) {
        let stderr = self.dir.path().join("refused.log");
        let mut child = Command::new(issuer_bin())
            .arg("--config")
            .arg(self.dir.path().join("tessera.toml"))
            .current_dir(self.dir.path())
            .env_remove("STRIPE_WEBHOOK_SECRET")
            .env_remove("STRIPE_SECRET_KEY")
            .env_remove("DATABASE_URL")
            .env_remove("TESSERA_KEY_ENCRYPTION_KEY")
            .env("RUST_LOG", "off")
            .env("NO_COLOR", "1")
            .envs(self.database_env())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("start tessera-issuer");
        let start = std::time::Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for tessera-issuer") {
                break status;
            }
            if start.elapsed() > START_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                panic!("tessera-issuer started, or hung, instead of refusing to start");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let stderr = std::fs::read_to_string(&stderr).unwrap_or_default();
        (status.code(), stderr)
    }

    /// Starts the issuer on this workspace, on SQLite whatever the workspace, so that a test can
    /// take its disk away with [`Issuer::limit_file_size`]: through `sh`, which ignores SIGXFSZ (an
    /// ignored signal stays ignored through `exec`), so that a write past the limit fails with
    /// `EFBIG`, as one on a full or read-only disk fails, instead of killing the process; and with
    /// its log carried to `issuer.log` through a pipe, which the limit does not apply to.
    pub fn start_with_disk_control(&self) -> Issuer {
        let config = self.dir.path().join("tessera.toml");
        Issuer::start(
            self.dir.path(),
            &["--config".as_ref(), config.as_os_str()],
            &[],
            true,
        )
    }

    /// `tessera-issuer --config <this workspace's config> check-credits`, beside any running issuer.
    pub fn check_credits(&self) -> Output {
        Command::new(issuer_bin())
            .arg("--config")
            .arg(self.dir.path().join("tessera.toml"))
            .arg("check-credits")
            .current_dir(self.dir.path())
            .env_remove("STRIPE_WEBHOOK_SECRET")
            .env_remove("STRIPE_SECRET_KEY")
            .env_remove("DATABASE_URL")
            .envs(self.database_env())
            .output()
            .expect("run tessera-issuer check-credits")
    }

    /// Starts the issuer as the README's first command does, with no config file (the embedded
    /// default, data in `./tessera-data`), but on a free port: on SQLite, whatever the workspace.
    pub fn start_embedded_default(&self) -> Issuer {
        Issuer::start(
            self.dir.path(),
            &["--listen".as_ref(), "127.0.0.1:0".as_ref()],
            &[],
            false,
        )
    }
}

/// One row of the e-mail outbox (see [`Workspace::outbox`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxRow {
    pub to: String,
    /// `queued`, `sent` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
}

/// Writes `dir/tessera.toml`: a free loopback port, `dir/data` as the data directory, and
/// `extra_config`.
fn write_config(dir: &Path, extra_config: &str) {
    let config = format!(
        "listen = \"127.0.0.1:0\"\ndata_dir = {:?}\n{extra_config}",
        dir.join("data")
    );
    std::fs::write(dir.join("tessera.toml"), config).expect("write config");
}

impl Issuer {
    fn start(
        dir: &Path,
        args: &[&std::ffi::OsStr],
        env: &[(&str, &str)],
        disk_control: bool,
    ) -> Issuer {
        let log = std::fs::File::create(dir.join("issuer.log")).expect("log file");
        let (stderr, piped_log) = if disk_control {
            (Stdio::piped(), Some(log))
        } else {
            (Stdio::from(log), None)
        };
        let mut command = if disk_control {
            let mut sh = Command::new("sh");
            // `$0` is the issuer, `$@` its arguments.
            sh.args(["-c", "trap '' XFSZ; exec \"$0\" \"$@\""])
                .arg(issuer_bin());
            sh
        } else {
            Command::new(issuer_bin())
        };
        command
            .args(args)
            .current_dir(dir)
            .env_remove("STRIPE_WEBHOOK_SECRET")
            .env_remove("STRIPE_SECRET_KEY")
            // On SQLite unless the workspace says otherwise, whatever the developer's shell holds.
            .env_remove("DATABASE_URL")
            .env_remove("TESSERA_KEY_ENCRYPTION_KEY")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("start tessera-issuer");
        let log_copier = piped_log.map(|mut log| {
            let mut stderr = child.stderr.take().expect("issuer stderr");
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut stderr, &mut log);
            })
        });
        let stdout = child.stdout.take().expect("issuer stdout");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("tessera-issuer listening on ") {
                    let _ = sender.send(url.to_owned());
                }
            }
        });
        match receiver.recv_timeout(START_TIMEOUT) {
            Ok(base_url) => Issuer {
                child,
                base_url,
                dir: dir.to_owned(),
                log_copier,
            },
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                if let Some(copier) = log_copier {
                    let _ = copier.join();
                }
                let log = std::fs::read_to_string(dir.join("issuer.log")).unwrap_or_default();
                panic!("tessera-issuer did not start within {START_TIMEOUT:?}; its log:\n{log}");
            }
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// What the issuer has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("issuer.log")).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for a clean exit; returns whether it exited successfully.
    pub fn stop(self) -> bool {
        self.terminate();
        self.exited_within(Duration::from_secs(5))
    }

    /// Sends SIGTERM and returns at once.
    pub fn terminate(&self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
    }

    /// Whether the process exits successfully within `deadline`.
    pub fn exited_within(mut self, deadline: Duration) -> bool {
        let start = std::time::Instant::now();
        while start.elapsed() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sets the process's soft limit on the size of the files it writes (`RLIMIT_FSIZE`, through
    /// util-linux's `prlimit`) to `bytes`, or none. Any user may do so to their own processes, root
    /// included, and root is held to the limit too. Under `Some(0)` every write to a file fails (the
    /// limit is on the offset written, not on growth), as on a full or read-only disk; reads do
    /// not. Only for an issuer started with [`Workspace::start_with_disk_control`], which survives
    /// the signal such a write raises.
    pub fn limit_file_size(&self, bytes: Option<u64>) {
        let limit = bytes.map_or_else(|| "unlimited".to_owned(), |bytes| bytes.to_string());
        let status = Command::new("prlimit")
            .arg(format!("--pid={}", self.child.id()))
            .arg(format!("--fsize={limit}:"))
            .status()
            .expect("run prlimit (util-linux) to set the issuer's file-size limit");
        assert!(status.success(), "prlimit --fsize={limit}: failed");
    }
}

impl Drop for Issuer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The log pipe closes with the process: the copier has all of it.
        if let Some(copier) = self.log_copier.take() {
            let _ = copier.join();
        }
    }
}

/// Waits until `done` holds, or fails after `patience` naming `what`, with the logs of `issuers`.
pub fn wait_until(
    issuers: &[&Issuer],
    what: &str,
    patience: Duration,
    mut done: impl FnMut() -> bool,
) {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > patience {
            let logs: Vec<String> = issuers.iter().map(|issuer| issuer.log()).collect();
            panic!(
                "timed out after {patience:?} waiting for {what}; issuer logs:\n{}",
                logs.join("\n----\n")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A small HTTP client for tests: never treats a status as an error, and times out.
pub fn http() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

/// Status and JSON body of a GET.
pub fn get_json(url: &str) -> (u16, serde_json::Value) {
    let mut response = http().get(url).call().expect("GET");
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().expect("body");
    (
        status,
        serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)),
    )
}
