//! `POST /v1/licenses/validate`, and the example configuration.

use std::path::PathBuf;

use serde_json::{json, Value};
use tessera_keys::SigningKey;

use super::harness::{http, Issuer, Workspace};
use super::seed::{self, Seed};

const CATALOG: &str = r#"
[[products]]
id = 1
name = "acme-editor"
tiers = ["free", "pro", "team"]
features = ["export", "sync"]
"#;

/// Status and JSON body of a POST with `body` as `content_type`.
fn post(issuer: &Issuer, body: &str, content_type: &str) -> (u16, Value) {
    let mut response = http()
        .post(&issuer.url("/v1/licenses/validate"))
        .header("content-type", content_type)
        .send(body)
        .expect("POST");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn validate(issuer: &Issuer, key: &str) -> Value {
    let (status, body) = post(
        issuer,
        &json!({ "key": key }).to_string(),
        "application/json",
    );
    assert_eq!(status, 200, "{body}");
    body
}

#[test]
fn validates_keys_against_signature_expiry_and_the_store() {
    // A retired key, still trusted: licences it signed before the rotation keep validating.
    let retired = SigningKey::from_seed(7, &[7; 32]);
    let workspace = Workspace::new(&format!(
        "[signing]\nretired_public_keys = [\"{}\"]\n{CATALOG}",
        retired.public_key()
    ));
    let issuer = workspace.start();
    let data = workspace.path().join("data");
    let now = seed::now();

    // Known and active.
    let active = Seed::active(1);
    let key = active.insert(&data);
    let body = validate(&issuer, &key);
    assert_eq!(body["valid"], true, "{body}");
    assert_eq!(body["status"], "active");
    assert_eq!(body["reason"], Value::Null);
    assert_eq!(body["known"], true);
    assert_eq!(body["superseded"], false);
    assert_eq!(body["license_id"], "0000000000000001");
    assert_eq!(body["expires_at"], active.expires_at.unwrap());
    assert_eq!(
        body["grace_ends_at"],
        active.expires_at.unwrap() + 7 * 86_400
    );
    assert!(body["checked_at"].as_u64().unwrap() >= now);
    assert_eq!(body["license"]["id"], "0000000000000001");
    assert_eq!(body["license"]["product_name"], "acme-editor");
    assert_eq!(body["license"]["tier_name"], "pro");
    assert_eq!(body["license"]["features"], json!(["export"]));
    assert_eq!(body["license"]["status"], "active");

    // Whitespace and line breaks in the key are ignored, as the verifier does.
    let wrapped = format!("  {}\n{}  ", &key[..40], &key[40..]);
    let body = validate(&issuer, &wrapped);
    assert_eq!(
        (body["valid"].clone(), body["superseded"].clone()),
        (json!(true), json!(false))
    );

    // Expired yesterday, 7 days' grace: still valid, in grace.
    let grace = Seed {
        expires_at: Some(now - 86_400),
        issued_at: now - 40 * 86_400,
        ..Seed::active(2)
    };
    let body = validate(&issuer, &grace.insert(&data));
    assert_eq!(
        (&body["valid"], &body["status"], &body["reason"]),
        (&json!(true), &json!("grace"), &Value::Null),
        "{body}"
    );

    // Past its grace period.
    let expired = Seed {
        expires_at: Some(now - 10 * 86_400),
        issued_at: now - 40 * 86_400,
        ..Seed::active(3)
    };
    let body = validate(&issuer, &expired.insert(&data));
    assert_eq!(
        (&body["valid"], &body["status"], &body["reason"]),
        (&json!(false), &json!("expired"), &json!("expired")),
        "{body}"
    );
    assert_eq!(body["known"], true);
    assert_eq!(body["expires_at"], now - 10 * 86_400);

    // Revoked and suspended by the issuer: a good signature and expiry do not help.
    let revoked = Seed {
        status: "revoked",
        ..Seed::active(4)
    };
    let body = validate(&issuer, &revoked.insert(&data));
    assert_eq!(
        (&body["valid"], &body["status"], &body["reason"]),
        (&json!(false), &json!("revoked"), &json!("revoked")),
        "{body}"
    );
    assert_eq!(body["license"]["status"], "revoked");
    let suspended = Seed {
        status: "suspended",
        ..Seed::active(5)
    };
    let body = validate(&issuer, &suspended.insert(&data));
    assert_eq!(
        (&body["valid"], &body["status"], &body["reason"]),
        (&json!(false), &json!("suspended"), &json!("suspended")),
        "{body}"
    );

    // Signed by the issuer's key but never recorded (issued offline with the CLI): judged by its
    // signature and dates, and says it is unknown.
    let offline = Seed::active(6);
    let body = validate(&issuer, &offline.sign(&data));
    assert_eq!(
        (&body["valid"], &body["status"], &body["known"]),
        (&json!(true), &json!("active"), &json!(false)),
        "{body}"
    );
    assert_eq!(body["license"], Value::Null);
    assert_eq!(body["license_id"], "0000000000000006");

    // Signed by the retired key.
    let body = validate(&issuer, &Seed::active(7).sign_with(&retired));
    assert_eq!(
        (&body["valid"], &body["known"]),
        (&json!(true), &json!(false))
    );

    // Not valid yet.
    let future = Seed {
        issued_at: now,
        ..Seed::active(8)
    };
    let body = validate(&issuer, &sign_not_before(&data, &future, now + 86_400));
    assert_eq!(
        (&body["valid"], &body["status"], &body["reason"]),
        (
            &json!(false),
            &json!("not_yet_valid"),
            &json!("not_yet_valid")
        ),
        "{body}"
    );

    // A renewal added a newer key: the old one stays valid to its own expiry, and says so.
    let renewed = Seed::active(9);
    let old_key = renewed.insert(&data);
    let newer = Seed {
        expires_at: renewed.expires_at.map(|t| t + 30 * 86_400),
        ..renewed.clone()
    };
    seed::add_key(&data, &newer, &newer.sign(&data));
    let body = validate(&issuer, &old_key);
    assert_eq!(
        (&body["valid"], &body["superseded"]),
        (&json!(true), &json!(true)),
        "{body}"
    );
    assert_eq!(body["expires_at"], renewed.expires_at.unwrap());
    assert_eq!(body["license"]["expires_at"], renewed.expires_at.unwrap());

    // Nothing of a key whose signature fails is trusted or looked up, even a recorded licence's id.
    let forged = active.sign_with(&SigningKey::from_seed(1, &[9; 32]));
    let body = validate(&issuer, &forged);
    assert_eq!(
        body,
        json!({
            "valid": false, "status": "invalid", "reason": "bad_signature",
            "message": "licence signature is invalid", "known": false, "license_id": null,
            "expires_at": null, "grace_ends_at": null, "superseded": false,
            "checked_at": body["checked_at"], "license": null,
        })
    );
    let body = validate(
        &issuer,
        &active.sign_with(&SigningKey::from_seed(42, &[9; 32])),
    );
    assert_eq!(
        (&body["status"], &body["reason"]),
        (&json!("invalid"), &json!("unknown_key_id"))
    );
    // Tampered: one character of the signature changed.
    let mut tampered = Seed::active(10).sign(&data);
    assert_eq!(validate(&issuer, &tampered)["valid"], true);
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let body = validate(&issuer, &tampered);
    assert_eq!(body["valid"], false, "{body}");
    assert_eq!(body["status"], "invalid");

    // Not keys at all: 200 with reason `malformed`, never a 500.
    for garbage in [
        "",
        "garbage",
        "ts1_",
        "ts1_!!!!",
        "ts1_AAAA",
        "tspk1_1_abc",
        &"A".repeat(10_000),
    ] {
        let body = validate(&issuer, garbage);
        assert_eq!(
            (&body["valid"], &body["status"], &body["reason"]),
            (&json!(false), &json!("invalid"), &json!("malformed")),
            "{garbage:.40}: {body}"
        );
    }
    let body = validate(&issuer, "ts9_AAAA");
    assert_eq!(body["status"], "invalid", "{body}");

    // The key is never logged.
    let log = issuer.log();
    for key in [&old_key, &forged, &tampered] {
        assert!(!log.contains(&key[4..40]), "a key is in the log:\n{log}");
    }
    assert!(log.contains("0000000000000001"), "{log}");
}

/// A key for `seed` that is not valid before `not_before`.
fn sign_not_before(data: &std::path::Path, seed: &Seed, not_before: u64) -> String {
    let signer = seed::dev_key(data);
    signer
        .sign_license(&tessera_keys::Claims {
            key_id: signer.id(),
            license_id: seed.license_id(),
            product: seed.product,
            tier: seed.tier,
            issued_at: tessera_keys::UnixTime(seed.issued_at),
            not_before: Some(tessera_keys::UnixTime(not_before)),
            expires_at: seed.expires_at.map(tessera_keys::UnixTime),
            grace_seconds: seed.grace_seconds,
            features: tessera_keys::FeatureSet(seed.features),
            licensee: None,
            requires_activation: false,
        })
        .unwrap()
}

#[test]
fn malformed_requests_get_api_errors() {
    let workspace = Workspace::new("[limits]\nbody_bytes = 4096\n");
    let issuer = workspace.start();
    let cases = [
        ("{\"key\": ", "application/json", 400, "invalid_json"),
        ("not json", "application/json", 400, "invalid_json"),
        ("{}", "application/json", 400, "invalid_body"),
        ("{\"key\": 5}", "application/json", 400, "invalid_body"),
        ("\"ts1_\"", "application/json", 400, "invalid_body"),
        ("{\"key\": null}", "application/json", 400, "invalid_body"),
        ("{\"key\": \"ts1_\"}", "text/plain", 415, "expected_json"),
    ];
    for (body, content_type, status, code) in cases {
        let (got_status, got) = post(&issuer, body, content_type);
        assert_eq!(
            (got_status, got["error"].as_str()),
            (status, Some(code)),
            "{body}: {got}"
        );
        assert!(got["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let oversized = json!({ "key": "A".repeat(5000) }).to_string();
    let (status, body) = post(&issuer, &oversized, "application/json");
    assert_eq!(status, 413, "{body}");

    // Extra fields are allowed, for apps that send more than the key.
    let (status, body) = post(
        &issuer,
        "{\"key\": \"garbage\", \"app_version\": \"1.2\"}",
        "application/json",
    );
    assert_eq!((status, &body["reason"]), (200, &json!("malformed")));

    let response = http()
        .get(&issuer.url("/v1/licenses/validate"))
        .call()
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
}

/// `text` with the commented lines from the one starting `first` to the next one starting `last`
/// uncommented.
fn uncomment(text: &str, first: &str, last: &str) -> String {
    let mut inside = false;
    let mut found = false;
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            inside |= line.starts_with(first);
            if !inside {
                return line.to_owned();
            }
            found = true;
            if line.starts_with(last) {
                inside = false;
            }
            line.strip_prefix("# ").unwrap_or(line).to_owned()
        })
        .collect();
    assert!(found, "the example has no `{first}`");
    lines.join("\n")
}

fn example_config() -> (PathBuf, String) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/tessera.toml");
    let text = std::fs::read_to_string(&path).expect("examples/tessera.toml");
    (path, text)
}

#[test]
fn the_example_signing_settings_parse_and_the_kek_variable_wins_over_the_file() {
    use tessera_issuer::config::{Config, Environment, KekSource, Secret};

    let (_, text) = example_config();
    let config = Config::from_toml_str(&text, &Environment::default()).unwrap();
    assert_eq!(
        config.key_reload_interval,
        std::time::Duration::from_secs(2)
    );
    assert!(config.key_encryption_key.is_none(), "commented out");

    let set = text
        .replacen("# reload_seconds = 2", "reload_seconds = 5", 1)
        .replacen(
            "# key_encryption_key_file = ",
            "key_encryption_key_file = ",
            1,
        );
    let config = Config::from_toml_str(&set, &Environment::default()).unwrap();
    assert_eq!(
        config.key_reload_interval,
        std::time::Duration::from_secs(5)
    );
    assert!(
        matches!(&config.key_encryption_key, Some(KekSource::File(path))
            if path.as_os_str() == "/etc/tessera/key-encryption-key"),
        "{:?}",
        config.key_encryption_key
    );
    let kek = "ab".repeat(32);
    let env = Environment {
        key_encryption_key: Some(Secret::new(kek.clone())),
        ..Environment::default()
    };
    let config = Config::from_toml_str(&set, &env).unwrap();
    assert!(
        matches!(&config.key_encryption_key, Some(KekSource::Environment(from_env))
            if from_env.expose() == kek),
        "{:?}",
        config.key_encryption_key
    );
    assert!(
        !format!("{config:?}").contains(&kek),
        "the KEK is not in Debug"
    );

    let never = text.replacen("# reload_seconds = 2", "reload_seconds = 0", 1);
    let err = Config::from_toml_str(&never, &Environment::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "config `signing.reload_seconds`: must be positive"
    );
}

#[test]
fn example_config_parses_and_shows_every_setting() {
    use tessera_issuer::config::{Config, Environment, Sale, StripeMode};

    let (path, text) = example_config();
    let config = Config::from_toml_str(&text, &Environment::default())
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(config.retired_public_keys.len(), 1);
    assert!(config.signing_key_file.is_some());
    assert_eq!(config.grace_seconds, 7 * 86_400);
    assert!(
        config.stripe.webhook_secrets.is_empty(),
        "the example ships no webhook secret"
    );
    assert!(
        config.admin_tokens.is_empty(),
        "the example ships no admin token"
    );
    assert_eq!(config.stripe.mode, StripeMode::Live);
    assert_eq!(config.stripe.api_base, "https://api.stripe.com");
    assert!(
        config.stripe.secret_key.is_none(),
        "secret_key is commented"
    );
    let kinds: Vec<_> = config
        .prices
        .iter()
        .map(|price| match price.sells {
            Sale::License {
                duration_days: None,
                credits_per_period: 0,
                ..
            } => "perpetual",
            Sale::License {
                duration_days: Some(_),
                credits_per_period: 0,
                ..
            } => "one-time",
            Sale::License { .. } => "subscription with credits",
            Sale::TopUp { .. } => "top-up",
        })
        .collect();
    for kind in ["one-time", "subscription with credits", "top-up"] {
        assert!(kinds.contains(&kind), "no {kind} price in {kinds:?}");
    }

    // Secrets from the environment: the webhook secrets replace the file's, the API key wins.
    let with_secrets = uncomment(&text, "# webhook_secrets = [", "# ]");
    let env = Environment {
        webhook_secret: Some("whsec_from_env_1,whsec_from_env_2".into()),
        secret_key: Some("sk_live_from_env".into()),
        ..Environment::default()
    };
    let config = Config::from_toml_str(&with_secrets, &env).unwrap();
    let secrets: Vec<&str> = config
        .stripe
        .webhook_secrets
        .iter()
        .map(|s| s.expose())
        .collect();
    assert_eq!(secrets, ["whsec_from_env_1", "whsec_from_env_2"]);
    assert_eq!(
        config.stripe.secret_key.as_ref().map(|s| s.expose()),
        Some("sk_live_from_env")
    );

    // Every placeholder secret the example shows is refused at start, naming its field.
    let refused = |text: &str| {
        Config::from_toml_str(text, &Environment::default())
            .expect_err("a placeholder is refused")
            .to_string()
    };
    assert!(refused(&with_secrets)
        .starts_with("config `stripe.webhook_secrets[0]`: is the documentation's placeholder"));
    let with_token = uncomment(&text, "# tokens = [", "# ]");
    assert!(
        refused(&with_token).starts_with("config `admin.tokens[0].sha256`: is the documentation")
    );
    let with_key = text.replacen("# secret_key = ", "secret_key = ", 1);
    assert_ne!(with_key, text, "the example shows `# secret_key = …`");
    assert!(refused(&with_key).starts_with("config `stripe.secret_key`: is the documentation"));
    let with_smtp = uncomment(&text, "# [smtp]", "# timeout_seconds");
    assert!(refused(&with_smtp).starts_with("config `smtp.password`: is the documentation"));
    let with_database = uncomment(&text, "# [database]", "# pool_size");
    assert!(refused(&with_database).starts_with("config `database.url`: is the documentation"));
    let own_database = with_database.replace("REPLACE_ME", "own-password");
    let config = Config::from_toml_str(&own_database, &Environment::default()).unwrap();
    assert!(
        !format!("{config:?}").contains("own-password"),
        "the password is not in Debug"
    );
    let database = config.database.expect("[database] is read");
    assert_eq!(
        (database.url.to_string(), database.pool_size),
        (
            "postgres://tessera:***@127.0.0.1:5432/tessera".to_owned(),
            16
        )
    );
    let from_env = Environment {
        database_url: Some("postgres://env@db/tessera".into()),
        ..Environment::default()
    };
    let config = Config::from_toml_str(&own_database, &from_env).unwrap();
    assert_eq!(
        config.database.map(|d| d.url.expose().to_owned()),
        Some("postgres://env@db/tessera".to_owned()),
        "DATABASE_URL wins"
    );
    // With real values in their place it starts.
    let own = with_key.replace("rk_live_REPLACE_ME", "rk_live_own");
    let config = Config::from_toml_str(&own, &Environment::default()).unwrap();
    assert!(config.stripe.secret_key.is_some());

    // Every setting the parser knows is shown.
    for setting in [
        "listen =",
        "data_dir =",
        "[database]",
        "url =",
        "pool_size =",
        "DATABASE_URL",
        "[signing]",
        "key_file =",
        "retired_public_keys =",
        "[licenses]",
        "grace_days =",
        "checkout_session_key_hours =",
        "[stripe]",
        "webhook_secrets =",
        "secret_key =",
        "api_base =",
        "STRIPE_WEBHOOK_SECRET",
        "STRIPE_SECRET_KEY",
        "[limits]",
        "body_bytes =",
        "request_timeout_seconds =",
        "max_connections =",
        "header_read_timeout_seconds =",
        "keep_alive_seconds =",
        "[[products]]",
        "tiers =",
        "features =",
        "[[prices]]",
        "product =",
        "tier =",
        "duration_days =",
        "perpetual =",
        "credits_per_period =",
        "topup_credits =",
        "max_machines =",
        "lease_days =",
        "floating =",
        "heartbeat_seconds =",
        "max_deactivations_per_30_days =",
    ] {
        assert!(
            text.contains(setting),
            "examples/tessera.toml lacks `{setting}`"
        );
    }
}

/// `[stripe] mode`: as set, else the API key's mode, else live; a key of the other mode is refused.
#[test]
fn the_stripe_mode_follows_the_setting_or_the_api_key() {
    use tessera_issuer::config::{Config, Environment, StripeMode};

    let mode = |stripe: &str| {
        Config::from_toml_str(&format!("[stripe]\n{stripe}\n"), &Environment::default())
            .map(|config| config.stripe.mode)
            .map_err(|err| err.to_string())
    };
    assert_eq!(mode(""), Ok(StripeMode::Live));
    assert_eq!(mode("secret_key = \"rk_test_1\""), Ok(StripeMode::Test));
    assert_eq!(mode("secret_key = \"sk_live_1\""), Ok(StripeMode::Live));
    assert_eq!(mode("mode = \"test\""), Ok(StripeMode::Test));
    assert_eq!(
        mode("mode = \"live\"\nsecret_key = \"sk_test_1\""),
        Err(
            "config `stripe.mode`: is `live` but the Stripe API key (stripe.secret_key or \
             STRIPE_SECRET_KEY) is a test-mode key"
                .to_owned()
        )
    );
    assert_eq!(
        mode("mode = \"sandbox\""),
        Err("config `stripe.mode`: `sandbox` is not one of `live`, `test`".to_owned())
    );
    let development = Config::load(None, &Environment::default()).unwrap();
    assert_eq!(development.stripe.mode, StripeMode::Test);
}
