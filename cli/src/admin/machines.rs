//! `tessera admin machines`: a licence's machines, one machine, freeing a seat, and activating a
//! machine from its activation request (`tsq1_...`) for a customer who cannot; and the seat change
//! of `admin licenses seats`.

use serde_json::json;

use super::args::{MachineActivateArgs, MachinesCommand, SeatsArgs};
use super::licenses::license_report;
use super::model::{LicenseMachines, MachineActivated, MachineDetail, SeatsChanged, SeatsView};
use super::table::{section, time, time_or};
use super::{license_path, print_answer};
use crate::activate::save;
use crate::client::Client;
use crate::exit::{Exit, Result};
use crate::input::source_text;
use crate::machines::{self, Machine};
use crate::output::Report;

/// Runs a `machines` command.
pub(super) fn run(client: &Client, command: &MachinesCommand, json: bool) -> Result {
    match command {
        MachinesCommand::List(args) => {
            let answer = client.get(&format!("{}/machines", license_path(&args.id)), &[])?;
            print_answer(answer, json, |list: &LicenseMachines| {
                license_machines_text(list)
            })
        }
        MachinesCommand::Show(args) => {
            let answer = client.get(&format!("/v1/admin/machines/{}", args.id), &[])?;
            print_answer(answer, json, |detail: &MachineDetail| {
                machine_text("machine", detail)
            })
        }
        MachinesCommand::Deactivate(args) => {
            let path = format!("/v1/admin/machines/{}/deactivate", args.id);
            let answer = client.post(&path, &json!({"reason": args.reason}))?;
            print_answer(answer, json, |detail: &MachineDetail| {
                machine_text("deactivated machine", detail)
            })
        }
        MachinesCommand::Activate(args) => activate(client, args, json),
    }
}

/// `POST /v1/admin/machines/offline`; every seat taken prints the machines holding them.
fn activate(client: &Client, args: &MachineActivateArgs, json: bool) -> Result {
    let request = if args.request.trim_start().starts_with("tsq") {
        args.request.clone()
    } else {
        source_text(&args.request, "activation request", Exit::Usage)?
    };
    let request: String = request.split_whitespace().collect();
    let path = "/v1/admin/machines/offline";
    let answer = client.post_answer(path, &json!({"request": request, "reason": args.reason}))?;
    if machines::all_seats_taken(&answer) {
        let hint = "Free one with `tessera admin machines deactivate ID --reason R`, or add a \
                    seat with `tessera admin licenses seats LICENCE N --reason R`.";
        return Err(machines::seats_taken(answer, "the licence", hint));
    }
    let answer = client.json("POST", path, answer)?;
    if let Some(out) = &args.out {
        let activated: MachineActivated = super::decode(answer.clone())?;
        save(out, &activated.certificate)?;
    }
    print_answer(answer, json, |activated: &MachineActivated| {
        let mut report = machine_report(
            format!("activated machine {}", activated.machine.id),
            &activated.machine,
        );
        report.row("certificate", activated.certificate.as_str());
        if let Some(out) = &args.out {
            report.row("saved to", out.display().to_string());
        }
        report.render()
    })
}

/// Runs `licenses seats`.
pub(super) fn seats(client: &Client, args: &SeatsArgs, json: bool) -> Result {
    let path = format!("{}/seats", license_path(&args.id));
    let body = json!({"max_machines": args.seats.0, "reason": args.reason});
    let answer = client.post(&path, &body)?;
    print_answer(answer, json, |changed: &SeatsChanged| {
        let mut report = license_report(
            format!("changed the seats of licence {}", changed.license.id),
            &changed.license,
        );
        seats_rows(&mut report, &changed.seats);
        report.render()
    })
}

/// The seat policy and the machines, as `licenses show` and `machines list` print them.
pub(super) fn license_machines_text(list: &LicenseMachines) -> String {
    let mut report = Report::new(format!("seats of licence {}", list.license_id));
    match &list.seats {
        Some(seats) => {
            report.row("in use", list.active.to_string());
            seats_rows(&mut report, seats);
        }
        None => {
            report.row("activation", "not required (its keys work on any machine)");
        }
    }
    format!(
        "{}{}",
        report.render(),
        section(
            "machines (oldest first)",
            &machines::table(&list.machines, true)
        )
    )
}

fn seats_rows(report: &mut Report, seats: &SeatsView) {
    let or_none = |value: Option<u32>, none: &str| value.map_or(none.to_owned(), |n| n.to_string());
    report
        .row("max machines", or_none(seats.max_machines, "unlimited"))
        .row(
            "lease",
            seats
                .lease_days
                .map_or("none (certificates do not expire)".to_owned(), |days| {
                    format!("{days} days")
                }),
        )
        .row(
            "floating",
            match (seats.floating, seats.heartbeat_seconds) {
                (true, Some(seconds)) => format!("yes, heartbeat every {seconds} s"),
                (true, None) => "yes".to_owned(),
                (false, _) => "no".to_owned(),
            },
        )
        .row(
            "self-service deactivations",
            seats
                .max_deactivations_per_30_days
                .map_or("no cap".to_owned(), |n| format!("{n} per 30 days")),
        );
}

fn machine_text(head: &str, detail: &MachineDetail) -> String {
    let machine = &detail.machine.machine;
    let mut report = machine_report(format!("{head} {}", machine.id), machine);
    report
        .row("licence", detail.machine.license_id.as_str())
        .row("seat", machines::seat(machine));
    report.render()
}

fn machine_report(head: String, machine: &Machine) -> Report {
    let mut report = Report::new(head);
    report
        .row(
            "name",
            machine.name.clone().unwrap_or_else(|| "-".to_owned()),
        )
        .row(
            "platform",
            machine.platform.clone().unwrap_or_else(|| "-".to_owned()),
        )
        .row("fingerprint", machine.fingerprint.as_str())
        .row("activated", time(machine.activated_at))
        .row("last seen", time(machine.last_seen_at))
        .row("lease ends", time_or(machine.lease_ends_at, "never"));
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seats_and_machines_show_escaped_with_their_seat() {
        let list: LicenseMachines = serde_json::from_value(json!({
            "license_id": "0123456789abcdef",
            "seats": {"max_machines": 3, "lease_days": 30, "floating": false,
                      "heartbeat_seconds": null, "max_deactivations_per_30_days": 2},
            "active": 1,
            "machines": [
                {"id": "m_1", "fingerprint": "ab".repeat(32), "name": "Ada\u{1b}[2K\rlaptop",
                 "platform": "linux", "activated_at": 1_801_353_600,
                 "last_seen_at": 1_801_353_600, "lease_ends_at": null,
                 "license_id": "0123456789abcdef", "active": true, "deactivated_at": null,
                 "deactivated_how": null},
                {"id": "m_2", "fingerprint": "cd".repeat(32), "name": null, "platform": null,
                 "activated_at": 1_801_353_600, "last_seen_at": 1_801_353_600,
                 "lease_ends_at": 1_803_945_600, "license_id": "0123456789abcdef",
                 "active": false, "deactivated_at": 1_801_440_000, "deactivated_how": "admin"}
            ]
        }))
        .unwrap();
        let text = license_machines_text(&list);
        assert!(
            text.starts_with("seats of licence 0123456789abcdef\n"),
            "{text}"
        );
        for expected in [
            "in use:",
            "max machines:",
            "30 days",
            "2 per 30 days",
            "Ada\\u{1b}[2K\\rlaptop",
            "abababababababab",
            "held",
            "freed 2027-02-01T00:00:00Z (admin)",
        ] {
            assert!(text.contains(expected), "{expected:?} not in\n{text}");
        }
        assert!(!text.contains('\u{1b}') && !text.contains('\r'), "{text}");
    }
}
