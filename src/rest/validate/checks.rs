//! The checks beyond types, on the spec as it will be stored (docs/rest.md, "Create and
//! update"). On a body whose types are valid they run on the whole spec; beside type errors,
//! on each field that did type-check (`parse_action_body_all_errors`), so one answer names
//! every problem it can.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::apply::{apply, new_spec};
use super::body::{ActionInput, read_action_body};
use crate::cron::{CronSchedule, parse_timezone};
use crate::resources::{ActionSpec, JsonObject, ScheduleType, ThreadMode};
use crate::rest::error::{FieldError, loc};
use crate::rest::model::ACTION_FIELDS;

/// A create (`create`) or update body read as `parse_action_body` reads it; when some field has
/// a type error, the answer also holds the checks beyond types of the fields that type-checked,
/// each judged with the other fields at their defaults, in field order. A rule that involves a
/// field with a type error (required-if) waits until the types are valid.
pub fn parse_action_body_all_errors(
    body: &Value,
    create: bool,
    now: DateTime<Utc>,
) -> Result<ActionInput, Vec<FieldError>> {
    read_action_body(body, create).map_err(|(mut errs, partial)| {
        let sent: Vec<&str> = partial.sent().map(|(f, _)| f.rest).collect();
        let mut spec = match new_spec("") {
            Ok(spec) => spec,
            Err(_) => return errs,
        };
        if apply(&mut spec, &partial).is_err() {
            return errs;
        }
        let field = |e: &FieldError| e.loc.get(1).and_then(Value::as_str).map(str::to_string);
        errs.extend(
            check_spec(&spec, &partial, now)
                .into_iter()
                .filter(|e| field(e).is_some_and(|f| sent.contains(&f.as_str()))),
        );
        // Stable: the type errors keep their order, each check follows its field's place.
        errs.sort_by_key(|e| {
            field(e)
                .and_then(|f| ACTION_FIELDS.iter().position(|a| a.rest == f))
                .unwrap_or(usize::MAX)
        });
        errs
    })
}

/// What the resource schema cannot check, on the spec as it will be stored: cron grammar, zone,
/// templates, required-if rules, payload size, and (when sent now) a past `scheduled_at`.
pub fn check_spec(spec: &ActionSpec, input: &ActionInput, now: DateTime<Utc>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let schedule = spec.effective_schedule_type();
    let val = |s: &Option<String>| s.clone().map(Value::String).unwrap_or(Value::Null);
    match (&spec.cron_expression, schedule) {
        (Some(expr), _) => {
            if let Err(e) = CronSchedule::parse(expr) {
                errs.push(FieldError::value_error(
                    loc(&["body", "cron_expression"]),
                    &format!("invalid cron expression: {e}"),
                    json!(expr),
                ));
            }
        }
        (None, ScheduleType::Cron) => errs.push(FieldError::value_error(
            loc(&["body", "cron_expression"]),
            "cron_expression is required when schedule_type is cron",
            Value::Null,
        )),
        _ => {}
    }
    if schedule == ScheduleType::OneTime && spec.scheduled_at.is_none() {
        errs.push(FieldError::value_error(
            loc(&["body", "scheduled_at"]),
            "scheduled_at is required when schedule_type is one_time",
            Value::Null,
        ));
    }
    if let Some(at) = input.time("scheduled_at")
        && at <= now
    {
        errs.push(FieldError::value_error(
            loc(&["body", "scheduled_at"]),
            "scheduled_at must be in the future",
            json!(crate::time::format_time(&at)),
        ));
    }
    if let Err(e) = parse_timezone(&spec.timezone) {
        errs.push(FieldError::value_error(
            loc(&["body", "timezone"]),
            &e.to_string(),
            json!(spec.timezone),
        ));
    }
    match spec.thread_mode {
        ThreadMode::Fixed if spec.thread_id.is_none() => errs.push(FieldError::value_error(
            loc(&["body", "thread_id"]),
            "thread_id is required when thread_mode is fixed",
            Value::Null,
        )),
        ThreadMode::Template if spec.thread_id_template.is_none() => {
            errs.push(FieldError::value_error(
                loc(&["body", "thread_id_template"]),
                "thread_id_template is required when thread_mode is template",
                Value::Null,
            ))
        }
        _ => {}
    }
    if let Some(t) = &spec.thread_id_template
        && let Some(e) = template_error(t, crate::runspec::THREAD_VARIABLES)
    {
        errs.push(FieldError::value_error(
            loc(&["body", "thread_id_template"]),
            &e,
            val(&spec.thread_id_template),
        ));
    }
    check_payload(&spec.payload, &[], &mut errs);
    errs
}

/// The payload's size, and each string leaf as a template with the run's variables plus `extra`
/// (a trigger's own variables).
pub(super) fn check_payload(payload: &JsonObject, extra: &[&str], errs: &mut Vec<FieldError>) {
    let size = serde_json::to_vec(payload).map(|b| b.len()).unwrap_or(0);
    if size > ActionSpec::MAX_PAYLOAD_BYTES {
        errs.push(FieldError::value_error(
            loc(&["body", "payload"]),
            &format!(
                "payload is larger than {} KiB",
                ActionSpec::MAX_PAYLOAD_BYTES / 1024
            ),
            json!({}),
        ));
        return;
    }
    let mut path = loc(&["body", "payload"]);
    let mut available = crate::runspec::payload_variables();
    available.extend_from_slice(extra);
    for (k, v) in payload {
        path.push(json!(k));
        check_leaves(v, &mut path, &available, errs);
        path.pop();
    }
}

/// Every string leaf of a payload is a template; each must render.
fn check_leaves(
    value: &Value,
    path: &mut Vec<Value>,
    available: &[&str],
    errs: &mut Vec<FieldError>,
) {
    match value {
        Value::String(s) => {
            if let Some(e) = template_error(s, available) {
                errs.push(FieldError::value_error(path.clone(), &e, value.clone()));
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(json!(i));
                check_leaves(item, path, available, errs);
                path.pop();
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                path.push(json!(k));
                check_leaves(item, path, available, errs);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Why `source` would fail to render in a run (syntax, an undefined variable, an unknown filter),
/// checked with the runner's own engine, settings and variables, if it would.
pub fn template_error(source: &str, available: &[&str]) -> Option<String> {
    crate::runspec::template::check("", source, available)
        .err()
        .map(|e| format!("invalid template: {}", e.message))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::rest::validate::testing::{kinds, now, spec};
    use crate::rest::validate::{apply, parse_action_body};

    #[test]
    fn schedule_type_is_inferred_and_semantics_checked() {
        let mut s = spec();
        let input = parse_action_body(&json!({"cron_expression": "0 9 * * *"}), false).unwrap();
        apply(&mut s, &input).unwrap();
        assert_eq!(s.effective_schedule_type(), ScheduleType::Cron);
        assert!(check_spec(&s, &input, now()).is_empty());

        let mut s = spec();
        let input = parse_action_body(
            &json!({"cron_expression": "61 * * * *", "timezone": "Mars/Olympus",
                    "scheduled_at": "2020-01-01T00:00:00Z", "schedule_type": "cron",
                    "thread_mode": "template",
                    "payload": {"a": ["{{ date"], "b": "{{ nope }}"}}),
            false,
        )
        .unwrap();
        apply(&mut s, &input).unwrap();
        let errs = check_spec(&s, &input, now());
        assert_eq!(
            kinds(&errs),
            vec![
                ("value_error".into(), loc(&["body", "cron_expression"])),
                ("value_error".into(), loc(&["body", "scheduled_at"])),
                ("value_error".into(), loc(&["body", "timezone"])),
                ("value_error".into(), loc(&["body", "thread_id_template"])),
                (
                    "value_error".into(),
                    vec![json!("body"), json!("payload"), json!("a"), json!(0)]
                ),
                (
                    "value_error".into(),
                    vec![json!("body"), json!("payload"), json!("b")]
                ),
            ]
        );
        assert!(
            errs[5].msg.contains("undefined variable `nope`"),
            "{}",
            errs[5].msg
        );
        assert!(
            errs[0]
                .msg
                .starts_with("Value error, invalid cron expression")
        );
    }

    #[test]
    fn beside_type_errors_the_fields_that_type_checked_are_checked_too() {
        let body = json!({"name": 5, "endpoint_id": "e", "namespace_id": "n",
            "thread_mode": "fixed", "payload": {"a": "{{ nope"},
            "cron_expression": "61 * * * *", "timezone": "Mars/Olympus", "max_retries": 500});
        let errs = parse_action_body_all_errors(&body, true, now()).unwrap_err();
        // In field order; thread_id (required with fixed) is not named: a rule about a field
        // not sent waits for a body whose types are valid.
        assert_eq!(
            kinds(&errs),
            vec![
                ("string_type".into(), loc(&["body", "name"])),
                (
                    "value_error".into(),
                    vec![json!("body"), json!("payload"), json!("a")]
                ),
                ("value_error".into(), loc(&["body", "cron_expression"])),
                ("value_error".into(), loc(&["body", "timezone"])),
                ("less_than_equal".into(), loc(&["body", "max_retries"])),
            ]
        );
        // A field with a type error is named once, for its type.
        let errs =
            parse_action_body_all_errors(&json!({"timezone": 3, "max_retries": "x"}), false, now())
                .unwrap_err();
        assert_eq!(
            kinds(&errs),
            vec![
                ("string_type".into(), loc(&["body", "timezone"])),
                ("int_parsing".into(), loc(&["body", "max_retries"])),
            ]
        );
        // Valid types: the checks are left to `check_spec` on the stored spec.
        let body = json!({"cron_expression": "61 * * * *"});
        assert!(parse_action_body_all_errors(&body, false, now()).is_ok());
    }

    #[test]
    fn one_time_needs_scheduled_at_and_fixed_needs_thread_id() {
        let mut s = spec();
        let input = parse_action_body(
            &json!({"schedule_type": "one_time", "thread_mode": "fixed"}),
            false,
        )
        .unwrap();
        apply(&mut s, &input).unwrap();
        let errs = check_spec(&s, &input, now());
        assert_eq!(
            kinds(&errs),
            vec![
                ("value_error".into(), loc(&["body", "scheduled_at"])),
                ("value_error".into(), loc(&["body", "thread_id"])),
            ]
        );
    }
}
