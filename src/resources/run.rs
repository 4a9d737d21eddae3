//! The `ActionRun` custom resource: one execution of an Action.

use chrono::{DateTime, Utc};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::{JsonObject, object_schema};

/// One execution of an Action. Created by the controller for each scheduled slot and by each
/// manual trigger; owned by its Action, so deleting the Action deletes its runs.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "punctual.dev",
    version = "v1alpha1",
    kind = "ActionRun",
    namespaced,
    shortname = "arun",
    category = "punctual",
    status = "ActionRunStatus",
    derive = "PartialEq",
    doc = "One execution of an Action: the request made, its attempts and its outcome.",
    printcolumn = r#"{"name": "Action", "type": "string", "jsonPath": ".spec.action"}"#,
    printcolumn = r#"{"name": "Trigger", "type": "string", "jsonPath": ".spec.triggerType"}"#,
    printcolumn = r#"{"name": "Status", "type": "string", "jsonPath": ".status.status"}"#,
    printcolumn = r#"{"name": "Attempt", "type": "integer", "jsonPath": ".status.attempt"}"#,
    printcolumn = r#"{"name": "Scheduled", "type": "string", "jsonPath": ".spec.scheduledAt"}"#,
    printcolumn = r#"{"name": "Started", "type": "date", "jsonPath": ".status.startedAt"}"#,
    printcolumn = r#"{"name": "Duration", "type": "number", "jsonPath": ".status.durationSeconds"}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name": "Trace", "type": "string", "priority": 1, "jsonPath": ".status.traceId"}"#
)]
#[x_kube(validation = Rule::new("self == oldSelf").message("spec is immutable"))]
#[serde(rename_all = "camelCase")]
pub struct ActionRunSpec {
    /// Name of the Action this run belongs to (same namespace).
    #[schemars(length(min = 1, max = 253))]
    pub action: String,

    /// `scheduled` for a slot of the schedule, `manual` for a trigger.
    pub trigger_type: TriggerType,

    /// The nominal instant of the slot this run is for; absent for manual runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_at: Option<DateTime<Utc>>,

    /// The payload sent, with every template already rendered.
    /// Defaults to `{}`.
    #[serde(default)]
    #[schemars(schema_with = "object_schema")]
    pub resolved_payload: JsonObject,

    /// The conversation thread of this run, already resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_thread_id: Option<String>,

    /// A template error found while resolving the payload or thread; the run then fails with
    /// `template_error` without calling the endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolve_error: Option<String>,

    /// Extra template variables a manual trigger gave this run (name to value), beside the
    /// built-in ones; kept so that a rerun can render with them again.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub variables: std::collections::BTreeMap<String, String>,

    /// The run this one re-runs (`POST .../runs/{run_id}/rerun`), in the same namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub rerun_of: Option<String>,

    /// The agent platform's memory namespace, copied from the Action.
    #[schemars(length(min = 1, max = 255))]
    pub namespace_id: String,

    /// The ActionEndpoint called, copied from the Action when the run was created.
    #[schemars(length(min = 1, max = 253))]
    pub endpoint: String,

    /// Retries allowed, copied from the Action when the run was created.
    #[schemars(range(min = 0, max = 100))]
    pub max_retries: i32,

    /// Seconds between attempts, copied from the Action when the run was created.
    #[schemars(range(min = 0, max = 86400))]
    pub retry_delay_seconds: i32,

    /// How the wait before a retry grows, copied from the Action; absent means `constant`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_backoff: Option<super::RetryBackoff>,

    /// The longest wait before a retry (exponential backoff, Retry-After), copied from the
    /// Action; absent means 3600.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 86400))]
    pub max_retry_delay_seconds: Option<i32>,

    /// Where the end of this run is reported, copied from the Action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifications: Option<super::Notifications>,

    /// Per-attempt timeout copied from the Action; absent means the endpoint's timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 3600))]
    pub timeout_seconds: Option<i32>,

    /// How long an endpoint that answered 202 has to report (copied from the Action; absent:
    /// 3600 seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 604800))]
    pub completion_timeout_seconds: Option<i32>,
}

/// Why a run exists.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TriggerType {
    /// A slot of the Action's schedule.
    Scheduled,
    /// A trigger through the REST API or by creating the run directly.
    Manual,
}

// Lifecycle of a run. (Plain comment: a doc comment here would replace the description of
// optional fields of this type in the CRD.)
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RunPhase {
    /// Waiting for its first attempt, or for the next attempt after a retryable failure.
    #[default]
    Pending,
    /// An attempt is in flight.
    Running,
    /// An attempt got a 2xx response.
    Succeeded,
    /// The last attempt failed, or a failure was not retryable.
    Failed,
    /// Cancelled before it finished (Replace policy, or its Action was deleted).
    Cancelled,
}

impl RunPhase {
    /// Whether the run can still change.
    pub fn is_active(self) -> bool {
        matches!(self, RunPhase::Pending | RunPhase::Running)
    }

    /// The lowercase name used in status and the REST API.
    pub fn as_str(self) -> &'static str {
        match self {
            RunPhase::Pending => "pending",
            RunPhase::Running => "running",
            RunPhase::Succeeded => "succeeded",
            RunPhase::Failed => "failed",
            RunPhase::Cancelled => "cancelled",
        }
    }
}

// Why a run or an attempt failed; stable names, shown in status and the REST API. (Plain
// comment: a doc comment here would replace the description of the fields of this type.)
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunErrorCode {
    /// No response within the timeout.
    Timeout,
    /// Could not connect, or the connection broke.
    ConnectionError,
    /// The endpoint answered with a status that is not 2xx.
    HttpError,
    /// The ActionEndpoint (or its Service) does not exist.
    EndpointNotFound,
    /// The credential's Secret or key does not exist.
    SecretNotFound,
    /// A payload or thread template did not render.
    TemplateError,
    /// The operator stopped while the attempt was in flight.
    Interrupted,
    /// Cancelled: on request, concurrencyPolicy Replace, or the Action was deleted.
    Cancelled,
    /// An endpoint that answered 202 reported `failed` to its callback URL.
    ReportedFailure,
    /// A scheduled slot not started: concurrencyPolicy Forbid and another run active.
    Skipped,
    /// A scheduled slot not started: past its startingDeadlineSeconds at the instant.
    Missed,
}

impl RunErrorCode {
    /// The name used in status, the REST API and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            RunErrorCode::Timeout => "timeout",
            RunErrorCode::ConnectionError => "connection_error",
            RunErrorCode::HttpError => "http_error",
            RunErrorCode::EndpointNotFound => "endpoint_not_found",
            RunErrorCode::SecretNotFound => "secret_not_found",
            RunErrorCode::TemplateError => "template_error",
            RunErrorCode::Interrupted => "interrupted",
            RunErrorCode::Cancelled => "cancelled",
            RunErrorCode::ReportedFailure => "reported_failure",
            RunErrorCode::Skipped => "skipped",
            RunErrorCode::Missed => "missed",
        }
    }
}

/// Observed state of a run. Written only by the controller.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionRunStatus {
    /// `pending`, `running`, `succeeded`, `failed` or `cancelled`.
    #[serde(default)]
    pub status: RunPhase,

    /// Number of the current (or last) attempt, starting at 1; 0 before the first.
    #[serde(default)]
    pub attempt: i32,

    /// When the run was created (the trigger, or the slot being picked up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triggered_at: Option<DateTime<Utc>>,

    /// When the first attempt started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,

    /// When the run reached a final status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,

    /// completedAt minus startedAt, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,

    /// Execution id of the latest attempt (sent as `X-Execution-Id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_id: Option<String>,

    /// HTTP status of the latest attempt's response, if one came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<i32>,

    /// Why the run failed (or, with `cancelled`, why its slot did not start: `skipped`,
    /// `missed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<RunErrorCode>,

    /// Human-readable detail of the failure. Never contains secret values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,

    /// The first 4 KiB of the latest response body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,

    /// When the next attempt is due, while waiting to retry: the end of the failed attempt plus
    /// the retry delay (retryBackoff, or the endpoint's Retry-After).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,

    /// Set while the endpoint, having answered `202 Accepted`, works on the current attempt:
    /// the instant by which it must report to its callback URL (moved by heartbeats).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_deadline: Option<DateTime<Utc>>,

    /// One entry per attempt, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<Attempt>,

    /// The W3C trace id of this run: the trace-id part of every request's `traceparent` (one
    /// span per attempt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,

    /// The notification of this run's end (spec.notifications), once the run has ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification: Option<NotificationStatus>,
}

/// Where the notification of a run's end stands.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationStatus {
    /// The ActionEndpoint notified.
    pub endpoint: String,
    /// `pending` (to be sent, or being sent), `delivered` (a 2xx answer) or `failed` (every
    /// try failed).
    pub phase: NotificationPhase,
    /// Requests made so far.
    #[serde(default)]
    pub attempts: i32,
    /// Why the last request failed. Never contains secret values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the endpoint acknowledged it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<DateTime<Utc>>,
}

// Where a notification stands. (Plain comment: a doc comment here would replace the field's
// description in the CRD.)
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum NotificationPhase {
    /// Not acknowledged yet.
    #[default]
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Every try failed.
    Failed,
}

/// The record of one HTTP attempt.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    /// Attempt number, starting at 1.
    pub number: i32,
    /// The `X-Execution-Id` sent with this attempt.
    pub execution_id: String,
    /// When the request was sent.
    pub started_at: DateTime<Utc>,
    /// When the response (or the failure) came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
    /// HTTP status of the response, if one came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<i32>,
    /// Error code of a failed attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<RunErrorCode>,
    /// Human-readable detail of a failed attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// The first 4 KiB of this attempt's response body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub output: Option<String>,
}
