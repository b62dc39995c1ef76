//! Licences as buyers and apps fetch them.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use crate::config::Config;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::store::{IssuedKey, LicenseRecord, LicenseStatus};

/// The route of [`by_checkout_session`] (written out in [`router`] too, where
/// `tests/issuer/openapi.rs` reads the routes); its path carries a credential, so logs show this
/// template instead.
pub const BY_CHECKOUT_SESSION: &str = "/v1/licenses/by-checkout-session/{id}";

/// `GET /v1/licenses/by-checkout-session/{id}`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/licenses/by-checkout-session/{id}",
            get(by_checkout_session),
        )
        // Every answer, errors included: the success page must never be served a cached one.
        .layer(axum::middleware::map_response(crate::server::no_store))
}

/// A licence and its current key.
#[derive(Debug, Serialize, ToSchema)]
pub struct LicenseResponse {
    /// The licence.
    pub license: LicenseView,
    /// Its newest key, `ts1_…`.
    pub key: Option<String>,
    /// When that key expires (unix seconds); `null` is perpetual.
    pub key_expires_at: Option<i64>,
}

/// The public view of a licence.
#[derive(Debug, Serialize, ToSchema)]
pub struct LicenseView {
    /// Licence id (16 hex digits).
    pub id: String,
    /// Product id.
    pub product: u32,
    /// Product name, if the catalogue has it.
    pub product_name: Option<String>,
    /// Tier index.
    pub tier: u8,
    /// Tier name, if the catalogue has it.
    pub tier_name: Option<String>,
    /// Feature names (or `#bit` for a bit the catalogue does not name).
    pub features: Vec<String>,
    /// `active`, `expired`, `revoked` or `suspended`.
    pub status: &'static str,
    /// When the current key expires; `null` is perpetual.
    pub expires_at: Option<i64>,
}

impl LicenseView {
    /// The view of `license`, with names from the catalogue.
    pub fn new(state: &AppState, license: &LicenseRecord) -> LicenseView {
        let product = state.config.catalog.by_id(license.product);
        let features = (0..64u8)
            .filter(|bit| license.features & (1 << bit) != 0)
            .map(|bit| {
                product
                    .and_then(|p| p.feature_name(bit))
                    .map_or_else(|| format!("#{bit}"), str::to_owned)
            })
            .collect();
        LicenseView {
            id: license.id.to_hex().to_string(),
            product: license.product,
            product_name: product.map(|p| p.name.clone()),
            tier: license.tier,
            tier_name: product
                .and_then(|p| p.tier_name(license.tier))
                .map(str::to_owned),
            features,
            status: effective_status(license, state.config.grace_seconds).as_str(),
            expires_at: license.expires_at,
        }
    }
}

/// The stored status, except that an active licence past its expiry and grace reads as expired:
/// nothing needs to run at the moment of expiry for the answer to be right.
/// Subscription keys carry the configured grace period; one-time licences end at their expiry.
fn effective_status(license: &LicenseRecord, grace_seconds: u32) -> LicenseStatus {
    let now = crate::clock::now().0 as i64;
    let grace = match license.subscription_id {
        Some(_) => i64::from(grace_seconds),
        None => 0,
    };
    match (license.status, license.expires_at) {
        (LicenseStatus::Active, Some(expires_at)) if now >= expires_at + grace => {
            LicenseStatus::Expired
        }
        (status, _) => status,
    }
}

/// What the buyer is told once a Checkout Session id no longer fetches the key.
pub const CHECKOUT_SESSION_EXPIRED: &str =
    "this checkout link no longer shows the licence key: it \
    was e-mailed to the address given at checkout; if you cannot find it, contact support with the \
    order reference";

/// Whether a Checkout Session id still fetches `license`'s key: only for
/// `[licenses] checkout_session_key_hours` after the licence was issued, since the id travels in
/// URLs (browser history, the success page's address) where it may be found later.
pub fn checkout_session_shows_key(config: &Config, license: &LicenseRecord) -> bool {
    let now = crate::clock::now().0 as i64;
    now < license
        .created_at
        .saturating_add(config.checkout_session_key_seconds)
}

/// The licence a Checkout Session bought, and its current key (the success page polls this).
#[utoipa::path(
    get,
    path = "/v1/licenses/by-checkout-session/{id}",
    tag = "apps",
    params(("id" = String, Path, description = "The Checkout Session id, `cs_…`",
        pattern = "^cs_", max_length = 255)),
    responses(
        (status = 200, description = "The licence and its key (`Cache-Control: no-store`)",
            body = LicenseResponse),
        (status = 400, description = "`invalid_checkout_session`: not a Checkout Session id",
            body = ErrorBody),
        (status = 404, description = "`not_found`: no licence for it yet (the webhook has not \
            arrived)", body = ErrorBody),
        (status = 410, description = "`checkout_session_expired`: the licence was issued longer \
            ago than `[licenses] checkout_session_key_hours`; the key was e-mailed",
            body = ErrorBody),
        (status = 500, description = "`internal`", body = ErrorBody),
    )
)]
async fn by_checkout_session(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<LicenseResponse>, ApiError> {
    if !id.starts_with("cs_") || id.len() > 255 {
        return Err(ApiError::bad_request(
            "invalid_checkout_session",
            "a Checkout Session id starts with `cs_`",
        ));
    }
    let found = state
        .db(move |store| store.license_by_checkout_session(&id))
        .await?;
    let (license, key): (LicenseRecord, Option<IssuedKey>) = found.ok_or(ApiError::NotFound(
        "no licence for this checkout session yet",
    ))?;
    if !checkout_session_shows_key(&state.config, &license) {
        tracing::info!(license = %license.id, "checkout session too old to fetch the key");
        return Err(ApiError::Gone {
            code: "checkout_session_expired",
            message: CHECKOUT_SESSION_EXPIRED,
        });
    }
    Ok(Json(LicenseResponse {
        license: LicenseView::new(&state, &license),
        key_expires_at: key.as_ref().and_then(|k| k.expires_at),
        key: key.map(|k| k.key),
    }))
}
