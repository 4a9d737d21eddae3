//! Cron schedules evaluated in an IANA time zone.
//!
//! Pure code: the current time is always a parameter, never read here.
//!
//! # Dialect (Vixie / Debian cron)
//!
//! Five fields separated by runs of spaces or tabs: minute (0-59), hour
//! (0-23), day-of-month (1-31), month (1-12 or `jan`-`dec`), day-of-week
//! (0-7 or `sun`-`sat`; 0 and 7 are Sunday). Names are three letters, any
//! case, and may end ranges (`mon-fri`). Items: `*`, `a`, `a-b`, `*/n`,
//! `a-b/n`, joined by commas. As in Vixie cron 4, `a/n` is rejected (a step
//! needs `*` or a range) and so are reversed ranges such as `fri-sun` (`sun`
//! is 0; write `fri-7`). A step larger than its range is accepted and selects
//! only the first value, as in Vixie. Macros: `@yearly`, `@annually`,
//! `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly` (lower case, as
//! Vixie compares them exactly); `@reboot` is rejected.
//!
//! Day rule: if the day-of-month or the day-of-week field starts with `*`
//! (including `*/2`), a day must match both; otherwise either suffices.
//! Expressions that can never fire (`0 0 30 2 *`) are rejected.
//!
//! # Time zones and DST
//!
//! An expression is *fixed-time* when neither its minute nor its hour field
//! starts with `*`. Fixed-time expressions follow the wall clock: a time
//! skipped by a spring-forward gap fires once, at the first instant after the
//! gap (several skipped times, or a skipped time plus a match at that instant,
//! still fire once), and a time repeated by a fall-back fires only at its
//! first occurrence. Other expressions follow real time: they fire at every
//! instant whose local wall time matches, so a repeated hour fires again and
//! a gap fires nothing.

mod expr;
#[cfg(test)]
mod tests;
mod tz;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

pub use expr::{CronError, CronField};
pub use tz::{TimezoneError, parse_timezone};

/// A parsed cron expression; [`Display`](fmt::Display) gives back the text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CronSchedule {
    source: String,
    fields: expr::Fields,
}

impl CronSchedule {
    /// Parses a five-field expression or a macro such as `@daily`.
    pub fn parse(expr: &str) -> Result<Self, CronError> {
        Ok(CronSchedule {
            source: expr.to_string(),
            fields: expr::Fields::parse(expr)?,
        })
    }

    /// The expression exactly as given to [`CronSchedule::parse`].
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// True when neither the minute nor the hour field starts with `*`:
    /// the schedule follows the wall clock across DST changes.
    pub fn is_fixed_time(&self) -> bool {
        !self.fields.minute_star && !self.fields.hour_star
    }

    /// The first fire instant strictly after `after`, evaluated in `tz`.
    ///
    /// Fire instants are whole minutes. `None` only if nothing fires within
    /// the search horizon (100 years), which valid expressions never hit.
    pub fn next_after(&self, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.is_fixed_time() {
            tz::next_wall_clock(&self.fields, tz, after)
        } else {
            tz::next_real_time(&self.fields, tz, after)
        }
    }

    /// The next `n` fire instants strictly after `after`, in increasing order.
    pub fn upcoming(&self, tz: Tz, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        // `n` may come from a user; don't let it size the allocation up front.
        let mut out = Vec::with_capacity(n.min(64));
        let mut cursor = after;
        while out.len() < n {
            let Some(next) = self.next_after(tz, cursor) else {
                break;
            };
            out.push(next);
            cursor = next;
        }
        out
    }
}

impl FromStr for CronSchedule {
    type Err = CronError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}
