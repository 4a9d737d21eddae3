//! The `Action` custom resource: what to call, with what, and when.
//!
//! Longer than most files on purpose: each field's doc comment is its `kubectl explain` text and
//! its description in the CRD and the OpenAPI document, and the bounds stated next to the fields
//! are read from here by every layer (one place per fact).

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::{JsonObject, object_schema};

/// An Action calls an HTTP endpoint (usually an AI agent) with a JSON payload, in a conversation
/// thread: on a cron schedule in a timezone, once at a given time, or only when triggered.
/// Every execution is recorded as an ActionRun.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "punctual.dev",
    version = "v1alpha1",
    kind = "Action",
    namespaced,
    // Each run carries its Action's name as the label value `punctual.dev/action`, and a label
    // value holds at most 63 characters: a longer name could never get a run.
    validation = Rule::new("self.metadata.name.size() <= 63")
        .message("metadata.name must be at most 63 characters (it is the punctual.dev/action label value of the Action's runs)")
        .reason(Reason::FieldValueInvalid),
    shortname = "act",
    category = "punctual",
    status = "ActionStatus",
    derive = "PartialEq",
    doc = "An Action calls an HTTP endpoint with a JSON payload on a schedule or on demand.",
    printcolumn = r#"{"name": "Schedule", "type": "string", "jsonPath": ".spec.cronExpression"}"#,
    printcolumn = r#"{"name": "Timezone", "type": "string", "jsonPath": ".spec.timezone"}"#,
    printcolumn = r#"{"name": "Enabled", "type": "boolean", "jsonPath": ".spec.enabled"}"#,
    printcolumn = r#"{"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"}"#,
    // A string, not a date: kubectl renders a future `date` as `<invalid>` (it shows ages only).
    // `nextRun` is the instant or a word saying why there is none.
    printcolumn = r#"{"name": "Next Run", "type": "string", "jsonPath": ".status.nextRun"}"#,
    printcolumn = r#"{"name": "Last Status", "type": "string", "jsonPath": ".status.lastRunStatus"}"#,
    printcolumn = r#"{"name": "Runs", "type": "integer", "jsonPath": ".status.totalRuns"}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[x_kube(
    validation = Rule::new("!has(self.scheduleType) || self.scheduleType != 'cron' || has(self.cronExpression)")
        .message("cronExpression is required when scheduleType is cron")
        .field_path(".cronExpression")
        .reason(Reason::FieldValueRequired),
    validation = Rule::new("!has(self.scheduleType) || self.scheduleType != 'one_time' || has(self.scheduledAt)")
        .message("scheduledAt is required when scheduleType is one_time")
        .field_path(".scheduledAt")
        .reason(Reason::FieldValueRequired),
    validation = Rule::new("has(self.scheduleType) || !has(self.cronExpression) || !has(self.scheduledAt)")
        .message("scheduleType is required when both cronExpression and scheduledAt are set")
        .field_path(".scheduleType")
        .reason(Reason::FieldValueRequired),
    validation = Rule::new("self.threadMode != 'fixed' || has(self.threadId)")
        .message("threadId is required when threadMode is fixed")
        .field_path(".threadId")
        .reason(Reason::FieldValueRequired),
    validation = Rule::new("self.threadMode != 'template' || has(self.threadIdTemplate)")
        .message("threadIdTemplate is required when threadMode is template")
        .field_path(".threadIdTemplate")
        .reason(Reason::FieldValueRequired),
)]
#[serde(rename_all = "camelCase")]
pub struct ActionSpec {
    /// Human-readable name shown by the REST API (its `name`). Defaults to metadata.name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(
        min = ActionSpec::DISPLAY_NAME_LENGTH.min,
        max = ActionSpec::DISPLAY_NAME_LENGTH.max
    ))]
    pub display_name: Option<String>,

    /// Free-text description, at most 2000 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    // No minLength: DESCRIPTION_LENGTH.min is 0, which bounds nothing.
    #[schemars(length(max = ActionSpec::DESCRIPTION_LENGTH.max))]
    pub description: Option<String>,

    /// The app that owns this Action (the REST API's `app_id`).
    #[schemars(length(min = ActionSpec::APP_LENGTH.min, max = ActionSpec::APP_LENGTH.max))]
    pub app: String,

    /// Name of the ActionEndpoint, in the same namespace, that this Action calls.
    #[schemars(length(
        min = ActionSpec::ENDPOINT_LENGTH.min,
        max = ActionSpec::ENDPOINT_LENGTH.max
    ))]
    pub endpoint: String,

    /// The agent platform's memory namespace. Passed to the endpoint as `X-Namespace-Id`; this is
    /// not a Kubernetes namespace.
    #[schemars(length(
        min = ActionSpec::NAMESPACE_ID_LENGTH.min,
        max = ActionSpec::NAMESPACE_ID_LENGTH.max
    ))]
    pub namespace_id: String,

    /// How the conversation thread of each run is chosen: `new_each_run` (a fresh UUID per run),
    /// `fixed` (always `threadId`) or `template` (render `threadIdTemplate` per run).
    /// Defaults to `new_each_run`.
    #[serde(default)]
    pub thread_mode: ThreadMode,

    /// The thread every run uses. Required when threadMode is `fixed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(
        min = ActionSpec::THREAD_ID_LENGTH.min,
        max = ActionSpec::THREAD_ID_LENGTH.max
    ))]
    pub thread_id: Option<String>,

    /// A template (Jinja syntax, e.g. `daily-{{ date }}`) rendered per run into the thread id.
    /// Required when threadMode is `template`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(
        min = ActionSpec::THREAD_ID_TEMPLATE_LENGTH.min,
        max = ActionSpec::THREAD_ID_TEMPLATE_LENGTH.max
    ))]
    pub thread_id_template: Option<String>,

    /// The JSON object sent as the request body. String values anywhere inside may be templates
    /// (`{{ run_id }}`, `{{ date }}`, ...), rendered per run. At most 256 KiB.
    /// Defaults to `{}`.
    #[serde(default)]
    #[schemars(schema_with = "object_schema")]
    pub payload: JsonObject,

    /// What the Action does. Only `trigger` (invoke the endpoint) exists today.
    /// Defaults to `trigger`.
    #[serde(default)]
    pub action_type: ActionType,

    /// When the Action fires: `cron` (on cronExpression), `one_time` (at scheduledAt) or `manual`
    /// (only when triggered). When omitted: `cron` if cronExpression is set, else `one_time` if
    /// scheduledAt is set, else `manual`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_type: Option<ScheduleType>,

    /// Five-field cron expression with Vixie cron semantics (minute hour day-of-month month
    /// day-of-week; names, ranges, steps, lists, Sunday as 0 or 7, and @hourly/@daily/@weekly/
    /// @monthly/@yearly/@annually/@midnight), evaluated in `timezone`. Required when scheduleType
    /// is `cron`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(
        min = ActionSpec::CRON_EXPRESSION_LENGTH.min,
        max = ActionSpec::CRON_EXPRESSION_LENGTH.max
    ))]
    pub cron_expression: Option<String>,

    /// The instant a `one_time` Action fires (RFC 3339). Required when scheduleType is `one_time`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_at: Option<DateTime<Utc>>,

    /// IANA timezone the cron expression is evaluated in, e.g. `Europe/Berlin`.
    /// Defaults to `UTC`.
    #[serde(default = "default_timezone")]
    #[schemars(length(
        min = ActionSpec::TIMEZONE_LENGTH.min,
        max = ActionSpec::TIMEZONE_LENGTH.max
    ))]
    pub timezone: String,

    /// Retries after a failed attempt: a run makes at most 1 + maxRetries attempts.
    /// Defaults to `0`.
    #[serde(default)]
    #[schemars(range(
        min = ActionSpec::MAX_RETRIES_RANGE.min,
        max = ActionSpec::MAX_RETRIES_RANGE.max
    ))]
    pub max_retries: i32,

    /// Seconds to wait between attempts.
    /// Defaults to `60`.
    #[serde(default = "default_retry_delay_seconds")]
    #[schemars(range(
        min = ActionSpec::RETRY_DELAY_SECONDS_RANGE.min,
        max = ActionSpec::RETRY_DELAY_SECONDS_RANGE.max
    ))]
    pub retry_delay_seconds: i32,

    /// How the wait before a retry grows: `constant` (the default: every retry waits
    /// retryDelaySeconds) or `exponential` (retry k waits a random time between 0 and
    /// min(maxRetryDelaySeconds, retryDelaySeconds × 2^(k-1)), "full jitter"). A 429 or 503
    /// answer with a Retry-After header waits that long instead, at most maxRetryDelaySeconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_backoff: Option<RetryBackoff>,

    /// The longest wait before a retry, in seconds: caps exponential backoff and Retry-After.
    /// Defaults to 3600. A constant retryDelaySeconds is not capped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(
        min = ActionSpec::MAX_RETRY_DELAY_SECONDS_RANGE.min,
        max = ActionSpec::MAX_RETRY_DELAY_SECONDS_RANGE.max
    ))]
    pub max_retry_delay_seconds: Option<i32>,

    /// Suspends the schedule after this many runs in a row have failed (unset: never). The
    /// Action then has the condition `Suspended` (reason `ConsecutiveFailures`) and fires no
    /// slots; `enabled` stays as it is and manual triggers still work. The streak (status
    /// `consecutiveFailures`) ends with a succeeded run, and starts again from 0 when this field
    /// changes or the annotation `punctual.dev/resume` gets a new value (the REST enable sets it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(
        min = ActionSpec::SUSPEND_AFTER_RANGE.min,
        max = ActionSpec::SUSPEND_AFTER_RANGE.max
    ))]
    pub suspend_after_consecutive_failures: Option<i32>,

    /// ActionEndpoints told when a run of this Action ends: a small signed JSON summary of the
    /// run (docs/delivery.md, "Notifications"), delivered at least once with a short retry of
    /// its own. A notification is not a run: it is in no counter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifications: Option<Notifications>,

    /// When false the schedule is paused: no new slots fire, and slots that pass while paused are
    /// not started later. Manual triggers still work, and runs already created continue.
    /// Defaults to `true`.
    #[serde(default = "default_true")]
    pub enabled: bool,

    /// Per-attempt HTTP timeout in seconds. Defaults to the endpoint's timeoutSeconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(
        min = ActionSpec::TIMEOUT_SECONDS_RANGE.min,
        max = ActionSpec::TIMEOUT_SECONDS_RANGE.max
    ))]
    pub timeout_seconds: Option<i32>,

    /// How long, in seconds, an endpoint that answered `202 Accepted` has to report the outcome
    /// to its callback URL (each heartbeat starts the wait again). Past it the attempt fails
    /// with `timeout` and is retried like any timeout. Absent: 3600 (docs/agent-calls.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(
        min = ActionSpec::COMPLETION_TIMEOUT_SECONDS_RANGE.min,
        max = ActionSpec::COMPLETION_TIMEOUT_SECONDS_RANGE.max
    ))]
    pub completion_timeout_seconds: Option<i32>,

    /// What a due slot does while a run of this Action is still active: `Allow` starts another,
    /// `Forbid` skips the slot (counted in skippedRuns), `Replace` cancels the active run first.
    /// Defaults to `Allow`.
    #[serde(default)]
    pub concurrency_policy: ConcurrencyPolicy,

    /// A slot that cannot be started within this many seconds of its time (controller down,
    /// API server unavailable) is not started; it is counted in missedRuns.
    /// Defaults to `300`.
    #[serde(default = "default_starting_deadline_seconds")]
    #[schemars(range(min = ActionSpec::MIN_STARTING_DEADLINE_SECONDS))]
    pub starting_deadline_seconds: i64,

    /// Number of succeeded ActionRuns to keep; older ones are deleted after being counted.
    /// Defaults to `10`.
    #[serde(default = "default_history_limit")]
    #[schemars(range(
        min = ActionSpec::HISTORY_LIMIT_RANGE.min,
        max = ActionSpec::HISTORY_LIMIT_RANGE.max
    ))]
    pub successful_runs_history_limit: i32,

    /// Number of failed (or cancelled) ActionRuns to keep; older ones are deleted after being
    /// counted.
    /// Defaults to `10`.
    #[serde(default = "default_history_limit")]
    #[schemars(range(
        min = ActionSpec::HISTORY_LIMIT_RANGE.min,
        max = ActionSpec::HISTORY_LIMIT_RANGE.max
    ))]
    pub failed_runs_history_limit: i32,
}

/// How each run's conversation thread is chosen.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ThreadMode {
    /// A fresh UUID for every run.
    #[default]
    NewEachRun,
    /// Always `threadId`.
    Fixed,
    /// `threadIdTemplate`, rendered per run.
    Template,
}

/// What an Action does when it runs.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ActionType {
    /// Invoke the endpoint with the payload.
    #[default]
    Trigger,
}

// When an Action fires by itself. (Plain comment: a doc comment here would replace the
// field's own description in the CRD, because the field is optional.)
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleType {
    /// On every slot of `cronExpression` in `timezone`.
    Cron,
    /// Once, at `scheduledAt`.
    OneTime,
    /// Never by itself; only when triggered.
    Manual,
}

/// Where the end of a run is reported.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.onFailure) || has(self.onSuccess)")
    .message("notifications needs onFailure or onSuccess"))]
pub struct Notifications {
    /// ActionEndpoint (same namespace) called when a run fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub on_failure: Option<String>,
    /// ActionEndpoint (same namespace) called when a run succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub on_success: Option<String>,
}

// How the wait before a retry grows. (Plain comment: a doc comment here would replace the
// field's own description in the CRD, because the field is optional.)
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RetryBackoff {
    /// Every retry waits retryDelaySeconds.
    #[default]
    Constant,
    /// Retry k waits a random time up to min(maxRetryDelaySeconds, retryDelaySeconds × 2^(k-1)).
    Exponential,
}

/// What a due slot does while a run of the same Action is active.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum ConcurrencyPolicy {
    /// Start the new run alongside the active one.
    #[default]
    Allow,
    /// Skip the slot and count it in skippedRuns.
    Forbid,
    /// Cancel the active run, then start the new one.
    Replace,
}

/// Observed state of an Action. Written only by the controller.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// `Ready` summarises the others and names every problem at once: `ScheduleValid`,
    /// `TemplatesValid` (reason `InvalidTemplate`), `EndpointResolved`, `Suspended`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "super::conditions_schema")]
    pub conditions: Vec<Condition>,

    /// The next instant the schedule fires; absent for manual, disabled and finished one_time
    /// Actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run_at: Option<DateTime<Utc>>,

    /// `nextRunAt` as `kubectl get` shows it (the NEXT RUN column): the instant (RFC 3339), or
    /// why there is none: `manual` (fires only when triggered), `disabled` (enabled is false),
    /// `suspended` (after consecutive failures, see the Suspended condition),
    /// `done` (a one_time Action whose slot was handled), `invalid` (see the Ready condition),
    /// `never` (the evaluator found no future match within its search bound).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run: Option<String>,

    /// Nominal instant of the last slot handled, whether it fired, was skipped or was missed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<DateTime<Utc>>,

    /// When the most recent run was triggered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_at: Option<DateTime<Utc>>,

    /// Name of the most recent ActionRun.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_name: Option<String>,

    /// Status of the most recent ActionRun.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_status: Option<super::RunPhase>,

    /// Execution id of the latest attempt of the most recent run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_execution_id: Option<String>,

    /// Names of this Action's runs that are pending or running.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active_runs: Vec<String>,

    /// Runs that finished (succeeded or failed), each counted once.
    #[serde(default)]
    pub total_runs: i64,

    /// Runs that succeeded.
    #[serde(default)]
    pub successful_runs: i64,

    /// Runs that failed after their last attempt.
    #[serde(default)]
    pub failed_runs: i64,

    /// Bookkeeping of exact counting: runs already added to the counters but not yet marked
    /// counted (annotation `punctual.dev/counted`). Normally empty or short.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub counted_runs: Vec<String>,

    /// Slots not started because they were past startingDeadlineSeconds.
    #[serde(default)]
    pub missed_runs: i64,

    /// Slots skipped because of concurrencyPolicy Forbid.
    #[serde(default)]
    pub skipped_runs: i64,

    /// The next five fire times.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upcoming: Vec<DateTime<Utc>>,

    /// Counted runs that failed in a row, up to the latest one counted (a succeeded run ends the
    /// streak; cancelled, skipped and missed slots neither add to it nor end it).
    #[serde(default)]
    pub consecutive_failures: i64,

    /// The latest failure of the streak: run, error code and message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<String>,

    /// What the streak counts under: suspendAfterConsecutiveFailures and the
    /// `punctual.dev/resume` annotation when it started. When either changes, the streak starts
    /// again from 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_streak_since: Option<String>,
}

/// Inclusive bounds of a string's length, in characters (JSON Schema counts code points).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Length {
    pub min: usize,
    pub max: usize,
}

/// Inclusive bounds of an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub min: i64,
    pub max: i64,
}

/// The bounds and defaults of the spec's fields, stated once. The CRD schema (the `schemars`
/// attributes above), the REST facade's validation and its OpenAPI document all read these, and
/// a test checks that the CRD and the facade agree (docs/rest.md, "Where a field's rules live").
impl ActionSpec {
    pub const DISPLAY_NAME_LENGTH: Length = Length { min: 1, max: 255 };
    pub const DESCRIPTION_LENGTH: Length = Length { min: 0, max: 2000 };
    pub const APP_LENGTH: Length = Length { min: 1, max: 253 };
    pub const ENDPOINT_LENGTH: Length = Length { min: 1, max: 253 };
    pub const NAMESPACE_ID_LENGTH: Length = Length { min: 1, max: 255 };
    pub const THREAD_ID_LENGTH: Length = Length { min: 1, max: 255 };
    pub const THREAD_ID_TEMPLATE_LENGTH: Length = Length { min: 1, max: 1024 };
    pub const CRON_EXPRESSION_LENGTH: Length = Length { min: 1, max: 255 };
    pub const TIMEZONE_LENGTH: Length = Length { min: 1, max: 64 };
    pub const MAX_RETRIES_RANGE: Range = Range { min: 0, max: 100 };
    pub const RETRY_DELAY_SECONDS_RANGE: Range = Range { min: 0, max: 86400 };
    pub const TIMEOUT_SECONDS_RANGE: Range = Range { min: 1, max: 3600 };
    pub const MAX_RETRY_DELAY_SECONDS_RANGE: Range = Range { min: 1, max: 86400 };
    pub const SUSPEND_AFTER_RANGE: Range = Range { min: 1, max: 1000 };
    pub const DEFAULT_MAX_RETRY_DELAY_SECONDS: i32 = 3600;
    /// A week: long agent pipelines, yet a forgotten callback ends some day.
    pub const COMPLETION_TIMEOUT_SECONDS_RANGE: Range = Range {
        min: 1,
        max: 604_800,
    };
    pub const MIN_STARTING_DEADLINE_SECONDS: i64 = 1;
    pub const HISTORY_LIMIT_RANGE: Range = Range { min: 0, max: 1000 };
    /// Largest payload, serialized as JSON (a CRD schema cannot bound an object's size, so the
    /// facade checks it and the CRD's description states it).
    pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

    pub const DEFAULT_TIMEZONE: &str = "UTC";
    pub const DEFAULT_RETRY_DELAY_SECONDS: i32 = 60;
    pub const DEFAULT_STARTING_DEADLINE_SECONDS: i64 = 300;
    pub const DEFAULT_HISTORY_LIMIT: i32 = 10;
}

impl ActionSpec {
    /// The schedule type, inferred as documented on `scheduleType` when it is omitted.
    pub fn effective_schedule_type(&self) -> ScheduleType {
        match self.schedule_type {
            Some(t) => t,
            None if self.cron_expression.is_some() => ScheduleType::Cron,
            None if self.scheduled_at.is_some() => ScheduleType::OneTime,
            None => ScheduleType::Manual,
        }
    }
}

/// Annotation whose every new value starts the failure streak again (lifting a suspension for
/// consecutive failures); the REST enable sets it to the current time.
pub const RESUME_ANNOTATION: &str = "punctual.dev/resume";

impl Action {
    /// What the failure streak counts under (`status.failureStreakSince`): the threshold and the
    /// resume annotation. None when neither is set, so Actions without the feature carry nothing.
    pub fn failure_streak_epoch(&self) -> Option<String> {
        let resume = self
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(RESUME_ANNOTATION));
        let threshold = self.spec.suspend_after_consecutive_failures;
        if threshold.is_none() && resume.is_none() {
            return None;
        }
        let threshold = threshold.map_or("off".to_string(), |n| n.to_string());
        Some(format!("{threshold}/{}", resume.map_or("", String::as_str)))
    }

    /// Whether `status` suspends the schedule: the streak, counted under the current threshold
    /// and resume annotation, has reached suspendAfterConsecutiveFailures.
    pub fn suspended_with(&self, status: &ActionStatus) -> bool {
        self.spec
            .suspend_after_consecutive_failures
            .is_some_and(|n| {
                status.consecutive_failures >= i64::from(n)
                    && status.failure_streak_since == self.failure_streak_epoch()
            })
    }

    /// Whether the Action's own status suspends it (see `suspended_with`).
    pub fn suspended_by_failures(&self) -> bool {
        self.status
            .as_ref()
            .is_some_and(|status| self.suspended_with(status))
    }

    /// Whether slots fire: enabled, and not suspended for consecutive failures.
    pub fn schedule_active(&self) -> bool {
        self.spec.enabled && !self.suspended_by_failures()
    }

    /// The human name: `spec.displayName`, or metadata.name when it is not set.
    pub fn display_name(&self) -> &str {
        self.spec
            .display_name
            .as_deref()
            .or(self.metadata.name.as_deref())
            .unwrap_or_default()
    }
}

fn default_timezone() -> String {
    ActionSpec::DEFAULT_TIMEZONE.to_string()
}

fn default_retry_delay_seconds() -> i32 {
    ActionSpec::DEFAULT_RETRY_DELAY_SECONDS
}

fn default_true() -> bool {
    true
}

fn default_starting_deadline_seconds() -> i64 {
    ActionSpec::DEFAULT_STARTING_DEADLINE_SECONDS
}

fn default_history_limit() -> i32 {
    ActionSpec::DEFAULT_HISTORY_LIMIT
}
