//! `POST /v1/credits/checkout` `{"pack": "price_…"}`: a Stripe Checkout Session for a top-up pack.
//!
//! The session carries the licence (`tessera_license`) and the price (`tessera_price`) in its
//! metadata; when Stripe reports it paid, the webhook adds the pack's credits to that licence once
//! ([`crate::fulfil`]). Answers `{"url": …, "session_id": …}`; a pack that is not a top-up price of
//! the catalogue is `422 unknown_pack`.
//!
//! `success_url` and `cancel_url` may be given, and an app with a page of its own should pass them:
//! by default Stripe sends the buyer back to `http://<Host>/v1/credits?checkout_session_id=…`, the
//! issuer as the request named it, which only suits a loopback or development setup.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Extension;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{LicenseRefused, Licensee};
use crate::config::Sale;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::extract::JsonBodyRefused;
use crate::state::AppState;
use crate::stripe::api::StripeApi;

/// The request body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutBody {
    /// The top-up price, `price_…`.
    pack: String,
    /// Where Stripe sends the buyer after paying.
    #[serde(default)]
    success_url: Option<String>,
    /// Where Stripe sends the buyer who gives up.
    #[serde(default)]
    cancel_url: Option<String>,
}

/// The answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckoutAnswer {
    /// Stripe's hosted payment page.
    url: Option<String>,
    /// `cs_…`.
    session_id: String,
}

/// A Stripe Checkout Session for a top-up pack; its webhook grants the credits once.
#[utoipa::path(
    post,
    path = "/v1/credits/checkout",
    tag = "credits",
    security(("license_key" = [])),
    request_body = CheckoutBody,
    responses(
        (status = 200, description = "The Checkout Session to send the buyer to",
            body = CheckoutAnswer),
        (status = 400, description = "`invalid_json`, `invalid_body`", body = ErrorBody),
        LicenseRefused,
        JsonBodyRefused,
        (status = 422, description = "`unknown_pack`: not a top-up price of the catalogue",
            body = ErrorBody),
        (status = 500, description = "`processing_failed`: Stripe refused or did not answer; \
            `internal`", body = ErrorBody),
        (status = 503, description = "`stripe_not_configured`: no Stripe secret key",
            body = ErrorBody),
    )
)]
pub(super) async fn checkout(
    State(state): State<AppState>,
    Extension(api): Extension<Arc<StripeApi>>,
    who: Licensee,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CheckoutBody>,
) -> Result<Json<CheckoutAnswer>, ApiError> {
    let pack = body.pack.trim();
    match state.config.price(pack).map(|entry| &entry.sells) {
        Some(Sale::TopUp { .. }) => {}
        _ => {
            return Err(ApiError::unprocessable(
                "unknown_pack",
                format!("`{pack}` is not a top-up price of this issuer's catalogue"),
            ))
        }
    }
    let id = who.license_id;
    if let Some(refused) = state.db(move |store| store.credit_refusal(&id)).await? {
        return Err(refused.into());
    }
    if !api.is_configured() {
        return Err(ApiError::NotConfigured {
            code: "stripe_not_configured",
            message: "stripe.secret_key (or STRIPE_SECRET_KEY) is needed to create a Checkout \
                      Session"
                .to_owned(),
        });
    }
    let success_url = match body.success_url {
        Some(url) => url,
        None => {
            let host = headers
                .get(axum::http::header::HOST)
                .and_then(|host| host.to_str().ok())
                .unwrap_or("localhost");
            format!("http://{host}/v1/credits?checkout_session_id={{CHECKOUT_SESSION_ID}}")
        }
    };
    let license = who.license_id.to_hex().to_string();
    let session = api
        .create_top_up_session(pack, &license, &success_url, body.cancel_url.as_deref())
        .await
        .map_err(ApiError::ProcessingFailed)?;
    tracing::info!(%license, pack, "top-up Checkout Session created");
    Ok(Json(CheckoutAnswer {
        url: session.url,
        session_id: session.id,
    }))
}
