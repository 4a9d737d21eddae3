use serde_json::{Value, json};

use super::*;

const REFERENCE: &str = include_str!("../../../docs/rest-api-reference.txt");

/// Top-level keys, in order, of the first JSON object after `heading` in the API reference.
pub(crate) fn reference_keys(heading: &str) -> Vec<String> {
    let start = REFERENCE.find(heading).expect("heading in reference");
    let body = &REFERENCE[start..];
    let open = body
        .find("curl")
        .and_then(|c| body[c..].find('{').map(|o| c + o));
    let body = &body[open.expect("object after curl")..];
    let (mut depth, mut keys) = (0, Vec::new());
    for line in body.lines() {
        if depth == 1
            && let Some(key) = line.strip_prefix('"').and_then(|l| l.split('"').next())
        {
            keys.push(key.to_string());
        }
        for c in line.chars() {
            match c {
                '{' | '[' => depth += 1,
                '}' | ']' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                return keys;
            }
        }
    }
    keys
}

fn keys_of(value: &impl Serialize) -> Vec<String> {
    // serde_json::to_string keeps struct field order (a Value would sort it); read the keys back
    // in order from the text.
    let text = serde_json::to_string(value).unwrap();
    let mut de = serde_json::Deserializer::from_str(&text);
    let ordered: OrderedKeys = serde::Deserialize::deserialize(&mut de).unwrap();
    ordered.0
}

struct OrderedKeys(Vec<String>);

impl<'de> serde::Deserialize<'de> for OrderedKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = OrderedKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<OrderedKeys, A::Error> {
                let mut keys = Vec::new();
                while let Some((k, _)) = m.next_entry::<String, serde::de::IgnoredAny>()? {
                    keys.push(k);
                }
                Ok(OrderedKeys(keys))
            }
        }
        d.deserialize_map(V)
    }
}

fn action(extra_spec: Value, status: Value) -> Action {
    let mut spec = json!({
        "app": "support-bot", "endpoint": "agent", "namespaceId": "team",
        "threadMode": "new_each_run", "payload": {"task": "{{ date }}"}, "actionType": "trigger",
        "timezone": "UTC", "maxRetries": 0, "retryDelaySeconds": 60, "enabled": true,
        "concurrencyPolicy": "Allow", "startingDeadlineSeconds": 300,
        "successfulRunsHistoryLimit": 10, "failedRunsHistoryLimit": 10,
    });
    for (k, v) in extra_spec.as_object().unwrap() {
        spec[k] = v.clone();
    }
    serde_json::from_value(json!({
        "apiVersion": "punctual.dev/v1alpha1", "kind": "Action",
        "metadata": {
            "name": "daily", "namespace": "ws-1",
            "creationTimestamp": "2026-03-01T10:00:00Z",
        },
        "spec": spec,
        "status": status,
    }))
    .unwrap()
}

#[test]
fn action_view_has_exactly_the_reference_fields_in_order() {
    let expected = reference_keys("}Get Action\n");
    assert_eq!(expected.len(), 30, "reference parsed: {expected:?}");
    let view = ActionView::from_resource(&action(json!({}), Value::Null));
    assert_eq!(keys_of(&view), expected);
}

#[test]
fn run_view_has_exactly_the_reference_fields_in_order() {
    let expected = reference_keys("}Get Action Run\n");
    assert_eq!(expected.len(), 15, "reference parsed: {expected:?}");
    let view = RunView::from_resource(&run(Value::Null));
    assert_eq!(keys_of(&view), expected);
}

#[test]
fn action_view_maps_spec_and_status() {
    let a = action(
        json!({
            "displayName": "Daily summary", "description": "d", "cronExpression": "0 9 * * *",
            "timezone": "Europe/Berlin", "threadMode": "fixed", "threadId": "t-1",
            "maxRetries": 3, "retryDelaySeconds": 5, "enabled": false,
        }),
        json!({
            "activeRuns": ["daily-1"], "nextRunAt": "2026-03-02T08:00:00Z",
            "lastRunAt": "2026-03-01T08:00:00.250Z", "lastRunStatus": "failed",
            "lastExecutionId": "e-1", "totalRuns": 7, "successfulRuns": 5, "failedRuns": 2,
            "missedRuns": 1, "skippedRuns": 4,
        }),
    );
    let v = serde_json::to_value(ActionView::from_resource(&a)).unwrap();
    let expect = json!({
        "action_id": "daily", "workspace_id": "ws-1", "app_id": "support-bot",
        "endpoint_id": "agent", "name": "Daily summary", "description": "d",
        "namespace_id": "team", "thread_mode": "fixed", "thread_id": "t-1",
        "thread_id_template": null, "payload": {"task": "{{ date }}"}, "action_type": "trigger",
        "schedule_type": "cron", "cron_expression": "0 9 * * *", "scheduled_at": null,
        "timezone": "Europe/Berlin", "max_retries": 3, "retry_delay_seconds": 5,
        "is_enabled": false, "is_running": true, "next_run_at": "2026-03-02T08:00:00Z",
        "last_run_at": "2026-03-01T08:00:00.250Z", "last_run_status": "failed",
        "last_execution_id": "e-1", "total_runs": 7, "successful_runs": 5, "failed_runs": 2,
        "created_by": null, "created_at": "2026-03-01T10:00:00Z",
        "updated_at": "2026-03-01T10:00:00Z",
    });
    assert_eq!(v, expect);
}

#[test]
fn action_view_defaults_without_status() {
    let v = ActionView::from_resource(&action(json!({}), Value::Null));
    assert_eq!(v.name, "daily", "name falls back to metadata.name");
    assert_eq!(v.schedule_type, ScheduleType::Manual);
    assert!(!v.is_running);
    assert_eq!((v.total_runs, v.successful_runs, v.failed_runs), (0, 0, 0));
    assert_eq!(v.next_run_at, None);
    assert_eq!(v.last_run_status, None);
}

#[test]
fn schedule_type_is_inferred_like_the_api() {
    let cron = action(json!({"cronExpression": "* * * * *"}), Value::Null);
    let once = action(json!({"scheduledAt": "2030-01-01T00:00:00Z"}), Value::Null);
    let explicit = action(
        json!({"scheduleType": "manual", "cronExpression": "* * * * *"}),
        Value::Null,
    );
    assert_eq!(
        ActionView::from_resource(&cron).schedule_type,
        ScheduleType::Cron
    );
    assert_eq!(
        ActionView::from_resource(&once).schedule_type,
        ScheduleType::OneTime
    );
    assert_eq!(
        ActionView::from_resource(&explicit).schedule_type,
        ScheduleType::Manual
    );
}

#[test]
fn created_by_comes_from_the_annotation() {
    let mut a = action(json!({}), Value::Null);
    a.metadata.annotations =
        Some([(CREATED_BY_ANNOTATION.to_string(), "alice".to_string())].into());
    assert_eq!(
        ActionView::from_resource(&a).created_by.as_deref(),
        Some("alice")
    );
}

#[test]
fn updated_at_ignores_status_writes() {
    let mut a = action(json!({}), Value::Null);
    a.metadata.managed_fields = Some(
        serde_json::from_value(json!([
            {"manager": "kubectl", "operation": "Apply", "time": "2026-03-05T12:00:00Z"},
            {"manager": "punctual", "operation": "Apply", "subresource": "status",
             "time": "2026-03-09T12:00:00Z"},
            {"manager": "punctual-facade", "operation": "Apply", "time": "2026-03-04T12:00:00Z"},
        ]))
        .unwrap(),
    );
    let v = ActionView::from_resource(&a);
    assert_eq!(format_time(&v.updated_at), "2026-03-05T12:00:00Z");
}

fn run(status: Value) -> ActionRun {
    serde_json::from_value(json!({
        "apiVersion": "punctual.dev/v1alpha1", "kind": "ActionRun",
        "metadata": {
            "name": "daily-1772359200", "namespace": "ws-1",
            "creationTimestamp": "2026-03-01T10:00:01Z",
        },
        "spec": {
            "action": "daily", "triggerType": "scheduled",
            "scheduledAt": "2026-03-01T10:00:00Z", "resolvedPayload": {"task": "2026-03-01"},
            "resolvedThreadId": "t-9", "namespaceId": "team", "endpoint": "agent",
            "maxRetries": 2, "retryDelaySeconds": 60,
        },
        "status": status,
    }))
    .unwrap()
}

#[test]
fn run_view_maps_status() {
    let r = run(json!({
        "status": "failed", "attempt": 3, "triggeredAt": "2026-03-01T10:00:00.5Z",
        "startedAt": "2026-03-01T10:00:01Z", "completedAt": "2026-03-01T10:02:03Z",
        "durationSeconds": 122.0, "executionId": "e-3", "httpStatus": 500,
        "errorCode": "http_error", "errorMessage": "HTTP 500", "output": "boom",
    }));
    let v = serde_json::to_value(RunView::from_resource(&r)).unwrap();
    assert_eq!(
        v,
        json!({
            "run_id": "daily-1772359200", "action_id": "daily", "workspace_id": "ws-1",
            "execution_id": "e-3", "status": "failed", "attempt": 3,
            "trigger_type": "scheduled", "triggered_at": "2026-03-01T10:00:00.500Z",
            "started_at": "2026-03-01T10:00:01Z", "completed_at": "2026-03-01T10:02:03Z",
            "duration_seconds": 122.0, "resolved_payload": {"task": "2026-03-01"},
            "resolved_thread_id": "t-9", "error_message": "HTTP 500", "error_code": "http_error",
        })
    );
}

#[test]
fn run_view_before_the_controller_wrote_status() {
    let v = RunView::from_resource(&run(Value::Null));
    assert_eq!(v.status, RunPhase::Pending);
    assert_eq!(v.attempt, 0);
    assert_eq!(format_time(&v.triggered_at), "2026-03-01T10:00:01Z");
    assert_eq!(v.execution_id, None);
}

#[test]
fn times_are_utc_with_z() {
    let t = DateTime::parse_from_rfc3339("2026-07-01T12:30:00+02:00")
        .unwrap()
        .to_utc();
    assert_eq!(format_time(&t), "2026-07-01T10:30:00Z");
    let t = DateTime::parse_from_rfc3339("2026-07-01T10:30:00.123456Z")
        .unwrap()
        .to_utc();
    assert_eq!(format_time(&t), "2026-07-01T10:30:00.123456Z");
}

#[test]
fn every_writable_field_is_shown_at_its_rest_name() {
    use crate::rest::validate::{Kind, apply, new_spec, parse_action_body};
    // A value of each field that differs from its default, sent in one update.
    let mut body = serde_json::Map::new();
    for field in ACTION_FIELDS {
        let value = match field.kind {
            Kind::Str(length) | Kind::Name(length) => json!("x".repeat(length.min.max(2))),
            Kind::Zone(_) => json!("Europe/Berlin"),
            Kind::Int(range) => json!(range.max),
            Kind::Bool => json!(false),
            Kind::Enum(e) => json!(e.values().last().unwrap()),
            Kind::Object => json!({"k": "v"}),
            Kind::Time => json!("2030-01-01T00:00:00Z"),
        };
        body.insert(field.rest.to_string(), value);
    }
    let body = Value::Object(body);
    let mut spec = new_spec("app").unwrap();
    apply(&mut spec, &parse_action_body(&body, false).unwrap()).unwrap();
    let view = serde_json::to_value(ActionView::from_resource(&Action::new("n", spec))).unwrap();
    for field in ACTION_FIELDS {
        assert_eq!(view[field.rest], body[field.rest], "{}", field.rest);
    }
}

#[test]
fn a_view_computes_next_run_at_until_the_status_observed_the_spec() {
    let now: DateTime<Utc> = "2026-03-01T10:00:30Z".parse().unwrap();
    let cron = json!({"cronExpression": "*/5 * * * *", "scheduleType": "cron"});
    let at = |s: &str| Some(s.parse::<DateTime<Utc>>().unwrap());
    let with_generation = |spec: Value, status: Value, generation: i64| {
        let mut a = action(spec, status);
        a.metadata.generation = Some(generation);
        a
    };

    // Just created: no status yet, so the next slot is computed.
    let created = with_generation(cron.clone(), Value::Null, 1);
    assert_eq!(
        ActionView::current(&created, now).next_run_at,
        at("2026-03-01T10:05:00Z")
    );
    // Reconciled: the status is the truth (here it says another instant, and wins).
    let observed = json!({"observedGeneration": 3, "nextRunAt": "2026-03-01T10:10:00Z"});
    let reconciled = with_generation(cron.clone(), observed.clone(), 3);
    assert_eq!(
        ActionView::current(&reconciled, now).next_run_at,
        at("2026-03-01T10:10:00Z")
    );
    // Disabled a moment ago: the old status still names a slot, the view does not.
    let mut disabled = cron.clone();
    disabled["enabled"] = json!(false);
    let disabled = with_generation(disabled, observed.clone(), 4);
    assert_eq!(ActionView::current(&disabled, now).next_run_at, None);
    // Re-enabled after a disabled status (nextRunAt absent): the next slot from now.
    let was_off = json!({"observedGeneration": 4});
    let enabled = with_generation(cron.clone(), was_off, 5);
    assert_eq!(
        ActionView::current(&enabled, now).next_run_at,
        at("2026-03-01T10:05:00Z")
    );
    // Manual and invalid schedules have none.
    let manual = with_generation(json!({"scheduleType": "manual"}), Value::Null, 1);
    assert_eq!(ActionView::current(&manual, now).next_run_at, None);
    let broken = with_generation(
        json!({"cronExpression": "61 * * * *", "scheduleType": "cron"}),
        Value::Null,
        1,
    );
    assert_eq!(ActionView::current(&broken, now).next_run_at, None);
    // A one_time Action already handled does not come back.
    let once = json!({"scheduleType": "one_time", "scheduledAt": "2026-03-01T12:00:00Z"});
    let fresh = with_generation(once.clone(), Value::Null, 1);
    assert_eq!(
        ActionView::current(&fresh, now).next_run_at,
        at("2026-03-01T12:00:00Z")
    );
    let done = json!({"observedGeneration": 1, "lastScheduleTime": "2026-03-01T12:00:00Z"});
    let edited = with_generation(once, done, 2);
    assert_eq!(ActionView::current(&edited, now).next_run_at, None);
}
