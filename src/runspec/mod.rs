//! Building an ActionRun from its Action: one function, shared by the scheduler and manual
//! triggers, so every run carries the same snapshot of what to call and with what, with its
//! templates already rendered (`template`).

pub mod naming;
pub mod template;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;

use crate::resources::{Action, ActionRun, ActionRunSpec, ActionSpec, ThreadMode, TriggerType};
use crate::runspec::naming::{manual_run_name, scheduled_run_name};

/// Label on every run naming its Action, for `kubectl get arun -l punctual.dev/action=NAME`.
pub const ACTION_LABEL: &str = "punctual.dev/action";

/// Annotation on a scheduled run: the Action generation it was built from. A run staged ahead of
/// its slot whose Action has changed since is stale: it is replaced, never sent.
pub const GENERATION_ANNOTATION: &str = "punctual.dev/action-generation";

/// Annotation asking the runner to cancel an active run (set by the REST cancel route, or by
/// hand: `kubectl annotate arun NAME punctual.dev/cancel="why"`). Its value is the reason
/// recorded in the run's `errorMessage`.
pub const CANCEL_ANNOTATION: &str = "punctual.dev/cancel";

/// Why a run is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// The slot with this nominal instant.
    Scheduled(DateTime<Utc>),
    Manual,
}

/// What a manual trigger may change for its one run (docs/rest.md, "Trigger, dry run, rerun").
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overrides {
    /// Replaces the Action's payload (its string leaves are still templates).
    pub payload: Option<crate::resources::JsonObject>,
    /// The thread of this run, whatever the Action's thread mode.
    pub thread_id: Option<String>,
    /// Extra template variables, beside the built-in ones (which they may not shadow).
    pub variables: BTreeMap<String, String>,
    /// The run this one re-runs.
    pub rerun_of: Option<String>,
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
    let overrides = Overrides {
        payload: payload_override.cloned(),
        ..Overrides::default()
    };
    build_run_with(action, trigger, now, random, &overrides)
}

/// `build_run` with every override a trigger may give.
pub fn build_run_with(
    action: &Action,
    trigger: Trigger,
    now: DateTime<Utc>,
    random: uuid::Uuid,
    overrides: &Overrides,
) -> ActionRun {
    let action_name = action.metadata.name.clone().unwrap_or_default();
    let (name, trigger_type, scheduled_at) = identity(&action_name, trigger, random);
    let spec = &action.spec;
    let payload = overrides.payload.as_ref().unwrap_or(&spec.payload);
    let resolved = resolve(
        action,
        &name,
        (trigger_type, scheduled_at, now),
        random,
        payload,
        overrides,
    );
    let (resolved_payload, resolved_thread_id, resolve_error) = match resolved {
        Ok((payload, thread)) => (payload, Some(thread), None),
        // The run is still created, unrendered, so that the failure is visible on it; the runner
        // fails it with `template_error` without calling the endpoint.
        Err(e) => (
            payload.clone(),
            unrendered_thread(spec, overrides, random),
            Some(e.to_string()),
        ),
    };
    ActionRun {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: action.metadata.namespace.clone(),
            labels: Some([(ACTION_LABEL.to_string(), action_name.clone())].into()),
            annotations: action
                .metadata
                .generation
                .map(|g| [(GENERATION_ANNOTATION.to_string(), g.to_string())].into()),
            owner_references: owner_reference(action).map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        spec: ActionRunSpec {
            action: action_name,
            trigger_type,
            scheduled_at,
            resolved_payload,
            resolved_thread_id,
            resolve_error,
            variables: overrides.variables.clone(),
            rerun_of: overrides.rerun_of.clone(),
            namespace_id: spec.namespace_id.clone(),
            endpoint: spec.endpoint.clone(),
            max_retries: spec.max_retries,
            retry_delay_seconds: spec.retry_delay_seconds,
            retry_backoff: spec.retry_backoff,
            max_retry_delay_seconds: spec.max_retry_delay_seconds,
            notifications: spec.notifications.clone(),
            timeout_seconds: spec.timeout_seconds,
            completion_timeout_seconds: spec.completion_timeout_seconds,
        },
        status: None,
    }
}

/// A run's name, trigger type and slot: deterministic for a slot (one run per slot), random
/// for a manual run.
fn identity(
    action_name: &str,
    trigger: Trigger,
    random: uuid::Uuid,
) -> (String, TriggerType, Option<DateTime<Utc>>) {
    match trigger {
        Trigger::Scheduled(slot) => (
            scheduled_run_name(action_name, slot),
            TriggerType::Scheduled,
            Some(slot),
        ),
        Trigger::Manual => {
            let short = &random.simple().to_string()[..10];
            (
                manual_run_name(action_name, short),
                TriggerType::Manual,
                None,
            )
        }
    }
}

/// The thread of a run whose templates did not render: what needs no template.
fn unrendered_thread(
    spec: &ActionSpec,
    overrides: &Overrides,
    random: uuid::Uuid,
) -> Option<String> {
    match (&overrides.thread_id, spec.thread_mode) {
        (Some(thread), _) => Some(thread.clone()),
        (None, ThreadMode::NewEachRun) => Some(random.to_string()),
        (None, ThreadMode::Fixed) => spec.thread_id.clone(),
        (None, ThreadMode::Template) => None,
    }
}

/// The variables a thread id template can use: those of `template_vars`.
pub const THREAD_VARIABLES: &[&str] = &[
    "action_id",
    "action_name",
    "app_id",
    "date",
    "namespace_id",
    "now",
    "run_id",
    "scheduled_at",
    "trigger_type",
    "triggered_at",
    "workspace_id",
];

/// The variables a payload template can use: the thread's, and the resolved `thread_id`.
pub fn payload_variables() -> Vec<&'static str> {
    let mut all: Vec<&'static str> = THREAD_VARIABLES.to_vec();
    all.push("thread_id");
    all.sort_unstable();
    all
}

/// The template variables of a run (docs/runner.md, "The request"), without `thread_id`.
///
/// Times are RFC 3339 UTC. `scheduled_at` is empty for manual runs. `date` is the day of the
/// slot (manual runs: of `now`) in the Action's zone, so a `daily-{{ date }}` thread follows the
/// schedule's day even when the run is created a moment after midnight.
pub fn template_vars(
    action: &Action,
    run_name: &str,
    trigger_type: TriggerType,
    scheduled_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> template::Vars {
    let zone = crate::cron::parse_timezone(&action.spec.timezone).unwrap_or(chrono_tz::UTC);
    let day = scheduled_at.unwrap_or(now).with_timezone(&zone);
    let time = crate::time::format_time;
    let vars: [(&str, String); 11] = [
        (
            "action_id",
            action.metadata.name.clone().unwrap_or_default(),
        ),
        ("action_name", action.display_name().to_string()),
        ("run_id", run_name.to_string()),
        (
            "workspace_id",
            action.metadata.namespace.clone().unwrap_or_default(),
        ),
        ("app_id", action.spec.app.clone()),
        ("namespace_id", action.spec.namespace_id.clone()),
        (
            "trigger_type",
            match trigger_type {
                TriggerType::Scheduled => "scheduled",
                TriggerType::Manual => "manual",
            }
            .to_string(),
        ),
        (
            "scheduled_at",
            scheduled_at.as_ref().map(time).unwrap_or_default(),
        ),
        ("triggered_at", time(&now)),
        ("now", time(&now)),
        ("date", day.format("%Y-%m-%d").to_string()),
    ];
    vars.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// The thread id, then the payload rendered with it. A trigger's variables come first, so a
/// built-in variable of the same name wins (the facade refuses such a name anyway).
fn resolve(
    action: &Action,
    run_name: &str,
    (trigger_type, scheduled_at, now): (TriggerType, Option<DateTime<Utc>>, DateTime<Utc>),
    random: uuid::Uuid,
    payload: &crate::resources::JsonObject,
    overrides: &Overrides,
) -> Result<(crate::resources::JsonObject, String), template::TemplateError> {
    let env = template::environment();
    let mut vars = overrides.variables.clone();
    vars.extend(template_vars(
        action,
        run_name,
        trigger_type,
        scheduled_at,
        now,
    ));
    let spec = &action.spec;
    let thread = match (&overrides.thread_id, spec.thread_mode) {
        (Some(thread), _) => thread.clone(),
        (None, ThreadMode::NewEachRun) => random.to_string(),
        (None, ThreadMode::Fixed) => spec.thread_id.clone().unwrap_or_default(),
        (None, ThreadMode::Template) => template::render_str(
            &env,
            "threadIdTemplate",
            spec.thread_id_template.as_deref().unwrap_or_default(),
            &vars,
        )?,
    };
    vars.insert("thread_id".to_string(), thread.clone());
    let mut rendered = crate::resources::JsonObject::new();
    for (key, value) in payload {
        let location = format!("payload.{key}");
        rendered.insert(
            key.clone(),
            template::render_value(&env, &location, value, &vars)?,
        );
    }
    Ok((rendered, thread))
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
mod tests;
