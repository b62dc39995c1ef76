//! Metered usage: each licence's credits, spent through reservations.
//!
//! The licence key is the credential (`Authorization: License <key>`, see [`auth`]); it is checked
//! with the verifier and the store before any credit is read.
//!
//! | endpoint | answer |
//! | --- | --- |
//! | `GET /v1/credits` | balances per bucket, the paid period, open reservations |
//! | `POST /v1/credits/reservations` + `Idempotency-Key` | `201` reservation, or `402 insufficient_credits` |
//! | `POST /v1/credits/reservations/{id}/commit` `{"used": u}` | `200`: `u` charged, the rest released |
//! | `POST /v1/credits/reservations/{id}/release` | `200`: all released |
//! | `GET /v1/credits/ledger?cursor=…&limit=…` | the licence's ledger, oldest first, paginated |
//! | `POST /v1/credits/checkout` `{"pack": "price_…"}` | a Stripe Checkout Session for a top-up |
//!
//! # Buckets
//! Period credits (the plan's `credits_per_period`, reset at each paid renewal, unused ones expire)
//! and top-up credits (bought, never expire). A reservation draws period credits first; a commit
//! charges the reservation's period part first and returns the rest to the buckets it came from.
//!
//! # Exactly once, durably, fast
//! Every change writes the ledger row and the cached balances together in one `BEGIN IMMEDIATE`
//! transaction ([`crate::credits::rules`], queued for the store's writer), answered only once it is
//! durable; operations that arrive together share a transaction and its `fsync` (group commit). A reservation's answer is
//! stored with its `Idempotency-Key` in that transaction, so a retry gets the same answer and never
//! reserves twice; settling is idempotent by the reservation's state. Reservations not settled before
//! their TTL are released by [`sweeper`].

pub mod auth;
pub mod check;
pub mod checkout;
pub mod rules;
pub mod sweeper;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody, InsufficientCreditsResponse};
use crate::extract::ApiJson;
use crate::extract::JsonBodyRefused;
use crate::state::AppState;
use crate::store::{
    CreditAccount, CreditBalances, Idempotent, LedgerEntry, Reservation, ReserveOutcome,
    ReserveRequest, SettleOutcome, Settlement, Store, StoreError, StoredAnswer, Timestamp,
    MAX_AMOUNT,
};

use auth::{LicenseRefused, Licensee};
use tessera_keys::LicenseId;

/// How long a reservation holds its credits unless the request says otherwise.
pub const DEFAULT_TTL_SECONDS: u64 = 900;
/// The longest TTL a request may ask for.
pub const MAX_TTL_SECONDS: u64 = 86_400;
/// The longest `Idempotency-Key` and `reference`.
const MAX_KEY_LEN: usize = 255;
/// Ledger page sizes.
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;

/// The credit endpoints.
pub fn router(state: &AppState) -> Router<AppState> {
    let api = std::sync::Arc::new(crate::stripe::api::StripeApi::new(&state.config.stripe));
    Router::new()
        .route("/v1/credits", get(summary))
        .route("/v1/credits/reservations", post(reserve))
        .route("/v1/credits/reservations/{id}/commit", post(commit))
        .route("/v1/credits/reservations/{id}/release", post(release))
        .route("/v1/credits/ledger", get(ledger))
        .route("/v1/credits/checkout", post(checkout::checkout))
        .layer(axum::Extension(api))
}

/// Balances as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct BalancesView {
    /// Period credits that can be reserved.
    pub period: u64,
    /// Top-up credits that can be reserved.
    pub top_up: u64,
    /// `period + top_up`.
    pub available: u64,
    /// Credits held by open reservations (both buckets).
    pub reserved: u64,
    /// Period credits held by open reservations.
    pub period_reserved: u64,
    /// Top-up credits held by open reservations.
    pub top_up_reserved: u64,
}

impl From<CreditBalances> for BalancesView {
    fn from(b: CreditBalances) -> Self {
        BalancesView {
            period: b.period,
            top_up: b.top_up,
            available: b.available(),
            reserved: b.period_reserved + b.top_up_reserved,
            period_reserved: b.period_reserved,
            top_up_reserved: b.top_up_reserved,
        }
    }
}

/// A reservation as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReservationView {
    /// `rsv_…`.
    pub id: String,
    /// `open`, `committed`, `released` or `expired`.
    pub status: &'static str,
    /// What it holds (or held).
    pub amount: u64,
    /// The part drawn from period credits.
    pub period_part: u64,
    /// The part drawn from top-up credits.
    pub top_up_part: u64,
    /// What a commit charged; `null` otherwise.
    pub used: Option<u64>,
    /// The client's reference.
    pub reference: Option<String>,
    /// When it was made (unix seconds).
    #[schema(value_type = i64)]
    pub created_at: Timestamp,
    /// When it expires if not settled.
    #[schema(value_type = i64)]
    pub expires_at: Timestamp,
    /// When it was settled.
    #[schema(value_type = Option<i64>)]
    pub settled_at: Option<Timestamp>,
}

impl From<&Reservation> for ReservationView {
    fn from(r: &Reservation) -> Self {
        ReservationView {
            id: r.id.clone(),
            status: r.status.as_str(),
            amount: r.amount,
            period_part: r.period_part,
            top_up_part: r.top_up_part,
            used: r.used,
            reference: r.reference.clone(),
            created_at: r.created_at,
            expires_at: r.expires_at,
            settled_at: r.settled_at,
        }
    }
}

/// A reservation with the balances after the change.
#[derive(Debug, Serialize, ToSchema)]
struct ReservationAnswer {
    #[serde(flatten)]
    reservation: ReservationView,
    balances: BalancesView,
}

/// The paid period (unix seconds); `null` without a subscription.
#[derive(Debug, Serialize, ToSchema)]
struct PeriodView {
    #[schema(value_type = Option<i64>)]
    start: Option<Timestamp>,
    #[schema(value_type = Option<i64>)]
    end: Option<Timestamp>,
}

/// `GET /v1/credits`: a licence's credits.
#[derive(Debug, Serialize, ToSchema)]
pub struct SummaryAnswer {
    license_id: String,
    balances: BalancesView,
    period: PeriodView,
    reservations: Vec<ReservationView>,
}

impl SummaryAnswer {
    /// The answer for licence `id`'s `account` and `open` reservations.
    pub fn new(id: LicenseId, account: CreditAccount, open: &[Reservation]) -> SummaryAnswer {
        SummaryAnswer {
            license_id: id.to_hex().to_string(),
            balances: account.balances.into(),
            period: PeriodView {
                start: account.period_start,
                end: account.period_end,
            },
            reservations: open.iter().map(ReservationView::from).collect(),
        }
    }
}

fn now() -> Timestamp {
    crate::clock::now().0 as Timestamp
}

/// Reads licence `id`'s credits with `read`, unless its record refuses it (revoked, suspended).
async fn read<T: Send + 'static>(
    state: &AppState,
    id: LicenseId,
    read: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    state
        .db(move |store| match store.credit_refusal(&id)? {
            Some(refused) => Ok(Err(refused)),
            None => read(store).map(Ok),
        })
        .await?
        .map_err(ApiError::from)
}

/// The licence's credits per bucket, its paid period and its open reservations.
#[utoipa::path(
    get,
    path = "/v1/credits",
    tag = "credits",
    security(("license_key" = [])),
    responses(
        (status = 200, description = "The licence's credits", body = SummaryAnswer),
        LicenseRefused,
        (status = 500, description = "`internal`", body = ErrorBody),
    )
)]
async fn summary(
    State(state): State<AppState>,
    who: Licensee,
) -> Result<Json<SummaryAnswer>, ApiError> {
    let id = who.license_id;
    let (account, open) = read(&state, id, move |store| store.credits(&id)).await?;
    Ok(Json(SummaryAnswer::new(id, account, &open)))
}

/// `POST /v1/credits/reservations` body.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReserveBody {
    /// The credits to hold, 1 to 10¹².
    #[schema(minimum = 1, maximum = 1_000_000_000_000_u64)]
    amount: u64,
    /// How long to hold them unless settled, 1 to 86 400 s; default 900.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 86_400)]
    ttl_seconds: Option<u64>,
    /// The client's reference (a job id, say), at most 255 bytes.
    #[serde(default)]
    #[schema(max_length = 255)]
    reference: Option<String>,
}

fn idempotency_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let value = headers.get("idempotency-key").ok_or_else(|| {
        ApiError::bad_request(
            "missing_idempotency_key",
            "a reservation needs an `Idempotency-Key` header (a unique string per reservation)",
        )
    })?;
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|key| !key.is_empty() && key.len() <= MAX_KEY_LEN)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_idempotency_key",
                format!("`Idempotency-Key` must be 1 to {MAX_KEY_LEN} visible ASCII characters"),
            )
        })?;
    Ok(key.to_owned())
}

fn stored_response(answer: StoredAnswer, replayed: bool) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        answer.body,
    )
        .into_response();
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

fn render(outcome: &ReserveOutcome) -> StoredAnswer {
    let (status, body) = match outcome {
        ReserveOutcome::Reserved(reservation, balances) => (
            201,
            serde_json::to_string(&ReservationAnswer {
                reservation: reservation.into(),
                balances: (*balances).into(),
            }),
        ),
        ReserveOutcome::Insufficient { needed, available } => (
            402,
            serde_json::to_string(&ErrorBody::insufficient_credits(*needed, *available)),
        ),
    };
    StoredAnswer {
        status,
        body: body.unwrap_or_else(|_| "{}".to_owned()),
    }
}

/// Holds credits for a job, before it runs; settle it with commit or release.
#[utoipa::path(
    post,
    path = "/v1/credits/reservations",
    tag = "credits",
    security(("license_key" = [])),
    params((
        "Idempotency-Key" = String,
        Header,
        description = "A unique string per reservation (1 to 255 visible ASCII characters); a \
            repeat replays the first answer, with `Idempotent-Replayed: true`",
        pattern = "^[!-~]([ -~]*[!-~])?$",
        max_length = 255,
    )),
    request_body = ReserveBody,
    responses(
        (status = 201, description = "Reserved", body = ReservationAnswer),
        (status = 400, description = "`missing_idempotency_key`, `invalid_idempotency_key`, \
            `invalid_json`, `invalid_body`", body = ErrorBody),
        (status = 402, description = "`insufficient_credits`", body = InsufficientCreditsResponse),
        LicenseRefused,
        JsonBodyRefused,
        (status = 422, description = "`invalid_amount`, `invalid_ttl`, `invalid_reference`, \
            `idempotency_key_reused`", body = ErrorBody),
        (status = 500, description = "`internal`", body = ErrorBody),
    )
)]
async fn reserve(
    State(state): State<AppState>,
    who: Licensee,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ReserveBody>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    check_amount("amount", body.amount)?;
    let ttl_seconds = body.ttl_seconds.unwrap_or(DEFAULT_TTL_SECONDS);
    if !(1..=MAX_TTL_SECONDS).contains(&ttl_seconds) {
        return Err(ApiError::unprocessable(
            "invalid_ttl",
            format!("`ttl_seconds` must be 1 to {MAX_TTL_SECONDS}"),
        ));
    }
    if body
        .reference
        .as_ref()
        .is_some_and(|r| r.len() > MAX_KEY_LEN)
    {
        return Err(ApiError::unprocessable(
            "invalid_reference",
            format!("`reference` must be at most {MAX_KEY_LEN} bytes"),
        ));
    }
    let fingerprint = serde_json::to_string(&body)
        .map_err(|err| ApiError::Internal(format!("cannot fingerprint a request: {err}")))?;
    let request = ReserveRequest {
        license_id: who.license_id,
        idempotency_key: key,
        fingerprint,
        amount: body.amount,
        ttl_seconds,
        reference: body.reference,
        now: now(),
    };
    let answer = state.store.reserve_credits(request, render).await??;
    match answer {
        Idempotent::New(answer) => Ok(stored_response(answer, false)),
        Idempotent::Replay(answer) => Ok(stored_response(answer, true)),
        Idempotent::Mismatch => Err(ApiError::unprocessable(
            "idempotency_key_reused",
            "this Idempotency-Key was used for a different request",
        )),
    }
}

fn check_amount(field: &str, amount: u64) -> Result<(), ApiError> {
    if (1..=MAX_AMOUNT).contains(&amount) {
        Ok(())
    } else {
        Err(ApiError::unprocessable(
            "invalid_amount",
            format!("`{field}` must be a whole number from 1 to {MAX_AMOUNT}"),
        ))
    }
}

/// `POST …/commit` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CommitBody {
    /// The credits the job used, at most what was reserved; the rest is released.
    #[schema(maximum = 1_000_000_000_000_u64)]
    used: u64,
}

/// Charges `used` credits of a reservation and releases the rest; idempotent.
#[utoipa::path(
    post,
    path = "/v1/credits/reservations/{id}/commit",
    tag = "credits",
    security(("license_key" = [])),
    params(("id" = String, Path, description = "The reservation, `rsv_…`")),
    request_body = CommitBody,
    responses(
        (status = 200, description = "Committed (or already committed with the same `used`)",
            body = ReservationAnswer),
        (status = 400, description = "`invalid_json`, `invalid_body`, `bad_request` (a path that \
            is not UTF-8)", body = ErrorBody),
        LicenseRefused,
        (status = 404, description = "`not_found`: no reservation by that id for this licence",
            body = ErrorBody),
        (status = 409, description = "`reservation_committed`, `reservation_released`, \
            `reservation_expired`: settled otherwise before", body = ErrorBody),
        JsonBodyRefused,
        (status = 422, description = "`invalid_amount`, `used_exceeds_reserved`",
            body = ErrorBody),
        (status = 500, description = "`internal`", body = ErrorBody),
    )
)]
async fn commit(
    State(state): State<AppState>,
    who: Licensee,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CommitBody>,
) -> Result<Json<ReservationAnswer>, ApiError> {
    if body.used > MAX_AMOUNT {
        return Err(ApiError::unprocessable(
            "invalid_amount",
            format!("`used` must be a whole number from 0 to {MAX_AMOUNT}"),
        ));
    }
    settle(&state, &who, id, Settlement::Commit { used: body.used }).await
}

/// Releases a reservation's credits; idempotent.
#[utoipa::path(
    post,
    path = "/v1/credits/reservations/{id}/release",
    tag = "credits",
    security(("license_key" = [])),
    params(("id" = String, Path, description = "The reservation, `rsv_…`")),
    responses(
        (status = 200, description = "Released (or already released)", body = ReservationAnswer),
        (status = 400, description = "`bad_request`: a path that is not UTF-8", body = ErrorBody),
        LicenseRefused,
        (status = 404, description = "`not_found`: no reservation by that id for this licence",
            body = ErrorBody),
        (status = 409, description = "`reservation_committed`, `reservation_expired`: settled \
            otherwise before", body = ErrorBody),
        (status = 500, description = "`internal`", body = ErrorBody),
    )
)]
async fn release(
    State(state): State<AppState>,
    who: Licensee,
    Path(id): Path<String>,
) -> Result<Json<ReservationAnswer>, ApiError> {
    settle(&state, &who, id, Settlement::Release).await
}

const NO_RESERVATION: &str = "no reservation by that id for this licence";

async fn settle(
    state: &AppState,
    who: &Licensee,
    reservation_id: String,
    settlement: Settlement,
) -> Result<Json<ReservationAnswer>, ApiError> {
    if !reservation_id.starts_with("rsv_") || reservation_id.len() > 64 {
        return Err(ApiError::NotFound(NO_RESERVATION));
    }
    let outcome = state
        .store
        .settle_reservation(who.license_id, reservation_id, settlement, now())
        .await??;
    match outcome {
        SettleOutcome::Settled(reservation, balances) => Ok(Json(ReservationAnswer {
            reservation: (&reservation).into(),
            balances: balances.into(),
        })),
        SettleOutcome::NotFound => Err(ApiError::NotFound(NO_RESERVATION)),
        SettleOutcome::UsedExceedsReserved { reserved } => Err(ApiError::unprocessable(
            "used_exceeds_reserved",
            format!("`used` is more than the {reserved} credits reserved"),
        )),
        SettleOutcome::Conflict(r) => {
            let (code, message) = match r.status {
                crate::store::ReservationStatus::Committed => (
                    "reservation_committed",
                    format!(
                        "reservation {} was already committed with used = {}",
                        r.id,
                        r.used.unwrap_or(0)
                    ),
                ),
                crate::store::ReservationStatus::Released => (
                    "reservation_released",
                    format!("reservation {} was already released", r.id),
                ),
                crate::store::ReservationStatus::Expired => (
                    "reservation_expired",
                    format!(
                        "reservation {} expired at {} and its credits were released",
                        r.id, r.expires_at
                    ),
                ),
                crate::store::ReservationStatus::Open => {
                    ("reservation_open", format!("reservation {} is open", r.id))
                }
            };
            Err(ApiError::Conflict { code, message })
        }
    }
}

/// `GET /v1/credits/ledger` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LedgerQuery {
    /// Where the page starts: a `next_cursor` from the page before.
    cursor: Option<String>,
    /// Rows per page, 1 to 1000; default 100.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

/// A ledger row as answered.
#[derive(Debug, Serialize, ToSchema)]
struct LedgerEntryView {
    id: i64,
    kind: String,
    period: i64,
    top_up: i64,
    period_reserved: i64,
    top_up_reserved: i64,
    used: u64,
    shortfall: u64,
    reason: String,
    reference: Option<String>,
    reservation_id: Option<String>,
    #[schema(value_type = i64)]
    at: Timestamp,
}

impl From<LedgerEntry> for LedgerEntryView {
    fn from(e: LedgerEntry) -> Self {
        LedgerEntryView {
            id: e.id,
            kind: e.kind,
            period: e.period,
            top_up: e.top_up,
            period_reserved: e.period_reserved,
            top_up_reserved: e.top_up_reserved,
            used: e.used,
            shortfall: e.shortfall,
            reason: e.reason,
            reference: e.reference,
            reservation_id: e.reservation_id,
            at: e.at,
        }
    }
}

/// A page of a licence's ledger, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerPage {
    entries: Vec<LedgerEntryView>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    next_cursor: Option<String>,
}

/// Cursors are opaque to clients; today they name the last row returned.
fn encode_cursor(id: i64) -> String {
    format!("lg1.{id:x}")
}

fn decode_cursor(cursor: &str) -> Option<i64> {
    i64::from_str_radix(cursor.strip_prefix("lg1.")?, 16)
        .ok()
        .filter(|id| *id > 0)
}

/// The licence's append-only credit ledger, oldest first, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/credits/ledger",
    tag = "credits",
    security(("license_key" = [])),
    params(LedgerQuery),
    responses(
        (status = 200, description = "A page of the ledger", body = LedgerPage),
        (status = 400, description = "`invalid_query`, `invalid_cursor`, `invalid_limit`",
            body = ErrorBody),
        LicenseRefused,
        (status = 500, description = "`internal`", body = ErrorBody),
    )
)]
async fn ledger(
    State(state): State<AppState>,
    who: Licensee,
    query: Result<Query<LedgerQuery>, QueryRejection>,
) -> Result<Json<LedgerPage>, ApiError> {
    let id = who.license_id;
    let (after, limit) = page_of(query)?;
    let entries = read(&state, id, move |store| {
        store.credit_ledger(&id, after, limit + 1)
    })
    .await?;
    Ok(Json(LedgerPage::new(entries, limit)))
}

/// The row after which a ledger page starts, and its size, from the request's query.
pub fn page_of(
    query: Result<Query<LedgerQuery>, QueryRejection>,
) -> Result<(Option<i64>, u32), ApiError> {
    let Query(query) =
        query.map_err(|err| ApiError::bad_request("invalid_query", err.body_text()))?;
    let after = match query.cursor.as_deref() {
        None | Some("") => None,
        Some(cursor) => Some(decode_cursor(cursor).ok_or_else(|| {
            ApiError::bad_request("invalid_cursor", "`cursor` is not one this server gave out")
        })?),
    };
    Ok((after, page_limit(query.limit.as_deref())?))
}

/// `limit` of a listing: 1 to 1000, default 100.
pub fn page_limit(limit: Option<&str>) -> Result<u32, ApiError> {
    match limit {
        None | Some("") => Ok(DEFAULT_PAGE),
        Some(limit) => limit
            .parse::<u32>()
            .ok()
            .filter(|limit| (1..=MAX_PAGE).contains(limit))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_limit",
                    format!("`limit` must be a whole number from 1 to {MAX_PAGE}"),
                )
            }),
    }
}

impl LedgerPage {
    /// A page of `limit` rows from `entries`, read with one row more to know whether more follow.
    pub fn new(mut entries: Vec<LedgerEntry>, limit: u32) -> LedgerPage {
        let next_cursor = if entries.len() > limit as usize {
            entries.truncate(limit as usize);
            entries.last().map(|e| encode_cursor(e.id))
        } else {
            None
        };
        LedgerPage {
            entries: entries.into_iter().map(LedgerEntryView::from).collect(),
            next_cursor,
        }
    }
}
