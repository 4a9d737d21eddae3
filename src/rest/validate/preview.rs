//! The queries of the schedule preview routes (docs/rest.md, "Schedule preview"): `count` on
//! `/upcoming`, and a schedule that is not saved yet on `/schedule-preview`.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::fields::parse_datetime;
use super::query::int_param;
use crate::cron::{CronSchedule, parse_timezone};
use crate::rest::error::{FieldError, loc};

/// Instants listed when `count` is not sent.
pub const DEFAULT_COUNT: usize = 10;
/// Most instants one preview lists.
pub const MAX_COUNT: usize = 100;

/// A schedule to preview: what an Action's `cron_expression`, `scheduled_at` and `timezone`
/// would say, with `schedule_type` inferred as create infers it.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviewQuery {
    pub count: usize,
    pub cron_expression: Option<String>,
    pub scheduled_at: Option<DateTime<Utc>>,
    pub timezone: String,
}

fn last<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `count`: an integer in 1..=MAX_COUNT, DEFAULT_COUNT when absent.
pub fn parse_count(pairs: &[(String, String)]) -> Result<usize, Vec<FieldError>> {
    let bounds = (1, MAX_COUNT as i64, DEFAULT_COUNT as i64);
    int_param(pairs, "count", bounds).map(|n| n as usize)
}

/// The whole preview query; every bad parameter is reported at once.
pub fn parse_preview(pairs: &[(String, String)]) -> Result<PreviewQuery, Vec<FieldError>> {
    let mut errs = Vec::new();
    let count = parse_count(pairs).unwrap_or_else(|e| {
        errs.extend(e);
        DEFAULT_COUNT
    });
    let cron_expression = last(pairs, "cron_expression").map(str::to_string);
    if let Some(expr) = &cron_expression
        && let Err(e) = CronSchedule::parse(expr)
    {
        errs.push(FieldError::value_error(
            loc(&["query", "cron_expression"]),
            &format!("invalid cron expression: {e}"),
            json!(expr),
        ));
    }
    let timezone = last(pairs, "timezone").unwrap_or("UTC").to_string();
    if let Err(e) = parse_timezone(&timezone) {
        errs.push(FieldError::value_error(
            loc(&["query", "timezone"]),
            &e.to_string(),
            json!(timezone),
        ));
    }
    let scheduled_at = match last(pairs, "scheduled_at") {
        None => None,
        Some(raw) => match parse_datetime(raw) {
            Ok(t) => Some(t),
            Err(why) => {
                errs.push(
                    FieldError::new(
                        "datetime_from_date_parsing",
                        loc(&["query", "scheduled_at"]),
                        format!("Input should be a valid datetime or date, {why}"),
                        json!(raw),
                    )
                    .with_ctx(json!({ "error": why })),
                );
                None
            }
        },
    };
    if cron_expression.is_none() && scheduled_at.is_none() {
        errs.push(FieldError::value_error(
            loc(&["query", "cron_expression"]),
            "cron_expression or scheduled_at is required",
            serde_json::Value::Null,
        ));
    }
    if errs.is_empty() {
        Ok(PreviewQuery {
            count,
            cron_expression,
            scheduled_at,
            timezone,
        })
    } else {
        Err(errs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn count_is_bounded_and_defaulted() {
        assert_eq!(parse_count(&q(&[])), Ok(DEFAULT_COUNT));
        assert_eq!(parse_count(&q(&[("count", "100")])), Ok(100));
        let types = |pairs: &[(&str, &str)]| -> Vec<String> {
            parse_count(&q(pairs))
                .unwrap_err()
                .iter()
                .map(|e| e.kind.clone())
                .collect()
        };
        assert_eq!(types(&[("count", "0")]), ["greater_than_equal"]);
        assert_eq!(types(&[("count", "101")]), ["less_than_equal"]);
        assert_eq!(types(&[("count", "x")]), ["int_parsing"]);
    }

    #[test]
    fn every_bad_parameter_is_reported_at_once() {
        let errs = parse_preview(&q(&[
            ("cron_expression", "61 * * * *"),
            ("timezone", "Mars/Olympus"),
            ("scheduled_at", "soon"),
            ("count", "0"),
        ]))
        .unwrap_err();
        let locs: Vec<String> = errs.iter().map(|e| e.loc[1].to_string()).collect();
        assert_eq!(
            locs,
            [
                "\"count\"",
                "\"cron_expression\"",
                "\"timezone\"",
                "\"scheduled_at\""
            ]
        );
        let ok = parse_preview(&q(&[("cron_expression", "0 9 * * *")])).unwrap();
        assert_eq!((ok.timezone.as_str(), ok.count), ("UTC", DEFAULT_COUNT));
        assert!(parse_preview(&q(&[])).is_err(), "a schedule is required");
    }
}
