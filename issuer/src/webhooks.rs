//! `POST /v1/webhooks/stripe`: Stripe tells the issuer that someone paid, renewed, changed plan,
//! cancelled, got a refund or disputed a payment.
//!
//! The raw body's signature is checked before anything is parsed. The delivery is recorded and its
//! effects ([`crate::fulfil`]) applied in one transaction, so an event has its effect once however
//! often (and however concurrently) Stripe delivers it. Anything Stripe should retry gets a 5xx.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use crate::config::StripeMode;
use crate::error::{ApiError, ErrorBody};
use crate::fulfil::{self, Action, Context, Fetched};
use crate::state::AppState;
use crate::store::{ApplyError, DeliveryStatus, IncomingDelivery, ProcessOutcome, Timestamp};
use crate::stripe::api::{PaymentOwner, StripeApi};
use crate::stripe::objects::EventEnvelope;
use crate::stripe::signature;

/// The route, with a Stripe API client made from `state`'s configuration.
pub fn router(state: &AppState) -> Router<AppState> {
    let api = Arc::new(StripeApi::new(&state.config.stripe));
    Router::new()
        .route("/v1/webhooks/stripe", post(receive))
        .layer(Extension(api))
}

/// The answer to a delivery Stripe need not retry.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookResponse {
    /// Always `true`.
    pub received: bool,
    /// The event id.
    pub event_id: String,
    /// `processed`, `ignored` (a type or state the issuer does not act on), or `duplicate` (an
    /// earlier delivery of the event already took effect).
    pub status: &'static str,
}

/// The raw body of a request whose `Stripe-Signature` matches a configured webhook secret.
///
/// Extracting it verifies the signature on the exact bytes received, before anything is parsed;
/// a refusal is logged and answered 400 (`missing_signature`, `invalid_signature`,
/// `stale_timestamp`), 413 for a body over the limit, or 503 when no secret is configured.
#[derive(Debug)]
pub struct SignedPayload(pub String);

impl FromRequest<AppState> for SignedPayload {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let secrets = &state.config.stripe.webhook_secrets;
        if secrets.is_empty() {
            tracing::error!("Stripe webhook refused: no webhook secret is configured");
            return Err(ApiError::NotConfigured {
                code: "webhooks_not_configured",
                message: "no Stripe webhook secret is configured: set stripe.webhook_secrets or \
                          STRIPE_WEBHOOK_SECRET"
                    .to_owned(),
            }
            .into_response());
        }
        // A header that is not text cannot match; the empty string fails verification as invalid.
        let header = request
            .headers()
            .get("stripe-signature")
            .map(|value| value.to_str().unwrap_or("").to_owned());
        let body =
            Bytes::from_request(request, state)
                .await
                .map_err(|rejection| match rejection.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => crate::server::payload_too_large(),
                    _ => ApiError::bad_request("malformed_event", rejection.body_text())
                        .into_response(),
                })?;
        let Ok(payload) = String::from_utf8(body.into()) else {
            tracing::warn!("Stripe webhook refused: the body is not UTF-8");
            return Err(
                ApiError::bad_request("malformed_event", "the body is not UTF-8 JSON")
                    .into_response(),
            );
        };
        if let Err(err) = signature::verify(&payload, header.as_deref(), secrets) {
            tracing::warn!(
                code = err.code(),
                "Stripe webhook refused: {}",
                err.message()
            );
            return Err(ApiError::bad_request(err.code(), err.message()).into_response());
        }
        Ok(SignedPayload(payload))
    }
}

/// Stripe's webhooks: the raw body's signature is checked before anything is parsed; each event
/// takes effect once, however often it is delivered. Anything Stripe should retry gets a 5xx.
#[utoipa::path(
    post,
    path = "/v1/webhooks/stripe",
    tag = "checkout",
    params((
        "Stripe-Signature" = String,
        Header,
        description = "Stripe's signature of the raw body: `t=<unix time>,v1=<hex HMAC-SHA256 of \
            \"<t>.<body>\" with a webhook secret>`",
    )),
    request_body(
        content = Object,
        content_type = "application/json",
        description = "A Stripe event, exactly as Stripe sent it",
    ),
    responses(
        (status = 200, description = "Received: `processed`, `ignored` or `duplicate`",
            body = WebhookResponse),
        (status = 400, description = "`missing_signature`, `invalid_signature`, \
            `stale_timestamp`, `malformed_event`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: larger than `[limits] body_bytes`",
            body = ErrorBody),
        (status = 500, description = "`processing_failed`: recorded as failed (an unknown price, \
            say), for Stripe to retry; `internal`", body = ErrorBody),
        (status = 503, description = "`webhooks_not_configured`: no webhook secret",
            body = ErrorBody),
    )
)]
async fn receive(
    State(state): State<AppState>,
    Extension(api): Extension<Arc<StripeApi>>,
    SignedPayload(payload): SignedPayload,
) -> Result<Json<WebhookResponse>, ApiError> {
    handle(&state, &api, payload).await.map(Json)
}

/// Records an event whose signature has been checked (or that was recorded before, for a retry by
/// support) and applies its effects once.
pub async fn handle(
    state: &AppState,
    api: &StripeApi,
    payload: String,
) -> Result<WebhookResponse, ApiError> {
    let event: EventEnvelope = serde_json::from_str(&payload).map_err(|err| {
        tracing::warn!(%err, "Stripe webhook refused: the signed body is not an event");
        ApiError::bad_request(
            "malformed_event",
            format!("the body is not a Stripe event: {err}"),
        )
    })?;
    if event.id.is_empty() || event.id.len() > 255 {
        return Err(ApiError::bad_request(
            "malformed_event",
            "the event id is empty or too long",
        ));
    }
    let received_at = crate::clock::now().0 as Timestamp;
    let span = tracing::info_span!("stripe_event", id = %event.id, r#type = %event.event_type);
    tracing::info!(parent: &span, "Stripe event received");

    let event_id = event.id.clone();
    let prior = {
        let event_id = event_id.clone();
        state.db(move |store| store.delivery(&event_id)).await?
    };
    let served = state.config.stripe.mode;
    let event_mode = StripeMode::of_livemode(event.livemode);
    let (action, note) = if event_mode == served {
        (Action::read(&event.event_type, event.data.object), None)
    } else {
        let note = format!(
            "a {}-mode event; this issuer serves {} mode ([stripe] mode): recorded, not acted on",
            event_mode.as_str(),
            served.as_str()
        );
        tracing::warn!(parent: &span, "{note}");
        (Action::Ignore, Some(note))
    };
    // A redelivery of an event that already took effect asks Stripe nothing; the transaction below
    // only counts the attempt (and re-checks, for deliveries racing this one).
    let fetched = match &prior {
        Some(prior) if prior.status != DeliveryStatus::Failed => Fetched::default(),
        _ => prefetch(state, api, &action).await?,
    };

    let config = Arc::clone(&state.config);
    let keyring = Arc::clone(&state.keyring);
    let event_type = event.event_type;
    let event_created = event.created;
    let id = event_id.clone();
    let effects_span = span.clone();
    let outcome = state
        .db(move |store| {
            let _in_span = effects_span.enter();
            let signer = keyring.active();
            let ctx = Context {
                config: &config,
                signer: &signer,
                event_id: &id,
                event_created,
                now: crate::clock::now().0 as Timestamp,
            };
            let incoming = IncomingDelivery {
                event_id: &id,
                event_type: &event_type,
                payload: &payload,
                received_at,
                note: note.as_deref(),
            };
            Ok::<_, ApiError>(store.process_delivery(incoming, &mut |tx| {
                fulfil::apply(&ctx, &action, &fetched, tx)
            }))
        })
        .await?;

    match outcome {
        Ok(ProcessOutcome::Applied(status)) => {
            // Committed: a licence e-mail it queued can go now.
            state.outbox.notify_one();
            tracing::info!(parent: &span, status = status.as_str(), "Stripe event handled");
            Ok(WebhookResponse {
                received: true,
                event_id,
                status: status.as_str(),
            })
        }
        Ok(ProcessOutcome::AlreadyDone(prior)) => {
            tracing::info!(parent: &span, status = prior.status.as_str(),
                "already handled; not applied again");
            Ok(duplicate(event_id))
        }
        Err(ApplyError::Unprocessable(why)) => {
            tracing::error!(parent: &span, error = %without_checkout_session_ids(&why),
                "Stripe event recorded as failed; Stripe will retry it");
            Err(ApiError::ProcessingFailed(why))
        }
        Err(ApplyError::Store(err)) => {
            tracing::error!(parent: &span, error = %err, "Stripe event not stored");
            Err(err.into())
        }
    }
}

/// `text` with every Checkout Session id (`cs_…`) shortened to `cs_…`: a session id fetches its
/// licence key for a while, so it stays out of logs. The delivery's recorded error keeps the whole
/// id for support, and the event id in the log's span finds it.
fn without_checkout_session_ids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("cs_") {
        let id_start = at + "cs_".len();
        let starts_word = !rest[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        let id_len = rest[id_start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len() - id_start);
        out.push_str(&rest[..id_start]);
        if starts_word && id_len > 0 {
            out.push('…');
        } else {
            out.push_str(&rest[id_start..id_start + id_len]);
        }
        rest = &rest[id_start + id_len..];
    }
    out.push_str(rest);
    out
}

fn duplicate(event_id: String) -> WebhookResponse {
    WebhookResponse {
        received: true,
        event_id,
        status: "duplicate",
    }
}

/// Asks Stripe what the event itself does not say, before the transaction (network I/O never
/// holds the database). A failed call is not an error here: it becomes the recorded failure if
/// the event cannot be applied without it.
async fn prefetch(state: &AppState, api: &StripeApi, action: &Action) -> Result<Fetched, ApiError> {
    let mut fetched = Fetched::default();
    let session = match action {
        Action::Checkout(session) => session,
        Action::Refunded(charge) if charge.fully_refunded() => {
            fetched.payment_owner =
                payment_owner(state, api, charge.payment_intent(), charge.invoice()).await?;
            return Ok(fetched);
        }
        Action::Disputed(dispute) => {
            fetched.payment_owner =
                payment_owner(state, api, dispute.payment_intent(), None).await?;
            return Ok(fetched);
        }
        _ => return Ok(fetched),
    };
    if !session.is_paid() {
        return Ok(fetched);
    }
    match session.mode.as_str() {
        "payment" if session.metadata_price().is_none() => {
            let items = api.checkout_prices(&session.id).await;
            if let Err(why) = &items {
                tracing::warn!(error = %why, "line items not fetched");
            }
            fetched.line_items = Some(items);
        }
        "subscription" => {
            if let Some(subscription_id) = session.subscription() {
                let known = {
                    let id = subscription_id.clone();
                    state.db(move |store| store.subscription(&id)).await?
                };
                let known_enough = known.is_some_and(|record| {
                    record.paid_through.is_some()
                        && (record.price_id.is_some() || session.metadata_price().is_some())
                });
                // Without a key the first `invoice.paid` issues the licence instead.
                if !known_enough && api.is_configured() {
                    fetched.subscription = Some(api.subscription(&subscription_id).await);
                }
            }
        }
        _ => {}
    }
    Ok(fetched)
}

/// What a refunded or disputed payment paid for, asked of Stripe only when no licence is known to
/// have been bought with it: a subscription payment is named by its payment intent alone.
async fn payment_owner(
    state: &AppState,
    api: &StripeApi,
    payment_intent: Option<String>,
    invoice: Option<String>,
) -> Result<Option<Result<PaymentOwner, String>>, ApiError> {
    let Some(payment_intent) = payment_intent else {
        return Ok(None);
    };
    let resolved = {
        let id = payment_intent.clone();
        state.db(move |store| store.payment_resolved(&id)).await?
    };
    if resolved {
        return Ok(None);
    }
    if !api.is_configured() {
        // Recorded as failed, for a retry once a key is configured: the payment may have paid a
        // subscription's invoice, and only Stripe's API can say.
        return Ok(Some(Err(format!(
            "no licence is known to have been bought with payment {payment_intent}, and without \
             stripe.secret_key (or STRIPE_SECRET_KEY) Stripe cannot be asked whether it paid a \
             subscription: configure a key and retry (`tessera admin webhooks retry`)"
        ))));
    }
    let owner = api.payment_owner(&payment_intent, invoice.as_deref()).await;
    if let Err(why) = &owner {
        tracing::warn!(payment = %payment_intent, error = %why, "payment not resolved");
    }
    Ok(Some(owner))
}

#[cfg(test)]
mod tests {
    #[test]
    fn checkout_session_ids_are_shortened_for_the_log() {
        assert_eq!(
            super::without_checkout_session_ids(
                "Checkout Session cs_test_a1B2 names licence x; (cs_live_9) docs_id cs_ end"
            ),
            "Checkout Session cs_… names licence x; (cs_…) docs_id cs_ end"
        );
        assert_eq!(
            super::without_checkout_session_ids("nothing here"),
            "nothing here"
        );
    }

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use crate::config::{Config, Environment};

    #[tokio::test]
    async fn a_body_over_the_limit_without_content_length_gets_the_json_413() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::from_toml_str(
            &format!(
                "data_dir = {:?}\n[stripe]\nwebhook_secrets = [\"whsec_x\"]\n[limits]\nbody_bytes = 1024\n",
                dir.path().join("data")
            ),
            &Environment::default(),
        )
        .unwrap();
        let app = crate::app(crate::startup::open(config).unwrap());
        // No Content-Length header: the limit applies while the body is read, in the extractor.
        let request = Request::post("/v1/webhooks/stripe")
            .header("stripe-signature", "t=1,v1=00")
            .body(Body::from(vec![b'x'; 4096]))
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"], "payload_too_large");
    }
}
