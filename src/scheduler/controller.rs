//! The Action controller: reads an Action and its runs from the shared caches, asks `plan` what to
//! do, applies that through the API server, and requeues the Action for the exact instant of its
//! next slot (or of its next staging). No polling loop.
//!
//! It is the only writer of the Action status: schedule, last run and counters go out in one
//! conditional write, so a slot whose run finishes quickly costs one Action write in all. A 409
//! means the cached Action was behind: the controller reads it from the API server and plans
//! again from that (docs/write-path.md).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{Stream, StreamExt};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::controller::{Action as Requeue, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tracing::{debug, info, instrument, warn};

use super::counting;
use super::plan::{Note, Plan, RunInfo, Staging, plan_staged};
use crate::cache::{ActionKey, Caches, Change, owned_by};
use crate::metrics::{ErrorLabels, Metrics, TriggerLabels};
use crate::resources::{Action, ActionRun, ActionStatus};
use crate::runspec::{GENERATION_ANNOTATION, Trigger, build_run};
use crate::{Clock, Error, Result};

/// Field manager of every write the scheduler makes.
pub const MANAGER: &str = "punctual-scheduler";

/// How the controller is set up.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Reconciles at the same time.
    pub concurrency: u16,
    pub staging: Staging,
}

/// How long a history deletion is trusted to be on its way to the cache (after that, a run still
/// cached is deleted again).
const DELETING_FOR: Duration = Duration::from_secs(60);

/// How long the controller's own last status write is preferred to the cache (`written`).
const WRITTEN_FOR: Duration = Duration::from_secs(30);

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    pub caches: Caches,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub clock: Arc<dyn Clock>,
    pub staging: Staging,
    /// Finished runs seen deleted before they were counted, by Action, until a status write
    /// counts them (a run deleted by hand right after it finished still counts).
    pub deleted: Mutex<HashMap<ActionKey, Vec<RunInfo>>>,
    /// Runs this process deleted from history whose deletion the cache has not shown yet, by
    /// (namespace, name): a reconcile from that cache would delete them again (a 404, but a
    /// request all the same).
    pub deleting: Mutex<HashMap<(String, String), std::time::Instant>>,
    /// The Action as this process's last status write left it, by uid, with when it was
    /// written. While the cache has the same generation (no spec change since), a reconcile
    /// plans from this copy instead of the cached one, whose status may predate the write (a
    /// 409 at best). Only this controller writes the status, so its last write holds the newest
    /// status; anything else that changed meanwhile still ends in a 409 and a fresh read.
    pub written: Mutex<HashMap<String, (Action, std::time::Instant)>>,
}

fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(MANAGER.into()),
        ..PatchParams::default()
    }
}

/// Runs the controller until `shutdown` resolves.
pub async fn run(
    client: Client,
    caches: Caches,
    config: Config,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let reporter = Reporter {
        controller: MANAGER.into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let ctx = Arc::new(Context {
        client: client.clone(),
        caches: caches.clone(),
        recorder: Recorder::new(client, reporter),
        metrics,
        clock,
        staging: config.staging,
        deleted: Mutex::default(),
        deleting: Mutex::default(),
        written: Mutex::default(),
    });

    let actions = spec_changes(&ctx);
    let runs = run_changes(&ctx);
    let endpoints = endpoint_changes(&caches);
    Controller::for_shared_stream(actions, caches.actions().clone())
        .reconcile_on(futures::stream::select(runs, endpoints))
        .with_config(kube::runtime::Config::default().concurrency(config.concurrency))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

/// The Actions to reconcile for a change of their own: a spec change (or a new resume
/// annotation), or a deletion starting. Its own status writes do not count (they would only
/// echo); each write's copy in `written` is forgotten once the cache shows it.
fn spec_changes(ctx: &Arc<Context>) -> impl Stream<Item = Arc<Action>> + Send + 'static {
    let mut generations: HashMap<ObjectRef<Action>, (Option<i64>, Option<String>)> = HashMap::new();
    let ctx = ctx.clone();
    ctx.caches.subscribe_actions().filter_map(move |change| {
        if let (Some(uid), Ok(mut written)) = (change.object().uid(), ctx.written.lock()) {
            let shown = written
                .get(&uid)
                .is_some_and(|(w, _)| w.resource_version() == change.object().resource_version());
            if shown || matches!(change, Change::Deleted(_)) {
                written.remove(&uid);
            }
        }
        let out = match change {
            Change::Applied(a) => {
                let key = ObjectRef::from_obj(&*a);
                let generation = (a.metadata.generation, a.failure_streak_epoch());
                let gone = a.meta().deletion_timestamp.is_some();
                let changed = generations.get(&key) != Some(&generation);
                generations.insert(key, generation);
                (changed || gone).then_some(a)
            }
            Change::Deleted(a) => {
                generations.remove(&ObjectRef::from_obj(&*a));
                None
            }
        };
        futures::future::ready(out)
    })
}

/// The Action of each run that changed: its status may change (counters, last run, active
/// runs). A deleted run is remembered for counting (`remember_deleted`).
fn run_changes(ctx: &Arc<Context>) -> impl Stream<Item = ObjectRef<Action>> + Send + 'static {
    let ctx = ctx.clone();
    ctx.caches.subscribe_runs().filter_map(move |change| {
        let run = change.object().clone();
        if let Change::Deleted(r) = &change {
            remember_deleted(&ctx, r);
            if let Ok(mut deleting) = ctx.deleting.lock() {
                deleting.remove(&(r.namespace().unwrap_or_default(), r.name_any()));
            }
        }
        let ns = run.namespace().unwrap_or_default();
        futures::future::ready(Some(ObjectRef::<Action>::new(&run.spec.action).within(&ns)))
    })
}

/// Every Action naming an endpoint that appeared or disappeared (its EndpointResolved
/// condition changes).
fn endpoint_changes(caches: &Caches) -> impl Stream<Item = ObjectRef<Action>> + Send + 'static {
    let caches = caches.clone();
    caches.subscribe_endpoints().flat_map(move |change| {
        let ep = change.object();
        let ns = ep.namespace().unwrap_or_default();
        let name = ep.name_any();
        let refs: Vec<ObjectRef<Action>> = caches
            .actions()
            .state()
            .into_iter()
            .filter(|a| a.namespace().as_deref() == Some(ns.as_str()) && a.spec.endpoint == name)
            .map(|a| ObjectRef::from_obj(&*a))
            .collect();
        futures::stream::iter(refs)
    })
}

/// Keeps a finished run deleted before it was counted, for the next status write to count.
fn remember_deleted(ctx: &Context, run: &ActionRun) {
    let info = run_info(run);
    if counting::effect(info.phase, info.error_code).is_none() {
        return;
    }
    let key = (run.namespace().unwrap_or_default(), run.spec.action.clone());
    if let Ok(mut map) = ctx.deleted.lock() {
        map.entry(key).or_default().push(RunInfo {
            deleted: true,
            ..info
        });
    }
}

fn error_policy(_action: Arc<Action>, error: &Error, ctx: Arc<Context>) -> Requeue {
    ctx.metrics
        .reconcile_errors
        .get_or_create(&ErrorLabels {
            error: error.label().into(),
        })
        .inc();
    warn!(%error, "reconcile failed; retrying");
    Requeue::requeue(Duration::from_secs(2))
}

#[instrument(skip_all, fields(action = %action.name_any(), namespace = action.namespace().unwrap_or_default()))]
async fn reconcile(action: Arc<Action>, ctx: Arc<Context>) -> Result<Requeue> {
    ctx.metrics.reconciles.inc();
    if action.meta().deletion_timestamp.is_some() {
        // The garbage collector deletes the runs.
        return Ok(Requeue::await_change());
    }
    // Planning from caches that have not listed yet would count slots whose runs exist as missed.
    ctx.caches.wait_ready().await;
    let ns = action.namespace().unwrap_or_default();
    let api: Api<Action> = Api::namespaced(ctx.client.clone(), &ns);
    let mut current = action
        .uid()
        .and_then(|uid| ctx.written.lock().ok()?.get(&uid).cloned())
        .filter(|(w, at)| {
            // Annotations count as a change too: the resume annotation moves no generation.
            w.metadata.generation == action.metadata.generation
                && w.metadata.annotations == action.metadata.annotations
                && at.elapsed() < WRITTEN_FOR
        })
        .map_or_else(|| (*action).clone(), |(w, _)| w);
    for _ in 0..5 {
        let key = (ns.clone(), current.name_any());
        let mut runs: Vec<RunInfo> = ctx
            .caches
            .runs_of(&ns, &key.1)
            .iter()
            .filter(|r| owned_by(r, &current))
            .map(|r| run_info(r))
            .collect();
        if let Ok(map) = ctx.deleted.lock()
            && let Some(gone) = map.get(&key)
        {
            runs.extend(gone.iter().cloned());
        }
        let endpoint = ObjectRef::new(&current.spec.endpoint).within(&ns);
        let endpoint_exists = ctx.caches.endpoints().get(&endpoint).is_some();
        let now = ctx.clock.now();
        let plan = plan_staged(&current, &runs, endpoint_exists, now, ctx.staging);
        match apply(&current, &plan, &ctx).await {
            Ok(()) => {
                forget_deleted(&ctx, &key, &plan);
                clean_history(&ctx, &current, &runs, &plan.status).await?;
                return Ok(match plan.requeue_at {
                    Some(at) => {
                        Requeue::requeue((at - ctx.clock.now()).to_std().unwrap_or_default())
                    }
                    None => Requeue::await_change(),
                });
            }
            // The cached Action was behind: decide again from the API server's copy.
            Err(e) if e.is_conflict() => {
                debug!("status write lost a race; planning from a fresh read");
                match api
                    .get_opt(&current.name_any())
                    .await
                    .map_err(Error::Kube)?
                {
                    Some(fresh) if fresh.uid() == current.uid() => current = fresh,
                    _ => return Ok(Requeue::await_change()),
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Requeue::requeue(Duration::from_millis(200)))
}

/// Drops remembered deleted runs that the status just written (or needing no write) accounts for.
fn forget_deleted(ctx: &Context, key: &ActionKey, plan: &Plan) {
    let Ok(mut map) = ctx.deleted.lock() else {
        return;
    };
    if let Some(gone) = map.get_mut(key) {
        gone.retain(|r| {
            !plan.counted.iter().any(|(n, _)| *n == r.name) && !plan.settled.contains(&r.name)
        });
        if gone.is_empty() {
            map.remove(key);
        }
    }
}

/// What the plan needs to know about a run.
pub fn run_info(r: &ActionRun) -> RunInfo {
    let status = r.status.clone().unwrap_or_default();
    let created = r.creation_timestamp().map(|t| crate::time::to_chrono(&t));
    RunInfo {
        name: r.name_any(),
        uid: r.uid(),
        phase: status.status,
        scheduled_at: r.spec.scheduled_at,
        triggered_at: status.triggered_at.or(created).unwrap_or_default(),
        execution_id: status.execution_id,
        error_code: status.error_code,
        error_message: status.error_message,
        completed_at: status.completed_at,
        attempt: status.attempt,
        generation: r
            .annotations()
            .get(GENERATION_ANNOTATION)
            .and_then(|g| g.parse().ok()),
        deleted: false,
        notification_pending: status
            .notification
            .as_ref()
            .is_some_and(|n| n.phase == crate::resources::NotificationPhase::Pending),
        accepted: status
            .attempts
            .last()
            .is_some_and(|a| a.http_status == Some(202)),
    }
}

async fn apply(action: &Action, plan: &Plan, ctx: &Context) -> Result<()> {
    let ns = action.namespace().unwrap_or_default();
    let runs: Api<ActionRun> = Api::namespaced(ctx.client.clone(), &ns);
    for (name, uid) in &plan.unstage {
        // Only that very run: a fresh one of the same name may already replace it.
        let dp = DeleteParams {
            preconditions: Some(Preconditions {
                uid: uid.clone(),
                resource_version: None,
            }),
            ..DeleteParams::background()
        };
        match runs.delete(name, &dp).await {
            Ok(_) => info!(run = %name, "deleted a staged run its Action no longer wants"),
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
            Err(e) => return Err(Error::Kube(e)),
        }
    }
    for slot in plan.create.iter().chain(plan.stage.iter()) {
        create_run(action, *slot, &runs, ctx).await?;
    }
    if plan.write {
        let mut written = write_status(action, &plan.status, ctx).await?;
        // Pruned like the cache's copy: compared with it below, and kept for up to 30 s.
        crate::cache::prune_action(&mut written);
        if let (Some(uid), Ok(mut map)) = (written.uid(), ctx.written.lock()) {
            map.retain(|_, (_, at)| at.elapsed() < WRITTEN_FOR);
            map.insert(uid, (written, std::time::Instant::now()));
        }
        let prev = action.status.clone().unwrap_or_default();
        let missed = plan.status.missed_runs - prev.missed_runs;
        let skipped = plan.status.skipped_runs - prev.skipped_runs;
        ctx.metrics.slots_not_run(
            &action.namespace().unwrap_or_default(),
            missed.max(0) as u64,
            skipped.max(0) as u64,
        );
        for (_, effect) in &plan.counted {
            debug!(?effect, "counted");
        }
        for note in &plan.events {
            publish(action, note, ctx).await;
        }
    }
    Ok(())
}

async fn create_run(
    action: &Action,
    slot: chrono::DateTime<chrono::Utc>,
    runs: &Api<ActionRun>,
    ctx: &Context,
) -> Result<()> {
    let now = ctx.clock.now();
    let run = build_run(
        action,
        Trigger::Scheduled(slot),
        now,
        uuid::Uuid::new_v4(),
        None,
    );
    let pp = PostParams {
        field_manager: Some(MANAGER.into()),
        ..PostParams::default()
    };
    match runs.create(&pp, &run).await {
        Ok(_) => {
            // Negative when staged ahead of the slot; the lag users feel is measured by the runner.
            let lag = (now - slot).num_milliseconds() as f64 / 1000.0;
            ctx.metrics
                .runs_created
                .get_or_create(&TriggerLabels {
                    trigger: "scheduled".into(),
                })
                .inc();
            info!(run = %run.name_any(), slot = %slot, lag_seconds = lag, "created run");
            Ok(())
        }
        // Already created by an earlier pass (or another replica): the slot has its run.
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(Error::Kube(e)),
    }
}

/// Deletes finished runs beyond the Action's history limits, and counted bookkeeping runs, as
/// `counting::history_victims` picks them from the ledger the API server now holds.
async fn clean_history(
    ctx: &Context,
    action: &Action,
    runs: &[RunInfo],
    status: &ActionStatus,
) -> Result<()> {
    let victims = counting::history_victims(
        runs,
        &status.counted_runs,
        usize::try_from(action.spec.successful_runs_history_limit).unwrap_or(0),
        usize::try_from(action.spec.failed_runs_history_limit).unwrap_or(0),
    );
    let ns = action.namespace().unwrap_or_default();
    let api: Api<ActionRun> = Api::namespaced(ctx.client.clone(), &ns);
    for victim in victims {
        let key = (ns.clone(), victim.clone());
        let recent = |at: &std::time::Instant| at.elapsed() < DELETING_FOR;
        if ctx
            .deleting
            .lock()
            .is_ok_and(|d| d.get(&key).is_some_and(recent))
        {
            continue; // deleted already; the cache has not shown it yet
        }
        // `runs` was read before this reconcile's status write; the run's delete event may have
        // come meanwhile (and cleared `deleting`). The store shows it before anyone is told.
        if ctx
            .caches
            .runs()
            .get(&ObjectRef::new(&victim).within(&ns))
            .is_none()
        {
            continue;
        }
        match api.delete(&victim, &DeleteParams::background()).await {
            Ok(_) => debug!(run = %victim, "deleted from history"),
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(Error::Kube(e)),
        }
        // Forgotten when the run's delete event arrives; until then it is not deleted again.
        if let Ok(mut d) = ctx.deleting.lock() {
            d.retain(|_, at| recent(at));
            d.insert(key, std::time::Instant::now());
        }
    }
    Ok(())
}

/// The controller's status fields as a merge patch, conditional on the resourceVersion the plan
/// was computed from: if anything changed meanwhile the write fails with 409 and the reconcile
/// plans again from a fresh read, so nothing is counted from a stale copy.
async fn write_status(action: &Action, status: &ActionStatus, ctx: &Context) -> Result<Action> {
    let api: Api<Action> =
        Api::namespaced(ctx.client.clone(), &action.namespace().unwrap_or_default());
    let mut body = serde_json::to_value(status).unwrap_or_else(|_| json!({}));
    if let Some(map) = body.as_object_mut() {
        // Cleared fields must be sent as null, or the merge patch keeps their old values.
        for key in [
            "nextRunAt",
            "lastScheduleTime",
            "lastRunAt",
            "lastRunName",
            "lastRunStatus",
            "lastExecutionId",
            "lastFailure",
            "failureStreakSince",
        ] {
            map.entry(key).or_insert(serde_json::Value::Null);
        }
        for key in ["activeRuns", "countedRuns", "upcoming", "conditions"] {
            map.entry(key).or_insert(json!([]));
        }
    }
    let patch = json!({
        "metadata": {"resourceVersion": action.resource_version()},
        "status": body,
    });
    api.patch_status(&action.name_any(), &params(), &Patch::Merge(&patch))
        .await
        .map_err(Error::Kube)
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
