//! A licence's credits as support sees and corrects them.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::auth::Admin;
use super::{audited, license_id, now, required_reason, Audit};
use crate::credits::{page_of, LedgerPage, LedgerQuery, SummaryAnswer};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;
use crate::store::{
    CreditAccount, LedgerKind, NewLedgerEntry, Reservation, Store, StoreError, MAX_AMOUNT,
};
use tessera_keys::LicenseId;

/// `GET /v1/admin/licenses/{id}/credits`.
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AdjustBody {
    amount: u64,
    reason: Option<String>,
}

/// `POST /v1/admin/licenses/{id}/credits/grant`: adds to the top-up bucket, which never expires.
pub(super) async fn grant(
    state: State<AppState>,
    admin: Admin,
    id: Path<String>,
    body: ApiJson<AdjustBody>,
) -> Result<Json<SummaryAnswer>, ApiError> {
    adjust(state, admin, id, body, Direction::Grant).await
}

/// `POST /v1/admin/licenses/{id}/credits/deduct`: takes period credits first, then top-up credits.
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
        tx.credit_entry(&NewLedgerEntry {
            license_id: &id,
            kind: LedgerKind::Adjustment,
            period,
            top_up,
            period_reserved: 0,
            top_up_reserved: 0,
            used: 0,
            shortfall: 0,
            reason: &reason,
            reference: Some(&reference),
            reservation_id: None,
            at: now(),
        })?;
        Ok(())
    })
    .await?;
    tracing::info!(license = %id, action, amount, "credits adjusted by support");
    let (account, open) = state.db(move |store| store.credits(&id)).await?;
    Ok(Json(SummaryAnswer::new(id, account, &open)))
}

/// `GET /v1/admin/licenses/{id}/credits/ledger?cursor=…&limit=…`.
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

/// `GET /v1/admin/credits/check`.
pub(super) async fn check(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<serde_json::Value>, ApiError> {
    let report = state.db(crate::credits::check::check).await?;
    Ok(Json(json!({
        "consistent": report.is_consistent(),
        "mismatches": report.mismatches.iter().map(|m| json!({
            "license_id": m.license_id,
            "cached": m.cached,
            "ledger": m.ledger,
            "open_reservations": m.open_reservations,
        })).collect::<Vec<_>>(),
    })))
}
