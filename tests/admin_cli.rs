//! `tessera admin` without an issuer: the command line, `admin token`, and how each kind of answer
//! (none, 401, 404, 409, 5xx, not JSON) becomes one error line and its exit code, against a canned
//! one-shot HTTP server. `tests/issuer/admin.rs` runs the same commands against the real issuer.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;

use assert_cmd::Command;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::util::{fails, raw_terminal_controls, stdout_of, Sandbox};

const TOKEN: &str = "tsadm_0000000000000000000000000000000000000000000000000000000000000000";
const ID: &str = "0123456789abcdef";

/// `tessera admin ARGS...` with nothing from the environment: no URL, token or catalogue.
fn admin<I, S>(sandbox: &Sandbox, args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut command = sandbox.tessera(["admin"]);
    command
        .env_remove("TESSERA_URL")
        .env_remove("TESSERA_TOKEN")
        .args(args);
    command
}

/// A loopback URL on which nothing listens.
fn closed_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// A server that answers one request with `status` and `body`, and hands back the request it got
/// (request line, headers, body).
fn answer_once(status: &str, body: &str) -> (String, JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().unwrap());
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("a request");
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut request = String::new();
        let mut length = 0;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap_or(0);
            }
            request.push_str(&line);
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).expect("request body");
        request.push_str(&String::from_utf8_lossy(&body));
        let mut stream = stream;
        stream.write_all(response.as_bytes()).expect("answer");
        request
    });
    (url, server)
}

/// Runs `admin ARGS...` against a server answering `status` and `body` once, expecting exit `code`;
/// returns the error line (or, for 0, standard output) and the request the server got.
fn against(status: &str, body: &str, args: &[&str], code: i32) -> (String, String) {
    let sandbox = Sandbox::new();
    let (url, server) = answer_once(status, body);
    let mut command = admin(&sandbox, ["--url", &url, "--token", TOKEN]);
    let assert = command.args(args).assert();
    let line = if code == 0 {
        stdout_of(assert.success().stderr(""))
    } else {
        fails(assert, code)
    };
    (line, server.join().expect("server thread"))
}

#[test]
fn help_lists_every_admin_command_with_its_json_and_the_exit_codes() {
    let sandbox = Sandbox::new();
    let help = sandbox.ok(["admin", "--help"]);
    for command in [
        "licenses", "credits", "webhooks", "keys", "audit", "machines", "token",
    ] {
        assert!(
            help.lines()
                .any(|line| line.trim_start().starts_with(command)),
            "{command} missing from:\n{help}"
        );
    }
    for code in 20..=25 {
        assert!(
            help.lines()
                .any(|line| line.trim_start().starts_with(&format!("{code}  admin"))),
            "exit code {code} missing from:\n{help}"
        );
    }
    let groups: [(&str, &[&str]); 6] = [
        (
            "licenses",
            &[
                "find",
                "show",
                "issue",
                "reissue",
                "extend",
                "revoke",
                "suspend",
                "reinstate",
                "seats",
            ],
        ),
        ("machines", &["list", "show", "deactivate", "activate"]),
        ("credits", &["show", "grant", "deduct", "ledger", "check"]),
        ("webhooks", &["list", "show", "retry"]),
        ("keys", &["rotate"]),
        ("audit", &["list"]),
    ];
    for (group, commands) in groups {
        let help = sandbox.ok(["admin", group, "--help"]);
        for command in commands {
            assert!(
                help.lines()
                    .any(|line| line.trim_start().starts_with(command)),
                "{group} {command} missing from:\n{help}"
            );
            let help = sandbox.ok(["admin", group, command, "--help"]);
            assert!(
                help.contains("JSON output (--json)"),
                "{group} {command}: {help}"
            );
        }
    }
    assert!(sandbox
        .ok(["admin", "token", "--help"])
        .contains("JSON output (--json)"));
    // The token's value is never shown, not even from the environment in --help.
    let mut command = sandbox.tessera(["admin", "licenses", "show", "--help"]);
    let help = stdout_of(
        command
            .env("TESSERA_TOKEN", "tsadm_from_the_environment")
            .assert()
            .success(),
    );
    assert!(help.contains("TESSERA_TOKEN"), "{help}");
    assert!(!help.contains("tsadm_from_the_environment"), "{help}");
}

#[test]
fn usage_errors_exit_2_before_any_request() {
    let sandbox = Sandbox::new();
    // A listener that would see any connection the command made.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let with_server = |args: &[&str]| {
        let mut command = admin(&sandbox, ["--url", &url, "--token", TOKEN]);
        command.args(args);
        command
    };

    for args in [
        &["licenses", "revoke", ID][..],
        &["licenses", "suspend", ID],
        &["licenses", "reinstate", ID],
        &["licenses", "extend", ID, "--days", "30"],
        &["credits", "grant", ID, "100"],
        &["credits", "deduct", ID, "100"],
    ] {
        let line = fails(with_server(args).assert(), 2);
        assert!(line.contains("--reason"), "{args:?}: {line}");
    }
    let line = fails(
        with_server(&["licenses", "revoke", ID, "--reason", "  "]).assert(),
        2,
    );
    assert!(line.contains("--reason"), "{line}");

    for args in [
        &["licenses", "show", "xyz"][..],
        &["licenses", "show", "0123456789abcde"],
        &["licenses", "revoke", "0123456789abcdeg", "--reason", "r"],
        &["credits", "show", "12"],
        &["audit", "list", "--license", "nope"],
    ] {
        let line = fails(with_server(args).assert(), 2);
        assert!(line.contains("16 hex digits"), "{args:?}: {line}");
    }
    for args in [
        &["licenses", "find"][..],
        &[
            "licenses",
            "find",
            "--email",
            "a@b.c",
            "--customer",
            "cus_1",
        ],
        &["licenses", "extend", ID, "--reason", "r"],
        &[
            "licenses",
            "extend",
            ID,
            "--days",
            "1",
            "--until",
            "2030-01-01",
            "--reason",
            "r",
        ],
        &[
            "licenses",
            "issue",
            "--product",
            "1",
            "--tier",
            "1",
            "--expires",
            "soon",
        ],
        &["credits", "grant", ID, "0", "--reason", "r"],
        &["webhooks", "list", "--limit", "1001"],
        &["webhooks", "show", "evt/../x"],
        &["frobnicate"],
    ] {
        fails(with_server(args).assert(), 2);
    }

    // No token: a usage error that says how to give one.
    let line = fails(
        admin(&sandbox, ["--url", &url, "licenses", "show", ID]).assert(),
        2,
    );
    assert!(line.contains("TESSERA_TOKEN"), "{line}");
    let line = fails(
        admin(
            &sandbox,
            ["--url", "ftp://x", "--token", TOKEN, "audit", "list"],
        )
        .assert(),
        2,
    );
    assert!(line.contains("--url"), "{line}");

    assert!(
        listener.accept().is_err(),
        "a usage error must not reach the server"
    );
}

#[test]
fn an_unreachable_issuer_exits_20_naming_the_url() {
    let sandbox = Sandbox::new();
    let url = closed_url();
    for json in [false, true] {
        let mut command = admin(&sandbox, ["--url", &url, "licenses", "show", ID]);
        command.env("TESSERA_TOKEN", TOKEN);
        if json {
            command.arg("--json");
        }
        let line = fails(command.assert(), 20);
        assert!(line.contains(&url), "{line}");
        assert!(!line.contains(TOKEN), "{line}");
    }
    // From the environment too, with a trailing slash.
    let mut command = admin(&sandbox, ["audit", "list"]);
    command
        .env("TESSERA_URL", format!("{url}/"))
        .env("TESSERA_TOKEN", TOKEN);
    let line = fails(command.assert(), 20);
    assert!(line.contains(&url), "{line}");
}

#[test]
fn answers_become_exit_codes_with_the_servers_words() {
    // The request (method, path, bearer token, JSON body) and the issuer's words in one line.
    let (line, request) = against(
        "409 Conflict",
        r#"{"error":"already_revoked","message":"the licence is already revoked"}"#,
        &["licenses", "revoke", ID, "--reason", "chargeback"],
        23,
    );
    assert!(
        request.starts_with(&format!("POST /v1/admin/licenses/{ID}/revoke HTTP/1.1\r\n")),
        "{request}"
    );
    assert!(
        request
            .to_ascii_lowercase()
            .contains(&format!("authorization: bearer {TOKEN}\r\n")),
        "{request}"
    );
    assert!(request.ends_with(r#"{"reason":"chargeback"}"#), "{request}");
    assert_eq!(
        line,
        "error: request refused (409 already_revoked): the licence is already revoked"
    );
    assert!(!line.contains(TOKEN) && request.contains(TOKEN));

    let (line, request) = against(
        "401 Unauthorized",
        r#"{"error":"unauthorized","message":"a valid admin token is required"}"#,
        &["licenses", "find", "--email", "a+b@example.com"],
        21,
    );
    assert_eq!(line, "error: the server refused the admin token (401)");
    assert!(
        request.starts_with("GET /v1/admin/licenses?email=a%2Bb%40example.com HTTP/1.1\r\n"),
        "{request}"
    );

    let (line, _) = against(
        "404 Not Found",
        r#"{"error":"not_found","message":"no licence by that id"}"#,
        &["licenses", "show", ID],
        22,
    );
    assert!(line.contains("no licence by that id"), "{line}");

    let (line, _) = against(
        "422 Unprocessable Entity",
        r#"{"error":"unknown_product","message":"`x` is not a product of the catalogue"}"#,
        &["licenses", "issue", "--product", "x", "--tier", "pro"],
        23,
    );
    assert!(
        line.contains("unknown_product") && line.contains("is not a product"),
        "{line}"
    );

    let (line, _) = against(
        "500 Internal Server Error",
        r#"{"error":"processing_failed","message":"price `p` is not in the catalogue"}"#,
        &["webhooks", "retry", "evt_1"],
        24,
    );
    assert!(line.contains("500 processing_failed"), "{line}");

    // Not a Tessera issuer: an HTML page, a success that is not JSON, a JSON of another shape.
    let (line, _) = against(
        "502 Bad Gateway",
        "<html>bad gateway</html>",
        &["audit", "list"],
        24,
    );
    assert!(line.contains("502"), "{line}");
    let (line, _) = against("200 OK", "<html>hello</html>", &["audit", "list"], 24);
    assert!(line.contains("not a JSON object"), "{line}");
    let (line, _) = against("200 OK", r#"{"entries": 5}"#, &["audit", "list"], 24);
    assert!(line.contains("not what the admin API specifies"), "{line}");
    // ... which --json prints as it came.
    let (out, _) = against(
        "200 OK",
        r#"{"entries": 5}"#,
        &["--json", "audit", "list"],
        0,
    );
    assert_eq!(out, "{\"entries\":5}\n");
}

#[test]
fn what_the_issuer_sends_is_escaped_on_the_terminal() {
    // A buyer's e-mail (from Stripe) that would erase the table row above and write its own.
    let email = "x@example.com\u{1b}[1A\u{1b}[2K\r0123456789abcdef  revoked\u{7}";
    let shown_email = "x@example.com\\u{1b}[1A\\u{1b}[2K\\r0123456789abcdef  revoked\\u{7}";
    let license = serde_json::json!({
        "id": ID, "product": 1, "product_name": "editor\u{202e}", "tier": 1, "tier_name": "pro",
        "features": ["export"], "status": "active", "expires_at": null, "email": email,
        "customer_id": "cus_1", "checkout_session_id": null, "subscription_id": null,
        "payment_intent_id": null, "price_id": null, "created_at": 0, "updated_at": 0,
    });
    let found = serde_json::json!({ "licenses": [license] }).to_string();
    let (out, _) = against("200 OK", &found, &["licenses", "find", "--email", "x"], 0);
    assert_eq!(raw_terminal_controls(&out), Vec::<char>::new(), "{out:?}");
    assert!(
        out.contains(shown_email) && out.contains("editor\\u{202e}"),
        "{out}"
    );
    // --json passes the answer through as it came.
    let (out, _) = against(
        "200 OK",
        &found,
        &["--json", "licenses", "find", "--email", "x"],
        0,
    );
    let answer: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answer["licenses"][0]["email"], email);

    // A delivery's error and its payload, which JSON alone leaves with C1 controls and overrides.
    let shown = serde_json::json!({
        "event": {"id": "evt_1", "type": "charge.refunded", "status": "failed",
                  "error": "bad\u{1b}]0;title\u{7}", "attempts": 1, "received_at": 0,
                  "processed_at": null},
        "payload": {"data": {"object": {"description": "\u{9b}2J\u{202e}\u{7f}"}}},
        "licenses": [],
    })
    .to_string();
    let (out, _) = against("200 OK", &shown, &["webhooks", "show", "evt_1"], 0);
    assert_eq!(raw_terminal_controls(&out), Vec::<char>::new(), "{out:?}");
    assert!(out.contains("bad\\u{1b}]0;title\\u{7}"), "{out}");
    assert!(out.contains("\\u{9b}2J\\u{202e}\\u{7f}"), "{out}");

    // And the issuer's words in an error line.
    let refused =
        serde_json::json!({"error": "conflict", "message": "no\u{1b}[2K\rok"}).to_string();
    let (line, _) = against(
        "409 Conflict",
        &refused,
        &["licenses", "revoke", ID, "--reason", "x"],
        23,
    );
    // (Whitespace, line breaks included, is folded into single spaces first.)
    assert_eq!(
        line,
        "error: request refused (409 conflict): no\\u{1b}[2K ok"
    );
}

#[test]
fn credits_check_prints_the_differences_then_exits_25() {
    let mismatch = r#"{"consistent":false,"mismatches":[{"license_id":"0123456789abcdef",
        "cached":[10,5,0,0],"ledger":[10,0,0,0],"open_reservations":[0,0]}]}"#;
    let sandbox = Sandbox::new();
    for json in [false, true] {
        let (url, server) = answer_once("200 OK", mismatch);
        let mut command = admin(
            &sandbox,
            ["--url", &url, "--token", TOKEN, "credits", "check"],
        );
        if json {
            command.arg("--json");
        }
        let output = command.assert().code(25).get_output().clone();
        server.join().unwrap();
        let stdout = String::from_utf8(output.stdout).unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stdout.contains(ID), "{stdout}");
        assert!(stdout.contains("[10, 5, 0, 0]") || json, "{stdout}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("error: 1 credit account"), "{stderr}");
    }
    let (out, _) = against(
        "200 OK",
        r#"{"consistent":true,"mismatches":[]}"#,
        &["credits", "check"],
        0,
    );
    assert!(out.contains("consistent"), "{out}");
}

/// `admin token --json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenJson {
    pub token: String,
    pub name: String,
    pub sha256: String,
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn is_lower_hex(text: &str, len: usize) -> bool {
    text.len() == len
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[test]
fn admin_token_prints_a_new_token_and_its_config_line() {
    let sandbox = Sandbox::new();
    let out = stdout_of(
        admin(&sandbox, ["token", "--name", "alice"])
            .assert()
            .success()
            .stderr(""),
    );
    let token = out
        .lines()
        .find_map(|line| line.strip_prefix("  tsadm_"))
        .map(|hex| format!("tsadm_{hex}"))
        .unwrap_or_else(|| panic!("no token line in:\n{out}"));
    assert!(is_lower_hex(&token["tsadm_".len()..], 64), "{token}");
    let config_line = out
        .lines()
        .find(|line| line.trim_start().starts_with("{ name"))
        .unwrap_or_else(|| panic!("no config line in:\n{out}"));
    assert_eq!(
        config_line.trim(),
        format!(
            "{{ name = \"alice\", sha256 = \"{}\" }}",
            sha256_hex(&token)
        )
    );

    let first: TokenJson =
        serde_json::from_str(&sandbox.ok(["--json", "admin", "token"])).expect("token JSON");
    assert_eq!(first.name, "admin", "the default name");
    assert!(first.token.starts_with("tsadm_"));
    assert!(is_lower_hex(&first.token["tsadm_".len()..], 64));
    assert_eq!(first.sha256, sha256_hex(&first.token));
    let second: TokenJson =
        serde_json::from_str(&sandbox.ok(["admin", "token", "--json", "--name", "bot"])).unwrap();
    assert_eq!(second.name, "bot");
    assert_ne!(first.token, second.token, "tokens are random");

    // Offline: no token, no URL, no server needed; a bad name is a usage error.
    fails(admin(&sandbox, ["token", "--name", ""]).assert(), 2);
}
