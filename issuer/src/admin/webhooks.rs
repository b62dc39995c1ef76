//! Stripe deliveries as support sees them, and re-running a stored one.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;

use super::auth::Admin;
use super::licenses::event_view;
use super::{audited, Audit};
use crate::error::ApiError;
use crate::state::AppState;
use crate::stripe::api::StripeApi;

const NO_EVENT: &str = "no Stripe event by that id has been received";

#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    failed: Option<String>,
    r#type: Option<String>,
    limit: Option<String>,
}

/// `GET /v1/admin/webhooks?failed=true&type=T&limit=N`.
pub(super) async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(query) =
        query.map_err(|err| ApiError::bad_request("invalid_query", err.body_text()))?;
    let failed_only = match query.failed.as_deref() {
        None | Some("" | "false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                "`failed` must be `true` or `false`",
            ))
        }
    };
    let limit = crate::credits::page_limit(query.limit.as_deref())?;
    let event_type = query.r#type.filter(|t| !t.is_empty());
    let events = state
        .db(move |store| store.deliveries(failed_only, event_type.as_deref(), limit))
        .await?;
    Ok(Json(json!({
        "events": events.iter().map(event_view).collect::<Vec<_>>(),
    })))
}

/// `GET /v1/admin/webhooks/{event_id}`: the delivery, the event as Stripe sent it, and the licences
/// it took effect on.
pub(super) async fn show(
    State(state): State<AppState>,
    _admin: Admin,
    Path(event_id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let found = state
        .db(move |store| {
            let Some((event, payload)) = store.delivery_payload(&event_id)? else {
                return Ok(None);
            };
            let licenses = store.delivery_licenses(&event_id)?;
            Ok::<_, crate::store::StoreError>(Some((event, payload, licenses)))
        })
        .await?;
    let (event, payload, licenses) = found.ok_or(ApiError::NotFound(NO_EVENT))?;
    Ok(Json(json!({
        "event": event_view(&event),
        "payload": serde_json::from_str::<serde_json::Value>(&payload)
            .unwrap_or(serde_json::Value::String(payload)),
        "licenses": licenses,
    })))
}

/// `POST /v1/admin/webhooks/{event_id}/retry`: runs the stored event through the webhook path again.
/// One that took effect before changes nothing (`duplicate`); a failed one is applied now, once.
pub(super) async fn retry(
    State(state): State<AppState>,
    Extension(api): Extension<Arc<StripeApi>>,
    admin: Admin,
    Path(event_id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let stored = {
        let event_id = event_id.clone();
        state
            .db(move |store| store.delivery_payload(&event_id))
            .await?
    };
    let (before, payload) = stored.ok_or(ApiError::NotFound(NO_EVENT))?;
    let outcome = crate::webhooks::handle(&state, &api, payload).await;
    let (status, error) = match &outcome {
        Ok(answer) => (answer.status, None),
        Err(err) => ("failed", Some(format!("{err:?}"))),
    };
    // Written after the retry's own transaction: the retry is safe to repeat, the record of it is
    // for people.
    let audit = Audit {
        action: "webhook.retry",
        license_id: None,
        reason: None,
        details: json!({"event_id": event_id, "status_before": before.status.as_str(),
                        "outcome": status, "error": error}),
        admin,
    };
    audited(&state, audit, |_| Ok(())).await?;
    let answer = outcome?;
    Ok(Json(
        json!({"event_id": answer.event_id, "status": answer.status}),
    ))
}
