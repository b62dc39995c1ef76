//! `tessera admin webhooks`: Stripe deliveries as the issuer recorded them, and retries.

use serde_json::json;

use super::args::{WebhooksCommand, WebhooksListArgs};
use super::model::{Event, EventShown, Events, Retried};
use super::print_answer;
use super::table::{or_dash, section, time, time_or, Table};
use crate::client::Client;
use crate::escape::Escaped;
use crate::exit::Result;
use crate::output::Report;

/// Runs a `webhooks` command.
pub(super) fn run(client: &Client, command: &WebhooksCommand, json: bool) -> Result {
    match command {
        WebhooksCommand::List(args) => list(client, args, json),
        WebhooksCommand::Show(args) => {
            let answer = client.get(&event_path(&args.event_id), &[])?;
            print_answer(answer, json, show_text)
        }
        WebhooksCommand::Retry(args) => {
            let path = format!("{}/retry", event_path(&args.event_id));
            print_answer(client.post(&path, &json!({}))?, json, retry_text)
        }
    }
}

/// `/v1/admin/webhooks/{event_id}`; the id was checked to need no escaping.
fn event_path(event_id: &str) -> String {
    format!("/v1/admin/webhooks/{event_id}")
}

fn list(client: &Client, args: &WebhooksListArgs, json: bool) -> Result {
    let query = [
        ("failed", args.failed.then(|| "true".to_owned())),
        ("type", args.event_type.clone()),
        ("limit", args.limit.map(|limit| limit.to_string())),
    ];
    let answer = client.get("/v1/admin/webhooks", &query)?;
    print_answer(answer, json, |events: &Events| {
        events_section("webhook events (newest first)", &events.events)
    })
}

/// Deliveries as a table under `title`.
pub(super) fn events_section(title: &str, events: &[Event]) -> String {
    let mut table = Table::new(&[
        "ID",
        "TYPE",
        "STATUS",
        "ATTEMPTS",
        "RECEIVED",
        "PROCESSED",
        "ERROR",
    ]);
    for event in events {
        table.row(vec![
            event.id.clone(),
            event.event_type.clone(),
            event.status.clone(),
            event.attempts.to_string(),
            time(event.received_at),
            time_or(event.processed_at, "-"),
            or_dash(event.error.as_deref()),
        ]);
    }
    section(title, &table)
}

fn show_text(shown: &EventShown) -> String {
    let event = &shown.event;
    let licences = if shown.licenses.is_empty() {
        "none".to_owned()
    } else {
        shown.licenses.join(", ")
    };
    let mut report = Report::new(format!("event {}", event.id));
    report
        .row("type", event.event_type.as_str())
        .row("status", event.status.as_str())
        .row("attempts", event.attempts.to_string())
        .row("received", time(event.received_at))
        .row("processed", time_or(event.processed_at, "-"))
        .row("error", or_dash(event.error.as_deref()))
        .row("licences", licences);
    // JSON escapes C0 controls in strings, but not DEL, C1 controls or bidi overrides.
    let payload = serde_json::to_string_pretty(&shown.payload).unwrap_or_default();
    let payload: Vec<String> = payload
        .lines()
        .map(|line| format!("  {}", Escaped(line)))
        .collect();
    format!(
        "{}\npayload (as Stripe sent it):\n{}\n",
        report.render(),
        payload.join("\n")
    )
}

fn retry_text(retried: &Retried) -> String {
    let outcome = match retried.status.as_str() {
        "processed" => "processed: it has taken effect now",
        "duplicate" => "duplicate: it had already taken effect; nothing changed",
        "ignored" => "ignored: not an event the issuer acts on",
        other => other,
    };
    format!(
        "event {}: {}\n",
        Escaped(&retried.event_id),
        Escaped(outcome)
    )
}
