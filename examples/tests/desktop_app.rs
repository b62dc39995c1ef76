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

/// A directory in the temp directory for one test's licence and activation files, removed when
/// dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path =
            std::env::temp_dir().join(format!("tessera-example-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }

    fn file(&self, name: &str) -> String {
        self.0.join(name).to_str().expect("UTF-8 path").to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

mod activation {
    use tessera_keys::{Claims, FeatureSet, LicenseId, MachineClaims, SigningKey, UnixTime};

    use super::*;

    const DAY: u64 = 86_400;

    fn demo_key() -> SigningKey {
        SigningKey::from_seed(
            make_demo_licenses::DEMO_KEY_ID,
            &make_demo_licenses::DEMO_SEED,
        )
    }

    fn now() -> u64 {
        tessera_verifier::system_now().0
    }

    /// A demo licence whose plan limits machines, saved as `licence.txt` in `dir`.
    fn seat_limited_licence(dir: &TempDir) -> (String, LicenseId) {
        let license_id = LicenseId([0xde, 0x30, 0, 0, 0, 0, 0, 0x42]);
        let key = demo_key()
            .sign_license(&Claims {
                key_id: make_demo_licenses::DEMO_KEY_ID,
                license_id,
                product: desktop_app::EDITOR.id,
                tier: 1,
                issued_at: UnixTime(now() - DAY),
                not_before: None,
                expires_at: None,
                grace_seconds: None,
                features: FeatureSet(0b1),
                licensee: Some("Seat User"),
                requires_activation: true,
            })
            .expect("licence signs");
        let path = dir.file("licence.txt");
        std::fs::write(&path, format!("{key}\n")).expect("write licence");
        (path, license_id)
    }

    /// A certificate for this machine, saved where the app looks for it.
    fn save_certificate(licence: &str, license_id: LicenseId, issued_at: u64, lease: Option<u64>) {
        let machine = tessera_verifier::machine_fingerprint(desktop_app::EDITOR.id)
            .expect("this machine has an id");
        let certificate = demo_key()
            .sign_machine_certificate(&MachineClaims {
                key_id: make_demo_licenses::DEMO_KEY_ID,
                license_id,
                fingerprint: machine.certified(),
                issued_at: UnixTime(issued_at),
                lease_ends_at: lease.map(UnixTime),
            })
            .expect("certificate signs");
        std::fs::write(format!("{licence}.machine"), certificate).expect("write certificate");
    }

    /// An issuer URL where nothing listens.
    fn unreachable_issuer() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        drop(listener);
        format!("http://127.0.0.1:{port}")
    }

    #[test]
    fn a_seat_limited_licence_needs_an_activation() {
        let dir = TempDir::new("needs-activation");
        let (licence, _) = seat_limited_licence(&dir);
        let (code, message) = run(&args(&[&licence])).expect_err("not activated");
        assert_eq!(code, 1);
        assert!(
            message.contains("must be activated on this computer")
                && message.contains("--issuer URL")
                && message.contains("--offline-request"),
            "{message}"
        );
        assert!(message.contains("Running in free mode"), "{message}");
    }

    #[test]
    fn an_activated_machine_works_offline_and_keeps_the_time_it_saw() {
        let dir = TempDir::new("activated");
        let (licence, id) = seat_limited_licence(&dir);
        save_certificate(&licence, id, now() - 60, Some(now() + 30 * DAY));
        let screen = run(&args(&[&licence])).expect("licensed");
        assert!(screen.contains("licensed to Seat User"), "{screen}");
        assert!(
            screen.contains("machine:  activated; works offline until"),
            "{screen}"
        );
        let seen: u64 = std::fs::read_to_string(format!("{licence}.last-seen"))
            .expect("last-seen recorded")
            .trim()
            .parse()
            .expect("a time");
        assert!(seen + 600 > now(), "{seen}");

        // A clock turned back by more than the tolerance is refused.
        std::fs::write(
            format!("{licence}.last-seen"),
            (now() + 5 * DAY).to_string(),
        )
        .unwrap();
        let (code, message) = run(&args(&[&licence])).expect_err("clock turned back");
        assert_eq!(code, 1);
        assert!(message.contains("clock is set earlier than"), "{message}");
    }

    #[test]
    fn a_lapsed_lease_asks_to_go_online_and_a_failed_renewal_keeps_working() {
        let dir = TempDir::new("lapsed");
        let (licence, id) = seat_limited_licence(&dir);
        save_certificate(&licence, id, now() - 40 * DAY, Some(now() - DAY));
        let (code, message) = run(&args(&[&licence])).expect_err("lapsed");
        assert_eq!(code, 1);
        assert!(message.contains("activation has lapsed"), "{message}");

        // Near its end, with the issuer out of reach: still licensed, and the user is told.
        save_certificate(&licence, id, now() - 29 * DAY, Some(now() + DAY));
        let issuer = unreachable_issuer();
        let screen = run(&args(&["--issuer", &issuer, &licence])).expect("licensed");
        assert!(
            screen.contains("Could not renew the activation online")
                && screen.contains("keeps working offline until"),
            "{screen}"
        );
        assert!(screen.contains("machine:  activated"), "{screen}");
    }

    #[test]
    fn another_machines_certificate_is_not_accepted() {
        let dir = TempDir::new("copied");
        let (licence, id) = seat_limited_licence(&dir);
        let certificate = demo_key()
            .sign_machine_certificate(&MachineClaims {
                key_id: 1,
                license_id: id,
                fingerprint: tessera_keys::Fingerprint::of_machine_id(1, b"elsewhere").certified(),
                issued_at: UnixTime(now()),
                lease_ends_at: None,
            })
            .unwrap();
        std::fs::write(format!("{licence}.machine"), certificate).unwrap();
        let (code, message) = run(&args(&[&licence])).expect_err("copied");
        assert_eq!(code, 1);
        assert!(message.contains("does not work here"), "{message}");
        assert!(message.contains("another machine"), "{message}");
    }
}
