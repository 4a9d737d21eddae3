//! Vixie-cron expression parsing and wall-clock matching.
//!
//! Nothing here knows about time zones: [`Fields::next_match`] walks naive
//! local date-times; `tz.rs` maps them to instants.

use std::fmt;

use chrono::{Datelike, NaiveDate, NaiveDateTime, TimeDelta, Timelike};
use thiserror::Error;

/// One of the five cron fields, named in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CronField {
    Minute,
    Hour,
    DayOfMonth,
    Month,
    DayOfWeek,
}

impl CronField {
    const ALL: [CronField; 5] = [
        CronField::Minute,
        CronField::Hour,
        CronField::DayOfMonth,
        CronField::Month,
        CronField::DayOfWeek,
    ];

    /// Inclusive bounds as written (day-of-week accepts 7 for Sunday).
    fn bounds(self) -> (u32, u32) {
        match self {
            CronField::Minute => (0, 59),
            CronField::Hour => (0, 23),
            CronField::DayOfMonth => (1, 31),
            CronField::Month => (1, 12),
            CronField::DayOfWeek => (0, 7),
        }
    }

    /// Three-letter names, indexed from the field's lower bound (Vixie's tables).
    fn names(self) -> Option<&'static [&'static str]> {
        const MONTHS: [&str; 12] = [
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ];
        const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
        match self {
            CronField::Month => Some(&MONTHS),
            CronField::DayOfWeek => Some(&DAYS),
            _ => None,
        }
    }
}

impl fmt::Display for CronField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CronField::Minute => "minute",
            CronField::Hour => "hour",
            CronField::DayOfMonth => "day-of-month",
            CronField::Month => "month",
            CronField::DayOfWeek => "day-of-week",
        })
    }
}

/// Why a cron expression was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CronError {
    #[error("empty cron expression")]
    Empty,
    #[error("expected 5 fields (minute hour day-of-month month day-of-week), found {found}")]
    FieldCount { found: usize },
    #[error(
        "found {found} fields: seconds and year fields are not supported; \
         use 5 fields (minute hour day-of-month month day-of-week)"
    )]
    SecondsField { found: usize },
    #[error("@reboot is not a time-based schedule")]
    Reboot,
    #[error(
        "unknown macro `{0}` (expected @yearly, @annually, @monthly, @weekly, \
         @daily, @midnight or @hourly)"
    )]
    UnknownMacro(String),
    #[error("macro `{0}` must be the whole expression")]
    MacroWithFields(String),
    #[error("{field} field: value {value} out of range {min}-{max}")]
    OutOfRange {
        field: CronField,
        value: String,
        min: u32,
        max: u32,
    },
    #[error("{field} field: step must be at least 1 in `{item}`")]
    ZeroStep { field: CronField, item: String },
    #[error("{field} field: range `{item}` is reversed: {start} is after {end}{hint}")]
    ReversedRange {
        field: CronField,
        item: String,
        start: u32,
        end: u32,
        hint: &'static str,
    },
    #[error("{field} field: empty list item")]
    EmptyItem { field: CronField },
    #[error("{field} field: unknown name `{name}` (expected {expected})")]
    UnknownName {
        field: CronField,
        name: String,
        expected: &'static str,
    },
    #[error("{field} field: invalid item `{item}`: {reason}")]
    Syntax {
        field: CronField,
        item: String,
        reason: &'static str,
    },
    #[error("`{expr}` never fires: no selected month has the selected day of month")]
    NeverFires { expr: String },
}

/// The parsed expression as bitsets (bit n set = value n allowed).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Fields {
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    /// Bits 0-6, Sunday = 0 (a written 7 is folded onto 0).
    weekdays: u64,
    // Vixie's *_STAR flags: set when the field text starts with `*`.
    pub(crate) minute_star: bool,
    pub(crate) hour_star: bool,
    dom_star: bool,
    dow_star: bool,
}

/// Longest possible length of each month (February counts its leap day).
const MAX_DAYS: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

impl Fields {
    /// Parses a five-field expression or a macro.
    pub(crate) fn parse(expr: &str) -> Result<Self, CronError> {
        let is_blank = |c: char| c == ' ' || c == '\t';
        let tokens: Vec<&str> = expr.split(is_blank).filter(|t| !t.is_empty()).collect();
        let Some(first) = tokens.first() else {
            return Err(CronError::Empty);
        };
        if first.starts_with('@') {
            if tokens.len() > 1 {
                return Err(CronError::MacroWithFields((*first).to_string()));
            }
            // Macros are case-sensitive in Vixie cron (plain strcmp).
            let equivalent = match *first {
                "@yearly" | "@annually" => "0 0 1 1 *",
                "@monthly" => "0 0 1 * *",
                "@weekly" => "0 0 * * 0",
                "@daily" | "@midnight" => "0 0 * * *",
                "@hourly" => "0 * * * *",
                "@reboot" => return Err(CronError::Reboot),
                other => return Err(CronError::UnknownMacro(other.to_string())),
            };
            return Self::parse(equivalent);
        }
        match tokens.len() {
            5 => {}
            6 | 7 => {
                return Err(CronError::SecondsField {
                    found: tokens.len(),
                });
            }
            n => return Err(CronError::FieldCount { found: n }),
        }
        let mut sets = [0u64; 5];
        for ((set, field), text) in sets.iter_mut().zip(CronField::ALL).zip(&tokens) {
            *set = parse_field(field, text)?;
        }
        let [minutes, hours, days, months, mut weekdays] = sets;
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays & !(1 << 7)) | 1;
        }
        let fields = Fields {
            minutes,
            hours,
            days,
            months,
            weekdays,
            minute_star: tokens[0].starts_with('*'),
            hour_star: tokens[1].starts_with('*'),
            dom_star: tokens[2].starts_with('*'),
            dow_star: tokens[4].starts_with('*'),
        };
        if !fields.can_fire() {
            return Err(CronError::NeverFires {
                expr: expr.trim_matches(is_blank).to_string(),
            });
        }
        Ok(fields)
    }

    /// Under the OR rule every month has every weekday, so some day always
    /// matches. Under the AND rule a selected month must be able to hold a
    /// selected day; any such date falls on every weekday in some year.
    fn can_fire(&self) -> bool {
        if !self.and_rule() {
            return true;
        }
        (1..=12u32).any(|m| {
            self.months & (1 << m) != 0 && (self.days & mask_upto(MAX_DAYS[m as usize - 1])) != 0
        })
    }

    /// Vixie: if either day field starts with `*`, both must match.
    fn and_rule(&self) -> bool {
        self.dom_star || self.dow_star
    }

    fn day_matches(&self, day: u32, weekday: u32) -> bool {
        let dom = self.days & (1 << day) != 0;
        let dow = self.weekdays & (1 << weekday) != 0;
        if self.and_rule() {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// Whether a local wall time matches (tests use this as an oracle).
    #[cfg(test)]
    pub(crate) fn matches(&self, t: NaiveDateTime) -> bool {
        self.minutes & (1 << t.minute()) != 0
            && self.hours & (1 << t.hour()) != 0
            && self.months & (1 << t.month()) != 0
            && self.day_matches(t.day(), t.weekday().num_days_from_sunday())
    }

    /// First matching whole minute at or after `start`, giving up after
    /// `max_year`. Jumps field by field instead of stepping minutes.
    pub(crate) fn next_match(&self, start: NaiveDateTime, max_year: i32) -> Option<NaiveDateTime> {
        let start = ceil_minute(start)?;
        let (mut year, mut month, mut day) = (start.year(), start.month(), start.day());
        let (mut hour, mut minute) = (start.hour(), start.minute());
        loop {
            if year > max_year {
                return None;
            }
            if self.months & (1 << month) == 0 {
                match next_bit(self.months, month) {
                    Some(m) => month = m,
                    None => {
                        year += 1;
                        month = next_bit(self.months, 1)?;
                    }
                }
                (day, hour, minute) = (1, 0, 0);
                continue;
            }
            match self.next_day(year, month, day) {
                Some(d) if d == day => {}
                Some(d) => (day, hour, minute) = (d, 0, 0),
                None => {
                    (year, month) = if month == 12 {
                        (year + 1, 1)
                    } else {
                        (year, month + 1)
                    };
                    (day, hour, minute) = (1, 0, 0);
                    continue;
                }
            }
            match next_bit(self.hours, hour) {
                Some(h) if h == hour => {}
                Some(h) => (hour, minute) = (h, 0),
                None => {
                    (day, hour, minute) = (day + 1, 0, 0);
                    continue;
                }
            }
            match next_bit(self.minutes, minute) {
                Some(m) => {
                    return NaiveDate::from_ymd_opt(year, month, day)?.and_hms_opt(hour, m, 0);
                }
                None => {
                    (hour, minute) = (hour + 1, 0);
                    continue;
                }
            }
        }
    }

    /// First matching day of the month at or after `from`, if any.
    fn next_day(&self, year: i32, month: u32, from: u32) -> Option<u32> {
        let date = NaiveDate::from_ymd_opt(year, month, from)?;
        let last = days_in_month(year, month);
        let mut weekday = date.weekday().num_days_from_sunday();
        for day in from..=last {
            if self.day_matches(day, weekday) {
                return Some(day);
            }
            weekday = (weekday + 1) % 7;
        }
        None
    }
}

/// Parses one field into a bitset of allowed values.
fn parse_field(field: CronField, text: &str) -> Result<u64, CronError> {
    let mut set = 0u64;
    for item in text.split(',') {
        set |= parse_item(field, item)?;
    }
    Ok(set)
}

/// item = `*` [`/` step] | value [`-` value [`/` step]]  (Vixie grammar:
/// a step needs `*` or a range, so `5/15` is rejected as Vixie 4 does).
fn parse_item(field: CronField, item: &str) -> Result<u64, CronError> {
    let syntax = |reason| CronError::Syntax {
        field,
        item: item.to_string(),
        reason,
    };
    if item.is_empty() {
        return Err(CronError::EmptyItem { field });
    }
    let (min, max) = field.bounds();
    let (base, step) = match item.split_once('/') {
        None => (item, None),
        Some((_, s)) if s.contains('/') => return Err(syntax("more than one `/`")),
        Some((b, s)) => {
            let step = parse_number(s).ok_or_else(|| syntax("the step must be a number"))?;
            if step == 0 {
                return Err(CronError::ZeroStep {
                    field,
                    item: item.to_string(),
                });
            }
            (b, Some(step))
        }
    };
    let (start, end) = if base == "*" {
        (min, max)
    } else if let Some((a, b)) = base.split_once('-') {
        if b.contains('-') {
            return Err(syntax("more than one `-`"));
        }
        let start = parse_value(field, item, a)?;
        let end = parse_value(field, item, b)?;
        if start > end {
            let hint = if field == CronField::DayOfWeek && end == 0 {
                "; write 7 for a Sunday that ends a range"
            } else {
                ""
            };
            return Err(CronError::ReversedRange {
                field,
                item: item.to_string(),
                start,
                end,
                hint,
            });
        }
        (start, end)
    } else if step.is_some() {
        return Err(syntax("a step needs `*` or a range, e.g. `0-59/15`"));
    } else {
        let value = parse_value(field, item, base)?;
        (value, value)
    };
    let step = step.unwrap_or(1);
    let mut set = 0u64;
    let mut value = start;
    while value <= end {
        set |= 1 << value;
        // A huge step simply ends the range (Vixie accepts `*/100`).
        value = match value.checked_add(step) {
            Some(v) => v,
            None => break,
        };
    }
    Ok(set)
}

/// A number or (month/day-of-week only) a three-letter name, range-checked.
fn parse_value(field: CronField, item: &str, token: &str) -> Result<u32, CronError> {
    let (min, max) = field.bounds();
    if let Some(value) = parse_number(token) {
        if value < min || value > max {
            return Err(CronError::OutOfRange {
                field,
                value: token.to_string(),
                min,
                max,
            });
        }
        return Ok(value);
    }
    match field.names() {
        Some(names) if !token.is_empty() && token.chars().all(|c| c.is_ascii_alphabetic()) => names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(token))
            .map(|i| i as u32 + min)
            .ok_or_else(|| CronError::UnknownName {
                field,
                name: token.to_string(),
                expected: if field == CronField::Month {
                    "jan-dec"
                } else {
                    "sun-sat"
                },
            }),
        Some(_) => Err(CronError::Syntax {
            field,
            item: item.to_string(),
            reason: "expected a number or a three-letter name",
        }),
        None => Err(CronError::Syntax {
            field,
            item: item.to_string(),
            reason: "expected a number",
        }),
    }
}

/// Decimal digits only; saturates so that huge values report as out of range.
fn parse_number(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0u32, |acc, b| {
        acc.saturating_mul(10).saturating_add(u32::from(b - b'0'))
    }))
}

/// Lowest set bit at or above `from`.
fn next_bit(mask: u64, from: u32) -> Option<u32> {
    if from >= 64 {
        return None;
    }
    let rest = mask >> from << from;
    (rest != 0).then(|| rest.trailing_zeros())
}

/// Bits 0..=n.
fn mask_upto(n: u32) -> u64 {
    (1u64 << (n + 1)) - 1
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    match month {
        2 if leap => 29,
        2 => 28,
        m => MAX_DAYS[(m as usize).saturating_sub(1) % 12],
    }
}

/// Rounds up to a whole minute (fire times have zero seconds).
pub(crate) fn ceil_minute(t: NaiveDateTime) -> Option<NaiveDateTime> {
    let floor = floor_minute(t)?;
    if floor == t {
        Some(t)
    } else {
        floor.checked_add_signed(TimeDelta::minutes(1))
    }
}

pub(crate) fn floor_minute(t: NaiveDateTime) -> Option<NaiveDateTime> {
    t.with_second(0)?.with_nanosecond(0)
}
