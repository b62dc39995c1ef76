//! Connection limits (`[limits]`), with raw sockets on loopback: a client that sends nothing, one
//! that trickles its header, and one kept alive after its answer are all closed, while other
//! clients are served; and no more connections are served at once than allowed.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use tessera_issuer::config::{Config, Environment};

use super::harness::{get_json, Issuer, Workspace};

/// How long a test waits for the issuer to close a connection before it fails: far beyond the
/// timeouts configured here, so that only a connection that is never closed fails it.
const CLOSED_WITHIN: Duration = Duration::from_secs(25);

fn connect(issuer: &Issuer) -> TcpStream {
    let address = issuer.base_url().trim_start_matches("http://");
    let stream = TcpStream::connect(address).expect("connect to the issuer");
    stream
        .set_read_timeout(Some(CLOSED_WITHIN))
        .expect("read timeout");
    stream
}

/// Reads until the issuer closes `stream`; fails the test if it is still open after
/// [`CLOSED_WITHIN`]. Returns what was read.
fn read_until_closed(mut stream: TcpStream, what: &str) -> String {
    let mut received = Vec::new();
    match stream.read_to_end(&mut received) {
        Ok(_) => {}
        Err(err) if err.kind() == ErrorKind::ConnectionReset => {}
        Err(err) => panic!("{what}: not closed within {CLOSED_WITHIN:?} ({err})"),
    }
    String::from_utf8_lossy(&received).into_owned()
}

/// Whether the issuer has closed `stream`, without waiting.
fn is_closed(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).expect("non-blocking");
    let mut byte = [0u8; 1];
    let closed = match stream.peek(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(err) => err.kind() != ErrorKind::WouldBlock,
    };
    stream.set_nonblocking(false).expect("blocking");
    closed
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: issuer\r\n\r\n";

#[test]
fn silent_trickling_and_idle_kept_alive_connections_are_closed_while_others_are_served() {
    let workspace =
        Workspace::new("[limits]\nheader_read_timeout_seconds = 2\nkeep_alive_seconds = 1\n");
    let issuer = workspace.start();

    let silent: Vec<_> = (0..20).map(|_| connect(&issuer)).collect();
    let trickling = connect(&issuer);
    let trickler = {
        let mut stream = trickling.try_clone().expect("clone");
        thread::spawn(move || {
            // A header that never ends, a byte every 100 ms, until the issuer hangs up (bounded).
            let header = b"GET /healthz HTTP/1.1\r\nHost: issuer\r\nX-Slow: ";
            for byte in header.iter().chain(std::iter::repeat(&b'a')).take(300) {
                if stream.write_all(&[*byte]).is_err() {
                    return true;
                }
                thread::sleep(Duration::from_millis(100));
            }
            false
        })
    };
    let mut kept_alive = connect(&issuer);
    kept_alive.write_all(HEALTHZ).expect("send a request");

    // Meanwhile everyone else is served.
    for _ in 0..5 {
        assert_eq!(get_json(&issuer.url("/healthz")).0, 200);
    }

    let answer = read_until_closed(kept_alive, "a kept-alive connection after its answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        !answer.contains("HTTP/1.1 408"),
        "one answer, then closed: {answer}"
    );
    for stream in silent {
        read_until_closed(stream, "a connection that sent nothing");
    }
    read_until_closed(trickling, "a connection trickling its header");
    assert!(
        trickler.join().unwrap(),
        "the trickling client could write 300 bytes"
    );
    assert_eq!(get_json(&issuer.url("/healthz")).0, 200);
}

#[test]
fn no_more_connections_are_served_at_once_than_allowed() {
    let workspace =
        Workspace::new("[limits]\nmax_connections = 2\nheader_read_timeout_seconds = 4\n");
    let issuer = workspace.start();
    let first = connect(&issuer);
    let second = connect(&issuer);
    // Both slots are taken by clients that send nothing: a third is accepted, and answered, only
    // once the issuer has closed one of them.
    let mut third = connect(&issuer);
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: issuer\r\nConnection: close\r\n\r\n")
        .expect("send a request");
    let answer = read_until_closed(third.try_clone().expect("clone"), "a connection that asked");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        is_closed(&first) || is_closed(&second),
        "the third connection was served while two others held both slots"
    );
}

#[test]
fn by_default_a_connection_that_sends_nothing_is_closed_within_30_seconds() {
    let config = Config::from_toml_str("", &Environment::default()).unwrap();
    let limits = config.connections;
    assert!(
        limits.header_read_timeout <= Duration::from_secs(30),
        "{limits:?}"
    );
    assert!(
        limits
            .keep_alive
            .is_some_and(|idle| idle <= Duration::from_secs(30)),
        "{limits:?}"
    );
    assert!(limits.max_connections >= 100, "{limits:?}");
    for (setting, value) in [
        ("max_connections", "0"),
        ("header_read_timeout_seconds", "0"),
    ] {
        let err = Config::from_toml_str(
            &format!("[limits]\n{setting} = {value}\n"),
            &Environment::default(),
        )
        .unwrap_err();
        assert_eq!(err.field, format!("limits.{setting}"));
    }
}

#[test]
fn a_kept_alive_connection_is_closed_after_keep_alive_seconds_without_a_request() {
    // A header-read timeout far beyond the test's patience: only the keep-alive limit can close it.
    let workspace =
        Workspace::new("[limits]\nheader_read_timeout_seconds = 600\nkeep_alive_seconds = 1\n");
    let issuer = workspace.start();
    let mut stream = connect(&issuer);
    stream.write_all(HEALTHZ).expect("send a request");
    stream.write_all(HEALTHZ).expect("send another");
    let answers = read_until_closed(stream, "a kept-alive connection after its answers");
    assert_eq!(answers.matches("HTTP/1.1 200").count(), 2, "{answers}");
}

/// For a load balancer: after SIGTERM the process fails its readiness probe for `drain_seconds`
/// while it still answers every request, then stops by itself.
#[test]
fn after_sigterm_readiness_fails_while_requests_are_still_served_then_the_process_exits() {
    let workspace = Workspace::new("[limits]\ndrain_seconds = 4\n");
    let issuer = workspace.start();
    assert_eq!(get_json(&issuer.url("/readyz")).0, 200);
    issuer.terminate();
    let mut draining = None;
    for _ in 0..60 {
        let answer = get_json(&issuer.url("/readyz"));
        if answer.0 == 503 {
            draining = Some(answer.1);
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    let draining = draining.expect("readiness fails soon after SIGTERM");
    assert_eq!(draining["error"], "draining", "{draining}");
    // Still served meanwhile: liveness, and real work.
    assert_eq!(get_json(&issuer.url("/healthz")).0, 200);
    let (status, keys) = get_json(&issuer.url("/v1/keys"));
    assert_eq!(status, 200, "{keys}");
    assert!(
        issuer.exited_within(Duration::from_secs(30)),
        "the issuer exits by itself after draining"
    );
}
