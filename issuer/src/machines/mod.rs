//! Machine activation: a licence whose plan sets `max_machines` works on a machine only with a
//! machine certificate (`tsm1_…`), which the issuer signs for each machine that takes one of the
//! licence's seats, and which the app verifies offline with its key.
//!
//! The licence key is the credential (`Authorization: License <key>`, checked as the credit
//! endpoints check it: [`crate::credits::auth`]).
//!
//! | endpoint | answer |
//! | --- | --- |
//! | `POST /v1/machines` `{"fingerprint", "name"?, "platform"?}` | `201 {machine, certificate}`; the same machine again: `200`, same id, fresh certificate; `409 too_many_machines` with the machines holding the seats |
//! | `GET /v1/machines` | `{max_machines, floating, machines}` |
//! | `DELETE /v1/machines/{id}` | `204`; `404 machine_not_found`; `429 too_many_deactivations` |
//! | `POST /v1/machines/{id}/heartbeat` | `200 {machine, certificate}` with a renewed lease; `404 machine_not_found` once freed |
//! | `POST /v1/machines/offline` `{"request": "tsq1_…"}` | as `POST /v1/machines`, the key taken from the request |
//! | `GET /activate` | a page doing the same for a person with an air-gapped machine ([`page`]) |
//!
//! # Seats
//! A machine holds a seat from its activation until it is deactivated (by the customer, within the
//! plan's `max_deactivations_per_30_days`, or by support) or, for floating seats, until
//! `2 × heartbeat_seconds` pass without a heartbeat: its certificate's lease ends then too. The
//! [`sweeper`] marks such seats lapsed; an activation or heartbeat that finds one lapsed treats it
//! as freed at once, so the outcome never depends on the sweeper's timing. Fixed seats' certificates
//! last `lease_days` (or forever), and a heartbeat renews them too. The seat rules are
//! [`rules`], run in one transaction under the licence's seat lock on either backend.

pub mod certificate;
pub(crate) mod http;
pub mod page;
pub mod rules;
pub mod sweeper;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use axum::{Json, Router};
use serde::Serialize;
use tessera_keys::LicenseId;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::store::{Machine, Timestamp, MAX_MACHINE_NAME, MAX_MACHINE_PLATFORM};

pub use http::{activation_answer, ActivationAnswer};

/// The customer-facing machine endpoints and the activation page.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/machines", post(http::activate).get(http::list))
        .route("/v1/machines/offline", post(http::offline))
        .route("/v1/machines/{id}", delete(http::deactivate))
        .route("/v1/machines/{id}/heartbeat", post(http::heartbeat))
        // Certificates are per machine and renewed often: no cache keeps them.
        .layer(axum::middleware::map_response(crate::server::no_store))
        .merge(page::router())
}

/// A machine as answered.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MachineView {
    /// `m_…`, opaque.
    pub id: String,
    /// The machine's fingerprint hash, 64 hex digits.
    pub fingerprint: String,
    /// What the customer calls it.
    pub name: Option<String>,
    /// Its platform.
    pub platform: Option<String>,
    /// When it was activated (unix seconds).
    #[schema(value_type = i64)]
    pub activated_at: Timestamp,
    /// When it last activated or heart-beat (unix seconds).
    #[schema(value_type = i64)]
    pub last_seen_at: Timestamp,
    /// When its newest certificate's lease ends (unix seconds); `null`: never.
    #[schema(value_type = Option<i64>)]
    pub lease_ends_at: Option<Timestamp>,
}

impl From<&Machine> for MachineView {
    fn from(m: &Machine) -> Self {
        MachineView {
            id: m.id.clone(),
            fingerprint: m.fingerprint.clone(),
            name: m.name.clone(),
            platform: m.platform.clone(),
            activated_at: m.activated_at,
            last_seen_at: m.last_seen_at,
            lease_ends_at: m.lease_ends_at,
        }
    }
}

/// `409 too_many_machines`: an error answer that also lists the machines holding the seats, so
/// that the app can offer to free one.
#[derive(Debug, Serialize, ToSchema)]
pub struct TooManyMachinesBody {
    /// `too_many_machines`.
    pub error: &'static str,
    /// One line for humans.
    pub message: String,
    /// The licence's seat count.
    pub max_machines: u32,
    /// The machines holding its seats, oldest first.
    pub machines: Vec<MachineView>,
}

/// The `409 too_many_machines` answer.
pub fn too_many_machines(max_machines: u32, machines: &[Machine]) -> Response {
    (
        StatusCode::CONFLICT,
        Json(TooManyMachinesBody {
            error: "too_many_machines",
            message: format!(
                "all {max_machines} seats of this licence are taken: deactivate a machine first"
            ),
            max_machines,
            machines: machines.iter().map(MachineView::from).collect(),
        }),
    )
        .into_response()
}

/// The `404 machine_not_found` answer.
pub fn machine_not_found() -> Response {
    ErrorBody::new(
        "machine_not_found",
        "no machine by that id holds a seat of this licence",
    )
    .into_response_with(StatusCode::NOT_FOUND)
}

/// The `422 activation_not_required` answer.
pub fn activation_not_required() -> ApiError {
    ApiError::unprocessable(
        "activation_not_required",
        "this licence's keys need no machine activation",
    )
}

/// The longest machine id accepted in a path; longer ones cannot be ours.
const MAX_MACHINE_ID: usize = 64;

/// Whether `id` can be a machine id at all (so that nothing else reaches the store or a log).
pub fn plausible_machine_id(id: &str) -> bool {
    id.len() <= MAX_MACHINE_ID
        && id
            .strip_prefix("m_")
            .is_some_and(|hex| !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A fingerprint as sent: 64 hex digits, answered lower-case; else `422 invalid_fingerprint`.
pub fn fingerprint(text: &str) -> Result<String, ApiError> {
    let text = text.trim();
    if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(text.to_ascii_lowercase())
    } else {
        Err(ApiError::unprocessable(
            "invalid_fingerprint",
            "`fingerprint` must be 64 hex digits (what `tessera fingerprint` prints)",
        ))
    }
}

/// An optional label (`name`, `platform`) as sent: trimmed, blank as absent, at most `max`
/// characters and no control characters; else `422 invalid_<field>`.
pub fn label(
    value: Option<&str>,
    field: &'static str,
    code: &'static str,
    max: usize,
) -> Result<Option<String>, ApiError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(ApiError::unprocessable(
            code,
            format!("`{field}` must be at most {max} characters, without control characters"),
        ));
    }
    Ok(Some(value.to_owned()))
}

/// `name` as sent, checked.
pub fn machine_name(value: Option<&str>) -> Result<Option<String>, ApiError> {
    label(value, "name", "invalid_name", MAX_MACHINE_NAME)
}

/// `platform` as sent, checked.
pub fn machine_platform(value: Option<&str>) -> Result<Option<String>, ApiError> {
    label(value, "platform", "invalid_platform", MAX_MACHINE_PLATFORM)
}

/// A request for one of `license_id`'s seats by the machine `fingerprint` (already checked), with
/// its labels as sent, checked (`422 invalid_name`, `invalid_platform`): the same for every way in
/// (the app online, an offline request, support).
pub fn activation_request(
    license_id: LicenseId,
    fingerprint: String,
    name: Option<&str>,
    platform: Option<&str>,
) -> Result<rules::ActivationRequest, ApiError> {
    Ok(rules::ActivationRequest {
        license_id,
        fingerprint,
        name: machine_name(name)?,
        platform: machine_platform(platform)?,
        now: now(),
    })
}

fn now() -> Timestamp {
    crate::clock::now().0 as Timestamp
}
