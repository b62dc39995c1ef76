//! A licence's credits as support sees and corrects them.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::auth::{Admin, AdminRefused};
use super::{audited, license_id, now, required_reason, Audit, LICENSE_ID};
use crate::credits::{page_of, LedgerPage, LedgerQuery, SummaryAnswer};
use crate::error::{ApiError, ErrorBody, InsufficientCreditsResponse};
use crate::extract::ApiJson;
use crate::extract::JsonBodyRefused;
use crate::state::AppState;
use crate::store::{CreditAccount, NewLedgerEntry, Reservation, Store, StoreError, MAX_AMOUNT};
use tessera_keys::LicenseId;

/// `GET /v1/admin/licenses/{id}/credits`.
#[utoipa::path(
    get,
    path = "/v1/admin/licenses/{id}/credits",
    operation_id = "admin_show_credits",
    tag = "admin",
    security(("admin_token" = [])),
    params(("id" = String, Path, description = LICENSE_ID)),
    responses(
        (status = 200, description = "The licence's credits", body = SummaryAnswer),
        (status = 400, description = "`bad_request`: a path that is not UTF-8", body = ErrorBody),
        AdminRefused,
        (status = 404, description = "`not_found`: no licence or credit account by that id",
            body = ErrorBody),
        (status = 500, description = "`internal`", body = ErrorBody),
    )
)]
pub(super) async fn show(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<Json<SummaryAnswer>, ApiError> {
    let id = license_id(&id)?;
    let (account, open) = state.db(move |store| known_credits(store, &id)).await??;
    Ok(Json(SummaryAnswer::new(id, account, &open)))
}

/// Licence `id`'s credits, or 404 when the issuer knows neither the licence nor an account of it
/// (a key signed offline has an account once it spends, without a licence on record).
fn known_credits(
    store: &dyn Store,
    id: &LicenseId,
) -> Result<Result<(CreditAccount, Vec<Reservation>), ApiError>, StoreError> {
    let (account, open) = store.credits(id)?;
    let unknown = account == CreditAccount::default()
        && open.is_empty()
        && store.license(id)?.is_none()
        && store.credit_ledger(id, None, 1)?.is_empty();
    Ok(if unknown {
        Err(ApiError::NotFound(super::NO_LICENSE))
    } else {
        Ok((account, open))
    })
}

/// A credit adjustment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AdjustBody {
    /// The credits, 1 to 10¹².
    #[schema(minimum = 1, maximum = 1_000_000_000_000_u64)]
    amount: u64,
    /// Why (at most 500 bytes): it goes into the audit trail.
    #[schema(required = true, value_type = String, pattern = "\\S", max_length = 500)]
    reason: Option<String>,
}

/// `POST /v1/admin/licenses/{id}/credits/grant`: adds to the top-up bucket, which never expires.
#[utoipa::path(
    post,
    path = "/v1/admin/licenses/{id}/credits/grant",
    operation_id = "admin_grant_credits",
    tag = "admin",
    security(("admin_token" = [])),
    params(("id" = String, Path, description = LICENSE_ID)),
    request_body = AdjustBody,
    responses(
        (status = 200, description = "The licence's credits after the grant", body = SummaryAnswer),
        (status = 400, description = "`invalid_json`, `invalid_body`", body = ErrorBody),
        AdminRefused,
        (status = 404, description = "`not_found`: no licence by that id", body = ErrorBody),
        JsonBodyRefused,
        (status = 422, description = "`reason_required`, `reason_too_long`, `invalid_amount`",
            body = ErrorBody),
        (status = 500, description = "`internal`", body = ErrorBody),
    )
)]
pub(super) async fn grant(
    state: State<AppState>,
    admin: Admin,
    id: Path<String>,
    body: ApiJson<AdjustBody>,
) -> Result<Json<SummaryAnswer>, ApiError> {
    adjust(state, admin, id, body, Direction::Grant).await
}

/// `POST /v1/admin/licenses/{id}/credits/deduct`: takes period credits first, then top-up credits.
#[utoipa::path(
    post,
    path = "/v1/admin/licenses/{id}/credits/deduct",
    operation_id = "admin_deduct_credits",
    tag = "admin",
    security(("admin_token" = [])),
    params(("id" = String, Path, description = LICENSE_ID)),
    request_body = AdjustBody,
    responses(
        (status = 200, description = "The licence's credits after the deduction",
            body = SummaryAnswer),
        (status = 400, description = "`invalid_json`, `invalid_body`", body = ErrorBody),
        AdminRefused,
        (status = 404, description = "`not_found`: no licence by that id", body = ErrorBody),
        (status = 409, description = "`insufficient_credits`", body = InsufficientCreditsResponse),
        JsonBodyRefused,
        (status = 422, description = "`reason_required`, `reason_too_long`, `invalid_amount`",
            body = ErrorBody),
        (status = 500, description = "`internal`", body = ErrorBody),
    )
)]
pub(super) async fn deduct(
    state: State<AppState>,
    admin: Admin,
    id: Path<String>,
    body: ApiJson<AdjustBody>,
) -> Result<Json<SummaryAnswer>, ApiError> {
    adjust(state, admin, id, body, Direction::Deduct).await
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Grant,
    Deduct,
}

async fn adjust(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AdjustBody>,
    direction: Direction,
) -> Result<Json<SummaryAnswer>, ApiError> {
    let id = license_id(&id)?;
    let reason = required_reason(body.reason)?;
    let amount = body.amount;
    if !(1..=MAX_AMOUNT).contains(&amount) {
        return Err(ApiError::unprocessable(
            "invalid_amount",
            format!("`amount` must be a whole number from 1 to {MAX_AMOUNT}"),
        ));
    }
    let action = match direction {
        Direction::Grant => "credits.grant",
        Direction::Deduct => "credits.deduct",
    };
    let audit = Audit {
        action,
        license_id: Some(id),
        reason: Some(reason.clone()),
        details: json!({"amount": amount}),
        admin: admin.clone(),
    };
    let reference = format!("admin:{}", admin.name);
    audited(&state, audit, move |tx| {
        if tx.license(&id)?.is_none() {
            return Err(ApiError::NotFound(super::NO_LICENSE));
        }
        // The balance is read and adjusted with no credit operation in between.
        tx.lock_credits(&id)?;
        let balances = tx
            .credit_account(&id)?
            .map(|account| account.balances)
            .unwrap_or_default();
        let (period, top_up) = match direction {
            Direction::Grant => (0, amount as i64),
            Direction::Deduct => {
                if balances.available() < amount {
                    return Err(ApiError::InsufficientCredits {
                        needed: amount,
                        available: balances.available(),
                    });
                }
                let from_period = amount.min(balances.period);
                (-(from_period as i64), -((amount - from_period) as i64))
            }
        };
        tx.credit_entry(&NewLedgerEntry::adjustment(
            &id,
            period,
            top_up,
            &reason,
            &reference,
            now(),
        ))?;
        Ok(())
    })
    .await?;
    tracing::info!(license = %id, action, amount, "credits adjusted by support");
    let (account, open) = state.db(move |store| store.credits(&id)).await?;
    Ok(Json(SummaryAnswer::new(id, account, &open)))
}

/// `GET /v1/admin/licenses/{id}/credits/ledger?cursor=…&limit=…`.
#[utoipa::path(
    get,
    path = "/v1/admin/licenses/{id}/credits/ledger",
    operation_id = "admin_credit_ledger",
    tag = "admin",
    security(("admin_token" = [])),
    params(("id" = String, Path, description = LICENSE_ID), LedgerQuery),
    responses(
        (status = 200, description = "A page of the licence's ledger, oldest first",
            body = LedgerPage),
        (status = 400, description = "`invalid_query`, `invalid_cursor`, `invalid_limit`",
            body = ErrorBody),
        AdminRefused,
        (status = 404, description = "`not_found`: no licence or credit account by that id",
            body = ErrorBody),
        (status = 500, description = "`internal`", body = ErrorBody),
    )
)]
pub(super) async fn ledger(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
    query: Result<Query<LedgerQuery>, QueryRejection>,
) -> Result<Json<LedgerPage>, ApiError> {
    let id = license_id(&id)?;
    let (after, limit) = page_of(query)?;
    let entries = state
        .db(move |store| {
            Ok::<_, StoreError>(match known_credits(store, &id)? {
                Ok(_) => Ok(store.credit_ledger(&id, after, limit + 1)?),
                Err(not_found) => Err(not_found),
            })
        })
        .await??;
    Ok(Json(LedgerPage::new(entries, limit)))
}

/// `GET /v1/admin/credits/check`: every credit account recomputed from its ledger.
#[utoipa::path(
    get,
    path = "/v1/admin/credits/check",
    operation_id = "admin_check_credits",
    tag = "admin",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Whether every account equals its ledger", body = CreditCheck),
        AdminRefused,
        (status = 500, description = "`internal`", body = ErrorBody),
    )
)]
pub(super) async fn check(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<CreditCheck>, ApiError> {
    let report = state.db(crate::credits::check::check).await?;
    Ok(Json(CreditCheck {
        consistent: report.is_consistent(),
        mismatches: report
            .mismatches
            .iter()
            .map(|m| MismatchView {
                license_id: m.license_id.clone(),
                cached: m.cached,
                ledger: m.ledger,
                open_reservations: m.open_reservations,
            })
            .collect(),
    }))
}

/// The credit ledger check.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct CreditCheck {
    /// Whether every account agrees with its ledger.
    consistent: bool,
    /// The accounts that do not.
    mismatches: Vec<MismatchView>,
}

/// An account whose cached numbers differ from its ledger or open reservations.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct MismatchView {
    /// The licence (hex).
    license_id: String,
    /// `[period, top_up, period_reserved, top_up_reserved]` as cached.
    #[schema(value_type = Vec<i64>)]
    cached: [i64; 4],
    /// The same, summed from the ledger.
    #[schema(value_type = Vec<i64>)]
    ledger: [i64; 4],
    /// `[period, top_up]` held by open reservations.
    #[schema(value_type = Vec<i64>)]
    open_reservations: [i64; 2],
}
