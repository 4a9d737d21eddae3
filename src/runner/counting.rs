//! Exactly-once counting of finished runs, and history cleanup (pure).
//!
//! A finished run is counted in three steps, each an atomic write that can fail or be the last
//! thing a process does before it dies:
//!
//! 1. **Count**: one Action status write, conditional on the resourceVersion read, that adds the
//!    run to the counters *and* appends its name to `status.countedRuns`;
//! 2. **Mark**: the run gets the annotation `punctual.dev/counted`;
//! 3. **Unlist**: the name leaves `countedRuns` (again conditional on the resourceVersion).
//!
//! Whatever step was interrupted, the state tells what comes next ([`count_step`]): a run that is
//! marked was counted; a run whose name is listed was counted but not marked; a run that is
//! neither was not counted. So a run is counted once, never twice, never lost. History cleanup
//! deletes only marked runs, so a deletion can never lose a count.

use chrono::{DateTime, Utc};

use crate::resources::{ActionStatus, RunPhase};

/// The annotation on a run whose outcome is in its Action's counters.
pub const COUNTED_ANNOTATION: &str = "punctual.dev/counted";

/// The next step of the counting protocol for one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CountStep {
    /// Add to the counters and to `countedRuns`, in one conditional write.
    Count,
    /// Annotate the run as counted.
    Mark,
    /// Remove the run from `countedRuns`.
    Unlist,
    /// Nothing left to do (or the run is not finished).
    Done,
}

/// `marked`: the run has the annotation; `listed`: its name is in the Action's `countedRuns`.
pub fn count_step(phase: RunPhase, marked: bool, listed: bool) -> CountStep {
    match (phase, marked, listed) {
        (RunPhase::Pending | RunPhase::Running, _, _) => CountStep::Done,
        (_, true, true) => CountStep::Unlist,
        (_, true, false) => CountStep::Done,
        (_, false, true) => CountStep::Mark,
        // Cancelled runs are not in any counter; marking them lets history delete them.
        (RunPhase::Cancelled, false, false) => CountStep::Mark,
        (RunPhase::Succeeded | RunPhase::Failed, false, false) => CountStep::Count,
    }
}

/// The runner's fields of the Action status after counting `run` with outcome `phase`.
pub fn counted(status: &ActionStatus, run: &str, phase: RunPhase) -> ActionStatus {
    let mut s = status.clone();
    s.total_runs += 1;
    match phase {
        RunPhase::Succeeded => s.successful_runs += 1,
        _ => s.failed_runs += 1,
    }
    if !s.counted_runs.iter().any(|n| n == run) {
        s.counted_runs.push(run.to_string());
    }
    s
}

/// `countedRuns` without `run`, and without names of runs that no longer exist (a run deleted
/// after being marked but before being unlisted can never be counted again, so its entry is
/// dead). `exists` must come from a synced cache or the API.
pub fn unlisted(list: &[String], run: &str, exists: impl Fn(&str) -> bool) -> Vec<String> {
    list.iter()
        .filter(|n| n.as_str() != run && exists(n))
        .cloned()
        .collect()
}

/// The runner's Action status fields as a merge patch body.
pub fn runner_fields(s: &ActionStatus) -> serde_json::Value {
    serde_json::json!({
        "totalRuns": s.total_runs,
        "successfulRuns": s.successful_runs,
        "failedRuns": s.failed_runs,
        "countedRuns": s.counted_runs,
    })
}

/// A finished run, as history cleanup needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct Finished {
    pub name: String,
    pub phase: RunPhase,
    pub completed_at: DateTime<Utc>,
    pub marked: bool,
}

/// Runs to delete: succeeded runs beyond `keep_succeeded` and failed or cancelled runs beyond
/// `keep_failed`, oldest first, and only runs already marked counted (an unmarked one stays
/// until it is, and is deleted by a later pass).
pub fn history_victims(
    runs: &[Finished],
    keep_succeeded: usize,
    keep_failed: usize,
) -> Vec<String> {
    let mut victims = Vec::new();
    for (succeeded, keep) in [(true, keep_succeeded), (false, keep_failed)] {
        let mut group: Vec<&Finished> = runs
            .iter()
            .filter(|r| r.phase != RunPhase::Pending && r.phase != RunPhase::Running)
            .filter(|r| (r.phase == RunPhase::Succeeded) == succeeded)
            .collect();
        // Newest first; the name breaks ties so the choice is stable.
        group.sort_by(|a, b| (b.completed_at, &b.name).cmp(&(a.completed_at, &a.name)));
        let mut old: Vec<&Finished> = group.into_iter().skip(keep).collect();
        old.reverse();
        victims.extend(old.into_iter().filter(|r| r.marked).map(|r| r.name.clone()));
    }
    victims
}

#[cfg(test)]
mod tests;
