//! The admin API under `/v1/admin/`: what support staff need to answer customers without SQL.
//!
//! Every request carries one of the configured admin tokens ([`auth`], [`tokens`]); every change
//! writes an audit entry (which token, what, on which licence, why, when) in the same transaction as
//! the change itself (`audited`, an operation of [`crate::store::Store`]). `ADMIN-API.md` beside this crate is the
//! contract with `tessera admin`; in short:
//!
//! | endpoint | what |
//! | --- | --- |
//! | `GET /v1/admin/licenses?email=…` (or `customer`, `subscription`, `checkout_session`, `key`) | find licences |
//! | `GET /v1/admin/licenses/{id}` | claims, status, every key, subscription, credits, machines, webhook events, audit |
//! | `POST /v1/admin/licenses` | a manual licence (comp, reseller, migration) |
//! | `POST /v1/admin/licenses/{id}/reissue`, `…/extend`, `…/revoke`, `…/suspend`, `…/reinstate` | change one |
//! | `GET …/{id}/credits`, `POST …/credits/grant`, `…/credits/deduct`, `GET …/credits/ledger` | its credits |
//! | `GET /v1/admin/credits/check` | every account recomputed from its ledger |
//! | `GET …/{id}/machines`, `POST …/{id}/seats`, `GET /v1/admin/machines/{id}`, `POST …/{id}/deactivate`, `POST /v1/admin/machines/offline` | machine activation ([`machines`]) |
//! | `GET /v1/admin/webhooks`, `GET …/{event_id}`, `POST …/{event_id}/retry` | Stripe deliveries |
//! | `POST /v1/admin/keys/rotate` | a new active signing key; the old ones stay trusted |
//! | `GET /v1/admin/audit?license=…` | the audit trail |
//!
//! Revocations, suspensions, reinstatements, extensions and credit adjustments need a `reason`.

pub mod auth;
pub(crate) mod credits;
pub(crate) mod keys;
pub(crate) mod licenses;
pub(crate) mod machines;
pub mod tokens;
pub(crate) mod webhooks;

use std::sync::Arc;

use axum::body::Bytes;
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tessera_keys::LicenseId;
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::store::{ApplyError, NewAuditEntry, Timestamp, Tx};
use crate::stripe::api::StripeApi;

use auth::{Admin, AdminRefused};

/// The admin routes.
pub fn router(state: &AppState) -> Router<AppState> {
    let api = Arc::new(StripeApi::new(&state.config.stripe));
    Router::new()
        .route(
            "/v1/admin/licenses",
            get(licenses::find).post(licenses::issue),
        )
        .route("/v1/admin/licenses/{id}", get(licenses::show))
        .route("/v1/admin/licenses/{id}/reissue", post(licenses::reissue))
        .route("/v1/admin/licenses/{id}/extend", post(licenses::extend))
        .route("/v1/admin/licenses/{id}/revoke", post(licenses::revoke))
        .route("/v1/admin/licenses/{id}/suspend", post(licenses::suspend))
        .route(
            "/v1/admin/licenses/{id}/reinstate",
            post(licenses::reinstate),
        )
        .route("/v1/admin/licenses/{id}/credits", get(credits::show))
        .route(
            "/v1/admin/licenses/{id}/credits/grant",
            post(credits::grant),
        )
        .route(
            "/v1/admin/licenses/{id}/credits/deduct",
            post(credits::deduct),
        )
        .route(
            "/v1/admin/licenses/{id}/credits/ledger",
            get(credits::ledger),
        )
        .route("/v1/admin/licenses/{id}/machines", get(machines::list))
        .route("/v1/admin/licenses/{id}/seats", post(machines::set_seats))
        .route("/v1/admin/machines/offline", post(machines::activate))
        .route("/v1/admin/machines/{id}", get(machines::show))
        .route(
            "/v1/admin/machines/{id}/deactivate",
            post(machines::deactivate),
        )
        .route("/v1/admin/credits/check", get(credits::check))
        .route("/v1/admin/webhooks", get(webhooks::list))
        .route("/v1/admin/webhooks/{event_id}", get(webhooks::show))
        .route("/v1/admin/webhooks/{event_id}/retry", post(webhooks::retry))
        .route("/v1/admin/keys/rotate", post(keys::rotate))
        .route("/v1/admin/audit", get(audit))
        .layer(Extension(api))
        // Admin answers carry licence keys and customers' details: no cache may keep them.
        .layer(axum::middleware::map_response(crate::server::no_store))
}

const NO_LICENSE: &str = "no licence by that id";
/// How the OpenAPI document describes a licence id in a path.
const LICENSE_ID: &str = "The licence id, 16 hex digits";

/// The licence id in a path: 16 hex digits, else nothing can be found by it.
fn license_id(text: &str) -> Result<LicenseId, ApiError> {
    LicenseId::from_hex(text.trim()).ok_or(ApiError::NotFound(NO_LICENSE))
}

/// The longest reason kept.
const MAX_REASON: usize = 500;

/// A reason the operator must give: present, not blank, at most [`MAX_REASON`] bytes.
fn required_reason(reason: Option<String>) -> Result<String, ApiError> {
    optional_reason(reason)?.ok_or_else(|| {
        ApiError::unprocessable(
            "reason_required",
            "this change needs a `reason` (it goes into the audit trail)",
        )
    })
}

fn optional_reason(reason: Option<String>) -> Result<Option<String>, ApiError> {
    let reason = reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    if reason.as_ref().is_some_and(|r| r.len() > MAX_REASON) {
        return Err(ApiError::unprocessable(
            "reason_too_long",
            format!("`reason` must be at most {MAX_REASON} bytes"),
        ));
    }
    Ok(reason)
}

/// A JSON body that may be absent or `null` (the fields' defaults then).
fn body_or_default<T: DeserializeOwned + Default>(body: &Bytes) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice::<Option<T>>(body)
        .map(Option::unwrap_or_default)
        .map_err(|err| ApiError::bad_request("invalid_body", err.to_string()))
}

fn now() -> Timestamp {
    crate::clock::now().0 as Timestamp
}

/// What an audited change is about.
struct Audit {
    admin: Admin,
    action: &'static str,
    license_id: Option<LicenseId>,
    reason: Option<String>,
    details: serde_json::Value,
}

impl Audit {
    /// A change to licence `id`.
    fn of_license(
        admin: Admin,
        action: &'static str,
        id: LicenseId,
        reason: Option<String>,
        details: serde_json::Value,
    ) -> Audit {
        Audit {
            admin,
            action,
            license_id: Some(id),
            reason,
            details,
        }
    }
}

/// Runs `change` and writes its audit entry in one transaction, off the async executor. A change
/// that fails (a refusal such as a conflict with the licence's state, or storage) writes nothing.
async fn audited<T: Send + 'static>(
    state: &AppState,
    audit: Audit,
    mut change: impl FnMut(&mut dyn Tx) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    state
        .db(move |store| {
            let entry = NewAuditEntry {
                at: now(),
                actor: &audit.admin.name,
                action: audit.action,
                license_id: audit.license_id,
                reason: audit.reason.as_deref(),
                details: audit.details.to_string(),
            };
            let mut outcome = None;
            let written = store.audited(&entry, &mut |tx| {
                let result = change(tx);
                let failed = result.is_err();
                outcome = Some(result);
                if failed {
                    // Rolls the transaction back, audit entry and all.
                    return Err(ApplyError::Unprocessable("change refused".into()));
                }
                Ok(())
            });
            match (written, outcome) {
                (Err(ApplyError::Store(err)), _) => Err(err.into()),
                (_, Some(outcome)) => outcome,
                (_, None) => Err(ApiError::Internal("an audited change did not run".into())),
            }
        })
        .await
}

/// `GET /v1/admin/audit?license=ID&limit=N`: the audit trail, newest first.
#[utoipa::path(
    get,
    path = "/v1/admin/audit",
    operation_id = "admin_audit",
    tag = "admin",
    security(("admin_token" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "Audit entries, newest first", body = AuditPage),
        (status = 400, description = "`invalid_query`, `invalid_limit`", body = ErrorBody),
        AdminRefused,
        (status = 404, description = "`not_found`: `license` is not a licence id",
            body = ErrorBody),
        (status = 500, description = "`internal`", body = ErrorBody),
    )
)]
async fn audit(
    axum::extract::State(state): axum::extract::State<AppState>,
    _admin: Admin,
    query: Result<axum::extract::Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<AuditPage>, ApiError> {
    let axum::extract::Query(query) =
        query.map_err(|err| ApiError::bad_request("invalid_query", err.body_text()))?;
    let license = query.license.as_deref().map(license_id).transpose()?;
    let limit = crate::credits::page_limit(query.limit.as_deref())?;
    let entries = state
        .db(move |store| store.audit_log(license.as_ref(), limit))
        .await?;
    Ok(axum::Json(AuditPage {
        entries: entries.iter().map(AuditEntryView::from).collect(),
    }))
}

/// `GET /v1/admin/audit` query.
#[derive(Debug, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// Only this licence's entries (16 hex digits).
    license: Option<String>,
    /// At most this many entries, 1 to 1000; default 100.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

/// A page of the audit trail.
#[derive(Debug, Serialize, ToSchema)]
struct AuditPage {
    entries: Vec<AuditEntryView>,
}

/// One audited change.
#[derive(Debug, Serialize, ToSchema)]
struct AuditEntryView {
    /// Increasing with time.
    id: i64,
    /// When (unix seconds).
    #[schema(value_type = i64)]
    at: Timestamp,
    /// The admin token's name.
    actor: String,
    /// What, e.g. `license.revoke`.
    action: String,
    /// On which licence (hex), if one.
    license_id: Option<String>,
    /// Why.
    reason: Option<String>,
    /// The particulars.
    details: serde_json::Value,
}

impl From<&crate::store::AuditEntry> for AuditEntryView {
    fn from(entry: &crate::store::AuditEntry) -> Self {
        AuditEntryView {
            id: entry.id,
            at: entry.at,
            actor: entry.actor.clone(),
            action: entry.action.clone(),
            license_id: entry.license_id.clone(),
            reason: entry.reason.clone(),
            details: serde_json::from_str(&entry.details).unwrap_or(serde_json::Value::Null),
        }
    }
}
