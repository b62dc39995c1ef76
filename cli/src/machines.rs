//! Machines as the issuer answers them (`Machine` in the HTTP contract), and the table `activate` and
//! `admin machines` show them in. Names and platforms are what customers typed: the table escapes
//! them ([`Table::row`]).

use std::io::Write;

use serde::Deserialize;

use crate::admin::table::{or_dash, time, time_or, Table};
use crate::client::Answer;
use crate::exit::{Exit, Failure};

/// A machine holding (or, in support's answers, having held) a seat.
#[derive(Debug, Deserialize)]
pub(crate) struct Machine {
    pub(crate) id: String,
    pub(crate) fingerprint: String,
    pub(crate) name: Option<String>,
    pub(crate) platform: Option<String>,
    pub(crate) activated_at: i64,
    pub(crate) last_seen_at: i64,
    pub(crate) lease_ends_at: Option<i64>,
    /// Support's answers only: whether it holds a seat now.
    pub(crate) active: Option<bool>,
    /// Support's answers only: when it stopped holding one.
    pub(crate) deactivated_at: Option<i64>,
    /// Support's answers only: how (`customer`, `admin`, `lapsed`).
    pub(crate) deactivated_how: Option<String>,
}

impl Machine {
    /// The first 16 hex digits of the fingerprint: enough to tell machines apart in a table.
    pub(crate) fn short_fingerprint(&self) -> String {
        self.fingerprint.chars().take(16).collect()
    }
}

/// The machines as a table; with `support`, a column says whether each still holds a seat.
pub(crate) fn table(machines: &[Machine], support: bool) -> Table {
    let mut header = vec![
        "ID",
        "NAME",
        "PLATFORM",
        "FINGERPRINT",
        "ACTIVATED",
        "LAST SEEN",
        "LEASE ENDS",
    ];
    if support {
        header.push("SEAT");
    }
    let mut table = Table::new(&header);
    for machine in machines {
        let mut row = vec![
            machine.id.clone(),
            or_dash(machine.name.as_deref()),
            or_dash(machine.platform.as_deref()),
            machine.short_fingerprint(),
            time(machine.activated_at),
            time(machine.last_seen_at),
            time_or(machine.lease_ends_at, "never"),
        ];
        if support {
            row.push(seat(machine));
        }
        table.row(row);
    }
    table
}

/// `held`, or how and when it was freed.
pub(crate) fn seat(machine: &Machine) -> String {
    match (machine.active, machine.deactivated_at) {
        (Some(false), Some(at)) => format!(
            "freed {} ({})",
            time(at),
            machine.deactivated_how.as_deref().unwrap_or("-")
        ),
        (Some(false), None) => "freed".to_owned(),
        _ => "held".to_owned(),
    }
}

/// `409 too_many_machines`.
#[derive(Debug, Deserialize)]
struct TooMany {
    max_machines: u32,
    machines: Vec<Machine>,
}

/// Whether the issuer answered `409 too_many_machines`.
pub(crate) fn all_seats_taken(answer: &Answer) -> bool {
    answer.status == 409
        && answer
            .body
            .as_ref()
            .and_then(|body| body.get("error"))
            .and_then(|code| code.as_str())
            == Some("too_many_machines")
}

/// Every seat of `licence` is taken: prints the machines holding them and `hint` (how to free one)
/// on standard error, and returns the failure ([`Exit::TooManyMachines`]).
pub(crate) fn seats_taken(answer: Answer, licence: &str, hint: &str) -> Failure {
    let too_many = answer
        .body
        .and_then(|body| serde_json::from_value::<TooMany>(body).ok());
    let Some(too_many) = too_many else {
        return Failure::msg(
            Exit::TooManyMachines,
            format!("every seat of {licence} is taken (409 too_many_machines)"),
        );
    };
    let table = table(&too_many.machines, false).render();
    let _ = write!(
        std::io::stderr().lock(),
        "the machines holding the seats of {licence}:\n{table}{hint}\n"
    );
    Failure::msg(
        Exit::TooManyMachines,
        format!(
            "all {} seats of {licence} are taken (409 too_many_machines)",
            too_many.max_machines
        ),
    )
}
