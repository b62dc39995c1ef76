//! E-mail delivery of licence keys (`[smtp]`) against a minimal SMTP sink on loopback: sent once,
//! retried with backoff while the server refuses, kept across a restart, and nothing without `[smtp]`;
//! on SQLite and on PostgreSQL, checked by the same assertions.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{json, Value};

use super::harness::{get_json, wait_until, Issuer, OutboxRow, Workspace};
use super::seed::now;
use super::smtp_sink::SmtpSink;
use super::stripe_fixtures::{deliver, event, paid_session, SECRET};
use tessera_issuer::config::{Config, Environment, SmtpTls};

/// How long a test waits for something the issuer does in the background.
const PATIENCE: Duration = Duration::from_secs(15);

/// A catalogue of one yearly licence, webhooks signed with [`SECRET`], and `smtp` as the `[smtp]`
/// section (none if empty).
pub(super) fn config(smtp: &str) -> String {
    format!(
        r#"
[stripe]
mode = "test"
webhook_secrets = ["{SECRET}"]

[[products]]
id = 7
name = "editor"
tiers = ["free", "pro"]
features = ["export", "sync"]

[[prices]]
id = "price_pro_year"
product = "editor"
tier = "pro"
features = ["export", "sync"]
duration_days = 365
{smtp}"#
    )
}

/// `[smtp]` for `sink`: plain text on loopback, one-second base backoff.
pub(super) fn smtp_section(sink: &SmtpSink) -> String {
    format!(
        r#"
[smtp]
host = "127.0.0.1"
port = {}
tls = "none"
from = "Editor Licensing <licences@editor.test>"
subject = "Your {{product}} {{tier}} licence key"
base_backoff_seconds = 1
max_attempts = 20
timeout_seconds = 5
"#,
        sink.port
    )
}

/// Sends a paid one-time checkout for `email`; returns the session id.
pub(super) fn buy(issuer: &Issuer, email: &str) -> (String, Value) {
    let session = paid_session(
        "payment",
        json!({"metadata": {"tessera_price": "price_pro_year"},
               "customer_details": {"email": email}}),
    );
    let id = session["id"].as_str().unwrap().to_owned();
    let event = event("checkout.session.completed", session, now());
    let (status, body) = deliver(issuer, &event);
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("processed")),
        "{body}"
    );
    (id, event)
}

pub(super) fn key_of(issuer: &Issuer, session: &str) -> String {
    let (status, body) =
        get_json(&issuer.url(&format!("/v1/licenses/by-checkout-session/{session}")));
    assert_eq!(status, 200, "{body}");
    body["key"].as_str().expect("a key").to_owned()
}

/// The first outbox row, if any.
fn first_row(workspace: &Workspace) -> Option<OutboxRow> {
    workspace.outbox().into_iter().next()
}

/// Runs `test` with a sink, accepting mail or not, and a workspace whose issuers mail through it: on
/// SQLite, or on a PostgreSQL database of its own if `postgres` (skipped after a notice without
/// PostgreSQL, see [`Workspace::on_postgres`]).
fn with_sink(accepting: bool, postgres: bool, test: impl FnOnce(&SmtpSink, &Workspace)) {
    let sink = SmtpSink::start(accepting);
    let config = config(&smtp_section(&sink));
    let workspace = if postgres {
        Workspace::on_postgres(&config)
    } else {
        Some(Workspace::new(&config))
    };
    if let Some(workspace) = workspace {
        test(&sink, &workspace);
    }
}

fn mails_its_key_once(sink: &SmtpSink, workspace: &Workspace) {
    let issuer = workspace.start();
    let (session, event) = buy(&issuer, "ada@example.com");
    let key = key_of(&issuer, &session);

    wait_until(&[&issuer], "the outbox row to be sent", PATIENCE, || {
        first_row(workspace).is_some_and(|row| row.status == "sent")
    });
    // Stripe delivers the event again: its effect, and so its e-mail, happened once.
    let (status, body) = deliver(&issuer, &event);
    assert_eq!((status, body["status"].as_str()), (200, Some("duplicate")));

    let received = sink.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let message = &received[0];
    assert_eq!(message.recipients, ["ada@example.com"]);
    assert!(
        message.data.contains("To: ada@example.com"),
        "{}",
        message.data
    );
    assert!(message
        .data
        .contains("Subject: Your editor pro licence key"));
    assert!(
        message
            .data
            .contains("From: \"Editor Licensing\" <licences@editor.test>"),
        "{}",
        message.data
    );
    assert!(
        message.data.contains(&format!("\r\n{key}\r\n")),
        "the key, whole on its own line:\n{}",
        message.data
    );
    assert!(message.data.contains("Features: export, sync"));
    assert_eq!(
        workspace.outbox(),
        [OutboxRow {
            to: "ada@example.com".to_owned(),
            status: "sent".to_owned(),
            attempts: 1,
            last_error: None,
        }]
    );
    assert!(!issuer.log().contains(&key), "the key is never logged");
}

#[test]
fn a_paid_checkout_mails_its_key_once_to_the_buyer() {
    with_sink(true, false, mails_its_key_once);
}

#[test]
fn a_paid_checkout_on_postgres_mails_its_key_once_to_the_buyer() {
    with_sink(true, true, mails_its_key_once);
}

fn retries_until_taken(sink: &SmtpSink, workspace: &Workspace) {
    let issuer = workspace.start();
    let (session, _) = buy(&issuer, "grace@example.com");

    wait_until(&[&issuer], "a failed attempt", PATIENCE, || {
        first_row(workspace).is_some_and(|row| {
            row.status == "queued" && row.attempts >= 1 && row.last_error.is_some()
        })
    });
    let error = first_row(workspace).unwrap().last_error.unwrap();
    assert!(error.contains("421"), "the server's refusal is recorded");
    assert!(sink.received().is_empty());

    sink.accepting.store(true, Ordering::SeqCst);
    wait_until(&[&issuer], "the retry to deliver", PATIENCE, || {
        !sink.received().is_empty()
    });
    wait_until(&[&issuer], "the row to be marked sent", PATIENCE, || {
        first_row(workspace).is_some_and(|row| row.status == "sent")
    });
    let attempts = first_row(workspace).unwrap().attempts;
    assert!(attempts >= 2, "{attempts}");
    let received = sink.received();
    assert_eq!(received.len(), 1);
    let key = key_of(&issuer, &session);
    assert!(received[0].data.contains(&key));
    let log = issuer.log();
    assert!(log.contains("licence e-mail not sent; will retry"), "{log}");
    assert!(log.contains("licence e-mail sent"), "{log}");
    assert!(
        !log.contains(&key) && !log.contains("grace@example.com"),
        "{log}"
    );
}

#[test]
fn a_refused_message_is_retried_with_backoff_until_the_server_takes_it() {
    with_sink(false, false, retries_until_taken);
}

#[test]
fn a_refused_message_on_postgres_is_retried_with_backoff_until_the_server_takes_it() {
    with_sink(false, true, retries_until_taken);
}

/// Stopped with mail queued, then started again; on PostgreSQL, the new process has a directory of
/// its own: the queue is in the database alone.
fn survives_a_restart(sink: &SmtpSink, workspace: &Workspace) {
    let issuer = workspace.start();
    let (session, _) = buy(&issuer, "alan@example.com");
    let key = key_of(&issuer, &session);
    wait_until(&[&issuer], "a failed attempt", PATIENCE, || {
        first_row(workspace).is_some_and(|row| row.attempts >= 1)
    });
    assert!(
        issuer.stop(),
        "SIGTERM ends the issuer cleanly with mail queued"
    );
    assert_eq!(first_row(workspace).unwrap().status, "queued");

    sink.accepting.store(true, Ordering::SeqCst);
    let issuer = workspace.start();
    wait_until(&[&issuer], "delivery after the restart", PATIENCE, || {
        first_row(workspace).is_some_and(|row| row.status == "sent")
    });
    let received = sink.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].recipients, ["alan@example.com"]);
    assert!(received[0].data.contains(&key));
}

#[test]
fn a_queued_message_survives_a_restart() {
    with_sink(false, false, survives_a_restart);
}

#[test]
fn a_queued_message_on_postgres_survives_a_restart_into_another_process() {
    with_sink(false, true, survives_a_restart);
}

#[test]
fn without_smtp_nothing_is_queued() {
    let workspace = Workspace::new(&config(""));
    let issuer = workspace.start();
    let (session, _) = buy(&issuer, "edsger@example.com");
    key_of(&issuer, &session);
    assert!(workspace.outbox().is_empty());
    assert!(!issuer.log().contains("e-mail delivery"));
}

/// The commented `[smtp]` section of `examples/tessera.toml`, uncommented, parses; bad settings are
/// refused naming the field.
#[test]
fn smtp_settings_parse_and_bad_ones_name_the_field() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/tessera.toml");
    let example = std::fs::read_to_string(path).expect("examples/tessera.toml");
    let section: String = example
        .lines()
        .skip_while(|line| *line != "# [smtp]")
        .take_while(|line| line.starts_with('#'))
        .map(|line| format!("{}\n", line.strip_prefix("# ").unwrap_or(line)))
        .collect();
    for setting in [
        "[smtp]",
        "host =",
        "port =",
        "tls =",
        "username =",
        "password =",
        "SMTP_PASSWORD",
        "from =",
        "reply_to =",
        "subject =",
        "max_attempts =",
        "base_backoff_seconds =",
        "timeout_seconds =",
    ] {
        assert!(
            section.contains(setting),
            "the example's [smtp] lacks `{setting}`"
        );
    }
    let parse = |text: &str, env: &Environment| Config::from_toml_str(text, env);
    // The example's placeholder password is refused (see validate.rs); a real one in its place.
    let section = section.replace("\"REPLACE_ME\"", "\"own-password\"");
    let smtp = parse(&section, &Environment::default())
        .unwrap_or_else(|err| panic!("{section}\n{err}"))
        .smtp
        .expect("[smtp]");
    assert_eq!((smtp.host.as_str(), smtp.port), ("smtp.example.com", 587));
    assert_eq!(smtp.tls, SmtpTls::StartTls);
    assert_eq!(smtp.from.email.to_string(), "licences@acme.example");
    assert_eq!(smtp.password.as_ref().unwrap().expose(), "own-password");
    assert!(
        !format!("{smtp:?}").contains("own-password"),
        "the password is not in Debug"
    );
    let env = Environment {
        smtp_password: Some("from-env".into()),
        ..Environment::default()
    };
    let smtp = parse(&section, &env).unwrap().smtp.unwrap();
    assert_eq!(smtp.password.unwrap().expose(), "from-env");

    // A bare section takes the defaults.
    let minimal = "[smtp]\nhost = \"mail.test\"\nfrom = \"a@b.test\"\n";
    let smtp = parse(minimal, &Environment::default())
        .unwrap()
        .smtp
        .unwrap();
    assert_eq!(
        (smtp.port, smtp.tls, smtp.max_attempts),
        (587, SmtpTls::StartTls, 10)
    );
    assert_eq!(smtp.subject, "Your {product} licence key");

    for (text, field) in [
        ("[smtp]\nfrom = \"a@b.test\"\n", "smtp.host"),
        ("[smtp]\nhost = \"mail.test\"\n", "smtp.from"),
        ("[smtp]\nhost = \"mail.test\"\nfrom = \"not an address\"\n", "smtp.from"),
        ("[smtp]\nhost = \"h\"\nfrom = \"a@b.test\"\ntls = \"ssl\"\n", "smtp.tls"),
        ("[smtp]\nhost = \"h\"\nfrom = \"a@b.test\"\nreply_to = \"x\"\n", "smtp.reply_to"),
        ("[smtp]\nhost = \"h\"\nfrom = \"a@b.test\"\nusername = \"u\"\n", "smtp.password"),
        ("[smtp]\nhost = \"h\"\nfrom = \"a@b.test\"\npassword = \"p\"\n", "smtp.username"),
        (
            "[smtp]\nhost = \"h\"\nfrom = \"a@b.test\"\ntls = \"none\"\nusername = \"u\"\npassword = \"p\"\n",
            "smtp.tls",
        ),
        ("[smtp]\nhost = \"h\"\nfrom = \"a@b.test\"\nsubject = \"Key for {user}\"\n", "smtp.subject"),
        ("[smtp]\nhost = \"h\"\nfrom = \"a@b.test\"\nmax_attempts = 0\n", "smtp.max_attempts"),
        ("[smtp]\nhost = \"h\"\nfrom = \"a@b.test\"\nbase_backoff_seconds = 0\n", "smtp.base_backoff_seconds"),
    ] {
        let err = parse(text, &Environment::default()).expect_err(text);
        assert_eq!(err.field, field, "{text}: {err}");
    }
}
