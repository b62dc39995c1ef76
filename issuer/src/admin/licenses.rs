//! Finding, showing and changing licences: support's daily work.

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tessera_keys::{LicenseBuffer, LicenseId, MAX_WIRE_TIME};

use super::auth::Admin;
use super::{audited, body_or_default, license_id, now, optional_reason, required_reason, Audit};
use crate::credits::SummaryAnswer;
use crate::error::ApiError;
use crate::extract::ApiJson;
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
#[derive(Debug, Serialize)]
pub(super) struct AdminLicense {
    #[serde(flatten)]
    view: LicenseView,
    email: Option<String>,
    customer_id: Option<String>,
    checkout_session_id: Option<String>,
    subscription_id: Option<String>,
    payment_intent_id: Option<String>,
    price_id: Option<String>,
    created_at: Timestamp,
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

#[derive(Debug, Serialize)]
pub(super) struct KeyView {
    key: String,
    signing_key_id: u32,
    issued_at: Timestamp,
    expires_at: Option<Timestamp>,
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

pub(super) fn event_view(event: &Delivery) -> serde_json::Value {
    json!({
        "id": event.event_id,
        "type": event.event_type,
        "status": event.status.as_str(),
        "error": event.error,
        "attempts": event.attempts,
        "received_at": event.received_at,
        "processed_at": event.processed_at,
    })
}

fn subscription_view(subscription: &SubscriptionRecord) -> serde_json::Value {
    json!({
        "id": subscription.id,
        "customer_id": subscription.customer_id,
        "price_id": subscription.price_id,
        "paid_through": subscription.paid_through,
        "canceled_at": subscription.canceled_at,
    })
}

#[derive(Debug, Deserialize)]
pub(super) struct FindQuery {
    email: Option<String>,
    customer: Option<String>,
    subscription: Option<String>,
    checkout_session: Option<String>,
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

/// `GET /v1/admin/licenses?email=…`.
pub(super) async fn find(
    State(state): State<AppState>,
    _admin: Admin,
    query: Result<Query<FindQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(query) =
        query.map_err(|err| ApiError::bad_request("invalid_query", err.body_text()))?;
    let query = query.into_query()?;
    let licenses = state
        .db(move |store| store.find_licenses(&query, FIND_LIMIT))
        .await?;
    let views: Vec<AdminLicense> = licenses
        .iter()
        .map(|license| AdminLicense::new(&state, license))
        .collect();
    Ok(Json(json!({ "licenses": views })))
}

/// `GET /v1/admin/licenses/{id}`.
pub(super) async fn show(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
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
            let events = store.license_deliveries(&id, 50)?;
            let audit = store.audit_log(Some(&id), 50)?;
            Ok::<_, crate::store::StoreError>(Some((
                license,
                keys,
                subscription,
                (account, open),
                events,
                audit,
            )))
        })
        .await?;
    let (license, keys, subscription, (account, open), events, audit) =
        found.ok_or(ApiError::NotFound(NOT_FOUND))?;
    Ok(Json(json!({
        "license": AdminLicense::new(&state, &license),
        "keys": keys.iter().map(KeyView::from).collect::<Vec<_>>(),
        "subscription": subscription.as_ref().map(subscription_view),
        "credits": SummaryAnswer::new(id, account, &open),
        "webhook_events": events.iter().map(event_view).collect::<Vec<_>>(),
        "audit": audit.iter().map(super::audit_view).collect::<Vec<_>>(),
    })))
}

/// `POST /v1/admin/licenses` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct IssueBody {
    product: String,
    tier: String,
    #[serde(default)]
    features: Vec<String>,
    days: Option<u32>,
    expires_at: Option<i64>,
    email: Option<String>,
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

/// `POST /v1/admin/licenses`: a licence made by hand, stored like a bought one.
pub(super) async fn issue(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(body): ApiJson<IssueBody>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
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
        Json(json!({"license": AdminLicense::new(&state, &stored), "key": key.key})),
    ))
}

/// The licence `id` as stored, inside a change's transaction.
fn stored(tx: &mut dyn Tx, id: &LicenseId) -> Result<LicenseRecord, ApiError> {
    tx.license(id)?.ok_or(ApiError::NotFound(NOT_FOUND))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReissueBody {
    #[serde(default)]
    email: bool,
    reason: Option<String>,
}

/// `POST /v1/admin/licenses/{id}/reissue`: a fresh key with the same claims (a lost key).
pub(super) async fn reissue(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
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
    Ok(Json(json!({
        "license": AdminLicense::new(&state, &license),
        "key": key.key,
        "emailed": emailed,
    })))
}

fn conflict(code: &'static str, message: &str) -> ApiError {
    ApiError::Conflict {
        code,
        message: message.to_owned(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExtendBody {
    days: Option<u32>,
    until: Option<i64>,
    reason: Option<String>,
}

/// `POST /v1/admin/licenses/{id}/extend`: a new expiry and a key that carries it.
pub(super) async fn extend(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ExtendBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
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
    Ok(Json(json!({
        "license": AdminLicense::new(&state, &license),
        "key": key.key,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReasonBody {
    reason: Option<String>,
}

/// `POST /v1/admin/licenses/{id}/revoke`: for good; listed in the next signed revocation list.
pub(super) async fn revoke(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
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
    Ok(Json(json!({
        "license": AdminLicense::new(&state, &license),
        "revocation_sequence": sequence,
    })))
}

/// `POST /v1/admin/licenses/{id}/suspend`: refused online until reinstated.
pub(super) async fn suspend(
    state: State<AppState>,
    admin: Admin,
    id: Path<String>,
    body: ApiJson<ReasonBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
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
pub(super) async fn reinstate(
    state: State<AppState>,
    admin: Admin,
    id: Path<String>,
    body: ApiJson<ReasonBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
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
) -> Result<Json<serde_json::Value>, ApiError> {
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
    Ok(Json(
        json!({ "license": AdminLicense::new(&state, &license) }),
    ))
}
