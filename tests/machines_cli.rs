//! The `tessera` binary and machine activation, offline: `fingerprint`, `verify
//! --machine-certificate` with certificates signed here by the test's own key, each refusal's exit
//! code, `activate --import` and `activate --offline-request`. (Online activation against a real
//! issuer is in `admin_cli`'s machine tests.)

use serde::Deserialize;
use tessera_keys::{
    ActivationRequestBuffer, Fingerprint, LicenseBuffer, LicenseId, MachineClaims, SigningKey,
    UnixTime,
};

use crate::util::{fails, stdout_of, Sandbox};

const DAY: u64 = 86_400;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FingerprintJson {
    product: ProductJson,
    fingerprint: String,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct ProductJson {
    id: u32,
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct VerifiedJson {
    valid: bool,
    machine: Option<MachineJson>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MachineJson {
    fingerprint: String,
    issued_at: u64,
    lease_ends_at: Option<u64>,
    lease_seconds_left: Option<u64>,
    lease_days_left: Option<u64>,
}

/// What `tessera activate --json` prints (also read by the online tests in `issuer::machines_cli`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActivationJson {
    pub(crate) license_id: String,
    pub(crate) machine_id: Option<String>,
    pub(crate) fingerprint: String,
    pub(crate) new_seat: bool,
    pub(crate) certificate: String,
    pub(crate) lease_ends_at: Option<u64>,
    pub(crate) out: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OfflineRequestJson {
    request: String,
    license_id: String,
    fingerprint: String,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// A fingerprint no real machine has: tests that name it do not depend on this machine's id.
fn some_machine() -> Fingerprint {
    Fingerprint::of_machine_id(1, b"a test machine")
}

/// A sandbox with a signing key, licences issued by the real binary, and certificates signed with
/// the same key by the library.
struct Machines {
    sandbox: Sandbox,
    public_key: String,
    signer: SigningKey,
}

impl Machines {
    /// A sandbox and a licence that requires activation, issued in it.
    fn with_licence() -> (Machines, String) {
        let m = Machines::new();
        let key = m.licence(&[]);
        (m, key)
    }

    fn new() -> Machines {
        let sandbox = Sandbox::new();
        let public_key = sandbox.keygen("issuer.key", 1);
        let signer = SigningKey::read_file(&sandbox.path("issuer.key")).expect("signing key");
        Machines {
            sandbox,
            public_key,
            signer,
        }
    }

    /// A licence for product 1 that requires activation; `args` follow `issue`.
    fn licence(&self, args: &[&str]) -> String {
        let mut all = vec![
            "issue",
            "--key",
            "issuer.key",
            "--product",
            "1",
            "--tier",
            "1",
            "--requires-activation",
        ];
        all.extend_from_slice(args);
        self.sandbox.ok(all).trim_end().to_owned()
    }

    /// A certificate for `key`'s licence (or `license_id`) on `machine`.
    fn certificate(
        &self,
        key: &str,
        machine: &Fingerprint,
        issued_at: u64,
        lease_ends_at: Option<u64>,
    ) -> String {
        self.certificate_for(license_id(key), machine, issued_at, lease_ends_at)
    }

    fn certificate_for(
        &self,
        license_id: LicenseId,
        machine: &Fingerprint,
        issued_at: u64,
        lease_ends_at: Option<u64>,
    ) -> String {
        sign(&self.signer, license_id, machine, issued_at, lease_ends_at)
    }

    fn verify(&self, key: &str, args: &[&str]) -> assert_cmd::Command {
        let mut all = vec!["verify", key, "--public-key", &self.public_key];
        all.extend_from_slice(args);
        self.sandbox.tessera(all)
    }
}

/// A certificate for `license_id` on `machine`, signed by `signer` as key id 1.
fn sign(
    signer: &SigningKey,
    license_id: LicenseId,
    machine: &Fingerprint,
    issued_at: u64,
    lease_ends_at: Option<u64>,
) -> String {
    signer
        .sign_machine_certificate(&MachineClaims {
            key_id: 1,
            license_id,
            fingerprint: machine.certified(),
            issued_at: UnixTime(issued_at),
            lease_ends_at: lease_ends_at.map(UnixTime),
        })
        .expect("certificate signs")
}

/// The time a last-seen file holds.
fn last_seen_in(path: &std::path::Path) -> u64 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn license_id(key: &str) -> LicenseId {
    LicenseBuffer::new()
        .decode_text(key)
        .expect("key decodes")
        .claims
        .license_id
}

#[test]
fn fingerprint_is_stable_64_hex_and_differs_per_product() {
    let sandbox = Sandbox::new();
    let first = sandbox.ok(["fingerprint", "--product", "1"]);
    let first = first.trim_end();
    assert_eq!(first.len(), 64, "{first}");
    assert!(first
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    assert_eq!(
        sandbox.ok(["fingerprint", "--product", "1"]).trim_end(),
        first
    );
    assert_ne!(
        sandbox.ok(["fingerprint", "--product", "2"]).trim_end(),
        first
    );
    // It is what the verifier computes for this machine.
    assert_eq!(
        tessera_verifier::machine_fingerprint(1)
            .unwrap()
            .to_string(),
        first
    );

    // By catalogue name, and as JSON; a catalogue with one product makes it the default.
    sandbox.write(
        "catalog.toml",
        "[[products]]\nid = 1\nname = \"acme-editor\"\ntiers = [\"pro\"]\n",
    );
    let out = sandbox.ok([
        "--json",
        "--catalog",
        "catalog.toml",
        "fingerprint",
        "--product",
        "acme-editor",
    ]);
    let json: FingerprintJson = serde_json::from_str(&out).expect("fingerprint JSON");
    assert_eq!(
        json.product,
        ProductJson {
            id: 1,
            name: Some("acme-editor".to_owned())
        }
    );
    assert_eq!(json.fingerprint, first);
    let out = sandbox.ok(["--catalog", "catalog.toml", "fingerprint"]);
    assert_eq!(out.trim_end(), first);

    let line = fails(sandbox.tessera(["fingerprint"]).assert(), 2);
    assert!(line.contains("--product"), "{line}");
}

#[test]
fn a_key_and_its_certificate_verify_and_report_the_lease() {
    let (m, key) = Machines::with_licence();
    let now = now();
    let certificate = m.certificate(&key, &some_machine(), now - 60, Some(now + 30 * DAY));
    let hex = some_machine().to_string();
    let out = stdout_of(
        m.verify(
            &key,
            &[
                "--json",
                "--machine-certificate",
                &certificate,
                "--fingerprint",
                &hex,
            ],
        )
        .assert()
        .success()
        .stderr(""),
    );
    let verified: VerifiedJson = serde_json::from_str(&out).expect("verify JSON");
    assert!(verified.valid);
    let machine = verified.machine.expect("machine reported");
    assert_eq!(machine.fingerprint, hex);
    assert_eq!(machine.issued_at, now - 60);
    assert_eq!(machine.lease_ends_at, Some(now + 30 * DAY));
    assert!(
        matches!(machine.lease_days_left, Some(29 | 30)),
        "{machine:?}"
    );
    assert!(machine.lease_seconds_left.unwrap() <= 30 * DAY);

    // From a file, in words.
    let file = m.sandbox.write("machine.txt", &format!("{certificate}\n"));
    let file = file.to_str().unwrap();
    let out = stdout_of(
        m.verify(
            &key,
            &["--machine-certificate", file, "--fingerprint", &hex],
        )
        .assert()
        .success(),
    );
    assert!(out.contains("machine:") && out.contains(&hex), "{out}");
    assert!(out.contains("lease:") && out.contains("left"), "{out}");

    // Without --fingerprint: this machine's, which the certificate is not for.
    let line = fails(
        m.verify(&key, &["--machine-certificate", &certificate])
            .assert(),
        32,
    );
    assert!(line.contains("another machine"), "{line}");
    let this = tessera_verifier::machine_fingerprint(1).unwrap();
    let mine = m.certificate(&key, &this, now - 60, None);
    let out = stdout_of(
        m.verify(&key, &["--machine-certificate", &mine])
            .assert()
            .success(),
    );
    assert!(out.contains("no lease"), "{out}");
}

#[test]
fn each_activation_refusal_has_its_exit_code() {
    let (m, key) = Machines::with_licence();
    let now = now();
    let hex = some_machine().to_string();
    let with = |certificate: &str| -> Vec<String> {
        vec![
            "--machine-certificate".to_owned(),
            certificate.to_owned(),
            "--fingerprint".to_owned(),
            hex.clone(),
        ]
    };
    let check = |certificate: &str, extra: &[&str], code: i32| -> String {
        let mut args = with(certificate);
        args.extend(extra.iter().map(|arg| (*arg).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        fails(m.verify(&key, &args).assert(), code)
    };

    // The key alone.
    let line = fails(m.verify(&key, &[]).assert(), 30);
    assert!(
        line.contains("activated") && line.contains("--machine-certificate"),
        "{line}"
    );

    // Another machine's certificate.
    let other = Fingerprint::of_machine_id(1, b"another machine");
    let line = check(&m.certificate(&key, &other, now, None), &[], 32);
    assert!(line.contains("another machine"), "{line}");

    // Another licence's.
    let line = check(
        &m.certificate_for(LicenseId([7; 8]), &some_machine(), now, None),
        &[],
        33,
    );
    assert!(line.contains("0707070707070707"), "{line}");

    // A lease that is over.
    let line = check(
        &m.certificate(&key, &some_machine(), now - 40 * DAY, Some(now - DAY)),
        &[],
        34,
    );
    assert!(line.contains("lease") && line.contains("renew"), "{line}");

    // A clock turned back: the last-seen file holds a time ten days ahead.
    let good = m.certificate(&key, &some_machine(), now - 60, None);
    let last_seen = m
        .sandbox
        .write("last-seen", &format!("{}\n", now + 10 * DAY));
    let last_seen = last_seen.to_str().unwrap();
    let line = check(&good, &["--last-seen", last_seen], 35);
    assert!(line.contains("turned back"), "{line}");
    // Also for a key that needs no certificate.
    let plain = m.sandbox.ok([
        "issue",
        "--key",
        "issuer.key",
        "--product",
        "1",
        "--tier",
        "0",
    ]);
    let line = fails(
        m.verify(plain.trim(), &["--last-seen", last_seen]).assert(),
        35,
    );
    assert!(line.contains("turned back"), "{line}");

    // Malformed, and signed by another key under the same key id.
    let line = check("tsm1_AAAA", &[], 31);
    assert!(line.contains("malformed machine certificate"), "{line}");
    let forged = sign(
        &SigningKey::from_seed(1, &[9; 32]),
        license_id(&key),
        &some_machine(),
        now,
        None,
    );
    let line = check(&forged, &[], 31);
    assert!(line.contains("signature"), "{line}");

    // Issued in the future (a clock far behind the issuer's).
    check(
        &m.certificate(&key, &some_machine(), now + 2 * DAY, None),
        &[],
        16,
    );

    // A --fingerprint that is not one is a usage error.
    let line = fails(
        m.verify(
            &key,
            &["--machine-certificate", &good, "--fingerprint", "abc"],
        )
        .assert(),
        2,
    );
    assert!(line.contains("64 hex"), "{line}");
}

#[test]
fn last_seen_file_records_successful_checks_but_not_pretend_times() {
    let (m, key) = Machines::with_licence();
    let now = now();
    let certificate = m.certificate(&key, &some_machine(), now - 60, None);
    let hex = some_machine().to_string();
    let path = m.sandbox.path("last-seen");
    let file = path.to_str().unwrap();
    let args = [
        "--machine-certificate",
        &certificate,
        "--fingerprint",
        &hex,
        "--last-seen",
        file,
    ];
    m.verify(&key, &args).assert().success();
    let recorded = last_seen_in(&path);
    assert!(recorded >= now && recorded < now + 600, "{recorded}");

    // --at a later time checks against the file but does not move it.
    let later = (now + 5 * DAY).to_string();
    let mut at = args.to_vec();
    at.extend(["--at", later.as_str()]);
    m.verify(&key, &at).assert().success();
    let kept = last_seen_in(&path);
    assert_eq!(kept, recorded);

    // A file that holds no time is an unreadable input.
    std::fs::write(&path, "yesterday").unwrap();
    let line = fails(m.verify(&key, &args).assert(), 3);
    assert!(line.contains("last-seen"), "{line}");
}

#[test]
fn activate_imports_a_certificate_checked_against_the_key_and_this_machine() {
    let (m, key) = Machines::with_licence();
    let now = now();
    let this = tessera_verifier::machine_fingerprint(1).unwrap();
    let certificate = m.certificate(&key, &this, now - 60, Some(now + 7 * DAY));
    let id = license_id(&key).to_string();

    let out = m.sandbox.ok(["activate", &key, "--import", &certificate]);
    assert!(
        out.starts_with("imported this machine's certificate for licence") && out.contains(&id),
        "{out}"
    );
    let default_file = m.sandbox.path(&format!("machine-certificate-{id}.txt"));
    assert_eq!(
        std::fs::read_to_string(&default_file).unwrap(),
        format!("{certificate}\n")
    );
    // What was saved verifies, with this machine's fingerprint.
    m.verify(
        &key,
        &["--machine-certificate", default_file.to_str().unwrap()],
    )
    .assert()
    .success();

    // JSON, another file, and the signature checked with --public-key.
    let file = m.sandbox.write("cert-source.txt", &certificate);
    let out = m.sandbox.ok([
        "--json",
        "activate",
        &key,
        "--import",
        file.to_str().unwrap(),
        "--out",
        "mine.txt",
        "--public-key",
        &m.public_key,
    ]);
    let json: ActivationJson = serde_json::from_str(&out).expect("activate JSON");
    assert_eq!(json.license_id, id);
    assert_eq!(json.machine_id, None);
    assert_eq!(json.fingerprint, this.to_string());
    assert!(!json.new_seat);
    assert_eq!(json.certificate, certificate);
    assert_eq!(json.lease_ends_at, Some(now + 7 * DAY));
    assert_eq!(json.out, "mine.txt");

    // Another machine's or another licence's certificate is not saved.
    let other = m.certificate(&key, &some_machine(), now, None);
    let foreign = m.certificate_for(LicenseId([7; 8]), &this, now, None);
    for (certificate, code) in [(other, 32), (foreign, 33)] {
        let assert = m
            .sandbox
            .tessera(["activate", &key, "--import", &certificate, "--out", "x.txt"])
            .assert();
        fails(assert, code);
    }
    assert!(!m.sandbox.path("x.txt").exists());

    // No way to activate given.
    let line = fails(m.sandbox.tessera(["activate", &key]).assert(), 2);
    assert!(
        line.contains("--url") && line.contains("--offline-request"),
        "{line}"
    );
}

#[test]
fn activate_offline_request_carries_the_key_and_this_machine() {
    let (m, key) = Machines::with_licence();
    let this = tessera_verifier::machine_fingerprint(1).unwrap();
    // Not a terminal: the bare request, one line.
    let out = m.sandbox.ok([
        "activate",
        &key,
        "--offline-request",
        "--name",
        "Ada's \u{1b}laptop",
        "--platform",
        "linux-x86_64",
    ]);
    assert_eq!(out.lines().count(), 1, "{out}");
    let text = out.trim_end();
    assert!(text.starts_with("tsq1_"), "{text}");
    let mut buf = ActivationRequestBuffer::new();
    let request = buf.decode_text(text).expect("request decodes");
    assert_eq!(request.fingerprint, this);
    assert_eq!(request.name, Some("Ada's \u{1b}laptop"));
    assert_eq!(request.platform, Some("linux-x86_64"));
    let mut license = LicenseBuffer::new();
    let claims = license
        .decode_bytes(request.license)
        .expect("licence bytes")
        .claims;
    assert_eq!(claims.license_id, license_id(&key));
    assert!(claims.requires_activation);

    let out = m
        .sandbox
        .ok(["--json", "activate", &key, "--offline-request"]);
    let json: OfflineRequestJson = serde_json::from_str(&out).expect("request JSON");
    assert!(json.request.starts_with("tsq1_"));
    assert_eq!(json.license_id, license_id(&key).to_string());
    assert_eq!(json.fingerprint, this.to_string());

    let line = fails(
        m.sandbox
            .tessera([
                "activate",
                &key,
                "--offline-request",
                "--name",
                &"n".repeat(65),
            ])
            .assert(),
        2,
    );
    assert!(line.contains("--name"), "{line}");
}
