//! The customer-facing machine endpoints (see the table in [`super`]).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use tessera_keys::LicenseId;

use super::rules::{self, Activation, ActivationRequest, Deactivated};
use super::{
    activation_not_required, activation_request, certificate, fingerprint, machine_not_found, now,
    plausible_machine_id, too_many_machines, MachineView, TooManyMachinesBody,
};
use crate::credits::auth::{LicenseRefused, Licensee};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, JsonBodyRefused};
use crate::state::AppState;
use crate::store::{queued, Credited, Machine, StoreError, Timestamp, Tx};

/// A machine and a certificate just signed for it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActivationAnswer {
    machine: MachineView,
    /// The machine certificate, `tsm1_…`: the app keeps it beside the key.
    certificate: String,
}

/// The answer to an activation's outcome: the machine with a fresh certificate (`201` new, `200`
/// again), or why not.
pub fn activation_answer(
    state: &AppState,
    outcome: Credited<Activation>,
) -> Result<Response, ApiError> {
    let (status, machine) = match outcome.map_err(ApiError::from)? {
        Activation::New(machine) => (StatusCode::CREATED, machine),
        Activation::Again(machine) => (StatusCode::OK, machine),
        Activation::TooMany {
            max_machines,
            machines,
        } => return Ok(too_many_machines(max_machines, &machines)),
        Activation::NotRequired => return Err(activation_not_required()),
    };
    Ok((status, Json(certified(state, &machine)?)).into_response())
}

/// `machine` with a certificate signed now by the issuer's current signing key.
fn certified(state: &AppState, machine: &Machine) -> Result<ActivationAnswer, ApiError> {
    Ok(ActivationAnswer {
        certificate: certificate::sign(state, machine, now())?,
        machine: machine.into(),
    })
}

/// Runs the seat rule `work` on the store's writer, off the async executor.
async fn seats<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&mut dyn crate::store::Tx) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    Ok(queued(&*state.store, work).await?)
}

/// Activates `request`'s machine and answers as [`activation_answer`].
async fn activate_request(
    state: &AppState,
    request: ActivationRequest,
) -> Result<Response, ApiError> {
    let license = request.license_id;
    let outcome = seats(state, move |tx| rules::activate(tx, &request)).await?;
    if let Ok(Activation::New(machine)) = &outcome {
        tracing::info!(license = %license, machine = %machine.id, "machine activated");
    }
    activation_answer(state, outcome)
}

/// `POST /v1/machines` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ActivateBody {
    /// The machine's fingerprint hash, 64 hex digits (`tessera fingerprint`).
    #[schema(pattern = "^[0-9a-fA-F]{64}$")]
    fingerprint: String,
    /// What the customer calls the machine, at most 64 characters.
    #[serde(default)]
    #[schema(max_length = 64)]
    name: Option<String>,
    /// Its platform (`linux`, `macos`, `windows`, …), at most 32 characters.
    #[serde(default)]
    #[schema(max_length = 32)]
    platform: Option<String>,
}

/// Activates this machine for the licence: a certificate for it, if a seat is free.
#[utoipa::path(
    post,
    path = "/v1/machines",
    operation_id = "activate_machine",
    tag = "machines",
    security(("license_key" = [])),
    request_body = ActivateBody,
    responses(
        (status = 201, description = "Activated: a new machine holds a seat", body = ActivationAnswer),
        (status = 200, description = "The machine already held a seat: the same machine, a fresh \
            certificate", body = ActivationAnswer),
        (status = 400, description = "`invalid_json`, `invalid_body`", body = ErrorBody),
        LicenseRefused,
        (status = 409, description = "`too_many_machines`: every seat is held, by `machines`",
            body = TooManyMachinesBody),
        JsonBodyRefused,
        (status = 422, description = "`activation_not_required`, `invalid_fingerprint`, \
            `invalid_name`, `invalid_platform`", body = ErrorBody),
        (status = 500, description = "`internal`", body = ErrorBody),
    )
)]
pub(super) async fn activate(
    State(state): State<AppState>,
    who: Licensee,
    ApiJson(body): ApiJson<ActivateBody>,
) -> Result<Response, ApiError> {
    let request = activation_request(
        who.license_id,
        fingerprint(&body.fingerprint)?,
        body.name.as_deref(),
        body.platform.as_deref(),
    )?;
    activate_request(&state, request).await
}

/// `GET /v1/machines`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct MachineList {
    /// The licence's seat count; `null`: no limit.
    max_machines: Option<u32>,
    /// Whether seats float (are freed when a machine stops heart-beating).
    floating: bool,
    /// The machines holding its seats, oldest first.
    machines: Vec<MachineView>,
}

/// The machines holding the licence's seats.
#[utoipa::path(
    get,
    path = "/v1/machines",
    operation_id = "list_machines",
    tag = "machines",
    security(("license_key" = [])),
    responses(
        (status = 200, description = "The licence's seats and the machines holding them",
            body = MachineList),
        LicenseRefused,
        (status = 422, description = "`activation_not_required`", body = ErrorBody),
        (status = 500, description = "`internal`", body = ErrorBody),
    )
)]
pub(super) async fn list(
    State(state): State<AppState>,
    who: Licensee,
) -> Result<Json<MachineList>, ApiError> {
    let id = who.license_id;
    let found = state
        .db(move |store| {
            let Some((license, _)) = store.license(&id)? else {
                return Ok::<_, StoreError>(None);
            };
            let machines = store.machines(&id, true)?;
            Ok(Some((license, machines)))
        })
        .await?;
    let (license, machines) = found.ok_or_else(activation_not_required)?;
    if let Some(refused) = crate::store::Refused::of(Some(license.status)) {
        return Err(refused.into());
    }
    let policy = license.seats.ok_or_else(activation_not_required)?;
    let now = now();
    Ok(Json(MachineList {
        max_machines: policy.max_machines,
        floating: policy.floating(),
        machines: machines
            .iter()
            .filter(|m| m.holds_seat(now))
            .map(MachineView::from)
            .collect(),
    }))
}

/// The machine id in a path, if it can be one.
fn machine_id(id: &str) -> Option<String> {
    let id = id.trim();
    plausible_machine_id(id).then(|| id.to_owned())
}

/// A seat rule on one machine of the caller's licence (deactivate, heartbeat).
type MachineRule<T> =
    fn(&mut dyn Tx, &LicenseId, &str, Timestamp) -> Result<Credited<T>, StoreError>;

/// Runs `rule` on the machine the path segment `id` names, of `who`'s licence; `None` when `id`
/// cannot name a machine (then nothing reaches the store). A refused licence is its error.
async fn on_machine<T: Send + 'static>(
    state: &AppState,
    who: &Licensee,
    id: &str,
    rule: MachineRule<T>,
) -> Result<Option<T>, ApiError> {
    let Some(machine_id) = machine_id(id) else {
        return Ok(None);
    };
    let license = who.license_id;
    let outcome = seats(state, move |tx| rule(tx, &license, &machine_id, now())).await?;
    Ok(Some(outcome.map_err(ApiError::from)?))
}

/// Frees a machine's seat (self-service), within the plan's cap per 30 days.
#[utoipa::path(
    delete,
    path = "/v1/machines/{id}",
    operation_id = "deactivate_machine",
    tag = "machines",
    security(("license_key" = [])),
    params(("id" = String, Path, description = "The machine, `m_…`")),
    responses(
        (status = 204, description = "Deactivated: its seat is free"),
        (status = 400, description = "`bad_request`: a path that is not UTF-8", body = ErrorBody),
        LicenseRefused,
        (status = 404, description = "`machine_not_found`: no machine by that id holds a seat of \
            this licence", body = ErrorBody),
        (status = 429, description = "`too_many_deactivations`: the plan's self-service \
            deactivations per 30 days are used up (support can still free one); or `rate_limited`",
            body = ErrorBody),
        (status = 500, description = "`internal`", body = ErrorBody),
    )
)]
pub(super) async fn deactivate(
    State(state): State<AppState>,
    who: Licensee,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let Some(outcome) = on_machine(&state, &who, &id, rules::deactivate).await? else {
        return Ok(machine_not_found());
    };
    match outcome {
        Deactivated::Freed(machine) => {
            let license = who.license_id;
            tracing::info!(license = %license, machine = %machine.id, "machine deactivated");
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Deactivated::NotFound => Ok(machine_not_found()),
        Deactivated::TooMany { cap } => Ok(ErrorBody::new(
            "too_many_deactivations",
            format!(
                "this plan allows {cap} deactivations in 30 days: ask support to free a machine"
            ),
        )
        .into_response_with(StatusCode::TOO_MANY_REQUESTS)),
    }
}

/// Renews a machine's lease (and, for a floating seat, keeps it): a fresh certificate.
#[utoipa::path(
    post,
    path = "/v1/machines/{id}/heartbeat",
    operation_id = "machine_heartbeat",
    tag = "machines",
    security(("license_key" = [])),
    params(("id" = String, Path, description = "The machine, `m_…`")),
    responses(
        (status = 200, description = "The machine, with a certificate whose lease starts now",
            body = ActivationAnswer),
        (status = 400, description = "`bad_request`: a path that is not UTF-8", body = ErrorBody),
        LicenseRefused,
        (status = 404, description = "`machine_not_found`: the machine holds no seat (freed, or \
            its floating seat lapsed): activate again", body = ErrorBody),
        (status = 500, description = "`internal`", body = ErrorBody),
    )
)]
pub(super) async fn heartbeat(
    State(state): State<AppState>,
    who: Licensee,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    match on_machine(&state, &who, &id, rules::heartbeat).await? {
        Some(Some(machine)) => Ok(Json(certified(&state, &machine)?).into_response()),
        Some(None) | None => Ok(machine_not_found()),
    }
}

/// `POST /v1/machines/offline` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct OfflineBody {
    /// The activation request the app shows, `tsq1_…`.
    #[schema(max_length = 4096)]
    request: String,
}

/// Activates the machine an activation request (`tsq1_…`) describes, with the licence key it
/// carries as the credential: for a machine that cannot reach the issuer itself.
#[utoipa::path(
    post,
    path = "/v1/machines/offline",
    operation_id = "activate_machine_offline",
    tag = "machines",
    request_body = OfflineBody,
    responses(
        (status = 201, description = "Activated: a new machine holds a seat", body = ActivationAnswer),
        (status = 200, description = "The machine already held a seat: the same machine, a fresh \
            certificate", body = ActivationAnswer),
        (status = 400, description = "`invalid_json`, `invalid_body`, `invalid_request`: not an \
            activation request", body = ErrorBody),
        LicenseRefused,
        (status = 409, description = "`too_many_machines`: every seat is held, by `machines`",
            body = TooManyMachinesBody),
        JsonBodyRefused,
        (status = 422, description = "`activation_not_required`, `invalid_name`, \
            `invalid_platform`", body = ErrorBody),
        (status = 500, description = "`internal`", body = ErrorBody),
    )
)]
pub(super) async fn offline(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<OfflineBody>,
) -> Result<Response, ApiError> {
    let request = certificate::decode_request(&body.request)?;
    let who = Licensee::admit(&state, &request.key)?;
    let request = activation_request(
        who.license_id,
        request.fingerprint,
        request.name.as_deref(),
        request.platform.as_deref(),
    )?;
    activate_request(&state, request).await
}
