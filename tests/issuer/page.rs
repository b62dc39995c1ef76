//! `GET /checkout/success`: its headers and escaping over plain HTTP, and its polling script in
//! headless Chromium (Debian's `chromium` package; the test fails if it is missing).
//!
//! Chromium runs with `--dump-dom` and a virtual-time budget, so the page's timers run at once and
//! the DOM is printed when the budget is spent. To see the page move from waiting to showing the key
//! without depending on timing, Chromium talks to the issuer through a small proxy that counts the
//! page's polls and puts the licence into the database when the third poll arrives, before passing
//! it on.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::harness::{http, Workspace};
use super::seed::Seed;

const CATALOG: &str = r#"
[[products]]
id = 1
name = "acme-editor"
tiers = ["free", "pro", "team"]
features = ["export", "sync"]
"#;

/// Longest one Chromium run may take in real time before the test kills it and fails.
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(30);

fn get(url: &str) -> (u16, ureq::http::HeaderMap, String) {
    let mut response = http().get(url).call().expect("GET");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.body_mut().read_to_string().expect("body");
    (status, headers, body)
}

fn header<'h>(headers: &'h ureq::http::HeaderMap, name: &str) -> &'h str {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header"))
}

#[test]
fn page_is_self_contained_with_strict_headers_and_refuses_bad_ids() {
    let workspace = Workspace::new("");
    let issuer = workspace.start();

    let (status, headers, body) = get(&issuer.url("/checkout/success?session_id=cs_test_a1B2_c3"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&headers, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&headers, "cache-control"), "no-store");
    assert_eq!(header(&headers, "referrer-policy"), "no-referrer");
    assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
    let csp = header(&headers, "content-security-policy");
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap_or_else(|| panic!("no nonce in {csp}"));
    assert!(nonce.len() >= 22, "{csp}");
    for directive in [
        "default-src 'none'",
        &format!("script-src 'nonce-{nonce}'"),
        &format!("style-src 'nonce-{nonce}'"),
        "connect-src 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} not in {csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert!(body.contains(&format!("<script nonce=\"{nonce}\">")));
    assert!(body.contains(&format!("<style nonce=\"{nonce}\">")));
    assert!(body.contains("data-session-id=\"cs_test_a1B2_c3\""));
    // Nothing loads from elsewhere.
    for external in ["http://", "https://", "src=", "//cdn", "@import", "url("] {
        assert!(!body.contains(external), "page contains `{external}`");
    }
    // A fresh nonce for every response.
    let (_, again, _) = get(&issuer.url("/checkout/success?session_id=cs_test_a1B2_c3"));
    assert_ne!(header(&again, "content-security-policy"), csp);

    for query in [
        "",
        "?session_id=",
        "?session_id=pi_123",
        "?session_id=cs_",
        "?session_id=cs_%3Cscript%3Ealert(1)%3C/script%3E",
        "?session_id=cs_a%22onload%3D%22x",
        "?session_id=cs_test%20x",
        "?session_id=cs_a&session_id=cs_b",
        "?session_id=%ff",
    ] {
        let (status, headers, body) = get(&issuer.url(&format!("/checkout/success{query}")));
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(header(&headers, "content-type"), "text/html; charset=utf-8");
        assert_eq!(header(&headers, "cache-control"), "no-store");
        assert_eq!(header(&headers, "referrer-policy"), "no-referrer");
        let csp = header(&headers, "content-security-policy");
        assert!(
            csp.starts_with("default-src 'none'") && !csp.contains("script-src"),
            "{csp}"
        );
        assert!(body.contains("This link is not valid"), "{body}");
        assert!(!body.contains("<script"), "{query}: {body}");
        assert!(
            !body.contains("alert") && !body.contains("onload"),
            "{body}"
        );
    }
}

#[test]
fn a_checkout_session_fetches_the_key_only_for_the_configured_hours() {
    let workspace = Workspace::new(&format!(
        "{CATALOG}\n[licenses]\ncheckout_session_key_hours = 2\n"
    ));
    let issuer = workspace.start();
    let data = workspace.path().join("data");
    let bought = |id: u64, session: &str, hours_ago: u64| {
        let seed = Seed {
            checkout_session_id: Some(session.into()),
            ..Seed::active(id)
        };
        let key = seed.insert(&data);
        let created_at = (super::seed::now() - hours_ago * 3600) as i64;
        rusqlite::Connection::open(data.join("tessera.sqlite3"))
            .and_then(|conn| {
                conn.execute(
                    "UPDATE licenses SET created_at = ?1 WHERE checkout_session_id = ?2",
                    rusqlite::params![created_at, session],
                )
            })
            .expect("backdate the licence");
        key
    };
    let recent = bought(0x5e55_0000_0000_0001, "cs_test_recent", 1);
    bought(0x5e55_0000_0000_0002, "cs_test_old", 3);

    let (status, body) =
        super::harness::get_json(&issuer.url("/v1/licenses/by-checkout-session/cs_test_recent"));
    assert_eq!(
        (status, body["key"].as_str()),
        (200, Some(&*recent)),
        "{body}"
    );
    let (status, _, page) = get(&issuer.url("/checkout/success?session_id=cs_test_recent"));
    assert_eq!(status, 200);
    assert!(page.contains("data-state=\"loading\""), "{page}");

    let (status, body) =
        super::harness::get_json(&issuer.url("/v1/licenses/by-checkout-session/cs_test_old"));
    assert_eq!(
        (status, body["error"].as_str()),
        (410, Some("checkout_session_expired")),
        "{body}"
    );
    assert!(body.get("key").is_none(), "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("e-mail"),
        "{body}"
    );
    let (status, headers, page) = get(&issuer.url("/checkout/success?session_id=cs_test_old"));
    assert_eq!(status, 410, "{page}");
    assert_eq!(header(&headers, "cache-control"), "no-store");
    assert!(page.contains("data-state=\"expired\""), "{page}");
    assert!(page.contains("check your e-mail"), "{page}");
    assert!(page.contains("contact support"), "{page}");
    assert!(page.contains("cs_test_old"), "the order reference: {page}");
    assert!(!page.contains("<script"), "{page}");
    assert!(!issuer.log().contains("cs_test_"), "{}", issuer.log());
}

#[test]
fn page_in_chromium_waits_for_the_webhook_then_shows_the_key() {
    let chromium = chromium();
    let workspace = Workspace::new(CATALOG);
    let issuer = workspace.start();
    let data = workspace.path().join("data");
    let started = Instant::now();

    // (a) No licence yet: the page says it is waiting, and keeps polling.
    let proxy = Proxy::start(issuer.base_url(), |_| {});
    let dom = dump_dom(
        &chromium,
        &proxy.url("/checkout/success?session_id=cs_test_waiting"),
        5_000,
    );
    let main = main_tag(&dom);
    assert_eq!(attribute(main, "data-state"), Some("waiting"), "{dom}");
    assert!(
        dom.contains("Waiting for the payment confirmation"),
        "{dom}"
    );
    assert!(element_text(&dom, "code", "license-key")
        .unwrap_or_default()
        .is_empty());
    let polls = proxy.polls();
    assert!(
        polls >= 3,
        "the page polled {polls} times in 5 virtual seconds"
    );
    assert_eq!(attribute(main, "data-polls"), Some(&*polls.to_string()));

    // Still nothing after five minutes: the page gives up with advice and a button to try again.
    let dom = dump_dom(
        &chromium,
        &proxy.url("/checkout/success?session_id=cs_test_waiting"),
        330_000,
    );
    assert_eq!(
        attribute(main_tag(&dom), "data-state"),
        Some("timeout"),
        "{dom}"
    );
    assert!(dom.contains("taking longer than usual"), "{dom}");
    assert!(
        dom.contains("<button type=\"button\" id=\"retry\">"),
        "{dom}"
    );
    let polls = proxy.polls() - polls;
    assert!((20..60).contains(&polls), "{polls} polls in five minutes");
    drop(proxy);

    // (b) The webhook lands while the buyer waits: the licence appears at the third poll.
    let seed = Seed {
        checkout_session_id: Some("cs_test_paid_1".into()),
        features: 0b11,
        ..Seed::active(0x7e55_e7a0_0000_0001)
    };
    let key = seed.sign(&data);
    let proxy = {
        let (seed, key, data) = (seed.clone(), key.clone(), data.clone());
        Proxy::start(issuer.base_url(), move |poll| {
            if poll == 3 {
                seed.insert_with_key(&data, &key);
            }
        })
    };
    let dom = dump_dom(
        &chromium,
        &proxy.url("/checkout/success?session_id=cs_test_paid_1"),
        30_000,
    );
    let main = main_tag(&dom);
    assert_eq!(attribute(main, "data-state"), Some("ready"), "{dom}");
    assert_eq!(attribute(main, "data-polls"), Some("3"), "{dom}");
    assert_eq!(
        proxy.polls(),
        3,
        "the page stops polling once it has the key"
    );
    assert_eq!(
        element_text(&dom, "code", "license-key"),
        Some(&*key),
        "{dom}"
    );
    assert_eq!(element_text(&dom, "dd", "product"), Some("acme-editor"));
    assert_eq!(element_text(&dom, "dd", "tier"), Some("pro"));
    assert_eq!(element_text(&dom, "dd", "features"), Some("export, sync"));
    let expires = dom
        .split("<time id=\"expires\" datetime=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no expiry datetime in {dom}"));
    let expected = seed.expires_at.unwrap();
    assert!(
        expires.starts_with(&iso_date(expected)),
        "{expires} is not {expected}"
    );
    assert!(!dom.contains("id=\"license\" hidden"), "{dom}");
    eprintln!("three Chromium runs took {:?}", started.elapsed());
}

#[test]
fn activation_page_is_self_contained_with_strict_headers() {
    let workspace = Workspace::new("");
    let issuer = workspace.start();
    let (status, headers, body) = get(&issuer.url("/activate"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&headers, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&headers, "cache-control"), "no-store");
    assert_eq!(header(&headers, "referrer-policy"), "no-referrer");
    let csp = header(&headers, "content-security-policy");
    for directive in [
        "default-src 'none'",
        "script-src 'nonce-",
        "connect-src 'self'",
    ] {
        assert!(csp.contains(directive), "{directive} not in {csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    for external in ["http://", "https://", "src=", "//cdn", "@import", "url("] {
        assert!(!body.contains(external), "page contains `{external}`");
    }
    assert!(body.contains("<textarea id=\"request\""), "{body}");
}

#[test]
fn activation_page_in_chromium_turns_a_request_into_a_certificate() {
    use super::machines::{buy, fingerprint, offline_request, verify_offline, workspace};

    let chromium = chromium();
    let (workspace, _fake) = workspace();
    let issuer = workspace.start();
    let (_, key) = buy(&issuer, "price_three_seats");
    let request = offline_request(&key, 5);

    // As an app's QR code links to it: the request in the fragment, which the page pastes itself.
    let dom = dump_dom(
        &chromium,
        &issuer.url(&format!("/activate#{request}")),
        5_000,
    );
    let main = main_tag(&dom);
    assert_eq!(attribute(main, "data-state"), Some("done"), "{dom}");
    let certificate = element_text(&dom, "code", "certificate").unwrap_or_default();
    assert!(certificate.starts_with("tsm1_"), "{dom}");
    assert!(!dom.contains("id=\"result\" hidden"), "{dom}");
    assert!(dom.contains("download=\"license.tsm1\""), "{dom}");
    verify_offline(&issuer, &key, certificate, &fingerprint(5))
        .unwrap_or_else(|err| panic!("the page's certificate does not verify: {err}"));
    assert!(!issuer.log().contains(&request), "the request was logged");

    // Not a request: the issuer refuses it, and the page says so.
    let dom = dump_dom(&chromium, &issuer.url("/activate#tsq1_AAAA"), 5_000);
    assert_eq!(
        attribute(main_tag(&dom), "data-state"),
        Some("error"),
        "{dom}"
    );
    assert!(element_text(&dom, "code", "certificate")
        .unwrap_or_default()
        .is_empty());
}

/// `YYYY-MM-DD` of a unix time (UTC).
fn iso_date(unix: u64) -> String {
    tessera_keys::UnixTime(unix).to_string()[..10].to_owned()
}

/// Debian's Chromium; the test fails, rather than skips, without it.
fn chromium() -> PathBuf {
    let path =
        std::env::var_os("CHROMIUM").map_or_else(|| "/usr/bin/chromium".into(), PathBuf::from);
    assert!(
        path.exists(),
        "headless Chromium is needed to test the checkout page, and {} is missing: install Debian's \
         `chromium` package (`apt-get install -y chromium`; .ci/run does), or set CHROMIUM to its path",
        path.display()
    );
    path
}

/// Loads `url` in headless Chromium, lets its timers run for `virtual_ms` of virtual time, and
/// returns the DOM. Fails the test if Chromium takes longer than [`CHROMIUM_TIMEOUT`].
fn dump_dom(chromium: &PathBuf, url: &str, virtual_ms: u32) -> String {
    let profile = tempfile::tempdir().expect("profile directory");
    let stderr_path = profile.path().join("chromium.log");
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
        ])
        .arg(format!(
            "--user-data-dir={}",
            profile.path().join("profile").display()
        ))
        .arg(format!("--virtual-time-budget={virtual_ms}"))
        .arg("--dump-dom")
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).expect("chromium log"))
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().expect("chromium stdout");
    let reader = std::thread::spawn(move || {
        let mut dom = String::new();
        let _ = stdout.read_to_string(&mut dom);
        dom
    });
    let deadline = Instant::now() + CHROMIUM_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium did not finish within {CHROMIUM_TIMEOUT:?}; its log:\n{}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let dom = reader.join().expect("chromium output");
    assert!(
        status.success() && dom.contains("<main"),
        "chromium failed ({status}); output:\n{dom}\nlog:\n{}",
        std::fs::read_to_string(&stderr_path).unwrap_or_default()
    );
    dom
}

/// The `<main …>` start tag.
fn main_tag(dom: &str) -> &str {
    let start = dom
        .find("<main")
        .unwrap_or_else(|| panic!("no <main> in {dom}"));
    let end = dom[start..].find('>').expect("end of <main>");
    &dom[start..start + end]
}

/// The value of `name="…"` in a start tag.
fn attribute<'t>(tag: &'t str, name: &str) -> Option<&'t str> {
    let rest = tag.split(&format!(" {name}=\"")).nth(1)?;
    rest.split('"').next()
}

/// The text of `<element id="id">…</element>` (no nested elements).
fn element_text<'d>(dom: &'d str, element: &str, id: &str) -> Option<&'d str> {
    let rest = dom.split(&format!("<{element} id=\"{id}\">")).nth(1)?;
    rest.split(&format!("</{element}>")).next()
}

/// A loopback HTTP proxy in front of the issuer that counts requests for
/// `/v1/licenses/by-checkout-session/…` and calls `on_poll(n)` before passing the n-th on.
struct Proxy {
    address: SocketAddr,
    polls: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    fn start(upstream: &str, on_poll: impl Fn(usize) + Send + Sync + 'static) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let address = listener.local_addr().expect("proxy address");
        let polls = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let upstream = upstream.to_owned();
        let on_poll = Arc::new(on_poll);
        let (counter, stopped) = (Arc::clone(&polls), Arc::clone(&stop));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (upstream, counter, on_poll) =
                    (upstream.clone(), Arc::clone(&counter), Arc::clone(&on_poll));
                // A thread per connection: Chromium opens connections it may never use.
                std::thread::spawn(move || {
                    let _ = forward(stream, &upstream, &counter, &*on_poll);
                });
            }
        });
        Proxy {
            address,
            polls,
            stop,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    fn polls(&self) -> usize {
        self.polls.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.address);
    }
}

/// Answers one GET on `stream` with the issuer's answer, then closes the connection.
fn forward(
    stream: TcpStream,
    upstream: &str,
    polls: &AtomicUsize,
    on_poll: &(dyn Fn(usize) + Send + Sync),
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line)? == 0 {
        return Ok(());
    }
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
            break;
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    if path.starts_with("/v1/licenses/by-checkout-session/") {
        on_poll(polls.fetch_add(1, Ordering::SeqCst) + 1);
    }
    let mut response = http()
        .get(&format!("{upstream}{path}"))
        .call()
        .map_err(std::io::Error::other)?;
    let body = response
        .body_mut()
        .read_to_vec()
        .map_err(std::io::Error::other)?;
    let status = response.status();
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Status")
    );
    for (name, value) in response.headers() {
        if !matches!(
            name.as_str(),
            "connection" | "content-length" | "transfer-encoding" | "keep-alive"
        ) {
            head.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap_or("")));
        }
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    let mut stream = stream;
    stream.write_all(head.as_bytes())?;
    stream.write_all(&body)?;
    stream.flush()
}
