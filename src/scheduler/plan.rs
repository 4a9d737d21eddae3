//! The scheduler's decision, as a pure function of the Action, its runs and the time.
//!
//! `plan` answers: is a slot due, does it start, is it skipped or missed, what should the status
//! say, and when to look again. The controller only reads the inputs and applies the plan.
//!
//! The state that makes this restart-safe is `status.nextRunAt`, the slot the controller is
//! waiting for ("armed"), plus the deterministic run names: a slot whose run exists has fired,
//! whatever happened to the status write afterwards.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::resources::{Action, ActionStatus, ConcurrencyPolicy, RunPhase, ScheduleType};
use crate::schedule::{CronSchedule, parse_timezone};

/// How many future fire times the status lists.
pub const UPCOMING: usize = 5;
/// Bound on slots walked after a long outage (a year of `* * * * *` is 525,600).
const MAX_DUE_SLOTS: usize = 2_000_000;

/// What the plan needs to know about one of the Action's runs.
#[derive(Clone, Debug, PartialEq)]
pub struct RunInfo {
    pub name: String,
    pub phase: RunPhase,
    /// The slot of a scheduled run; None for manual runs.
    pub scheduled_at: Option<DateTime<Utc>>,
    /// When the run was triggered (or created).
    pub triggered_at: DateTime<Utc>,
    pub execution_id: Option<String>,
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
    /// Create the run for this slot.
    pub create: Option<DateTime<Utc>>,
    /// Cancel these active runs first (concurrencyPolicy Replace).
    pub cancel: Vec<String>,
    /// The status the scheduler wants (its fields; counters of finished runs are copied as is).
    pub status: ActionStatus,
    pub events: Vec<Note>,
    /// Reconcile again at this instant (the armed slot).
    pub requeue_at: Option<DateTime<Utc>>,
}

/// A compiled schedule.
#[derive(Clone, Debug)]
pub enum Timing {
    Cron(CronSchedule, Tz),
    Once(DateTime<Utc>),
    Manual,
}

/// Why an Action's schedule cannot be evaluated: (condition reason, message).
pub type Invalid = (&'static str, String);

impl Timing {
    /// Compiles the Action's schedule; errors carry the condition reason.
    pub fn compile(action: &Action) -> Result<Timing, Invalid> {
        let spec = &action.spec;
        let tz = parse_timezone(&spec.timezone).map_err(|e| {
            (
                "InvalidTimezone",
                format!("timezone {:?}: {e}", spec.timezone),
            )
        })?;
        match spec.effective_schedule_type() {
            ScheduleType::Manual => Ok(Timing::Manual),
            ScheduleType::OneTime => spec.scheduled_at.map(Timing::Once).ok_or((
                "InvalidSchedule",
                "scheduledAt is required for one_time".into(),
            )),
            ScheduleType::Cron => {
                let expr = spec.cron_expression.as_deref().unwrap_or_default();
                CronSchedule::parse(expr)
                    .map(|c| Timing::Cron(c, tz))
                    .map_err(|e| ("InvalidSchedule", format!("cronExpression {expr:?}: {e}")))
            }
        }
    }

    /// Whether `at` is one of this schedule's slots.
    fn is_slot(&self, at: DateTime<Utc>) -> bool {
        match self {
            Timing::Cron(cron, tz) => cron.next_after(*tz, at - Duration::seconds(1)) == Some(at),
            Timing::Once(t) => *t == at,
            Timing::Manual => false,
        }
    }

    /// The first slot strictly after `t`.
    fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Timing::Cron(cron, tz) => cron.next_after(*tz, t),
            Timing::Once(at) => (*at > t).then_some(*at),
            Timing::Manual => None,
        }
    }
}

/// Decides what to do for `action`, given its runs, whether its endpoint exists, and `now`.
pub fn plan(action: &Action, runs: &[RunInfo], endpoint_exists: bool, now: DateTime<Utc>) -> Plan {
    let prev = action.status.clone().unwrap_or_default();
    let spec = &action.spec;
    let mut status = prev.clone();
    let mut events = Vec::new();
    let (mut create, mut cancel) = (None, Vec::new());
    status.observed_generation = action.metadata.generation;

    let timing = Timing::compile(action);
    let mut conditions = Conditions::new(&prev.conditions, action.metadata.generation, now);
    match &timing {
        Ok(_) => {
            let was_invalid = prev
                .conditions
                .iter()
                .any(|c| c.type_ == "ScheduleValid" && c.status == "False");
            conditions.set("ScheduleValid", true, "Valid", "the schedule is valid");
            if was_invalid {
                events.push(Note {
                    warning: false,
                    reason: "ScheduleValid",
                    message: "the schedule is valid again".into(),
                });
            }
        }
        Err((reason, msg)) => {
            if conditions.set("ScheduleValid", false, reason, msg) {
                events.push(Note {
                    warning: true,
                    reason,
                    message: msg.clone(),
                });
            }
        }
    }
    if endpoint_exists {
        conditions.set(
            "EndpointResolved",
            true,
            "Found",
            "the ActionEndpoint exists",
        );
    } else {
        let msg = format!(
            "ActionEndpoint {:?} not found in this namespace",
            spec.endpoint
        );
        if conditions.set("EndpointResolved", false, "EndpointNotFound", &msg) {
            events.push(Note {
                warning: true,
                reason: "EndpointNotFound",
                message: msg,
            });
        }
    }
    if spec.enabled {
        conditions.set("Suspended", false, "Enabled", "the schedule is active");
    } else {
        conditions.set(
            "Suspended",
            true,
            "Disabled",
            "enabled is false: no new slots fire",
        );
    }
    let ready = match (&timing, endpoint_exists) {
        (Err((reason, msg)), _) => (false, *reason, msg.clone()),
        (Ok(_), false) => (
            false,
            "EndpointNotFound",
            "the ActionEndpoint does not exist".into(),
        ),
        (Ok(_), true) => (true, "Ready", "the Action is ready".to_string()),
    };
    conditions.set("Ready", ready.0, ready.1, &ready.2);
    status.conditions = conditions.into_vec();

    let active: Vec<&RunInfo> = runs.iter().filter(|r| r.phase.is_active()).collect();
    let mut armed = None;
    if let (Ok(timing), true) = (&timing, spec.enabled) {
        armed = arm(timing, &prev, runs, now);
        if let Some(first) = armed.filter(|a| *a <= now) {
            let due = due_slots(timing, first, now);
            let deadline = Duration::seconds(spec.starting_deadline_seconds.max(1));
            let fire = now - due.latest <= deadline;
            let fired: Vec<DateTime<Utc>> = runs
                .iter()
                .filter_map(|r| r.scheduled_at)
                .filter(|s| *s >= first && *s <= due.latest)
                .collect();
            let latest_exists = fired.contains(&due.latest);
            let mut handled = fired.len() as u64;
            if fire && !latest_exists {
                handled += 1;
                match (spec.concurrency_policy, active.is_empty()) {
                    (ConcurrencyPolicy::Forbid, false) => {
                        status.skipped_runs += 1;
                        events.push(Note {
                            warning: false,
                            reason: "SlotSkipped",
                            message: format!(
                                "slot {} skipped: concurrencyPolicy Forbid and {} is still active",
                                crate::rest::model::format_time(&due.latest),
                                active[0].name
                            ),
                        });
                    }
                    (ConcurrencyPolicy::Replace, false) => {
                        cancel = active.iter().map(|r| r.name.clone()).collect();
                        create = Some(due.latest);
                    }
                    _ => create = Some(due.latest),
                }
            }
            let missed = due.count.saturating_sub(handled);
            if missed > 0 {
                status.missed_runs += missed as i64;
                events.push(Note {
                    warning: true,
                    reason: "MissedSlots",
                    message: format!(
                        "{missed} slot(s) between {} and {} were not started within \
                         startingDeadlineSeconds ({}s)",
                        crate::rest::model::format_time(&first),
                        crate::rest::model::format_time(&due.latest),
                        deadline.num_seconds()
                    ),
                });
            }
            status.last_schedule_time = Some(due.latest);
            armed = timing.next_after(now);
        }
    }
    status.next_run_at = armed;
    status.upcoming = match (&timing, armed) {
        (Ok(t), Some(first)) => std::iter::successors(Some(first), |s| t.next_after(*s))
            .take(UPCOMING)
            .collect(),
        _ => Vec::new(),
    };

    let mut active_names: Vec<String> = active
        .iter()
        .filter(|r| !cancel.contains(&r.name))
        .map(|r| r.name.clone())
        .collect();
    active_names.sort();
    status.active_runs = active_names;
    if let Some(last) = runs.iter().max_by_key(|r| (r.triggered_at, r.name.clone())) {
        status.last_run_name = Some(last.name.clone());
        status.last_run_at = Some(last.triggered_at);
        status.last_run_status = Some(last.phase);
        status.last_execution_id = last.execution_id.clone();
    }

    Plan {
        create,
        cancel,
        status,
        events,
        requeue_at: armed,
    }
}

/// The slot the scheduler waits for. The previous `nextRunAt` stays armed while it is still a
/// slot of the (possibly edited) schedule; otherwise the schedule is recomputed from `now`, so an
/// edit never fires a slot the new schedule would not have fired, and re-enabling never bursts.
fn arm(
    timing: &Timing,
    prev: &ActionStatus,
    runs: &[RunInfo],
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if let Some(a) = prev.next_run_at.filter(|a| timing.is_slot(*a)) {
        return Some(a);
    }
    match timing {
        // A one_time slot fires once: not again after it was handled or its run exists.
        Timing::Once(at) => {
            let handled = prev.last_schedule_time == Some(*at)
                || runs.iter().any(|r| r.scheduled_at == Some(*at));
            (!handled).then_some(*at)
        }
        _ => timing.next_after(now),
    }
}

struct Due {
    count: u64,
    latest: DateTime<Utc>,
}

/// The slots from `first` (a due slot) up to `now`: how many, and the latest.
fn due_slots(timing: &Timing, first: DateTime<Utc>, now: DateTime<Utc>) -> Due {
    let mut due = Due {
        count: 1,
        latest: first,
    };
    while (due.count as usize) < MAX_DUE_SLOTS {
        match timing.next_after(due.latest) {
            Some(next) if next <= now => {
                due.count += 1;
                due.latest = next;
            }
            _ => break,
        }
    }
    due
}

/// metav1.Conditions, keeping lastTransitionTime when a condition's status does not change.
struct Conditions<'a> {
    prev: &'a [Condition],
    out: Vec<Condition>,
    generation: Option<i64>,
    now: DateTime<Utc>,
}

impl<'a> Conditions<'a> {
    fn new(prev: &'a [Condition], generation: Option<i64>, now: DateTime<Utc>) -> Self {
        Self {
            prev,
            out: Vec::new(),
            generation,
            now,
        }
    }

    /// Sets a condition; returns true when it transitioned (status or reason changed).
    fn set(&mut self, type_: &str, value: bool, reason: &str, message: &str) -> bool {
        let status = if value { "True" } else { "False" };
        let old = self.prev.iter().find(|c| c.type_ == type_);
        let transitioned = old.is_none_or(|c| c.status != status || c.reason != reason);
        let last_transition_time = match old {
            Some(c) if c.status == status => c.last_transition_time.clone(),
            _ => to_time(self.now),
        };
        self.out.push(Condition {
            type_: type_.to_string(),
            status: status.to_string(),
            reason: reason.to_string(),
            message: message.to_string(),
            observed_generation: self.generation,
            last_transition_time,
        });
        transitioned
    }

    fn into_vec(self) -> Vec<Condition> {
        self.out
    }
}

/// A chrono instant as a Kubernetes timestamp (whole seconds, as the API server stores them).
pub fn to_time(t: DateTime<Utc>) -> Time {
    Time(k8s_openapi::jiff::Timestamp::from_second(t.timestamp()).unwrap_or_default())
}

#[cfg(test)]
mod tests;
