//! The read-only JSON routes the dashboard needs and the REST API lacks (docs/observability.md,
//! "The dashboard"): the workspaces a token may read, a workspace/app overview, and one Action's
//! slot timeline. Each is computed on the server from the watch caches, so the page never pages
//! through thousands of runs; the computations are pure functions of the cached objects and
//! `now`, tested below.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use chrono::{DateTime, Duration, DurationRound, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;

use crate::cron::{CronSchedule, parse_timezone};
use crate::resources::{
    Action, ActionRun, ConcurrencyPolicy, RunErrorCode, RunPhase, ScheduleType, TriggerType,
};
use crate::rest::error::{ApiError, FieldError, loc};
use crate::rest::extract::{ApiPath, QueryPairs};
use crate::rest::model::format_time;
use crate::rest::{ActionPath, Admitted, AppState, ORG_LABEL, RunPath, Scope};

/// Most slots one timeline returns (an every-minute schedule over a week has 10,080); the newest
/// are kept.
pub const MAX_SLOTS: usize = 2000;
/// Timeline window bounds, in hours.
pub const TIMELINE_HOURS: (i64, i64, i64) = (1, 168, 24);
/// Overview window bounds, in minutes.
pub const OVERVIEW_MINUTES: (i64, i64, i64) = (5, 1440, 60);

/// The workspaces the caller may list Actions in (`GET /v1/workspaces`).
#[derive(Serialize, JsonSchema, Debug, PartialEq)]
pub struct WorkspaceList {
    /// Workspaces (namespaces with the `punctual.dev/org` label), by org then name.
    pub workspaces: Vec<Workspace>,
}

/// One workspace and the apps its Actions belong to.
#[derive(Serialize, JsonSchema, Debug, PartialEq)]
pub struct Workspace {
    /// The org (the namespace's `punctual.dev/org` label).
    pub org_id: String,
    /// The workspace (the Kubernetes namespace).
    pub workspace_id: String,
    /// The distinct `app` of the workspace's Actions, sorted.
    pub apps: Vec<String>,
}

/// A workspace/app at a glance (`GET .../overview`), over the runs the watch cache holds.
#[derive(Serialize, JsonSchema, Debug, PartialEq)]
pub struct Overview {
    /// The window, in minutes before now.
    pub window_minutes: i64,
    /// Start of the window.
    pub from: String,
    /// End of the window (now).
    pub to: String,
    /// Runs of the app that finished in the window, by final status.
    pub finished: StatusCounts,
    /// Failed over finished (succeeded + failed) runs in the window; null without any.
    pub failure_rate: Option<f64>,
    /// Finished runs per minute of the window, oldest first (one entry per minute).
    pub runs_per_minute: Vec<MinuteBucket>,
    /// Schedule lag of scheduled runs whose first attempt started in the window.
    pub lag_seconds: Percentiles,
    /// The app's Actions with what the REST view of an Action does not carry.
    pub actions: Vec<ActionHealth>,
}

/// Finished runs by final status.
#[derive(Serialize, JsonSchema, Debug, PartialEq, Default)]
pub struct StatusCounts {
    pub succeeded: u64,
    pub failed: u64,
    pub cancelled: u64,
}

/// One minute of the overview.
#[derive(Serialize, JsonSchema, Debug, PartialEq)]
pub struct MinuteBucket {
    /// Start of the minute.
    pub minute: String,
    /// Runs that finished in it.
    pub finished: u64,
    /// Of those, the failed ones.
    pub failed: u64,
}

/// Nearest-rank percentiles of a sample, in seconds; null without samples.
#[derive(Serialize, JsonSchema, Debug, PartialEq)]
pub struct Percentiles {
    pub samples: usize,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

/// An Action's readiness, next slots and slot counters.
#[derive(Serialize, JsonSchema, Debug, PartialEq)]
pub struct ActionHealth {
    /// The Action id.
    pub action_id: String,
    /// The `Ready` condition: true, false, or null before the controller set it.
    pub ready: Option<bool>,
    /// The `Ready` condition's reason and message, e.g. `InvalidSchedule: ...`.
    pub ready_reason: Option<String>,
    /// The next fire instants (at most three).
    pub upcoming: Vec<String>,
    /// Slots skipped by concurrencyPolicy Forbid, all time.
    pub skipped_runs: i64,
    /// Slots not started within startingDeadlineSeconds, all time.
    pub missed_runs: i64,
}

/// How a slot of the timeline ended (or where it is).
#[derive(Serialize, JsonSchema, Debug, PartialEq, Eq, Clone, Copy, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    Succeeded,
    Failed,
    Cancelled,
    Skipped,
    Missed,
    Running,
    Pending,
    /// A past slot of the schedule with no run in the cache: its run was removed by a history
    /// limit, or the slot was missed (or skipped, outside the runs still kept) and its
    /// bookkeeping record is already counted and deleted (the counters say how many), or the
    /// operator was not running.
    NotKept,
}

/// One Action's slots over a window (`GET .../actions/{action_id}/timeline`).
#[derive(Serialize, JsonSchema, Debug, PartialEq)]
pub struct Timeline {
    pub action_id: String,
    /// The window, in hours before now.
    pub window_hours: i64,
    pub from: String,
    pub to: String,
    /// Every slot in the window, oldest first: the schedule's past slots (cron Actions, since
    /// the Action was created) and every run the cache holds (manual ones included).
    pub slots: Vec<Slot>,
    /// Whether older slots were left out (more than 2000 in the window).
    pub truncated: bool,
    /// Slots per mark.
    pub marks: BTreeMap<String, u64>,
    /// Lag and duration of each run that started in the window, oldest first.
    pub points: Vec<RunPoint>,
    /// The Action's counters, all time (from its status).
    pub counters: Counters,
    /// The next fire instants.
    pub upcoming: Vec<String>,
}

/// One slot of the timeline.
#[derive(Serialize, JsonSchema, Debug, PartialEq)]
pub struct Slot {
    /// The slot's nominal instant, or a manual run's trigger time.
    pub at: String,
    pub mark: Mark,
    /// `scheduled` or `manual`.
    pub trigger_type: TriggerType,
    /// The run, when the cache holds one.
    pub run_id: Option<String>,
    /// Attempts the run made.
    pub attempts: i32,
}

/// Lag and duration of one run.
#[derive(Serialize, JsonSchema, Debug, PartialEq)]
pub struct RunPoint {
    pub run_id: String,
    /// When its first attempt started.
    pub at: String,
    /// First attempt start minus the slot's nominal instant; null for manual runs.
    pub lag_seconds: Option<f64>,
    /// `completed_at - started_at`; null while it runs.
    pub duration_seconds: Option<f64>,
    pub status: RunPhase,
}

/// The counters of the Action status.
#[derive(Serialize, JsonSchema, Debug, PartialEq)]
pub struct Counters {
    pub total_runs: i64,
    pub successful_runs: i64,
    pub failed_runs: i64,
    pub skipped_runs: i64,
    pub missed_runs: i64,
}

/// The attempts of one run (`GET .../runs/{run_id}/attempts`), which the run's REST view
/// summarises as `attempt` and `execution_id`.
#[derive(Serialize, JsonSchema, Debug, PartialEq)]
pub struct AttemptList {
    pub run_id: String,
    /// When the next attempt is due, while the run waits for a retry.
    pub next_attempt_at: Option<String>,
    /// Oldest first.
    pub attempts: Vec<AttemptView>,
}

/// One HTTP attempt of a run.
#[derive(Serialize, JsonSchema, Debug, PartialEq)]
pub struct AttemptView {
    /// Attempt number, starting at 1.
    pub number: i32,
    /// The `X-Execution-Id` sent with it.
    pub execution_id: String,
    pub started_at: String,
    pub completed_at: Option<String>,
    /// `completed_at - started_at`.
    pub duration_seconds: Option<f64>,
    /// HTTP status of the response, if one came.
    pub http_status: Option<i32>,
    /// Why it failed.
    pub error_code: Option<RunErrorCode>,
}

/// `GET {prefix}/actions/{action_id}/runs/{run_id}/attempts`: needs `get actionruns`.
pub async fn attempts(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<RunPath>,
    headers: HeaderMap,
) -> Result<Json<AttemptList>, ApiError> {
    let Admitted { target: run, .. } = state
        .admit(&headers, "get", "actionruns", &path, Ok(()))
        .await?;
    Ok(Json(attempt_list(&run)))
}

pub fn attempt_list(run: &ActionRun) -> AttemptList {
    let status = run.status.clone().unwrap_or_default();
    AttemptList {
        run_id: run.metadata.name.clone().unwrap_or_default(),
        next_attempt_at: status.next_attempt_at.as_ref().map(format_time),
        attempts: status
            .attempts
            .iter()
            .map(|a| AttemptView {
                number: a.number,
                execution_id: a.execution_id.clone(),
                started_at: format_time(&a.started_at),
                completed_at: a.completed_at.as_ref().map(format_time),
                duration_seconds: a.completed_at.map(|c| seconds(c - a.started_at)),
                http_status: a.http_status,
                error_code: a.error_code,
            })
            .collect(),
    }
}

/// `GET /v1/workspaces`: authenticated; a workspace is listed when the caller may `list actions`
/// in it, so a token sees nothing of a namespace its RBAC does not cover.
pub async fn workspaces(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<WorkspaceList>, ApiError> {
    let caller = state.auth.authenticate(&headers).await?;
    let mut out = Vec::new();
    for ns in state.namespaces.state() {
        let (Some(name), Some(org)) = (
            ns.metadata.name.clone(),
            ns.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(ORG_LABEL))
                .cloned(),
        ) else {
            continue;
        };
        match state
            .auth
            .authorize(&caller, "list", "actions", &name)
            .await
        {
            Ok(()) => {}
            Err(ApiError::Forbidden { .. }) => continue,
            Err(e) => return Err(e),
        }
        out.push((org, name));
    }
    let actions = state.actions.state();
    Ok(Json(workspace_list(out, &actions)))
}

/// The readable `(org, namespace)` pairs with their apps, sorted.
pub fn workspace_list(readable: Vec<(String, String)>, actions: &[Arc<Action>]) -> WorkspaceList {
    let mut workspaces: Vec<Workspace> = readable
        .into_iter()
        .map(|(org_id, workspace_id)| {
            let apps: BTreeSet<String> = actions
                .iter()
                .filter(|a| a.metadata.namespace.as_deref() == Some(workspace_id.as_str()))
                .map(|a| a.spec.app.clone())
                .collect();
            Workspace {
                org_id,
                workspace_id,
                apps: apps.into_iter().collect(),
            }
        })
        .collect();
    workspaces.sort_by(|a, b| (&a.org_id, &a.workspace_id).cmp(&(&b.org_id, &b.workspace_id)));
    WorkspaceList { workspaces }
}

/// `GET {prefix}/overview?minutes=60`: needs `list actionruns` in the workspace.
pub async fn overview(
    State(state): State<AppState>,
    ApiPath(scope): ApiPath<Scope>,
    headers: HeaderMap,
    QueryPairs(query): QueryPairs,
) -> Result<Json<Overview>, ApiError> {
    let minutes = int_param(&query, "minutes", OVERVIEW_MINUTES);
    let Admitted { input: minutes, .. } = state
        .admit(&headers, "list", "actionruns", &scope, minutes)
        .await?;
    let in_app = |a: &Action| {
        a.metadata.namespace.as_deref() == Some(scope.workspace_id.as_str())
            && a.spec.app == scope.app_id
    };
    let actions: Vec<Arc<Action>> = state
        .actions
        .state()
        .into_iter()
        .filter(|a| in_app(a))
        .collect();
    let names: BTreeSet<&str> = actions
        .iter()
        .filter_map(|a| a.metadata.name.as_deref())
        .collect();
    let runs: Vec<Arc<ActionRun>> = state
        .runs
        .state()
        .into_iter()
        .filter(|r| {
            r.metadata.namespace.as_deref() == Some(scope.workspace_id.as_str())
                && names.contains(r.spec.action.as_str())
        })
        .collect();
    Ok(Json(compute_overview(&actions, &runs, Utc::now(), minutes)))
}

/// `GET {prefix}/actions/{action_id}/timeline?hours=24`: needs `list actionruns`.
pub async fn timeline(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<ActionPath>,
    headers: HeaderMap,
    QueryPairs(query): QueryPairs,
) -> Result<Json<Timeline>, ApiError> {
    let hours = int_param(&query, "hours", TIMELINE_HOURS);
    let Admitted {
        target: action,
        input: hours,
        ..
    } = state
        .admit(&headers, "list", "actionruns", &path, hours)
        .await?;
    let runs: Vec<Arc<ActionRun>> = state
        .runs
        .state()
        .into_iter()
        .filter(|r| {
            r.metadata.namespace == action.metadata.namespace && r.spec.action == path.action_id
        })
        .collect();
    Ok(Json(compute_timeline(&action, &runs, Utc::now(), hours)))
}

/// An integer query parameter within `(min, max, default)`, with the facade's 422 shapes.
pub fn int_param(
    pairs: &[(String, String)],
    name: &str,
    (min, max, default): (i64, i64, i64),
) -> Result<i64, Vec<FieldError>> {
    let Some((_, raw)) = pairs.iter().rev().find(|(k, _)| k == name) else {
        return Ok(default);
    };
    let at = loc(&["query", name]);
    match raw.trim().parse::<i64>() {
        Err(_) => Err(vec![FieldError::new(
            "int_parsing",
            at,
            "Input should be a valid integer, unable to parse string as an integer",
            json!(raw),
        )]),
        Ok(n) if n < min => Err(vec![
            FieldError::new(
                "greater_than_equal",
                at,
                format!("Input should be greater than or equal to {min}"),
                json!(raw),
            )
            .with_ctx(json!({ "ge": min })),
        ]),
        Ok(n) if n > max => Err(vec![
            FieldError::new(
                "less_than_equal",
                at,
                format!("Input should be less than or equal to {max}"),
                json!(raw),
            )
            .with_ctx(json!({ "le": max })),
        ]),
        Ok(n) => Ok(n),
    }
}

/// The mark of a run as it is now.
pub fn mark_of(run: &ActionRun) -> Mark {
    let status = run.status.clone().unwrap_or_default();
    match (status.status, status.error_code) {
        (RunPhase::Succeeded, _) => Mark::Succeeded,
        (RunPhase::Failed, _) => Mark::Failed,
        (RunPhase::Cancelled, Some(RunErrorCode::Skipped)) => Mark::Skipped,
        (RunPhase::Cancelled, Some(RunErrorCode::Missed)) => Mark::Missed,
        (RunPhase::Cancelled, _) => Mark::Cancelled,
        (RunPhase::Running, _) => Mark::Running,
        // Waiting for a retry is part of running.
        (RunPhase::Pending, _) if status.attempt > 0 => Mark::Running,
        (RunPhase::Pending, _) => Mark::Pending,
    }
}

/// The slot instant of a run: its nominal slot, else when it was triggered, else created.
fn run_instant(run: &ActionRun) -> Option<DateTime<Utc>> {
    run.spec
        .scheduled_at
        .or_else(|| run.status.as_ref().and_then(|s| s.triggered_at))
        .or_else(|| {
            run.metadata
                .creation_timestamp
                .as_ref()
                .map(crate::time::to_chrono)
        })
}

/// When the run's first attempt started.
fn first_start(run: &ActionRun) -> Option<DateTime<Utc>> {
    let status = run.status.as_ref()?;
    status
        .attempts
        .iter()
        .map(|a| a.started_at)
        .min()
        .or(status.started_at)
}

/// Schedule lag of a scheduled run that started: first attempt minus the nominal slot.
fn lag_of(run: &ActionRun) -> Option<f64> {
    if run.spec.trigger_type != TriggerType::Scheduled {
        return None;
    }
    let lag = first_start(run)? - run.spec.scheduled_at?;
    Some(lag.num_milliseconds() as f64 / 1000.0)
}

fn seconds(d: Duration) -> f64 {
    d.num_milliseconds() as f64 / 1000.0
}

/// The run's duration: as recorded, else from its timestamps.
fn duration_of(run: &ActionRun) -> Option<f64> {
    let status = run.status.as_ref()?;
    status
        .duration_seconds
        .or_else(|| Some(seconds(status.completed_at? - status.started_at?)))
}

/// The overview of `actions` (one app's) and their `runs` over the last `minutes`.
pub fn compute_overview(
    actions: &[Arc<Action>],
    runs: &[Arc<ActionRun>],
    now: DateTime<Utc>,
    minutes: i64,
) -> Overview {
    let from = now - Duration::minutes(minutes);
    let first_minute = from.duration_trunc(Duration::minutes(1)).unwrap_or(from);
    let mut buckets: Vec<(u64, u64)> = vec![(0, 0); minutes as usize + 1];
    let mut finished = StatusCounts::default();
    let mut lags = Vec::new();
    for run in runs {
        let status = run.status.clone().unwrap_or_default();
        if let Some(done) = status.completed_at.filter(|t| *t > from && *t <= now) {
            let mark = mark_of(run);
            match mark {
                Mark::Succeeded => finished.succeeded += 1,
                Mark::Failed => finished.failed += 1,
                Mark::Cancelled => finished.cancelled += 1,
                // Bookkeeping records of skipped and missed slots are not runs.
                _ => continue,
            }
            let index = (done - first_minute).num_minutes().max(0) as usize;
            if let Some(b) = buckets.get_mut(index) {
                b.0 += 1;
                if mark == Mark::Failed {
                    b.1 += 1;
                }
            }
        }
        if first_start(run).is_some_and(|t| t > from && t <= now)
            && let Some(lag) = lag_of(run)
        {
            lags.push(lag);
        }
    }
    let judged = finished.succeeded + finished.failed;
    let mut health: Vec<ActionHealth> = actions.iter().map(|a| health_of(a)).collect();
    health.sort_by(|a, b| a.action_id.cmp(&b.action_id));
    Overview {
        window_minutes: minutes,
        from: format_time(&from),
        to: format_time(&now),
        failure_rate: (judged > 0).then(|| finished.failed as f64 / judged as f64),
        finished,
        runs_per_minute: buckets
            .into_iter()
            .enumerate()
            .map(|(i, (finished, failed))| MinuteBucket {
                minute: format_time(&(first_minute + Duration::minutes(i as i64))),
                finished,
                failed,
            })
            .collect(),
        lag_seconds: percentiles(lags),
        actions: health,
    }
}

fn health_of(action: &Action) -> ActionHealth {
    let status = action.status.clone().unwrap_or_default();
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready");
    ActionHealth {
        action_id: action.metadata.name.clone().unwrap_or_default(),
        ready: ready.map(|c| c.status == "True"),
        ready_reason: ready.map(|c| {
            if c.message.is_empty() {
                c.reason.clone()
            } else {
                format!("{}: {}", c.reason, c.message)
            }
        }),
        upcoming: status.upcoming.iter().take(3).map(format_time).collect(),
        skipped_runs: status.skipped_runs,
        missed_runs: status.missed_runs,
    }
}

/// Nearest-rank percentiles.
pub fn percentiles(mut samples: Vec<f64>) -> Percentiles {
    samples.sort_by(f64::total_cmp);
    let rank = |p: f64| {
        if samples.is_empty() {
            return None;
        }
        let i = ((p / 100.0) * samples.len() as f64).ceil() as usize;
        samples.get(i.clamp(1, samples.len()) - 1).copied()
    };
    Percentiles {
        samples: samples.len(),
        p50: rank(50.0),
        p90: rank(90.0),
        p99: rank(99.0),
        max: samples.last().copied(),
    }
}

/// The past slots of a cron Action's schedule in `(from, now]`, newest `MAX_SLOTS + 1` at most
/// (one more than kept, so that truncation shows).
fn cron_slots(action: &Action, from: DateTime<Utc>, now: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let spec = &action.spec;
    if spec.effective_schedule_type() != ScheduleType::Cron || !spec.enabled {
        return Vec::new();
    }
    let (Some(expr), Ok(tz)) = (
        spec.cron_expression.as_deref(),
        parse_timezone(&spec.timezone),
    ) else {
        return Vec::new();
    };
    let Ok(schedule) = CronSchedule::parse(expr) else {
        return Vec::new();
    };
    let created = action
        .metadata
        .creation_timestamp
        .as_ref()
        .map(crate::time::to_chrono)
        .unwrap_or(from);
    let mut slots = Vec::new();
    let mut cursor = from.max(created);
    while let Some(next) = schedule.next_after(tz, cursor) {
        if next > now {
            break;
        }
        slots.push(next);
        if slots.len() > 2 * MAX_SLOTS {
            // Keep the newest: drop the oldest half instead of growing without bound.
            slots.drain(..MAX_SLOTS);
        }
        cursor = next;
    }
    slots
}

/// The timeline of `action` with its `runs`, over the last `hours`.
pub fn compute_timeline(
    action: &Action,
    runs: &[Arc<ActionRun>],
    now: DateTime<Utc>,
    hours: i64,
) -> Timeline {
    let from = now - Duration::hours(hours);
    let mut by_slot: HashMap<DateTime<Utc>, &ActionRun> = HashMap::new();
    let mut slots: Vec<(DateTime<Utc>, Slot)> = Vec::new();
    let mut points = Vec::new();
    for run in runs {
        let Some(at) = run_instant(run).filter(|t| *t > from && *t <= now) else {
            continue;
        };
        if run.spec.trigger_type == TriggerType::Scheduled
            && let Some(slot) = run.spec.scheduled_at
        {
            by_slot.insert(slot, run);
        }
        slots.push((
            at,
            Slot {
                at: format_time(&at),
                mark: mark_of(run),
                trigger_type: run.spec.trigger_type,
                run_id: run.metadata.name.clone(),
                attempts: run.status.as_ref().map_or(0, |s| s.attempt),
            },
        ));
        if let Some(started) = first_start(run) {
            points.push((
                started,
                RunPoint {
                    run_id: run.metadata.name.clone().unwrap_or_default(),
                    at: format_time(&started),
                    lag_seconds: lag_of(run),
                    duration_seconds: duration_of(run),
                    status: run.status.clone().unwrap_or_default().status,
                },
            ));
        }
    }
    // Under Forbid, a slot with no run that fell while another run was active was skipped: the
    // runner's gate skips exactly then (docs/write-path.md), and its record is gone once counted.
    let active_spans: Vec<(DateTime<Utc>, DateTime<Utc>)> =
        if action.spec.concurrency_policy == ConcurrencyPolicy::Forbid {
            runs.iter()
                .filter_map(|r| {
                    let started = first_start(r)?;
                    let ended = r
                        .status
                        .as_ref()
                        .and_then(|s| s.completed_at)
                        .unwrap_or(now);
                    Some((started, ended))
                })
                .collect()
        } else {
            Vec::new()
        };
    for slot in cron_slots(action, from, now) {
        if !by_slot.contains_key(&slot) {
            let skipped = active_spans.iter().any(|(s, e)| *s < slot && slot < *e);
            slots.push((
                slot,
                Slot {
                    at: format_time(&slot),
                    mark: if skipped {
                        Mark::Skipped
                    } else {
                        Mark::NotKept
                    },
                    trigger_type: TriggerType::Scheduled,
                    run_id: None,
                    attempts: 0,
                },
            ));
        }
    }
    slots.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.run_id.cmp(&b.1.run_id)));
    let truncated = slots.len() > MAX_SLOTS;
    if truncated {
        slots.drain(..slots.len() - MAX_SLOTS);
    }
    points.sort_by_key(|p| p.0);
    let mut marks = BTreeMap::new();
    for (_, s) in &slots {
        let name = serde_json::to_value(s.mark)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        *marks.entry(name).or_insert(0) += 1;
    }
    let status = action.status.clone().unwrap_or_default();
    Timeline {
        action_id: action.metadata.name.clone().unwrap_or_default(),
        window_hours: hours,
        from: format_time(&from),
        to: format_time(&now),
        slots: slots.into_iter().map(|(_, s)| s).collect(),
        truncated,
        marks,
        points: points.into_iter().map(|(_, p)| p).collect(),
        counters: Counters {
            total_runs: status.total_runs,
            successful_runs: status.successful_runs,
            failed_runs: status.failed_runs,
            skipped_runs: status.skipped_runs,
            missed_runs: status.missed_runs,
        },
        upcoming: status.upcoming.iter().take(5).map(format_time).collect(),
    }
}

#[cfg(test)]
mod tests;

/// The OpenAPI path items of these routes (`rest::openapi` merges them into the document);
/// their response schemas are registered there from the types above.
pub fn openapi_paths(prefix: &str) -> Vec<(String, serde_json::Value)> {
    let schema = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
    let ok = |name: &str| json!({"description": "Success", "content": {"application/json": {"schema": schema(name)}}});
    let errors = |with_path: bool| {
        let mut r = serde_json::Map::new();
        for (code, description) in [
            ("401", "Missing or invalid bearer token"),
            ("403", "The token's user lacks the RBAC permission"),
            ("404", "Not found in this org, workspace and app"),
            ("500", "Internal error (no details)"),
        ] {
            if with_path || code == "401" || code == "500" {
                r.insert(
                    code.into(),
                    json!({"description": description,
                        "content": {"application/json": {"schema": schema("PlatformError")}}}),
                );
            }
        }
        if with_path {
            r.insert(
                "422".into(),
                json!({"description": "Validation Error",
                    "content": {"application/json": {"schema": schema("HTTPValidationError")}}}),
            );
        }
        r
    };
    // The path ids with the grammar the facade checks, as on every other route.
    let param = crate::rest::openapi::path_param;
    let scope = vec![
        param(
            "org_id",
            "Organisation; must match the workspace's punctual.dev/org label",
        ),
        param("workspace_id", "Workspace (the Kubernetes namespace)"),
        param("app_id", "App owning the Actions (spec.app)"),
    ];
    let window = |name: &str, (min, max, default): (i64, i64, i64), what: &str| {
        json!({"name": name, "in": "query", "required": false, "description": what,
               "schema": {"type": "integer", "minimum": min, "maximum": max, "default": default}})
    };
    let op = |id: &str,
              summary: &str,
              description: &str,
              params: Vec<serde_json::Value>,
              body: &str,
              with_path: bool| {
        let mut responses = errors(with_path);
        responses.insert("200".into(), ok(body));
        json!({"get": {"operationId": id, "summary": summary, "description": description,
            "tags": ["Dashboard"], "parameters": params, "responses": responses,
            "security": [{"bearer": []}]}})
    };
    let mut overview_params = scope.clone();
    overview_params.push(window(
        "minutes",
        OVERVIEW_MINUTES,
        "Window in minutes before now",
    ));
    let mut attempt_params = scope.clone();
    attempt_params.push(param("action_id", "Action id (metadata.name)"));
    let mut timeline_params = attempt_params.clone();
    attempt_params.push(param("run_id", "Run id (the ActionRun's name)"));
    timeline_params.push(window(
        "hours",
        TIMELINE_HOURS,
        "Window in hours before now",
    ));
    vec![
        (
            "/v1/workspaces".to_string(),
            op(
                "list_workspaces",
                "List readable workspaces",
                "The workspaces in which the token's user may list Actions, with their apps.",
                vec![],
                "WorkspaceList",
                false,
            ),
        ),
        (
            format!("{prefix}/overview"),
            op(
                "workspace_overview",
                "Workspace overview",
                "Finished runs per minute, failure rate and schedule lag percentiles of an \
                 app's runs still held (history limits apply), and each Action's readiness. \
                 Needs list on actionruns.",
                overview_params,
                "Overview",
                true,
            ),
        ),
        (
            format!("{prefix}/actions/{{action_id}}/timeline"),
            op(
                "action_timeline",
                "Action timeline",
                "Every slot of the schedule in the window with its outcome, and each run's \
                 schedule lag and duration. Needs list on actionruns.",
                timeline_params,
                "Timeline",
                true,
            ),
        ),
        (
            format!("{prefix}/actions/{{action_id}}/runs/{{run_id}}/attempts"),
            op(
                "list_run_attempts",
                "List a run's attempts",
                "Every HTTP attempt of the run with its status and error code. Needs get on \
                 actionruns.",
                attempt_params,
                "AttemptList",
                true,
            ),
        ),
    ]
}
