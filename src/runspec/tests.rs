use chrono::TimeZone;
use serde_json::json;

use super::*;

fn action(spec: serde_json::Value) -> Action {
    let mut full = json!({"app": "app-1", "endpoint": "agent", "namespaceId": "mem-1"});
    for (k, v) in spec.as_object().cloned().unwrap_or_default() {
        full[k] = v;
    }
    serde_json::from_value(json!({
        "apiVersion": "punctual.dev/v1alpha1", "kind": "Action",
        "metadata": {"name": "daily", "namespace": "ws-1", "uid": "u-1"},
        "spec": full,
    }))
    .unwrap()
}

fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

const RANDOM: uuid::Uuid = uuid::Uuid::from_u128(0x1234_5678_9abc_def0_1234_5678_9abc_def0);

#[test]
fn execution_ids_differ_per_attempt_and_per_run_and_are_stable() {
    let a1 = execution_id("uid-a", 1);
    assert_eq!(a1, execution_id("uid-a", 1));
    assert_ne!(a1, execution_id("uid-a", 2));
    assert_ne!(a1, execution_id("uid-b", 1));
}

#[test]
fn every_variable_renders() {
    let a = action(json!({
        "displayName": "Daily digest",
        "timezone": "Asia/Tokyo",
        "threadMode": "fixed", "threadId": "th-9",
        "payload": {
            "all": "{{ action_id }}|{{ action_name }}|{{ run_id }}|{{ workspace_id }}|{{ app_id }}|\
    {{ namespace_id }}|{{ thread_id }}|{{ trigger_type }}|{{ scheduled_at }}|{{ triggered_at }}|\
    {{ now }}|{{ date }}"
        }
    }));
    let slot = at(2026, 3, 1, 15, 30); // 00:30 on March 2 in Tokyo
    let now = slot + chrono::Duration::seconds(1);
    let run = build_run(&a, Trigger::Scheduled(slot), now, RANDOM, None);
    assert_eq!(run.spec.resolve_error, None);
    assert_eq!(
        run.spec.resolved_payload["all"],
        json!(
            "daily|Daily digest|daily-1772379000|ws-1|app-1|mem-1|th-9|scheduled|\
2026-03-01T15:30:00Z|2026-03-01T15:30:01Z|2026-03-01T15:30:01Z|2026-03-02"
        )
    );
}

#[test]
fn manual_runs_have_an_empty_scheduled_at_and_the_date_of_now() {
    let a = action(json!({"payload": {"s": "[{{ scheduled_at }}] {{ trigger_type }} {{ date }}"}}));
    let run = build_run(&a, Trigger::Manual, at(2026, 12, 31, 23, 59), RANDOM, None);
    assert_eq!(
        run.spec.resolved_payload["s"],
        json!("[] manual 2026-12-31")
    );
    assert_eq!(run.spec.resolved_thread_id, Some(RANDOM.to_string()));
}

#[test]
fn thread_template_renders_and_payload_sees_the_thread() {
    let a = action(json!({
        "threadMode": "template", "threadIdTemplate": "{{ app_id }}-{{ date }}",
        "payload": {"thread": "{{ thread_id }}"}
    }));
    let run = build_run(&a, Trigger::Manual, at(2026, 5, 4, 10, 0), RANDOM, None);
    assert_eq!(
        run.spec.resolved_thread_id.as_deref(),
        Some("app-1-2026-05-04")
    );
    assert_eq!(
        run.spec.resolved_payload["thread"],
        json!("app-1-2026-05-04")
    );
}

#[test]
fn a_missing_variable_is_an_error_and_the_run_still_exists() {
    let a = action(json!({"payload": {"deep": {"x": ["ok", "{{ no_such_var }}"]}}}));
    let run = build_run(&a, Trigger::Manual, at(2026, 5, 4, 10, 0), RANDOM, None);
    let err = run.spec.resolve_error.expect("a resolve error");
    assert!(err.starts_with("payload.deep.x[1]:"), "{err}");
    assert!(err.contains("undefined"), "{err}");
    // Kept unrendered, so the failure can be seen on the run.
    assert_eq!(
        run.spec.resolved_payload["deep"]["x"][1],
        json!("{{ no_such_var }}")
    );
}

#[test]
fn thread_id_is_not_a_variable_of_the_thread_template() {
    let a = action(json!({"threadMode": "template", "threadIdTemplate": "t-{{ thread_id }}"}));
    let run = build_run(&a, Trigger::Manual, at(2026, 5, 4, 10, 0), RANDOM, None);
    assert!(
        run.spec
            .resolve_error
            .unwrap()
            .starts_with("threadIdTemplate:")
    );
    assert_eq!(run.spec.resolved_thread_id, None);
}

#[test]
fn a_syntax_error_is_an_error() {
    let a = action(json!({"payload": {"p": "{{ run_id "}}));
    let run = build_run(&a, Trigger::Manual, at(2026, 5, 4, 10, 0), RANDOM, None);
    assert!(run.spec.resolve_error.unwrap().contains("syntax"));
}

#[test]
fn the_save_time_check_finds_what_a_run_would_fail_on() {
    let check = |t: &str| template::check("p", t, &payload_variables()).map_err(|e| e.message);
    assert_eq!(check("plain text"), Ok(()));
    assert_eq!(
        check("{{ date }} {{ thread_id | upper }} {{ range(3) | list }}"),
        Ok(())
    );
    assert_eq!(
        check("{% for x in [1] %}{{ loop.index }}{{ x }}{% endfor %}"),
        Ok(())
    );
    assert!(check("{% if %}").unwrap_err().contains("syntax"));
    let undefined =
        check("{{ nope }} and {% if trigger_type == 'manual' %}{{ zed }}{% endif %}").unwrap_err();
    assert!(
        undefined.starts_with("undefined variables `nope`, `zed` (available: action_id,"),
        "{undefined}"
    );
    // A branch only a manual run takes is rendered too.
    let manual_only = check("{% if trigger_type == 'manual' %}{{ zed }}{% endif %}").unwrap_err();
    assert!(
        manual_only.starts_with("undefined variable `zed`"),
        "{manual_only}"
    );
    // A guarded name is a trigger's to fill.
    assert_eq!(check("{{ topic | default('all') }}"), Ok(()));
    assert_eq!(
        check("{% if topic is defined %}{{ topic }}{% endif %}"),
        Ok(())
    );
    assert!(
        check("{{ date | no_such_filter }}")
            .unwrap_err()
            .contains("filter")
    );
    // thread_id is not available to the thread template itself.
    assert!(
        template::check("threadIdTemplate", "t-{{ thread_id }}", THREAD_VARIABLES)
            .unwrap_err()
            .message
            .contains("`thread_id`")
    );
    let payload =
        serde_json::from_value(json!({"a": ["ok", "{{ x }}"], "b": {"c": "{{ y"}})).unwrap();
    let all = template::check_all(Some("{{ nope }}"), &payload, &[]);
    let at: Vec<&str> = all.iter().map(|e| e.location.as_str()).collect();
    assert_eq!(at, ["threadIdTemplate", "payload.a[1]", "payload.b.c"]);
}

#[test]
fn the_variable_lists_name_exactly_what_a_run_provides() {
    let a = action(json!({}));
    let vars = template_vars(&a, "r", TriggerType::Manual, None, at(2026, 5, 4, 10, 0));
    let names: Vec<&str> = vars.keys().map(String::as_str).collect();
    assert_eq!(names, THREAD_VARIABLES);
    let mut with_thread = names.clone();
    with_thread.push("thread_id");
    with_thread.sort();
    assert_eq!(with_thread, payload_variables());
}

#[test]
fn non_string_leaves_and_keys_are_untouched_and_nesting_is_rendered() {
    let payload = json!({
        "{{ key }}": 1,
        "n": 2.5, "b": true, "z": null,
        "list": [1, "{{ app_id }}", {"inner": "{{ namespace_id|upper }}"}, [false, "x"]],
        "obj": {"deeper": {"deepest": "{{ action_id }}"}}
    });
    let a = action(json!({"payload": payload}));
    let run = build_run(&a, Trigger::Manual, at(2026, 5, 4, 10, 0), RANDOM, None);
    assert_eq!(run.spec.resolve_error, None);
    assert_eq!(
        serde_json::Value::Object(run.spec.resolved_payload),
        json!({
            "{{ key }}": 1,
            "n": 2.5, "b": true, "z": null,
            "list": [1, "app-1", {"inner": "MEM-1"}, [false, "x"]],
            "obj": {"deeper": {"deepest": "daily"}}
        })
    );
}

#[test]
fn a_payload_override_is_rendered_too() {
    let a = action(json!({"payload": {"a": "x"}}));
    let over = json!({"b": "{{ run_id }}"}).as_object().cloned().unwrap();
    let run = build_run(
        &a,
        Trigger::Manual,
        at(2026, 5, 4, 10, 0),
        RANDOM,
        Some(&over),
    );
    let name = run.metadata.name.clone().unwrap();
    assert_eq!(
        serde_json::Value::Object(run.spec.resolved_payload),
        json!({"b": name})
    );
}

#[test]
fn a_trigger_sets_the_thread_and_extra_variables_of_its_run() {
    let a = action(
        json!({"threadMode": "template", "threadIdTemplate": "t-{{ date }}",
                          "payload": {"ask": "{{ topic }} in {{ thread_id }}"}}),
    );
    let overrides = Overrides {
        thread_id: Some("support-42".into()),
        variables: [("topic".to_string(), "billing".to_string())].into(),
        ..Overrides::default()
    };
    let run = build_run_with(
        &a,
        Trigger::Manual,
        at(2026, 5, 4, 10, 0),
        RANDOM,
        &overrides,
    );
    assert_eq!(run.spec.resolve_error, None);
    assert_eq!(run.spec.resolved_thread_id.as_deref(), Some("support-42"));
    assert_eq!(run.spec.resolved_payload["ask"], "billing in support-42");
    assert_eq!(run.spec.variables, overrides.variables);
    // A built-in wins over an extra variable of the same name.
    let shadow = Overrides {
        variables: [("date".to_string(), "not-a-date".to_string())].into(),
        ..Overrides::default()
    };
    let plain = action(json!({"payload": {"d": "{{ date }}"}}));
    let run = build_run_with(
        &plain,
        Trigger::Manual,
        at(2026, 5, 4, 10, 0),
        RANDOM,
        &shadow,
    );
    assert_eq!(run.spec.resolved_payload["d"], "2026-05-04");
}
