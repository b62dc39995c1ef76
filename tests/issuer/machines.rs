//! Machine activation end to end: seats taken and freed through the real issuer (on SQLite, and
//! with two processes on one PostgreSQL database), certificates verified offline with the
//! verifier, floating seats freed by the sweeper, air-gapped requests, revocation, and support's
//! audited changes.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tessera_keys::{
    activation_request_text, ActivationRequest, Fingerprint, LicenseBuffer, LicenseId, PublicKey,
    UnixTime, LICENSE_DOMAIN,
};
use tessera_verifier::{ActivationBuffers, Verifier, VerifyError};

use super::harness::{get_json, http, Issuer, Workspace};
use super::seed::now;
use super::stripe_fixtures::{deliver, event, paid_session, unique, FakeStripe};
use super::webhooks::{config, licence};

/// The admin token of every workspace here (and of `machines_cli`, which uses these workspaces).
pub(super) const ADMIN_TOKEN: &str =
    "tsadm_5ea75ea75ea75ea75ea75ea75ea75ea75ea75ea75ea75ea75ea75ea75ea7";

/// The product of [`config`]'s catalogue.
const PRODUCT: u32 = 7;

/// [`config`]'s catalogue with two plans that need activation, and an admin token.
pub(super) fn seats_config(fake: &FakeStripe) -> String {
    let digest: String = Sha256::digest(ADMIN_TOKEN.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!(
        r#"{}
[[prices]]
id = "price_three_seats"
product = "editor"
tier = "pro"
features = ["export"]
perpetual = true
max_machines = 3
lease_days = 30
max_deactivations_per_30_days = 2

[[prices]]
id = "price_floating"
product = "editor"
tier = "team"
perpetual = true
max_machines = 1
floating = true
# Short, yet long enough that the requests made before the machine stops heart-beating all fall
# within its first 10 s on a busy machine.
heartbeat_seconds = 5

[admin]
tokens = [{{ name = "support", sha256 = "{digest}" }}]
"#,
        config(fake)
    )
}

pub(super) fn workspace() -> (Workspace, FakeStripe) {
    let fake = FakeStripe::start();
    (Workspace::new(&seats_config(&fake)), fake)
}

/// A licence bought at `price`: `(licence id, key)`.
pub(super) fn buy(issuer: &Issuer, price: &str) -> (String, String) {
    let session = paid_session(
        "payment",
        json!({"payment_intent": unique("pi"), "metadata": {"tessera_price": price}}),
    );
    let id = session["id"].as_str().unwrap().to_owned();
    let (status, body) = deliver(issuer, &event("checkout.session.completed", session, now()));
    assert_eq!(status, 200, "{body}");
    let served = licence(issuer, &id);
    (
        served["license"]["id"].as_str().unwrap().to_owned(),
        served["key"].as_str().unwrap().to_owned(),
    )
}

/// Who sends a request.
#[derive(Clone, Copy)]
enum As<'a> {
    Nobody,
    License(&'a str),
    Admin,
}

/// Status and JSON body (`Null` when empty) of `method base_url+path` with `body`.
fn call(
    base_url: &str,
    method: &str,
    path: &str,
    who: As<'_>,
    body: Option<Value>,
) -> (u16, Value) {
    let agent = http();
    let url = format!("{base_url}{path}");
    let authorization = match who {
        As::Nobody => None,
        As::License(key) => Some(format!("License {key}")),
        As::Admin => Some(format!("Bearer {ADMIN_TOKEN}")),
    };
    let mut response = match method {
        "GET" | "DELETE" => {
            let mut request = if method == "GET" {
                agent.get(&url)
            } else {
                agent.delete(&url)
            };
            if let Some(value) = &authorization {
                request = request.header("authorization", value);
            }
            request.call()
        }
        _ => {
            let mut request = agent.post(&url).header("content-type", "application/json");
            if let Some(value) = &authorization {
                request = request.header("authorization", value);
            }
            request.send(body.unwrap_or(json!({})).to_string())
        }
    }
    .unwrap_or_else(|err| panic!("{method} {path}: {err}"));
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().expect("body");
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, value)
}

/// Machine `n`'s fingerprint, as `tessera fingerprint` prints it.
pub(super) fn fingerprint(n: u32) -> Fingerprint {
    Fingerprint::of_machine_id(PRODUCT, format!("machine-{n}").as_bytes())
}

fn hex(fingerprint: &Fingerprint) -> String {
    fingerprint.to_hex().as_str().to_owned()
}

/// `POST /v1/machines` for machine `n`.
fn activate(base_url: &str, key: &str, n: u32) -> (u16, Value) {
    call(
        base_url,
        "POST",
        "/v1/machines",
        As::License(key),
        Some(
            json!({"fingerprint": hex(&fingerprint(n)), "name": format!("box {n}"),
                    "platform": "linux"}),
        ),
    )
}

/// `POST /v1/machines/{id}/heartbeat` with `key`.
fn heartbeat(base_url: &str, key: &str, id: &str) -> (u16, Value) {
    call(
        base_url,
        "POST",
        &format!("/v1/machines/{id}/heartbeat"),
        As::License(key),
        None,
    )
}

/// `POST /v1/machines/offline` with the activation request `request` (no credential).
fn activate_offline(base_url: &str, request: &str) -> (u16, Value) {
    call(
        base_url,
        "POST",
        "/v1/machines/offline",
        As::Nobody,
        Some(json!({"request": request})),
    )
}

/// Asserts that an answer (`status`, `body`) is the error `code` with status `expected`.
#[track_caller]
fn assert_refused(status: u16, body: &Value, expected: u16, code: &str) {
    assert_eq!((status, &body["error"]), (expected, &json!(code)), "{body}");
}

/// The public keys the issuer publishes.
fn public_keys(issuer: &Issuer) -> Vec<PublicKey> {
    let (status, body) = get_json(&issuer.url("/v1/keys"));
    assert_eq!(status, 200, "{body}");
    body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| PublicKey::from_text(key["public_key"].as_str().unwrap()).unwrap())
        .collect()
}

/// Verifies `key` with `certificate` on machine `fingerprint`, offline, as an app does.
pub(super) fn verify_offline(
    issuer: &Issuer,
    key: &str,
    certificate: &str,
    fingerprint: &Fingerprint,
) -> Result<Option<u64>, VerifyError> {
    let keys = public_keys(issuer);
    let verifier = Verifier::new(&keys).unwrap();
    let mut bufs = ActivationBuffers::new();
    verifier
        .verify_activated(
            key,
            certificate,
            fingerprint,
            UnixTime(now()),
            None,
            &mut bufs,
        )
        .map(|activated| activated.lease_days_left())
}

/// The licence key's binary form, as an activation request carries it.
fn key_bytes(key: &str) -> Vec<u8> {
    let mut buf = LicenseBuffer::new();
    let signed = buf.decode_text(key).unwrap();
    [
        &signed.signed_message[LICENSE_DOMAIN.len()..],
        &signed.signature[..],
    ]
    .concat()
}

/// The `tsq1_` request machine `n` shows for `key`.
pub(super) fn offline_request(key: &str, n: u32) -> String {
    let license = key_bytes(key);
    activation_request_text(&ActivationRequest {
        fingerprint: fingerprint(n),
        license: &license,
        name: Some("air-gapped"),
        platform: Some("linux"),
    })
    .unwrap()
}

/// Activates machines `0..50` at once, spread over `issuers`, against a licence of three seats:
/// exactly three get certificates, the others `409 too_many_machines` naming three machines.
fn fifty_machines_race_for_three_seats(workspace: &Workspace, issuers: &[Issuer]) {
    let (license, key) = buy(&issuers[0], "price_three_seats");
    let urls: Vec<String> = issuers.iter().map(|i| i.base_url().to_owned()).collect();
    let answers: Vec<(u16, Value)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..50u32)
            .map(|n| {
                let (url, key) = (&urls[n as usize % urls.len()], &key);
                scope.spawn(move || activate(url, key, n))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let created: Vec<&Value> = answers
        .iter()
        .filter(|(status, _)| *status == 201)
        .map(|(_, body)| body)
        .collect();
    let refused = answers.iter().filter(|(status, body)| {
        *status == 409
            && body["error"] == "too_many_machines"
            && body["max_machines"] == 3
            && body["machines"].as_array().is_some_and(|m| m.len() == 3)
    });
    assert_eq!(created.len(), 3, "{answers:?}");
    assert_eq!(refused.count(), 47, "{answers:?}");
    for body in &created {
        assert!(body["certificate"].as_str().unwrap().starts_with("tsm1_"));
    }
    let id = LicenseId::from_hex(&license).unwrap();
    let active = workspace.store().machines(&id, true).unwrap();
    assert_eq!(active.len(), 3, "{active:?}");
}

#[test]
fn fifty_concurrent_activations_against_three_seats_give_three_certificates() {
    let (workspace, _fake) = workspace();
    let issuer = workspace.start();
    fifty_machines_race_for_three_seats(&workspace, &[issuer]);
}

#[test]
fn fifty_concurrent_activations_on_two_processes_sharing_postgres_give_three_certificates() {
    let fake = FakeStripe::start();
    let Some(workspace) = Workspace::on_postgres(&seats_config(&fake)) else {
        return;
    };
    let issuers = [workspace.start(), workspace.start()];
    fifty_machines_race_for_three_seats(&workspace, &issuers);
}

#[test]
fn the_same_machine_activating_again_keeps_its_id_and_its_certificate_verifies_offline() {
    let (workspace, _fake) = workspace();
    let issuer = workspace.start();
    let (_, key) = buy(&issuer, "price_three_seats");

    let (status, first) = activate(issuer.base_url(), &key, 1);
    assert_eq!(status, 201, "{first}");
    let machine = &first["machine"];
    assert!(machine["id"].as_str().unwrap().starts_with("m_"));
    assert_eq!(machine["fingerprint"], hex(&fingerprint(1)));
    assert_eq!(machine["name"], "box 1");
    assert_eq!(machine["platform"], "linux");
    let lease = machine["lease_ends_at"].as_u64().unwrap();
    assert!(lease >= now() + 29 * 86_400, "a 30-day lease: {machine}");

    let (status, again) = activate(issuer.base_url(), &key, 1);
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["machine"]["id"], machine["id"]);

    let certificate = again["certificate"].as_str().unwrap();
    // The plan's keys carry requires_activation: the key alone is refused offline.
    let verifier = Verifier::new(&public_keys(&issuer)).unwrap();
    assert!(matches!(
        verifier.verify(&key, UnixTime(now()), &mut LicenseBuffer::new()),
        Err(VerifyError::ActivationRequired)
    ));
    let days_left = verify_offline(&issuer, &key, certificate, &fingerprint(1)).unwrap();
    assert!(days_left.is_some_and(|days| days >= 29), "{days_left:?}");
    assert!(matches!(
        verify_offline(&issuer, &key, certificate, &fingerprint(2)),
        Err(VerifyError::CertificateForAnotherMachine)
    ));

    let (status, list) = call(
        issuer.base_url(),
        "GET",
        "/v1/machines",
        As::License(&key),
        None,
    );
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["max_machines"], 3);
    assert_eq!(list["floating"], false);
    assert_eq!(list["machines"].as_array().unwrap().len(), 1, "{list}");
}

#[test]
fn deactivation_frees_a_seat_within_the_plans_cap() {
    let (workspace, _fake) = workspace();
    let issuer = workspace.start();
    let (_, key) = buy(&issuer, "price_three_seats");
    let ids: Vec<String> = (0..3)
        .map(|n| {
            let (status, body) = activate(issuer.base_url(), &key, n);
            assert_eq!(status, 201, "{body}");
            body["machine"]["id"].as_str().unwrap().to_owned()
        })
        .collect();
    let (status, full) = activate(issuer.base_url(), &key, 3);
    assert_eq!(status, 409, "{full}");

    let delete = |id: &str| {
        call(
            issuer.base_url(),
            "DELETE",
            &format!("/v1/machines/{id}"),
            As::License(&key),
            None,
        )
    };
    assert_eq!(delete(&ids[0]).0, 204);
    assert_eq!(activate(issuer.base_url(), &key, 3).0, 201);
    // A retried deactivation changes nothing more.
    assert_eq!(delete(&ids[0]).0, 204);
    assert_eq!(delete(&ids[1]).0, 204);
    // The plan allows two in 30 days.
    let (status, body) = delete(&ids[2]);
    assert_refused(status, &body, 429, "too_many_deactivations");
    let (status, body) = delete("m_00000000000000000000dead");
    assert_refused(status, &body, 404, "machine_not_found");
    let (status, body) = delete("not-a-machine");
    assert_eq!(status, 404, "{body}");

    // Another licence's key cannot touch these machines.
    let (_, other) = buy(&issuer, "price_three_seats");
    let (status, _) = call(
        issuer.base_url(),
        "DELETE",
        &format!("/v1/machines/{}", ids[2]),
        As::License(&other),
        None,
    );
    assert_eq!(status, 404);
    let beat = heartbeat(issuer.base_url(), &key, &ids[0]);
    assert_eq!(beat.0, 404, "a freed machine activates again: {}", beat.1);
}

#[test]
fn bad_activations_are_refused_with_their_own_codes() {
    let (workspace, _fake) = workspace();
    let issuer = workspace.start();
    let (_, plain) = buy(&issuer, "price_pro_forever");
    let (status, body) = activate(issuer.base_url(), &plain, 1);
    assert_refused(status, &body, 422, "activation_not_required");

    let (_, key) = buy(&issuer, "price_three_seats");
    for (body, code) in [
        (json!({"fingerprint": "abc"}), "invalid_fingerprint"),
        (
            json!({"fingerprint": hex(&fingerprint(1)), "name": "x".repeat(65)}),
            "invalid_name",
        ),
        (
            json!({"fingerprint": hex(&fingerprint(1)), "platform": "p\u{7}"}),
            "invalid_platform",
        ),
    ] {
        let (status, answer) = call(
            issuer.base_url(),
            "POST",
            "/v1/machines",
            As::License(&key),
            Some(body),
        );
        assert_refused(status, &answer, 422, code);
    }
    let (status, body) = call(
        issuer.base_url(),
        "POST",
        "/v1/machines",
        As::Nobody,
        Some(json!({"fingerprint": hex(&fingerprint(1))})),
    );
    assert_refused(status, &body, 401, "missing_credentials");
}

#[test]
fn floating_seats_are_freed_by_the_sweeper_after_missed_heartbeats_across_a_restart() {
    let (workspace, _fake) = workspace();
    let issuer = workspace.start();
    let (license, key) = buy(&issuer, "price_floating");
    let (status, first) = activate(issuer.base_url(), &key, 1);
    assert_eq!(status, 201, "{first}");
    let id = first["machine"]["id"].as_str().unwrap().to_owned();
    let lease = first["machine"]["lease_ends_at"].as_u64().unwrap();
    assert!(
        lease <= now() + 10,
        "a floating lease is two heartbeats: {first}"
    );
    let (status, full) = activate(issuer.base_url(), &key, 2);
    assert_eq!(status, 409, "{full}");
    let (status, beat) = heartbeat(issuer.base_url(), &key, &id);
    assert_eq!(status, 200, "{beat}");
    assert_eq!(beat["machine"]["id"], json!(id));
    assert!(beat["certificate"].as_str().unwrap().starts_with("tsm1_"));

    // The machine stops heart-beating; the issuer restarts meanwhile: the lapse is in the database.
    drop(issuer);
    let issuer = workspace.start();
    let license = LicenseId::from_hex(&license).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let machine = workspace.store().machine(&id).unwrap().unwrap();
        if machine.deactivated_at.is_some() {
            assert_eq!(
                machine.deactivated_how,
                Some(tessera_issuer::store::Deactivation::Lapsed)
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the sweeper never freed the seat"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(workspace
        .store()
        .machines(&license, true)
        .unwrap()
        .is_empty());
    let (status, body) = heartbeat(issuer.base_url(), &key, &id);
    assert_refused(status, &body, 404, "machine_not_found");
    let (status, second) = activate(issuer.base_url(), &key, 2);
    assert_eq!(status, 201, "{second}");
}

#[test]
fn an_offline_request_round_trips_to_a_certificate_that_verifies() {
    let (workspace, _fake) = workspace();
    let issuer = workspace.start();
    let (_, key) = buy(&issuer, "price_three_seats");
    let request = offline_request(&key, 9);
    let (status, body) = activate_offline(issuer.base_url(), &request);
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["machine"]["name"], "air-gapped");
    let certificate = body["certificate"].as_str().unwrap();
    assert!(verify_offline(&issuer, &key, certificate, &fingerprint(9)).is_ok());
    // The same request again: the same machine.
    let (status, again) = activate_offline(issuer.base_url(), &request);
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["machine"]["id"], body["machine"]["id"]);

    for garbage in ["tsq1_AAAA", "hello", &"tsq1_".repeat(2000)] {
        let (status, body) = activate_offline(issuer.base_url(), garbage);
        assert_refused(status, &body, 400, "invalid_request");
    }
}

#[test]
fn a_revoked_licence_cannot_activate_or_heartbeat_and_frees_nothing() {
    let (workspace, _fake) = workspace();
    let issuer = workspace.start();
    let (license, key) = buy(&issuer, "price_three_seats");
    let (status, body) = activate(issuer.base_url(), &key, 1);
    assert_eq!(status, 201, "{body}");
    let id = body["machine"]["id"].as_str().unwrap().to_owned();
    let (status, revoked) = call(
        issuer.base_url(),
        "POST",
        &format!("/v1/admin/licenses/{license}/revoke"),
        As::Admin,
        Some(json!({"reason": "chargeback"})),
    );
    assert_eq!(status, 200, "{revoked}");

    let (status, body) = activate(issuer.base_url(), &key, 2);
    assert_refused(status, &body, 403, "revoked");
    let (status, body) = heartbeat(issuer.base_url(), &key, &id);
    assert_refused(status, &body, 403, "revoked");
    let (status, body) = activate_offline(issuer.base_url(), &offline_request(&key, 3));
    assert_refused(status, &body, 403, "revoked");
    let license = LicenseId::from_hex(&license).unwrap();
    assert_eq!(workspace.store().machines(&license, true).unwrap().len(), 1);
}

#[test]
fn support_changes_seats_deactivates_and_activates_offline_each_audited() {
    let (workspace, _fake) = workspace();
    let issuer = workspace.start();
    let (license, key) = buy(&issuer, "price_three_seats");
    let (status, first) = activate(issuer.base_url(), &key, 1);
    assert_eq!(status, 201, "{first}");
    let first_id = first["machine"]["id"].as_str().unwrap().to_owned();
    let admin = |method: &str, path: &str, body: Option<Value>| {
        call(issuer.base_url(), method, path, As::Admin, body)
    };

    let (status, body) = admin(
        "POST",
        &format!("/v1/admin/licenses/{license}/seats"),
        Some(json!({"max_machines": 1, "reason": "downgraded by phone"})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["seats"]["max_machines"], 1);
    let (status, body) = admin(
        "POST",
        &format!("/v1/admin/licenses/{license}/seats"),
        Some(json!({"max_machines": 1})),
    );
    assert_refused(status, &body, 422, "reason_required");
    let (status, full) = activate(issuer.base_url(), &key, 2);
    assert_eq!(status, 409, "{full}");

    let (status, body) = admin(
        "POST",
        &format!("/v1/admin/machines/{first_id}/deactivate"),
        Some(json!({"reason": "old laptop stolen"})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["machine"]["deactivated_how"], "admin");
    let (status, body) = admin(
        "POST",
        "/v1/admin/machines/offline",
        Some(json!({"request": offline_request(&key, 2), "reason": "air-gapped lab"})),
    );
    assert_eq!(status, 201, "{body}");
    let certificate = body["certificate"].as_str().unwrap();
    assert!(verify_offline(&issuer, &key, certificate, &fingerprint(2)).is_ok());
    let second_id = body["machine"]["id"].as_str().unwrap().to_owned();
    // The seat limit applies to support too.
    let (status, body) = admin(
        "POST",
        "/v1/admin/machines/offline",
        Some(json!({"request": offline_request(&key, 3), "reason": "another"})),
    );
    assert_refused(status, &body, 409, "too_many_machines");

    let (status, shown) = admin("GET", &format!("/v1/admin/machines/{second_id}"), None);
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["machine"]["active"], true);
    let (status, detail) = admin("GET", &format!("/v1/admin/licenses/{license}"), None);
    assert_eq!(status, 200, "{detail}");
    let machines = detail["machines"]["machines"].as_array().unwrap();
    assert_eq!(machines.len(), 2, "{detail}");
    assert_eq!(detail["machines"]["active"], 1);
    let (status, listed) = admin(
        "GET",
        &format!("/v1/admin/licenses/{license}/machines"),
        None,
    );
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["machines"], detail["machines"]["machines"]);

    let (status, audit) = admin("GET", &format!("/v1/admin/audit?license={license}"), None);
    assert_eq!(status, 200, "{audit}");
    let entries: Vec<(String, String)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["reason"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    for expected in [
        ("license.seats", "downgraded by phone"),
        ("machine.deactivate", "old laptop stolen"),
        ("machine.activate", "air-gapped lab"),
    ] {
        assert!(
            entries
                .iter()
                .any(|(a, r)| (a.as_str(), r.as_str()) == expected),
            "{expected:?} not in {entries:?}"
        );
    }
    // The refused activation left no audit entry.
    assert_eq!(
        entries
            .iter()
            .filter(|(a, _)| a == "machine.activate")
            .count(),
        1
    );
}
