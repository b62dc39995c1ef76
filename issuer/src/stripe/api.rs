//! The few Stripe API calls the issuer makes, through async-stripe's client.
//!
//! Responses are read into small models of the fields the issuer needs (async-stripe's request
//! definitions, the issuer's output types), so a field Stripe adds or renames elsewhere cannot break
//! a purchase. Tests point `stripe.api_base` at a local server that answers with Stripe's fixtures.

use std::time::Duration;

use stripe::{Client, ClientBuilder, StripeRequest};
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, ListLineItemsCheckoutSession,
};
use stripe_checkout::CheckoutSessionMode;
use stripe_client_core::{RequestBuilder, StripeMethod};

use crate::config::StripeConfig;

/// How long one API call may take; the webhook's own request timeout is longer.
const CALL_TIMEOUT: Duration = Duration::from_secs(8);

/// The Stripe API client, if a secret key is configured.
#[derive(Clone, Debug)]
pub struct StripeApi {
    client: Result<Client, String>,
}

/// A price bought in a Checkout Session, and how many.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoughtPrice {
    /// `price_…`.
    pub price_id: String,
    /// Quantity (1 if Stripe does not say).
    pub quantity: u64,
}

/// What the issuer reads from a subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionSnapshot {
    /// `active`, `trialing`, `past_due`, …
    pub status: String,
    /// The prices of its items, in order.
    pub prices: Vec<String>,
    /// The end of the current billing period (the latest of its items').
    pub current_period_end: Option<i64>,
}

/// What a payment paid for, as Stripe's API tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaymentOwner {
    /// The payment belongs to no invoice (a one-time Checkout payment, say).
    NoInvoice,
    /// It paid invoice `invoice_id`, which bills `subscription_id` if it is a subscription's.
    Invoice {
        /// `in_…`.
        invoice_id: String,
        /// `sub_…`.
        subscription_id: Option<String>,
    },
}

/// `GET /v1/invoice_payments`'s filter: the payments made with one payment intent.
#[derive(serde::Serialize)]
struct InvoicePaymentsQuery<'a> {
    payment: PaymentFilter<'a>,
    limit: u8,
}

#[derive(serde::Serialize)]
struct PaymentFilter<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    payment_intent: &'a str,
}

#[derive(miniserde::Deserialize)]
struct InvoicePaymentList {
    data: Vec<InvoicePaymentWire>,
}

#[derive(miniserde::Deserialize)]
struct InvoicePaymentWire {
    /// Not expanded: the id.
    invoice: Option<String>,
}

#[derive(miniserde::Deserialize)]
struct InvoiceWire {
    parent: Option<InvoiceParentWire>,
    /// Before API version 2025-03-31 the subscription was a top-level field.
    subscription: Option<String>,
}

#[derive(miniserde::Deserialize)]
struct InvoiceParentWire {
    subscription_details: Option<SubscriptionDetailsWire>,
}

#[derive(miniserde::Deserialize)]
struct SubscriptionDetailsWire {
    subscription: Option<String>,
}

/// A Checkout Session just created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatedSession {
    /// `cs_…`.
    pub id: String,
    /// Where to send the buyer.
    pub url: Option<String>,
}

#[derive(miniserde::Deserialize)]
struct CreatedSessionWire {
    id: String,
    url: Option<String>,
}

#[derive(miniserde::Deserialize)]
struct LineItemList {
    data: Vec<LineItem>,
    has_more: Option<bool>,
}

#[derive(miniserde::Deserialize)]
struct LineItem {
    id: Option<String>,
    price: Option<PriceRef>,
    quantity: Option<u64>,
}

#[derive(miniserde::Deserialize)]
struct PriceRef {
    id: String,
}

#[derive(miniserde::Deserialize)]
struct SubscriptionWire {
    status: String,
    items: SubscriptionItems,
    /// Before API version 2025-03-31 the period was on the subscription.
    current_period_end: Option<i64>,
}

#[derive(miniserde::Deserialize)]
struct SubscriptionItems {
    data: Vec<SubscriptionItemWire>,
}

#[derive(miniserde::Deserialize)]
struct SubscriptionItemWire {
    price: Option<PriceRef>,
    current_period_end: Option<i64>,
}

impl StripeApi {
    /// A client for `config`; without a secret key every call fails with an error naming the
    /// setting.
    pub fn new(config: &StripeConfig) -> StripeApi {
        let client = match &config.secret_key {
            None => Err(
                "stripe.secret_key (or STRIPE_SECRET_KEY) is not configured; it is needed to ask \
                 Stripe what a Checkout Session bought and which subscription a payment paid for"
                    .to_owned(),
            ),
            Some(secret) => {
                // async-stripe appends `v1/…` to the base, so it must end with a slash.
                let mut base = config.api_base.clone();
                if !base.ends_with('/') {
                    base.push('/');
                }
                ClientBuilder::new(secret.expose())
                    .url(base)
                    .timeout(CALL_TIMEOUT)
                    .build()
                    .map_err(|err| format!("cannot make the Stripe API client: {err}"))
            }
        };
        StripeApi { client }
    }

    /// Whether a secret key is configured (without one every call fails).
    pub fn is_configured(&self) -> bool {
        self.client.is_ok()
    }

    fn client(&self) -> Result<&Client, String> {
        self.client.as_ref().map_err(Clone::clone)
    }

    /// The prices bought in Checkout Session `session_id` (`GET /v1/checkout/sessions/{id}/line_items`).
    pub async fn checkout_prices(&self, session_id: &str) -> Result<Vec<BoughtPrice>, String> {
        check_id(session_id)?;
        let client = self.client()?;
        let mut bought = Vec::new();
        let mut request = ListLineItemsCheckoutSession::new(session_id).limit(100);
        // A session has at most a few items; the page limit bounds a misbehaving server.
        for _ in 0..10 {
            let page: LineItemList =
                request
                    .build()
                    .customize()
                    .send(client)
                    .await
                    .map_err(|err| {
                        format!(
                            "cannot fetch the line items of Checkout Session {session_id}: {err}"
                        )
                    })?;
            let last_id = page.data.last().and_then(|item| item.id.clone());
            bought.extend(page.data.into_iter().filter_map(|item| {
                Some(BoughtPrice {
                    price_id: item.price?.id,
                    quantity: item.quantity.unwrap_or(1).max(1),
                })
            }));
            match (page.has_more, last_id) {
                (Some(true), Some(last)) => {
                    request = ListLineItemsCheckoutSession::new(session_id)
                        .limit(100)
                        .starting_after(last);
                }
                _ => return Ok(bought),
            }
        }
        Err(format!(
            "the line items of Checkout Session {session_id} run to more than 10 pages"
        ))
    }

    /// Creates a Checkout Session (mode `payment`) buying one `price_id` top-up for licence
    /// `license_hex` (`POST /v1/checkout/sessions`). The metadata names both, so that the webhook
    /// credits that licence without asking Stripe for the line items.
    pub async fn create_top_up_session(
        &self,
        price_id: &str,
        license_hex: &str,
        success_url: &str,
        cancel_url: Option<&str>,
    ) -> Result<CreatedSession, String> {
        check_id(price_id)?;
        let client = self.client()?;
        let mut line = CreateCheckoutSessionLineItems::new();
        line.price = Some(price_id.to_owned());
        line.quantity = Some(1);
        let metadata = std::collections::HashMap::from([
            ("tessera_license".to_owned(), license_hex.to_owned()),
            ("tessera_price".to_owned(), price_id.to_owned()),
        ]);
        let mut request = CreateCheckoutSession::new()
            .mode(CheckoutSessionMode::Payment)
            .line_items(vec![line])
            .metadata(metadata)
            .client_reference_id(license_hex)
            .success_url(success_url);
        if let Some(cancel_url) = cancel_url {
            request = request.cancel_url(cancel_url);
        }
        let session: CreatedSessionWire = request
            .build()
            .customize()
            .send(client)
            .await
            .map_err(|err| format!("cannot create a Checkout Session for {price_id}: {err}"))?;
        Ok(CreatedSession {
            id: session.id,
            url: session.url,
        })
    }

    /// Subscription `id` (`GET /v1/subscriptions/{id}`).
    pub async fn subscription(&self, id: &str) -> Result<SubscriptionSnapshot, String> {
        check_id(id)?;
        let client = self.client()?;
        let wire: SubscriptionWire =
            RequestBuilder::new(StripeMethod::Get, format!("/subscriptions/{id}"))
                .customize()
                .send(client)
                .await
                .map_err(|err| format!("cannot fetch subscription {id}: {err}"))?;
        let current_period_end = wire
            .items
            .data
            .iter()
            .filter_map(|item| item.current_period_end)
            .max()
            .or(wire.current_period_end);
        Ok(SubscriptionSnapshot {
            status: wire.status,
            prices: wire
                .items
                .data
                .into_iter()
                .filter_map(|item| Some(item.price?.id))
                .collect(),
            current_period_end,
        })
    }

    /// What payment `payment_intent` paid for: the invoice it paid (`invoice` if the caller knows
    /// it, else `GET /v1/invoice_payments?payment[type]=payment_intent&payment[payment_intent]=…`)
    /// and that invoice's subscription (`GET /v1/invoices/{id}`).
    pub async fn payment_owner(
        &self,
        payment_intent: &str,
        invoice: Option<&str>,
    ) -> Result<PaymentOwner, String> {
        check_id(payment_intent)?;
        let client = self.client()?;
        let invoice_id = match invoice {
            Some(invoice) => invoice.to_owned(),
            None => {
                let query = InvoicePaymentsQuery {
                    payment: PaymentFilter {
                        kind: "payment_intent",
                        payment_intent,
                    },
                    limit: 1,
                };
                let list: InvoicePaymentList =
                    RequestBuilder::new(StripeMethod::Get, "/invoice_payments")
                        .query(&query)
                        .customize()
                        .send(client)
                        .await
                        .map_err(|err| {
                            format!("cannot fetch the invoice payments of {payment_intent}: {err}")
                        })?;
                match list.data.into_iter().find_map(|payment| payment.invoice) {
                    Some(invoice) => invoice,
                    None => return Ok(PaymentOwner::NoInvoice),
                }
            }
        };
        check_id(&invoice_id)?;
        let wire: InvoiceWire =
            RequestBuilder::new(StripeMethod::Get, format!("/invoices/{invoice_id}"))
                .customize()
                .send(client)
                .await
                .map_err(|err| format!("cannot fetch invoice {invoice_id}: {err}"))?;
        let subscription_id = wire
            .parent
            .and_then(|parent| parent.subscription_details)
            .and_then(|details| details.subscription)
            .or(wire.subscription);
        Ok(PaymentOwner::Invoice {
            invoice_id,
            subscription_id,
        })
    }
}

/// Ids go into URL paths: only what Stripe ids are made of.
fn check_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 255
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!("`{id}` is not a Stripe id"))
    }
}
