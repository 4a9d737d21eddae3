//! Exactly-once counting of finished runs, and history cleanup (pure).
//!
//! The Action's status holds a ledger, `countedRuns`: the names of runs whose outcome is already
//! in the counters and that may still exist. Counting a run is adding its outcome to the counters
//! *and* its name to the ledger, in the same status write, conditional on the resourceVersion the
//! decision was made from. So the API server accepts "count r" only if, in the version it holds
//! right now, `r` is not in the ledger: two writers, a stale copy or a replay can only get a 409.
//!
//! A name leaves the ledger only once its run is gone from the run cache (deleted), so a run can
//! never be counted, forgotten and counted again: a finished run is never recounted while it
//! exists, and a deleted run can only be counted from its delete event, once. History cleanup
//! deletes only runs already in the ledger, so cleanup can never lose a count.
//! Why the run cache can be trusted for "gone": docs/write-path.md.

use std::collections::BTreeSet;

use super::plan::RunInfo;
use crate::resources::{Action, ActionStatus, RunErrorCode, RunPhase};

/// What a finished run adds to the Action's counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    Succeeded,
    Failed,
    Skipped,
    Missed,
    /// Cancelled (on request, Replace, Action deleted): in no counter. Listed in the ledger all
    /// the same, so that its Event is published once.
    Nothing,
}

/// The effect of a run in its final phase; None while it is active.
pub fn effect(phase: RunPhase, error_code: Option<RunErrorCode>) -> Option<Effect> {
    match phase {
        RunPhase::Pending | RunPhase::Running => None,
        RunPhase::Succeeded => Some(Effect::Succeeded),
        RunPhase::Failed => Some(Effect::Failed),
        RunPhase::Cancelled => Some(match error_code {
            Some(RunErrorCode::Skipped) => Effect::Skipped,
            Some(RunErrorCode::Missed) => Effect::Missed,
            _ => Effect::Nothing,
        }),
    }
}

/// Whether a run is slot bookkeeping (skipped or missed), not an execution: it is deleted as soon
/// as it is counted, and the REST API does not list it.
pub fn is_bookkeeping(phase: RunPhase, error_code: Option<RunErrorCode>) -> bool {
    matches!(
        effect(phase, error_code),
        Some(Effect::Skipped | Effect::Missed)
    )
}

/// The result of counting: the status with counters and ledger updated, and what was counted.
#[derive(Clone, Debug, PartialEq)]
pub struct Tally {
    pub status: ActionStatus,
    pub counted: Vec<(String, Effect)>,
    /// Deleted runs that the ledger already lists (counted before they were deleted). Once the
    /// status is written (or needed no write), the caller forgets them, together with `counted`:
    /// a deleted run must not outlive its ledger entry, or it would be counted again.
    pub settled: Vec<String>,
}

/// Counts every finished run of `runs` that is not in the ledger of `status`, and (when it counts
/// anything) drops from the ledger the names of runs no longer in `runs` (deleted). `runs` is everything the run cache
/// holds for the Action, plus finished runs seen deleted but not yet counted (`deleted: true`).
pub fn tally(status: &ActionStatus, runs: &[RunInfo]) -> Tally {
    let mut s = status.clone();
    let listed: BTreeSet<&str> = status.counted_runs.iter().map(String::as_str).collect();
    let mut counted = Vec::new();
    let mut settled = Vec::new();
    for r in runs {
        let Some(e) = effect(r.phase, r.error_code) else {
            continue;
        };
        if r.deleted && (e == Effect::Nothing || listed.contains(r.name.as_str())) {
            settled.push(r.name.clone());
            continue;
        }
        if listed.contains(r.name.as_str()) {
            continue;
        }
        if counted.iter().any(|(n, _)| n == &r.name) {
            continue; // seen twice (live and deleted): one run, one count
        }
        match e {
            Effect::Succeeded => {
                s.total_runs += 1;
                s.successful_runs += 1;
            }
            Effect::Failed => {
                s.total_runs += 1;
                s.failed_runs += 1;
            }
            Effect::Skipped => s.skipped_runs += 1,
            Effect::Missed => s.missed_runs += 1,
            Effect::Nothing => {}
        }
        counted.push((r.name.clone(), e));
    }
    let present: BTreeSet<&str> = runs
        .iter()
        .filter(|r| !r.deleted)
        .map(|r| r.name.as_str())
        .collect();
    // Dropping names of deleted runs rides along with a count; alone it would cost a status write
    // per history deletion.
    if !counted.is_empty() {
        s.counted_runs
            .retain(|n| present.contains(n.as_str()) || counted.iter().any(|(c, _)| c == n));
    }
    for (name, _) in &counted {
        if !s.counted_runs.contains(name) {
            s.counted_runs.push(name.clone());
        }
    }
    streak(&mut s, runs, &counted);
    Tally {
        status: s,
        counted,
        settled,
    }
}

/// Most of a failure kept in `lastFailure` (error messages can be long causal chains).
const LAST_FAILURE_CHARS: usize = 300;

/// The failure streak moves with the runs this tally counts, in the order they finished: a
/// failure adds one, a success ends it. Counting is exactly once, so the streak is exact too; no
/// other state is needed (a deleted run was counted before it went).
fn streak(s: &mut ActionStatus, runs: &[RunInfo], counted: &[(String, Effect)]) {
    for (r, e) in in_finish_order(runs, counted) {
        match e {
            Effect::Failed => {
                s.consecutive_failures += 1;
                let code = r.error_code.map_or("error", |c| c.as_str());
                let message = r.error_message.as_deref().unwrap_or_default();
                let text = format!("run {}: {code}: {message}", r.name);
                s.last_failure = Some(text.chars().take(LAST_FAILURE_CHARS).collect());
            }
            Effect::Succeeded => {
                s.consecutive_failures = 0;
                s.last_failure = None;
            }
            Effect::Skipped | Effect::Missed | Effect::Nothing => {}
        }
    }
}

/// The counted runs with their effects, in the order they finished (the name breaks ties).
pub fn in_finish_order<'a>(
    runs: &'a [RunInfo],
    counted: &[(String, Effect)],
) -> Vec<(&'a RunInfo, Effect)> {
    let mut ordered: Vec<(&RunInfo, Effect)> = counted
        .iter()
        .filter_map(|(n, e)| runs.iter().find(|r| &r.name == n).map(|r| (r, *e)))
        .collect();
    ordered.sort_by_key(|(r, _)| (r.completed_at, r.name.clone()));
    ordered
}

/// `status` with the streak started again when the Action's threshold or resume annotation
/// changed since it began (`Action::failure_streak_epoch`).
pub fn streak_epoch(action: &Action, status: &ActionStatus) -> ActionStatus {
    let epoch = action.failure_streak_epoch();
    if status.failure_streak_since == epoch {
        return status.clone();
    }
    ActionStatus {
        consecutive_failures: 0,
        last_failure: None,
        failure_streak_since: epoch,
        ..status.clone()
    }
}

/// The `Suspended` condition's message: how many failed in a row, and the last error.
pub fn suspension_message(status: &ActionStatus) -> String {
    format!(
        "{} runs failed in a row (suspendAfterConsecutiveFailures); the last: {}. Enable the \
         Action, or set a new punctual.dev/resume annotation, to resume",
        status.consecutive_failures,
        status.last_failure.as_deref().unwrap_or("unknown")
    )
}

/// Runs to delete, oldest first: bookkeeping runs (skipped, missed) at once, succeeded runs beyond
/// `keep_succeeded`, failed and cancelled runs beyond `keep_failed`. A run with an effect is
/// deleted only when `ledger` (as the API server holds it) lists it; a deletion never loses a
/// count. A run whose notification is still pending is kept until it is settled.
pub fn history_victims(
    runs: &[RunInfo],
    ledger: &[String],
    keep_succeeded: usize,
    keep_failed: usize,
) -> Vec<String> {
    let deletable = |r: &RunInfo| {
        !r.deleted
            && !r.notification_pending
            && match effect(r.phase, r.error_code) {
                None => false,
                Some(Effect::Nothing) => true,
                Some(_) => ledger.contains(&r.name),
            }
    };
    let mut victims: Vec<String> = runs
        .iter()
        .filter(|r| deletable(r) && is_bookkeeping(r.phase, r.error_code))
        .map(|r| r.name.clone())
        .collect();
    for (succeeded, keep) in [(true, keep_succeeded), (false, keep_failed)] {
        let mut group: Vec<&RunInfo> = runs
            .iter()
            .filter(|r| !r.deleted && !r.phase.is_active())
            .filter(|r| !is_bookkeeping(r.phase, r.error_code))
            .filter(|r| (r.phase == RunPhase::Succeeded) == succeeded)
            .collect();
        // Newest first; the name breaks ties so the choice is stable.
        group.sort_by(|a, b| (b.completed_at, &b.name).cmp(&(a.completed_at, &a.name)));
        let mut old: Vec<&RunInfo> = group.into_iter().skip(keep).collect();
        old.reverse();
        victims.extend(
            old.into_iter()
                .filter(|r| deletable(r))
                .map(|r| r.name.clone()),
        );
    }
    victims
}

#[cfg(test)]
mod tests;
