//! The REST view of Actions and runs: snake_case JSON with exactly the fields, in exactly the
//! order, of the API reference (`docs/rest-api-reference.txt`), mapped from the resources.
//!
//! Decisions where the resources and the reference differ:
//! - `created_by` is the annotation `punctual.dev/created-by`, set by the facade from the
//!   authenticated user; manifests applied with kubectl have none (null).
//! - `updated_at` is the latest change to the spec or metadata by any client, read from
//!   `metadata.managedFields` (status writes by the controller do not count); without managed
//!   fields it is the creation time.
//! - A run's `triggered_at` is `status.triggeredAt`, or the run's creation time before the
//!   controller has written a status.

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize, Serializer};

use crate::resources::{
    Action, ActionRun, ActionSpec, ActionType, JsonObject, RunPhase, ScheduleType, ThreadMode,
    TriggerType,
};
use crate::rest::validate::{BodyField, EnumKind, Kind, Presence};

/// Annotation holding the user who created an Action through the facade.
pub const CREATED_BY_ANNOTATION: &str = "punctual.dev/created-by";

/// The Action fields a REST client writes, in the order of the reference (and of a body's
/// errors), each with its `ActionSpec` key, its kind with the bounds declared next to the spec,
/// and its presence. Reading bodies, applying them, the update's patch and the OpenAPI
/// body schemas follow this table; `ActionView` shows each field, and a test checks every row
/// against the CRD (docs/rest.md, "Where a field's rules live").
pub const ACTION_FIELDS: &[BodyField] = &[
    BodyField {
        rest: "name",
        spec: "displayName",
        kind: Kind::Str(ActionSpec::DISPLAY_NAME_LENGTH),
        presence: Presence::Required,
        doc: "Human-readable name. A create makes the `action_id` from it; an update keeps the id.",
    },
    BodyField {
        rest: "description",
        spec: "description",
        kind: Kind::Str(ActionSpec::DESCRIPTION_LENGTH),
        presence: Presence::Nullable,
        doc: "Free-text description.",
    },
    BodyField {
        rest: "endpoint_id",
        spec: "endpoint",
        kind: Kind::Name(ActionSpec::ENDPOINT_LENGTH),
        presence: Presence::Required,
        doc: "Name of an ActionEndpoint in the workspace; it must exist.",
    },
    BodyField {
        rest: "namespace_id",
        spec: "namespaceId",
        kind: Kind::Str(ActionSpec::NAMESPACE_ID_LENGTH),
        presence: Presence::Required,
        doc: "The agent platform's memory namespace, sent to the endpoint as `X-Namespace-Id` (not \
            a Kubernetes namespace).",
    },
    BodyField {
        rest: "thread_mode",
        spec: "threadMode",
        kind: Kind::Enum(EnumKind::of::<ThreadMode>()),
        presence: Presence::Defaulted,
        doc: "How each run's conversation thread is chosen: `new_each_run` (a fresh UUID per run), \
            `fixed` (always `thread_id`) or `template` (`thread_id_template` rendered per run).",
    },
    BodyField {
        rest: "thread_id",
        spec: "threadId",
        kind: Kind::Str(ActionSpec::THREAD_ID_LENGTH),
        presence: Presence::Nullable,
        doc: "The thread every run uses. Required when `thread_mode` is `fixed`.",
    },
    BodyField {
        rest: "thread_id_template",
        spec: "threadIdTemplate",
        kind: Kind::Str(ActionSpec::THREAD_ID_TEMPLATE_LENGTH),
        presence: Presence::Nullable,
        doc: "A template (Jinja syntax, e.g. `daily-{{ date }}`) rendered per run into the thread \
            id. Required when `thread_mode` is `template`.",
    },
    BodyField {
        rest: "payload",
        spec: "payload",
        kind: Kind::Object,
        presence: Presence::Defaulted,
        doc: "The JSON object sent to the endpoint, at most 256 KiB. String values anywhere inside \
            may be templates (`{{ run_id }}`, `{{ date }}`, ...), rendered per run; each must \
            compile.",
    },
    BodyField {
        rest: "action_type",
        spec: "actionType",
        kind: Kind::Enum(EnumKind::of::<ActionType>()),
        presence: Presence::Defaulted,
        doc: "What the Action does; only `trigger` (invoke the endpoint) exists.",
    },
    BodyField {
        rest: "schedule_type",
        spec: "scheduleType",
        kind: Kind::Enum(EnumKind::of::<ScheduleType>()),
        presence: Presence::Nullable,
        doc: "When the Action fires by itself. When omitted: `cron` if `cron_expression` is sent, \
            else `one_time` if `scheduled_at` is sent, else `manual`.",
    },
    BodyField {
        rest: "cron_expression",
        spec: "cronExpression",
        kind: Kind::Str(ActionSpec::CRON_EXPRESSION_LENGTH),
        presence: Presence::Nullable,
        doc: "Five-field cron expression (Vixie cron semantics), evaluated in `timezone`. Required \
            when `schedule_type` is `cron`.",
    },
    BodyField {
        rest: "scheduled_at",
        spec: "scheduledAt",
        kind: Kind::Time,
        presence: Presence::Nullable,
        doc: "The instant a `one_time` Action fires; must be in the future. A time without offset \
            is taken as UTC. Required when `schedule_type` is `one_time`.",
    },
    BodyField {
        rest: "timezone",
        spec: "timezone",
        kind: Kind::Zone(ActionSpec::TIMEZONE_LENGTH),
        presence: Presence::Defaulted,
        doc: "IANA timezone the cron expression is evaluated in, e.g. `Europe/Berlin`.",
    },
    BodyField {
        rest: "max_retries",
        spec: "maxRetries",
        kind: Kind::Int(ActionSpec::MAX_RETRIES_RANGE),
        presence: Presence::Defaulted,
        doc: "Retries after a failed attempt: a run makes at most 1 + `max_retries` attempts.",
    },
    BodyField {
        rest: "retry_delay_seconds",
        spec: "retryDelaySeconds",
        kind: Kind::Int(ActionSpec::RETRY_DELAY_SECONDS_RANGE),
        presence: Presence::Defaulted,
        doc: "Seconds to wait between attempts.",
    },
    BodyField {
        rest: "is_enabled",
        spec: "enabled",
        kind: Kind::Bool,
        presence: Presence::Defaulted,
        doc: "False pauses the schedule; manual triggers still work.",
    },
];

/// An Action as the REST API returns it.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[schemars(rename = "Action")]
pub struct ActionView {
    /// Id of the Action in its workspace (its Kubernetes name): a slug of the name at creation.
    pub action_id: String,
    /// The workspace (the Kubernetes namespace).
    pub workspace_id: String,
    /// The app that owns the Action.
    pub app_id: String,
    /// The ActionEndpoint, in the same workspace, that the Action calls.
    pub endpoint_id: String,
    /// Human-readable name.
    pub name: String,
    /// Free-text description.
    pub description: Option<String>,
    /// The agent platform's memory namespace, sent to the endpoint as `X-Namespace-Id` (not a
    /// Kubernetes namespace).
    pub namespace_id: String,
    /// How each run's conversation thread is chosen: `new_each_run` (a fresh UUID per run),
    /// `fixed` (always `thread_id`) or `template` (`thread_id_template` rendered per run).
    pub thread_mode: ThreadMode,
    /// The thread every run uses when `thread_mode` is `fixed`.
    pub thread_id: Option<String>,
    /// A template (Jinja syntax, e.g. `daily-{{ date }}`) rendered per run into the thread id
    /// when `thread_mode` is `template`.
    pub thread_id_template: Option<String>,
    /// The JSON object sent to the endpoint; string values anywhere inside may be templates,
    /// rendered per run.
    pub payload: JsonObject,
    /// What the Action does; only `trigger` (invoke the endpoint) exists.
    pub action_type: ActionType,
    /// When the Action fires by itself: `cron` (on `cron_expression`), `one_time` (at
    /// `scheduled_at`) or `manual` (only when triggered).
    pub schedule_type: ScheduleType,
    /// Five-field cron expression (Vixie cron semantics), evaluated in `timezone`.
    pub cron_expression: Option<String>,
    /// The instant a `one_time` Action fires.
    #[serde(serialize_with = "opt_time")]
    pub scheduled_at: Option<DateTime<Utc>>,
    /// IANA timezone the cron expression is evaluated in, e.g. `Europe/Berlin`.
    pub timezone: String,
    /// Retries after a failed attempt: a run makes at most 1 + `max_retries` attempts.
    pub max_retries: i32,
    /// Seconds to wait between attempts.
    pub retry_delay_seconds: i32,
    /// False pauses the schedule; manual triggers still work. Also false while the schedule is
    /// suspended after consecutive failures (enable resumes it).
    pub is_enabled: bool,
    /// Whether a run of this Action is pending or running.
    pub is_running: bool,
    /// The next instant the schedule fires; null for manual, disabled and finished one-time
    /// Actions.
    #[serde(serialize_with = "opt_time")]
    pub next_run_at: Option<DateTime<Utc>>,
    /// When the most recent run was triggered.
    #[serde(serialize_with = "opt_time")]
    pub last_run_at: Option<DateTime<Utc>>,
    /// Status of the most recent run.
    pub last_run_status: Option<RunPhase>,
    /// Execution id of the latest attempt of the most recent run.
    pub last_execution_id: Option<String>,
    /// Runs that finished (succeeded or failed).
    pub total_runs: i64,
    /// Runs that succeeded.
    pub successful_runs: i64,
    /// Runs that failed after their last attempt.
    pub failed_runs: i64,
    /// The user who created the Action through this API; null for Actions applied as
    /// manifests.
    pub created_by: Option<String>,
    /// When the Action was created.
    #[serde(serialize_with = "time")]
    pub created_at: DateTime<Utc>,
    /// The latest change of the Action by any client (the controller's status updates do not
    /// count).
    #[serde(serialize_with = "time")]
    pub updated_at: DateTime<Utc>,
}

/// One run (execution) of an Action as the REST API returns it.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[schemars(rename = "Run")]
pub struct RunView {
    /// Id of the run (its Kubernetes name).
    pub run_id: String,
    /// The Action the run belongs to.
    pub action_id: String,
    /// The workspace (the Kubernetes namespace).
    pub workspace_id: String,
    /// Execution id of the latest attempt, sent to the endpoint as `X-Execution-Id`; null
    /// before the first attempt.
    pub execution_id: Option<String>,
    /// Where the run is in its lifecycle.
    pub status: RunPhase,
    /// Number of the current (or last) attempt, starting at 1; 0 before the first.
    pub attempt: i32,
    /// `scheduled` for a slot of the schedule, `manual` for a trigger.
    pub trigger_type: TriggerType,
    /// When the run was created (the trigger, or the slot being picked up).
    #[serde(serialize_with = "time")]
    pub triggered_at: DateTime<Utc>,
    /// When the first attempt started.
    #[serde(serialize_with = "opt_time")]
    pub started_at: Option<DateTime<Utc>>,
    /// When the run reached a final status.
    #[serde(serialize_with = "opt_time")]
    pub completed_at: Option<DateTime<Utc>>,
    /// `completed_at` minus `started_at`, in seconds.
    pub duration_seconds: Option<f64>,
    /// The payload sent, with every template rendered.
    pub resolved_payload: JsonObject,
    /// The conversation thread of this run.
    pub resolved_thread_id: Option<String>,
    /// Human-readable detail of a failure.
    pub error_message: Option<String>,
    /// Why the run failed: `timeout`, `connection_error`, `http_error`, `endpoint_not_found`,
    /// `secret_not_found`, `template_error`, `interrupted`, `cancelled` or `reported_failure`.
    pub error_code: Option<crate::resources::RunErrorCode>,
}

impl ActionView {
    /// The view every route answers with: `from_resource`, except that while the status still
    /// describes an older generation of the spec (just created, enabled, disabled or edited,
    /// and not yet reconciled) the fields computed from the spec and the clock are computed here,
    /// as the controller will, so a write's answer already shows what the next read shows.
    pub fn current(action: &Action, now: DateTime<Utc>) -> Self {
        let mut view = Self::from_resource(action);
        let observed = action.status.as_ref().and_then(|s| s.observed_generation);
        if observed.is_none() || observed != action.metadata.generation {
            view.next_run_at = crate::scheduler::timing::expected_next_run(action, now);
        }
        view
    }

    /// The REST view of an Action resource, as its status has it.
    pub fn from_resource(action: &Action) -> Self {
        let spec = &action.spec;
        let status = action.status.clone().unwrap_or_default();
        let meta = &action.metadata;
        Self {
            action_id: meta.name.clone().unwrap_or_default(),
            workspace_id: meta.namespace.clone().unwrap_or_default(),
            app_id: spec.app.clone(),
            endpoint_id: spec.endpoint.clone(),
            name: action.display_name().to_string(),
            description: spec.description.clone(),
            namespace_id: spec.namespace_id.clone(),
            thread_mode: spec.thread_mode,
            thread_id: spec.thread_id.clone(),
            thread_id_template: spec.thread_id_template.clone(),
            payload: spec.payload.clone(),
            action_type: spec.action_type,
            schedule_type: spec.effective_schedule_type(),
            cron_expression: spec.cron_expression.clone(),
            scheduled_at: spec.scheduled_at,
            timezone: spec.timezone.clone(),
            max_retries: spec.max_retries,
            retry_delay_seconds: spec.retry_delay_seconds,
            // A schedule suspended for consecutive failures is not enabled either.
            is_enabled: action.schedule_active(),
            is_running: !status.active_runs.is_empty(),
            next_run_at: status.next_run_at,
            last_run_at: status.last_run_at,
            last_run_status: status.last_run_status,
            last_execution_id: status.last_execution_id,
            total_runs: status.total_runs,
            successful_runs: status.successful_runs,
            failed_runs: status.failed_runs,
            created_by: meta
                .annotations
                .as_ref()
                .and_then(|a| a.get(CREATED_BY_ANNOTATION))
                .cloned(),
            created_at: created_at(meta),
            updated_at: updated_at(meta),
        }
    }
}

impl RunView {
    /// The REST view of an ActionRun resource.
    pub fn from_resource(run: &ActionRun) -> Self {
        let spec = &run.spec;
        let status = run.status.clone().unwrap_or_default();
        let meta = &run.metadata;
        Self {
            run_id: meta.name.clone().unwrap_or_default(),
            action_id: spec.action.clone(),
            workspace_id: meta.namespace.clone().unwrap_or_default(),
            execution_id: status.execution_id,
            status: status.status,
            attempt: status.attempt,
            trigger_type: spec.trigger_type,
            triggered_at: status.triggered_at.unwrap_or_else(|| {
                // A run staged ahead of its slot is triggered by the slot, not by its creation.
                let created = created_at(meta);
                run.spec.scheduled_at.map_or(created, |s| s.max(created))
            }),
            started_at: status.started_at,
            completed_at: status.completed_at,
            duration_seconds: status.duration_seconds,
            resolved_payload: spec.resolved_payload.clone(),
            resolved_thread_id: spec.resolved_thread_id.clone(),
            error_message: status.error_message,
            error_code: status.error_code,
        }
    }
}

use crate::time::{format_time, to_chrono};

/// Whether the REST API shows a run at `now`. Not a run staged ahead of its slot that is not due
/// yet (a client of the reference API would take it for a run that has been triggered), and not
/// the bookkeeping record of a skipped or missed slot (the reference API has no such runs; the
/// slot is in `skippedRuns` / `missedRuns`, and the record is deleted once counted).
pub fn is_listed(run: &ActionRun, now: DateTime<Utc>) -> bool {
    let status = run.status.clone().unwrap_or_default();
    let staged = status.status == RunPhase::Pending
        && status.attempt == 0
        && run.spec.scheduled_at.is_some_and(|s| s > now);
    let bookkeeping = crate::scheduler::counting::is_bookkeeping(status.status, status.error_code);
    !staged && !bookkeeping
}

fn created_at(meta: &ObjectMeta) -> DateTime<Utc> {
    meta.creation_timestamp
        .as_ref()
        .map(to_chrono)
        .unwrap_or_default()
}

fn updated_at(meta: &ObjectMeta) -> DateTime<Utc> {
    let spec_changes = meta
        .managed_fields
        .iter()
        .flatten()
        // Status writes are the controller's bookkeeping, not an update of the Action.
        .filter(|entry| entry.subresource.as_deref().unwrap_or_default().is_empty())
        .filter_map(|entry| entry.time.as_ref().map(to_chrono));
    spec_changes
        .max()
        .map_or_else(|| created_at(meta), |t| t.max(created_at(meta)))
}

fn time<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(t))
}

fn opt_time<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&format_time(t)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod crd_tests;
#[cfg(test)]
pub(crate) mod tests;
