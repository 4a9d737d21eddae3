//! Sent fields onto a spec: the spec a create starts from, applying the input, and the JSON
//! patch of an update (docs/rest.md, "Reads and writes").

use serde_json::{Map, Value, json};

use super::body::ActionInput;
use crate::resources::ActionSpec;

/// The spec a create starts from: the resource's own defaults, with the required fields empty
/// until `apply` sets them. The create body's documented defaults are read from it too.
pub fn new_spec(app_id: &str) -> Result<ActionSpec, serde_json::Error> {
    serde_json::from_value(json!({ "app": app_id, "endpoint": "", "namespaceId": "" }))
}

/// Applies the sent fields to `spec`, through its JSON form: each sent value is what the spec
/// stores at the field's key, and a null removes the key (the field's default, None). Create
/// infers `schedule_type` afterwards, as docs/rest.md ("Create and update") says. An error is a
/// bug: every sent value was checked against its field's kind.
pub fn apply(spec: &mut ActionSpec, input: &ActionInput) -> Result<(), serde_json::Error> {
    let mut fields = match serde_json::to_value(&*spec)? {
        Value::Object(fields) => fields,
        _ => Map::new(),
    };
    for (field, value) in input.sent() {
        if value.is_null() {
            fields.remove(field.spec);
        } else {
            fields.insert(field.spec.to_string(), value.clone());
        }
    }
    *spec = serde_json::from_value(Value::Object(fields))?;
    Ok(())
}

/// The JSON Patch operations of an update, on the spec `stored` as it was read: each sent field
/// replaces the stored value whole (`add` replaces an existing member), a null removes it, and
/// nothing else is touched (fields set by kubectl and not sent stay). A JSON merge patch would
/// merge objects key by key (an old payload key would survive a new payload) and could not store
/// a null inside the payload.
pub fn spec_ops(stored: &ActionSpec, spec: &ActionSpec, input: &ActionInput) -> Vec<Value> {
    let stored = serde_json::to_value(stored).unwrap_or_default();
    let full = serde_json::to_value(spec).unwrap_or_default();
    input
        .sent()
        .filter_map(|(field, _)| {
            let path = format!("/spec/{}", field.spec);
            match full.get(field.spec) {
                Some(value) => Some(json!({"op": "add", "path": path, "value": value})),
                // Removing an absent member fails the whole patch; absent is already removed.
                None => stored
                    .get(field.spec)
                    .map(|_| json!({"op": "remove", "path": path})),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rest::validate::parse_action_body;
    use crate::rest::validate::testing::spec;

    #[test]
    fn apply_through_json_keeps_what_was_not_sent() {
        let full: ActionSpec = serde_json::from_value(json!({
            "displayName": "Daily", "description": "d", "app": "a", "endpoint": "e",
            "namespaceId": "n", "threadMode": "fixed", "threadId": "t",
            "threadIdTemplate": "x-{{ date }}", "payload": {"k": [1, {"z": null}]},
            "actionType": "trigger", "scheduleType": "cron", "cronExpression": "0 9 * * *",
            "scheduledAt": "2026-03-01T12:00:00.123456789Z", "timezone": "Europe/Berlin",
            "maxRetries": 3, "retryDelaySeconds": 5, "enabled": false, "timeoutSeconds": 7,
            "concurrencyPolicy": "Forbid", "startingDeadlineSeconds": 9,
            "successfulRunsHistoryLimit": 1, "failedRunsHistoryLimit": 2,
        }))
        .unwrap();
        let mut s = full.clone();
        apply(&mut s, &parse_action_body(&json!({}), false).unwrap()).unwrap();
        assert_eq!(s, full);
        let input = parse_action_body(
            &json!({"scheduled_at": "2026-04-01T08:00:00.5+02:00", "thread_id": null,
                    "thread_mode": "new_each_run", "max_retries": "4", "name": "N"}),
            false,
        )
        .unwrap();
        apply(&mut s, &input).unwrap();
        assert_eq!(
            s.scheduled_at.map(|t| t.to_rfc3339()),
            Some("2026-04-01T06:00:00.500+00:00".to_string())
        );
        assert_eq!(s.thread_id, None);
        assert_eq!(s.thread_mode, crate::resources::ThreadMode::NewEachRun);
        assert_eq!(s.max_retries, 4);
        assert_eq!(s.display_name.as_deref(), Some("N"));
        assert_eq!(s.timeout_seconds, Some(7));
    }

    #[test]
    fn update_ops_replace_sent_fields_whole_and_nulls_clear() {
        let mut stored = spec();
        stored.description = Some("old".into());
        stored.payload = serde_json::from_value(json!({"greeting": "hello", "keep": 1})).unwrap();
        let input = parse_action_body(
            &json!({"description": null, "thread_id": null, "is_enabled": false,
                    "payload": {"greeting": "hi", "nothing": null, "deep": {"n": null}}}),
            false,
        )
        .unwrap();
        let mut s = stored.clone();
        apply(&mut s, &input).unwrap();
        let ops = spec_ops(&stored, &s, &input);
        // thread_id was never set: no remove op for it (it would fail the patch).
        assert_eq!(
            Value::Array(ops),
            json!([
                {"op": "remove", "path": "/spec/description"},
                {"op": "add", "path": "/spec/payload",
                 "value": {"greeting": "hi", "nothing": null, "deep": {"n": null}}},
                {"op": "add", "path": "/spec/enabled", "value": false},
            ])
        );
    }
}
