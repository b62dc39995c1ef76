//! Points in time as licences carry them.

use core::fmt;

/// Seconds since 1970-01-01T00:00:00Z, ignoring leap seconds.
///
/// The verifier never reads a clock: callers pass the current `UnixTime` in, which keeps verification
/// deterministic and testable, and lets an app decide what "now" means (system clock, server time, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(pub u64);

/// The origin of times on the wire: 2024-01-01T00:00:00Z.
///
/// Times are sent as a `u32` varint of seconds since this instant, so that dates of this decade take
/// four bytes instead of five; the range ends in 2160.
pub const WIRE_EPOCH: UnixTime = UnixTime(1_704_067_200);

/// The last time a licence can carry.
pub const MAX_WIRE_TIME: UnixTime = UnixTime(WIRE_EPOCH.0 + u32::MAX as u64);

impl UnixTime {
    /// The time `seconds` after this one, saturating at the end of time.
    pub const fn plus_seconds(self, seconds: u64) -> UnixTime {
        UnixTime(self.0.saturating_add(seconds))
    }

    /// Seconds from `self` until `later`, or zero if `later` is not later.
    pub const fn seconds_until(self, later: UnixTime) -> u64 {
        later.0.saturating_sub(self.0)
    }

    /// The offset from [`WIRE_EPOCH`], or `None` if this time cannot be carried in a licence.
    pub(crate) fn to_wire(self) -> Option<u32> {
        self.0
            .checked_sub(WIRE_EPOCH.0)
            .and_then(|offset| u32::try_from(offset).ok())
    }

    pub(crate) const fn from_wire(offset: u32) -> UnixTime {
        UnixTime(WIRE_EPOCH.0 + offset as u64)
    }
}

impl fmt::Display for UnixTime {
    /// Formats as an RFC 3339 UTC timestamp, e.g. `2026-11-23T18:19:00Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0 / 86_400;
        let secs = self.0 % 86_400;
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }
}

/// Converts days since 1970-01-01 to a proleptic Gregorian (year, month, day).
///
/// Howard Hinnant's `civil_from_days`; kept here so that `no_std` users can print dates.
const fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn displays_rfc3339() {
        assert_eq!(UnixTime(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(WIRE_EPOCH.to_string(), "2024-01-01T00:00:00Z");
        assert_eq!(UnixTime(1_795_458_540).to_string(), "2026-11-23T18:29:00Z");
        assert_eq!(UnixTime(951_782_400).to_string(), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn wire_range_is_checked() {
        assert_eq!(WIRE_EPOCH.to_wire(), Some(0));
        assert_eq!(MAX_WIRE_TIME.to_wire(), Some(u32::MAX));
        assert_eq!(MAX_WIRE_TIME.plus_seconds(1).to_wire(), None);
        assert_eq!(UnixTime(WIRE_EPOCH.0 - 1).to_wire(), None);
    }
}
