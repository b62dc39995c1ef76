//! Keeps the desktop-app example honest: its embedded key is the demo key, the committed demo files are
//! what the generator makes, and each demo licence shows what the example's docs promise.

use tessera_keys::SigningKey;

// The examples are binaries; including their sources is the way to reach their functions and consts.
#[allow(dead_code)]
#[path = "../desktop_app.rs"]
mod desktop_app;
#[allow(dead_code)]
#[path = "../make_demo_licenses.rs"]
mod make_demo_licenses;

use desktop_app::run;

fn demo(name: &str) -> String {
    format!("{}/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|arg| arg.to_string()).collect()
}

/// A file in the temp directory holding `contents`, removed when dropped.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(name: &str, contents: &str) -> TempFile {
        let path =
            std::env::temp_dir().join(format!("tessera-example-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).expect("write temp file");
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("temp path is UTF-8")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn embedded_key_is_the_demo_key() {
    let demo = SigningKey::from_seed(
        make_demo_licenses::DEMO_KEY_ID,
        &make_demo_licenses::DEMO_SEED,
    );
    assert_eq!(demo.public_key(), desktop_app::ISSUER);
}

#[test]
fn committed_demo_files_are_up_to_date() {
    for (name, contents) in make_demo_licenses::demo_files().expect("demo files encode") {
        let committed = std::fs::read_to_string(demo(name)).unwrap_or_default();
        assert_eq!(
            committed, contents,
            "examples/{name} is stale: run `cargo run -p tessera-examples --example make_demo_licenses`"
        );
    }
}

#[test]
fn demo_licence_unlocks_export() {
    let screen = run(&args(&["--now", "2026-12-01", &demo("demo-license.txt")])).expect("licensed");
    for expected in [
        "licensed to Demo User",
        "tier:     pro",
        "until 2099-12-31 (26693 days left)",
        "Export to PDF: enabled",
        "features: export, sync, themes",
    ] {
        assert!(screen.contains(expected), "{expected:?} not in\n{screen}");
    }
}

#[test]
fn expiring_licence_has_grace_then_stops() {
    let path = demo("demo-license-expiring.txt");
    let screen = run(&args(&["--now", "2030-06-30", &path])).expect("licensed");
    assert!(screen.contains("until 2030-07-01 (1 day left)"), "{screen}");
    assert!(screen.contains("Export to PDF: disabled"), "{screen}");

    let screen = run(&args(&["--now", "2030-07-10", &path])).expect("licensed in grace");
    assert!(
        screen.contains("expired on 2030-07-01, 21 days of grace left — please renew"),
        "{screen}"
    );

    let (code, message) = run(&args(&["--now", "2030-08-15", &path])).expect_err("expired");
    assert_eq!(code, 1);
    assert!(
        message.contains("expired on 2030-07-01 and its grace period is over"),
        "{message}"
    );
}

#[test]
fn revocation_list_refuses_the_refunded_licence() {
    let list = demo("demo-revocations.txt");
    let (code, message) = run(&args(&[
        "--revocations",
        &list,
        &demo("demo-license-revoked.txt"),
    ]))
    .expect_err("revoked");
    assert_eq!(code, 1);
    assert!(
        message.contains("Licence de30000000000003 has been revoked"),
        "{message}"
    );
    assert!(run(&args(&["--revocations", &list, &demo("demo-license.txt")])).is_ok());
}

#[test]
fn unusable_licence_files_get_one_clear_sentence() {
    let valid = std::fs::read_to_string(demo("demo-license.txt")).expect("demo licence");
    // The first character after the prefix changes the version byte; one near the end, the signature.
    let mut forged = valid.trim().to_string();
    let at = forged.len() - 5;
    let replacement = if &forged[at..=at] == "A" { "B" } else { "A" };
    forged.replace_range(at..=at, replacement);
    let empty = TempFile::new("empty", " \n");
    let forged = TempFile::new("forged", &forged);
    let truncated = TempFile::new("truncated", &valid[..60]);
    let missing = demo("no-such-licence.txt");

    for (path, expected) in [
        (missing.as_str(), "No licence found at"),
        (empty.path(), "is empty"),
        (forged.path(), "is not valid"),
        (truncated.path(), "is damaged or incomplete"),
    ] {
        let (code, message) = run(&args(&[path])).expect_err(path);
        assert_eq!(code, 1, "{path}");
        assert!(
            message.contains(expected),
            "{expected:?} not in {message:?}"
        );
        assert!(message.contains("Running in free mode"), "{message}");
    }
}

#[test]
fn bad_command_lines_are_usage_errors() {
    for bad in [
        &[][..],
        &["--now", "2030-02-30", "x"],
        &["--bogus"],
        &["a", "b"],
        &["--now"],
    ] {
        let (code, message) = run(&args(bad)).expect_err("usage error");
        assert_eq!(code, 2, "{bad:?}");
        assert!(message.contains("usage: desktop_app"), "{message}");
    }
}
