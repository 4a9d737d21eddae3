//! The body of a trigger (docs/rest.md, "Trigger, dry run, rerun"): an optional `payload`
//! replacing the Action's for this run, `thread_id`, and template `variables`; and the
//! `dry_run` query flag.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::checks::check_payload;
use super::fields::Fields;
use super::pydantic::{not_an_object, too_long};
use crate::resources::{ActionSpec, JsonObject, Length};
use crate::rest::error::{FieldError, loc};

/// Most extra variables one trigger may give.
pub const MAX_VARIABLES: usize = 64;
/// Bounds of a variable's name (an identifier) and value.
pub const VARIABLE_NAME_LENGTH: Length = Length { min: 1, max: 64 };
pub const VARIABLE_VALUE_LENGTH: Length = Length { min: 0, max: 4096 };

/// A valid trigger body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TriggerInput {
    pub payload: Option<JsonObject>,
    pub thread_id: Option<String>,
    pub variables: BTreeMap<String, String>,
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Reads a trigger body (absent or `{}`: no overrides). Every bad field at once; the payload's
/// templates are checked with the built-in variables plus the `variables` sent.
pub fn parse_trigger_body(body: Option<&Value>) -> Result<TriggerInput, Vec<FieldError>> {
    // `null` is no body, as for FastAPI's optional body.
    let Some(body) = body.filter(|b| !b.is_null()) else {
        return Ok(TriggerInput::default());
    };
    let Some(obj) = body.as_object() else {
        return Err(vec![not_an_object(body)]);
    };
    let mut errs = Vec::new();
    let mut fields = Fields {
        obj,
        errs: &mut errs,
    };
    let payload = fields.nullable("payload", |v| v.dict("payload")).flatten();
    let thread_id = fields
        .nullable("thread_id", |v| {
            v.str("thread_id", ActionSpec::THREAD_ID_LENGTH)
        })
        .flatten();
    let raw_variables = fields
        .nullable("variables", |v| v.dict("variables"))
        .flatten();
    let variables = read_variables(raw_variables.unwrap_or_default(), &mut errs);
    if let Some(p) = &payload {
        let extra: Vec<&str> = variables.keys().map(String::as_str).collect();
        check_payload(p, &extra, &mut errs);
    }
    if errs.is_empty() {
        Ok(TriggerInput {
            payload,
            thread_id,
            variables,
        })
    } else {
        Err(errs)
    }
}

/// `variables`: names that are identifiers and not built-in variables, string values.
fn read_variables(raw: JsonObject, errs: &mut Vec<FieldError>) -> BTreeMap<String, String> {
    if raw.len() > MAX_VARIABLES {
        errs.push(FieldError::value_error(
            loc(&["body", "variables"]),
            &format!("at most {MAX_VARIABLES} variables"),
            json!({}),
        ));
        return BTreeMap::new();
    }
    let builtin = crate::runspec::payload_variables();
    let mut out = BTreeMap::new();
    for (name, value) in raw {
        let at = loc(&["body", "variables", &name]);
        if !is_identifier(&name) || name.len() > VARIABLE_NAME_LENGTH.max {
            errs.push(FieldError::value_error(
                at,
                &format!(
                    "variable names are identifiers (letters, digits, _; not starting with a digit; at most {} characters)",
                    VARIABLE_NAME_LENGTH.max
                ),
                json!(name),
            ));
            continue;
        }
        if builtin.contains(&name.as_str()) {
            errs.push(FieldError::value_error(
                at,
                &format!("{name} is a built-in variable and cannot be set"),
                json!(name),
            ));
            continue;
        }
        match value {
            Value::String(s) if s.chars().count() > VARIABLE_VALUE_LENGTH.max => {
                errs.push(too_long(at, VARIABLE_VALUE_LENGTH.max, Value::String(s)))
            }
            Value::String(s) => {
                out.insert(name, s);
            }
            other => errs.push(FieldError::new(
                "string_type",
                at,
                "Input should be a valid string",
                other,
            )),
        }
    }
    out
}

/// `?dry_run=`: absent is false; the values Pydantic reads as booleans.
pub fn parse_dry_run(pairs: &[(String, String)]) -> Result<bool, Vec<FieldError>> {
    let Some((_, raw)) = pairs.iter().rev().find(|(k, _)| k == "dry_run") else {
        return Ok(false);
    };
    match raw.to_lowercase().as_str() {
        "true" | "1" | "yes" | "on" | "t" | "y" => Ok(true),
        "false" | "0" | "no" | "off" | "f" | "n" => Ok(false),
        _ => Err(vec![FieldError::new(
            "bool_parsing",
            loc(&["query", "dry_run"]),
            "Input should be a valid boolean, unable to interpret input",
            json!(raw),
        )]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rest::validate::testing::kinds;

    #[test]
    fn a_trigger_body_is_optional_and_each_override_is_read() {
        assert_eq!(parse_trigger_body(None), Ok(TriggerInput::default()));
        assert_eq!(
            parse_trigger_body(Some(&json!({}))),
            Ok(TriggerInput::default())
        );
        let input = parse_trigger_body(Some(&json!({
            "payload": {"ask": "{{ topic }} on {{ date }}"}, "thread_id": "t-1",
            "variables": {"topic": "billing"},
        })))
        .unwrap();
        assert_eq!(
            input.payload.unwrap()["ask"],
            json!("{{ topic }} on {{ date }}")
        );
        assert_eq!(input.thread_id.as_deref(), Some("t-1"));
        assert_eq!(input.variables["topic"], "billing");
    }

    #[test]
    fn every_bad_override_is_reported() {
        let errs = parse_trigger_body(Some(&json!({
            "payload": {"ask": "{{ unknown }}"}, "thread_id": "",
            "variables": {"1st": "x", "date": "y", "n": 5, "ok": "fine"},
        })))
        .unwrap_err();
        assert_eq!(
            kinds(&errs),
            vec![
                ("string_too_short".into(), loc(&["body", "thread_id"])),
                ("value_error".into(), loc(&["body", "variables", "1st"])),
                ("value_error".into(), loc(&["body", "variables", "date"])),
                ("string_type".into(), loc(&["body", "variables", "n"])),
                ("value_error".into(), loc(&["body", "payload", "ask"])),
            ]
        );
        assert_eq!(
            kinds(&parse_trigger_body(Some(&json!({"payload": 3}))).unwrap_err()),
            vec![("dict_type".into(), loc(&["body", "payload"]))]
        );
    }

    #[test]
    fn dry_run_reads_booleans_as_pydantic_does() {
        let q = |v: &str| vec![("dry_run".to_string(), v.to_string())];
        assert_eq!(parse_dry_run(&[]), Ok(false));
        assert_eq!(parse_dry_run(&q("true")), Ok(true));
        assert_eq!(parse_dry_run(&q("0")), Ok(false));
        assert_eq!(
            parse_dry_run(&q("maybe")).unwrap_err()[0].kind,
            "bool_parsing"
        );
    }
}
