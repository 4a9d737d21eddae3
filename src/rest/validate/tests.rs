use chrono::TimeZone;
use serde_json::json;

use super::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

fn spec() -> ActionSpec {
    serde_json::from_value(json!({"app": "a", "endpoint": "e", "namespaceId": "n"})).unwrap()
}

fn kinds(errs: &[FieldError]) -> Vec<(String, Vec<Value>)> {
    errs.iter()
        .map(|e| (e.kind.clone(), e.loc.clone()))
        .collect()
}

#[test]
fn create_requires_the_three_fields_and_reports_all() {
    let errs = parse_action_body(&json!({"description": 5}), true).unwrap_err();
    assert_eq!(
        kinds(&errs),
        vec![
            ("missing".into(), loc(&["body", "name"])),
            ("string_type".into(), loc(&["body", "description"])),
            ("missing".into(), loc(&["body", "endpoint_id"])),
            ("missing".into(), loc(&["body", "namespace_id"])),
        ]
    );
    assert_eq!(errs[0].msg, "Field required");
    assert_eq!(errs[0].input, json!({"description": 5}));
}

#[test]
fn type_enum_and_range_errors_have_pydantic_wording() {
    let body = json!({"name": "", "endpoint_id": "e", "namespace_id": "n",
        "thread_mode": "sometimes", "max_retries": 101, "retry_delay_seconds": -1,
        "is_enabled": "maybe", "payload": [1], "scheduled_at": "tomorrow", "timezone": 3,
        "action_type": "call", "max_retries_unknown": true});
    let errs = parse_action_body(&body, true).unwrap_err();
    let by_field = |f: &str| errs.iter().find(|e| e.loc[1] == json!(f)).unwrap().clone();
    assert_eq!(by_field("name").kind, "string_too_short");
    assert_eq!(by_field("name").ctx, Some(json!({"min_length": 1})));
    let tm = by_field("thread_mode");
    assert_eq!(
        tm.msg,
        "Input should be 'new_each_run', 'fixed' or 'template'"
    );
    assert_eq!(
        tm.ctx,
        Some(json!({"expected": "'new_each_run', 'fixed' or 'template'"}))
    );
    assert_eq!(by_field("max_retries").ctx, Some(json!({"le": 100})));
    assert_eq!(by_field("retry_delay_seconds").ctx, Some(json!({"ge": 0})));
    assert_eq!(by_field("is_enabled").kind, "bool_parsing");
    assert_eq!(by_field("payload").kind, "dict_type");
    assert_eq!(by_field("scheduled_at").kind, "datetime_from_date_parsing");
    assert_eq!(by_field("timezone").kind, "string_type");
    assert_eq!(by_field("action_type").msg, "Input should be 'trigger'");
    assert_eq!(errs.len(), 9);
}

#[test]
fn lax_values_are_accepted_as_pydantic_does() {
    let body = json!({"name": "x", "endpoint_id": "e", "namespace_id": "n",
        "max_retries": "3", "is_enabled": "false", "retry_delay_seconds": 5.0,
        "description": null, "action_id": "ignored", "created_at": "ignored"});
    let input = parse_action_body(&body, true).unwrap();
    assert_eq!(input.max_retries, Some(3));
    assert_eq!(input.is_enabled, Some(false));
    assert_eq!(input.retry_delay_seconds, Some(5));
    assert_eq!(input.description, Some(None));
    let errs = parse_action_body(
        &json!({"max_retries": "x", "retry_delay_seconds": 1.5}),
        false,
    )
    .unwrap_err();
    assert_eq!(errs[0].kind, "int_parsing");
    assert_eq!(errs[1].kind, "int_from_float");
}

#[test]
fn a_body_that_is_not_an_object_is_one_error() {
    let errs = parse_action_body(&json!([1]), true).unwrap_err();
    assert_eq!(
        kinds(&errs),
        vec![("model_attributes_type".into(), loc(&["body"]))]
    );
}

#[test]
fn schedule_type_is_inferred_and_semantics_checked() {
    let mut s = spec();
    let input = parse_action_body(&json!({"cron_expression": "0 9 * * *"}), false).unwrap();
    apply(&mut s, &input);
    assert_eq!(s.effective_schedule_type(), ScheduleType::Cron);
    assert!(check_spec(&s, &input, now()).is_empty());

    let mut s = spec();
    let input = parse_action_body(
        &json!({"cron_expression": "61 * * * *", "timezone": "Mars/Olympus",
                "scheduled_at": "2020-01-01T00:00:00Z", "schedule_type": "cron",
                "thread_mode": "template", "payload": {"a": ["{{ date"]}}),
        false,
    )
    .unwrap();
    apply(&mut s, &input);
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
        ]
    );
    assert!(
        errs[0]
            .msg
            .starts_with("Value error, invalid cron expression")
    );
}

#[test]
fn one_time_needs_scheduled_at_and_fixed_needs_thread_id() {
    let mut s = spec();
    let input = parse_action_body(
        &json!({"schedule_type": "one_time", "thread_mode": "fixed"}),
        false,
    )
    .unwrap();
    apply(&mut s, &input);
    let errs = check_spec(&s, &input, now());
    assert_eq!(
        kinds(&errs),
        vec![
            ("value_error".into(), loc(&["body", "scheduled_at"])),
            ("value_error".into(), loc(&["body", "thread_id"])),
        ]
    );
}

#[test]
fn update_patch_names_only_sent_fields_and_nulls_clear() {
    let mut s = spec();
    s.description = Some("old".into());
    let input =
        parse_action_body(&json!({"description": null, "is_enabled": false}), false).unwrap();
    apply(&mut s, &input);
    let patch = spec_patch(&s, &input);
    assert_eq!(
        Value::Object(patch),
        json!({"description": null, "enabled": false})
    );
}

#[test]
fn list_query_limits_cursor_and_status() {
    let q = |pairs: &[(&str, &str)], runs| {
        let v: Vec<(String, String)> = pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        parse_list_query(&v, runs)
    };
    assert_eq!(q(&[], false).unwrap().limit, 50);
    assert_eq!(
        q(&[("limit", "200"), ("search", "x")], false)
            .unwrap()
            .limit,
        200
    );
    let errs = q(&[("limit", "0"), ("cursor", "zzz")], false).unwrap_err();
    assert_eq!(errs[0].kind, "greater_than_equal");
    assert_eq!(errs[0].input, json!("0"));
    assert_eq!(errs[1].loc, loc(&["query", "cursor"]));
    assert_eq!(
        q(&[("limit", "201")], false).unwrap_err()[0].ctx,
        Some(json!({"le": 200}))
    );
    assert_eq!(
        q(&[("limit", "abc")], false).unwrap_err()[0].kind,
        "int_parsing"
    );
    assert_eq!(
        q(&[("status", "failed")], true).unwrap().status,
        Some(RunPhase::Failed)
    );
    assert_eq!(q(&[("status", "done")], true).unwrap_err()[0].kind, "enum");
}

#[test]
fn slugs_are_valid_kubernetes_names() {
    assert_eq!(slug("Daily Report (EU) "), "daily-report-eu");
    assert_eq!(slug("---"), "action");
    assert_eq!(slug("Ünïcode ✓"), "n-code");
    assert!(slug(&"x".repeat(300)).len() <= 50);
}

#[test]
fn trigger_body_is_optional() {
    assert_eq!(parse_trigger_body(None).unwrap(), None);
    assert_eq!(parse_trigger_body(Some(&json!({}))).unwrap(), None);
    let p = parse_trigger_body(Some(&json!({"payload": {"k": 1}}))).unwrap();
    assert_eq!(p.unwrap()["k"], json!(1));
    assert_eq!(
        parse_trigger_body(Some(&json!({"payload": 3}))).unwrap_err()[0].kind,
        "dict_type"
    );
}

fn path_ok(name: &str, value: &str) -> bool {
    check_path(&[(name, value)]).is_empty()
}

#[test]
fn path_ids_follow_the_grammar_of_what_they_name() {
    let label63 = "a".repeat(63);
    let subdomain253 = format!("{}.{}", "a".repeat(126), "b".repeat(126));
    let action63 = format!("{}.{}", "a".repeat(31), "b".repeat(31));
    for (name, value) in [
        ("org_id", "acme"),
        ("org_id", "Acme_Corp.eu-1"),
        ("org_id", "A"),
        ("org_id", label63.as_str()),
        ("workspace_id", "team-a"),
        ("workspace_id", "0"),
        ("workspace_id", label63.as_str()),
        ("app_id", "support-bot"),
        ("app_id", "Support Bot/ü"),
        ("app_id", &"é".repeat(253)),
        ("action_id", "daily-report"),
        ("action_id", "v1.daily"),
        ("action_id", action63.as_str()),
        ("run_id", subdomain253.as_str()),
        ("run_id", "daily-report-m-0a1b2c3d4e"),
        ("run_id", "daily-1772355600"),
    ] {
        assert!(path_ok(name, value), "{name} {value:?} should be valid");
    }
    for (name, value) in [
        ("org_id", ""),
        ("org_id", "-acme"),
        ("org_id", "acme_"),
        ("org_id", "ac me"),
        ("org_id", &"a".repeat(64)),
        ("workspace_id", "Bad_NS"),
        ("workspace_id", "team.a"),
        ("workspace_id", "-team"),
        ("workspace_id", "team-"),
        ("workspace_id", "team\n"),
        ("workspace_id", &"a".repeat(64)),
        ("app_id", ""),
        ("app_id", &"é".repeat(254)),
        ("action_id", "UPPER"),
        ("action_id", "a..b"),
        ("action_id", ".a"),
        ("action_id", "a_b"),
        ("action_id", &"a".repeat(64)),
        ("run_id", "run-"),
        ("run_id", &"r".repeat(254)),
    ] {
        assert!(!path_ok(name, value), "{name} {value:?} should be invalid");
    }
    // What the facade names its Actions is always addressable.
    for name in ["Daily Report (EU) ", "---", &"x".repeat(300)] {
        assert!(path_ok("action_id", &slug(name)), "{name}");
    }
}

#[test]
fn bad_path_ids_have_the_exact_pydantic_bodies_in_path_order() {
    let long_run = "r".repeat(254);
    let errs = check_path(&[
        ("org_id", ""),
        ("workspace_id", "Bad_NS"),
        ("app_id", "support-bot"),
        ("action_id", "UPPER"),
        ("run_id", &long_run),
    ]);
    let body = crate::rest::error::ApiError::Validation(errs).body("t");
    assert_eq!(
        body,
        json!({"detail": [
            {"type": "string_too_short", "loc": ["path", "org_id"],
             "msg": "String should have at least 1 character", "input": "",
             "ctx": {"min_length": 1}},
            {"type": "string_pattern_mismatch", "loc": ["path", "workspace_id"],
             "msg": "String should match pattern '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'",
             "input": "Bad_NS", "ctx": {"pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"}},
            {"type": "string_pattern_mismatch", "loc": ["path", "action_id"],
             "msg": "String should match pattern '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'",
             "input": "UPPER",
             "ctx": {"pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"}},
            {"type": "string_too_long", "loc": ["path", "run_id"],
             "msg": "String should have at most 253 characters", "input": long_run,
             "ctx": {"max_length": 253}},
        ]})
    );
}

#[test]
fn path_length_is_checked_before_the_pattern() {
    let long_bad = "B".repeat(64);
    let errs = check_path(&[("workspace_id", &long_bad), ("org_id", "-x")]);
    assert_eq!(
        kinds(&errs),
        vec![
            ("string_too_long".into(), loc(&["path", "workspace_id"])),
            ("string_pattern_mismatch".into(), loc(&["path", "org_id"])),
        ]
    );
    assert_eq!(errs[0].ctx, Some(json!({"max_length": 63})));
    assert_eq!(
        errs[1].ctx,
        Some(json!({"pattern": "^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"}))
    );
}

#[test]
fn every_path_pattern_compiles_and_the_table_is_in_path_order() {
    let names: Vec<&str> = PATH_PARAMS.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        ["org_id", "workspace_id", "app_id", "action_id", "run_id"]
    );
    assert_eq!(PATH_REGEXES.len(), PATH_PARAMS.len());
    for ((name, g), re) in PATH_PARAMS.iter().zip(PATH_REGEXES.iter()) {
        assert_eq!(g.pattern.is_some(), re.is_some(), "{name}");
    }
    // app_id is spec.app: the Action schema's bounds, no pattern.
    assert_eq!(
        path_grammar("app_id"),
        Some(PathGrammar {
            min_length: 1,
            max_length: 253,
            pattern: None
        })
    );
}
