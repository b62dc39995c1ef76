//! Request extractors whose rejections answer in the API's error shape.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use utoipa::IntoResponses;

use crate::error::{ApiError, ErrorBody};

/// A JSON request body, like [`axum::Json`], but a bad body is answered as
/// `{"error": "<code>", "message": "…"}` like every other API error:
///
/// | problem | status | `error` |
/// | --- | --- | --- |
/// | not JSON | 400 | `invalid_json` |
/// | JSON of the wrong shape (missing field, wrong type) | 400 | `invalid_body` |
/// | no `Content-Type: application/json` | 415 | `expected_json` |
/// | larger than `[limits] body_bytes` | 413 | `payload_too_large` |
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(rejection_response(&rejection)),
        }
    }
}

fn rejection_response(rejection: &JsonRejection) -> Response {
    // serde's messages name the field and the position, never more of the body than the client sent.
    match rejection {
        JsonRejection::JsonSyntaxError(err) => {
            ApiError::bad_request("invalid_json", err.body_text()).into_response()
        }
        // axum answers these with 422; a body of the wrong shape is a malformed request here.
        JsonRejection::JsonDataError(err) => {
            ApiError::bad_request("invalid_body", err.body_text()).into_response()
        }
        JsonRejection::MissingJsonContentType(_) => ErrorBody::new(
            "expected_json",
            "expected a body with `Content-Type: application/json`",
        )
        .into_response_with(StatusCode::UNSUPPORTED_MEDIA_TYPE),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            crate::server::payload_too_large()
        }
        other => ApiError::bad_request("invalid_body", other.body_text()).into_response(),
    }
}

/// How a JSON body is refused before it is read ([`ApiJson`]); a body that is not JSON, or of the
/// wrong shape, is a 400 (`invalid_json`, `invalid_body`).
#[derive(Debug, IntoResponses)]
pub enum JsonBodyRefused {
    /// `payload_too_large`: larger than `[limits] body_bytes`.
    #[response(status = 413)]
    PayloadTooLarge(ErrorBody),
    /// `expected_json`: no `Content-Type: application/json`.
    #[response(status = 415)]
    UnsupportedMediaType(ErrorBody),
}
