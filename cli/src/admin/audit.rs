//! `tessera admin audit list`: who changed what, when and why.

use super::args::AuditListArgs;
use super::model::{Audit, AuditEntry};
use super::print_answer;
use super::table::{or_dash, section, time, Table};
use crate::client::Client;
use crate::exit::Result;

/// Lists audit entries, newest first.
pub(super) fn list(client: &Client, args: &AuditListArgs, json: bool) -> Result {
    let query = [
        ("license", args.license.map(|id| id.to_string())),
        ("limit", args.limit.map(|limit| limit.to_string())),
    ];
    let answer = client.get("/v1/admin/audit", &query)?;
    print_answer(answer, json, |audit: &Audit| {
        entries_section("audit trail (newest first)", &audit.entries)
    })
}

/// Audit entries as a table under `title`.
pub(super) fn entries_section(title: &str, entries: &[AuditEntry]) -> String {
    let mut table = Table::new(&[
        "ID", "AT", "ACTOR", "ACTION", "LICENCE", "REASON", "DETAILS",
    ]);
    for entry in entries {
        let details = match &entry.details {
            serde_json::Value::Null => String::new(),
            serde_json::Value::Object(fields) if fields.is_empty() => String::new(),
            details => details.to_string(),
        };
        table.row(vec![
            entry.id.to_string(),
            time(entry.at),
            entry.actor.clone(),
            entry.action.clone(),
            or_dash(entry.license_id.as_deref()),
            or_dash(entry.reason.as_deref()),
            details,
        ]);
    }
    section(title, &table)
}
