//! The scheduler's decision, as a pure function of the Action, its runs and the time.
//!
//! `plan` answers: is a slot due, is it created now or staged ahead, is it missed, which staged
//! runs are stale, what the counters and the status say, and when to look again. The controller
//! only reads the inputs and applies the plan.
//!
//! The state that makes this restart-safe is `status.nextRunAt`, the slot the controller is
//! waiting for ("armed"), plus the deterministic run names: a slot whose run exists has fired (or
//! is staged to fire), whatever happened to the status write afterwards.
//!
//! Runs are staged: created up to `Staging::lead` before their slot, so that the writes of a busy
//! minute are spread over the minute before it; the runner sends the request at the nominal
//! instant and decides `concurrencyPolicy` and the starting deadline there (docs/write-path.md).

use chrono::{DateTime, Duration, Utc};

use super::conditions::conditions;
use super::counting::{self, Effect};
pub use super::timing::{Invalid, Timing};
use super::timing::{arm, due_slots};
use crate::resources::{Action, ActionStatus, RunErrorCode, RunPhase};

/// How many future fire times the status lists.
pub const UPCOMING: usize = 5;
/// How long after a slot its timing-only status write waits for the slot's run to finish, so that
/// the run's count and the new `nextRunAt` go out in one write.
pub const TIMING_GRACE: Duration = Duration::seconds(30);

/// What the plan needs to know about one of the Action's runs.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct RunInfo {
    pub name: String,
    pub uid: Option<String>,
    pub phase: RunPhase,
    /// The slot of a scheduled run; None for manual runs.
    pub scheduled_at: Option<DateTime<Utc>>,
    /// When the run was triggered (or created).
    pub triggered_at: DateTime<Utc>,
    pub execution_id: Option<String>,
    pub error_code: Option<crate::resources::RunErrorCode>,
    /// The run's error message (for the failure streak's `lastFailure`).
    pub error_message: Option<String>,
    pub completed_at: Option<DateTime<Utc>>,
    /// Attempts started (0 before the first).
    pub attempt: i32,
    /// The Action generation the run was built from (annotation `punctual.dev/action-generation`).
    pub generation: Option<i64>,
    /// Seen deleted by the watch before it was counted (only finished runs are kept so).
    pub deleted: bool,
    /// Its notification is not settled yet: history cleanup keeps it until it is.
    pub notification_pending: bool,
    /// Its last attempt was answered 202 Accepted: a long-running call reporting by callback.
    pub accepted: bool,
}

impl RunInfo {
    /// Created ahead of its slot and not yet due: not a run anyone should see as triggered.
    pub fn is_staged(&self, now: DateTime<Utc>) -> bool {
        self.phase == RunPhase::Pending
            && self.attempt == 0
            && self.scheduled_at.is_some_and(|s| s > now)
    }

    /// Whether the run has started or finished (a pending run before its first attempt has not).
    fn started(&self) -> bool {
        self.attempt > 0 || !self.phase.is_active()
    }
}

/// How far ahead runs are created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Staging {
    /// Create a slot's run this long before it (0: at the slot).
    pub lead: Duration,
    /// Fire slots at all (`--scheduler`); when false the controller only counts and reports.
    pub fire: bool,
}

impl Staging {
    pub const NONE: Staging = Staging {
        lead: Duration::zero(),
        fire: true,
    };

    /// When the run of `slot` is created: `lead` before it, plus an offset in the first half of
    /// the lead that is fixed per Action, so that the creates of a minute full of Actions are
    /// spread over the minute before it instead of all landing at one instant.
    pub fn stage_at(&self, slot: DateTime<Utc>, key: &str) -> DateTime<Utc> {
        let lead_ms = self.lead.num_milliseconds();
        if lead_ms <= 0 {
            return slot;
        }
        let spread = (fnv1a(key) % (lead_ms as u64 / 2).max(1)) as i64;
        slot - Duration::milliseconds(lead_ms - spread)
    }
}

/// A stable string hash (FNV-1a), so an Action's offset is the same in every process.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// An Event to publish: only on transitions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub warning: bool,
    pub reason: &'static str,
    pub message: String,
}

/// The decision for one reconcile.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Create the run for this due slot now (late: it was not staged).
    pub create: Option<DateTime<Utc>>,
    /// Create the run for this future slot now (staged ahead of it).
    pub stage: Option<DateTime<Utc>>,
    /// Staged runs to delete first, by (name, uid): built from an older spec, or for a slot the
    /// schedule no longer has, or the Action was disabled. (A fresh one is staged in their place.)
    pub unstage: Vec<(String, Option<String>)>,
    /// The status the controller wants: its fields and the counters.
    pub status: ActionStatus,
    /// Whether `status` must be written now (it differs, and is not a timing change that waits
    /// for the slot's run to finish, see `TIMING_GRACE`).
    pub write: bool,
    /// Runs counted by this status, and deleted runs that the ledger already had.
    pub counted: Vec<(String, Effect)>,
    pub settled: Vec<String>,
    pub events: Vec<Note>,
    /// Reconcile again at this instant.
    pub requeue_at: Option<DateTime<Utc>>,
}

/// Decides what to do for `action`, given its runs, whether its endpoint exists, and `now`, with
/// runs created at their slot (no staging).
pub fn plan(action: &Action, runs: &[RunInfo], endpoint_exists: bool, now: DateTime<Utc>) -> Plan {
    plan_staged(action, runs, endpoint_exists, now, Staging::NONE)
}

/// `plan`, with runs staged ahead of their slots. Five steps, each a function below: count the
/// finished runs, set the conditions, find stale staged runs, advance the schedule (fire, miss,
/// stage), then roll the runs up into the status and decide whether to write it.
pub fn plan_staged(
    action: &Action,
    runs: &[RunInfo],
    endpoint_exists: bool,
    now: DateTime<Utc>,
    staging: Staging,
) -> Plan {
    let prev = action.status.clone().unwrap_or_default();
    let start = counting::streak_epoch(action, &prev);
    let counts = counting::tally(&start, runs);
    let mut status = counts.status.clone();
    let mut events = counting_events(start.consecutive_failures > 0, runs, &counts.counted);
    status.observed_generation = action.metadata.generation;

    let timing = Timing::compile(action);
    // Suspension is derived from the counted streak, in this very status.
    let suspended = action
        .suspended_with(&status)
        .then(|| counting::suspension_message(&status));
    let active = action.spec.enabled && suspended.is_none();
    status.conditions = conditions(
        action,
        &prev,
        &timing,
        endpoint_exists,
        suspended.as_deref(),
        now,
        &mut events,
    );

    let live: Vec<&RunInfo> = runs.iter().filter(|r| !r.deleted).collect();
    let unstage = stale_staged(action, active, &live, &timing, now);
    let exists = |slot: DateTime<Utc>| {
        live.iter()
            .any(|r| r.scheduled_at == Some(slot) && !unstage.iter().any(|(n, _)| *n == r.name))
    };
    let mut step = Step::default();
    if let (Ok(timing), true) = (&timing, active && staging.fire) {
        step = advance(action, timing, &prev, runs, &exists, now, staging);
        status.missed_runs += step.missed;
        events.extend(step.missed_note.take());
        if step.last_schedule_time.is_some() {
            status.last_schedule_time = step.last_schedule_time;
        }
    }
    show_schedule(
        &mut status,
        action,
        &timing,
        step.armed,
        suspended.is_some(),
        staging,
    );
    roll_up(&mut status, &live);
    let (write, requeue_at) = decide_write(
        &status,
        &prev,
        events.is_empty(),
        &live,
        now,
        step.requeue_at,
    );

    Plan {
        create: step.create,
        stage: step.stage,
        unstage,
        status,
        write,
        counted: counts.counted,
        settled: counts.settled,
        events,
        requeue_at,
    }
}

/// The status fields that show the schedule: the armed slot, its text, and the upcoming slots.
fn show_schedule(
    status: &mut ActionStatus,
    action: &Action,
    timing: &Result<Timing, Invalid>,
    armed: Option<DateTime<Utc>>,
    suspended: bool,
    staging: Staging,
) {
    status.next_run_at = armed;
    // Only a firing controller knows the next slot; one that does not fire leaves the text.
    if staging.fire {
        status.next_run = Some(super::timing::next_run_text(
            action, timing, armed, suspended,
        ));
    }
    status.upcoming = match (timing, armed) {
        (Ok(t), Some(first)) => std::iter::successors(Some(first), |s| t.next_after(*s))
            .take(UPCOMING)
            .collect(),
        _ => Vec::new(),
    };
}

/// Whether the new status is written now, and when to reconcile again. A slot just passed whose
/// run has not started yet defers a write that changes only timing (and publishes no Event,
/// `quiet`) to the run's outcome, one write for both, unless that takes longer than
/// TIMING_GRACE.
fn decide_write(
    status: &ActionStatus,
    prev: &ActionStatus,
    quiet: bool,
    live: &[&RunInfo],
    now: DateTime<Utc>,
    requeue_at: Option<DateTime<Utc>>,
) -> (bool, Option<DateTime<Utc>>) {
    let waiting = live.iter().find(|r| {
        r.phase == RunPhase::Pending
            && r.attempt == 0
            && r.scheduled_at
                .is_some_and(|s| s <= now && now < s + TIMING_GRACE)
    });
    let changed = status != prev;
    let defer = changed && only_timing_changed(status, prev) && quiet;
    let write = changed && !(defer && waiting.is_some());
    let mut requeue_at = requeue_at;
    if let (false, Some(r)) = (write, waiting.filter(|_| changed)) {
        let recheck = r.scheduled_at.unwrap_or(now) + TIMING_GRACE;
        requeue_at = Some(requeue_at.map_or(recheck, |at| at.min(recheck)));
    }
    (write, requeue_at)
}

/// Staged runs that no longer match the spec, as (name, uid): built from an older generation,
/// the schedule not `active` (disabled or suspended), or a slot the schedule does not have.
fn stale_staged(
    action: &Action,
    active: bool,
    live: &[&RunInfo],
    timing: &Result<Timing, Invalid>,
    now: DateTime<Utc>,
) -> Vec<(String, Option<String>)> {
    live.iter()
        .filter(|r| r.is_staged(now))
        .filter(|r| {
            let slot = r.scheduled_at.unwrap_or_default();
            let stale = r.generation.is_some() && r.generation != action.metadata.generation;
            stale || !active || !timing.as_ref().is_ok_and(|t| t.is_slot(slot))
        })
        .map(|r| (r.name.clone(), r.uid.clone()))
        .collect()
}

/// Where the schedule goes in this reconcile.
#[derive(Default)]
struct Step {
    /// The slot waited for after this reconcile (`nextRunAt`).
    armed: Option<DateTime<Utc>>,
    create: Option<DateTime<Utc>>,
    stage: Option<DateTime<Utc>>,
    missed: i64,
    missed_note: Option<Note>,
    last_schedule_time: Option<DateTime<Utc>>,
    requeue_at: Option<DateTime<Utc>>,
}

/// Fires or misses the due slots, and stages the next one when its time has come.
fn advance(
    action: &Action,
    timing: &Timing,
    prev: &ActionStatus,
    runs: &[RunInfo],
    exists: &dyn Fn(DateTime<Utc>) -> bool,
    now: DateTime<Utc>,
    staging: Staging,
) -> Step {
    let mut step = Step {
        armed: arm(timing, prev, runs, now),
        ..Step::default()
    };
    if let Some(first) = step.armed.filter(|a| *a <= now) {
        let due = due_slots(timing, first, now);
        let deadline = Duration::seconds(action.spec.starting_deadline_seconds.max(1));
        let fire = now - due.latest <= deadline;
        let fired = runs
            .iter()
            .filter(|r| !r.deleted)
            .filter_map(|r| r.scheduled_at)
            .filter(|s| *s >= first && *s <= due.latest)
            .collect::<std::collections::BTreeSet<_>>();
        let mut handled = fired.len() as u64;
        // Whether the slot may start is the runner's decision at the instant
        // (concurrencyPolicy): the scheduler only makes sure the slot has its run.
        if fire && !fired.contains(&due.latest) {
            handled += 1;
            step.create = Some(due.latest);
        }
        let missed = due.count.saturating_sub(handled);
        if missed > 0 {
            step.missed = missed as i64;
            step.missed_note = Some(Note {
                warning: true,
                reason: "MissedSlots",
                message: format!(
                    "{missed} slot(s) between {} and {} were not started within \
                     startingDeadlineSeconds ({}s)",
                    crate::time::format_time(&first),
                    crate::time::format_time(&due.latest),
                    deadline.num_seconds()
                ),
            });
        }
        step.last_schedule_time = Some(due.latest);
        step.armed = timing.next_after(now);
    }
    if let Some(next) = step.armed {
        let key = action.metadata.uid.as_deref().unwrap_or_default();
        let at = staging.stage_at(next, key);
        if staging.lead > Duration::zero() && now >= at && !exists(next) {
            step.stage = Some(next);
        }
        step.requeue_at = Some(if now < at && !exists(next) {
            at.min(next)
        } else {
            next
        });
    }
    step
}

/// The run-derived fields: active runs and the last run.
fn roll_up(status: &mut ActionStatus, live: &[&RunInfo]) {
    // Active: an attempt in flight (written as `running`), or waiting to retry. A run before its
    // first attempt is not listed: for a quick request that would be two status writes per run
    // for a state that lasts milliseconds.
    let mut active: Vec<String> = live
        .iter()
        .filter(|r| r.phase.is_active() && r.started())
        .map(|r| r.name.clone())
        .collect();
    active.sort();
    status.active_runs = active;
    let shown = live
        .iter()
        .filter(|r| r.started() && !counting::is_bookkeeping(r.phase, r.error_code));
    if let Some(last) = shown.max_by_key(|r| (r.triggered_at, r.name.clone())) {
        status.last_run_name = Some(last.name.clone());
        status.last_run_at = Some(last.triggered_at);
        status.last_run_status = Some(last.phase);
        status.last_execution_id = last.execution_id.clone();
    }
}

/// Whether a status differs from the previous one only in where the schedule stands.
pub fn only_timing_changed(status: &ActionStatus, prev: &ActionStatus) -> bool {
    let strip = |s: &ActionStatus| ActionStatus {
        next_run_at: None,
        next_run: None,
        last_schedule_time: None,
        upcoming: Vec::new(),
        ..s.clone()
    };
    strip(status) == strip(prev)
}

/// Events for what this status counts: a failure after a success (or the first run failing), a
/// success after a failure, a run cancelled, a long-running call that timed out for good, a
/// skipped slot, a slot missed at its instant. Nothing per ordinary success: Events are for
/// transitions. They are the Action's, so they outlive the runs' history cleanup.
///
/// Whether the Action was `failing` is its counted failure streak, not `lastRunStatus`: that
/// shows the newest run, which is running by the time the run before it is counted.
fn counting_events(failing: bool, runs: &[RunInfo], counted: &[(String, Effect)]) -> Vec<Note> {
    let mut failing = failing;
    let mut notes = Vec::new();
    for (r, e) in counting::in_finish_order(runs, counted) {
        if e == Effect::Failed && r.accepted && r.error_code == Some(RunErrorCode::Timeout) {
            notes.push(Note {
                warning: true,
                reason: "RunTimedOut",
                message: format!(
                    "run {}: the endpoint answered 202 and did not report within completionTimeoutSeconds",
                    r.name
                ),
            });
        }
        match e {
            Effect::Failed if !failing => {
                failing = true;
                notes.push(Note {
                    warning: true,
                    reason: "RunFailed",
                    message: format!(
                        "run {} failed: {}",
                        r.name,
                        r.error_code.map_or("error", |c| c.as_str())
                    ),
                });
            }
            Effect::Succeeded if failing => {
                failing = false;
                notes.push(Note {
                    warning: false,
                    reason: "RunRecovered",
                    message: format!("run {} succeeded after a failure", r.name),
                });
            }
            Effect::Nothing if r.error_code == Some(RunErrorCode::Cancelled) => notes.push(Note {
                warning: false,
                reason: "RunCancelled",
                message: format!("run {} was cancelled", r.name),
            }),
            Effect::Skipped => notes.push(Note {
                warning: false,
                reason: "SlotSkipped",
                message: format!(
                    "slot {} skipped: concurrencyPolicy Forbid and another run was active",
                    r.scheduled_at
                        .as_ref()
                        .map(crate::time::format_time)
                        .unwrap_or_default()
                ),
            }),
            Effect::Missed => notes.push(Note {
                warning: true,
                reason: "MissedSlots",
                message: format!(
                    "slot {} was not started within startingDeadlineSeconds",
                    r.scheduled_at
                        .as_ref()
                        .map(crate::time::format_time)
                        .unwrap_or_default()
                ),
            }),
            _ => {}
        }
    }
    notes
}

#[cfg(test)]
mod tests;
