//! The HTTP client of the issuer's admin API: one request, one JSON answer, or a failure with its
//! exit code.
//!
//! The token goes only into the `Authorization` header: no message names it, and `Debug` hides it.

use std::time::Duration;

use serde_json::Value;

use super::args::Secret;
use crate::exit::{Exit, Failure, Result};

/// How long a request may take, connecting included, before the issuer counts as unreachable.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The largest answer read; the biggest real ones (a licence with its history) are tens of kB.
const MAX_ANSWER: u64 = 16 * 1024 * 1024;

/// A client of one issuer with one admin token.
pub(crate) struct Client {
    agent: ureq::Agent,
    base: String,
    authorization: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client of the issuer at `url`; a usage error if the URL is not http(s) or there is no
    /// usable token.
    pub(crate) fn new(url: &str, token: Option<&Secret>) -> Result<Client> {
        let usage = |message: String| Failure::msg(Exit::Usage, message);
        let base = url.trim().trim_end_matches('/');
        let rest = base
            .strip_prefix("http://")
            .or_else(|| base.strip_prefix("https://"));
        if rest.is_none_or(|rest| rest.is_empty() || rest.contains(['?', '#', ' '])) {
            return Err(usage(format!(
                "--url `{base}` is not an http:// or https:// URL of the issuer"
            )));
        }
        let token = token.map(|token| token.0.trim()).unwrap_or_default();
        if token.is_empty() {
            return Err(usage(
                "an admin token is required: set TESSERA_TOKEN or pass --token (`tessera admin \
                 token` makes one)"
                    .to_owned(),
            ));
        }
        // Checked here so that the HTTP library never gets to describe it.
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(usage(
                "the admin token holds characters no token has (spaces or control characters)"
                    .to_owned(),
            ));
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(TIMEOUT))
            .user_agent(concat!("tessera-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Client {
            agent,
            base: base.to_owned(),
            authorization: format!("Bearer {token}"),
        })
    }

    /// `GET path?query`; query pairs with no value are left out.
    pub(crate) fn get(&self, path: &str, query: &[(&str, Option<String>)]) -> Result<Value> {
        let mut request = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("authorization", &self.authorization)
            .header("accept", "application/json");
        for (name, value) in query {
            if let Some(value) = value {
                request = request.query(*name, value);
            }
        }
        self.answer("GET", path, request.call())
    }

    /// `POST path` with `body` as JSON.
    pub(crate) fn post(&self, path: &str, body: &Value) -> Result<Value> {
        let request = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("authorization", &self.authorization)
            .header("accept", "application/json")
            .header("content-type", "application/json");
        self.answer("POST", path, request.send(body.to_string()))
    }

    /// The JSON of a 2xx answer; any other outcome as a failure of its class.
    fn answer(
        &self,
        method: &str,
        path: &str,
        sent: std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Value> {
        let mut response = sent.map_err(|err| self.transport(err))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER)
            .read_to_string()
            .map_err(|err| self.transport(err))?;
        let json = serde_json::from_str::<Value>(&text).ok();
        if (200..300).contains(&status) {
            return json.filter(Value::is_object).ok_or_else(|| {
                Failure::msg(
                    Exit::ServerError,
                    format!(
                        "the answer to {method} {path} from {} is not a JSON object: is it a \
                         Tessera issuer?",
                        self.base
                    ),
                )
            });
        }
        Err(status_failure(status, json.as_ref(), method, path))
    }

    /// A request that got no answer: the issuer is unreachable, or the URL is unusable.
    fn transport(&self, err: ureq::Error) -> Failure {
        let unreachable = |why: String| {
            Failure::msg(
                Exit::ServerUnreachable,
                format!("cannot reach the issuer at {}: {why}", self.base),
            )
        };
        match err {
            ureq::Error::Io(io) => unreachable(io.to_string()),
            ureq::Error::Timeout(_) => {
                unreachable(format!("no answer within {} s", TIMEOUT.as_secs()))
            }
            ureq::Error::HostNotFound => unreachable("host not found".to_owned()),
            ureq::Error::ConnectionFailed => unreachable("connection failed".to_owned()),
            ureq::Error::Tls(why) => unreachable(format!("TLS: {why}")),
            ureq::Error::Rustls(why) => unreachable(format!("TLS: {why}")),
            ureq::Error::BadUri(_) | ureq::Error::Http(_) => Failure::msg(
                Exit::Usage,
                format!("--url `{}` is not a usable URL", self.base),
            ),
            other => Failure::msg(
                Exit::ServerError,
                format!("bad answer from the issuer at {}: {other}", self.base),
            ),
        }
    }
}

/// The failure for an answer with a status other than 2xx: its class, and the issuer's `message`
/// and `error` code when the body has them.
fn status_failure(status: u16, body: Option<&Value>, method: &str, path: &str) -> Failure {
    let field = |name: &str| {
        body.and_then(|body| body.get(name))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|text| !text.is_empty())
    };
    let code = field("error").map_or_else(|| status.to_string(), |code| format!("{status} {code}"));
    let message = field("message").map_or_else(|| format!("{method} {path}"), str::to_owned);
    let (exit, what) = match status {
        401 => {
            return Failure::msg(
                Exit::Unauthorized,
                "the server refused the admin token (401)",
            )
        }
        404 => (Exit::NotFound, "not found"),
        400..=499 => (Exit::Refused, "request refused"),
        500..=599 => (Exit::ServerError, "server error"),
        _ => (Exit::ServerError, "unexpected answer"),
    };
    Failure::msg(exit, format!("{what} ({code}): {message}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn line(failure: &Failure) -> String {
        failure.error.to_string()
    }

    #[test]
    fn statuses_map_to_exit_codes_with_the_servers_words() {
        let body = json!({"error": "already_revoked", "message": "the licence is already revoked"});
        let failure = status_failure(409, Some(&body), "POST", "/x");
        assert_eq!(failure.exit, Exit::Refused);
        assert_eq!(
            line(&failure),
            "request refused (409 already_revoked): the licence is already revoked"
        );
        let body = json!({"error": "not_found", "message": "no licence by that id"});
        let failure = status_failure(404, Some(&body), "GET", "/x");
        assert_eq!(failure.exit, Exit::NotFound);
        assert_eq!(
            line(&failure),
            "not found (404 not_found): no licence by that id"
        );
        let failure = status_failure(401, Some(&body), "GET", "/x");
        assert_eq!(failure.exit, Exit::Unauthorized);
        assert_eq!(line(&failure), "the server refused the admin token (401)");
        let failure = status_failure(502, None, "POST", "/v1/admin/webhooks/evt_1/retry");
        assert_eq!(failure.exit, Exit::ServerError);
        assert_eq!(
            line(&failure),
            "server error (502): POST /v1/admin/webhooks/evt_1/retry"
        );
        assert_eq!(status_failure(422, None, "GET", "/").exit, Exit::Refused);
        assert_eq!(
            status_failure(302, None, "GET", "/").exit,
            Exit::ServerError
        );
    }

    #[test]
    fn urls_and_tokens_are_checked_before_any_request() {
        let token = Secret("tsadm_abc".to_owned());
        assert!(Client::new("http://127.0.0.1:8080/", Some(&token)).is_ok());
        assert!(Client::new("https://issuer.example", Some(&token)).is_ok());
        for bad in ["127.0.0.1:8080", "ftp://x", "http://", "http://x/?a"] {
            let failure = Client::new(bad, Some(&token)).unwrap_err();
            assert_eq!(failure.exit, Exit::Usage, "{bad}");
        }
        let failure = Client::new("http://x", None).unwrap_err();
        assert_eq!(failure.exit, Exit::Usage);
        let secret = Secret("tsadm_a\nb".to_owned());
        let failure = Client::new("http://x", Some(&secret)).unwrap_err();
        assert!(!line(&failure).contains("tsadm_a"), "{}", line(&failure));
    }
}
