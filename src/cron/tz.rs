//! Turning wall-clock matches into instants in an IANA zone, with the DST
//! rules described in the module docs of `schedule`.

use chrono::{DateTime, Datelike, LocalResult, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::{GapInfo, Tz};
use thiserror::Error;

use super::expr::{Fields, floor_minute};

/// How far ahead a search may look. The rarest valid date (Feb 29 on a
/// given weekday, under the AND day rule) recurs within 40 years.
const HORIZON_YEARS: i32 = 100;

/// Why a time zone name was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TimezoneError {
    #[error("empty time zone name")]
    Empty,
    #[error("unknown time zone `{name}`{}", hint(*.suggestion))]
    Unknown {
        name: String,
        /// The zone spelled the same up to ASCII case, if there is one.
        suggestion: Option<&'static str>,
    },
}

fn hint(suggestion: Option<&str>) -> String {
    match suggestion {
        Some(s) => format!("; did you mean `{s}`?"),
        None => " (expected an IANA name such as `Europe/Berlin` or `UTC`)".to_string(),
    }
}

/// Parses an IANA zone name exactly as spelled (e.g. `Europe/Berlin`, `UTC`).
pub fn parse_timezone(name: &str) -> Result<Tz, TimezoneError> {
    if name.trim().is_empty() {
        return Err(TimezoneError::Empty);
    }
    name.parse::<Tz>().map_err(|_| TimezoneError::Unknown {
        name: name.to_string(),
        suggestion: chrono_tz::TZ_VARIANTS
            .iter()
            .map(|tz| tz.name())
            .find(|n| n.eq_ignore_ascii_case(name.trim())),
    })
}

fn offset(tz: Tz, t: DateTime<Utc>) -> TimeDelta {
    let seconds = tz
        .offset_from_utc_datetime(&t.naive_utc())
        .fix()
        .local_minus_utc();
    TimeDelta::seconds(i64::from(seconds))
}

/// Fixed-time expressions follow the wall clock: each matching wall time
/// fires once, at its first occurrence, or at the end of the gap if it does
/// not exist. That mapping never decreases as wall time grows, so the first
/// match whose instant is after `after` is the answer; equal instants (several
/// times in one gap) collapse because results must be strictly later.
pub(crate) fn next_wall_clock(
    fields: &Fields,
    tz: Tz,
    after: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let local_after = after.naive_utc().checked_add_signed(offset(tz, after))?;
    let max_year = local_after.year().saturating_add(HORIZON_YEARS);
    // Wall times before `local_after` map to instants at or before `after`.
    let mut from = floor_minute(local_after)?;
    loop {
        let wall = fields.next_match(from, max_year)?;
        if let Some(t) = wall_clock_instant(tz, wall)
            && t > after
        {
            return Some(t);
        }
        from = wall.checked_add_signed(TimeDelta::minutes(1))?;
    }
}

fn wall_clock_instant(tz: Tz, wall: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&wall) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => Some(a.min(b).with_timezone(&Utc)),
        LocalResult::None => GapInfo::new(&wall, &tz)?.end.map(|t| t.with_timezone(&Utc)),
    }
}

/// Expressions with `*` in the minute or hour field follow real time: every
/// instant whose wall time matches fires, so a repeated hour fires twice and a
/// gap has nothing. Wall-time order equals instant order except inside a
/// fall-back fold, so the walk starts early enough to see a fold just after
/// `after` and, once a candidate is found, continues through a fold just
/// before it. Assumes a zone changes offset at most once within a day.
pub(crate) fn next_real_time(
    fields: &Fields,
    tz: Tz,
    after: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let day = TimeDelta::days(1);
    let offset_soon = after
        .checked_add_signed(day)
        .map_or(offset(tz, after), |t| offset(tz, t));
    let lowest = offset(tz, after).min(offset_soon);
    let start = after.naive_utc().checked_add_signed(lowest)?;
    let max_year = start.year().saturating_add(HORIZON_YEARS);
    let mut from = floor_minute(start)?;
    let mut best: Option<DateTime<Utc>> = None;
    let mut stop_at: Option<NaiveDateTime> = None;
    loop {
        let Some(wall) = fields.next_match(from, max_year) else {
            return best;
        };
        if stop_at.is_some_and(|stop| wall >= stop) {
            return best;
        }
        for t in instants(tz, wall).into_iter().flatten() {
            if t > after && best.is_none_or(|b| t < b) {
                best = Some(t);
            }
        }
        if let (Some(found), None) = (best, stop_at) {
            // A later wall time maps to an earlier instant only if the clock
            // fell back shortly before `found`, by at most that fold's length.
            let fold = found
                .checked_sub_signed(day)
                .map_or(TimeDelta::zero(), |t| offset(tz, t) - offset(tz, found));
            if fold <= TimeDelta::zero() {
                return best;
            }
            stop_at = Some(wall.checked_add_signed(fold).unwrap_or(wall));
        }
        from = wall.checked_add_signed(TimeDelta::minutes(1))?;
    }
}

/// Every instant whose wall time is `wall`: none in a gap, two in a fold.
fn instants(tz: Tz, wall: NaiveDateTime) -> [Option<DateTime<Utc>>; 2] {
    match tz.from_local_datetime(&wall) {
        LocalResult::Single(t) => [Some(t.with_timezone(&Utc)), None],
        LocalResult::Ambiguous(a, b) => [Some(a.with_timezone(&Utc)), Some(b.with_timezone(&Utc))],
        LocalResult::None => [None, None],
    }
}
