//! Create, update and trigger bodies read as raw JSON into typed input, every invalid field
//! reported at once (docs/rest.md, "Create and update").

use chrono::{DateTime, Utc};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::Value;

use super::fields::Fields;
use super::pydantic::not_an_object;
use crate::resources::{Length, Range};
use crate::rest::error::FieldError;
use crate::rest::model::ACTION_FIELDS;

/// One REST-writable Action field: a row of `model::ACTION_FIELDS`. Reading a body, applying it
/// to the spec, the update's patch and the body schemas of the OpenAPI document all follow
/// these rows (docs/rest.md, "Where a field's rules live").
#[derive(Debug, Clone, Copy)]
pub struct BodyField {
    /// The name in REST bodies and views.
    pub rest: &'static str,
    /// The key of the `ActionSpec` field it sets, as serialized (camelCase).
    pub spec: &'static str,
    pub kind: Kind,
    pub presence: Presence,
    /// The description in the OpenAPI body schemas.
    pub doc: &'static str,
}

/// What a field's value is, with its bounds (the constants next to `ActionSpec`).
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Str(Length),
    /// The name of a Kubernetes object the facade looks up (a DNS-1123 subdomain,
    /// `DNS_SUBDOMAIN_PATTERN`): it goes into an API server URL, so it is checked against its
    /// grammar before any request (length first, then the pattern, as Pydantic does).
    Name(Length),
    /// An IANA time zone name, of `Length`. The document lists the names (`zone_names`); the
    /// name is checked with the scheduler's own `parse_timezone` among the checks beyond types,
    /// so an unknown one is a `value_error` with a suggestion, not an `enum` error listing
    /// hundreds of names.
    Zone(Length),
    Int(Range),
    Bool,
    Enum(EnumKind),
    /// A JSON object, kept as sent.
    Object,
    /// An instant (RFC 3339, or as Pydantic reads dates and times).
    Time,
}

/// Whether a field must be sent, and what leaving it out or sending `null` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// A create must send it; `null` is a type error.
    Required,
    /// Optional; a create without it stores the resource's default.
    Defaulted,
    /// Optional, without default; `null` clears it.
    Nullable,
}

/// A field whose values are a Rust enum's: read from its schema (the serde names), never
/// retyped, and documented by reference to its component schema.
#[derive(Debug, Clone, Copy)]
pub struct EnumKind {
    values: fn() -> Vec<String>,
    schema: fn(&mut SchemaGenerator) -> Schema,
}

impl EnumKind {
    pub const fn of<T: JsonSchema>() -> Self {
        Self {
            values: enum_values::<T>,
            schema: SchemaGenerator::subschema_for::<T>,
        }
    }

    /// The serialized values, in declaration order.
    pub fn values(&self) -> Vec<String> {
        (self.values)()
    }

    /// The enum's schema as a `$ref` into the generator's definitions.
    pub fn schema(&self, generator: &mut SchemaGenerator) -> Schema {
        (self.schema)(generator)
    }
}

/// The serialized names of an enum's variants, in declaration order, from its schema: schemars
/// writes `enum` for undocumented variants and a `oneOf` of `const`s for documented ones.
pub fn enum_values<T: JsonSchema>() -> Vec<String> {
    let schema = schemars::schema_for!(T);
    let listed = schema.get("enum").and_then(Value::as_array).cloned();
    let consts = || {
        let variants = schema.get("oneOf").and_then(Value::as_array);
        variants
            .into_iter()
            .flatten()
            .filter_map(|v| v.get("const").cloned())
            .collect()
    };
    listed
        .unwrap_or_else(consts)
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// The fields of a create or update body that were sent, in `ACTION_FIELDS` order, each with
/// its value as the spec stores it; `Value::Null` is an explicit null, which clears the field.
#[derive(Debug, Default, Clone)]
pub struct ActionInput {
    sent: Vec<(&'static BodyField, Value)>,
}

impl ActionInput {
    /// Every sent field with its value.
    pub fn sent(&self) -> impl Iterator<Item = (&'static BodyField, &Value)> {
        self.sent.iter().map(|(field, value)| (*field, value))
    }

    /// The value sent for the REST field `rest`, if it was sent.
    pub fn get(&self, rest: &str) -> Option<&Value> {
        debug_assert!(
            ACTION_FIELDS.iter().any(|f| f.rest == rest),
            "{rest} is not in ACTION_FIELDS"
        );
        self.sent()
            .find(|(field, _)| field.rest == rest)
            .map(|(_, value)| value)
    }

    /// The string sent for `rest`, if one was.
    pub fn str(&self, rest: &str) -> Option<&str> {
        self.get(rest).and_then(Value::as_str)
    }

    /// The instant sent for `rest`, if one was.
    pub fn time(&self, rest: &str) -> Option<DateTime<Utc>> {
        let text = self.str(rest)?;
        DateTime::parse_from_rfc3339(text).ok().map(|t| t.to_utc())
    }
}

/// Reads a create (`create = true`: the `Required` fields must be sent) or update body, field by
/// field in `ACTION_FIELDS` order. Read-only and unknown fields are ignored, so a client may
/// send back what it got.
pub fn parse_action_body(body: &Value, create: bool) -> Result<ActionInput, Vec<FieldError>> {
    read_action_body(body, create).map_err(|(errs, _)| errs)
}

/// `parse_action_body`, with the fields that did type-check beside the type errors.
pub(super) fn read_action_body(
    body: &Value,
    create: bool,
) -> Result<ActionInput, (Vec<FieldError>, ActionInput)> {
    let Some(obj) = body.as_object() else {
        return Err((vec![not_an_object(body)], ActionInput::default()));
    };
    let mut errs = Vec::new();
    let mut v = Fields {
        obj,
        errs: &mut errs,
    };
    let sent = ACTION_FIELDS
        .iter()
        .filter_map(|field| Some((field, v.field(field, create)?)))
        .collect();
    if errs.is_empty() {
        Ok(ActionInput { sent })
    } else {
        Err((errs, ActionInput { sent }))
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
        assert_eq!(input.get("max_retries"), Some(&json!(3)));
        assert_eq!(input.get("is_enabled"), Some(&json!(false)));
        assert_eq!(input.get("retry_delay_seconds"), Some(&json!(5)));
        assert_eq!(input.get("description"), Some(&Value::Null));
        let errs = parse_action_body(
            &json!({"max_retries": "x", "retry_delay_seconds": 1.5}),
            false,
        )
        .unwrap_err();
        assert_eq!(errs[0].kind, "int_parsing");
        assert_eq!(errs[1].kind, "int_from_float");
    }

    #[test]
    fn only_nullable_fields_may_be_null() {
        let body = json!({"thread_mode": null, "payload": null, "action_type": null,
            "timezone": null, "max_retries": null, "is_enabled": null, "description": null,
            "schedule_type": null, "scheduled_at": null});
        for create in [true, false] {
            let errs = parse_action_body(&body, create).unwrap_err();
            let nulls: Vec<_> = errs.iter().filter(|e| e.input.is_null()).collect();
            let kinds: Vec<(&str, &Value)> = nulls
                .iter()
                .filter(|e| e.kind != "missing")
                .map(|e| (e.kind.as_str(), &e.loc[1]))
                .collect();
            assert_eq!(
                kinds,
                vec![
                    ("enum", &json!("thread_mode")),
                    ("dict_type", &json!("payload")),
                    ("enum", &json!("action_type")),
                    ("string_type", &json!("timezone")),
                    ("int_type", &json!("max_retries")),
                    ("bool_type", &json!("is_enabled")),
                ],
                "create: {create}"
            );
        }
    }

    #[test]
    fn a_body_that_is_not_an_object_is_one_error() {
        let errs = parse_action_body(&json!([1]), true).unwrap_err();
        assert_eq!(
            kinds(&errs),
            vec![("model_attributes_type".into(), loc(&["body"]))]
        );
    }
}
