//! A key rotation made by one issuer process is used by the others, without a restart: those
//! sharing its data directory (SQLite) or its database (PostgreSQL, where the keys live sealed)
//! each read their signing keys again every `[signing] reload_seconds`. And processes starting at
//! once on an empty PostgreSQL database agree on its first key.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tessera_keys::{LicenseBuffer, PublicKey, UnixTime};
use tessera_verifier::Verifier;

use super::harness::{get_json, http, Issuer, Workspace};
use super::seed::now;
use super::stripe_fixtures::FakeStripe;
use super::webhooks::config;

/// Far longer than the reload interval (2 s by default): only a reload that never comes fails.
const DEADLINE: Duration = Duration::from_secs(60);

/// Asserts that the licence `key` names `signer`'s key id and verifies with `signer` alone.
pub(super) fn assert_signed_by(key: &str, signer: &PublicKey) {
    let mut buf = LicenseBuffer::new();
    let signed = buf.decode_text(key).expect("a licence key");
    assert_eq!(signed.claims.key_id, signer.id);
    let mut buf = LicenseBuffer::new();
    Verifier::new(&[*signer])
        .unwrap()
        .verify(key, UnixTime(now()), &mut buf)
        .expect("signed by that key");
}

/// Status and JSON answer of a POST of `body`, with the admin token if given.
pub(super) fn post(issuer: &Issuer, token: Option<&str>, path: &str, body: &Value) -> (u16, Value) {
    let mut request = http()
        .post(issuer.url(path))
        .header("Content-Type", "application/json");
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let mut response = request
        .send(body.to_string())
        .unwrap_or_else(|err| panic!("POST {path}: {err}"));
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().expect("answer body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// `GET /v1/keys`: the key ids, the active one first, and the active public key.
fn published(issuer: &Issuer) -> (Vec<u64>, String) {
    let (status, body) = get_json(&issuer.url("/v1/keys"));
    assert_eq!(status, 200, "{body}");
    let keys = body["keys"].as_array().expect("keys").clone();
    assert_eq!(keys[0]["active"], true, "{body}");
    assert!(keys[1..].iter().all(|key| key["active"] == false), "{body}");
    let ids = keys.iter().map(|key| key["key_id"].as_u64().unwrap());
    let active = keys[0]["public_key"].as_str().unwrap().to_owned();
    (ids.collect(), active)
}

#[test]
fn a_rotation_on_one_process_signs_on_another_sharing_the_data_directory_within_seconds() {
    let workspace = Workspace::new("");
    let first = workspace.start_embedded_default();
    let second = workspace.start_embedded_default();
    let token = std::fs::read_to_string(workspace.path().join("tessera-data/dev-admin-token"))
        .expect("the development admin token");
    a_rotation_on_the_first_process_signs_on_the_others(&[first, second], token.trim(), "demo-app");
}

#[test]
fn a_rotation_on_one_of_three_processes_on_postgres_signs_on_the_others_within_seconds() {
    // Three processes that share only the database and the key-encryption key, and the admin
    // token through their config.
    let token = format!("tsadm_{}", "7e".repeat(32));
    let digest: String = Sha256::digest(token.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let fake = FakeStripe::start();
    let Some(workspace) = Workspace::on_postgres(&format!(
        "{}\n[admin]\ntokens = [{{ name = \"support\", sha256 = \"{digest}\" }}]\n",
        config(&fake)
    )) else {
        return;
    };
    let issuers: Vec<Issuer> = (0..3).map(|_| workspace.start()).collect();
    a_rotation_on_the_first_process_signs_on_the_others(&issuers, &token, "editor");
}

#[test]
fn three_processes_starting_at_once_on_an_empty_postgres_database_agree_on_one_signing_key() {
    let fake = FakeStripe::start();
    let Some(workspace) = Workspace::on_postgres(&config(&fake)) else {
        return;
    };
    // Each migrates the empty database and makes a first signing key if there is none: only one
    // of each may be kept, and all must then sign with it.
    let issuers: Vec<Issuer> = std::thread::scope(|scope| {
        let starting: Vec<_> = (0..3).map(|_| scope.spawn(|| workspace.start())).collect();
        starting.into_iter().map(|s| s.join().unwrap()).collect()
    });
    let seen: Vec<(Vec<u64>, String)> = issuers.iter().map(published).collect();
    assert_eq!(seen[0].0, [1], "{seen:?}");
    assert!(seen.iter().all(|keys| *keys == seen[0]), "{seen:?}");
    let kept = workspace.store().signing_keys().unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0].public_key.to_string(), seen[0].1);
}

/// Rotates the signing key on the first of `issuers` (all on one key so far, signing licences of
/// `product`) with admin token `token`; every other learns of it without a restart, signs with it,
/// and validates a licence the first signs.
fn a_rotation_on_the_first_process_signs_on_the_others(
    issuers: &[Issuer],
    token: &str,
    product: &str,
) {
    let (first, others) = issuers.split_first().expect("issuers");
    let before = published(first);
    assert_eq!(before.0, [1]);
    for other in others {
        assert_eq!(published(other), before);
    }

    let (status, rotated) = post(
        first,
        Some(token),
        "/v1/admin/keys/rotate",
        &json!({"reason": "rotated on the first process"}),
    );
    assert_eq!(status, 200, "{rotated}");
    let new_id = rotated["active_key_id"].as_u64().unwrap();
    let new_key = rotated["public_key"].as_str().unwrap().to_owned();
    assert_eq!(new_id, 2);
    // A licence the first process signs with it, for the others to validate.
    let (status, from_first) = post(
        first,
        Some(token),
        "/v1/admin/licenses",
        &json!({"product": product, "tier": "pro"}),
    );
    assert_eq!(status, 201, "{from_first}");

    for other in others {
        // It learns of the rotation without a restart.
        let started = Instant::now();
        let seen = loop {
            let seen = published(other);
            if seen.0 == [2, 1] || started.elapsed() > DEADLINE {
                break seen;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!(seen, (vec![2, 1], new_key.clone()), "{}", other.log());

        // And signs with it: a licence it issues now names the new key and verifies with it alone.
        let (status, issued) = post(
            other,
            Some(token),
            "/v1/admin/licenses",
            &json!({"product": product, "tier": "pro", "reason": "after the rotation"}),
        );
        assert_eq!(status, 201, "{issued}");
        let signer = PublicKey::from_text(&new_key).unwrap();
        assert_eq!(u64::from(signer.id), new_id);
        assert_signed_by(issued["key"].as_str().unwrap(), &signer);
        // It trusts the new key for validation too.
        let (status, answer) = post(
            other,
            None,
            "/v1/licenses/validate",
            &json!({"key": from_first["key"]}),
        );
        assert_eq!((status, &answer["valid"]), (200, &json!(true)), "{answer}");
    }
}
