//! Create, update and trigger bodies read as raw JSON into typed input, every invalid field
//! reported at once (docs/rest.md, "Create and update").

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::checks::check_payload;
use super::fields::Fields;
use super::pydantic::not_an_object;
use crate::resources::{ActionSpec, ActionType, JsonObject, ScheduleType, ThreadMode};
use crate::rest::error::FieldError;

/// The fields of a create or update body that were sent. The outer Option is "sent"; the inner
/// one, where present, is an explicit null (which clears an optional field).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ActionInput {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub endpoint_id: Option<String>,
    pub namespace_id: Option<String>,
    pub thread_mode: Option<ThreadMode>,
    pub thread_id: Option<Option<String>>,
    pub thread_id_template: Option<Option<String>>,
    pub payload: Option<JsonObject>,
    pub action_type: Option<ActionType>,
    pub schedule_type: Option<Option<ScheduleType>>,
    pub cron_expression: Option<Option<String>>,
    pub scheduled_at: Option<Option<DateTime<Utc>>>,
    pub timezone: Option<String>,
    pub max_retries: Option<i32>,
    pub retry_delay_seconds: Option<i32>,
    pub is_enabled: Option<bool>,
}

/// Reads a create (`create = true`: name, endpoint_id and namespace_id required) or update body.
/// Read-only and unknown fields are ignored, so a client may send back what it got.
pub fn parse_action_body(body: &Value, create: bool) -> Result<ActionInput, Vec<FieldError>> {
    let Some(obj) = body.as_object() else {
        return Err(vec![not_an_object(body)]);
    };
    let mut errs = Vec::new();
    let mut v = Fields {
        obj,
        errs: &mut errs,
    };
    let input = ActionInput {
        name: v.required_str("name", ActionSpec::DISPLAY_NAME_LENGTH, create),
        description: v.nullable("description", |v| {
            v.str("description", ActionSpec::DESCRIPTION_LENGTH)
        }),
        endpoint_id: v.required_str("endpoint_id", ActionSpec::ENDPOINT_LENGTH, create),
        namespace_id: v.required_str("namespace_id", ActionSpec::NAMESPACE_ID_LENGTH, create),
        thread_mode: v.enumeration("thread_mode", &["new_each_run", "fixed", "template"]),
        thread_id: v.nullable("thread_id", |v| {
            v.str("thread_id", ActionSpec::THREAD_ID_LENGTH)
        }),
        thread_id_template: v.nullable("thread_id_template", |v| {
            v.str("thread_id_template", ActionSpec::THREAD_ID_TEMPLATE_LENGTH)
        }),
        payload: v.dict("payload"),
        action_type: v.enumeration("action_type", &["trigger"]),
        schedule_type: v.nullable("schedule_type", |v| {
            v.enumeration("schedule_type", &["cron", "one_time", "manual"])
        }),
        cron_expression: v.nullable("cron_expression", |v| {
            v.str("cron_expression", ActionSpec::CRON_EXPRESSION_LENGTH)
        }),
        scheduled_at: v.nullable("scheduled_at", |v| v.datetime("scheduled_at")),
        timezone: v.str("timezone", ActionSpec::TIMEZONE_LENGTH),
        max_retries: v.int("max_retries", ActionSpec::MAX_RETRIES_RANGE),
        retry_delay_seconds: v.int("retry_delay_seconds", ActionSpec::RETRY_DELAY_SECONDS_RANGE),
        is_enabled: v.boolean("is_enabled"),
    };
    if errs.is_empty() {
        Ok(input)
    } else {
        Err(errs)
    }
}

/// The optional body of a trigger: `{"payload": {...}}` overrides the payload once.
pub fn parse_trigger_body(body: Option<&Value>) -> Result<Option<JsonObject>, Vec<FieldError>> {
    let Some(body) = body else { return Ok(None) };
    let Some(obj) = body.as_object() else {
        return Err(vec![not_an_object(body)]);
    };
    let mut errs = Vec::new();
    let payload = Fields {
        obj,
        errs: &mut errs,
    }
    .nullable("payload", |v| v.dict("payload"))
    .flatten();
    if let Some(p) = &payload {
        check_payload(p, &mut errs);
    }
    if errs.is_empty() {
        Ok(payload)
    } else {
        Err(errs)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::rest::error::loc;
    use crate::rest::validate::testing::kinds;

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
}
