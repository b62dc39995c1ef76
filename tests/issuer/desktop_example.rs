//! `examples/desktop_app.rs` against the real issuer, signing with the example's DEMO key: the app
//! activates on first run, verifies offline afterwards, and, when the licence's one seat is held by
//! another machine, lists it and says how to free it; once it is freed, the app activates.

use serde_json::json;
use tessera_keys::{SigningKey, UnixTime};

use super::harness::{http, Workspace};
use super::machines::{buy, offline_request};
use super::seed::now;
use super::stripe_fixtures::FakeStripe;
use super::webhooks::config;

// The example is a binary; including its source is the way to call its `run`.
#[allow(dead_code)]
#[path = "../../examples/desktop_app.rs"]
mod desktop_app;

/// The DEMO key's seed, published in `examples/make_demo_licenses.rs`: the key the example trusts.
const DEMO_SEED: [u8; 32] = *b"TESSERA-DEMO-SEED-NOT-FOR-PROD!!";

/// An issuer selling the example's product with one seat per licence, signing with the demo key
/// (kept in the directory returned beside it).
fn demo_workspace(fake: &FakeStripe) -> (Workspace, tempfile::TempDir) {
    let scratch = tempfile::tempdir().expect("temporary directory");
    let key_file = scratch.path().join("demo.key");
    SigningKey::from_seed(1, &DEMO_SEED)
        .write_file(&key_file)
        .expect("write the demo key");
    let workspace = Workspace::new(&format!(
        r#"{}
[[products]]
id = {}
name = "{}"
tiers = ["free", "pro", "team"]
features = ["export", "sync", "plugins", "themes", "cloud-backup"]

[[prices]]
id = "price_demo_one_seat"
product = "{}"
tier = "pro"
features = ["export"]
perpetual = true
max_machines = 1
lease_days = 30

[signing]
key_file = "{}"
"#,
        config(fake),
        desktop_app::EDITOR.id,
        desktop_app::EDITOR.name,
        desktop_app::EDITOR.name,
        key_file.display()
    ));
    (workspace, scratch)
}

#[test]
fn the_desktop_example_activates_verifies_offline_and_explains_a_full_licence() {
    let fake = FakeStripe::start();
    let (workspace, _demo_key) = demo_workspace(&fake);
    let issuer = workspace.start();
    let (_license, key) = buy(&issuer, "price_demo_one_seat");
    let dir = tempfile::tempdir().expect("temporary directory");
    let licence = dir.path().join("licence.txt");
    std::fs::write(&licence, format!("{key}\n")).expect("save the key");
    let licence = licence.to_str().expect("UTF-8 path").to_owned();
    let run = |args: &[&str]| {
        let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
        desktop_app::run(&args)
    };

    // Another machine holds the one seat (activated air-gapped).
    let mut answer = http()
        .post(&issuer.url("/v1/machines/offline"))
        .header("content-type", "application/json")
        .send(json!({ "request": offline_request(&key, 1) }).to_string())
        .expect("offline activation");
    assert_eq!(answer.status().as_u16(), 201);
    let other: serde_json::Value =
        serde_json::from_str(&answer.body_mut().read_to_string().unwrap()).unwrap();
    let other_id = other["machine"]["id"].as_str().unwrap().to_owned();

    // Offline, the app says how to activate; online, that the seat is taken, by which machine.
    let (code, message) = run(&[&licence]).expect_err("not activated");
    assert_eq!(code, 1);
    assert!(message.contains("must be activated"), "{message}");
    let (code, message) = run(&["--issuer", issuer.base_url(), &licence]).expect_err("seat taken");
    assert_eq!(code, 1);
    assert!(
        message.contains("already in use on 1 computer(s)")
            && message.contains(&other_id)
            && message.contains("air-gapped")
            && message.contains("tessera deactivate"),
        "{message}"
    );

    // The customer frees it (as `tessera deactivate` does); the app activates and saves the
    // certificate.
    let key_header: String = key.split_whitespace().collect();
    let freed = http()
        .delete(&issuer.url(&format!("/v1/machines/{other_id}")))
        .header("authorization", &format!("License {key_header}"))
        .call()
        .expect("deactivate");
    assert_eq!(freed.status().as_u16(), 204);
    let screen = run(&["--issuer", issuer.base_url(), &licence]).expect("activated");
    assert!(screen.contains("Export to PDF: enabled"), "{screen}");
    assert!(
        screen.contains("machine:  activated; works offline until")
            && screen.contains("(30 days left)"),
        "{screen}"
    );
    let certificate = std::fs::read_to_string(format!("{licence}.machine")).expect("saved");
    assert!(certificate.starts_with("tsm1_"), "{certificate}");

    // From then on it works offline.
    let screen = run(&[&licence]).expect("licensed offline");
    assert!(screen.contains("machine:  activated"), "{screen}");

    // Near the end of the lease (the app's clock 25 days on), it renews by heart-beating. Last,
    // since the app then keeps that later time as the latest it has seen.
    let later = (UnixTime(now()).plus_seconds(25 * 86_400)).to_string();
    let later = later.split('T').next().expect("a date");
    let screen = run(&["--now", later, "--issuer", issuer.base_url(), &licence]).expect("renewed");
    assert!(
        screen.contains("(Renewed this computer's activation online.)"),
        "{screen}"
    );
    assert!(screen.contains("machine:  activated"), "{screen}");
    // The issuer gone, the renewed certificate still works at that time.
    drop(issuer);
    let screen = run(&["--now", later, &licence]).expect("licensed offline");
    assert!(screen.contains("machine:  activated"), "{screen}");
}
