//! The request bodies as schemas, for the OpenAPI document only. `validate` reads bodies as raw
//! JSON (so that it can report every invalid field the way Pydantic does), so nothing
//! deserializes into these types. The create and update schemas are written from the same
//! table `validate` reads (`model::ACTION_FIELDS`, bounds included), with the defaults of the
//! spec a create starts from (`validate::new_spec`); the tests drive `validate` with them.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::{Map, Value, json};

use super::model::ACTION_FIELDS;
use super::validate::{BodyField, DNS_SUBDOMAIN_PATTERN, Kind, Presence, new_spec};
use crate::resources::{ActionSpec, JsonObject, Length, Range};

/// The body of a create: every field of `ACTION_FIELDS`, the `Required` ones required and the
/// `Defaulted` ones with the resource's default.
pub struct ActionCreate;

impl JsonSchema for ActionCreate {
    fn schema_name() -> Cow<'static, str> {
        "ActionCreate".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let defaults = new_spec("")
            .ok()
            .and_then(|spec| serde_json::to_value(spec).ok())
            .unwrap_or_default();
        let mut properties = Map::new();
        let mut required = Vec::new();
        for field in ACTION_FIELDS {
            let mut property = property(field, generator);
            property.insert("description".into(), field.doc.into());
            if field.presence == Presence::Defaulted
                && let Some(default) = defaults.get(field.spec)
            {
                property.insert("default".into(), default.clone());
            }
            if field.presence == Presence::Required {
                required.push(field.rest);
            }
            properties.insert(field.rest.into(), Value::Object(property));
        }
        json_schema!({
            "type": "object",
            "description": "The body of a create. Read-only and unknown fields are ignored, so a \
                client may send back an Action it got.",
            "properties": properties,
            "required": required,
            "allOf": companion_rules(true),
        })
    }
}

/// The required-if rules of `validate::check_spec`, as (field, value, the field it requires):
/// a `cron` schedule needs its expression, and so on. A unit test drives `check_spec` with
/// every row.
pub const REQUIRED_IF: [(&str, &str, &str); 4] = [
    ("schedule_type", "cron", "cron_expression"),
    ("schedule_type", "one_time", "scheduled_at"),
    ("thread_mode", "fixed", "thread_id"),
    ("thread_mode", "template", "thread_id_template"),
];

/// `REQUIRED_IF` as JSON Schema `if`/`then`, so that the document says what the checks refuse.
/// A create must send the companion; an update that sends the companion must not clear it (one
/// it does not send is the stored value, which no request schema can see).
fn companion_rules(create: bool) -> Vec<Value> {
    REQUIRED_IF
        .iter()
        .map(|(field, value, companion)| {
            let mut then = json!({"properties": {*companion: {"type": "string"}}});
            if create {
                then["required"] = json!([companion]);
            }
            json!({"if": {"properties": {*field: {"const": value}}, "required": [field]},
                   "then": then})
        })
        .collect()
}

/// The schema of one field's value, as the facade reads it (`validate`'s readers).
fn property(field: &BodyField, generator: &mut SchemaGenerator) -> Map<String, Value> {
    let nullable = field.presence == Presence::Nullable;
    let of_type = |name: &str| {
        if nullable {
            json!([name, "null"])
        } else {
            json!(name)
        }
    };
    let schema = match field.kind {
        Kind::Str(Length { min, max }) => {
            json!({"type": of_type("string"), "minLength": min, "maxLength": max})
        }
        Kind::Name(Length { min, max }) => json!({"type": of_type("string"), "minLength": min,
            "maxLength": max, "pattern": DNS_SUBDOMAIN_PATTERN}),
        Kind::Zone(_) => generator.subschema_for::<Timezone>().to_value(),
        Kind::Int(Range { min, max }) => {
            let fits = |n: i64| i32::try_from(n).is_ok();
            let format = if fits(min) && fits(max) {
                "int32"
            } else {
                "int64"
            };
            json!({"type": of_type("integer"), "format": format, "minimum": min, "maximum": max})
        }
        Kind::Bool => json!({"type": of_type("boolean")}),
        Kind::Enum(values) => {
            let reference = values.schema(generator).to_value();
            if nullable {
                json!({"anyOf": [reference, {"type": "null"}]})
            } else {
                reference
            }
        }
        Kind::Object => json!({"type": of_type("object"), "additionalProperties": true}),
        Kind::Time => json!({"type": of_type("string"), "format": "date-time"}),
    };
    match schema {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The IANA time zone names the scheduler accepts, for the document.
pub struct Timezone;

impl JsonSchema for Timezone {
    fn schema_name() -> Cow<'static, str> {
        "Timezone".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let Length { min, max } = ActionSpec::TIMEZONE_LENGTH;
        json_schema!({
            "type": "string",
            "description": "An IANA time zone name (the tz database the scheduler is built with).",
            "minLength": min,
            "maxLength": max,
            "enum": zone_names(),
        })
    }
}

/// Every zone name `cron::parse_timezone` accepts, sorted.
pub fn zone_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect();
    names.sort_unstable();
    names
}

/// The body of an update. Its schema is `ActionCreate`'s with nothing required and no defaults
/// (a field not sent keeps its value); the description below says so to clients.
pub struct ActionUpdate;

impl JsonSchema for ActionUpdate {
    fn schema_name() -> Cow<'static, str> {
        "ActionUpdate".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut schema = ActionCreate::json_schema(generator);
        schema.remove("required");
        schema.insert("allOf".into(), companion_rules(false).into());
        if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
            for property in properties.values_mut().filter_map(Value::as_object_mut) {
                property.remove("default");
            }
        }
        schema.insert(
            "description".into(),
            "The body of an update: the fields of `ActionCreate`, all optional and without \
             defaults; only the fields sent change, and `null` clears an optional one. Read-only \
             and unknown fields are ignored, so a client may send back an Action it got."
                .into(),
        );
        schema
    }
}

/// The optional body of a trigger.
#[derive(JsonSchema)]
pub struct TriggerRequest {
    /// Replaces the Action's payload for this run only (same rules: at most 256 KiB, string
    /// values may be templates, which may also use `variables`).
    pub payload: Option<JsonObject>,
    /// The conversation thread of this run, whatever the Action's thread mode.
    #[schemars(length(
        min = crate::resources::ActionSpec::THREAD_ID_LENGTH.min,
        max = crate::resources::ActionSpec::THREAD_ID_LENGTH.max
    ))]
    pub thread_id: Option<String>,
    /// Extra template variables for this run's payload and thread templates: names are
    /// identifiers (not a built-in variable such as `date`), values strings of at most 4096
    /// characters; at most 64.
    #[schemars(extend(
        "maxProperties" = crate::rest::validate::MAX_VARIABLES,
        "propertyNames" = {"pattern": crate::rest::validate::VARIABLE_NAME_PATTERN},
        "additionalProperties" = {"type": "string",
            "maxLength": crate::rest::validate::VARIABLE_VALUE_LENGTH.max},
    ))]
    pub variables: Option<std::collections::BTreeMap<String, String>>,
}

/// The body of a callback report (docs/agent-calls.md).
#[derive(JsonSchema)]
pub struct CallbackReport {
    /// How the call ended.
    #[schemars(extend("enum" = ["succeeded", "failed"]))]
    pub status: String,
    /// What the agent answered (the first 4 KiB are kept).
    pub output: Option<String>,
    /// Why it failed (the first 1 KiB is kept).
    pub error_message: Option<String>,
}

#[cfg(test)]
mod tests;
