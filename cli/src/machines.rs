//! Machines as the issuer answers them (`Machine` in the HTTP contract), and the table `activate` and
//! `admin machines` show them in. Names and platforms are what customers typed: the table escapes
//! them ([`Table::row`]).

use serde::Deserialize;

use crate::admin::table::{or_dash, time, time_or, Table};

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
