//! The fields of Stripe's objects that the issuer acts on, read with serde after the signature check.
//!
//! Only what is needed is modelled, and every field that Stripe may leave out or expand is optional
//! or accepts both forms, so that API-version drift elsewhere in an object is harmless.

use std::collections::HashMap;

use serde::Deserialize;

/// An event envelope.
#[derive(Debug, Deserialize)]
pub struct EventEnvelope {
    /// `evt_…`.
    pub id: String,
    /// e.g. `checkout.session.completed`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// When Stripe created the event (unix seconds); orders facts from different events.
    #[serde(default)]
    pub created: i64,
    /// Whether it comes from Stripe's live mode (real payments); missing reads as test mode.
    #[serde(default)]
    pub livemode: bool,
    /// The object the event is about.
    pub data: EventData,
}

/// `event.data`.
#[derive(Debug, Deserialize)]
pub struct EventData {
    /// The object, read later according to the event type.
    pub object: serde_json::Value,
}

/// A reference to another object: its id, or the whole object when expanded.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum Expandable {
    /// Not expanded.
    Id(String),
    /// Expanded.
    Object {
        /// The object's id.
        id: String,
    },
}

impl Expandable {
    /// The referenced object's id.
    pub fn id(&self) -> &str {
        match self {
            Expandable::Id(id) | Expandable::Object { id } => id,
        }
    }
}

fn id_of(reference: &Option<Expandable>) -> Option<String> {
    reference.as_ref().map(|r| r.id().to_owned())
}

/// A Checkout Session.
#[derive(Debug, Deserialize)]
pub struct CheckoutSession {
    /// `cs_…`.
    pub id: String,
    /// `payment`, `subscription` or `setup`.
    pub mode: String,
    /// `paid`, `unpaid` or `no_payment_required`.
    pub payment_status: String,
    #[serde(default)]
    customer: Option<Expandable>,
    #[serde(default)]
    customer_email: Option<String>,
    #[serde(default)]
    customer_details: Option<CustomerDetails>,
    /// Free-form metadata; `tessera_price` names the catalogue price.
    #[serde(default)]
    pub metadata: Option<HashMap<String, String>>,
    #[serde(default)]
    payment_intent: Option<Expandable>,
    #[serde(default)]
    subscription: Option<Expandable>,
}

#[derive(Debug, Deserialize)]
struct CustomerDetails {
    #[serde(default)]
    email: Option<String>,
}

impl CheckoutSession {
    /// `cus_…`, if the session made or used a customer.
    pub fn customer(&self) -> Option<String> {
        id_of(&self.customer)
    }

    /// The buyer's e-mail address as entered at checkout.
    pub fn email(&self) -> Option<String> {
        self.customer_details
            .as_ref()
            .and_then(|details| details.email.clone())
            .or_else(|| self.customer_email.clone())
    }

    /// `pi_…` of a `payment`-mode session.
    pub fn payment_intent(&self) -> Option<String> {
        id_of(&self.payment_intent)
    }

    /// `sub_…` of a `subscription`-mode session.
    pub fn subscription(&self) -> Option<String> {
        id_of(&self.subscription)
    }

    /// The licence a top-up credits, named in the session's metadata (`tessera_license`, hex id).
    pub fn metadata_license(&self) -> Option<String> {
        self.metadata
            .as_ref()?
            .get("tessera_license")
            .map(|id| id.trim().to_owned())
            .filter(|id| !id.is_empty())
    }

    /// The catalogue price named in the session's metadata.
    pub fn metadata_price(&self) -> Option<String> {
        self.metadata
            .as_ref()?
            .get("tessera_price")
            .map(|price| price.trim().to_owned())
            .filter(|price| !price.is_empty())
    }
}

/// An invoice.
#[derive(Debug, Deserialize)]
pub struct Invoice {
    /// `in_…`.
    pub id: String,
    /// `subscription_create`, `subscription_cycle`, `subscription_update`, `manual`, …
    #[serde(default)]
    pub billing_reason: Option<String>,
    #[serde(default)]
    customer: Option<Expandable>,
    #[serde(default)]
    customer_email: Option<String>,
    /// Before API version 2025-03-31 the subscription was a top-level field.
    #[serde(default)]
    subscription: Option<Expandable>,
    #[serde(default)]
    parent: Option<InvoiceParent>,
    #[serde(default)]
    lines: Option<List<InvoiceLine>>,
    /// The payments that paid it; Stripe includes it only when asked (`expand[]=payments`).
    #[serde(default)]
    payments: Option<List<InvoicePayment>>,
}

/// One payment of an invoice (Stripe's `invoice_payment`).
#[derive(Debug, Deserialize)]
pub struct InvoicePayment {
    #[serde(default)]
    payment: Option<InvoicePaymentDetails>,
}

#[derive(Debug, Deserialize)]
struct InvoicePaymentDetails {
    #[serde(default)]
    payment_intent: Option<Expandable>,
}

#[derive(Debug, Deserialize)]
struct InvoiceParent {
    #[serde(default)]
    subscription_details: Option<SubscriptionDetails>,
}

#[derive(Debug, Deserialize)]
struct SubscriptionDetails {
    #[serde(default)]
    subscription: Option<Expandable>,
}

/// A Stripe list (`{"object": "list", "data": [...]}`).
#[derive(Debug, Deserialize)]
pub struct List<T> {
    /// The items.
    #[serde(default = "Vec::new")]
    pub data: Vec<T>,
}

/// One line of an invoice.
#[derive(Debug, Deserialize)]
pub struct InvoiceLine {
    #[serde(default)]
    period: Option<Period>,
    #[serde(default)]
    pricing: Option<Pricing>,
    /// Before API version 2025-03-31 the price was a top-level field.
    #[serde(default)]
    price: Option<Expandable>,
    #[serde(default)]
    proration: Option<bool>,
    #[serde(default)]
    parent: Option<LineParent>,
}

#[derive(Debug, Deserialize)]
struct Period {
    #[serde(default)]
    start: Option<i64>,
    #[serde(default)]
    end: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct Pricing {
    #[serde(default)]
    price_details: Option<PriceDetails>,
}

#[derive(Debug, Deserialize)]
struct PriceDetails {
    #[serde(default)]
    price: Option<Expandable>,
}

#[derive(Debug, Deserialize)]
struct LineParent {
    #[serde(default)]
    subscription_item_details: Option<ItemDetails>,
    #[serde(default)]
    invoice_item_details: Option<ItemDetails>,
}

#[derive(Debug, Deserialize)]
struct ItemDetails {
    #[serde(default)]
    proration: Option<bool>,
}

impl InvoiceLine {
    /// The price this line bills.
    pub fn price(&self) -> Option<String> {
        self.pricing
            .as_ref()
            .and_then(|p| p.price_details.as_ref())
            .and_then(|d| id_of(&d.price))
            .or_else(|| id_of(&self.price))
    }

    /// The start of the period this line pays for.
    pub fn period_start(&self) -> Option<i64> {
        self.period.as_ref().and_then(|p| p.start)
    }

    /// The end of the period this line pays for.
    pub fn period_end(&self) -> Option<i64> {
        self.period.as_ref().and_then(|p| p.end)
    }

    /// Whether the line is a proration (a credit or charge for part of a period after a plan change).
    pub fn is_proration(&self) -> bool {
        let from_parent = self.parent.as_ref().is_some_and(|parent| {
            [
                &parent.subscription_item_details,
                &parent.invoice_item_details,
            ]
            .into_iter()
            .flatten()
            .any(|details| details.proration == Some(true))
        });
        from_parent || self.proration == Some(true)
    }
}

impl Invoice {
    /// `cus_…`.
    pub fn customer(&self) -> Option<String> {
        id_of(&self.customer)
    }

    /// The customer's e-mail address.
    pub fn email(&self) -> Option<String> {
        self.customer_email.clone()
    }

    /// The subscription the invoice bills, if any.
    pub fn subscription(&self) -> Option<String> {
        self.parent
            .as_ref()
            .and_then(|p| p.subscription_details.as_ref())
            .and_then(|d| id_of(&d.subscription))
            .or_else(|| id_of(&self.subscription))
    }

    /// The payment intents of the payments listed with the invoice (none unless expanded).
    pub fn payment_intents(&self) -> Vec<String> {
        self.payments
            .iter()
            .flat_map(|list| list.data.iter())
            .filter_map(|payment| id_of(&payment.payment.as_ref()?.payment_intent))
            .collect()
    }

    /// The lines that bill a whole period (not prorations).
    pub fn period_lines(&self) -> impl Iterator<Item = &InvoiceLine> {
        self.lines
            .iter()
            .flat_map(|list| list.data.iter())
            .filter(|line| !line.is_proration())
    }
}

/// A subscription.
#[derive(Debug, Deserialize)]
pub struct Subscription {
    /// `sub_…`.
    pub id: String,
    #[serde(default)]
    customer: Option<Expandable>,
    /// `active`, `trialing`, `past_due`, `canceled`, …
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    items: Option<List<SubscriptionItem>>,
}

#[derive(Debug, Deserialize)]
struct SubscriptionItem {
    #[serde(default)]
    price: Option<Expandable>,
}

impl Subscription {
    /// `cus_…`.
    pub fn customer(&self) -> Option<String> {
        id_of(&self.customer)
    }

    /// The prices of its items, in order.
    pub fn prices(&self) -> Vec<String> {
        self.items
            .iter()
            .flat_map(|list| list.data.iter())
            .filter_map(|item| id_of(&item.price))
            .collect()
    }
}

/// A charge (`charge.refunded`).
#[derive(Debug, Deserialize)]
pub struct Charge {
    /// `ch_…`.
    pub id: String,
    /// Amount charged, in the smallest currency unit.
    pub amount: i64,
    /// Amount refunded so far.
    #[serde(default)]
    pub amount_refunded: i64,
    #[serde(default)]
    payment_intent: Option<Expandable>,
    /// The invoice it paid; API versions before 2025-03-31 only.
    #[serde(default)]
    invoice: Option<Expandable>,
}

impl Charge {
    /// `pi_…`.
    pub fn payment_intent(&self) -> Option<String> {
        id_of(&self.payment_intent)
    }

    /// `in_…`, when the charge names the invoice it paid (older API versions).
    pub fn invoice(&self) -> Option<String> {
        id_of(&self.invoice)
    }

    /// Whether all of it was refunded.
    pub fn fully_refunded(&self) -> bool {
        self.amount > 0 && self.amount_refunded >= self.amount
    }
}

/// A dispute (`charge.dispute.created`).
#[derive(Debug, Deserialize)]
pub struct Dispute {
    /// `dp_…`.
    pub id: String,
    #[serde(default)]
    payment_intent: Option<Expandable>,
}

impl Dispute {
    /// `pi_…`.
    pub fn payment_intent(&self) -> Option<String> {
        id_of(&self.payment_intent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_current_and_legacy_invoice_shapes() {
        let current: Invoice = serde_json::from_value(serde_json::json!({
            "id": "in_1",
            "billing_reason": "subscription_cycle",
            "parent": {"type": "subscription_details",
                       "subscription_details": {"subscription": "sub_1", "metadata": null}},
            "lines": {"object": "list", "data": [
                {"period": {"start": 1, "end": 100},
                 "pricing": {"type": "price_details", "price_details": {"price": "price_a", "product": "prod_1"}},
                 "parent": {"type": "subscription_item_details",
                            "subscription_item_details": {"proration": true}}},
                {"period": {"start": 1, "end": 200},
                 "pricing": {"type": "price_details", "price_details": {"price": "price_b", "product": "prod_1"}},
                 "parent": {"type": "subscription_item_details",
                            "subscription_item_details": {"proration": false}}}
            ]}
        }))
        .unwrap();
        assert_eq!(current.subscription().as_deref(), Some("sub_1"));
        let lines: Vec<_> = current.period_lines().collect();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].price().as_deref(), Some("price_b"));
        assert_eq!(lines[0].period_end(), Some(200));

        let legacy: Invoice = serde_json::from_value(serde_json::json!({
            "id": "in_2", "subscription": {"id": "sub_2", "object": "subscription"},
            "lines": {"data": [{"period": {"end": 5}, "price": {"id": "price_c"}, "proration": false}]}
        }))
        .unwrap();
        assert_eq!(legacy.subscription().as_deref(), Some("sub_2"));
        assert_eq!(
            legacy.period_lines().next().unwrap().price().as_deref(),
            Some("price_c")
        );
    }

    #[test]
    fn an_invoice_lists_the_payment_intents_of_its_expanded_payments() {
        let invoice: Invoice = serde_json::from_value(serde_json::json!({
            "id": "in_1",
            "payments": {"object": "list", "data": [
                {"object": "invoice_payment", "invoice": "in_1",
                 "payment": {"type": "payment_intent", "payment_intent": "pi_1"}},
                {"object": "invoice_payment", "invoice": "in_1",
                 "payment": {"type": "payment_intent", "payment_intent": {"id": "pi_2"}}},
                {"object": "invoice_payment", "invoice": "in_1",
                 "payment": {"type": "charge", "charge": "ch_1"}}
            ]}
        }))
        .unwrap();
        assert_eq!(invoice.payment_intents(), ["pi_1", "pi_2"]);
        let unexpanded: Invoice =
            serde_json::from_value(serde_json::json!({"id": "in_2"})).unwrap();
        assert!(unexpanded.payment_intents().is_empty());
    }

    #[test]
    fn a_charge_is_fully_refunded_only_when_all_of_it_is() {
        let charge = |refunded| Charge {
            id: "ch_1".into(),
            amount: 1000,
            amount_refunded: refunded,
            payment_intent: None,
            invoice: None,
        };
        assert!(!charge(0).fully_refunded());
        assert!(!charge(999).fully_refunded());
        assert!(charge(1000).fully_refunded());
    }
}
