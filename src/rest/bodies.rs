//! The request bodies as types, for the OpenAPI document only. `validate` reads bodies as raw
//! JSON (so that it can report every invalid field the way Pydantic does), so nothing
//! deserializes into these structs. To keep them true they take their bounds from the constants
//! `validate` checks and their defaults from the spec a create starts from
//! (`validate::new_spec`); the tests drive `validate` with the generated schema.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::Value;

use crate::resources::{ActionSpec, ActionType, JsonObject, ScheduleType, ThreadMode};

/// The body of a create. Read-only and unknown fields are ignored, so a client may send back an
/// Action it got.
#[derive(JsonSchema)]
pub struct ActionCreate {
    /// Human-readable name. A create makes the `action_id` from it; an update keeps the id.
    #[schemars(length(
        min = ActionSpec::DISPLAY_NAME_LENGTH.min,
        max = ActionSpec::DISPLAY_NAME_LENGTH.max
    ))]
    pub name: String,
    /// Free-text description.
    #[schemars(length(
        min = ActionSpec::DESCRIPTION_LENGTH.min,
        max = ActionSpec::DESCRIPTION_LENGTH.max
    ))]
    pub description: Option<String>,
    /// Name of an ActionEndpoint in the workspace; it must exist.
    #[schemars(length(
        min = ActionSpec::ENDPOINT_LENGTH.min,
        max = ActionSpec::ENDPOINT_LENGTH.max
    ))]
    pub endpoint_id: String,
    /// The agent platform's memory namespace, sent to the endpoint as `X-Namespace-Id` (not a
    /// Kubernetes namespace).
    #[schemars(length(
        min = ActionSpec::NAMESPACE_ID_LENGTH.min,
        max = ActionSpec::NAMESPACE_ID_LENGTH.max
    ))]
    pub namespace_id: String,
    /// How each run's conversation thread is chosen: `new_each_run` (a fresh UUID per run),
    /// `fixed` (always `thread_id`) or `template` (`thread_id_template` rendered per run).
    #[serde(default = "defaults::thread_mode")]
    pub thread_mode: ThreadMode,
    /// The thread every run uses. Required when `thread_mode` is `fixed`.
    #[schemars(length(
        min = ActionSpec::THREAD_ID_LENGTH.min,
        max = ActionSpec::THREAD_ID_LENGTH.max
    ))]
    pub thread_id: Option<String>,
    /// A template (Jinja syntax, e.g. `daily-{{ date }}`) rendered per run into the thread id.
    /// Required when `thread_mode` is `template`.
    #[schemars(length(
        min = ActionSpec::THREAD_ID_TEMPLATE_LENGTH.min,
        max = ActionSpec::THREAD_ID_TEMPLATE_LENGTH.max
    ))]
    pub thread_id_template: Option<String>,
    /// The JSON object sent to the endpoint, at most 256 KiB. String values anywhere inside may
    /// be templates (`{{ run_id }}`, `{{ date }}`, ...), rendered per run; each must compile.
    #[serde(default = "defaults::payload")]
    pub payload: JsonObject,
    /// What the Action does; only `trigger` (invoke the endpoint) exists.
    #[serde(default = "defaults::action_type")]
    pub action_type: ActionType,
    /// When the Action fires by itself. When omitted: `cron` if `cron_expression` is sent, else
    /// `one_time` if `scheduled_at` is sent, else `manual`.
    pub schedule_type: Option<ScheduleType>,
    /// Five-field cron expression (Vixie cron semantics), evaluated in `timezone`. Required
    /// when `schedule_type` is `cron`.
    #[schemars(length(
        min = ActionSpec::CRON_EXPRESSION_LENGTH.min,
        max = ActionSpec::CRON_EXPRESSION_LENGTH.max
    ))]
    pub cron_expression: Option<String>,
    /// The instant a `one_time` Action fires; must be in the future. A time without offset is
    /// taken as UTC. Required when `schedule_type` is `one_time`.
    pub scheduled_at: Option<DateTime<Utc>>,
    /// IANA timezone the cron expression is evaluated in, e.g. `Europe/Berlin`.
    #[serde(default = "defaults::timezone")]
    #[schemars(length(
        min = ActionSpec::TIMEZONE_LENGTH.min,
        max = ActionSpec::TIMEZONE_LENGTH.max
    ))]
    pub timezone: String,
    /// Retries after a failed attempt: a run makes at most 1 + `max_retries` attempts.
    #[serde(default = "defaults::max_retries")]
    #[schemars(range(
        min = ActionSpec::MAX_RETRIES_RANGE.min,
        max = ActionSpec::MAX_RETRIES_RANGE.max
    ))]
    pub max_retries: i32,
    /// Seconds to wait between attempts.
    #[serde(default = "defaults::retry_delay_seconds")]
    #[schemars(range(
        min = ActionSpec::RETRY_DELAY_SECONDS_RANGE.min,
        max = ActionSpec::RETRY_DELAY_SECONDS_RANGE.max
    ))]
    pub retry_delay_seconds: i32,
    /// False pauses the schedule; manual triggers still work.
    #[serde(default = "defaults::is_enabled")]
    pub is_enabled: bool,
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
    /// values may be templates).
    pub payload: Option<JsonObject>,
}

/// The defaults of a create: the resource's, read from the spec a create starts from.
mod defaults {
    use crate::resources::{ActionSpec, ActionType, JsonObject, ThreadMode};

    fn spec() -> ActionSpec {
        super::super::validate::new_spec("").expect("the spec of a create has its required fields")
    }

    pub fn thread_mode() -> ThreadMode {
        spec().thread_mode
    }

    pub fn payload() -> JsonObject {
        spec().payload
    }

    pub fn action_type() -> ActionType {
        spec().action_type
    }

    pub fn timezone() -> String {
        spec().timezone
    }

    pub fn max_retries() -> i32 {
        spec().max_retries
    }

    pub fn retry_delay_seconds() -> i32 {
        spec().retry_delay_seconds
    }

    pub fn is_enabled() -> bool {
        spec().enabled
    }
}

#[cfg(test)]
mod tests;
