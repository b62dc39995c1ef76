//! `Authorization: Bearer <token>` for `/v1/admin/`: one of the configured admin tokens.
//!
//! A missing, malformed or unknown token gets the same `401 unauthorized`, so an answer never tells
//! which part was wrong. The token is never logged; its name is, and goes into the audit trail.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use utoipa::IntoResponses;

use super::tokens;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// The support person (by token name) making an admin request.
#[derive(Clone, Debug)]
pub struct Admin {
    /// The token's configured name.
    pub name: String,
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let presented = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                let (scheme, token) = value.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            });
        let name = presented.and_then(|token| tokens::identify(&state.config.admin_tokens, token));
        match name {
            Some(name) => Ok(Admin {
                name: name.to_owned(),
            }),
            None => {
                tracing::warn!(path = %parts.uri.path(), "admin request refused: no valid token");
                Err(ApiError::Unauthorized {
                    code: "unauthorized",
                    message: "a valid admin token is required".to_owned(),
                })
            }
        }
    }
}

/// How an admin token is refused.
#[derive(Debug, IntoResponses)]
pub enum AdminRefused {
    /// `unauthorized`: no admin token, or not a configured one.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
}
