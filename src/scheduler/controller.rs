//! The Action controller: reads an Action, its runs and its endpoint from watch caches, asks
//! `plan` what to do, applies that through the API server, and requeues the Action for the exact
//! instant of its next slot. No polling loop: a reconcile happens when something changes or a
//! slot is due.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action as Requeue, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, predicates, watcher};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tracing::{debug, info, instrument, warn};

use super::plan::{Note, Plan, RunInfo, plan};
use crate::metrics::{ErrorLabels, Metrics, TriggerLabels};
use crate::resources::{Action, ActionEndpoint, ActionRun, ActionStatus};
use crate::runs::{Trigger, build_run};
use crate::{Clock, Error, Result};

/// Field manager of every write the scheduler makes.
pub const MANAGER: &str = "punctual-scheduler";

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    pub runs: Store<ActionRun>,
    pub endpoints: Store<ActionEndpoint>,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub clock: Arc<dyn Clock>,
    /// True once the run and endpoint caches hold their first full list. A reconcile must not
    /// plan from an empty run cache: right after a restart it would count slots whose runs exist
    /// as missed. (A watch channel, because `Store::wait_until_ready` wakes only one of several
    /// concurrent waiters.)
    pub ready: tokio::sync::watch::Receiver<bool>,
}

/// Runs the controller until `shutdown` resolves.
pub async fn run(
    client: Client,
    namespace: Option<&str>,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    concurrency: u16,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let (actions, runs_api, endpoints_api): (Api<Action>, Api<ActionRun>, Api<ActionEndpoint>) =
        match namespace {
            Some(ns) => (
                Api::namespaced(client.clone(), ns),
                Api::namespaced(client.clone(), ns),
                Api::namespaced(client.clone(), ns),
            ),
            None => (
                Api::all(client.clone()),
                Api::all(client.clone()),
                Api::all(client.clone()),
            ),
        };

    let (action_reader, action_writer) = reflector::store();
    // Status-only changes (our own writes) do not trigger a reconcile: only spec changes do.
    let action_stream = watcher(actions, watcher::Config::default().any_semantic())
        .default_backoff()
        .modify(|a: &mut Action| a.managed_fields_mut().clear())
        .reflect(action_writer)
        .applied_objects()
        .predicate_filter(predicates::generation, Default::default());

    let (run_reader, run_writer) = reflector::store();
    let run_stream = watcher(runs_api, watcher::Config::default().any_semantic())
        .default_backoff()
        .modify(|r: &mut ActionRun| r.managed_fields_mut().clear())
        .reflect(run_writer)
        .touched_objects();

    let (endpoint_reader, endpoint_writer) = reflector::store();
    let endpoint_stream = watcher(endpoints_api, watcher::Config::default().any_semantic())
        .default_backoff()
        .reflect(endpoint_writer)
        .touched_objects();

    let reporter = Reporter {
        controller: MANAGER.into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let (ready_tx, ready) = tokio::sync::watch::channel(false);
    {
        let (runs, endpoints) = (run_reader.clone(), endpoint_reader.clone());
        tokio::spawn(async move {
            let _ = runs.wait_until_ready().await;
            let _ = endpoints.wait_until_ready().await;
            let _ = ready_tx.send(true);
        });
    }
    let ctx = Arc::new(Context {
        client: client.clone(),
        ready,
        runs: run_reader,
        endpoints: endpoint_reader,
        recorder: Recorder::new(client, reporter),
        metrics,
        clock,
    });
    let by_endpoint = action_reader.clone();
    Controller::for_stream(action_stream, action_reader)
        .owns_stream(run_stream)
        // An endpoint appearing or disappearing changes the EndpointResolved condition of every
        // Action that names it.
        .watches_stream(endpoint_stream, move |ep: ActionEndpoint| {
            let ns = ep.namespace().unwrap_or_default();
            let name = ep.name_any();
            by_endpoint
                .state()
                .into_iter()
                .filter(|a| {
                    a.namespace().as_deref() == Some(ns.as_str()) && a.spec.endpoint == name
                })
                .map(|a| ObjectRef::from_obj(&*a))
                .collect::<Vec<_>>()
        })
        .with_config(kube::runtime::Config::default().concurrency(concurrency))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

fn error_policy(_action: Arc<Action>, error: &Error, ctx: Arc<Context>) -> Requeue {
    ctx.metrics
        .reconcile_errors
        .get_or_create(&ErrorLabels {
            error: error.label().into(),
        })
        .inc();
    // A conflict means another write won (often our own previous write, not yet in the cache):
    // routine, so not a warning; recompute right away from the fresher object.
    if error.is_conflict() {
        debug!(%error, "status write lost a race; recomputing");
    } else {
        warn!(%error, "reconcile failed; retrying");
    }
    Requeue::requeue(Duration::from_millis(if error.is_conflict() {
        200
    } else {
        2000
    }))
}

#[instrument(skip_all, fields(action = %action.name_any(), namespace = action.namespace().unwrap_or_default()))]
async fn reconcile(action: Arc<Action>, ctx: Arc<Context>) -> Result<Requeue> {
    ctx.metrics.reconciles.inc();
    if action.meta().deletion_timestamp.is_some() {
        // The garbage collector deletes the runs.
        return Ok(Requeue::await_change());
    }
    let _ = ctx.ready.clone().wait_for(|ready| *ready).await;
    let ns = action.namespace().unwrap_or_default();
    let runs = owned_runs(&ctx.runs, &action);
    let endpoint = ObjectRef::new(&action.spec.endpoint).within(&ns);
    let endpoint_exists = ctx.endpoints.get(&endpoint).is_some();
    let now = ctx.clock.now();
    let plan = plan(&action, &runs, endpoint_exists, now);
    apply(&action, &plan, &ctx).await?;
    Ok(match plan.requeue_at {
        Some(at) => Requeue::requeue((at - ctx.clock.now()).to_std().unwrap_or_default()),
        None => Requeue::await_change(),
    })
}

/// The runs this Action controls, as the plan needs them.
fn owned_runs(store: &Store<ActionRun>, action: &Action) -> Vec<RunInfo> {
    let uid = action.uid();
    store
        .state()
        .into_iter()
        .filter(|r| {
            r.owner_references()
                .iter()
                .any(|o| Some(&o.uid) == uid.as_ref())
        })
        .map(|r| {
            let status = r.status.clone().unwrap_or_default();
            let created = r
                .creation_timestamp()
                .map(|t| crate::rest::model::to_chrono(&t));
            RunInfo {
                name: r.name_any(),
                phase: status.status,
                scheduled_at: r.spec.scheduled_at,
                triggered_at: status.triggered_at.or(created).unwrap_or_default(),
                execution_id: status.execution_id,
            }
        })
        .collect()
}

async fn apply(action: &Action, plan: &Plan, ctx: &Context) -> Result<()> {
    let ns = action.namespace().unwrap_or_default();
    let runs: Api<ActionRun> = Api::namespaced(ctx.client.clone(), &ns);
    for name in &plan.cancel {
        cancel_run(&runs, name, ctx.clock.now()).await?;
    }
    // Last-run fields and activeRuns catch up on the reconcile the new run's watch event causes.
    let status = &plan.status;
    let mut created = false;
    if let Some(slot) = plan.create {
        let run = build_run(
            action,
            Trigger::Scheduled(slot),
            ctx.clock.now(),
            uuid::Uuid::new_v4(),
            None,
        );
        match runs.create(&PostParams::default(), &run).await {
            Ok(_) => {
                let lag = (ctx.clock.now() - slot).num_milliseconds() as f64 / 1000.0;
                ctx.metrics.schedule_lag.observe(lag);
                ctx.metrics
                    .runs_created
                    .get_or_create(&TriggerLabels {
                        trigger: "scheduled".into(),
                    })
                    .inc();
                info!(run = %run.name_any(), slot = %slot, lag_seconds = lag, "created run");
                created = true;
            }
            // Already created by an earlier pass (or another replica): the slot has fired.
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => return Err(Error::Kube(e)),
        }
    }
    let prev = action.status.clone().unwrap_or_default();
    ctx.metrics
        .slots_missed
        .inc_by((status.missed_runs - prev.missed_runs).max(0) as u64);
    ctx.metrics
        .slots_skipped
        .inc_by((status.skipped_runs - prev.skipped_runs).max(0) as u64);
    if scheduler_fields(status) != scheduler_fields(&prev)
        && !(created && only_timing_changed(status, &prev) && plan.events.is_empty())
    {
        write_status(action, status, ctx).await?;
    }
    for note in &plan.events {
        publish(action, note, ctx).await;
    }
    Ok(())
}

/// Whether a status differs from the previous one only in where the schedule stands. After
/// creating a run such a write is left out: the new run's watch event reconciles the Action again
/// within moments, and that pass finds the slot fired (its run exists) and writes the same timing
/// together with the new run as active, in one write instead of two. This halves the writes per
/// slot, which is what bounds schedule lag when thousands of Actions share a minute.
fn only_timing_changed(status: &ActionStatus, prev: &ActionStatus) -> bool {
    let strip = |s: &ActionStatus| {
        let mut v = scheduler_fields(s);
        for key in ["nextRunAt", "lastScheduleTime", "upcoming"] {
            v[key] = serde_json::Value::Null;
        }
        v
    };
    strip(status) == strip(prev)
}

/// The status fields the scheduler owns. The run counters (`totalRuns`, `successfulRuns`,
/// `failedRuns`) belong to the runner and are never part of the scheduler's writes.
fn scheduler_fields(s: &ActionStatus) -> serde_json::Value {
    json!({
        "observedGeneration": s.observed_generation,
        "conditions": s.conditions,
        "nextRunAt": s.next_run_at,
        "lastScheduleTime": s.last_schedule_time,
        "lastRunAt": s.last_run_at,
        "lastRunName": s.last_run_name,
        "lastRunStatus": s.last_run_status,
        "lastExecutionId": s.last_execution_id,
        "activeRuns": s.active_runs,
        "missedRuns": s.missed_runs,
        "skippedRuns": s.skipped_runs,
        "upcoming": s.upcoming,
    })
}

/// A merge patch of the scheduler's fields, conditional on the resourceVersion the plan was
/// computed from: if anything changed meanwhile the write fails with 409 and the reconcile
/// recomputes, so counters are never incremented from a stale copy.
async fn write_status(action: &Action, status: &ActionStatus, ctx: &Context) -> Result<()> {
    let api: Api<Action> =
        Api::namespaced(ctx.client.clone(), &action.namespace().unwrap_or_default());
    let patch = json!({
        "metadata": {"resourceVersion": action.resource_version()},
        "status": scheduler_fields(status),
    });
    api.patch_status(
        &action.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map_err(Error::Kube)?;
    Ok(())
}

async fn cancel_run(runs: &Api<ActionRun>, name: &str, now: DateTime<Utc>) -> Result<()> {
    let patch = json!({"status": {
        "status": "cancelled", "errorCode": "cancelled", "completedAt": now,
        "errorMessage": "replaced by a newer slot (concurrencyPolicy Replace)",
        "nextAttemptAt": null,
    }});
    match runs
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(Error::Kube(e)),
    }
}

async fn publish(action: &Action, note: &Note, ctx: &Context) {
    let event = Event {
        type_: if note.warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: note.reason.to_string(),
        note: Some(note.message.clone()),
        action: "Schedule".into(),
        secondary: None,
    };
    // An Event is informational: failing to record one must not fail the reconcile.
    if let Err(e) = ctx.recorder.publish(&event, &action.object_ref(&())).await {
        warn!(error = %e, reason = note.reason, "could not publish event");
    }
}
