//! The page Stripe Checkout sends the buyer back to: `GET /checkout/success?session_id=cs_…`.
//!
//! The buyer's redirect often arrives before Stripe's webhook, so the page does not expect the licence
//! to exist yet: its script polls `GET /v1/licenses/by-checkout-session/{id}` (every 1.5 s, backing off
//! to 10 s, for up to 5 minutes) and shows the key with a copy button once it is there.
//!
//! Set the Checkout Session's `success_url` to
//! `https://<issuer>/checkout/success?session_id={CHECKOUT_SESSION_ID}`.
//!
//! The page is self-contained (inline CSS and script, no external assets). Its Content-Security-Policy
//! allows only the inline style and script carrying this response's random nonce, and fetches to its
//! own origin; nothing else loads, so even a bug that let text into the markup could not run script.
//! The session id is checked (`cs_` followed by letters, digits and `_`) before it goes into the page,
//! and is HTML-escaped there as well; everything from the JSON is inserted as text, never as markup.
//! The key is a secret: the page is `Cache-Control: no-store` and `Referrer-Policy: no-referrer`, so
//! neither caches nor other sites see it or the session id. And the session id shows the key only for
//! `[licenses] checkout_session_key_hours` (24 by default) after the purchase: after that the page says
//! the key was e-mailed, and to contact support with the order reference if it cannot be found.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::licenses::checkout_session_shows_key;
use crate::state::AppState;

/// `GET /checkout/success`.
pub fn router() -> Router<AppState> {
    Router::new().route("/checkout/success", get(success))
}

/// The query string.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SuccessQuery {
    /// The Checkout Session id Stripe substitutes for `{CHECKOUT_SESSION_ID}`.
    #[param(required = true, pattern = "^cs_[A-Za-z0-9_]+$", max_length = 255)]
    pub session_id: Option<String>,
}

/// Whether `id` looks like a Stripe Checkout Session id: `cs_`, then letters, digits and `_`.
pub fn is_checkout_session_id(id: &str) -> bool {
    id.len() <= 255
        && id.len() > "cs_".len()
        && id.starts_with("cs_")
        && id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
}

/// The page Stripe Checkout sends the buyer back to: it shows the licence key once it is ready.
#[utoipa::path(
    get,
    path = "/checkout/success",
    tag = "checkout",
    params(SuccessQuery),
    responses(
        (status = 200, description = "The page; its script polls for the licence and shows the key",
            body = String, content_type = "text/html"),
        (status = 400, description = "A page saying the link names no Checkout Session",
            body = String, content_type = "text/html"),
        (status = 410, description = "A page saying the link is too old to show the key, which was \
            e-mailed (`[licenses] checkout_session_key_hours`)",
            body = String, content_type = "text/html"),
    )
)]
async fn success(
    State(state): State<AppState>,
    query: Result<Query<SuccessQuery>, QueryRejection>,
) -> Response {
    let nonce = nonce();
    let session_id = match query {
        Ok(Query(SuccessQuery {
            session_id: Some(id),
        })) if is_checkout_session_id(&id) => id,
        _ => return bad_request_page(&nonce),
    };
    let lookup = session_id.clone();
    // A storage failure shows the waiting page, whose script reports what the endpoint answers.
    if let Ok(Some((license, _))) = state
        .db(move |store| store.license_by_checkout_session(&lookup))
        .await
    {
        if !checkout_session_shows_key(&state.config, &license) {
            return expired_page(&nonce, &escape_html(&session_id));
        }
    }
    let escaped = escape_html(&session_id);
    let mut html = String::with_capacity(12 * 1024);
    html.push_str(&head(&nonce, "Your licence key"));
    html.push_str(&format!(
        r#"<main id="checkout" data-state="loading" data-session-id="{escaped}">
<h1>Thank you for your purchase</h1>
<p id="status" role="status" aria-live="polite">Preparing your licence key…</p>
<div id="spinner" class="spinner" aria-hidden="true"></div>
<section id="license" hidden>
<h2>Your licence key</h2>
<div class="keybox"><code id="license-key"></code></div>
<p><button type="button" id="copy">Copy key</button> <span id="copied" aria-live="polite"></span></p>
<p id="license-warning" class="warning" hidden></p>
<dl>
<dt>Product</dt><dd id="product"></dd>
<dt>Tier</dt><dd id="tier"></dd>
<dt>Features</dt><dd id="features"></dd>
<dt>Expires</dt><dd><time id="expires"></time></dd>
</dl>
<p class="hint">Paste the key into the app to activate it; it works offline. Keep a copy somewhere safe.</p>
</section>
<p><button type="button" id="retry" hidden>Check again</button></p>
<noscript><p class="warning">This page needs JavaScript to fetch your key. You can also fetch it as
<a href="../v1/licenses/by-checkout-session/{escaped}">JSON</a>.</p></noscript>
<p class="reference">Order reference: <code>{escaped}</code></p>
</main>
<script nonce="{nonce}">{SCRIPT}</script>
</body>
</html>
"#
    ));
    page_response(StatusCode::OK, &nonce, true, html)
}

fn bad_request_page(nonce: &str) -> Response {
    let mut html = head(nonce, "Invalid link");
    html.push_str(
        r#"<main id="checkout" data-state="invalid">
<h1>This link is not valid</h1>
<p>It does not name a checkout session. Use the link you were sent back with after paying, which
ends in <code>?session_id=cs_…</code>, or contact the vendor.</p>
</main>
</body>
</html>
"#,
    );
    page_response(StatusCode::BAD_REQUEST, nonce, false, html)
}

fn expired_page(nonce: &str, escaped_session_id: &str) -> Response {
    let mut html = head(nonce, "Link expired");
    html.push_str(&format!(
        r#"<main id="checkout" data-state="expired">
<h1>This link has expired</h1>
<p>For your security, the licence key is shown here only for a while after the purchase. It was sent
to the e-mail address you gave at checkout: please check your e-mail (and its spam folder). If you
cannot find it, contact support with the order reference below.</p>
<p class="reference">Order reference: <code>{escaped_session_id}</code></p>
</main>
</body>
</html>
"#
    ));
    page_response(StatusCode::GONE, nonce, false, html)
}

pub(crate) fn head(nonce: &str, title: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{title}</title>
<style nonce="{nonce}">{STYLE}</style>
</head>
<body>
"#,
        title = escape_html(title),
    )
}

pub(crate) fn page_response(
    status: StatusCode,
    nonce: &str,
    with_script: bool,
    html: String,
) -> Response {
    // Only what carries this response's nonce runs or styles; the script may fetch from this origin
    // only; no plugins, frames, forms, base-URL tricks, or framing by other sites.
    let script = if with_script {
        format!("script-src 'nonce-{nonce}'; connect-src 'self'; ")
    } else {
        String::new()
    };
    let csp = format!(
        "default-src 'none'; {script}style-src 'nonce-{nonce}'; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'"
    );
    let csp = HeaderValue::try_from(csp)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"));
    (
        status,
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (CONTENT_SECURITY_POLICY, csp),
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
            (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        ],
        html,
    )
        .into_response()
}

/// 128 random bits as hex: a fresh CSP nonce for each response.
pub(crate) fn nonce() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
:root { color-scheme: light dark; --fg: #1d1d1f; --bg: #f5f5f7; --card: #fff; --muted: #6e6e73;
  --accent: #0a66d8; --warn: #a15c00; --border: #d2d2d7; }
@media (prefers-color-scheme: dark) { :root { --fg: #f5f5f7; --bg: #161617; --card: #232325;
  --muted: #a1a1a6; --accent: #4da3ff; --warn: #ffb340; --border: #3a3a3c; } }
* { box-sizing: border-box; }
body { margin: 0; min-height: 100vh; display: flex; align-items: center; justify-content: center;
  background: var(--bg); color: var(--fg); padding: 1.5rem;
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { width: 100%; max-width: 40rem; background: var(--card); border: 1px solid var(--border);
  border-radius: 12px; padding: 2rem; }
h1 { font-size: 1.5rem; margin: 0 0 .75rem; }
h2 { font-size: 1rem; margin: 1.25rem 0 .5rem; }
.keybox { border: 1px solid var(--border); border-radius: 8px; padding: .75rem; background: var(--bg); }
.keybox code { font: .95rem/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  word-break: break-all; user-select: all; }
button { font: inherit; padding: .45rem 1.1rem; border-radius: 8px; border: 0; cursor: pointer;
  background: var(--accent); color: #fff; }
button:focus-visible { outline: 3px solid var(--fg); outline-offset: 2px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: 1rem 0; }
dt { color: var(--muted); }
dd { margin: 0; }
.hint, .reference { color: var(--muted); font-size: .9rem; }
.reference code { word-break: break-all; }
.warning { color: var(--warn); }
.spinner { width: 1.75rem; height: 1.75rem; border-radius: 50%; border: 3px solid var(--border);
  border-top-color: var(--accent); animation: spin 1s linear infinite; margin: .5rem 0 1rem; }
main[data-state="ready"] .spinner, main[data-state="timeout"] .spinner,
main[data-state="error"] .spinner, main[data-state="expired"] .spinner { display: none; }
@keyframes spin { to { transform: rotate(360deg); } }
@media (prefers-reduced-motion: reduce) { .spinner { animation: none; } }
"#;

const SCRIPT: &str = r#"
(function () {
  "use strict";
  var FIRST_DELAY_MS = 1500, MAX_DELAY_MS = 10000, GIVE_UP_AFTER_MS = 5 * 60 * 1000;
  var main = document.getElementById("checkout");
  var statusLine = document.getElementById("status");
  var retry = document.getElementById("retry");
  var url = "../v1/licenses/by-checkout-session/" + encodeURIComponent(main.dataset.sessionId);
  var started, delay, polls = 0;

  function setState(state, message) {
    main.dataset.state = state;
    statusLine.textContent = message;
  }

  function text(id, value) {
    document.getElementById(id).textContent = value;
  }

  function again(message) {
    setState("waiting", message);
    if (Date.now() - started >= GIVE_UP_AFTER_MS) {
      setState("timeout", "This is taking longer than usual. If your payment went through, your key " +
        "will appear here once it is ready: press \u201cCheck again\u201d in a few minutes, or " +
        "contact the vendor with the order reference below.");
      retry.hidden = false;
      return;
    }
    setTimeout(poll, delay);
    delay = Math.min(Math.round(delay * 1.5), MAX_DELAY_MS);
  }

  function show(body) {
    var license = body.license;
    text("license-key", body.key);
    text("product", license.product_name || ("product " + license.product));
    text("tier", license.tier_name || ("tier " + license.tier));
    text("features", license.features.length ? license.features.join(", ") : "none");
    var expires = document.getElementById("expires");
    if (typeof body.key_expires_at === "number") {
      var date = new Date(body.key_expires_at * 1000);
      expires.dateTime = date.toISOString();
      expires.textContent = date.toLocaleDateString(undefined,
        { year: "numeric", month: "long", day: "numeric" });
    } else {
      expires.textContent = "never (perpetual licence)";
    }
    if (license.status !== "active") {
      var warning = document.getElementById("license-warning");
      warning.textContent = "This licence is " + license.status + ".";
      warning.hidden = false;
    }
    document.getElementById("license").hidden = false;
    setState("ready", "Your licence key is ready.");
  }

  function poll() {
    polls += 1;
    main.dataset.polls = String(polls);
    fetch(url, { headers: { "Accept": "application/json" }, cache: "no-store", credentials: "omit" })
      .then(function (response) {
        if (response.status === 200) {
          return response.json().then(function (body) {
            if (body && typeof body.key === "string" && body.license) {
              show(body);
            } else {
              again("Your licence is being prepared…");
            }
          });
        }
        if (response.status === 404) {
          again("Waiting for the payment confirmation… This usually takes a few seconds.");
        } else if (response.status === 400) {
          setState("error", "This link does not name a valid checkout session.");
        } else if (response.status === 410) {
          setState("expired", "This link has expired. Your licence key was sent to the e-mail " +
            "address you gave at checkout: please check your e-mail. If you cannot find it, contact " +
            "support with the order reference below.");
        } else {
          again("The server is busy; trying again…");
        }
      })
      .catch(function () {
        again("Cannot reach the server; trying again…");
      });
  }

  function start() {
    started = Date.now();
    delay = FIRST_DELAY_MS;
    retry.hidden = true;
    poll();
  }

  function copied(message) {
    text("copied", message);
  }

  function selectKey() {
    var range = document.createRange();
    range.selectNodeContents(document.getElementById("license-key"));
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    try {
      return document.execCommand("copy");
    } catch (e) {
      return false;
    }
  }

  document.getElementById("copy").addEventListener("click", function () {
    var key = document.getElementById("license-key").textContent;
    var fallback = function () {
      copied(selectKey() ? "Copied." : "Selected: press Ctrl+C (\u2318C on a Mac) to copy.");
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(key).then(function () { copied("Copied."); }, fallback);
    } else {
      fallback();
    }
  });
  retry.addEventListener("click", start);
  start();
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids() {
        assert!(is_checkout_session_id("cs_test_a1B2c3"));
        assert!(is_checkout_session_id("cs_live_Z9"));
        for bad in [
            "",
            "cs_",
            "pi_123",
            "cs_a-b",
            "cs_a b",
            "cs_<script>",
            "cs_a\"b",
            "cs_é",
        ] {
            assert!(!is_checkout_session_id(bad), "{bad}");
        }
        assert!(!is_checkout_session_id(&format!("cs_{}", "a".repeat(253))));
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape_html(r#"<a href="x" title='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
    }
}
