//! Machines for support: list a licence's machines, show one, free a seat, activate a machine from
//! its activation request, and change a licence's seat count. Every change is audited with a
//! reason, in the transaction of the change.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::auth::{Admin, AdminRefused};
use super::licenses::{AdminLicense, ReasonBody};
use super::{audited, license_id, now, required_reason, Audit, LICENSE_ID, NO_LICENSE};
use crate::config::seats::MAX_MACHINES;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, JsonBodyRefused};
use crate::machines::rules::{self, Activation};
use crate::machines::{
    activation_answer, activation_request, certificate, machine_not_found, plausible_machine_id,
    ActivationAnswer, MachineView, TooManyMachinesBody,
};
use crate::state::AppState;
use crate::store::{Credited, LicenseStatus, Machine, Refused, SeatPolicy, StoreError, Timestamp};
use crate::verified_keys::Checked;

/// A machine with what support needs besides what the customer sees.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct AdminMachine {
    #[serde(flatten)]
    machine: MachineView,
    /// The licence whose seat it holds (or held).
    license_id: String,
    /// Whether it holds a seat now.
    active: bool,
    /// When it stopped holding one (unix seconds).
    #[schema(value_type = Option<i64>)]
    deactivated_at: Option<Timestamp>,
    /// How: `customer`, `admin` or `lapsed`.
    deactivated_how: Option<&'static str>,
}

impl AdminMachine {
    pub(super) fn new(m: &Machine, now: Timestamp) -> AdminMachine {
        AdminMachine {
            machine: m.into(),
            license_id: m.license_id.to_hex().to_string(),
            active: m.holds_seat(now),
            deactivated_at: m.deactivated_at,
            deactivated_how: m.deactivated_how.map(|how| how.as_str()),
        }
    }
}

/// A licence's seat policy as answered; `null` when its keys need no activation.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SeatsView {
    /// At most this many machines; `null`: no limit.
    max_machines: Option<u32>,
    /// Certificates' lease, in days; `null`: they do not expire.
    lease_days: Option<u32>,
    /// Whether seats float.
    floating: bool,
    /// Floating seats' heartbeat interval.
    heartbeat_seconds: Option<u32>,
    /// Self-service deactivations allowed per 30 days; `null`: no cap.
    max_deactivations_per_30_days: Option<u32>,
}

impl From<&SeatPolicy> for SeatsView {
    fn from(p: &SeatPolicy) -> Self {
        SeatsView {
            max_machines: p.max_machines,
            lease_days: p.lease_days,
            floating: p.floating(),
            heartbeat_seconds: p.heartbeat_seconds,
            max_deactivations_per_30_days: p.max_deactivations_per_30_days,
        }
    }
}

/// A licence's seats and every machine it ever activated.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct LicenseMachines {
    /// The licence, hex.
    license_id: String,
    /// Its seat policy; `null`: its keys need no activation.
    seats: Option<SeatsView>,
    /// Machines holding a seat now.
    active: usize,
    /// Every machine, oldest first, freed ones included.
    machines: Vec<AdminMachine>,
}

/// `GET /v1/admin/licenses/{id}/machines`.
#[utoipa::path(
    get,
    path = "/v1/admin/licenses/{id}/machines",
    operation_id = "admin_license_machines",
    tag = "admin",
    security(("admin_token" = [])),
    params(("id" = String, Path, description = LICENSE_ID)),
    responses(
        (status = 200, description = "The licence's seats and machines", body = LicenseMachines),
        (status = 400, description = "`bad_request`: a path that is not UTF-8", body = ErrorBody),
        AdminRefused,
        (status = 404, description = "`not_found`: no licence by that id", body = ErrorBody),
        (status = 500, description = "`internal`", body = ErrorBody),
    )
)]
pub(super) async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<Json<LicenseMachines>, ApiError> {
    let id = license_id(&id)?;
    let found = state
        .db(move |store| {
            let Some((license, _)) = store.license(&id)? else {
                return Ok::<_, StoreError>(None);
            };
            Ok(Some((license.seats, store.machines(&id, false)?)))
        })
        .await?;
    let (seats, machines) = found.ok_or(ApiError::NotFound(NO_LICENSE))?;
    Ok(Json(license_machines(
        id.to_hex().as_str(),
        seats.as_ref(),
        &machines,
    )))
}

pub(super) fn license_machines(
    id: &str,
    seats: Option<&SeatPolicy>,
    machines: &[Machine],
) -> LicenseMachines {
    let now = now();
    LicenseMachines {
        license_id: id.to_owned(),
        seats: seats.map(SeatsView::from),
        active: machines.iter().filter(|m| m.holds_seat(now)).count(),
        machines: machines.iter().map(|m| AdminMachine::new(m, now)).collect(),
    }
}

/// One machine.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct MachineDetail {
    machine: AdminMachine,
}

fn machine_id(id: &str) -> Option<String> {
    let id = id.trim();
    plausible_machine_id(id).then(|| id.to_owned())
}

/// `GET /v1/admin/machines/{id}`.
#[utoipa::path(
    get,
    path = "/v1/admin/machines/{id}",
    operation_id = "admin_show_machine",
    tag = "admin",
    security(("admin_token" = [])),
    params(("id" = String, Path, description = "The machine, `m_…`")),
    responses(
        (status = 200, description = "The machine", body = MachineDetail),
        (status = 400, description = "`bad_request`: a path that is not UTF-8", body = ErrorBody),
        AdminRefused,
        (status = 404, description = "`machine_not_found`", body = ErrorBody),
        (status = 500, description = "`internal`", body = ErrorBody),
    )
)]
pub(super) async fn show(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let Some(id) = machine_id(&id) else {
        return Ok(machine_not_found());
    };
    match state.db(move |store| store.machine(&id)).await? {
        Some(machine) => Ok(Json(MachineDetail {
            machine: AdminMachine::new(&machine, now()),
        })
        .into_response()),
        None => Ok(machine_not_found()),
    }
}

/// `POST /v1/admin/machines/{id}/deactivate`: frees its seat, whatever the plan's cap.
#[utoipa::path(
    post,
    path = "/v1/admin/machines/{id}/deactivate",
    operation_id = "admin_deactivate_machine",
    tag = "admin",
    security(("admin_token" = [])),
    params(("id" = String, Path, description = "The machine, `m_…`")),
    request_body = ReasonBody,
    responses(
        (status = 200, description = "Deactivated", body = MachineDetail),
        (status = 400, description = "`invalid_json`, `invalid_body`", body = ErrorBody),
        AdminRefused,
        (status = 404, description = "`machine_not_found`: no machine by that id holds a seat",
            body = ErrorBody),
        JsonBodyRefused,
        (status = 422, description = "`reason_required`, `reason_too_long`", body = ErrorBody),
        (status = 500, description = "`internal`", body = ErrorBody),
    )
)]
pub(super) async fn deactivate(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> Result<Response, ApiError> {
    let reason = required_reason(body.reason)?;
    let Some(machine_id) = machine_id(&id) else {
        return Ok(machine_not_found());
    };
    let found = {
        let id = machine_id.clone();
        state.db(move |store| store.machine(&id)).await?
    };
    let Some(found) = found else {
        return Ok(machine_not_found());
    };
    let audit = Audit::of_license(
        admin,
        "machine.deactivate",
        found.license_id,
        Some(reason),
        json!({"machine": machine_id, "fingerprint": found.fingerprint}),
    );
    let freed = audited(&state, audit, move |tx| {
        rules::deactivate_by_support(tx, &machine_id, now())?
            .ok_or(ApiError::NotFound("no machine by that id holds a seat"))
    })
    .await;
    match freed {
        Ok(machine) => {
            tracing::warn!(license = %machine.license_id, machine = %machine.id,
                "machine deactivated by support");
            Ok(Json(MachineDetail {
                machine: AdminMachine::new(&machine, now()),
            })
            .into_response())
        }
        Err(ApiError::NotFound(_)) => Ok(machine_not_found()),
        Err(err) => Err(err),
    }
}

/// `POST /v1/admin/machines/offline` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct OfflineActivationBody {
    /// The activation request the app shows, `tsq1_…`.
    #[schema(max_length = 4096)]
    request: String,
    /// Why (at most 500 bytes), for the audit trail.
    #[schema(required = true, value_type = String, pattern = "\\S", max_length = 500)]
    reason: Option<String>,
}

/// `POST /v1/admin/machines/offline`: activates the machine an activation request describes, for a
/// customer who cannot; the seat limit still applies.
#[utoipa::path(
    post,
    path = "/v1/admin/machines/offline",
    operation_id = "admin_activate_machine",
    tag = "admin",
    security(("admin_token" = [])),
    request_body = OfflineActivationBody,
    responses(
        (status = 201, description = "Activated: a new machine holds a seat", body = ActivationAnswer),
        (status = 200, description = "The machine already held a seat: a fresh certificate",
            body = ActivationAnswer),
        (status = 400, description = "`invalid_json`, `invalid_body`, `invalid_request`", body = ErrorBody),
        AdminRefused,
        (status = 409, description = "`too_many_machines`: every seat is held, by `machines`",
            body = TooManyMachinesBody),
        JsonBodyRefused,
        (status = 422, description = "`activation_not_required`, `invalid_license_key`, \
            `revoked`, `suspended`, `invalid_name`, `invalid_platform`, `reason_required`, \
            `reason_too_long`",
            body = ErrorBody),
        (status = 500, description = "`internal`", body = ErrorBody),
    )
)]
pub(super) async fn activate(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(body): ApiJson<OfflineActivationBody>,
) -> Result<Response, ApiError> {
    let reason = required_reason(body.reason)?;
    let request = certificate::decode_request(&body.request)?;
    // Support vouches for the customer: the key must be this issuer's, whatever its dates.
    let license_id = match state.verified_keys.check(&request.key, crate::clock::now()) {
        Checked::Signed(signed) => signed.license_id,
        Checked::Untrusted(err) => {
            return Err(ApiError::unprocessable(
                "invalid_license_key",
                format!("the request's licence key is not one this issuer signed: {err}"),
            ))
        }
    };
    let activation = activation_request(
        license_id,
        request.fingerprint,
        request.name.as_deref(),
        request.platform.as_deref(),
    )?;
    let audit = Audit::of_license(
        admin,
        "machine.activate",
        license_id,
        Some(reason),
        json!({"fingerprint": activation.fingerprint}),
    );
    // An activation that takes no seat writes no audit entry: the transaction is rolled back,
    // and its outcome is answered from here.
    let refused: Arc<Mutex<Option<Credited<Activation>>>> = Arc::default();
    let outcome = {
        let refused = Arc::clone(&refused);
        audited(&state, audit, move |tx| {
            match rules::activate(tx, &activation)? {
                Ok(taken @ (Activation::New(_) | Activation::Again(_))) => Ok(taken),
                other => {
                    *refused.lock().unwrap_or_else(|p| p.into_inner()) = Some(other);
                    Err(ApiError::Internal("activation refused".into()))
                }
            }
        })
        .await
    };
    let outcome = match outcome {
        Ok(taken) => Ok(taken),
        Err(err) => match refused.lock().unwrap_or_else(|p| p.into_inner()).take() {
            Some(other) => other,
            None => return Err(err),
        },
    };
    match outcome {
        Err(Refused(status)) => Err(refused_license(status)),
        Ok(activation) => {
            if let Activation::New(machine) = &activation {
                tracing::warn!(license = %license_id, machine = %machine.id,
                    "machine activated by support");
            }
            activation_answer(&state, Ok(activation))
        }
    }
}

fn refused_license(status: LicenseStatus) -> ApiError {
    let code = if status == LicenseStatus::Revoked {
        "revoked"
    } else {
        "suspended"
    };
    ApiError::unprocessable(
        code,
        format!(
            "the licence is {}: it cannot activate machines",
            status.as_str()
        ),
    )
}

/// `POST /v1/admin/licenses/{id}/seats` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SeatsBody {
    /// The licence's new seat count, 0 to 100 000; `null`: no limit.
    #[schema(minimum = 0, maximum = 100_000)]
    max_machines: Option<u32>,
    /// Why (at most 500 bytes), for the audit trail.
    #[schema(required = true, value_type = String, pattern = "\\S", max_length = 500)]
    reason: Option<String>,
}

/// A licence after a change of its seats.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SeatsChanged {
    license: AdminLicense,
    seats: SeatsView,
}

/// `POST /v1/admin/licenses/{id}/seats`: changes the licence's seat count (its other seat settings
/// stay). Machines already active keep their seats; fewer seats only stop new activations until
/// enough are freed. A licence without activation gets it: keys issued from then on require it.
#[utoipa::path(
    post,
    path = "/v1/admin/licenses/{id}/seats",
    operation_id = "admin_license_seats",
    tag = "admin",
    security(("admin_token" = [])),
    params(("id" = String, Path, description = LICENSE_ID)),
    request_body = SeatsBody,
    responses(
        (status = 200, description = "Changed", body = SeatsChanged),
        (status = 400, description = "`invalid_json`, `invalid_body`", body = ErrorBody),
        AdminRefused,
        (status = 404, description = "`not_found`: no licence by that id", body = ErrorBody),
        JsonBodyRefused,
        (status = 422, description = "`invalid_max_machines`, `reason_required`, \
            `reason_too_long`", body = ErrorBody),
        (status = 500, description = "`internal`", body = ErrorBody),
    )
)]
pub(super) async fn set_seats(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SeatsBody>,
) -> Result<Json<SeatsChanged>, ApiError> {
    let id = license_id(&id)?;
    let reason = required_reason(body.reason)?;
    if body.max_machines.is_some_and(|n| n > MAX_MACHINES) {
        return Err(ApiError::unprocessable(
            "invalid_max_machines",
            format!("`max_machines` must be 0 to {MAX_MACHINES}, or null for no limit"),
        ));
    }
    let max_machines = body.max_machines;
    let audit = Audit::of_license(
        admin,
        "license.seats",
        id,
        Some(reason),
        json!({"max_machines": max_machines}),
    );
    let license = audited(&state, audit, move |tx| {
        tx.lock_machines(&id)?;
        let mut license = tx.license(&id)?.ok_or(ApiError::NotFound(NO_LICENSE))?;
        license.seats = Some(SeatPolicy {
            max_machines,
            ..license.seats.unwrap_or_default()
        });
        license.updated_at = now();
        tx.update_license(&license)?;
        Ok(license)
    })
    .await?;
    tracing::warn!(license = %id, ?max_machines, "seat count changed by support");
    let seats = license.seats.unwrap_or_default();
    Ok(Json(SeatsChanged {
        license: AdminLicense::new(&state, &license),
        seats: SeatsView::from(&seats),
    }))
}
