//! The Action's conditions and the Events of their transitions (pure).

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use super::plan::Note;
use super::timing::{Invalid, Timing};
use crate::resources::{Action, ActionStatus};
use crate::time::to_time;

/// The conditions (`ScheduleValid`, `EndpointResolved`, `Suspended`, and `Ready` over them), with
/// an Event for each transition that needs one. `suspended` is the message of a suspension for
/// consecutive failures.
pub fn conditions(
    action: &Action,
    prev: &ActionStatus,
    timing: &Result<Timing, Invalid>,
    endpoint_exists: bool,
    suspended: Option<&str>,
    now: DateTime<Utc>,
    events: &mut Vec<Note>,
) -> Vec<Condition> {
    let spec = &action.spec;
    let mut conditions = Conditions::new(&prev.conditions, action.metadata.generation, now);
    match timing {
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
    let was_suspended = prev
        .conditions
        .iter()
        .any(|c| c.type_ == "Suspended" && c.reason == "ConsecutiveFailures");
    if let (true, Some(message)) = (spec.enabled, suspended) {
        if conditions.set("Suspended", true, "ConsecutiveFailures", message) {
            events.push(Note {
                warning: true,
                reason: "ConsecutiveFailures",
                message: message.to_string(),
            });
        }
    } else if spec.enabled {
        conditions.set("Suspended", false, "Enabled", "the schedule is active");
        if was_suspended {
            events.push(Note {
                warning: false,
                reason: "Resumed",
                message: "the failure streak was reset: the schedule is active again".into(),
            });
        }
    } else {
        conditions.set(
            "Suspended",
            true,
            "Disabled",
            "enabled is false: no new slots fire",
        );
    }
    let ready = match (timing, endpoint_exists) {
        (Err((reason, msg)), _) => (false, *reason, msg.clone()),
        (Ok(_), false) => (
            false,
            "EndpointNotFound",
            "the ActionEndpoint does not exist".into(),
        ),
        (Ok(_), true) => (true, "Ready", "the Action is ready".to_string()),
    };
    conditions.set("Ready", ready.0, ready.1, &ready.2);
    conditions.into_vec()
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
