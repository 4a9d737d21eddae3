//! The body schemas against `validate`: what the document promises is what the facade does.

use serde_json::{Map, Value, json};

use crate::resources::Action;
use crate::rest::ActionView;
use crate::rest::error::{FieldError, loc};
use crate::rest::openapi::document;
use crate::rest::validate::{apply, new_spec, parse_action_body};

fn schema(name: &str) -> Value {
    document()["components"]["schemas"][name].clone()
}

fn properties(name: &str) -> Map<String, Value> {
    schema(name)["properties"].as_object().unwrap().clone()
}

/// The smallest valid create body.
fn minimal() -> Value {
    json!({"name": "n", "endpoint_id": "e", "namespace_id": "m"})
}

fn with(field: &str, value: Value) -> Value {
    let mut body = minimal();
    body[field] = value;
    body
}

fn errors_at(result: Result<impl Sized, Vec<FieldError>>, field: &str) -> Vec<FieldError> {
    match result {
        Ok(_) => Vec::new(),
        Err(errs) => errs
            .into_iter()
            .filter(|e| e.loc == loc(&["body", field]))
            .collect(),
    }
}

/// A string of `n` characters; not ASCII, so that bytes and characters differ.
fn chars(n: i64) -> Value {
    json!("é".repeat(usize::try_from(n).unwrap()))
}

#[test]
fn every_bound_in_the_create_schema_is_the_one_validate_applies() {
    let mut bounded = Vec::new();
    for (field, property) in properties("ActionCreate") {
        let bound = |key: &str| property.get(key).and_then(Value::as_i64);
        // Not ASCII where any text goes, so that bytes and characters differ.
        let chars = |n: i64| match property.get("pattern") {
            Some(_) => json!("a".repeat(usize::try_from(n).unwrap())),
            None => chars(n),
        };
        // (value at the bound, value one past it) for each bound the schema states.
        let mut cases: Vec<(Value, Option<Value>)> = Vec::new();
        if let Some(min) = bound("minLength") {
            cases.push((chars(min), (min > 0).then(|| chars(min - 1))));
        }
        if let Some(max) = bound("maxLength") {
            cases.push((chars(max), Some(chars(max + 1))));
        }
        if let Some(min) = bound("minimum") {
            cases.push((json!(min), Some(json!(min - 1))));
        }
        if let Some(max) = bound("maximum") {
            cases.push((json!(max), Some(json!(max + 1))));
        }
        if cases.is_empty() {
            continue;
        }
        bounded.push(field.clone());
        for (at, past) in cases {
            for create in [true, false] {
                let body = if create {
                    with(&field, at.clone())
                } else {
                    json!({ field.as_str(): at.clone() })
                };
                assert!(
                    parse_action_body(&body, create).is_ok(),
                    "{field} at its bound is refused (create: {create})"
                );
                let Some(past) = &past else { continue };
                let body = if create {
                    with(&field, past.clone())
                } else {
                    json!({ field.as_str(): past.clone() })
                };
                assert_eq!(
                    errors_at(parse_action_body(&body, create), &field).len(),
                    1,
                    "{field} past its bound is not refused at the field (create: {create})"
                );
            }
        }
    }
    bounded.sort();
    assert_eq!(
        bounded,
        [
            "cron_expression",
            "description",
            "endpoint_id",
            "max_retries",
            "name",
            "namespace_id",
            "retry_delay_seconds",
            "thread_id",
            "thread_id_template",
        ]
    );
}

#[test]
fn the_documented_zones_are_exactly_those_the_scheduler_accepts() {
    let zones = schema("Timezone")["enum"].as_array().unwrap().clone();
    assert!(zones.len() > 400, "{}", zones.len());
    for zone in &zones {
        let zone = zone.as_str().unwrap();
        assert!(crate::cron::parse_timezone(zone).is_ok(), "{zone}");
        assert!(zone.chars().count() <= crate::resources::ActionSpec::TIMEZONE_LENGTH.max);
    }
    for name in [
        "UTC",
        "Europe/Berlin",
        "America/Argentina/Buenos_Aires",
        "Etc/GMT+5",
    ] {
        assert!(zones.contains(&json!(name)), "{name}");
    }
    for name in ["utc", "Mars/Olympus", "", "Europe/Berlin "] {
        assert!(!zones.contains(&json!(name)), "{name}");
        assert!(crate::cron::parse_timezone(name).is_err(), "{name}");
    }
    assert_eq!(
        properties("ActionCreate")["timezone"]["$ref"],
        "#/components/schemas/Timezone"
    );
}

#[test]
fn every_pattern_in_the_create_schema_is_the_one_validate_applies() {
    let mut patterned = Vec::new();
    for (field, property) in properties("ActionCreate") {
        let Some(pattern) = property.get("pattern").and_then(Value::as_str) else {
            continue;
        };
        patterned.push(field.clone());
        let regex = regex::Regex::new(pattern).unwrap();
        for (value, matches) in [
            ("agent", true),
            ("v1.agent-2", true),
            ("Agent", false),
            ("a b", false),
            ("a/b", false),
            ("-a", false),
            ("é", false),
        ] {
            assert_eq!(regex.is_match(value), matches, "{field} {value:?}");
            let errs = errors_at(parse_action_body(&with(&field, json!(value)), true), &field);
            if matches {
                assert!(errs.is_empty(), "{field} {value:?}: {errs:?}");
            } else {
                assert_eq!(errs.len(), 1, "{field} {value:?}");
                assert_eq!(errs[0].kind, "string_pattern_mismatch");
                assert_eq!(errs[0].ctx, Some(json!({"pattern": pattern})));
            }
        }
    }
    assert_eq!(patterned, ["endpoint_id"]);
}

/// Each required-if rule of the document is one `check_spec` applies: the body without the
/// companion is refused at the companion, with it (or, for an update, when it is not sent) the
/// rule is satisfied. The rules are read from the document, so a rule it loses fails here.
#[test]
fn the_documented_required_if_rules_are_those_the_checks_apply() {
    use crate::rest::validate::check_spec;
    let now = chrono::Utc::now();
    let rules = schema("ActionCreate")["allOf"].as_array().unwrap().clone();
    assert_eq!(rules.len(), crate::rest::bodies::REQUIRED_IF.len());
    for rule in rules {
        let (field, value) = rule["if"]["properties"]
            .as_object()
            .unwrap()
            .iter()
            .next()
            .unwrap();
        let value = value["const"].clone();
        let companion = rule["then"]["required"][0].as_str().unwrap();
        let companion_value = match companion {
            "cron_expression" => json!("0 9 * * *"),
            "scheduled_at" => json!("2099-01-01T00:00:00Z"),
            _ => json!("t-{{ date }}"),
        };
        let check = |body: Value| {
            let input = parse_action_body(&body, true).unwrap();
            let mut spec = new_spec("app").unwrap();
            apply(&mut spec, &input).unwrap();
            check_spec(&spec, &input, now)
        };
        let without = check(with(field, value.clone()));
        assert_eq!(
            without.iter().map(|e| e.loc.clone()).collect::<Vec<_>>(),
            vec![loc(&["body", companion])],
            "{field}={value} without {companion}"
        );
        let mut body = with(field, value.clone());
        body[companion] = companion_value;
        assert_eq!(check(body), Vec::new(), "{field}={value} with {companion}");
    }
    let update = schema("ActionUpdate")["allOf"].as_array().unwrap().clone();
    assert_eq!(update.len(), crate::rest::bodies::REQUIRED_IF.len());
    assert!(update.iter().all(|r| r["then"].get("required").is_none()));
}

#[test]
fn required_fields_are_those_a_create_misses() {
    let missing: Vec<Value> = parse_action_body(&json!({}), true)
        .unwrap_err()
        .into_iter()
        .filter(|e| e.kind == "missing")
        .map(|e| e.loc[1].clone())
        .collect();
    assert_eq!(schema("ActionCreate")["required"], Value::Array(missing));
    assert!(parse_action_body(&json!({}), false).is_ok());
    assert_eq!(schema("ActionUpdate")["required"], Value::Null);
}

#[test]
fn every_documented_field_is_read_by_validate() {
    for field in properties("ActionCreate").keys() {
        let errs = errors_at(parse_action_body(&with(field, json!([])), true), field);
        assert_eq!(errs.len(), 1, "{field} is documented but not validated");
    }
    let update: Vec<String> = properties("ActionUpdate").keys().cloned().collect();
    let create: Vec<String> = properties("ActionCreate").keys().cloned().collect();
    assert_eq!(update, create);
}

#[test]
fn documented_defaults_are_what_a_create_stores() {
    let input = parse_action_body(&minimal(), true).unwrap();
    let mut spec = new_spec("app").unwrap();
    apply(&mut spec, &input).unwrap();
    let view = serde_json::to_value(ActionView::from_resource(&Action::new("n", spec))).unwrap();
    let mut defaulted = Vec::new();
    for (field, property) in properties("ActionCreate") {
        if let Some(default) = property.get("default") {
            assert_eq!(&view[&field], default, "default of {field}");
            defaulted.push(field);
        }
    }
    defaulted.sort();
    assert_eq!(
        defaulted,
        [
            "action_type",
            "is_enabled",
            "max_retries",
            "payload",
            "retry_delay_seconds",
            "thread_mode",
            "timezone",
        ]
    );
    let create = properties("ActionCreate");
    assert_eq!(create["timezone"]["default"], "UTC");
    assert_eq!(create["retry_delay_seconds"]["default"], 60);
    assert_eq!(create["thread_mode"]["default"], "new_each_run");
    for property in properties("ActionUpdate").values() {
        assert_eq!(property.get("default"), None, "an update has no defaults");
    }
}
