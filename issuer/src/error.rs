//! The one error type handlers return, and how it becomes an HTTP answer.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::store::{StoreError, StoreErrorKind};

/// Everything a handler can answer with besides success.
///
/// The body is always `{"error": "<code>", "message": "<one line>"}`; internal details go to the log,
/// never to the client.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the request is malformed.
    BadRequest {
        /// Stable machine-readable code, e.g. `invalid_signature`.
        code: &'static str,
        /// One line for humans.
        message: String,
    },
    /// 401: no usable credential (missing, malformed, not signed by this issuer, expired).
    Unauthorized {
        /// Stable machine-readable code, e.g. `expired`.
        code: &'static str,
        /// One line for humans.
        message: String,
    },
    /// 403: a valid credential that may not act (revoked, suspended).
    Forbidden {
        /// Stable machine-readable code.
        code: &'static str,
        /// One line for humans.
        message: String,
    },
    /// 404: nothing by that id (yet).
    NotFound(&'static str),
    /// 410: it was here, and is no longer served by this id (an old Checkout Session's key).
    Gone {
        /// Stable machine-readable code.
        code: &'static str,
        /// One line for humans.
        message: &'static str,
    },
    /// 409: conflicts with the current state (a reservation already settled otherwise).
    Conflict {
        /// Stable machine-readable code.
        code: &'static str,
        /// One line for humans.
        message: String,
    },
    /// 409 `insufficient_credits`: a deduction larger than the balance; the body also carries
    /// `needed` and `available`.
    InsufficientCredits {
        /// What was asked for.
        needed: u64,
        /// What the balance holds.
        available: u64,
    },
    /// 429 `rate_limited` with `Retry-After`.
    RateLimited(crate::rate_limit::Limited),
    /// 422: well-formed but not acceptable.
    Unprocessable {
        /// Stable machine-readable code.
        code: &'static str,
        /// One line for humans.
        message: String,
    },
    /// 500: logged with its detail, answered bare.
    Internal(String),
    /// 503: a dependency (the database) is not available.
    Unavailable(String),
    /// 503 `draining`: the process is stopping after SIGTERM; `/readyz` says so while it drains.
    Draining,
    /// 503 `storage_unavailable` with `Retry-After`: storage failed in a way a later attempt can
    /// get past (disk full or read-only, I/O error); logged with its detail, answered bare.
    StorageUnavailable(String),
    /// 503: the endpoint needs configuration it does not have (no webhook secret, say); the message
    /// names the setting.
    NotConfigured {
        /// Stable machine-readable code.
        code: &'static str,
        /// One line for the operator.
        message: String,
    },
    /// 500 with a message safe to show: the request was understood but could not be acted on
    /// (a webhook naming an unknown price). The sender should retry after the operator fixes it.
    ProcessingFailed(String),
}

impl ApiError {
    /// A 400 with `code` and `message`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// A 422 with `code` and `message`.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Unprocessable {
            code,
            message: message.into(),
        }
    }
}

/// How long a client is told to wait after `storage_unavailable`: long enough for an operator's
/// fix or a lock to clear, short enough that Stripe's and apps' retries soon get through.
pub const STORAGE_RETRY_AFTER_SECONDS: u64 = 5;

/// The body of every error answer: `{"error": "<code>", "message": "<one line>"}`, as
/// `ApiError` makes it.
// Every error answer is built from this type (the extractors' and middleware's too), and the
// OpenAPI document describes it, as `ErrorResponse`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ErrorResponse)]
pub struct ErrorBody {
    // The fields are in alphabetical order so that the bytes are those of the `json!` objects
    // these bodies used to be (and of the `insufficient_credits` answers already stored for
    // idempotent replay).
    /// `insufficient_credits` only: the credits the balance holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub available: Option<u64>,
    /// A stable machine-readable code, e.g. `invalid_body`, `not_found`, `rate_limited`.
    pub error: String,
    /// One line for humans.
    pub message: String,
    /// `insufficient_credits` only: the credits asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub needed: Option<u64>,
}

impl ErrorBody {
    /// `{"error": code, "message": message}`.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorBody {
            available: None,
            error: code.into(),
            message: message.into(),
            needed: None,
        }
    }

    /// `insufficient_credits`: `needed` asked for, `available` held.
    pub fn insufficient_credits(needed: u64, available: u64) -> Self {
        ErrorBody {
            available: Some(available),
            needed: Some(needed),
            ..ErrorBody::new(
                "insufficient_credits",
                format!("{needed} credits needed, {available} available"),
            )
        }
    }

    /// This body as a JSON answer with `status`.
    pub fn into_response_with(self, status: StatusCode) -> Response {
        (status, Json(self)).into_response()
    }
}

/// How the OpenAPI document describes an `insufficient_credits` answer: an [`ErrorBody`] in which
/// `needed` and `available` are always present.
#[derive(Debug)]
pub struct InsufficientCreditsResponse;

impl PartialSchema for InsufficientCreditsResponse {
    fn schema() -> RefOr<Schema> {
        let mut schema = ErrorBody::schema();
        if let RefOr::T(Schema::Object(object)) = &mut schema {
            object.description = Some(
                "`insufficient_credits`: an error answer that also says what was asked for and \
                 what there is."
                    .to_owned(),
            );
            object
                .required
                .extend(["needed".to_owned(), "available".to_owned()]);
        }
        schema
    }
}

impl ToSchema for InsufficientCreditsResponse {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::RateLimited(limited) = self {
            return limited.into_response();
        }
        if let ApiError::StorageUnavailable(detail) = &self {
            tracing::error!(%detail, "storage unavailable");
            let body = ErrorBody::new(
                "storage_unavailable",
                "storage is unavailable for now; try again later",
            );
            let retry_after = [(
                axum::http::header::RETRY_AFTER,
                STORAGE_RETRY_AFTER_SECONDS.to_string(),
            )];
            return (StatusCode::SERVICE_UNAVAILABLE, retry_after, Json(body)).into_response();
        }
        if let ApiError::InsufficientCredits { needed, available } = self {
            return ErrorBody::insufficient_credits(needed, available)
                .into_response_with(StatusCode::CONFLICT);
        }
        let (status, code, message) = match &self {
            ApiError::BadRequest { code, message } => {
                (StatusCode::BAD_REQUEST, *code, message.as_str())
            }
            ApiError::Unauthorized { code, message } => {
                (StatusCode::UNAUTHORIZED, *code, message.as_str())
            }
            ApiError::Forbidden { code, message } => {
                (StatusCode::FORBIDDEN, *code, message.as_str())
            }
            ApiError::NotFound(what) => (StatusCode::NOT_FOUND, "not_found", *what),
            ApiError::Gone { code, message } => (StatusCode::GONE, *code, *message),
            ApiError::Conflict { code, message } => (StatusCode::CONFLICT, *code, message.as_str()),
            ApiError::Unprocessable { code, message } => {
                (StatusCode::UNPROCESSABLE_ENTITY, *code, message.as_str())
            }
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error",
                )
            }
            ApiError::Unavailable(detail) => {
                tracing::error!(%detail, "service unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "service unavailable",
                )
            }
            ApiError::Draining => (
                StatusCode::SERVICE_UNAVAILABLE,
                "draining",
                "this process is stopping: send requests to another",
            ),
            ApiError::NotConfigured { code, message } => {
                (StatusCode::SERVICE_UNAVAILABLE, *code, message.as_str())
            }
            ApiError::ProcessingFailed(message) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "processing_failed",
                message.as_str(),
            ),
            ApiError::InsufficientCredits { .. } => {
                (StatusCode::CONFLICT, "insufficient_credits", "")
            }
            ApiError::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited", ""),
            ApiError::StorageUnavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable", "")
            }
        };
        ErrorBody::new(code, message).into_response_with(status)
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err.kind() {
            // A lost race the store did not retry away can succeed when the client tries again.
            StoreErrorKind::Unavailable | StoreErrorKind::Conflict => {
                ApiError::StorageUnavailable(err.to_string())
            }
            StoreErrorKind::Constraint | StoreErrorKind::Corrupt | StoreErrorKind::Internal => {
                ApiError::Internal(err.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Idempotent replays answer with bodies stored by earlier versions, which wrote `json!` objects
    // (keys in alphabetical order): a new answer must have the same bytes as a replayed one.
    #[test]
    fn error_bodies_keep_the_bytes_of_stored_answers() {
        let plain = serde_json::to_string(&ErrorBody::new("not_found", "no licence")).unwrap();
        assert_eq!(plain, r#"{"error":"not_found","message":"no licence"}"#);
        let shortfall = serde_json::to_string(&ErrorBody::insufficient_credits(5, 3)).unwrap();
        assert_eq!(
            shortfall,
            r#"{"available":3,"error":"insufficient_credits","message":"5 credits needed, 3 available","needed":5}"#
        );
    }

    fn status(kind: StoreErrorKind) -> StatusCode {
        ApiError::from(StoreError::new(kind, "detail"))
            .into_response()
            .status()
    }

    #[test]
    fn storage_errors_answer_by_kind() {
        use StoreErrorKind::*;
        let answers = [Unavailable, Conflict, Constraint, Corrupt, Internal].map(status);
        let (unavailable, internal) = (
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::INTERNAL_SERVER_ERROR,
        );
        assert_eq!(
            answers,
            [unavailable, unavailable, internal, internal, internal]
        );
    }
}
