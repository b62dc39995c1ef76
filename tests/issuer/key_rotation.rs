//! A key rotation made by one issuer process is used by another sharing its data directory,
//! without a restart: each reads its signing keys again every `[signing] reload_seconds`.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tessera_keys::{LicenseBuffer, PublicKey, UnixTime};
use tessera_verifier::Verifier;

use super::harness::{get_json, http, Issuer, Workspace};
use super::seed::now;

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
    let token = token.trim();
    let before = published(&second);
    assert_eq!(published(&first), before);
    assert_eq!(before.0, [1]);

    let (status, rotated) = post(
        &first,
        Some(token),
        "/v1/admin/keys/rotate",
        &json!({"reason": "rotated on the first process"}),
    );
    assert_eq!(status, 200, "{rotated}");
    let new_id = rotated["active_key_id"].as_u64().unwrap();
    let new_key = rotated["public_key"].as_str().unwrap().to_owned();
    assert_eq!(new_id, 2);

    // The second process learns of it without a restart.
    let started = Instant::now();
    let seen = loop {
        let seen = published(&second);
        if seen.0 == [2, 1] || started.elapsed() > DEADLINE {
            break seen;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(seen, (vec![2, 1], new_key.clone()), "{}", second.log());

    // And signs with it: a licence it issues now names the new key and verifies with it alone.
    let (status, issued) = post(
        &second,
        Some(token),
        "/v1/admin/licenses",
        &json!({"product": "demo-app", "tier": "pro", "reason": "after the rotation"}),
    );
    assert_eq!(status, 201, "{issued}");
    let signer = PublicKey::from_text(&new_key).unwrap();
    assert_eq!(u64::from(signer.id), new_id);
    assert_signed_by(issued["key"].as_str().unwrap(), &signer);
    // The second process trusts it for validation too: a licence the first signs checks out there.
    let (status, from_first) = post(
        &first,
        Some(token),
        "/v1/admin/licenses",
        &json!({"product": "demo-app", "tier": "pro"}),
    );
    assert_eq!(status, 201, "{from_first}");
    let (status, answer) = post(
        &second,
        None,
        "/v1/licenses/validate",
        &json!({"key": from_first["key"]}),
    );
    assert_eq!((status, &answer["valid"]), (200, &json!(true)), "{answer}");
}
