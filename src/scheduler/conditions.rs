//! The Action's conditions and the Events of their transitions (pure).

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use super::plan::Note;
use super::timing::{Invalid, Timing};
use crate::resources::{Action, ActionStatus, ThreadMode};
use crate::time::to_time;

/// The conditions (`ScheduleValid`, `TemplatesValid`, `EndpointResolved`, `Suspended`, and
/// `Ready` over them), with an Event for each transition that needs one. `Ready` names every
/// problem at once (schedule, templates, endpoint), its reason that of the first. `suspended` is
/// the message of a suspension for consecutive failures.
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
    let schedule = timing
        .as_ref()
        .err()
        .map(|(reason, msg)| (*reason, msg.clone()));
    conditions.validity("ScheduleValid", schedule, "the schedule is valid", events);
    let templates = template_problems(action);
    conditions.validity(
        "TemplatesValid",
        templates.clone().map(|msg| ("InvalidTemplate", msg)),
        "every template is valid",
        events,
    );
    conditions.endpoint(&spec.endpoint, endpoint_exists, events);
    conditions.suspension(spec.enabled, suspended, events);
    let mut problems: Vec<(&str, String)> = Vec::new();
    if let Err((reason, msg)) = timing {
        problems.push((reason, msg.clone()));
    }
    if let Some(msg) = templates {
        problems.push(("InvalidTemplate", msg));
    }
    if !endpoint_exists {
        problems.push((
            "EndpointNotFound",
            format!("ActionEndpoint {:?} not found", spec.endpoint),
        ));
    }
    conditions.ready(&problems);
    conditions.into_vec()
}

/// Every template problem of the Action in one message, or None. The thread template counts
/// only when `threadMode` is `template` (the runner renders it only then).
fn template_problems(action: &Action) -> Option<String> {
    let spec = &action.spec;
    let thread = match spec.thread_mode {
        ThreadMode::Template => spec.thread_id_template.as_deref(),
        _ => None,
    };
    let errors = crate::runspec::template::check_all(thread, &spec.payload, &[]);
    let all: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    (!all.is_empty()).then(|| all.join("; "))
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

    /// A condition saying whether something is valid: True with reason `Valid`, or False with
    /// the problem's reason and message. A Warning Event when it becomes invalid or the problem
    /// changes (another mistake is news), a Normal one when it is valid again.
    fn validity(
        &mut self,
        type_: &'static str,
        problem: Option<(&'static str, String)>,
        valid: &str,
        events: &mut Vec<Note>,
    ) {
        let old = self.prev.iter().find(|c| c.type_ == type_);
        match problem {
            None => {
                self.set(type_, true, "Valid", valid);
                if old.is_some_and(|c| c.status == "False") {
                    events.push(Note {
                        warning: false,
                        reason: type_,
                        message: format!("{valid} again"),
                    });
                }
            }
            Some((reason, msg)) => {
                let changed = old.is_none_or(|c| c.message != msg);
                if self.set(type_, false, reason, &msg) || changed {
                    events.push(Note {
                        warning: true,
                        reason,
                        message: msg,
                    });
                }
            }
        }
    }

    /// `EndpointResolved`, with a Warning Event when the endpoint goes missing.
    fn endpoint(&mut self, name: &str, exists: bool, events: &mut Vec<Note>) {
        if exists {
            self.set(
                "EndpointResolved",
                true,
                "Found",
                "the ActionEndpoint exists",
            );
            return;
        }
        let msg = format!("ActionEndpoint {name:?} not found in this namespace");
        if self.set("EndpointResolved", false, "EndpointNotFound", &msg) {
            events.push(Note {
                warning: true,
                reason: "EndpointNotFound",
                message: msg,
            });
        }
    }

    /// `Suspended`: by the user (`enabled: false`), or for consecutive failures (`suspended`,
    /// the message), with an Event when a failure suspension starts or is reset.
    fn suspension(&mut self, enabled: bool, suspended: Option<&str>, events: &mut Vec<Note>) {
        let was_suspended = self
            .prev
            .iter()
            .any(|c| c.type_ == "Suspended" && c.reason == "ConsecutiveFailures");
        match (enabled, suspended) {
            (true, Some(message)) => {
                if self.set("Suspended", true, "ConsecutiveFailures", message) {
                    events.push(Note {
                        warning: true,
                        reason: "ConsecutiveFailures",
                        message: message.to_string(),
                    });
                }
            }
            (true, None) => {
                self.set("Suspended", false, "Enabled", "the schedule is active");
                if was_suspended {
                    events.push(Note {
                        warning: false,
                        reason: "Resumed",
                        message: "the failure streak was reset: the schedule is active again"
                            .into(),
                    });
                }
            }
            (false, _) => {
                self.set(
                    "Suspended",
                    true,
                    "Disabled",
                    "enabled is false: no new slots fire",
                );
            }
        }
    }

    /// `Ready` over every problem at once, its reason that of the first.
    fn ready(&mut self, problems: &[(&str, String)]) {
        match problems.first() {
            None => self.set("Ready", true, "Ready", "the Action is ready"),
            Some((reason, _)) => {
                let all: Vec<&str> = problems.iter().map(|(_, m)| m.as_str()).collect();
                self.set("Ready", false, reason, &all.join("; "))
            }
        };
    }

    fn into_vec(self) -> Vec<Condition> {
        self.out
    }
}
