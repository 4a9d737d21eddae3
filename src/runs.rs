//! Building an ActionRun from its Action: one function, shared by the scheduler and manual
//! triggers, so every run carries the same snapshot of what to call and with what.

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;

use crate::resources::{Action, ActionRun, ActionRunSpec, ThreadMode, TriggerType};
use crate::scheduler::naming::{manual_run_name, scheduled_run_name};

/// Label on every run naming its Action, for `kubectl get arun -l punctual.dev/action=NAME`.
pub const ACTION_LABEL: &str = "punctual.dev/action";

/// Why a run is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// The slot with this nominal instant.
    Scheduled(DateTime<Utc>),
    Manual,
}

/// The ActionRun for one execution of `action`, created at `now`. `random` makes manual names and
/// fresh thread ids unique; it is a parameter so that tests are repeatable. `payload_override`
/// replaces the Action's payload for this one run (a manual trigger with a body).
pub fn build_run(
    action: &Action,
    trigger: Trigger,
    now: DateTime<Utc>,
    random: uuid::Uuid,
    payload_override: Option<&crate::resources::JsonObject>,
) -> ActionRun {
    // Rendering templates against `now` is the runner issue's part; `now` is in the signature so
    // that every caller already passes it.
    let _ = now;
    let action_name = action.metadata.name.clone().unwrap_or_default();
    let (name, trigger_type, scheduled_at) = match trigger {
        Trigger::Scheduled(slot) => (
            scheduled_run_name(&action_name, slot),
            TriggerType::Scheduled,
            Some(slot),
        ),
        Trigger::Manual => {
            let short = &random.simple().to_string()[..10];
            (
                manual_run_name(&action_name, short),
                TriggerType::Manual,
                None,
            )
        }
    };
    let spec = &action.spec;
    // Templates are rendered by the runner issue's resolver; until then a template thread id is
    // kept as written.
    let resolved_thread_id = match spec.thread_mode {
        ThreadMode::NewEachRun => Some(random.to_string()),
        ThreadMode::Fixed => spec.thread_id.clone(),
        ThreadMode::Template => spec.thread_id_template.clone(),
    };
    ActionRun {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: action.metadata.namespace.clone(),
            labels: Some([(ACTION_LABEL.to_string(), action_name.clone())].into()),
            owner_references: owner_reference(action).map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        spec: ActionRunSpec {
            action: action_name,
            trigger_type,
            scheduled_at,
            resolved_payload: payload_override
                .cloned()
                .unwrap_or_else(|| spec.payload.clone()),
            resolved_thread_id,
            resolve_error: None,
            namespace_id: spec.namespace_id.clone(),
            endpoint: spec.endpoint.clone(),
            max_retries: spec.max_retries,
            retry_delay_seconds: spec.retry_delay_seconds,
            timeout_seconds: spec.timeout_seconds,
        },
        status: None,
    }
}

/// The controller owner reference that makes deleting an Action delete its runs.
fn owner_reference(action: &Action) -> Option<OwnerReference> {
    let mut owner = action.controller_owner_ref(&())?;
    owner.block_owner_deletion = Some(true);
    Some(owner)
}

/// The `executionId` of one attempt of a run: a UUID derived from the run's uid and the attempt
/// number, so it is new for every attempt yet known before the attempt starts (a trigger answers
/// with the first one) and the same after a restart. Both the runner and the facade use this.
pub fn execution_id(run_uid: &str, attempt: u32) -> uuid::Uuid {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("{run_uid}/{attempt}").as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_ids_differ_per_attempt_and_per_run_and_are_stable() {
        let a1 = execution_id("uid-a", 1);
        assert_eq!(a1, execution_id("uid-a", 1));
        assert_ne!(a1, execution_id("uid-a", 2));
        assert_ne!(a1, execution_id("uid-b", 1));
    }
}
