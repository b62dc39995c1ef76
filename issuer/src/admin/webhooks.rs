//! Stripe deliveries as support sees them, and re-running a stored one.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::auth::{Admin, AdminRefused};
use super::licenses::EventView;
use super::{audited, Audit};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::stripe::api::StripeApi;

const NO_EVENT: &str = "no Stripe event by that id has been received";

/// `GET /v1/admin/webhooks` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// `true`: only the deliveries that failed.
    #[param(value_type = Option<bool>)]
    failed: Option<String>,
    /// Only events of this type, e.g. `invoice.paid`.
    r#type: Option<String>,
    /// At most this many events, 1 to 1000; default 100.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

/// Stripe deliveries, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct EventsPage {
    events: Vec<EventView>,
}

/// A delivery, the event as Stripe sent it, and the licences it took effect on.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct EventDetail {
    event: EventView,
    /// The event JSON as Stripe sent it (a string if it was not JSON).
    payload: serde_json::Value,
    /// Licence ids (hex).
    licenses: Vec<String>,
}

/// What a retry did.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Retried {
    /// The event id.
    event_id: String,
    /// `processed`, `ignored`, or `duplicate` (it had already taken effect: nothing changed).
    status: &'static str,
}

/// `GET /v1/admin/webhooks?failed=true&type=T&limit=N`.
#[utoipa::path(
    get,
    path = "/v1/admin/webhooks",
    operation_id = "admin_list_webhooks",
    tag = "admin",
    security(("admin_token" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "Deliveries, newest first", body = EventsPage),
        (status = 400, description = "`invalid_query`, `invalid_limit`", body = ErrorBody),
        AdminRefused,
        (status = 500, description = "`internal`", body = ErrorBody),
    )
)]
pub(super) async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<EventsPage>, ApiError> {
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
    Ok(Json(EventsPage {
        events: events.iter().map(EventView::from).collect(),
    }))
}

/// `GET /v1/admin/webhooks/{event_id}`: the delivery, the event as Stripe sent it, and the licences
/// it took effect on.
#[utoipa::path(
    get,
    path = "/v1/admin/webhooks/{event_id}",
    operation_id = "admin_show_webhook",
    tag = "admin",
    security(("admin_token" = [])),
    params(("event_id" = String, Path, description = "Stripe's event id, `evt_…`")),
    responses(
        (status = 200, description = "The delivery", body = EventDetail),
        (status = 400, description = "`bad_request`: a path that is not UTF-8", body = ErrorBody),
        AdminRefused,
        (status = 404, description = "`not_found`: no such event received", body = ErrorBody),
        (status = 500, description = "`internal`", body = ErrorBody),
    )
)]
pub(super) async fn show(
    State(state): State<AppState>,
    _admin: Admin,
    Path(event_id): Path<String>,
) -> Result<Json<EventDetail>, ApiError> {
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
    Ok(Json(EventDetail {
        event: EventView::from(&event),
        payload: serde_json::from_str::<serde_json::Value>(&payload)
            .unwrap_or(serde_json::Value::String(payload)),
        licenses,
    }))
}

/// `POST /v1/admin/webhooks/{event_id}/retry`: runs the stored event through the webhook path again.
/// One that took effect before changes nothing (`duplicate`); a failed one is applied now, once.
#[utoipa::path(
    post,
    path = "/v1/admin/webhooks/{event_id}/retry",
    operation_id = "admin_retry_webhook",
    tag = "admin",
    security(("admin_token" = [])),
    params(("event_id" = String, Path, description = "Stripe's event id, `evt_…`")),
    responses(
        (status = 200, description = "Run again", body = Retried),
        (status = 400, description = "`malformed_event`: the stored event is not one; \
            `bad_request`: a path that is not UTF-8", body = ErrorBody),
        AdminRefused,
        (status = 404, description = "`not_found`: no such event received", body = ErrorBody),
        (status = 500, description = "`processing_failed`: it failed again; `internal`",
            body = ErrorBody),
    )
)]
pub(super) async fn retry(
    State(state): State<AppState>,
    Extension(api): Extension<Arc<StripeApi>>,
    admin: Admin,
    Path(event_id): Path<String>,
) -> Result<Json<Retried>, ApiError> {
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
    Ok(Json(Retried {
        event_id: answer.event_id,
        status: answer.status,
    }))
}
