//! `GET /activate`: air-gapped activation for a person. The app on the offline machine shows an
//! activation request (`tsq1_…`, as text and as a QR code); on any device that is online, the person
//! opens this page, pastes the request (or, where the browser has `BarcodeDetector`, scans the QR
//! code with the camera), and gets the machine certificate to copy or download as `license.tsm1`,
//! and to carry back to the machine.
//!
//! An app may also put the request into the QR code as a link to this page, `…/activate#tsq1_…`:
//! the page then activates at once. The request stays in the fragment, which browsers never send
//! to a server, and the page removes it from the address bar and the history.
//!
//! The page posts the request to `POST /v1/machines/offline` and shows what it answers. It is built
//! like the checkout page ([`crate::checkout_page`]): self-contained, with only this response's
//! nonced style and script allowed by its Content-Security-Policy, fetches to its own origin only,
//! `no-store`, and every answer inserted as text, never as markup. The request carries the licence
//! key: nothing of it is put into the URL or the page's markup.

use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use crate::checkout_page::{head, nonce, page_response};
use crate::state::AppState;

/// `GET /activate`.
pub fn router() -> Router<AppState> {
    Router::new().route("/activate", get(page))
}

/// A page that turns an activation request into a machine certificate.
#[utoipa::path(
    get,
    path = "/activate",
    operation_id = "activation_page",
    tag = "machines",
    responses(
        (status = 200, description = "The page; its script posts the pasted or scanned request to \
            `POST /v1/machines/offline` and shows the certificate", body = String,
            content_type = "text/html"),
    )
)]
pub(crate) async fn page() -> Response {
    let nonce = nonce();
    let mut html = head(&nonce, "Activate a machine");
    html.push_str(&format!(
        r#"<main id="activate" data-state="ready">
<h1>Activate a machine</h1>
<p>Paste the activation request the app shows (it starts with <code>tsq1_</code>), then press
Activate. Carry the certificate back to the machine.</p>
<label for="request">Activation request</label>
<textarea id="request" rows="5" spellcheck="false" autocomplete="off" maxlength="4096"></textarea>
<p><button type="button" id="activate-button">Activate</button>
<button type="button" id="scan" hidden>Scan QR code</button></p>
<video id="camera" playsinline muted hidden></video>
<p id="status" role="status" aria-live="polite"></p>
<section id="result" hidden>
<h2>Machine certificate</h2>
<div class="keybox"><code id="certificate"></code></div>
<p><button type="button" id="copy">Copy certificate</button>
<a id="download" download="license.tsm1" href="">Download license.tsm1</a>
<span id="copied" aria-live="polite"></span></p>
<dl>
<dt>Machine</dt><dd id="machine"></dd>
<dt>Lease ends</dt><dd id="lease"></dd>
</dl>
</section>
<section id="machines" hidden>
<h2>Machines holding this licence's seats</h2>
<ul id="machine-list"></ul>
<p class="hint">Deactivate one of them in the app (or ask support), then try again.</p>
</section>
<noscript><p class="warning">This page needs JavaScript. Scripts can post the request to
<code>POST /v1/machines/offline</code> instead.</p></noscript>
</main>
<script nonce="{nonce}">{SCRIPT}</script>
</body>
</html>
"#
    ));
    page_response(StatusCode::OK, &nonce, true, html)
}

const SCRIPT: &str = r##"
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var main = $("activate"), status = $("status"), downloadUrl = null;
  function say(text, state) { status.textContent = text; main.dataset.state = state; }
  function when(seconds) {
    return seconds == null ? "never" : new Date(seconds * 1000).toLocaleString();
  }
  function show(answer) {
    var cert = answer.certificate;
    $("certificate").textContent = cert;
    var m = answer.machine || {};
    $("machine").textContent = (m.name || m.id || "") + (m.platform ? " (" + m.platform + ")" : "");
    $("lease").textContent = when(m.lease_ends_at);
    if (downloadUrl) { URL.revokeObjectURL(downloadUrl); }
    downloadUrl = URL.createObjectURL(new Blob([cert + "\n"], { type: "text/plain" }));
    $("download").href = downloadUrl;
    $("result").hidden = false;
  }
  function listMachines(machines) {
    var list = $("machine-list");
    list.textContent = "";
    (machines || []).forEach(function (m) {
      var item = document.createElement("li");
      item.textContent = (m.name || m.id) + (m.platform ? " (" + m.platform + ")" : "") +
        ", last seen " + when(m.last_seen_at);
      list.appendChild(item);
    });
    $("machines").hidden = false;
  }
  function activate() {
    var request = $("request").value.trim();
    $("result").hidden = true;
    $("machines").hidden = true;
    if (request.indexOf("tsq1_") !== 0) {
      say("That is not an activation request: it starts with tsq1_.", "invalid");
      return;
    }
    say("Activating…", "loading");
    fetch("v1/machines/offline", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ request: request }),
      cache: "no-store",
      credentials: "omit"
    }).then(function (response) {
      return response.json().then(function (body) { return { status: response.status, body: body }; },
        function () { return { status: response.status, body: {} }; });
    }).then(function (answer) {
      if (answer.status === 200 || answer.status === 201) {
        show(answer.body);
        say(answer.status === 201 ? "Activated." : "This machine was already activated: here is a fresh certificate.", "done");
      } else if (answer.body.error === "too_many_machines") {
        listMachines(answer.body.machines);
        say(answer.body.message || "Every seat of this licence is taken.", "full");
      } else {
        say(answer.body.message || ("The issuer answered " + answer.status + "."), "error");
      }
    }, function () {
      say("The issuer could not be reached. Check the connection and try again.", "error");
    });
  }
  $("activate-button").addEventListener("click", activate);
  if (location.hash.indexOf("#tsq1_") === 0) {
    $("request").value = decodeURIComponent(location.hash.slice(1));
    history.replaceState(null, "", location.pathname + location.search);
    activate();
  }
  $("copy").addEventListener("click", function () {
    var text = $("certificate").textContent;
    var done = function () { $("copied").textContent = "Copied."; };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(done, function () { $("copied").textContent = "Select the text and copy it."; });
    } else { $("copied").textContent = "Select the text and copy it."; }
  });
  if ("BarcodeDetector" in window && navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
    var scan = $("scan");
    scan.hidden = false;
    scan.addEventListener("click", function () {
      var video = $("camera"), detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (stream) {
        video.srcObject = stream;
        video.hidden = false;
        video.play();
        say("Point the camera at the QR code.", "scanning");
        var stop = function () { stream.getTracks().forEach(function (t) { t.stop(); }); video.hidden = true; };
        var look = function () {
          detector.detect(video).then(function (codes) {
            var found = codes.map(function (c) { return c.rawValue; })
              .filter(function (v) { return v.indexOf("tsq1_") === 0; })[0];
            if (found) { stop(); $("request").value = found; activate(); }
            else { setTimeout(look, 250); }
          }, function () { setTimeout(look, 500); });
        };
        look();
      }, function () { say("The camera is not available: paste the request instead.", "ready"); });
    });
  }
})();
"##;
