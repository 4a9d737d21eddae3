//! A compiled schedule and the walk over its slots (pure).

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use crate::cron::{CronSchedule, parse_timezone};
use crate::resources::{Action, ActionStatus, ScheduleType};

use super::plan::RunInfo;

/// Bound on slots walked after a long outage (a year of `* * * * *` is 525,600).
const MAX_DUE_SLOTS: usize = 2_000_000;

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
    /// Compiles the Action's schedule; errors carry the condition reason. A bad zone and a bad
    /// expression are both reported (the zone's reason first), so one fix is not followed by
    /// the news of the next.
    pub fn compile(action: &Action) -> Result<Timing, Invalid> {
        let spec = &action.spec;
        let tz = parse_timezone(&spec.timezone).map_err(|e| {
            (
                "InvalidTimezone",
                format!("timezone {:?}: {e}", spec.timezone),
            )
        });
        let timing = |tz: Tz| match spec.effective_schedule_type() {
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
        };
        match (tz, timing(chrono_tz::UTC)) {
            (Ok(tz), _) => timing(tz),
            (Err((reason, zone)), Err((_, schedule))) => {
                Err((reason, format!("{zone}; {schedule}")))
            }
            (Err(zone), Ok(_)) => Err(zone),
        }
    }

    /// Whether `at` is one of this schedule's slots.
    pub fn is_slot(&self, at: DateTime<Utc>) -> bool {
        match self {
            Timing::Cron(cron, tz) => cron.next_after(*tz, at - Duration::seconds(1)) == Some(at),
            Timing::Once(t) => *t == at,
            Timing::Manual => false,
        }
    }

    /// The first slot strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Timing::Cron(cron, tz) => cron.next_after(*tz, t),
            Timing::Once(at) => (*at > t).then_some(*at),
            Timing::Manual => None,
        }
    }
}

/// The slot the scheduler waits for. The previous `nextRunAt` stays armed while it is still a
/// slot of the (possibly edited) schedule; otherwise the schedule is recomputed from `now`, so an
/// edit never fires a slot the new schedule would not have fired, and re-enabling never bursts.
pub fn arm(
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

/// The `nextRunAt` the Action controller arrives at for `action` at `now`, from its spec and last
/// status alone: what the REST facade shows while the status still describes an older generation
/// of the spec (a write's own answer, before the controller has reconciled it). A slot already
/// due is being fired, so the answer is the one after it.
pub fn expected_next_run(action: &Action, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if !action.spec.enabled {
        return None;
    }
    let timing = Timing::compile(action).ok()?;
    let prev = action.status.clone().unwrap_or_default();
    match (arm(&timing, &prev, &[], now), &timing) {
        (Some(at), _) if at > now => Some(at),
        (Some(_), Timing::Cron(..)) => timing.next_after(now),
        _ => None,
    }
}

/// `status.nextRun`: the armed slot, or the word for why there is none.
pub fn next_run_text(
    action: &Action,
    timing: &Result<Timing, Invalid>,
    armed: Option<DateTime<Utc>>,
) -> String {
    match (armed, timing) {
        (Some(at), _) => crate::time::format_time(&at),
        (None, Err(_)) => "invalid".into(),
        (None, Ok(Timing::Manual)) => "manual".into(),
        (None, Ok(_)) if !action.spec.enabled => "disabled".into(),
        (None, Ok(Timing::Once(_))) => "done".into(),
        (None, Ok(Timing::Cron(..))) => "never".into(),
    }
}

pub struct Due {
    pub count: u64,
    pub latest: DateTime<Utc>,
}

/// The slots from `first` (a due slot) up to `now`: how many, and the latest.
pub fn due_slots(timing: &Timing, first: DateTime<Utc>, now: DateTime<Utc>) -> Due {
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
