//! `tessera admin credits`: a licence's credits and ledger, and the check of every account.

use serde_json::json;
use tessera_keys::LicenseId;

use super::args::{AdjustArgs, CreditsCommand, LedgerArgs};
use super::model::{Check, Credits, LedgerPage};
use super::table::{or_dash, section, signed, time, time_or, Table};
use super::{decode, license_path, print_answer};
use crate::client::Client;
use crate::escape::Escaped;
use crate::exit::{Exit, Failure, Result};
use crate::output::{print, print_json, Report};

/// Runs a `credits` command.
pub(super) fn run(client: &Client, command: &CreditsCommand, json: bool) -> Result {
    match command {
        CreditsCommand::Show(args) => print_answer(
            client.get(&credits_path(&args.id), &[])?,
            json,
            credits_text,
        ),
        CreditsCommand::Grant(args) => adjust(client, args, "grant", json),
        CreditsCommand::Deduct(args) => adjust(client, args, "deduct", json),
        CreditsCommand::Ledger(args) => ledger(client, args, json),
        CreditsCommand::Check => check(client, json),
    }
}

/// `/v1/admin/licenses/{id}/credits`.
fn credits_path(id: &LicenseId) -> String {
    format!("{}/credits", license_path(id))
}

fn adjust(client: &Client, args: &AdjustArgs, action: &str, json: bool) -> Result {
    let body = json!({"amount": args.amount, "reason": args.reason});
    let answer = client.post(&format!("{}/{action}", credits_path(&args.id)), &body)?;
    print_answer(answer, json, credits_text)
}

/// A licence's balances, paid period and open reservations.
pub(super) fn credits_text(credits: &Credits) -> String {
    let balances = &credits.balances;
    let mut report = Report::new(format!("credits of licence {}", credits.license_id));
    report
        .row("available", balances.available.to_string())
        .row("reserved", balances.reserved.to_string())
        .row(
            "period",
            format!(
                "{} ({} reserved)",
                balances.period, balances.period_reserved
            ),
        )
        .row(
            "top-up",
            format!(
                "{} ({} reserved)",
                balances.top_up, balances.top_up_reserved
            ),
        );
    if credits.period.start.is_some() || credits.period.end.is_some() {
        report.row(
            "paid period",
            format!(
                "{} to {}",
                time_or(credits.period.start, "-"),
                time_or(credits.period.end, "-")
            ),
        );
    }
    let mut reservations =
        Table::new(&["ID", "STATUS", "AMOUNT", "REFERENCE", "CREATED", "EXPIRES"]);
    for reservation in &credits.reservations {
        reservations.row(vec![
            reservation.id.clone(),
            reservation.status.clone(),
            reservation.amount.to_string(),
            or_dash(reservation.reference.as_deref()),
            time(reservation.created_at),
            time(reservation.expires_at),
        ]);
    }
    format!(
        "{}{}",
        report.render(),
        section("open reservations", &reservations)
    )
}

fn ledger(client: &Client, args: &LedgerArgs, json: bool) -> Result {
    let query = [
        ("cursor", args.cursor.clone()),
        ("limit", args.limit.map(|limit| limit.to_string())),
    ];
    let answer = client.get(&format!("{}/ledger", credits_path(&args.id)), &query)?;
    print_answer(answer, json, |page: &LedgerPage| {
        let mut table = Table::new(&[
            "ID",
            "AT",
            "KIND",
            "PERIOD",
            "TOP-UP",
            "PERIOD RSV",
            "TOP-UP RSV",
            "USED",
            "REASON",
            "REFERENCE",
        ]);
        for entry in &page.entries {
            table.row(vec![
                entry.id.to_string(),
                time(entry.at),
                entry.kind.clone(),
                signed(entry.period),
                signed(entry.top_up),
                signed(entry.period_reserved),
                signed(entry.top_up_reserved),
                entry.used.to_string(),
                entry.reason.clone(),
                or_dash(entry.reference.as_deref()),
            ]);
        }
        let mut text = section("ledger (oldest first)", &table);
        if let Some(cursor) = &page.next_cursor {
            text.push_str(&format!("more: pass --cursor {}\n", Escaped(cursor)));
        }
        text
    })
}

/// Prints the check, and fails with [`Exit::CreditsMismatch`] after it if any account differs.
fn check(client: &Client, json: bool) -> Result {
    let answer = client.get("/v1/admin/credits/check", &[])?;
    let check: Check = decode(answer.clone())?;
    if json {
        print_json(&answer)?;
    } else {
        print(&check_text(&check))?;
    }
    if check.consistent {
        return Ok(());
    }
    Err(Failure::msg(
        Exit::CreditsMismatch,
        format!(
            "{} credit account(s) differ from their ledger",
            check.mismatches.len()
        ),
    ))
}

fn check_text(check: &Check) -> String {
    if check.consistent {
        return "credit ledger consistent: every account equals the sums of its ledger\n"
            .to_owned();
    }
    let mut table = Table::new(&["LICENCE", "CACHED", "LEDGER", "OPEN RESERVATIONS"]);
    for mismatch in &check.mismatches {
        table.row(vec![
            mismatch.license_id.clone(),
            format!("{:?}", mismatch.cached),
            format!("{:?}", mismatch.ledger),
            format!("{:?}", mismatch.open_reservations),
        ]);
    }
    format!(
        "{}  cached and ledger are [period, top_up, period_reserved, top_up_reserved]; open \
         reservations hold [period, top_up]\n",
        section("accounts that differ from their ledger", &table)
    )
}
