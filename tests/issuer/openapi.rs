//! `GET /openapi.json`: the issuer's OpenAPI document lists exactly the routes it serves.
//!
//! [`ROUTES`] is the list of every method and path. It is compared both ways with the document the
//! real issuer serves, with the `.route(…)` calls in `issuer/src` (axum cannot list its routes, so
//! the source is read), and with the live server, which must answer each one with something other
//! than its unknown-endpoint 404 or a 405. A route added without documenting it fails here.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::harness::{http, Workspace};

/// Every route of the issuer: method and path, as in the OpenAPI document.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/openapi.json"),
    ("GET", "/v1/keys"),
    ("GET", "/v1/revocations"),
    ("GET", "/v1/licenses/by-checkout-session/{id}"),
    ("POST", "/v1/licenses/validate"),
    ("GET", "/v1/credits"),
    ("POST", "/v1/credits/reservations"),
    ("POST", "/v1/credits/reservations/{id}/commit"),
    ("POST", "/v1/credits/reservations/{id}/release"),
    ("GET", "/v1/credits/ledger"),
    ("POST", "/v1/credits/checkout"),
    ("POST", "/v1/machines"),
    ("GET", "/v1/machines"),
    ("DELETE", "/v1/machines/{id}"),
    ("POST", "/v1/machines/{id}/heartbeat"),
    ("POST", "/v1/machines/offline"),
    ("GET", "/activate"),
    ("GET", "/checkout/success"),
    ("POST", "/v1/webhooks/stripe"),
    ("GET", "/v1/admin/licenses"),
    ("POST", "/v1/admin/licenses"),
    ("GET", "/v1/admin/licenses/{id}"),
    ("POST", "/v1/admin/licenses/{id}/reissue"),
    ("POST", "/v1/admin/licenses/{id}/extend"),
    ("POST", "/v1/admin/licenses/{id}/revoke"),
    ("POST", "/v1/admin/licenses/{id}/suspend"),
    ("POST", "/v1/admin/licenses/{id}/reinstate"),
    ("GET", "/v1/admin/licenses/{id}/credits"),
    ("POST", "/v1/admin/licenses/{id}/credits/grant"),
    ("POST", "/v1/admin/licenses/{id}/credits/deduct"),
    ("GET", "/v1/admin/licenses/{id}/credits/ledger"),
    ("GET", "/v1/admin/credits/check"),
    ("GET", "/v1/admin/licenses/{id}/machines"),
    ("POST", "/v1/admin/licenses/{id}/seats"),
    ("GET", "/v1/admin/machines/{id}"),
    ("POST", "/v1/admin/machines/{id}/deactivate"),
    ("POST", "/v1/admin/machines/offline"),
    ("GET", "/v1/admin/webhooks"),
    ("GET", "/v1/admin/webhooks/{event_id}"),
    ("POST", "/v1/admin/webhooks/{event_id}/retry"),
    ("POST", "/v1/admin/keys/rotate"),
    ("GET", "/v1/admin/audit"),
];

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn listed() -> BTreeSet<(String, String)> {
    ROUTES
        .iter()
        .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
        .collect()
}

/// What is in `a` and not in `b`, for a readable assertion message.
fn missing(
    a: &BTreeSet<(String, String)>,
    b: &BTreeSet<(String, String)>,
) -> Vec<(String, String)> {
    a.difference(b).cloned().collect()
}

fn fetch_document() -> Value {
    let workspace = Workspace::new("");
    let issuer = workspace.start();
    let mut response = http()
        .get(&issuer.url("/openapi.json"))
        .call()
        .expect("GET /openapi.json");
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let body = response.body_mut().read_to_string().expect("body");
    serde_json::from_str(&body).expect("the document is JSON")
}

fn operations(document: &Value) -> Vec<(String, String, &Value)> {
    let paths = document["paths"].as_object().expect("`paths` is an object");
    let mut found = Vec::new();
    for (path, item) in paths {
        let item = item.as_object().expect("a path item is an object");
        for (method, operation) in item {
            assert!(
                METHODS.contains(&method.as_str()),
                "{path}: unexpected key `{method}`"
            );
            found.push((method.to_uppercase(), path.clone(), operation));
        }
    }
    found
}

#[test]
fn the_document_lists_every_route_and_only_those() {
    let document = fetch_document();
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.")),
        "{}",
        document["openapi"]
    );
    let documented: BTreeSet<(String, String)> = operations(&document)
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect();
    let listed = listed();
    assert_eq!(
        missing(&listed, &documented),
        vec![],
        "routes missing from the OpenAPI document (add #[utoipa::path] and list the handler in \
         issuer/src/openapi.rs)"
    );
    assert_eq!(
        missing(&documented, &listed),
        vec![],
        "documented operations missing from ROUTES in this test"
    );
}

#[test]
fn the_document_describes_credentials_errors_and_the_webhook_signature() {
    let document = fetch_document();
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["license_key"]["type"], "apiKey");
    assert_eq!(schemes["license_key"]["in"], "header");
    assert_eq!(schemes["license_key"]["name"], "Authorization");
    assert_eq!(schemes["admin_token"]["type"], "http");
    assert_eq!(schemes["admin_token"]["scheme"], "bearer");
    let error = &document["components"]["schemas"]["ErrorResponse"];
    assert_eq!(error["required"], serde_json::json!(["error", "message"]));

    let mut ids = BTreeSet::new();
    for (method, path, operation) in operations(&document) {
        let name = format!("{method} {path}");
        let id = operation["operationId"].as_str().expect("an operationId");
        assert!(
            ids.insert(id.to_owned()),
            "{name}: operationId {id} repeats"
        );

        let security: Vec<&str> = operation["security"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|entry| entry.as_object()?.keys().next().map(String::as_str))
                    .collect()
            })
            .unwrap_or_default();
        let expected: &[&str] = if path.starts_with("/v1/admin/") {
            &["admin_token"]
        } else if path.starts_with("/v1/credits")
            || (path.starts_with("/v1/machines") && path != "/v1/machines/offline")
        {
            &["license_key"]
        } else {
            &[]
        };
        assert_eq!(security, expected, "{name}: security");

        let responses = operation["responses"]
            .as_object()
            .expect("responses is an object");
        assert!(
            responses.keys().any(|status| status.starts_with('2')),
            "{name}: no success answer"
        );
        // Every route can be rate limited, time out or fail; credential checks answer 401.
        for status in ["408", "429", "500"] {
            assert!(responses.contains_key(status), "{name}: no {status}");
        }
        if !security.is_empty() {
            assert!(responses.contains_key("401"), "{name}: no 401");
        }
        if operation.get("requestBody").is_some() {
            assert!(responses.contains_key("413"), "{name}: no 413");
        }
        // Every error answer in JSON is the API's error shape.
        for (status, response) in responses {
            let Some(schema) = response["content"]["application/json"]["schema"].as_object() else {
                continue;
            };
            if status.starts_with('4') || status.starts_with('5') {
                let reference = schema.get("$ref").and_then(Value::as_str).unwrap_or("");
                assert!(
                    reference == "#/components/schemas/ErrorResponse"
                        || reference == "#/components/schemas/InsufficientCreditsResponse"
                        || reference == "#/components/schemas/TooManyMachinesBody",
                    "{name}: {status} is not an error body: {schema:?}"
                );
            }
        }
    }

    let webhook = &document["paths"]["/v1/webhooks/stripe"]["post"];
    let signature = webhook["parameters"]
        .as_array()
        .and_then(|list| list.iter().find(|p| p["name"] == "Stripe-Signature"))
        .expect("the webhook documents its Stripe-Signature header");
    assert_eq!(signature["in"], "header");
    assert_eq!(signature["required"], true);
}

#[test]
fn routes_in_the_source_are_the_listed_ones() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../issuer/src");
    let mut routes = BTreeSet::new();
    for file in rust_files(&src) {
        let text = std::fs::read_to_string(&file).expect("read source");
        for (method, path) in route_calls(&text) {
            assert!(
                routes.insert((method.clone(), path.clone())),
                "{}: {method} {path} routed twice",
                file.display()
            );
        }
    }
    let listed = listed();
    assert_eq!(
        missing(&routes, &listed),
        vec![],
        "routes in issuer/src missing from ROUTES in this test (document them, then list them)"
    );
    assert_eq!(
        missing(&listed, &routes),
        vec![],
        "ROUTES in this test that issuer/src does not route"
    );
}

#[test]
fn the_server_answers_every_listed_route() {
    let workspace = Workspace::new("");
    let issuer = workspace.start();
    for (method, path) in ROUTES {
        let url = issuer.url(&path.replace("{id}", "x").replace("{event_id}", "evt_x"));
        let request = http();
        let mut response = match *method {
            "GET" => request.get(&url).call(),
            "DELETE" => request.delete(&url).call(),
            _ => request
                .post(&url)
                .header("content-type", "application/json")
                .send("{}"),
        }
        .expect("request");
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string().unwrap_or_default();
        assert_ne!(status, 405, "{method} {path}: {body}");
        assert!(
            !body.contains("no such endpoint"),
            "{method} {path} is not routed: {status} {body}"
        );
    }
    // What no route serves: the JSON 404, and a JSON 405 that keeps its `Allow` header.
    let mut response = http().delete(&issuer.url("/v1/keys")).call().unwrap();
    assert_eq!(response.status().as_u16(), 405);
    let allow = response.headers().get("allow").cloned();
    let body: Value = serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(body["error"], "method_not_allowed", "{body}");
    assert!(allow.is_some_and(|allow| allow.to_str().unwrap().contains("GET")));
    // A path parameter that is not UTF-8: the API's 400, not axum's plain text.
    let mut response = http()
        .get(&issuer.url("/v1/licenses/by-checkout-session/cs_%FF"))
        .call()
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(body["error"], "bad_request", "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read issuer/src") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The `(METHOD, path)` pairs of every `.route("path", get(…).post(…))` call in `text`.
fn route_calls(text: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(".route(") {
        rest = &rest[start + ".route(".len()..];
        let Some(open) = rest.trim_start().strip_prefix('"') else {
            continue;
        };
        let Some(close) = open.find('"') else {
            break;
        };
        let path = &open[..close];
        // The method router: everything up to the parenthesis that closes `.route(`.
        let mut depth = 1;
        let mut end = close + 1;
        for (i, c) in open[close + 1..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                end = close + 1 + i;
                break;
            }
        }
        let router = &open[close + 1..end];
        let bytes = router.as_bytes();
        for method in METHODS {
            let call = format!("{method}(");
            let mut from = 0;
            while let Some(at) = router[from..].find(&call) {
                let at = from + at;
                let before = at.checked_sub(1).map(|i| bytes[i]);
                // `get(` as a function or a chained `.get(`, not the end of another name.
                if before.is_none_or(|b| !(b.is_ascii_alphanumeric() || b == b'_')) {
                    found.push((method.to_uppercase(), path.to_owned()));
                }
                from = at + call.len();
            }
        }
        rest = &open[end..];
    }
    found
}
