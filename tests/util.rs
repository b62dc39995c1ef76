//! Shared helpers: the `tessera` binary, run for real in a temporary directory.

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::sync::OnceLock;

use assert_cmd::assert::Assert;
use assert_cmd::Command;
use tempfile::TempDir;

/// The `tessera` binary, built once per test run. Set `TESSERA_BIN` to test another build.
pub fn tessera_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| workspace_bin("TESSERA_BIN", "tessera-cli", "tessera"))
}

/// The `tessera-issuer` binary, built once per test run. Set `TESSERA_ISSUER_BIN` to test another
/// build.
pub fn issuer_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| workspace_bin("TESSERA_ISSUER_BIN", "tessera-issuer", "tessera-issuer"))
}

/// A binary of another package in the workspace.
///
/// Cargo builds a package's binaries only for that package's own integration tests, so this asks
/// cargo to build it (quick when it is up to date) and takes its path from cargo's report.
fn workspace_bin(override_var: &str, package: &str, bin: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(override_var) {
        return PathBuf::from(path);
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = StdCommand::new(cargo);
    build
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "-p", package, "--bin", bin])
        .arg("--message-format=json-render-diagnostics");
    // Build with the profile this test binary was built with: .../<profile dir>/deps/e2e-<hash>.
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .filter(|deps| deps.ends_with("deps"))
        .and_then(Path::parent)
        .and_then(Path::file_name)
        .and_then(|name| name.to_str())
        .unwrap_or("debug");
    match profile_dir {
        "debug" => {}
        "release" => {
            build.arg("--release");
        }
        other => {
            build.args(["--profile", other]);
        }
    }
    let output = build.output().expect("run cargo build");
    assert!(
        output.status.success(),
        "cargo build -p {package} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter(|message| message["target"]["name"] == bin)
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("cargo reported no `{bin}` executable"))
}

/// A temporary working directory to run `tessera` in.
pub struct Sandbox {
    dir: TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    /// The path of `name` in the sandbox.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `contents` to `name` in the sandbox, with mode 0600 (as secrets need).
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).expect("write file");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        path
    }

    /// `tessera` with `args`, run in the sandbox, with no catalogue from the environment.
    pub fn tessera<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut command = Command::new(tessera_bin());
        command
            .current_dir(self.dir.path())
            .env_remove("TESSERA_CATALOG")
            .args(args);
        command
    }

    /// Runs `tessera` with `args`, expects success, and returns its stdout.
    pub fn ok<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let assert = self.tessera(args).assert();
        stdout_of(assert.success().stderr(""))
    }

    /// Makes a signing key file `name` with key id `kid`; returns its public key text.
    pub fn keygen(&self, name: &str, kid: u32) -> String {
        let out = self.ok(["--json", "keygen", "--out", name, "--kid", &kid.to_string()]);
        let output: serde_json::Value = serde_json::from_str(&out).expect("keygen JSON");
        output["public_key"]
            .as_str()
            .expect("public_key is a string")
            .to_owned()
    }
}

/// The stdout of a finished command, as text.
pub fn stdout_of(assert: Assert) -> String {
    String::from_utf8(assert.get_output().stdout.clone()).expect("stdout is UTF-8")
}

/// Checks that a command failed with `code`, printed nothing on stdout and exactly one `error: ` line
/// on stderr (no panic, no backtrace); returns that line.
pub fn fails(assert: Assert, code: i32) -> String {
    let output = assert.get_output();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        output.status.code(),
        Some(code),
        "expected exit {code}, stderr: {stderr}"
    );
    assert!(
        output.stdout.is_empty(),
        "stdout should be empty on failure, got: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{stderr}"
    );
    assert_eq!(
        stderr.lines().count(),
        1,
        "stderr is not one line: {stderr:?}"
    );
    assert!(stderr.ends_with('\n'), "{stderr:?}");
    let line = stderr.trim_end().to_owned();
    assert!(line.starts_with("error: "), "{line}");
    line
}

/// The characters of `text` that a terminal acts on instead of showing: controls other than the
/// output's own line ends, and bidi overrides and isolates.
pub fn raw_terminal_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| {
            (c.is_control() && c != '\n')
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .collect()
}
