//! `tessera admin licenses`: find, show, issue and change licences.

use serde_json::{json, Value};
use tessera_keys::LicenseId;

use super::args::{FindArgs, IssueArgs, LicensesCommand, ReasonArgs};
use super::model::{Changed, Found, License, Shown, Subscription};
use super::table::{named, or_dash, section, time, time_or, Table};
use super::{audit, credits, license_path, machines, print_answer, webhooks};
use crate::client::Client;
use crate::exit::Result;
use crate::input::key_text;
use crate::output::Report;

/// Runs a `licenses` command.
pub(super) fn run(client: &Client, command: &LicensesCommand, json: bool) -> Result {
    match command {
        LicensesCommand::Find(args) => find(client, args, json),
        LicensesCommand::Show(args) => {
            print_answer(client.get(&license_path(&args.id), &[])?, json, show_text)
        }
        LicensesCommand::Issue(args) => issue(client, args, json),
        LicensesCommand::Reissue(args) => {
            let body = json!({"email": args.email, "reason": args.reason});
            change(
                client,
                &args.id,
                "reissue",
                &body,
                json,
                "new key for licence",
            )
        }
        LicensesCommand::Extend(args) => {
            let until = args.until.map(|time| time.0);
            let body = json!({"days": args.days, "until": until, "reason": args.reason});
            change(client, &args.id, "extend", &body, json, "extended licence")
        }
        LicensesCommand::Revoke(args) => with_reason(client, args, ("revoke", "revoked"), json),
        LicensesCommand::Suspend(args) => with_reason(client, args, ("suspend", "suspended"), json),
        LicensesCommand::Reinstate(args) => {
            with_reason(client, args, ("reinstate", "reinstated"), json)
        }
        LicensesCommand::Seats(args) => machines::seats(client, args, json),
    }
}

/// A change whose body is only its reason (revoke, suspend, reinstate): the action and its past.
fn with_reason(client: &Client, args: &ReasonArgs, action: (&str, &str), json: bool) -> Result {
    let body = json!({"reason": args.reason});
    let head = format!("{} licence", action.1);
    change(client, &args.id, action.0, &body, json, &head)
}

fn find(client: &Client, args: &FindArgs, json: bool) -> Result {
    let key = args.key.as_deref().map(key_text).transpose()?;
    let query = [
        ("email", args.email.clone()),
        ("customer", args.customer.clone()),
        ("subscription", args.subscription.clone()),
        ("checkout_session", args.checkout_session.clone()),
        ("key", key.map(|key| key.trim().to_owned())),
    ];
    let answer = client.get("/v1/admin/licenses", &query)?;
    print_answer(answer, json, |found: &Found| {
        let mut table = Table::new(&[
            "ID", "PRODUCT", "TIER", "STATUS", "EXPIRES", "EMAIL", "CREATED",
        ]);
        for license in &found.licenses {
            table.row(vec![
                license.id.clone(),
                named(license.product, license.product_name.as_deref()),
                named(license.tier, license.tier_name.as_deref()),
                license.status.clone(),
                time_or(license.expires_at, "never"),
                or_dash(license.email.as_deref()),
                time(license.created_at),
            ]);
        }
        section("licences (newest first)", &table)
    })
}

fn issue(client: &Client, args: &IssueArgs, json: bool) -> Result {
    let body = json!({
        "product": args.product,
        "tier": args.tier,
        "features": args.features,
        "days": args.days,
        "expires_at": args.expires.map(|time| time.0),
        "email": args.email,
        "reason": args.reason,
    });
    let answer = client.post("/v1/admin/licenses", &body)?;
    print_answer(answer, json, |changed| {
        changed_text("issued licence", changed)
    })
}

/// `POST /v1/admin/licenses/{id}/{action}` with `body`; the human output starts with `head`.
fn change(
    client: &Client,
    id: &LicenseId,
    action: &str,
    body: &Value,
    json: bool,
    head: &str,
) -> Result {
    let answer = client.post(&format!("{}/{action}", license_path(id)), body)?;
    print_answer(answer, json, |changed| changed_text(head, changed))
}

fn changed_text(head: &str, changed: &Changed) -> String {
    let license = &changed.license;
    let mut report = license_report(format!("{head} {}", license.id), license);
    if let Some(sequence) = changed.revocation_sequence {
        report.row(
            "revocation list",
            format!("sequence {sequence}: apps refuse the licence once they fetch it"),
        );
    }
    if let Some(emailed) = changed.emailed {
        report.row("e-mailed", if emailed { "yes (queued)" } else { "no" });
    }
    if let Some(key) = &changed.key {
        report.row("key", key.as_str());
    }
    report.render()
}

/// The licence as `label: value` lines under `head`.
pub(super) fn license_report(head: String, license: &License) -> Report {
    let features = if license.features.is_empty() {
        "none".to_owned()
    } else {
        license.features.join(", ")
    };
    let mut report = Report::new(head);
    report
        .row(
            "product",
            named(license.product, license.product_name.as_deref()),
        )
        .row("tier", named(license.tier, license.tier_name.as_deref()))
        .row("features", features)
        .row("status", license.status.as_str())
        .row("expires", time_or(license.expires_at, "never"));
    let stripe = [
        ("e-mail", &license.email),
        ("customer", &license.customer_id),
        ("checkout session", &license.checkout_session_id),
        ("subscription", &license.subscription_id),
        ("payment intent", &license.payment_intent_id),
        ("price", &license.price_id),
    ];
    for (label, value) in stripe {
        if let Some(value) = value {
            report.row(label, value.as_str());
        }
    }
    report
        .row("created", time(license.created_at))
        .row("updated", time(license.updated_at));
    report
}

fn show_text(shown: &Shown) -> String {
    let license = &shown.license;
    let mut keys = Table::new(&["ISSUED", "SIGNING KEY", "EXPIRES", "REASON", "KEY"]);
    for key in &shown.keys {
        keys.row(vec![
            time(key.issued_at),
            key.signing_key_id.to_string(),
            time_or(key.expires_at, "never"),
            key.reason.clone(),
            key.key.clone(),
        ]);
    }
    let mut parts = vec![
        license_report(format!("licence {}", license.id), license).render(),
        section("keys (oldest first)", &keys),
    ];
    if let Some(subscription) = &shown.subscription {
        parts.push(subscription_text(subscription));
    }
    parts.push(credits::credits_text(&shown.credits));
    if let Some(machines) = &shown.machines {
        parts.push(machines::license_machines_text(machines));
    }
    parts.push(webhooks::events_section(
        "webhook events (newest first)",
        &shown.webhook_events,
    ));
    parts.push(audit::entries_section(
        "audit trail (newest first)",
        &shown.audit,
    ));
    parts.join("\n")
}

fn subscription_text(subscription: &Subscription) -> String {
    let mut report = Report::new(format!("subscription {}", subscription.id));
    report
        .row("customer", or_dash(subscription.customer_id.as_deref()))
        .row("price", or_dash(subscription.price_id.as_deref()))
        .row("paid through", time_or(subscription.paid_through, "-"))
        .row("canceled", time_or(subscription.canceled_at, "no"));
    report.render()
}
