//! The body of a trigger (docs/rest.md, "Trigger, dry run, rerun"): an optional `payload`
//! replacing the Action's for this run, `thread_id`, and template `variables`; and the
//! `dry_run` query flag.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::checks::check_payload;
use super::fields::Fields;
use super::pydantic::{not_an_object, pattern_mismatch, too_long};
use crate::resources::{ActionSpec, JsonObject, Length};
use crate::rest::error::{FieldError, loc};

/// Most extra variables one trigger may give.
pub const MAX_VARIABLES: usize = 64;
/// Bounds of a variable's name (an identifier) and value.
pub const VARIABLE_NAME_LENGTH: Length = Length { min: 1, max: 64 };
pub const VARIABLE_VALUE_LENGTH: Length = Length { min: 0, max: 4096 };
/// A variable's name as the OpenAPI document states it: an identifier of at most
/// `VARIABLE_NAME_LENGTH.max` characters (`is_identifier` decides it; a test keeps them agreed).
pub const VARIABLE_NAME_PATTERN: &str = "^[A-Za-z_][A-Za-z0-9_]{0,63}$";

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

/// `variables`: names that are identifiers and not built-in variables, string values, at most
/// `MAX_VARIABLES`. Read as Pydantic reads a `dict[Annotated[str, pattern], Annotated[str,
/// max_length]]` with a `max_length`: a bad name at `[..., name, "[key]"]`, a bad value at
/// `[..., name]` (both for the same entry); and once more valid entries than the maximum are
/// read, only that (`too_long`, "not more": the count stops there).
fn read_variables(raw: JsonObject, errs: &mut Vec<FieldError>) -> BTreeMap<String, String> {
    let builtin = crate::runspec::payload_variables();
    let before = errs.len();
    let whole = (raw.len() > MAX_VARIABLES).then(|| Value::Object(raw.clone()));
    let mut valid = 0;
    let mut out = BTreeMap::new();
    for (name, value) in raw {
        let at = loc(&["body", "variables", &name]);
        let named = is_identifier(&name) && name.len() <= VARIABLE_NAME_LENGTH.max;
        if !named {
            let key = loc(&["body", "variables", &name, "[key]"]);
            errs.push(pattern_mismatch(key, VARIABLE_NAME_PATTERN, json!(name)));
        }
        let value = match value {
            Value::String(s) if s.chars().count() > VARIABLE_VALUE_LENGTH.max => {
                errs.push(too_long(at, VARIABLE_VALUE_LENGTH.max, Value::String(s)));
                continue;
            }
            Value::String(s) => s,
            other => {
                errs.push(FieldError::new(
                    "string_type",
                    at,
                    "Input should be a valid string",
                    other,
                ));
                continue;
            }
        };
        if !named {
            continue;
        }
        valid += 1;
        if valid > MAX_VARIABLES {
            errs.truncate(before);
            errs.push(too_many_variables(whole.unwrap_or_default()));
            return BTreeMap::new();
        }
        // A built-in name is a valid string to Pydantic: this check is the facade's own.
        if builtin.contains(&name.as_str()) {
            let message = format!("{name} is a built-in variable and cannot be set");
            errs.push(FieldError::value_error(at, &message, json!(name)));
            continue;
        }
        out.insert(name, value);
    }
    out
}

/// Pydantic's error for a dict over its `max_length`, raised as soon as one entry too many is
/// valid (so it does not know the actual length).
fn too_many_variables(input: Value) -> FieldError {
    FieldError::new(
        "too_long",
        loc(&["body", "variables"]),
        format!("Dictionary should have at most {MAX_VARIABLES} items after validation, not more"),
        input,
    )
    .with_ctx(json!({
        "field_type": "Dictionary",
        "max_length": MAX_VARIABLES,
        "actual_length": null,
    }))
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
    fn a_variable_name_is_what_the_documented_pattern_matches() {
        let pattern = regex::Regex::new(VARIABLE_NAME_PATTERN).unwrap();
        let long = "a".repeat(VARIABLE_NAME_LENGTH.max);
        let longer = "a".repeat(VARIABLE_NAME_LENGTH.max + 1);
        for name in [
            "topic", "_x9", "A", "", "9lives", "a-b", "é", "a b", &long, &longer,
        ] {
            let named = is_identifier(name) && name.len() <= VARIABLE_NAME_LENGTH.max;
            assert_eq!(named, pattern.is_match(name), "{name:?}");
        }
    }

    #[test]
    fn one_valid_variable_too_many_is_the_only_error_as_in_pydantic() {
        let mut vars: serde_json::Map<String, Value> = (0..MAX_VARIABLES)
            .map(|i| (format!("v{i}"), json!("x")))
            .collect();
        vars.insert("bad-name".into(), json!(1));
        // At the maximum, with a bad entry: the bad entry's errors.
        let errs = parse_trigger_body(Some(&json!({"variables": vars.clone()}))).unwrap_err();
        assert_eq!(
            kinds(&errs),
            vec![
                (
                    "string_pattern_mismatch".into(),
                    loc(&["body", "variables", "bad-name", "[key]"])
                ),
                (
                    "string_type".into(),
                    loc(&["body", "variables", "bad-name"])
                ),
            ]
        );
        // One valid entry more: only the count.
        vars.insert("zz".into(), json!("x"));
        let errs = parse_trigger_body(Some(&json!({"variables": vars}))).unwrap_err();
        assert_eq!(
            kinds(&errs),
            vec![("too_long".into(), loc(&["body", "variables"]))]
        );
        assert_eq!(
            errs[0].ctx,
            Some(json!({"field_type": "Dictionary",
            "max_length": MAX_VARIABLES, "actual_length": null}))
        );
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
                (
                    "string_pattern_mismatch".into(),
                    loc(&["body", "variables", "1st", "[key]"])
                ),
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
