//! A workspace/app at a glance and the workspaces a token may read (pure).

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, Utc};
use schemars::JsonSchema;
use serde::Serialize;

use super::timeline::{Mark, first_start, lag_of, mark_of};
use crate::resources::{Action, ActionRun};
use crate::time::format_time;

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
