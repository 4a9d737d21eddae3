//! One Action's slots over a window, and one run's attempts (pure).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use schemars::JsonSchema;
use serde::Serialize;

use super::MAX_SLOTS;
use crate::cron::{CronSchedule, parse_timezone};
use crate::resources::{
    Action, ActionRun, ConcurrencyPolicy, RunErrorCode, RunPhase, ScheduleType, TriggerType,
};
use crate::time::format_time;

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
pub(super) fn first_start(run: &ActionRun) -> Option<DateTime<Utc>> {
    let status = run.status.as_ref()?;
    status
        .attempts
        .iter()
        .map(|a| a.started_at)
        .min()
        .or(status.started_at)
}

/// Schedule lag of a scheduled run that started: first attempt minus the nominal slot.
pub(super) fn lag_of(run: &ActionRun) -> Option<f64> {
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
    let in_window: Vec<(DateTime<Utc>, &ActionRun)> = runs
        .iter()
        .filter_map(|r| Some((run_instant(r).filter(|t| *t > from && *t <= now)?, &**r)))
        .collect();
    let mut slots: Vec<(DateTime<Utc>, Slot)> = in_window
        .iter()
        .map(|(at, r)| (*at, run_slot(*at, r)))
        .collect();
    slots.extend(unkept_slots(action, runs, &in_window, from, now));
    slots.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.run_id.cmp(&b.1.run_id)));
    let truncated = slots.len() > MAX_SLOTS;
    if truncated {
        slots.drain(..slots.len() - MAX_SLOTS);
    }
    let mut points: Vec<(DateTime<Utc>, RunPoint)> =
        in_window.iter().filter_map(|(_, r)| run_point(r)).collect();
    points.sort_by_key(|p| p.0);
    let status = action.status.clone().unwrap_or_default();
    Timeline {
        action_id: action.metadata.name.clone().unwrap_or_default(),
        window_hours: hours,
        from: format_time(&from),
        to: format_time(&now),
        marks: count_marks(slots.iter().map(|(_, s)| s.mark)),
        slots: slots.into_iter().map(|(_, s)| s).collect(),
        truncated,
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

/// The slot a run marks, at its instant `at`.
fn run_slot(at: DateTime<Utc>, run: &ActionRun) -> Slot {
    Slot {
        at: format_time(&at),
        mark: mark_of(run),
        trigger_type: run.spec.trigger_type,
        run_id: run.metadata.name.clone(),
        attempts: run.status.as_ref().map_or(0, |s| s.attempt),
    }
}

/// The lag and duration point of a run that started, at its first start.
fn run_point(run: &ActionRun) -> Option<(DateTime<Utc>, RunPoint)> {
    let started = first_start(run)?;
    Some((
        started,
        RunPoint {
            run_id: run.metadata.name.clone().unwrap_or_default(),
            at: format_time(&started),
            lag_seconds: lag_of(run),
            duration_seconds: duration_of(run),
            status: run.status.clone().unwrap_or_default().status,
        },
    ))
}

/// The schedule's past slots in the window with no run in the cache. Under Forbid, one that fell
/// while another run was active was skipped: the runner's gate skips exactly then
/// (docs/write-path.md), and its record is gone once counted.
fn unkept_slots(
    action: &Action,
    runs: &[Arc<ActionRun>],
    in_window: &[(DateTime<Utc>, &ActionRun)],
    from: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, Slot)> {
    let kept: HashSet<DateTime<Utc>> = in_window
        .iter()
        .filter(|(_, r)| r.spec.trigger_type == TriggerType::Scheduled)
        .filter_map(|(_, r)| r.spec.scheduled_at)
        .collect();
    let active_spans: Vec<(DateTime<Utc>, DateTime<Utc>)> =
        if action.spec.concurrency_policy == ConcurrencyPolicy::Forbid {
            runs.iter()
                .filter_map(|r| {
                    let ended = r.status.as_ref().and_then(|s| s.completed_at);
                    Some((first_start(r)?, ended.unwrap_or(now)))
                })
                .collect()
        } else {
            Vec::new()
        };
    cron_slots(action, from, now)
        .into_iter()
        .filter(|slot| !kept.contains(slot))
        .map(|slot| {
            let skipped = active_spans.iter().any(|(s, e)| *s < slot && slot < *e);
            let mark = if skipped {
                Mark::Skipped
            } else {
                Mark::NotKept
            };
            let entry = Slot {
                at: format_time(&slot),
                mark,
                trigger_type: TriggerType::Scheduled,
                run_id: None,
                attempts: 0,
            };
            (slot, entry)
        })
        .collect()
}

/// Slots per mark, by the mark's JSON name.
fn count_marks(marks: impl Iterator<Item = Mark>) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for mark in marks {
        let name = serde_json::to_value(mark)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        *counts.entry(name).or_insert(0) += 1;
    }
    counts
}
