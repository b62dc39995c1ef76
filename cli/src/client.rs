//! The HTTP client of the issuer's API: one request, one JSON answer, or a failure with its exit
//! code. `tessera admin` sends an admin token (`Authorization: Bearer`); `activate` and `deactivate`
//! send the licence key (`Authorization: License`), and read the issuer's refusals of it as the
//! classes `verify` uses (expired 17, revoked 15, ...).
//!
//! The credential goes only into the `Authorization` header: no message names it, and `Debug` hides
//! it.

use std::time::Duration;

use serde_json::Value;

use crate::admin::Secret;
use crate::exit::{Exit, Failure, Result};

/// How long a request may take, connecting included, before the issuer counts as unreachable.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The largest answer read; the biggest real ones (a licence with its history) are tens of kB.
const MAX_ANSWER: u64 = 16 * 1024 * 1024;

/// What the client authenticates with, which decides how a refusal reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Credential {
    /// An admin token.
    Admin,
    /// A licence key.
    License,
}

/// A client of one issuer with one credential.
pub(crate) struct Client {
    agent: ureq::Agent,
    base: String,
    authorization: String,
    credential: Credential,
}

/// An answer the issuer gave, whatever its status.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    /// The body, if it is JSON.
    pub(crate) body: Option<Value>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client of the issuer at `url` with an admin token; a usage error if the URL is not
    /// http(s) or there is no usable token.
    pub(crate) fn admin(url: &str, token: Option<&Secret>) -> Result<Client> {
        let usage = |message: String| Failure::msg(Exit::Usage, message);
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
        Client::with(url, format!("Bearer {token}"), Credential::Admin)
    }

    /// A client of the issuer at `url` that authenticates with the licence key `key_text` (its
    /// whitespace, as in a wrapped key, taken out).
    pub(crate) fn license(url: &str, key_text: &str) -> Result<Client> {
        let key: String = key_text.split_whitespace().collect();
        // A key is base64url after its prefix; anything else would not survive a header.
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Failure::msg(
                Exit::Malformed,
                "malformed licence key: it holds characters no key has",
            ));
        }
        Client::with(url, format!("License {key}"), Credential::License)
    }

    fn with(url: &str, authorization: String, credential: Credential) -> Result<Client> {
        let base = url.trim().trim_end_matches('/');
        let rest = base
            .strip_prefix("http://")
            .or_else(|| base.strip_prefix("https://"));
        if rest.is_none_or(|rest| rest.is_empty() || rest.contains(['?', '#', ' '])) {
            return Err(Failure::msg(
                Exit::Usage,
                format!("--url `{base}` is not an http:// or https:// URL of the issuer"),
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
            authorization,
            credential,
        })
    }

    /// The issuer's base URL, as messages name it.
    pub(crate) fn base(&self) -> &str {
        &self.base
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
        let answer = self.post_answer(path, body)?;
        self.json("POST", path, answer)
    }

    /// `POST path` with `body` as JSON, and whatever the issuer answered, for a caller that reads
    /// some refusals itself (`409 too_many_machines`).
    pub(crate) fn post_answer(&self, path: &str, body: &Value) -> Result<Answer> {
        let request = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("authorization", &self.authorization)
            .header("accept", "application/json")
            .header("content-type", "application/json");
        self.read(request.send(body.to_string()))
    }

    /// `DELETE path`; any 2xx answer is success.
    pub(crate) fn delete(&self, path: &str) -> Result {
        let request = self
            .agent
            .delete(format!("{}{path}", self.base))
            .header("authorization", &self.authorization)
            .header("accept", "application/json");
        let answer = self.read(request.call())?;
        if (200..300).contains(&answer.status) {
            return Ok(());
        }
        Err(self.refused(&answer, "DELETE", path))
    }

    /// The JSON of a 2xx answer; any other outcome as a failure of its class.
    pub(crate) fn json(&self, method: &str, path: &str, answer: Answer) -> Result<Value> {
        if (200..300).contains(&answer.status) {
            return answer.body.filter(Value::is_object).ok_or_else(|| {
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
        Err(self.refused(&answer, method, path))
    }

    /// The failure for an answer with a status other than 2xx.
    pub(crate) fn refused(&self, answer: &Answer, method: &str, path: &str) -> Failure {
        status_failure(
            self.credential,
            answer.status,
            answer.body.as_ref(),
            method,
            path,
        )
    }

    fn answer(
        &self,
        method: &str,
        path: &str,
        sent: std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Value> {
        let answer = self.read(sent)?;
        self.json(method, path, answer)
    }

    /// The status and (JSON) body of an answer, at most [`MAX_ANSWER`] bytes of it.
    fn read(
        &self,
        sent: std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Answer> {
        let mut response = sent.map_err(|err| self.transport(err))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER)
            .read_to_string()
            .map_err(|err| self.transport(err))?;
        Ok(Answer {
            status,
            body: serde_json::from_str::<Value>(&text).ok(),
        })
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
fn status_failure(
    credential: Credential,
    status: u16,
    body: Option<&Value>,
    method: &str,
    path: &str,
) -> Failure {
    let field = |name: &str| {
        body.and_then(|body| body.get(name))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|text| !text.is_empty())
    };
    let code = field("error").map_or_else(|| status.to_string(), |code| format!("{status} {code}"));
    let message = field("message").map_or_else(|| format!("{method} {path}"), str::to_owned);
    let (exit, what) = match (credential, status) {
        (Credential::Admin, 401) => {
            return Failure::msg(
                Exit::Unauthorized,
                "the server refused the admin token (401)",
            )
        }
        (Credential::License, 401 | 403) => {
            // The issuer checks the key as `verify` does, and says which check failed.
            let exit = match field("error").unwrap_or_default() {
                "malformed" => Exit::Malformed,
                "unsupported_version" => Exit::UnsupportedVersion,
                "unknown_key_id" => Exit::UnknownKeyId,
                "bad_signature" => Exit::BadSignature,
                "not_yet_valid" => Exit::NotYetValid,
                "expired" => Exit::Expired,
                "revoked" => Exit::Revoked,
                _ => Exit::Refused,
            };
            (exit, "the issuer refused the licence key")
        }
        (_, 404) => (Exit::NotFound, "not found"),
        (_, 400..=499) => (Exit::Refused, "request refused"),
        (_, 500..=599) => (Exit::ServerError, "server error"),
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
        let failure = status_failure(Credential::Admin, 409, Some(&body), "POST", "/x");
        assert_eq!(failure.exit, Exit::Refused);
        assert_eq!(
            line(&failure),
            "request refused (409 already_revoked): the licence is already revoked"
        );
        let body = json!({"error": "not_found", "message": "no licence by that id"});
        let failure = status_failure(Credential::Admin, 404, Some(&body), "GET", "/x");
        assert_eq!(failure.exit, Exit::NotFound);
        assert_eq!(
            line(&failure),
            "not found (404 not_found): no licence by that id"
        );
        let failure = status_failure(Credential::Admin, 401, Some(&body), "GET", "/x");
        assert_eq!(failure.exit, Exit::Unauthorized);
        assert_eq!(line(&failure), "the server refused the admin token (401)");
        let failure = status_failure(
            Credential::Admin,
            502,
            None,
            "POST",
            "/v1/admin/webhooks/evt_1/retry",
        );
        assert_eq!(failure.exit, Exit::ServerError);
        assert_eq!(
            line(&failure),
            "server error (502): POST /v1/admin/webhooks/evt_1/retry"
        );
        assert_eq!(
            status_failure(Credential::Admin, 422, None, "GET", "/").exit,
            Exit::Refused
        );
        assert_eq!(
            status_failure(Credential::Admin, 302, None, "GET", "/").exit,
            Exit::ServerError
        );
    }

    #[test]
    fn licence_key_refusals_read_as_verify_classes() {
        let body = json!({"error": "revoked", "message": "licence is revoked"});
        let failure = status_failure(
            Credential::License,
            403,
            Some(&body),
            "POST",
            "/v1/machines",
        );
        assert_eq!(failure.exit, Exit::Revoked);
        assert_eq!(
            line(&failure),
            "the issuer refused the licence key (403 revoked): licence is revoked"
        );
        let body = json!({"error": "expired", "message": "licence expired"});
        let failure = status_failure(Credential::License, 401, Some(&body), "POST", "/x");
        assert_eq!(failure.exit, Exit::Expired);
        let body = json!({"error": "suspended", "message": "licence is suspended"});
        let failure = status_failure(Credential::License, 403, Some(&body), "POST", "/x");
        assert_eq!(failure.exit, Exit::Refused);
        let failure = Client::license("http://x", "ts1_a\u{1b}b").unwrap_err();
        assert_eq!(failure.exit, Exit::Malformed);
        assert!(Client::license("http://x", " ts1_ab\n  cd ").is_ok());
    }

    #[test]
    fn urls_and_tokens_are_checked_before_any_request() {
        let token = Secret("tsadm_abc".to_owned());
        assert!(Client::admin("http://127.0.0.1:8080/", Some(&token)).is_ok());
        assert!(Client::admin("https://issuer.example", Some(&token)).is_ok());
        for bad in ["127.0.0.1:8080", "ftp://x", "http://", "http://x/?a"] {
            let failure = Client::admin(bad, Some(&token)).unwrap_err();
            assert_eq!(failure.exit, Exit::Usage, "{bad}");
        }
        let failure = Client::admin("http://x", None).unwrap_err();
        assert_eq!(failure.exit, Exit::Usage);
        let secret = Secret("tsadm_a\nb".to_owned());
        let failure = Client::admin("http://x", Some(&secret)).unwrap_err();
        assert!(!line(&failure).contains("tsadm_a"), "{}", line(&failure));
    }
}
