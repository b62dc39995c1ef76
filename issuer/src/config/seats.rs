//! A licence price's seat policy (`max_machines`, `lease_days`, `floating`, `heartbeat_seconds`,
//! `max_deactivations_per_30_days` in a `[[prices]]` entry): whether its keys need machine
//! activation, and how many machines may hold a seat.

use super::{invalid, ConfigError};
use crate::store::SeatPolicy;

/// The most machines a price may allow, so that a typo (an extra zero or three) is caught.
pub const MAX_MACHINES: u32 = 100_000;
/// The longest lease, in days: ten years.
pub const MAX_LEASE_DAYS: u32 = 3_650;
/// The longest heartbeat interval, in seconds: a day.
pub const MAX_HEARTBEAT_SECONDS: u32 = 86_400;

/// The seat settings of one `[[prices]]` entry, as written.
#[derive(Debug, Default)]
pub(super) struct SeatSettings {
    pub max_machines: Option<u32>,
    pub lease_days: Option<u32>,
    pub floating: bool,
    pub heartbeat_seconds: Option<u32>,
    pub max_deactivations_per_30_days: Option<u32>,
}

impl SeatSettings {
    /// Whether any of them is set.
    pub(super) fn any(&self) -> bool {
        self.max_machines.is_some()
            || self.lease_days.is_some()
            || self.floating
            || self.heartbeat_seconds.is_some()
            || self.max_deactivations_per_30_days.is_some()
    }

    /// The policy they make (`None` without `max_machines`: no activation), or the first setting
    /// that is wrong; `field` names a setting of this entry.
    pub(super) fn policy(
        self,
        field: impl Fn(&str) -> String,
    ) -> Result<Option<SeatPolicy>, ConfigError> {
        let Some(max_machines) = self.max_machines else {
            let stray = [
                ("lease_days", self.lease_days.is_some()),
                ("floating", self.floating),
                ("heartbeat_seconds", self.heartbeat_seconds.is_some()),
                (
                    "max_deactivations_per_30_days",
                    self.max_deactivations_per_30_days.is_some(),
                ),
            ];
            if let Some((name, _)) = stray.into_iter().find(|(_, set)| *set) {
                return Err(invalid(
                    field(name),
                    "needs max_machines (without it keys need no activation)",
                ));
            }
            return Ok(None);
        };
        if !(1..=MAX_MACHINES).contains(&max_machines) {
            return Err(invalid(
                field("max_machines"),
                format!("must be 1 to {MAX_MACHINES}"),
            ));
        }
        if let Some(days) = self.lease_days {
            if !(1..=MAX_LEASE_DAYS).contains(&days) {
                return Err(invalid(
                    field("lease_days"),
                    format!("must be 1 to {MAX_LEASE_DAYS}"),
                ));
            }
        }
        let heartbeat_seconds = match (self.floating, self.heartbeat_seconds) {
            (true, None) => {
                return Err(invalid(
                    field("heartbeat_seconds"),
                    "is required with floating = true",
                ))
            }
            (false, Some(_)) => {
                return Err(invalid(
                    field("heartbeat_seconds"),
                    "needs floating = true",
                ))
            }
            (true, Some(_)) if self.lease_days.is_some() => {
                return Err(invalid(
                    field("lease_days"),
                    "cannot be combined with floating = true (a floating lease is 2 × heartbeat_seconds)",
                ))
            }
            (true, Some(seconds)) if !(1..=MAX_HEARTBEAT_SECONDS).contains(&seconds) => {
                return Err(invalid(
                    field("heartbeat_seconds"),
                    format!("must be 1 to {MAX_HEARTBEAT_SECONDS}"),
                ))
            }
            (_, seconds) => seconds,
        };
        Ok(Some(SeatPolicy {
            max_machines: Some(max_machines),
            lease_days: self.lease_days,
            heartbeat_seconds,
            max_deactivations_per_30_days: self.max_deactivations_per_30_days,
        }))
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, Environment, Sale};
    use crate::store::SeatPolicy;

    fn price(settings: &str) -> Result<Option<SeatPolicy>, String> {
        let text = format!(
            "[[products]]\nid = 1\nname = \"app\"\ntiers = [\"pro\"]\n\
             [[prices]]\nid = \"price_1\"\nproduct = \"app\"\ntier = \"pro\"\n{settings}\n"
        );
        let config =
            Config::from_toml_str(&text, &Environment::default()).map_err(|err| err.to_string())?;
        match config.prices[0].sells {
            Sale::License { seats, .. } => Ok(seats),
            Sale::TopUp { .. } => unreachable!("a licence price"),
        }
    }

    #[test]
    fn seat_settings_make_a_policy() {
        assert_eq!(price(""), Ok(None));
        assert_eq!(
            price("max_machines = 3\nlease_days = 30\nmax_deactivations_per_30_days = 2"),
            Ok(Some(SeatPolicy {
                max_machines: Some(3),
                lease_days: Some(30),
                heartbeat_seconds: None,
                max_deactivations_per_30_days: Some(2),
            }))
        );
        let floating = price("max_machines = 1\nfloating = true\nheartbeat_seconds = 60")
            .unwrap()
            .unwrap();
        assert!(floating.floating());
        assert_eq!(floating.lease_from(100), (Some(220), Some(220)));
    }

    #[test]
    fn bad_seat_settings_are_refused_naming_the_field() {
        for (settings, field) in [
            ("lease_days = 3", "prices[0].lease_days"),
            ("floating = true", "prices[0].floating"),
            ("max_machines = 0", "prices[0].max_machines"),
            ("max_machines = 100001", "prices[0].max_machines"),
            ("max_machines = 2\nlease_days = 0", "prices[0].lease_days"),
            (
                "max_machines = 2\nfloating = true",
                "prices[0].heartbeat_seconds",
            ),
            (
                "max_machines = 2\nheartbeat_seconds = 5",
                "prices[0].heartbeat_seconds",
            ),
            (
                "max_machines = 2\nfloating = true\nheartbeat_seconds = 5\nlease_days = 3",
                "prices[0].lease_days",
            ),
            (
                "max_machines = 2\nfloating = true\nheartbeat_seconds = 0",
                "prices[0].heartbeat_seconds",
            ),
        ] {
            let err = price(settings).unwrap_err();
            assert!(err.contains(&format!("`{field}`")), "{settings}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
        let topup = Config::from_toml_str(
            "[[prices]]\nid = \"price_2\"\ntopup_credits = 5\nmax_machines = 2\n",
            &Environment::default(),
        )
        .unwrap_err();
        assert!(
            topup.to_string().contains("prices[0].max_machines"),
            "{topup}"
        );
    }
}
