//! Sent fields onto a spec: the spec a create starts from, applying the input, and the merge
//! patch of an update (docs/rest.md, "Reads and writes").

use serde_json::{Map, Value, json};

use super::body::ActionInput;
use crate::resources::ActionSpec;

/// The spec a create starts from: the resource's own defaults, with the required fields empty
/// until `apply` sets them. The create body's documented defaults are read from it too.
pub fn new_spec(app_id: &str) -> Result<ActionSpec, serde_json::Error> {
    serde_json::from_value(json!({ "app": app_id, "endpoint": "", "namespaceId": "" }))
}

/// Applies the sent fields to `spec`. Create infers `schedule_type` as docs/rest.md ("Create and update") says.
pub fn apply(spec: &mut ActionSpec, input: &ActionInput) {
    if let Some(n) = &input.name {
        spec.display_name = Some(n.clone());
    }
    if let Some(d) = &input.description {
        spec.description = d.clone();
    }
    if let Some(e) = &input.endpoint_id {
        spec.endpoint = e.clone();
    }
    if let Some(n) = &input.namespace_id {
        spec.namespace_id = n.clone();
    }
    if let Some(m) = input.thread_mode {
        spec.thread_mode = m;
    }
    if let Some(t) = &input.thread_id {
        spec.thread_id = t.clone();
    }
    if let Some(t) = &input.thread_id_template {
        spec.thread_id_template = t.clone();
    }
    if let Some(p) = &input.payload {
        spec.payload = p.clone();
    }
    if let Some(a) = input.action_type {
        spec.action_type = a;
    }
    if let Some(s) = input.schedule_type {
        spec.schedule_type = s;
    }
    if let Some(c) = &input.cron_expression {
        spec.cron_expression = c.clone();
    }
    if let Some(s) = input.scheduled_at {
        spec.scheduled_at = s;
    }
    if let Some(t) = &input.timezone {
        spec.timezone = t.clone();
    }
    if let Some(m) = input.max_retries {
        spec.max_retries = m;
    }
    if let Some(r) = input.retry_delay_seconds {
        spec.retry_delay_seconds = r;
    }
    if let Some(e) = input.is_enabled {
        spec.enabled = e;
    }
}

/// The spec fields (camelCase) an update changes, for a JSON merge patch that touches nothing
/// else (fields set by kubectl and not sent stay as they are). Null removes a field.
pub fn spec_patch(spec: &ActionSpec, input: &ActionInput) -> Map<String, Value> {
    let full = serde_json::to_value(spec).unwrap_or_default();
    let sent: [(&str, bool); 16] = [
        ("displayName", input.name.is_some()),
        ("description", input.description.is_some()),
        ("endpoint", input.endpoint_id.is_some()),
        ("namespaceId", input.namespace_id.is_some()),
        ("threadMode", input.thread_mode.is_some()),
        ("threadId", input.thread_id.is_some()),
        ("threadIdTemplate", input.thread_id_template.is_some()),
        ("payload", input.payload.is_some()),
        ("actionType", input.action_type.is_some()),
        ("scheduleType", input.schedule_type.is_some()),
        ("cronExpression", input.cron_expression.is_some()),
        ("scheduledAt", input.scheduled_at.is_some()),
        ("timezone", input.timezone.is_some()),
        ("maxRetries", input.max_retries.is_some()),
        ("retryDelaySeconds", input.retry_delay_seconds.is_some()),
        ("enabled", input.is_enabled.is_some()),
    ];
    sent.iter()
        .filter(|(_, s)| *s)
        .map(|(k, _)| {
            (
                (*k).to_string(),
                full.get(*k).cloned().unwrap_or(Value::Null),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rest::validate::parse_action_body;
    use crate::rest::validate::testing::spec;

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
}
