//! The `tessera` binary run for real: every command, every failure class and exit code, and the
//! `--json` schemas pinned by deserializing real output into typed structs.

use serde::Deserialize;

use crate::util::{fails, raw_terminal_controls, stdout_of, Sandbox};

const CATALOG: &str = r#"
[[products]]
id = 1
name = "acme-editor"
tiers = ["free", "pro", "team"]
features = ["export", "sync", "cloud", "ai", "plugins"]

[[products]]
id = 2
name = "acme-viewer"
tiers = ["basic"]
"#;

/// 2030-01-01T00:00:00Z.
const Y2030: u64 = 1_893_456_000;
const DAY: u64 = 86_400;

// The JSON schemas, as a consumer in another language would declare them. Unknown fields are
// refused so that any change to the output shows up here.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PublicKeyJson {
    key_id: u32,
    public_key: String,
    public_key_hex: String,
    rust: String,
    key_file: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IssuedJson {
    key: String,
    length: usize,
    claims: ClaimsJson,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifiedJson {
    valid: bool,
    checked_at: u64,
    state: String,
    expires_at: Option<u64>,
    grace_ends_at: Option<u64>,
    seconds_left: Option<u64>,
    days_left: Option<u64>,
    claims: ClaimsJson,
    machine: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InspectedJson {
    length_chars: usize,
    length_bytes: usize,
    signature: SignatureJson,
    claims: ClaimsJson,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct SignatureJson {
    status: String,
    key_id: u32,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct ClaimsJson {
    version: u8,
    key_id: u32,
    license_id: String,
    product: Named<u32>,
    tier: Indexed,
    features: Vec<Feature>,
    issued_at: u64,
    not_before: Option<u64>,
    expires_at: Option<u64>,
    grace_seconds: Option<u32>,
    grace_ends_at: Option<u64>,
    licensee: Option<String>,
    requires_activation: bool,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Named<T> {
    id: T,
    name: Option<String>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Indexed {
    index: u8,
    name: Option<String>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Feature {
    bit: u8,
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignedListJson {
    text: String,
    key_id: u32,
    sequence: u64,
    issued_at: u64,
    revoked: Vec<String>,
    out: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShownListJson {
    key_id: u32,
    sequence: u64,
    issued_at: u64,
    revoked: Vec<String>,
    signature: SignatureJson,
}

fn parse<'a, T: Deserialize<'a>>(text: &'a str) -> T {
    assert_eq!(text.lines().count(), 1, "JSON is one line: {text}");
    serde_json::from_str(text).unwrap_or_else(|err| panic!("{err}: {text}"))
}

/// A sandbox with an issuer key (id 1) and a catalogue.
struct Fixture {
    sandbox: Sandbox,
    public_key: String,
}

impl Fixture {
    fn new() -> Fixture {
        let sandbox = Sandbox::new();
        let public_key = sandbox.keygen("issuer.key", 1);
        sandbox.write("catalog.toml", CATALOG);
        Fixture {
            sandbox,
            public_key,
        }
    }

    /// Issues a licence with `issuer.key`; `args` follow `issue`.
    fn issue(&self, args: &[&str]) -> String {
        let mut all = vec!["--catalog", "catalog.toml", "issue", "--key", "issuer.key"];
        all.extend_from_slice(args);
        let out = self.sandbox.ok(all);
        assert_eq!(out.lines().count(), 1, "{out}");
        out.trim_end().to_owned()
    }

    /// `tessera verify KEY --public-key <issuer> ARGS...`, with the catalogue.
    fn verify(&self, key: &str, args: &[&str]) -> assert_cmd::Command {
        let mut all = vec![
            "--catalog",
            "catalog.toml",
            "verify",
            key,
            "--public-key",
            &self.public_key,
        ];
        all.extend_from_slice(args);
        self.sandbox.tessera(all)
    }

    /// Checks that verifying `key` with `args` fails with `code`; returns the error line.
    fn verify_fails(&self, key: &str, args: &[&str], code: i32) -> String {
        fails(self.verify(key, args).assert(), code)
    }

    fn verify_json(&self, key: &str, args: &[&str]) -> VerifiedJson {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = stdout_of(self.verify(key, &all).assert().success().stderr(""));
        parse(&out)
    }
}

/// The key with one base64 character of its signature changed; still well-formed.
fn tamper(key: &str) -> String {
    let mut chars: Vec<char> = key.chars().collect();
    let at = chars.len() - 5;
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

/// The key cut to whole base64 groups of four, less `drop` characters, so that it is well-formed
/// base64 of too few bytes.
fn whole_groups(key: &str, drop: usize) -> String {
    let body_len = key.len() - "ts1_".len();
    key[..key.len() - body_len % 4 - drop].to_owned()
}

#[test]
fn keygen_writes_a_private_key_file_and_prints_only_the_public_key() {
    let sandbox = Sandbox::new();
    let out = sandbox.ok(["keygen", "--out", "issuer.key", "--kid", "7"]);
    let path = sandbox.path("issuer.key");
    let contents = std::fs::read_to_string(&path).unwrap();
    let secret_line = contents
        .lines()
        .find(|line| line.starts_with("tssk1_7_"))
        .expect("key line");
    let secret = secret_line.trim_start_matches("tssk1_7_");
    assert!(!out.contains(secret), "the secret was printed: {out}");
    assert!(!out.contains("tssk1_"), "{out}");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let public_key = out
        .lines()
        .find_map(|line| line.strip_prefix("Public key: "))
        .expect("public key line");
    assert!(public_key.starts_with("tspk1_7_"), "{out}");
    assert!(
        out.contains("const ISSUER: PublicKey = PublicKey::new(\n    7,\n"),
        "{out}"
    );
    assert_eq!(out.matches(" 0x").count(), 32, "{out}");

    // pubkey gives the same key, in the same shape minus the "wrote" line.
    let pubkey = sandbox.ok(["pubkey", "issuer.key"]);
    assert!(out.ends_with(&pubkey), "{out}\n---\n{pubkey}");

    let json: PublicKeyJson = parse(&sandbox.ok(["--json", "pubkey", "issuer.key"]));
    assert_eq!(json.key_id, 7);
    assert_eq!(json.public_key, public_key);
    assert_eq!(json.key_file, "issuer.key");
    assert_eq!(json.public_key_hex.len(), 64);
    // The snippet carries the same 32 bytes as the hex.
    let snippet_hex: String = json
        .rust
        .split("0x")
        .skip(1)
        .map(|byte| &byte[..2])
        .collect();
    assert_eq!(snippet_hex, json.public_key_hex);
    assert!(json.rust.contains("PublicKey::new(\n    7,"));
}

#[test]
fn keygen_json_and_default_key_id() {
    let sandbox = Sandbox::new();
    let json: PublicKeyJson = parse(&sandbox.ok(["--json", "keygen", "--out", "k"]));
    assert_eq!(json.key_id, 1);
    assert!(json.public_key.starts_with("tspk1_1_"));
    assert_eq!(json.key_file, "k");
    assert!(json
        .rust
        .starts_with("const ISSUER: PublicKey = PublicKey::new("));
}

#[test]
fn keygen_refuses_to_overwrite() {
    let sandbox = Sandbox::new();
    sandbox.keygen("issuer.key", 1);
    let before = std::fs::read(sandbox.path("issuer.key")).unwrap();
    let line = fails(
        sandbox.tessera(["keygen", "--out", "issuer.key"]).assert(),
        1,
    );
    assert!(line.contains("refusing to overwrite"), "{line}");
    assert_eq!(std::fs::read(sandbox.path("issuer.key")).unwrap(), before);

    let line = fails(
        sandbox
            .tessera(["keygen", "--out", "no/such/dir/k"])
            .assert(),
        1,
    );
    assert!(line.contains("cannot write signing key"), "{line}");
}

#[test]
fn bad_signing_key_files_cannot_be_read() {
    let sandbox = Sandbox::new();
    let line = fails(sandbox.tessera(["pubkey", "missing.key"]).assert(), 3);
    assert!(line.contains("missing.key"), "{line}");

    sandbox.write("empty.key", "");
    let line = fails(sandbox.tessera(["pubkey", "empty.key"]).assert(), 3);
    assert!(line.contains("not a signing key file"), "{line}");

    sandbox.write("garbage.key", "hello\n");
    fails(sandbox.tessera(["pubkey", "garbage.key"]).assert(), 3);

    sandbox.keygen("open.key", 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let path = sandbox.path("open.key");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let line = fails(sandbox.tessera(["pubkey", "open.key"]).assert(), 3);
        assert!(
            line.contains("0644") && line.contains("chmod 600"),
            "{line}"
        );
        let line = fails(
            sandbox
                .tessera([
                    "issue",
                    "--key",
                    "open.key",
                    "--product",
                    "1",
                    "--tier",
                    "0",
                ])
                .assert(),
            3,
        );
        assert!(line.contains("readable by others"), "{line}");
    }

    let line = fails(
        sandbox
            .tessera([
                "issue",
                "--key",
                "missing.key",
                "--product",
                "1",
                "--tier",
                "0",
            ])
            .assert(),
        3,
    );
    assert!(
        line.contains("cannot read signing key missing.key"),
        "{line}"
    );
}

#[test]
fn issue_prints_only_the_key_and_verify_accepts_it() {
    let f = Fixture::new();
    let key = f.issue(&[
        "--product",
        "1",
        "--tier",
        "1",
        "--feature",
        "0",
        "--feature",
        "1",
    ]);
    assert!(key.starts_with("ts1_"), "{key}");
    assert!(key.len() <= 120, "{} characters: {key}", key.len());

    let out = stdout_of(f.verify(&key, &[]).assert().success().stderr(""));
    let mut lines = out.lines();
    assert!(lines.next().unwrap().starts_with("valid licence "), "{out}");
    assert!(out.contains("product:    1 (acme-editor)"), "{out}");
    assert!(out.contains("tier:       1 (pro)"), "{out}");
    assert!(out.contains("features:   export, sync"), "{out}");
    assert!(out.contains("perpetual"), "{out}");
}

#[test]
fn issue_json_by_name_with_every_field() {
    let f = Fixture::new();
    let out = f.sandbox.ok([
        "--catalog",
        "catalog.toml",
        "--json",
        "issue",
        "--key",
        "issuer.key",
        "--product",
        "acme-editor",
        "--tier",
        "team",
        "--feature",
        "sync",
        "--feature",
        "4",
        "--expires",
        "2030-01-01",
        "--not-before",
        "2029-06-01T12:00:00Z",
        "--grace-days",
        "10",
        "--licensee",
        "Ada Lovelace",
        "--license-id",
        "0123456789ABCDEF",
    ]);
    let issued: IssuedJson = parse(&out);
    assert_eq!(issued.length, issued.key.len());
    let expected = ClaimsJson {
        version: 1,
        key_id: 1,
        license_id: "0123456789abcdef".to_owned(),
        product: Named {
            id: 1,
            name: Some("acme-editor".to_owned()),
        },
        tier: Indexed {
            index: 2,
            name: Some("team".to_owned()),
        },
        features: vec![
            Feature {
                bit: 1,
                name: Some("sync".to_owned()),
            },
            Feature {
                bit: 4,
                name: Some("plugins".to_owned()),
            },
        ],
        issued_at: issued.claims.issued_at,
        not_before: Some(1_875_009_600),
        expires_at: Some(Y2030),
        grace_seconds: Some(10 * DAY as u32),
        grace_ends_at: Some(Y2030 + 10 * DAY),
        licensee: Some("Ada Lovelace".to_owned()),
        requires_activation: false,
    };
    assert_eq!(issued.claims, expected);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(issued.claims.issued_at.abs_diff(now) < 600);

    // inspect decodes the same claims from the key.
    let inspected: InspectedJson = parse(&f.sandbox.ok([
        "--catalog",
        "catalog.toml",
        "--json",
        "inspect",
        &issued.key,
        "--public-key",
        &f.public_key,
    ]));
    assert_eq!(inspected.claims, expected);
    assert_eq!(inspected.length_chars, issued.key.len());
    assert_eq!(
        inspected.signature,
        SignatureJson {
            status: "valid".to_owned(),
            key_id: 1
        }
    );
}

#[test]
fn issue_days_and_unix_seconds() {
    let f = Fixture::new();
    let key = f.issue(&["--product", "9", "--tier", "200", "--days", "30"]);
    let v = f.verify_json(&key, &[]);
    assert_eq!(v.state, "active");
    assert!(
        v.machine.is_none() && !v.claims.requires_activation,
        "{v:?}"
    );
    // Thirty days, less the moments since issuing.
    assert!(matches!(v.days_left, Some(29 | 30)), "{v:?}");
    assert_eq!(v.claims.product, Named { id: 9, name: None });
    assert_eq!(
        v.claims.tier,
        Indexed {
            index: 200,
            name: None
        }
    );
    assert_eq!(v.claims.expires_at.unwrap() - v.claims.issued_at, 30 * DAY);

    let key = f.issue(&[
        "--product",
        "1",
        "--tier",
        "0",
        "--expires",
        &Y2030.to_string(),
    ]);
    let v = f.verify_json(&key, &[]);
    assert_eq!(v.claims.expires_at, Some(Y2030));
    assert_eq!(v.claims.grace_ends_at, Some(Y2030));
}

#[test]
fn issue_rejects_bad_arguments_with_one_line() {
    let f = Fixture::new();
    let issue = |args: &[&str]| {
        let mut all = vec!["issue", "--key", "issuer.key"];
        all.extend_from_slice(args);
        f.sandbox.tessera(all).assert()
    };
    let with_catalog = |args: &[&str]| {
        let mut all = vec!["--catalog", "catalog.toml", "issue", "--key", "issuer.key"];
        all.extend_from_slice(args);
        f.sandbox.tessera(all).assert()
    };

    let line = fails(
        issue(&["--product", "1", "--tier", "1", "--expires", "tomorrow"]),
        2,
    );
    assert!(line.contains("`tomorrow` is not a date"), "{line}");
    fails(
        issue(&["--product", "1", "--tier", "1", "--expires", "2030-02-30"]),
        2,
    );
    fails(
        issue(&[
            "--product",
            "1",
            "--tier",
            "1",
            "--not-before",
            "1969-01-01",
        ]),
        2,
    );
    let line = fails(
        issue(&["--product", "1", "--tier", "1", "--expires", "2020-01-01"]),
        2,
    );
    assert!(line.contains("2024-01-01"), "{line}");
    let line = fails(
        issue(&[
            "--product",
            "1",
            "--tier",
            "1",
            "--days",
            "1",
            "--not-before",
            "2099-01-01",
        ]),
        2,
    );
    assert!(line.contains("before it becomes valid"), "{line}");
    let line = fails(
        issue(&["--product", "1", "--tier", "1", "--grace-days", "3"]),
        2,
    );
    assert!(line.contains("--expires"), "{line}");
    fails(
        issue(&[
            "--product",
            "1",
            "--tier",
            "1",
            "--expires",
            "2030-01-01",
            "--days",
            "3",
        ]),
        2,
    );
    fails(issue(&["--tier", "1"]), 2);
    fails(issue(&["--product", "1", "--tier", "256"]), 2);
    fails(
        issue(&["--product", "1", "--tier", "1", "--feature", "64"]),
        2,
    );
    fails(
        issue(&["--product", "1", "--tier", "1", "--license-id", "xyz"]),
        2,
    );
    let long = "x".repeat(65);
    let line = fails(
        issue(&["--product", "1", "--tier", "1", "--licensee", &long]),
        2,
    );
    assert!(line.contains("licensee"), "{line}");

    // Names need a catalogue, and must be in it.
    let line = fails(issue(&["--product", "acme-editor", "--tier", "1"]), 2);
    assert!(line.contains("--catalog"), "{line}");
    let line = fails(issue(&["--product", "1", "--tier", "pro"]), 2);
    assert!(line.contains("--catalog"), "{line}");
    let line = fails(with_catalog(&["--product", "acme-paint", "--tier", "1"]), 2);
    assert!(line.contains("acme-editor, acme-viewer"), "{line}");
    let line = fails(with_catalog(&["--product", "1", "--tier", "gold"]), 2);
    assert!(
        line.contains("no tier `gold`") && line.contains("0 free, 1 pro, 2 team"),
        "{line}"
    );
    let line = fails(with_catalog(&["--product", "1", "--tier", "3"]), 2);
    assert!(line.contains("no tier 3"), "{line}");
    let line = fails(
        with_catalog(&["--product", "1", "--tier", "1", "--feature", "teleport"]),
        2,
    );
    assert!(line.contains("no feature `teleport`"), "{line}");
    let line = fails(with_catalog(&["--product", "5", "--tier", "pro"]), 2);
    assert!(line.contains("not in the catalogue"), "{line}");
}

#[test]
fn catalogue_comes_from_the_environment_and_bad_ones_are_refused() {
    let f = Fixture::new();
    let out = f
        .sandbox
        .tessera([
            "issue",
            "--key",
            "issuer.key",
            "--product",
            "acme-viewer",
            "--tier",
            "basic",
        ])
        .env("TESSERA_CATALOG", "catalog.toml")
        .assert()
        .success();
    let key = stdout_of(out);
    let v = f.verify_json(key.trim(), &[]);
    assert_eq!(v.claims.product.name.as_deref(), Some("acme-viewer"));

    let line = fails(
        f.sandbox
            .tessera(["--catalog", "missing.toml", "inspect", key.trim()])
            .assert(),
        3,
    );
    assert!(
        line.contains("cannot read catalogue missing.toml"),
        "{line}"
    );

    f.sandbox.write(
        "dup.toml",
        "[[products]]\nid = 1\nname = \"a\"\ntiers = [\"x\"]\nfeatures = [\"f\", \"f\"]\n",
    );
    let line = fails(
        f.sandbox
            .tessera(["--catalog", "dup.toml", "inspect", key.trim()])
            .assert(),
        3,
    );
    assert!(line.contains("`features` lists `f` twice"), "{line}");

    f.sandbox.write(
        "unknown.toml",
        "[[products]]\nid = 1\nname = \"a\"\ntiers = [\"x\"]\ncolour = \"red\"\n",
    );
    let line = fails(
        f.sandbox
            .tessera([
                "--catalog",
                "unknown.toml",
                "verify",
                key.trim(),
                "--public-key",
                &f.public_key,
            ])
            .assert(),
        3,
    );
    assert!(line.contains("line 5") && line.contains("colour"), "{line}");

    // Commands that name no product do not read it.
    f.sandbox
        .tessera(["pubkey", "issuer.key"])
        .env("TESSERA_CATALOG", "missing.toml")
        .assert()
        .success();
}

#[test]
fn the_issuers_config_file_is_a_catalogue() {
    let f = Fixture::new();
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/tessera.toml");
    let text = std::fs::read_to_string(config).unwrap();
    f.sandbox.write("tessera.toml", &text);
    let key = f.sandbox.ok(
        "--catalog tessera.toml issue --key issuer.key --product acme-editor --tier team \
         --feature plugins"
            .split_whitespace(),
    );
    let out = f
        .sandbox
        .ok(["--catalog", "tessera.toml", "inspect", key.trim()]);
    for expected in [
        "product:    1 (acme-editor)",
        "tier:       2 (team)",
        "plugins",
    ] {
        assert!(out.contains(expected), "{expected} missing: {out}");
    }

    // Its products are read as strictly as a catalogue's own.
    let typo = text.replacen("tiers = [", "teirs = [", 1);
    f.sandbox.write("typo.toml", &typo);
    let line = fails(
        f.sandbox
            .tessera(["--catalog", "typo.toml", "inspect", key.trim()])
            .assert(),
        3,
    );
    assert!(line.contains("teirs"), "{line}");
}

#[test]
fn verify_reads_stdin_and_public_key_files() {
    let f = Fixture::new();
    let key = f.issue(&["--product", "1", "--tier", "1"]);
    // Pasted from an e-mail: wrapped, indented.
    let wrapped = format!("  {}\n    {}\n\n", &key[..40], &key[40..]);
    let pubkey_output = f.sandbox.ok(["pubkey", "issuer.key"]);
    f.sandbox.write("issuer.pub", &pubkey_output);
    f.sandbox
        .tessera(["verify", "-", "--public-key", "issuer.pub"])
        .write_stdin(wrapped)
        .assert()
        .success()
        .stdout(predicates::str::starts_with("valid licence "));

    let line = fails(
        f.sandbox
            .tessera(["verify", "-", "--public-key", &f.public_key])
            .write_stdin("")
            .assert(),
        3,
    );
    assert!(line.contains("standard input is empty"), "{line}");
    fails(
        f.sandbox
            .tessera(["verify", "-", "--public-key", &f.public_key])
            .write_stdin(" \n\t\n")
            .assert(),
        3,
    );

    let line = fails(
        f.sandbox
            .tessera(["verify", &key, "--public-key", "missing.pub"])
            .assert(),
        3,
    );
    assert!(line.contains("missing.pub"), "{line}");
    let line = fails(
        f.sandbox
            .tessera(["verify", &key, "--public-key", "issuer.key"])
            .assert(),
        3,
    );
    assert!(line.contains("tessera pubkey issuer.key"), "{line}");
    let line = fails(
        f.sandbox
            .tessera(["verify", &key, "--public-key", "tspk1_1_AAAA"])
            .assert(),
        2,
    );
    assert!(line.contains("invalid --public-key"), "{line}");
    fails(f.sandbox.tessera(["verify", &key]).assert(), 2);
}

#[test]
fn public_key_files_give_every_key_they_hold() {
    let f = Fixture::new();
    let second = f.sandbox.keygen("second.key", 2);
    let old = f.issue(&["--product", "1", "--tier", "1"]);
    let new = f
        .sandbox
        .ok("issue --key second.key --product 1 --tier 1".split(' '));
    let new = new.trim();
    // The answer of the issuer's GET /v1/keys after a rotation: the active (new) key first.
    let published = serde_json::json!({"keys": [
        {"key_id": 2, "public_key": second, "active": true},
        {"key_id": 1, "public_key": f.public_key, "active": false},
    ]});
    f.sandbox.write("keys.json", &published.to_string());
    f.sandbox
        .write("keys.txt", &format!("{second}\n\n{}\n", f.public_key));
    for file in ["keys.json", "keys.txt"] {
        for key in [&old, new] {
            f.sandbox
                .tessera(["verify", key, "--public-key", file])
                .assert()
                .success();
        }
        let out = f
            .sandbox
            .ok(["--json", "inspect", &old, "--public-key", file]);
        assert_eq!(parse::<InspectedJson>(&out).signature.status, "valid");
    }
    // A key given both in a file and as text is one key, not two with the same id.
    f.sandbox
        .tessera([
            "verify",
            &old,
            "--public-key",
            "keys.json",
            "--public-key",
            &f.public_key,
        ])
        .assert()
        .success();

    // Two different keys with one id, and a bad key anywhere in the file, are refused.
    let other_one = Sandbox::new().keygen("other.key", 1);
    let refused = [
        (
            "clash.txt",
            other_one.as_str(),
            2,
            "two trusted public keys have key id 1",
        ),
        ("bad.txt", "tspk1_2_AAAA", 3, "`tspk1_2_AAAA` in bad.txt"),
    ];
    for (file, extra, code, expected) in refused {
        f.sandbox
            .write(file, &format!("{}\n{extra}\n", f.public_key));
        let line = fails(
            f.sandbox
                .tessera(["verify", &old, "--public-key", file])
                .assert(),
            code,
        );
        assert!(line.contains(expected), "{line}");
    }
}

#[test]
fn malformed_keys_exit_10() {
    let f = Fixture::new();
    let key = f.issue(&["--product", "1", "--tier", "1", "--licensee", "Ada"]);
    let body = key.strip_prefix("ts1_").unwrap();
    let cases = [
        ("garbage".to_owned(), "does not start with `ts1_`"),
        (String::new(), "input is empty"),
        ("   ".to_owned(), "input is empty"),
        ("ts1_".to_owned(), "input is empty"),
        (format!("tspk1_{body}"), "does not start with `ts1_`"),
        (format!("TS1_{body}"), "does not start with `ts1_`"),
        (key[..key.len() - 4].to_owned(), "malformed licence key"),
        (whole_groups(&key, 8), "input is truncated"),
        (key[..30].to_owned(), "malformed licence key"),
        (format!("{key}AAAA"), "malformed licence key"),
        (format!("{key}{body}"), "malformed licence key"),
        (
            format!("ts1_{}!", &body[..body.len() - 1]),
            "not valid base64url",
        ),
    ];
    for (text, expected) in cases {
        let line = f.verify_fails(&text, &[], 10);
        assert!(line.contains(expected), "{text:?}: {line}");
        assert!(line.starts_with("error: malformed licence key"), "{line}");
    }
    // Tolerated: surrounding whitespace and line breaks inside.
    let spaced = format!("\n {}\n{} \n", &key[..20], &key[20..]);
    f.verify(&spaced, &[]).assert().success();
}

#[test]
fn over_long_keys_are_refused_alike_as_argument_and_on_stdin() {
    let f = Fixture::new();
    let key = f.issue(&["--product", "1", "--tier", "1"]);
    const BOUND: usize = 64 * 1024;
    let padded = |len: usize| format!("{key}{}", " ".repeat(len - key.len()));
    let verify = |text: &str, from_stdin: bool| {
        let arg = if from_stdin { "-" } else { text };
        let mut command = f
            .sandbox
            .tessera(["verify", arg, "--public-key", &f.public_key]);
        if from_stdin {
            command.write_stdin(text.to_owned());
        }
        command.assert()
    };
    let mut lines = Vec::new();
    for from_stdin in [false, true] {
        verify(&padded(BOUND), from_stdin).success();
        for len in [BOUND + 1, BOUND + 4096] {
            lines.push(fails(verify(&padded(len), from_stdin), 10));
        }
    }
    assert!(
        lines[0].starts_with("error: malformed licence key: longer than 65536 bytes"),
        "{}",
        lines[0]
    );
    assert!(lines.iter().all(|line| line == &lines[0]), "{lines:#?}");
}

#[test]
fn unsupported_version_exits_11() {
    let f = Fixture::new();
    let key = f.issue(&["--product", "1", "--tier", "1"]);
    let line = f.verify_fails(&key.replacen("ts1_", "ts2_", 1), &[], 11);
    assert!(line.contains("format version 2"), "{line}");
    let ts9 = key.replacen("ts1_", "ts9_", 1);
    fails(f.sandbox.tessera(["inspect", &ts9]).assert(), 11);
}

#[test]
fn unknown_key_id_exits_12() {
    let f = Fixture::new();
    f.sandbox.keygen("second.key", 2);
    let key = f.sandbox.ok([
        "issue",
        "--key",
        "second.key",
        "--product",
        "1",
        "--tier",
        "1",
    ]);
    let line = f.verify_fails(key.trim(), &[], 12);
    assert!(line.contains("unknown key id 2"), "{line}");
}

#[test]
fn bad_signature_exits_13() {
    let f = Fixture::new();
    let key = f.issue(&["--product", "1", "--tier", "1"]);
    let line = f.verify_fails(&tamper(&key), &[], 13);
    assert_eq!(line, "error: licence signature is invalid");

    // Signed by another key that claims the same key id.
    let sandbox = Sandbox::new();
    sandbox.keygen("impostor.key", 1);
    let forged = sandbox.ok([
        "issue",
        "--key",
        "impostor.key",
        "--product",
        "1",
        "--tier",
        "2",
    ]);
    f.verify_fails(forged.trim(), &[], 13);
}

#[test]
fn wrong_product_exits_14() {
    let f = Fixture::new();
    let viewer = f.issue(&["--product", "acme-viewer", "--tier", "basic"]);
    let line = f.verify_fails(&viewer, &["--product", "acme-editor"], 14);
    assert_eq!(line, "error: licence is for product 2, not product 1");
    f.verify_fails(&viewer, &["--product", "1"], 14);
    f.verify(&viewer, &["--product", "acme-viewer"])
        .assert()
        .success();
    f.verify(&viewer, &["--product", "2"]).assert().success();
    let line = f.verify_fails(&viewer, &["--product", "acme-paint"], 2);
    assert!(line.contains("not in the catalogue"), "{line}");
}

#[test]
fn revoked_exits_15_and_revocation_lists_are_checked() {
    let f = Fixture::new();
    let revoked = f.issue(&[
        "--product",
        "1",
        "--tier",
        "1",
        "--license-id",
        "00000000000000aa",
    ]);
    let kept = f.issue(&[
        "--product",
        "1",
        "--tier",
        "1",
        "--license-id",
        "00000000000000bb",
    ]);
    f.sandbox.write(
        "ids.txt",
        "# refunds\n00000000000000AA  # order 17\n\n00000000000000cc\n",
    );
    f.sandbox.ok([
        "revocations",
        "sign",
        "--key",
        "issuer.key",
        "--sequence",
        "5",
        "--ids-file",
        "ids.txt",
        "--revoke",
        "00000000000000aa",
        "--out",
        "list.txt",
    ]);

    let line = f.verify_fails(&revoked, &["--revocations", "list.txt"], 15);
    assert_eq!(line, "error: licence 00000000000000aa has been revoked");
    f.verify(&kept, &["--revocations", "list.txt"])
        .assert()
        .success();
    f.verify(
        &kept,
        &["--revocations", "list.txt", "--last-seen-sequence", "5"],
    )
    .assert()
    .success();

    // The issuer's GET /v1/revocations answer, saved as it came, is a list file too.
    let list = std::fs::read_to_string(f.sandbox.path("list.txt")).unwrap();
    let served = serde_json::json!({
        "sequence": 5, "issued_at": 1_700_000_000, "revoked": 2, "list": list.trim(),
    });
    f.sandbox
        .write("revocations.json", &format!("{served:#}\n"));
    let line = f.verify_fails(&revoked, &["--revocations", "revocations.json"], 15);
    assert_eq!(line, "error: licence 00000000000000aa has been revoked");
    f.verify(&kept, &["--revocations", "revocations.json"])
        .assert()
        .success();
    let shown: ShownListJson = parse(&f.sandbox.ok([
        "--json",
        "revocations",
        "show",
        "revocations.json",
        "--public-key",
        &f.public_key,
    ]));
    assert_eq!((shown.sequence, shown.revoked.len()), (5, 2));
    assert_eq!(shown.signature.status, "valid");
    f.sandbox
        .write("other.json", r#"{"keys": [{"key_id": 1}]}"#);
    let line = f.verify_fails(&kept, &["--revocations", "other.json"], 19);
    assert!(
        line.contains("not the answer of GET /v1/revocations") && line.contains("list"),
        "{line}"
    );

    // 19: a list older than one seen before.
    let line = f.verify_fails(
        &kept,
        &["--revocations", "list.txt", "--last-seen-sequence", "6"],
        19,
    );
    assert!(line.contains("older than list 6"), "{line}");

    // 19: a tampered list.
    let text = std::fs::read_to_string(f.sandbox.path("list.txt")).unwrap();
    f.sandbox.write("tampered.txt", &tamper(text.trim()));
    let line = f.verify_fails(&kept, &["--revocations", "tampered.txt"], 19);
    assert_eq!(line, "error: revocation list signature is invalid");

    // 19: a list by a key the app does not trust.
    f.sandbox.keygen("other.key", 2);
    f.sandbox.ok([
        "revocations",
        "sign",
        "--key",
        "other.key",
        "--sequence",
        "9",
        "--out",
        "other.txt",
    ]);
    let line = f.verify_fails(&kept, &["--revocations", "other.txt"], 19);
    assert!(line.contains("unknown key id 2"), "{line}");

    // 19: not a list at all; a licence key is not a list either.
    f.sandbox.write("garbage.txt", "tsrl1_!!!!\n");
    f.verify_fails(&kept, &["--revocations", "garbage.txt"], 19);
    f.sandbox.write("key-not-list.txt", &kept);
    let line = f.verify_fails(&kept, &["--revocations", "key-not-list.txt"], 19);
    assert!(line.contains("tsrl1_"), "{line}");

    // 3: the list cannot be read.
    let line = f.verify_fails(&kept, &["--revocations", "missing.txt"], 3);
    assert!(line.contains("missing.txt"), "{line}");
    f.sandbox.write("empty.txt", "\n");
    let line = f.verify_fails(&kept, &["--revocations", "empty.txt"], 3);
    assert!(line.contains("empty"), "{line}");

    // --last-seen-sequence needs a list.
    fails(f.verify(&kept, &["--last-seen-sequence", "3"]).assert(), 2);
}

#[test]
fn not_yet_valid_exits_16() {
    let f = Fixture::new();
    let key = f.issue(&[
        "--product",
        "1",
        "--tier",
        "1",
        "--not-before",
        "2030-01-01",
    ]);
    let line = f.verify_fails(&key, &[], 16);
    assert_eq!(
        line,
        "error: licence is not valid before 2030-01-01T00:00:00Z"
    );
    f.verify_fails(&key, &["--at", "2029-12-31T23:59:59Z"], 16);
    f.verify(&key, &["--at", "2030-01-01"]).assert().success();
}

#[test]
fn expiry_and_grace() {
    let f = Fixture::new();
    let key = f.issue(&[
        "--product",
        "1",
        "--tier",
        "1",
        "--expires",
        "2030-01-01",
        "--grace-days",
        "10",
    ]);

    // Half a day before expiry: active, 0 whole days left.
    let v = f.verify_json(&key, &["--at", "2029-12-31T12:00:00Z"]);
    assert!(v.valid);
    assert_eq!(v.state, "active");
    assert_eq!(v.checked_at, Y2030 - DAY / 2);
    assert_eq!(v.seconds_left, Some(DAY / 2));
    assert_eq!(v.days_left, Some(0));
    assert_eq!(v.expires_at, Some(Y2030));
    assert_eq!(v.grace_ends_at, Some(Y2030 + 10 * DAY));

    // Four days after expiry: in grace, valid, six days to go.
    let at = (Y2030 + 4 * DAY).to_string();
    let v = f.verify_json(&key, &["--at", &at]);
    assert_eq!(v.state, "grace");
    assert_eq!(v.days_left, Some(6));
    assert_eq!(v.seconds_left, Some(6 * DAY));
    let out = stdout_of(f.verify(&key, &["--at", &at]).assert().success());
    assert!(
        out.contains("IN GRACE") && out.contains("6 days left"),
        "{out}"
    );

    let line = f.verify_fails(&key, &["--at", &at, "--no-grace"], 17);
    assert_eq!(
        line,
        "error: licence expired at 2030-01-01T00:00:00Z (within its grace period)"
    );
    let line = f.verify_fails(&key, &["--at", "2030-01-11"], 17);
    assert_eq!(line, "error: licence expired at 2030-01-01T00:00:00Z");
    f.verify_fails(&key, &["--at", "2099-01-01"], 17);
    fails(f.verify(&key, &["--at", "soon"]).assert(), 2);

    // Without grace, expiry is the end.
    let strict = f.issue(&["--product", "1", "--tier", "1", "--expires", "2030-01-01"]);
    f.verify_fails(&strict, &["--at", "2030-01-01"], 17);
    f.verify(&strict, &["--at", "2029-12-31T23:59:59Z"])
        .assert()
        .success();

    // Perpetual.
    let forever = f.issue(&["--product", "1", "--tier", "1"]);
    let v = f.verify_json(&forever, &["--at", "2150-01-01"]);
    assert_eq!(v.state, "perpetual");
    assert_eq!(
        (v.expires_at, v.seconds_left, v.days_left),
        (None, None, None)
    );
}

#[test]
fn missing_entitlements_exit_18() {
    let f = Fixture::new();
    let key = f.issue(&[
        "--product",
        "acme-editor",
        "--tier",
        "pro",
        "--feature",
        "export",
        "--feature",
        "cloud",
    ]);

    f.verify(
        &key,
        &[
            "--require-feature",
            "export",
            "--require-feature",
            "2",
            "--require-tier",
            "free",
        ],
    )
    .assert()
    .success();
    f.verify(&key, &["--product", "acme-editor", "--require-tier", "pro"])
        .assert()
        .success();

    let line = f.verify_fails(&key, &["--require-feature", "sync"], 18);
    assert!(
        line.ends_with("does not grant feature `sync` (1)"),
        "{line}"
    );
    let line = f.verify_fails(&key, &["--require-feature", "3"], 18);
    assert!(line.ends_with("does not grant feature 3"), "{line}");
    let line = f.verify_fails(&key, &["--require-tier", "team"], 18);
    assert!(
        line.contains("tier 1 (pro), below the required tier `team` (2)"),
        "{line}"
    );
    let line = f.verify_fails(&key, &["--require-feature", "teleport"], 18);
    assert!(line.contains("no feature `teleport`"), "{line}");

    // With --product, a name it does not list is a usage error, found before any checking.
    let line = f.verify_fails(
        &key,
        &["--product", "1", "--require-feature", "teleport"],
        2,
    );
    assert!(line.contains("no feature `teleport`"), "{line}");

    // Without a catalogue, names cannot be looked up; numbers still work.
    let bare = |args: &[&str]| {
        let mut all = vec![
            "verify",
            key.as_str(),
            "--public-key",
            f.public_key.as_str(),
        ];
        all.extend_from_slice(args);
        f.sandbox.tessera(all).assert()
    };
    let line = fails(bare(&["--require-feature", "sync"]), 2);
    assert!(
        line.contains("needs a catalogue") && line.contains("--catalog"),
        "{line}"
    );
    fails(bare(&["--require-tier", "team"]), 2);
    fails(bare(&["--product", "acme-editor"]), 2);
    bare(&[
        "--require-feature",
        "0",
        "--require-tier",
        "1",
        "--product",
        "1",
    ])
    .success();
    fails(bare(&["--require-feature", "1"]), 18);
}

#[test]
fn inspect_shows_fields_and_signature_status_without_trusting() {
    let f = Fixture::new();
    let key = f.issue(&[
        "--product",
        "1",
        "--tier",
        "1",
        "--feature",
        "ai",
        "--licensee",
        "Ada",
        "--days",
        "365",
    ]);

    let out = f.sandbox.ok(["--catalog", "catalog.toml", "inspect", &key]);
    assert!(
        out.contains("signature:  not checked (no --public-key)"),
        "{out}"
    );
    assert!(
        out.contains(&format!("length:     {} characters, ", key.len())),
        "{out}"
    );
    for expected in [
        "product:    1 (acme-editor)",
        "tier:       1 (pro)",
        "features:   ai",
        "licensee:   Ada",
        "not before: none",
        "key id:     1",
    ] {
        assert!(out.contains(expected), "{expected} missing: {out}");
    }

    let status = |key: &str, keys: &[&str]| {
        let mut args = vec!["--json", "inspect", key];
        for pk in keys {
            args.extend(["--public-key", pk]);
        }
        parse::<InspectedJson>(&f.sandbox.ok(args)).signature
    };
    let sig = |status: &str, key_id| SignatureJson {
        status: status.to_owned(),
        key_id,
    };
    f.sandbox.keygen("second.key", 2);
    let second = f.sandbox.ok(["pubkey", "second.key"]);
    let second = second
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("Public key: ");
    assert_eq!(status(&key, &[]), sig("not_checked", 1));
    assert_eq!(status(&key, &[&f.public_key]), sig("valid", 1));
    assert_eq!(status(&key, &[second, &f.public_key]), sig("valid", 1));
    assert_eq!(status(&tamper(&key), &[&f.public_key]), sig("invalid", 1));
    assert_eq!(status(&key, &[second]), sig("unknown_key_id", 1));

    // Expired and not-yet-valid licences still have valid signatures.
    let expired = f.issue(&["--product", "1", "--tier", "1", "--expires", "2025-01-01"]);
    assert_eq!(status(&expired, &[&f.public_key]), sig("valid", 1));

    let out = f
        .sandbox
        .ok(["inspect", &tamper(&key), "--public-key", &f.public_key]);
    assert!(
        out.contains("signature:  invalid") && out.contains("UNTRUSTED"),
        "{out}"
    );
    let out = f.sandbox.ok(["inspect", &key, "--public-key", second]);
    assert!(out.contains("signature:  unknown key id 1"), "{out}");
    let out = f
        .sandbox
        .ok(["inspect", &key, "--public-key", &f.public_key]);
    assert!(out.contains("signature:  valid"), "{out}");

    let inspected: InspectedJson = parse(&f.sandbox.ok(["--json", "inspect", &key]));
    assert_eq!(inspected.length_chars, key.len());
    // Four characters of base64 per three bytes.
    assert_eq!(inspected.length_bytes, (key.len() - 4) * 3 / 4);
    assert_eq!(
        inspected.claims.features,
        vec![Feature { bit: 3, name: None }]
    );
    assert_eq!(inspected.claims.licensee.as_deref(), Some("Ada"));

    // Stdin, and the failures verify has.
    f.sandbox
        .tessera(["inspect", "-"])
        .write_stdin(format!("{key}\n"))
        .assert()
        .success();
    fails(
        f.sandbox.tessera(["inspect", "-"]).write_stdin("").assert(),
        3,
    );
    fails(f.sandbox.tessera(["inspect", "nonsense"]).assert(), 10);
    fails(
        f.sandbox
            .tessera(["inspect", &key[..key.len() - 4]])
            .assert(),
        10,
    );
}

#[test]
fn untrusted_text_is_escaped_on_the_terminal_but_not_in_json() {
    let f = Fixture::new();
    // A licensee that would erase the line above and write its own verdict, then reverse the rest.
    let forged = "\u{1b}[1A\u{1b}[2K\rsignature:  valid\u{7}\u{9b}2J\u{7f}\u{202e}";
    let shown = "\\u{1b}[1A\\u{1b}[2K\\rsignature:  valid\\u{7}\\u{9b}2J\\u{7f}\\u{202e}";
    let key = f.issue(&["--product", "1", "--tier", "1", "--licensee", forged]);
    let outputs = [
        f.sandbox.ok(["inspect", &key]),
        f.sandbox
            .ok(["inspect", &tamper(&key), "--public-key", &f.public_key]),
        stdout_of(f.verify(&key, &[]).assert().success().stderr("")),
    ];
    for out in outputs {
        assert_eq!(raw_terminal_controls(&out), Vec::<char>::new(), "{out:?}");
        assert!(out.contains(shown), "{out}");
    }
    let inspected: InspectedJson = parse(&f.sandbox.ok(["--json", "inspect", &key]));
    assert_eq!(inspected.claims.licensee.as_deref(), Some(forged));
    assert_eq!(
        f.verify_json(&key, &[]).claims.licensee.as_deref(),
        Some(forged)
    );

    // Error lines quote what they were given, escaped as well.
    let line = fails(
        f.sandbox
            .tessera(["verify", &key, "--public-key", "tspk1_\u{1b}]0;owned\u{7}"])
            .assert(),
        2,
    );
    assert_eq!(raw_terminal_controls(&line), Vec::<char>::new(), "{line:?}");
    assert!(line.contains("tspk1_\\u{1b}]0;owned\\u{7}"), "{line}");
    let line = fails(
        f.sandbox
            .tessera(["verify", &key, "--public-keys\u{9b}2J"])
            .assert(),
        2,
    );
    assert!(line.contains("'--public-keys\\u{9b}2J'"), "{line}");
}

#[test]
fn revocations_sign_and_show() {
    let f = Fixture::new();
    let text = f.sandbox.ok([
        "revocations",
        "sign",
        "--key",
        "issuer.key",
        "--sequence",
        "3",
        "--revoke",
        "00000000000000ff",
        "--revoke",
        "0000000000000001",
    ]);
    assert!(
        text.starts_with("tsrl1_") && text.lines().count() == 1,
        "{text}"
    );
    f.sandbox.write("list.txt", &text);

    let out = f.sandbox.ok([
        "revocations",
        "show",
        "list.txt",
        "--public-key",
        &f.public_key,
    ]);
    for expected in [
        "signature: valid",
        "sequence:  3",
        "key id:    1",
        "revoked:   2 licence(s)",
        "    0000000000000001\n    00000000000000ff\n",
    ] {
        assert!(out.contains(expected), "{expected} missing: {out}");
    }
    let out = f.sandbox.ok(["revocations", "show", "list.txt"]);
    assert!(out.contains("not checked (no --public-key)"), "{out}");

    let shown: ShownListJson = parse(&f.sandbox.ok([
        "--json",
        "revocations",
        "show",
        "list.txt",
        "--public-key",
        &f.public_key,
    ]));
    assert_eq!((shown.key_id, shown.sequence), (1, 3));
    assert_eq!(shown.revoked, ["0000000000000001", "00000000000000ff"]);
    assert_eq!(
        shown.signature,
        SignatureJson {
            status: "valid".to_owned(),
            key_id: 1
        }
    );

    // From stdin, tampered, and checked against the wrong key.
    let shown: ShownListJson = parse(&stdout_of(
        f.sandbox
            .tessera([
                "--json",
                "revocations",
                "show",
                "-",
                "--public-key",
                &f.public_key,
            ])
            .write_stdin(tamper(text.trim()))
            .assert()
            .success(),
    ));
    assert_eq!(shown.signature.status, "invalid");
    f.sandbox.keygen("second.key", 2);
    let second = f.sandbox.ok(["--json", "pubkey", "second.key"]);
    let second: PublicKeyJson = parse(&second);
    let shown: ShownListJson = parse(&f.sandbox.ok([
        "--json",
        "revocations",
        "show",
        "list.txt",
        "--public-key",
        &second.public_key,
    ]));
    assert_eq!(shown.signature.status, "unknown_key_id");

    // JSON of sign, with --out and an ids file; duplicates collapse.
    f.sandbox.write(
        "ids.txt",
        "0000000000000002 # dup below\n0000000000000002\n",
    );
    let signed: SignedListJson = parse(&f.sandbox.ok([
        "--json",
        "revocations",
        "sign",
        "--key",
        "issuer.key",
        "--sequence",
        "4",
        "--ids-file",
        "ids.txt",
        "--out",
        "new.txt",
    ]));
    assert_eq!(signed.revoked, ["0000000000000002"]);
    assert_eq!((signed.key_id, signed.sequence), (1, 4));
    assert_eq!(signed.out.as_deref(), Some("new.txt"));
    let written = std::fs::read_to_string(f.sandbox.path("new.txt")).unwrap();
    assert_eq!(written.trim(), signed.text);
    let shown: ShownListJson = parse(&f.sandbox.ok(["--json", "revocations", "show", "new.txt"]));
    assert_eq!(shown.issued_at, signed.issued_at);
    assert_eq!(shown.signature.status, "not_checked");

    // An empty list is a valid list.
    let empty = f.sandbox.ok([
        "revocations",
        "sign",
        "--key",
        "issuer.key",
        "--sequence",
        "1",
    ]);
    f.sandbox.write("none.txt", &empty);
    let shown: ShownListJson = parse(&f.sandbox.ok(["--json", "revocations", "show", "none.txt"]));
    assert!(shown.revoked.is_empty());

    // Failures.
    f.sandbox
        .write("bad-ids.txt", "0000000000000002\nnot-an-id\n");
    let line = fails(
        f.sandbox
            .tessera([
                "revocations",
                "sign",
                "--key",
                "issuer.key",
                "--sequence",
                "5",
                "--ids-file",
                "bad-ids.txt",
            ])
            .assert(),
        3,
    );
    assert!(line.contains("bad-ids.txt line 2"), "{line}");
    fails(
        f.sandbox
            .tessera([
                "revocations",
                "sign",
                "--key",
                "issuer.key",
                "--sequence",
                "5",
                "--ids-file",
                "missing.txt",
            ])
            .assert(),
        3,
    );
    fails(
        f.sandbox
            .tessera([
                "revocations",
                "sign",
                "--key",
                "issuer.key",
                "--sequence",
                "5",
                "--revoke",
                "123",
            ])
            .assert(),
        2,
    );
    fails(
        f.sandbox
            .tessera([
                "revocations",
                "sign",
                "--key",
                "missing.key",
                "--sequence",
                "5",
            ])
            .assert(),
        3,
    );
    fails(
        f.sandbox
            .tessera([
                "revocations",
                "sign",
                "--key",
                "issuer.key",
                "--sequence",
                "-1",
            ])
            .assert(),
        2,
    );
    fails(
        f.sandbox
            .tessera(["revocations", "show", "missing.txt"])
            .assert(),
        3,
    );
    fails(
        f.sandbox
            .tessera(["revocations", "show", "-"])
            .write_stdin("")
            .assert(),
        3,
    );
    f.sandbox.write("garbage.txt", "hello");
    let line = fails(
        f.sandbox
            .tessera(["revocations", "show", "garbage.txt"])
            .assert(),
        19,
    );
    assert!(line.contains("malformed revocation list"), "{line}");
    let truncated = &text.trim()[..text.trim().len() - 4];
    fails(
        f.sandbox
            .tessera(["revocations", "show", "-"])
            .write_stdin(truncated)
            .assert(),
        19,
    );
}

#[test]
fn help_documents_exit_codes_and_json() {
    let sandbox = Sandbox::new();
    let help = sandbox.ok(["verify", "--help"]);
    for code in [0, 1, 2, 3, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19] {
        assert!(
            help.lines()
                .any(|line| line.trim_start().starts_with(&format!("{code}  "))),
            "exit code {code} missing from verify --help:\n{help}"
        );
    }
    for command in [
        &["keygen"][..],
        &["pubkey"],
        &["issue"],
        &["verify"],
        &["inspect"],
        &["revocations", "sign"],
        &["revocations", "show"],
    ] {
        let mut args = command.to_vec();
        args.push("--help");
        let help = sandbox.ok(args);
        assert!(help.contains("JSON output (--json)"), "{command:?}: {help}");
    }
    let short = sandbox.ok(["verify", "-h"]);
    assert!(short.contains("17  expired"), "{short}");
    sandbox.ok(["--version"]);

    // Usage errors are one line, exit 2.
    let line = fails(sandbox.tessera(["frobnicate"]).assert(), 2);
    assert!(line.contains("frobnicate"), "{line}");
    fails(sandbox.tessera(["keygen"]).assert(), 2);
}

#[cfg(unix)]
#[test]
fn a_closed_stdout_is_not_an_error() {
    use std::process::{Command, Stdio};
    let sandbox = Sandbox::new();
    sandbox.keygen("issuer.key", 1);
    let mut child = Command::new(crate::util::tessera_bin())
        .current_dir(sandbox.path(""))
        .args(["pubkey", "issuer.key"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}
