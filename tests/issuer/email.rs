//! E-mail delivery of licence keys (`[smtp]`) against a minimal SMTP sink on loopback: sent once,
//! retried with backoff while the server refuses, kept across a restart, and nothing without `[smtp]`.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::harness::{get_json, Issuer, Workspace};
use super::seed::now;
use super::stripe_fixtures::{deliver, event, paid_session, SECRET};
use tessera_issuer::config::{Config, Environment, SmtpTls};

/// How long a test waits for something the issuer does in the background.
const PATIENCE: Duration = Duration::from_secs(15);

/// One message as the sink received it.
#[derive(Clone, Debug)]
struct Received {
    recipients: Vec<String>,
    data: String,
}

/// A minimal SMTP server on an ephemeral loopback port that stores what it receives. While
/// `accepting` is false it answers every connection `421` (service not available) and hangs up.
#[derive(Clone)]
struct SmtpSink {
    port: u16,
    accepting: Arc<AtomicBool>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl SmtpSink {
    fn start(accepting: bool) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind SMTP sink");
        let sink = SmtpSink {
            port: listener.local_addr().unwrap().port(),
            accepting: Arc::new(AtomicBool::new(accepting)),
            received: Arc::default(),
        };
        let server = sink.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let server = server.clone();
                std::thread::spawn(move || {
                    let _ = server.converse(stream);
                });
            }
        });
        sink
    }

    fn converse(&self, stream: TcpStream) -> std::io::Result<()> {
        // A stuck client cannot keep the thread: every read gives up after a few seconds.
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut out = stream.try_clone()?;
        if !self.accepting.load(Ordering::SeqCst) {
            return out.write_all(b"421 4.3.2 sink.test not accepting mail yet\r\n");
        }
        out.write_all(b"220 sink.test ESMTP test sink\r\n")?;
        let mut reader = BufReader::new(stream);
        let mut recipients = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let command = line.trim_end().to_ascii_uppercase();
            let answer: &[u8] = if command.starts_with("EHLO") || command.starts_with("HELO") {
                b"250 sink.test\r\n"
            } else if command.starts_with("MAIL FROM:") {
                recipients.clear();
                b"250 2.1.0 ok\r\n"
            } else if command.starts_with("RCPT TO:") {
                let address = line.trim_end()["RCPT TO:".len()..].trim();
                recipients.push(address.trim_matches(['<', '>']).to_owned());
                b"250 2.1.5 ok\r\n"
            } else if command == "DATA" {
                out.write_all(b"354 end with <CRLF>.<CRLF>\r\n")?;
                let mut data = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line)? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" {
                        break;
                    }
                    // Undo dot-stuffing.
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                self.received.lock().unwrap().push(Received {
                    recipients: std::mem::take(&mut recipients),
                    data,
                });
                b"250 2.0.0 queued\r\n"
            } else if command == "QUIT" {
                return out.write_all(b"221 2.0.0 bye\r\n");
            } else if command == "RSET" || command == "NOOP" {
                b"250 2.0.0 ok\r\n"
            } else {
                b"502 5.5.2 not implemented\r\n"
            };
            out.write_all(answer)?;
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// A catalogue of one yearly licence, webhooks signed with [`SECRET`], and `smtp` as the `[smtp]`
/// section (none if empty).
fn config(smtp: &str) -> String {
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
fn smtp_section(sink: &SmtpSink) -> String {
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
fn buy(issuer: &Issuer, email: &str) -> (String, Value) {
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

fn key_of(issuer: &Issuer, session: &str) -> String {
    let (status, body) =
        get_json(&issuer.url(&format!("/v1/licenses/by-checkout-session/{session}")));
    assert_eq!(status, 200, "{body}");
    body["key"].as_str().expect("a key").to_owned()
}

/// `(status, attempts, last_error)` of every outbox row, oldest first.
fn outbox(workspace: &Workspace) -> Vec<(String, i64, Option<String>)> {
    let conn = rusqlite::Connection::open_with_flags(
        workspace.path().join("data/tessera.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open the issuer's database");
    let mut stmt = conn
        .prepare("SELECT status, attempts, last_error FROM email_outbox ORDER BY id")
        .unwrap();
    stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Waits until `done` holds, or fails naming `what` (with the issuer's log).
fn wait_until(issuer: &Issuer, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < PATIENCE,
            "timed out waiting for {what}; issuer log:\n{}",
            issuer.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_paid_checkout_mails_its_key_once_to_the_buyer() {
    let sink = SmtpSink::start(true);
    let workspace = Workspace::new(&config(&smtp_section(&sink)));
    let issuer = workspace.start();
    let (session, event) = buy(&issuer, "ada@example.com");
    let key = key_of(&issuer, &session);

    wait_until(&issuer, "the outbox row to be sent", || {
        outbox(&workspace)
            .first()
            .is_some_and(|row| row.0 == "sent")
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
    assert_eq!(outbox(&workspace), [("sent".to_owned(), 1, None)]);
    assert!(!issuer.log().contains(&key), "the key is never logged");
}

#[test]
fn a_refused_message_is_retried_with_backoff_until_the_server_takes_it() {
    let sink = SmtpSink::start(false);
    let workspace = Workspace::new(&config(&smtp_section(&sink)));
    let issuer = workspace.start();
    let (session, _) = buy(&issuer, "grace@example.com");

    wait_until(&issuer, "a failed attempt", || {
        outbox(&workspace)
            .first()
            .is_some_and(|row| row.0 == "queued" && row.1 >= 1 && row.2.is_some())
    });
    let (_, _, error) = outbox(&workspace).remove(0);
    assert!(
        error.unwrap().contains("421"),
        "the server's refusal is recorded"
    );
    assert!(sink.received().is_empty());

    sink.accepting.store(true, Ordering::SeqCst);
    wait_until(&issuer, "the retry to deliver", || {
        !sink.received().is_empty()
    });
    wait_until(&issuer, "the row to be marked sent", || {
        outbox(&workspace)
            .first()
            .is_some_and(|row| row.0 == "sent")
    });
    let (_, attempts, _) = outbox(&workspace).remove(0);
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
fn a_queued_message_survives_a_restart() {
    let sink = SmtpSink::start(false);
    let workspace = Workspace::new(&config(&smtp_section(&sink)));
    let issuer = workspace.start();
    let (session, _) = buy(&issuer, "alan@example.com");
    let key = key_of(&issuer, &session);
    wait_until(&issuer, "a failed attempt", || {
        outbox(&workspace).first().is_some_and(|row| row.1 >= 1)
    });
    assert!(
        issuer.stop(),
        "SIGTERM ends the issuer cleanly with mail queued"
    );
    assert_eq!(outbox(&workspace)[0].0, "queued");

    sink.accepting.store(true, Ordering::SeqCst);
    let issuer = workspace.start();
    wait_until(&issuer, "delivery after the restart", || {
        outbox(&workspace)
            .first()
            .is_some_and(|row| row.0 == "sent")
    });
    let received = sink.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].recipients, ["alan@example.com"]);
    assert!(received[0].data.contains(&key));
}

#[test]
fn without_smtp_nothing_is_queued() {
    let workspace = Workspace::new(&config(""));
    let issuer = workspace.start();
    let (session, _) = buy(&issuer, "edsger@example.com");
    key_of(&issuer, &session);
    assert!(outbox(&workspace).is_empty());
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
