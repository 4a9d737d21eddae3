//! Pydantic v2's lax coercions of JSON values, one pure function per type (docs/rest.md,
//! "Errors"): which inputs become an int, a bool or a datetime, and the error (`type`, `msg`,
//! `ctx.error`) of those that do not. `e2e/pydantic-oracle.sh` compares them with Pydantic
//! itself.

use std::sync::LazyLock;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Utc};
use regex::Regex;
use serde_json::Value;

/// A failed coercion: Pydantic's error type and message, and `ctx.error` where it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub kind: &'static str,
    pub msg: String,
    pub ctx_error: Option<String>,
}

impl Refusal {
    fn new(kind: &'static str, msg: &str) -> Self {
        Self {
            kind,
            msg: msg.to_string(),
            ctx_error: None,
        }
    }
}

/// An integer as Pydantic reads it, which may lie outside `i64` (Python's ints are unbounded;
/// the bounds check then reports it as too large or too small).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaxInt {
    Exact(i64),
    AboveI64,
    BelowI64,
}

/// Digits with single underscores between them, an optional sign and a zero fraction (`"3"`,
/// `" -3 "`, `"1_000"`, `"3.0"`), as Pydantic parses a string into an int.
static INT_TEXT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([+-]?)([0-9]+(?:_[0-9]+)*)(?:\.0*)?$").expect("the pattern compiles")
});

/// Pydantic's int in lax mode: an int; a bool (`true` is 1); a float without fraction; a
/// string of an integer.
pub fn lax_int(value: &Value) -> Result<LaxInt, Refusal> {
    match value {
        Value::Bool(b) => Ok(LaxInt::Exact(i64::from(*b))),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                return Ok(LaxInt::Exact(i));
            }
            if n.as_u64().is_some() {
                return Ok(LaxInt::AboveI64);
            }
            let f = n.as_f64().unwrap_or(f64::NAN);
            if f.fract() != 0.0 || !f.is_finite() {
                return Err(Refusal::new(
                    "int_from_float",
                    "Input should be a valid integer, got a number with a fractional part",
                ));
            }
            // i64::MAX as f64 rounds up to 2^63, which does not fit.
            if !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f) {
                return Err(Refusal::new(
                    "int_parsing_size",
                    "Unable to parse input string as an integer, exceeded maximum size",
                ));
            }
            Ok(LaxInt::Exact(f as i64))
        }
        Value::String(s) => {
            let parsing = || {
                Refusal::new(
                    "int_parsing",
                    "Input should be a valid integer, unable to parse string as an integer",
                )
            };
            let captures = INT_TEXT.captures(s.trim()).ok_or_else(parsing)?;
            let negative = &captures[1] == "-";
            let digits: String = captures[2].chars().filter(|c| *c != '_').collect();
            let text = if negative {
                format!("-{digits}")
            } else {
                digits
            };
            Ok(match text.parse::<i64>() {
                Ok(i) => LaxInt::Exact(i),
                Err(_) if negative => LaxInt::BelowI64,
                Err(_) => LaxInt::AboveI64,
            })
        }
        _ => Err(Refusal::new("int_type", "Input should be a valid integer")),
    }
}

/// Pydantic's bool in lax mode: a bool; 0 or 1 (also as floats); the strings `true`/`false`,
/// `1`/`0`, `yes`/`no`, `on`/`off`, `t`/`f`, `y`/`n` in any case.
pub fn lax_bool(value: &Value) -> Result<bool, Refusal> {
    let parsing = || {
        Refusal::new(
            "bool_parsing",
            "Input should be a valid boolean, unable to interpret input",
        )
    };
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => match s.to_lowercase().as_str() {
            "true" | "1" | "yes" | "on" | "t" | "y" => Ok(true),
            "false" | "0" | "no" | "off" | "f" | "n" => Ok(false),
            _ => Err(parsing()),
        },
        Value::Number(n) if n.is_i64() || n.is_u64() => match n.as_i64() {
            Some(0) => Ok(false),
            Some(1) => Ok(true),
            _ => Err(parsing()),
        },
        Value::Number(n) if n.as_f64() == Some(0.0) => Ok(false),
        Value::Number(n) if n.as_f64() == Some(1.0) => Ok(true),
        _ => Err(Refusal::new("bool_type", "Input should be a valid boolean")),
    }
}

/// A number of seconds (or, past 2e10, milliseconds) since the epoch, as Pydantic reads one.
static TIMESTAMP_TEXT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^-?[0-9]+(\.[0-9]*)?$").expect("the pattern compiles"));

/// An ISO 8601 date-time as Pydantic's parser (speedate) accepts it: a date, `T`, `t`, `_` or
/// a space, `HH:MM[:SS[.fraction]]` (microseconds kept), and an optional `Z` or `±HH[:]MM`
/// offset (an instant without one is taken as UTC).
static DATETIME_TEXT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt_ ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]+))?)?(?:([Zz])|([+-])([0-9]{2}):?([0-9]{2}))?$",
    )
    .expect("the pattern compiles")
});

/// Pydantic's datetime in lax mode: an ISO 8601 date-time or date (midnight), or a Unix
/// timestamp as a number or a string of one (seconds, or milliseconds past 2e10). A string that
/// is neither is reported with the reason its date part fails, as Pydantic does
/// (`datetime_from_date_parsing`).
pub fn lax_datetime(value: &Value) -> Result<DateTime<Utc>, Refusal> {
    let invalid_type = || Refusal::new("datetime_type", "Input should be a valid datetime");
    match value {
        Value::Number(n) => n.as_f64().and_then(from_timestamp).ok_or_else(invalid_type),
        Value::String(s) => {
            if TIMESTAMP_TEXT.is_match(s) {
                return s
                    .parse::<f64>()
                    .ok()
                    .and_then(from_timestamp)
                    // Out of range: reported as its date part, as Pydantic does.
                    .ok_or_else(|| {
                        date_refusal(iso_date(s).err().unwrap_or("input is too short"))
                    });
            }
            let t = match iso_datetime(s) {
                Some(t) => t,
                None => iso_date(s)
                    .map(|d| d.and_time(NaiveTime::MIN).and_utc())
                    .map_err(date_refusal)?,
            };
            // Python's datetime starts at year 1.
            if t.year() < 1 {
                return Err(Refusal {
                    kind: "datetime_parsing",
                    msg: format!(
                        "Input should be a valid datetime, year {} is out of range",
                        t.year()
                    ),
                    ctx_error: Some(format!("year {} is out of range", t.year())),
                });
            }
            Ok(t)
        }
        _ => Err(invalid_type()),
    }
}

fn date_refusal(reason: &str) -> Refusal {
    Refusal {
        kind: "datetime_from_date_parsing",
        msg: format!("Input should be a valid datetime or date, {reason}"),
        ctx_error: Some(reason.to_string()),
    }
}

fn from_timestamp(seconds: f64) -> Option<DateTime<Utc>> {
    // Pydantic takes a number past 2e10 for milliseconds.
    let seconds = if seconds.abs() > 2e10 {
        seconds / 1000.0
    } else {
        seconds
    };
    let whole = seconds.floor();
    let micros = ((seconds - whole) * 1e6).round() as i64;
    DateTime::from_timestamp(whole as i64, 0)?.checked_add_signed(TimeDelta::microseconds(micros))
}

fn iso_datetime(s: &str) -> Option<DateTime<Utc>> {
    let c = DATETIME_TEXT.captures(s)?;
    let date = iso_date(&c[1]).ok()?;
    let number = |i: usize| c.get(i).map_or(Some(0), |m| m.as_str().parse::<u32>().ok());
    let fraction = c.get(5).map_or("", |m| m.as_str());
    // Microseconds, the rest cut off, as Python's datetime holds them.
    let micros: String = fraction
        .chars()
        .chain(std::iter::repeat('0'))
        .take(6)
        .collect();
    let nanos = micros.parse::<u32>().ok()? * 1000;
    let time = NaiveTime::from_hms_nano_opt(number(2)?, number(3)?, number(4)?, nanos)?;
    let local = NaiveDateTime::new(date, time);
    let offset_minutes = match c.get(7) {
        None => 0,
        Some(sign) => {
            let (hours, minutes) = (number(8)?, number(9)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let total = i64::from(hours * 60 + minutes);
            if sign.as_str() == "-" { -total } else { total }
        }
    };
    Some(local.and_utc() - TimeDelta::minutes(offset_minutes))
}

/// `YYYY-MM-DD` and nothing else, with the reason a text is not one in speedate's words.
fn iso_date(s: &str) -> Result<NaiveDate, &'static str> {
    let b = s.as_bytes();
    if b.len() < 10 {
        return Err("input is too short");
    }
    let digits = |range: std::ops::Range<usize>, what: &'static str| {
        b[range.clone()]
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| s[range].parse::<u32>().unwrap_or(0))
            .ok_or(what)
    };
    let year = digits(0..4, "invalid character in year")?;
    if b[4] != b'-' {
        return Err("invalid date separator, expected `-`");
    }
    let month = digits(5..7, "invalid character in month")?;
    if !(1..=12).contains(&month) {
        return Err("month value is outside expected range of 1-12");
    }
    if b[7] != b'-' {
        return Err("invalid date separator, expected `-`");
    }
    let day = digits(8..10, "invalid character in day")?;
    let date = i32::try_from(year)
        .ok()
        .and_then(|y| NaiveDate::from_ymd_opt(y, month, day))
        .ok_or("day value is outside expected range")?;
    if b.len() > 10 {
        return Err("unexpected extra characters at the end of the input");
    }
    debug_assert_eq!(date.month(), month);
    Ok(date)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ints_coerce_as_pydantic_does() {
        for (input, expected) in [
            (json!(3), Ok(LaxInt::Exact(3))),
            (json!(true), Ok(LaxInt::Exact(1))),
            (json!(3.0), Ok(LaxInt::Exact(3))),
            (json!(" -3 "), Ok(LaxInt::Exact(-3))),
            (json!("1_000"), Ok(LaxInt::Exact(1000))),
            (json!("3.00"), Ok(LaxInt::Exact(3))),
            (json!(9_223_372_036_854_775_808_u64), Ok(LaxInt::AboveI64)),
            (json!("-99999999999999999999"), Ok(LaxInt::BelowI64)),
        ] {
            assert_eq!(lax_int(&input), expected, "{input}");
        }
        for (input, kind) in [
            (json!(3.5), "int_from_float"),
            (json!(1e20), "int_parsing_size"),
            (json!("3.5"), "int_parsing"),
            (json!("1__0"), "int_parsing"),
            (json!("0x10"), "int_parsing"),
            (json!(""), "int_parsing"),
            (json!(null), "int_type"),
            (json!([]), "int_type"),
        ] {
            assert_eq!(lax_int(&input).unwrap_err().kind, kind, "{input}");
        }
    }

    #[test]
    fn bools_coerce_as_pydantic_does() {
        for (input, expected) in [
            (json!("YES"), true),
            (json!("off"), false),
            (json!(1), true),
            (json!(0.0), false),
        ] {
            assert_eq!(lax_bool(&input), Ok(expected), "{input}");
        }
        for (input, kind) in [
            (json!(2), "bool_parsing"),
            (json!("maybe"), "bool_parsing"),
            (json!(" true"), "bool_parsing"),
            (json!(1.5), "bool_type"),
            (json!(null), "bool_type"),
        ] {
            assert_eq!(lax_bool(&input).unwrap_err().kind, kind, "{input}");
        }
    }

    #[test]
    fn datetimes_coerce_as_pydantic_does() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        for (input, expected) in [
            (json!("2030-01-01T00:00:00Z"), "2030-01-01T00:00:00Z"),
            (json!("2030-01-01 02:00+02:00"), "2030-01-01T00:00:00Z"),
            (
                json!("2030-01-01T00:00:00.5-0130"),
                "2030-01-01T01:30:00.5Z",
            ),
            (json!("2030-01-01T00:00"), "2030-01-01T00:00:00Z"),
            (json!("2030-01-01"), "2030-01-01T00:00:00Z"),
            (json!(1_893_456_000), "2030-01-01T00:00:00Z"),
            (json!(1_893_456_000_000_i64), "2030-01-01T00:00:00Z"),
            (json!("1893456000.25"), "2030-01-01T00:00:00.25Z"),
            (json!("2030"), "1970-01-01T00:33:50Z"),
            (
                json!("2030-01-01T00:00:00.1234567Z"),
                "2030-01-01T00:00:00.123456Z",
            ),
        ] {
            assert_eq!(lax_datetime(&input), Ok(t(expected)), "{input}");
        }
        for (input, reason) in [
            (
                json!("2030-02-30T00:00:00Z"),
                "day value is outside expected range",
            ),
            (
                json!("2030-13-01"),
                "month value is outside expected range of 1-12",
            ),
            (
                json!("2030-01-01T25:00:00Z"),
                "unexpected extra characters at the end of the input",
            ),
            (json!("tomorrow"), "input is too short"),
            (json!("2030/01/01"), "invalid date separator, expected `-`"),
            (json!("20x0-01-01"), "invalid character in year"),
        ] {
            assert_eq!(
                lax_datetime(&input).unwrap_err().ctx_error.as_deref(),
                Some(reason),
                "{input}"
            );
        }
        assert_eq!(
            lax_datetime(&json!(true)).unwrap_err().kind,
            "datetime_type"
        );
    }
}
