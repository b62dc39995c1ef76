//! Finding, showing and changing licences: support's daily work.

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tessera_keys::{LicenseBuffer, LicenseId, MAX_WIRE_TIME};
use utoipa::{IntoParams, ToSchema};

use super::auth::{Admin, AdminRefused};
use super::machines::{license_machines, LicenseMachines};
use super::{
    audited, body_or_default, license_id, now, optional_reason, required_reason, Audit,
    AuditEntryView, LICENSE_ID,
};
use crate::credits::SummaryAnswer;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::extract::JsonBodyRefused;
use crate::fulfil::{queue_email, sign_key};
use crate::licenses::LicenseView;
use crate::state::AppState;
use crate::store::{
    Delivery, IssuedKey, LicenseQuery, LicenseRecord, LicenseStatus, SubscriptionRecord, Timestamp,
    Tx,
};

const NOT_FOUND: &str = super::NO_LICENSE;
/// Licences a search answers at most.
const FIND_LIMIT: u32 = 100;

/// A licence with everything the issuer knows about it, for support.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct AdminLicense {
    #[serde(flatten)]
    view: LicenseView,
    email: Option<String>,
    customer_id: Option<String>,
    checkout_session_id: Option<String>,
    subscription_id: Option<String>,
    payment_intent_id: Option<String>,
    price_id: Option<String>,
    #[schema(value_type = i64)]
    created_at: Timestamp,
    #[schema(value_type = i64)]
    updated_at: Timestamp,
}

impl AdminLicense {
    pub(super) fn new(state: &AppState, license: &LicenseRecord) -> AdminLicense {
        AdminLicense {
            view: LicenseView::new(state, license),
            email: license.email.clone(),
            customer_id: license.customer_id.clone(),
            checkout_session_id: license.checkout_session_id.clone(),
            subscription_id: license.subscription_id.clone(),
            payment_intent_id: license.payment_intent_id.clone(),
            price_id: license.price_id.clone(),
            created_at: license.created_at,
            updated_at: license.updated_at,
        }
    }
}

/// A key issued for a licence.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct KeyView {
    /// `ts1_…`.
    key: String,
    signing_key_id: u32,
    #[schema(value_type = i64)]
    issued_at: Timestamp,
    #[schema(value_type = Option<i64>)]
    expires_at: Option<Timestamp>,
    /// `purchase`, `renewal`, `plan_change`, `manual`, `reissue` or `extend`.
    reason: String,
}

impl From<&IssuedKey> for KeyView {
    fn from(key: &IssuedKey) -> Self {
        KeyView {
            key: key.key.clone(),
            signing_key_id: key.signing_key_id,
            issued_at: key.issued_at,
            expires_at: key.expires_at,
            reason: key.reason.clone(),
        }
    }
}

/// A Stripe delivery.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct EventView {
    /// `evt_…`.
    id: String,
    /// e.g. `checkout.session.completed`.
    #[serde(rename = "type")]
    event_type: String,
    /// `processed`, `ignored` or `failed`.
    status: &'static str,
    /// Why it failed.
    error: Option<String>,
    /// How many times Stripe delivered it.
    attempts: u32,
    #[schema(value_type = i64)]
    received_at: Timestamp,
    #[schema(value_type = Option<i64>)]
    processed_at: Option<Timestamp>,
}

impl From<&Delivery> for EventView {
    fn from(event: &Delivery) -> Self {
        EventView {
            id: event.event_id.clone(),
            event_type: event.event_type.clone(),
            status: event.status.as_str(),
            error: event.error.clone(),
            attempts: event.attempts,
            received_at: event.received_at,
            processed_at: event.processed_at,
        }
    }
}

/// A subscription as the issuer knows it.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SubscriptionView {
    /// `sub_…`.
    id: String,
    customer_id: Option<String>,
    price_id: Option<String>,
    /// The end of the latest paid billing period seen.
    #[schema(value_type = Option<i64>)]
    paid_through: Option<Timestamp>,
    #[schema(value_type = Option<i64>)]
    canceled_at: Option<Timestamp>,
}

impl From<&SubscriptionRecord> for SubscriptionView {
    fn from(subscription: &SubscriptionRecord) -> Self {
        SubscriptionView {
            id: subscription.id.clone(),
            customer_id: subscription.customer_id.clone(),
            price_id: subscription.price_id.clone(),
            paid_through: subscription.paid_through,
            canceled_at: subscription.canceled_at,
        }
    }
}

/// `GET /v1/admin/licenses` query: exactly one of the fields.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct FindQuery {
    /// The buyer's e-mail address.
    email: Option<String>,
    /// Stripe customer id, `cus_…`.
    customer: Option<String>,
    /// Stripe subscription id, `sub_…`.
    subscription: Option<String>,
    /// Checkout Session id, `cs_…`.
    checkout_session: Option<String>,
    /// A licence key text; found by the licence id in it (the key need not verify).
    key: Option<String>,
}

impl FindQuery {
    fn into_query(self) -> Result<LicenseQuery, ApiError> {
        let given = [
            self.email.map(LicenseQuery::Email),
            self.customer.map(LicenseQuery::Customer),
            self.subscription.map(LicenseQuery::Subscription),
            self.checkout_session.map(LicenseQuery::CheckoutSession),
        ];
        let mut found: Vec<LicenseQuery> = given.into_iter().flatten().collect();
        if let Some(key) = self.key {
            // Found by the licence id inside; the key need not verify to be looked up.
            let mut buf = LicenseBuffer::new();
            let signed = buf.decode_text(&key).map_err(|err| {
                ApiError::bad_request("invalid_key", format!("`key` is not a licence key: {err}"))
            })?;
            found.push(LicenseQuery::Id(signed.claims.license_id));
        }
        match (found.pop(), found.is_empty()) {
            (Some(query), true) => Ok(query),
            _ => Err(ApiError::bad_request(
                "invalid_query",
                "give exactly one of `email`, `customer`, `subscription`, `checkout_session`, `key`",
            )),
        }
    }
}

/// Licences found.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct FoundLicenses {
    /// Newest first, at most 100.
    licenses: Vec<AdminLicense>,
}

/// `GET /v1/admin/licenses?email=…`.
#[utoipa::path(
    get,
    path = "/v1/admin/licenses",
    operation_id = "admin_find_licenses",
    tag = "admin",
    security(("admin_token" = [])),
    params(FindQuery),
    responses(
        (status = 200, description = "The licences found, newest first", body = FoundLicenses),
        (status = 400, description = "`invalid_query`: none or several of the fields; \
            `invalid_key`", body = ErrorBody),
        AdminRefused,
        (status = 500, description = "`internal`", body = ErrorBody),
    )
)]
pub(super) async fn find(
    State(state): State<AppState>,
    _admin: Admin,
    query: Result<Query<FindQuery>, QueryRejection>,
) -> Result<Json<FoundLicenses>, ApiError> {
    let Query(query) =
        query.map_err(|err| ApiError::bad_request("invalid_query", err.body_text()))?;
    let query = query.into_query()?;
    let licenses = state
        .db(move |store| store.find_licenses(&query, FIND_LIMIT))
        .await?;
    let licenses = licenses
        .iter()
        .map(|license| AdminLicense::new(&state, license))
        .collect();
    Ok(Json(FoundLicenses { licenses }))
}

/// A licence with its keys, subscription, credits, webhook events and audit trail.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct LicenseDetail {
    license: AdminLicense,
    /// Oldest first.
    keys: Vec<KeyView>,
    subscription: Option<SubscriptionView>,
    credits: SummaryAnswer,
    /// Its seat policy and every machine it activated.
    machines: LicenseMachines,
    /// Newest first.
    webhook_events: Vec<EventView>,
    /// Newest first.
    audit: Vec<AuditEntryView>,
}

/// `GET /v1/admin/licenses/{id}`.
#[utoipa::path(
    get,
    path = "/v1/admin/licenses/{id}",
    operation_id = "admin_show_license",
    tag = "admin",
    security(("admin_token" = [])),
    params(("id" = String, Path, description = LICENSE_ID)),
    responses(
        (status = 200, description = "Everything the issuer knows about the licence",
            body = LicenseDetail),
        (status = 400, description = "`bad_request`: a path that is not UTF-8", body = ErrorBody),
        AdminRefused,
        (status = 404, description = "`not_found`: no licence by that id", body = ErrorBody),
        (status = 500, description = "`internal`", body = ErrorBody),
    )
)]
pub(super) async fn show(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<Json<LicenseDetail>, ApiError> {
    let id = license_id(&id)?;
    let found = state
        .db(move |store| {
            let Some((license, keys)) = store.license(&id)? else {
                return Ok(None);
            };
            let subscription = match &license.subscription_id {
                Some(sub) => store.subscription(sub)?,
                None => None,
            };
            let (account, open) = store.credits(&id)?;
            let machines = store.machines(&id, false)?;
            let events = store.license_deliveries(&id, 50)?;
            let audit = store.audit_log(Some(&id), 50)?;
            Ok::<_, crate::store::StoreError>(Some((
                license,
                keys,
                subscription,
                (account, open),
                machines,
                events,
                audit,
            )))
        })
        .await?;
    let (license, keys, subscription, (account, open), machines, events, audit) =
        found.ok_or(ApiError::NotFound(NOT_FOUND))?;
    Ok(Json(LicenseDetail {
        license: AdminLicense::new(&state, &license),
        keys: keys.iter().map(KeyView::from).collect(),
        subscription: subscription.as_ref().map(SubscriptionView::from),
        credits: SummaryAnswer::new(id, account, &open),
        machines: license_machines(id.to_hex().as_str(), license.seats.as_ref(), &machines),
        webhook_events: events.iter().map(EventView::from).collect(),
        audit: audit.iter().map(AuditEntryView::from).collect(),
    }))
}

/// `POST /v1/admin/licenses` body. Neither `days` nor `expires_at`: perpetual.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct IssueBody {
    /// The product's name or id (as a string).
    product: String,
    /// The tier's name or index (as a string).
    tier: String,
    /// Feature names or bits (as strings).
    #[serde(default)]
    features: Vec<String>,
    /// Valid for this many days from now.
    days: Option<u32>,
    /// Valid until then (unix seconds).
    expires_at: Option<i64>,
    /// The buyer's e-mail address; the key is mailed to it if SMTP is on.
    email: Option<String>,
    /// Why, for the audit trail.
    reason: Option<String>,
}

/// The product, tier and feature bits named (by name or number) in the catalogue.
fn resolve_terms(state: &AppState, body: &IssueBody) -> Result<(u32, u8, u64), ApiError> {
    let product = state
        .config
        .catalog
        .lookup(body.product.trim())
        .ok_or_else(|| {
            ApiError::unprocessable(
                "unknown_product",
                format!("`{}` is not a product of the catalogue", body.product),
            )
        })?;
    let tier_name = body.tier.trim();
    let tier = product
        .tier_index(tier_name)
        .or_else(|| {
            tier_name
                .parse::<u8>()
                .ok()
                .filter(|t| product.tier_name(*t).is_some())
        })
        .ok_or_else(|| {
            ApiError::unprocessable(
                "unknown_tier",
                format!("`{tier_name}` is not a tier of `{}`", product.name),
            )
        })?;
    let mut features = 0u64;
    for name in &body.features {
        let name = name.trim();
        let bit = product
            .feature_bit(name)
            .or_else(|| {
                name.parse::<u8>()
                    .ok()
                    .filter(|b| product.feature_name(*b).is_some())
            })
            .ok_or_else(|| {
                ApiError::unprocessable(
                    "unknown_feature",
                    format!("`{name}` is not a feature of `{}`", product.name),
                )
            })?;
        features |= 1 << bit;
    }
    Ok((product.id, tier, features))
}

/// The expiry `days` from `from`, or `until`; `None` when neither is given.
fn expiry(
    days: Option<u32>,
    until: Option<i64>,
    from: Timestamp,
) -> Result<Option<Timestamp>, ApiError> {
    let expires_at = match (days, until) {
        (Some(_), Some(_)) => {
            return Err(ApiError::unprocessable(
                "invalid_expiry",
                "give either a number of days or a date, not both",
            ))
        }
        (Some(0), None) => {
            return Err(ApiError::unprocessable(
                "invalid_expiry",
                "`days` must be at least 1",
            ))
        }
        (Some(days), None) => Some(from + i64::from(days) * 86_400),
        (None, until) => until,
    };
    // Checked here rather than failing at signing: keys carry times up to MAX_WIRE_TIME.
    if let Some(at) = expires_at {
        if at <= now() || at > MAX_WIRE_TIME.0 as i64 {
            return Err(ApiError::unprocessable(
                "invalid_expiry",
                format!(
                    "the expiry must be in the future and at most {} (unix seconds)",
                    MAX_WIRE_TIME.0
                ),
            ));
        }
    }
    Ok(expires_at)
}

/// Subscription keys carry the configured grace period; one-time licences end at their expiry.
fn grace(state: &AppState, license: &LicenseRecord) -> Option<u32> {
    license
        .subscription_id
        .as_ref()
        .map(|_| state.config.grace_seconds)
}

/// Signs a key for `license` as it stands, records it and (if `email`) queues it to the buyer.
fn issue_key(
    state: &AppState,
    tx: &mut dyn Tx,
    license: &LicenseRecord,
    reason: &str,
    email: bool,
) -> Result<(IssuedKey, bool), ApiError> {
    let signer = state.keyring.active();
    let key = sign_key(&signer, license, grace(state, license), reason, now())
        .map_err(ApiError::Internal)?;
    tx.add_key(&license.id, &key, None)?;
    let emailed = email && queue_email(&state.config, tx, license, &key, None)?;
    Ok((key, emailed))
}

/// A licence and a key just signed for it.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct LicenseWithKey {
    license: AdminLicense,
    /// `ts1_…`.
    key: String,
}

/// `POST /v1/admin/licenses`: a licence made by hand, stored like a bought one.
#[utoipa::path(
    post,
    path = "/v1/admin/licenses",
    operation_id = "admin_issue_license",
    tag = "admin",
    security(("admin_token" = [])),
    request_body = IssueBody,
    responses(
        (status = 201, description = "Issued", body = LicenseWithKey),
        (status = 400, description = "`invalid_json`, `invalid_body`", body = ErrorBody),
        AdminRefused,
        JsonBodyRefused,
        (status = 422, description = "`unknown_product`, `unknown_tier`, `unknown_feature`, \
            `invalid_expiry`, `reason_too_long`", body = ErrorBody),
        (status = 500, description = "`internal`", body = ErrorBody),
    )
)]
pub(super) async fn issue(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(body): ApiJson<IssueBody>,
) -> Result<(StatusCode, Json<LicenseWithKey>), ApiError> {
    let (product, tier, features) = resolve_terms(&state, &body)?;
    let created_at = now();
    let expires_at = expiry(body.days, body.expires_at, created_at)?;
    let email = body
        .email
        .map(|e| e.trim().to_owned())
        .filter(|e| !e.is_empty());
    let license = LicenseRecord {
        id: LicenseId(rand::random()),
        product,
        tier,
        features,
        status: LicenseStatus::Active,
        customer_id: None,
        email,
        checkout_session_id: None,
        subscription_id: None,
        payment_intent_id: None,
        price_id: None,
        expires_at,
        created_at,
        updated_at: created_at,
        // A manual licence needs no activation; support can give it seats afterwards.
        seats: None,
    };
    let audit = Audit {
        action: "license.issue",
        license_id: Some(license.id),
        reason: optional_reason(body.reason)?,
        details: json!({"product": product, "tier": tier, "features": features,
                        "expires_at": expires_at}),
        admin,
    };
    let (key, stored) = {
        let (state, license) = (state.clone(), license.clone());
        audited(&state.clone(), audit, move |tx| {
            tx.insert_license(&license)?;
            let (key, _) = issue_key(&state, tx, &license, "manual", true)?;
            Ok((key, license.clone()))
        })
        .await?
    };
    tracing::info!(license = %stored.id, "manual licence issued");
    Ok((
        StatusCode::CREATED,
        Json(LicenseWithKey {
            license: AdminLicense::new(&state, &stored),
            key: key.key,
        }),
    ))
}

/// The licence `id` as stored, inside a change's transaction.
fn stored(tx: &mut dyn Tx, id: &LicenseId) -> Result<LicenseRecord, ApiError> {
    tx.license(id)?.ok_or(ApiError::NotFound(NOT_FOUND))
}

/// `POST /v1/admin/licenses/{id}/reissue` body (optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ReissueBody {
    /// Mail the new key to the buyer (if SMTP is on and there is an address).
    #[serde(default)]
    email: bool,
    /// Why, for the audit trail.
    reason: Option<String>,
}

/// A reissued key.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Reissued {
    license: AdminLicense,
    /// `ts1_…`.
    key: String,
    /// Whether it was queued for mailing.
    emailed: bool,
}

/// `POST /v1/admin/licenses/{id}/reissue`: a fresh key with the same claims (a lost key).
#[utoipa::path(
    post,
    path = "/v1/admin/licenses/{id}/reissue",
    operation_id = "admin_reissue_license",
    tag = "admin",
    security(("admin_token" = [])),
    params(("id" = String, Path, description = LICENSE_ID)),
    request_body(content = Option<ReissueBody>, content_type = "application/json"),
    responses(
        (status = 200, description = "A new key", body = Reissued),
        (status = 400, description = "`invalid_body`", body = ErrorBody),
        AdminRefused,
        (status = 404, description = "`not_found`: no licence by that id", body = ErrorBody),
        (status = 409, description = "`revoked`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 422, description = "`reason_too_long`", body = ErrorBody),
        (status = 500, description = "`internal`", body = ErrorBody),
    )
)]
pub(super) async fn reissue(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Reissued>, ApiError> {
    let id = license_id(&id)?;
    let body: ReissueBody = body_or_default(&body)?;
    let email = body.email;
    let audit = Audit::of_license(
        admin,
        "license.reissue",
        id,
        optional_reason(body.reason)?,
        json!({"email": email}),
    );
    let worker = state.clone();
    let (license, key, emailed) = audited(&state, audit, move |tx| {
        let license = stored(tx, &id)?;
        if license.status == LicenseStatus::Revoked {
            return Err(conflict("revoked", "a revoked licence gets no new key"));
        }
        let (key, emailed) = issue_key(&worker, tx, &license, "reissue", email)?;
        Ok((license, key, emailed))
    })
    .await?;
    state.outbox.notify_one();
    Ok(Json(Reissued {
        license: AdminLicense::new(&state, &license),
        key: key.key,
        emailed,
    }))
}

fn conflict(code: &'static str, message: &str) -> ApiError {
    ApiError::Conflict {
        code,
        message: message.to_owned(),
    }
}

/// `POST /v1/admin/licenses/{id}/extend` body: `days` or `until`, and a reason.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ExtendBody {
    /// Days added to the later of now and the current expiry.
    days: Option<u32>,
    /// The new expiry (unix seconds).
    until: Option<i64>,
    /// Why (at most 500 bytes), for the audit trail.
    #[schema(required = true, value_type = String, pattern = "\\S", max_length = 500)]
    reason: Option<String>,
}

/// `POST /v1/admin/licenses/{id}/extend`: a new expiry and a key that carries it.
#[utoipa::path(
    post,
    path = "/v1/admin/licenses/{id}/extend",
    operation_id = "admin_extend_license",
    tag = "admin",
    security(("admin_token" = [])),
    params(("id" = String, Path, description = LICENSE_ID)),
    request_body = ExtendBody,
    responses(
        (status = 200, description = "Extended, with a new key", body = LicenseWithKey),
        (status = 400, description = "`invalid_json`, `invalid_body`", body = ErrorBody),
        AdminRefused,
        (status = 404, description = "`not_found`: no licence by that id", body = ErrorBody),
        (status = 409, description = "`perpetual`, `revoked`", body = ErrorBody),
        JsonBodyRefused,
        (status = 422, description = "`reason_required`, `reason_too_long`, `invalid_expiry`",
            body = ErrorBody),
        (status = 500, description = "`internal`", body = ErrorBody),
    )
)]
pub(super) async fn extend(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ExtendBody>,
) -> Result<Json<LicenseWithKey>, ApiError> {
    let id = license_id(&id)?;
    let reason = required_reason(body.reason)?;
    if body.days.is_none() && body.until.is_none() {
        return Err(ApiError::unprocessable(
            "invalid_expiry",
            "give `days` or `until`",
        ));
    }
    let (days, until) = (body.days, body.until);
    let audit = Audit::of_license(
        admin,
        "license.extend",
        id,
        Some(reason),
        json!({"days": days, "until": until}),
    );
    let worker = state.clone();
    let (license, key) = audited(&state, audit, move |tx| {
        let mut license = stored(tx, &id)?;
        let Some(current) = license.expires_at else {
            return Err(conflict("perpetual", "the licence never expires"));
        };
        if license.status == LicenseStatus::Revoked {
            return Err(conflict("revoked", "a revoked licence cannot be extended"));
        }
        let new_expiry = expiry(days, until, current.max(now()))?;
        license.expires_at = new_expiry;
        if license.status == LicenseStatus::Expired {
            license.status = LicenseStatus::Active;
        }
        license.updated_at = now();
        tx.update_license(&license)?;
        let (key, _) = issue_key(&worker, tx, &license, "extend", false)?;
        Ok((license, key))
    })
    .await?;
    Ok(Json(LicenseWithKey {
        license: AdminLicense::new(&state, &license),
        key: key.key,
    }))
}

/// A change that needs a reason.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ReasonBody {
    /// Why (at most 500 bytes), for the audit trail.
    #[schema(required = true, value_type = String, pattern = "\\S", max_length = 500)]
    pub(super) reason: Option<String>,
}

/// A revoked licence.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Revoked {
    license: AdminLicense,
    /// The sequence of the revocation list that lists it.
    revocation_sequence: u64,
}

/// A licence after a change of status.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct LicenseChanged {
    license: AdminLicense,
}

/// `POST /v1/admin/licenses/{id}/revoke`: for good; listed in the next signed revocation list.
#[utoipa::path(
    post,
    path = "/v1/admin/licenses/{id}/revoke",
    operation_id = "admin_revoke_license",
    tag = "admin",
    security(("admin_token" = [])),
    params(("id" = String, Path, description = LICENSE_ID)),
    request_body = ReasonBody,
    responses(
        (status = 200, description = "Revoked", body = Revoked),
        (status = 400, description = "`invalid_json`, `invalid_body`", body = ErrorBody),
        AdminRefused,
        (status = 404, description = "`not_found`: no licence by that id", body = ErrorBody),
        (status = 409, description = "`already_revoked`", body = ErrorBody),
        JsonBodyRefused,
        (status = 422, description = "`reason_required`, `reason_too_long`", body = ErrorBody),
        (status = 500, description = "`internal`", body = ErrorBody),
    )
)]
pub(super) async fn revoke(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> Result<Json<Revoked>, ApiError> {
    let id = license_id(&id)?;
    let reason = required_reason(body.reason)?;
    let audit = Audit::of_license(admin, "license.revoke", id, Some(reason.clone()), json!({}));
    let (license, sequence) = audited(&state, audit, move |tx| {
        stored(tx, &id)?;
        if !tx.revoke(&id, &format!("support: {reason}"), now())? {
            return Err(conflict(
                "already_revoked",
                "the licence is already revoked",
            ));
        }
        Ok((stored(tx, &id)?, tx.revocation_sequence()?))
    })
    .await?;
    tracing::warn!(license = %id, "licence revoked by support");
    Ok(Json(Revoked {
        license: AdminLicense::new(&state, &license),
        revocation_sequence: sequence,
    }))
}

/// `POST /v1/admin/licenses/{id}/suspend`: refused online until reinstated.
#[utoipa::path(
    post,
    path = "/v1/admin/licenses/{id}/suspend",
    operation_id = "admin_suspend_license",
    tag = "admin",
    security(("admin_token" = [])),
    params(("id" = String, Path, description = LICENSE_ID)),
    request_body = ReasonBody,
    responses(
        (status = 200, description = "Suspended", body = LicenseChanged),
        (status = 400, description = "`invalid_json`, `invalid_body`", body = ErrorBody),
        AdminRefused,
        (status = 404, description = "`not_found`: no licence by that id", body = ErrorBody),
        (status = 409, description = "`already_suspended`, `revoked`", body = ErrorBody),
        JsonBodyRefused,
        (status = 422, description = "`reason_required`, `reason_too_long`", body = ErrorBody),
        (status = 500, description = "`internal`", body = ErrorBody),
    )
)]
pub(super) async fn suspend(
    state: State<AppState>,
    admin: Admin,
    id: Path<String>,
    body: ApiJson<ReasonBody>,
) -> Result<Json<LicenseChanged>, ApiError> {
    set_status(
        state,
        admin,
        id,
        body,
        "license.suspend",
        |status| match status {
            LicenseStatus::Active | LicenseStatus::Expired => Ok(LicenseStatus::Suspended),
            LicenseStatus::Suspended => Err(conflict(
                "already_suspended",
                "the licence is already suspended",
            )),
            LicenseStatus::Revoked => Err(conflict("revoked", "the licence is revoked for good")),
        },
    )
    .await
}

/// `POST /v1/admin/licenses/{id}/reinstate`: undoes a suspension (a revocation stays).
#[utoipa::path(
    post,
    path = "/v1/admin/licenses/{id}/reinstate",
    operation_id = "admin_reinstate_license",
    tag = "admin",
    security(("admin_token" = [])),
    params(("id" = String, Path, description = LICENSE_ID)),
    request_body = ReasonBody,
    responses(
        (status = 200, description = "Reinstated", body = LicenseChanged),
        (status = 400, description = "`invalid_json`, `invalid_body`", body = ErrorBody),
        AdminRefused,
        (status = 404, description = "`not_found`: no licence by that id", body = ErrorBody),
        (status = 409, description = "`not_suspended`", body = ErrorBody),
        JsonBodyRefused,
        (status = 422, description = "`reason_required`, `reason_too_long`", body = ErrorBody),
        (status = 500, description = "`internal`", body = ErrorBody),
    )
)]
pub(super) async fn reinstate(
    state: State<AppState>,
    admin: Admin,
    id: Path<String>,
    body: ApiJson<ReasonBody>,
) -> Result<Json<LicenseChanged>, ApiError> {
    set_status(
        state,
        admin,
        id,
        body,
        "license.reinstate",
        |status| match status {
            LicenseStatus::Suspended => Ok(LicenseStatus::Active),
            LicenseStatus::Revoked => Err(conflict(
                "not_suspended",
                "the licence is revoked, which is for good: issue a new licence instead",
            )),
            LicenseStatus::Active | LicenseStatus::Expired => {
                Err(conflict("not_suspended", "the licence is not suspended"))
            }
        },
    )
    .await
}

async fn set_status(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReasonBody>,
    action: &'static str,
    next: fn(LicenseStatus) -> Result<LicenseStatus, ApiError>,
) -> Result<Json<LicenseChanged>, ApiError> {
    let id = license_id(&id)?;
    let reason = required_reason(body.reason)?;
    let audit = Audit {
        action,
        license_id: Some(id),
        reason: Some(reason),
        details: json!({}),
        admin,
    };
    let license = audited(&state, audit, move |tx| {
        let mut license = stored(tx, &id)?;
        let from = license.status;
        license.status = next(from)?;
        license.updated_at = now();
        tx.update_license(&license)?;
        Ok(license)
    })
    .await?;
    tracing::warn!(license = %id, action, "licence status changed by support");
    Ok(Json(LicenseChanged {
        license: AdminLicense::new(&state, &license),
    }))
}
