//! The runner's Kubernetes side: a controller over ActionRuns. Each reconcile reads a run and
//! asks `outcome::step` what is next: start an attempt (in a task of its own, behind the global
//! request cap), wait for `nextAttemptAt` (a requeue for exactly that instant), record an
//! interrupted attempt, cancel (Action gone), or count a finished run and clean up history.
//!
//! Every status write is conditional on the resourceVersion it was computed from, so a run
//! cancelled by the scheduler (concurrencyPolicy Replace) while its request is in flight keeps
//! its `cancelled` status: the late result is dropped, and the request is aborted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::channel::mpsc;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::controller::{Action as Requeue, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::task::AbortHandle;
use tracing::{Instrument, debug, info, info_span, warn};

use super::counting::{self, COUNTED_ANNOTATION, CountStep, Finished};
use super::outcome::{self, AttemptResult, ErrorCode, Next, Step};
use super::target::{self, ServiceMode};
use crate::metrics::{ErrorLabels, Metrics, OutcomeLabels};
use crate::resources::{Action, ActionEndpoint, ActionRun, ActionRunStatus, RunPhase};
use crate::{Clock, Error, Result};

/// Field manager of every write the runner makes.
pub const MANAGER: &str = "punctual-runner";

/// How the runner is set up.
#[derive(Clone, Debug)]
pub struct Config {
    /// Watch only this namespace.
    pub namespace: Option<String>,
    /// At most this many requests to endpoints at the same time, across all runs.
    pub max_concurrent_requests: usize,
    pub service_mode: ServiceMode,
}

/// Attempts of this process, by run uid.
type InFlight = Arc<Mutex<HashMap<String, Slot>>>;

/// An attempt of this process.
enum Slot {
    /// Its task is running.
    Running(AbortHandle),
    /// Its task wrote this resourceVersion and ended. Until the cache shows that version the
    /// cached run is older than the task's last write, so acting on it would only conflict.
    Settled(String, std::time::Instant),
}

/// How long a settled attempt waits for the cache to show its write before the cache is
/// trusted again (the conditional writes keep even a stale decision harmless).
const SETTLE: Duration = Duration::from_secs(2);

/// What every reconcile shares.
pub struct Context {
    client: Client,
    http: reqwest::Client,
    actions: Store<Action>,
    runs: Store<ActionRun>,
    endpoints: Store<ActionEndpoint>,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    permits: Arc<Semaphore>,
    in_flight: InFlight,
    /// Reconcile a run again (an attempt task ended).
    retrigger: mpsc::UnboundedSender<ObjectRef<ActionRun>>,
    recorder: Recorder,
    service_mode: ServiceMode,
    /// True once the Action and endpoint caches have listed. (A watch channel, because
    /// `Store::wait_until_ready` wakes only one of several concurrent waiters.)
    ready: tokio::sync::watch::Receiver<bool>,
}

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = kube::core::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Runs the runner until `shutdown` resolves.
pub async fn run(
    client: Client,
    config: Config,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let ns = config.namespace.as_deref();
    let in_flight: InFlight = Arc::default();

    let (run_reader, run_writer) = reflector::store();
    let aborter = in_flight.clone();
    let delete_metrics = metrics.clone();
    let run_stream = watcher(
        api::<ActionRun>(&client, ns),
        watcher::Config::default().any_semantic(),
    )
    .default_backoff()
    .modify(|r: &mut ActionRun| r.managed_fields_mut().clear())
    // A run deleted while its request is in flight (its Action deleted, or by hand): abort.
    .inspect(move |event| {
        if let Ok(watcher::Event::Delete(run)) = event
            && abort(&aborter, &run.uid().unwrap_or_default())
        {
            info!(run = %run.name_any(), "run deleted; its request was aborted");
            delete_metrics
                .run_outcomes
                .get_or_create(&OutcomeLabels {
                    status: "cancelled".into(),
                    error_code: "cancelled".into(),
                })
                .inc();
        }
    })
    .reflect(run_writer)
    .touched_objects();

    let (action_reader, action_writer) = reflector::store();
    let action_stream = watcher(
        api::<Action>(&client, ns),
        watcher::Config::default().any_semantic(),
    )
    .default_backoff()
    .modify(|a: &mut Action| a.managed_fields_mut().clear())
    .reflect(action_writer)
    .touched_objects();

    let (endpoint_reader, endpoint_writer) = reflector::store();
    let endpoint_stream = watcher(
        api::<ActionEndpoint>(&client, ns),
        watcher::Config::default().any_semantic(),
    )
    .default_backoff()
    .reflect(endpoint_writer)
    .touched_objects()
    .filter_map(|_| futures::future::ready(None::<()>));

    let (retrigger, retriggered) = mpsc::unbounded();
    let (ready_tx, ready) = tokio::sync::watch::channel(false);
    {
        let (actions, endpoints) = (action_reader.clone(), endpoint_reader.clone());
        tokio::spawn(async move {
            let _ = actions.wait_until_ready().await;
            let _ = endpoints.wait_until_ready().await;
            let _ = ready_tx.send(true);
        });
    }
    let reporter = Reporter {
        controller: MANAGER.into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let ctx = Arc::new(Context {
        client: client.clone(),
        http: super::http::client(),
        actions: action_reader,
        runs: run_reader.clone(),
        endpoints: endpoint_reader,
        metrics,
        clock,
        permits: Arc::new(Semaphore::new(config.max_concurrent_requests.max(1))),
        in_flight,
        retrigger,
        recorder: Recorder::new(client, reporter),
        service_mode: config.service_mode,
        ready,
    });
    let runs_of_action = run_reader.clone();
    // The endpoint store only needs to be kept current; it triggers nothing.
    tokio::spawn(endpoint_stream.for_each(|_| futures::future::ready(())));
    Controller::for_stream(run_stream, run_reader)
        // An Action deleted: cancel its active runs. Its status changed: finish the counting of
        // runs listed in countedRuns.
        .watches_stream(action_stream, move |action: Action| {
            let gone = action.meta().deletion_timestamp.is_some();
            let ns = action.namespace();
            let name = action.name_any();
            let listed = action
                .status
                .as_ref()
                .map(|s| s.counted_runs.clone())
                .unwrap_or_default();
            runs_of_action
                .state()
                .into_iter()
                .filter(|r| r.namespace() == ns && r.spec.action == name)
                .filter(|r| {
                    let phase = r.status.as_ref().map(|s| s.status).unwrap_or_default();
                    (gone && phase.is_active()) || listed.contains(&r.name_any())
                })
                .map(|r| ObjectRef::from_obj(&*r))
                .collect::<Vec<_>>()
        })
        .reconcile_on(retriggered)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

fn abort(in_flight: &InFlight, uid: &str) -> bool {
    let slot = in_flight.lock().ok().and_then(|mut m| m.remove(uid));
    match slot {
        Some(Slot::Running(h)) => {
            h.abort();
            true
        }
        _ => false,
    }
}

/// Whether this process has an attempt of a run running, or has just written it and the cache
/// does not show that write yet.
enum Busy {
    No,
    Running,
    CacheBehind,
}

/// Forgets a settled attempt once the cache shows its write (or after `SETTLE`).
fn busy(in_flight: &InFlight, run: &ActionRun) -> Busy {
    let uid = run.uid().unwrap_or_default();
    let Ok(mut map) = in_flight.lock() else {
        return Busy::No;
    };
    match map.get(&uid) {
        None => Busy::No,
        Some(Slot::Running(_)) => Busy::Running,
        Some(Slot::Settled(rv, at)) => {
            if run.resource_version().as_ref() == Some(rv) || at.elapsed() >= SETTLE {
                map.remove(&uid);
                Busy::No
            } else {
                Busy::CacheBehind
            }
        }
    }
}

fn error_policy(_run: Arc<ActionRun>, error: &Error, ctx: Arc<Context>) -> Requeue {
    ctx.metrics
        .reconcile_errors
        .get_or_create(&ErrorLabels {
            error: format!("runner_{}", error.label()),
        })
        .inc();
    warn!(%error, "runner reconcile failed; retrying");
    Requeue::requeue(Duration::from_millis(if error.is_conflict() {
        200
    } else {
        2000
    }))
}

/// The run's Action, if it exists and is not being deleted.
fn live_action(ctx: &Context, run: &ActionRun) -> Option<Arc<Action>> {
    let ns = run.namespace().unwrap_or_default();
    let action = ctx
        .actions
        .get(&ObjectRef::new(&run.spec.action).within(&ns))?;
    let owner_uids: Vec<&str> = run
        .owner_references()
        .iter()
        .map(|o| o.uid.as_str())
        .collect();
    let same = owner_uids.is_empty()
        || action
            .uid()
            .is_some_and(|u| owner_uids.contains(&u.as_str()));
    (same && action.meta().deletion_timestamp.is_none()).then_some(action)
}

#[tracing::instrument(skip_all, fields(run = %run.name_any(), namespace = run.namespace().unwrap_or_default()))]
async fn reconcile(run: Arc<ActionRun>, ctx: Arc<Context>) -> Result<Requeue> {
    // Deciding "the Action is gone" from a cache that has not listed yet would cancel everything.
    let _ = ctx.ready.clone().wait_for(|ready| *ready).await;
    if run.meta().deletion_timestamp.is_some() {
        abort(&ctx.in_flight, &run.uid().unwrap_or_default());
        return Ok(Requeue::await_change());
    }
    let uid = run.uid().unwrap_or_default();
    let status = run.status.clone();
    let phase = status.as_ref().map(|s| s.status).unwrap_or_default();
    let action = live_action(&ctx, &run);
    match busy(&ctx.in_flight, &run) {
        Busy::No => {}
        Busy::CacheBehind => return Ok(Requeue::requeue(SETTLE)),
        Busy::Running if phase == RunPhase::Cancelled || action.is_none() => {
            abort(&ctx.in_flight, &uid);
            info!("aborted the request of a cancelled run");
        }
        Busy::Running => return Ok(Requeue::await_change()),
    }
    if phase.is_active() && action.is_none() {
        let now = ctx.clock.now();
        let cancelled = outcome::cancel(&status.unwrap_or_default(), "its Action was deleted", now);
        match write_status(&ctx, &run, &cancelled).await {
            // Already deleted by the garbage collector: cancelled all the same.
            Ok(_) => {}
            Err(Error::Kube(kube::Error::Api(e))) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
        record_outcome(&ctx, &run, &cancelled);
        return Ok(Requeue::await_change());
    }
    let now = ctx.clock.now();
    let step = outcome::step(status.as_ref(), now);
    debug!(?step, phase = phase.as_str(), "runner reconcile");
    match step {
        Step::WaitUntil(at) => Ok(Requeue::requeue(until(at, now))),
        Step::Attempt(n) => {
            spawn_attempt(&ctx, run.clone(), n);
            Ok(Requeue::await_change())
        }
        Step::Interrupted => {
            let prev = status.unwrap_or_default();
            let result =
                classify_and_next(&run, prev.attempt.max(1), &AttemptResult::Interrupted, now);
            let new = outcome::finish_attempt(&prev, &result.0, result.1, now);
            warn!(attempt = prev.attempt, "attempt interrupted by a restart");
            write_status(&ctx, &run, &new).await?;
            record_outcome(&ctx, &run, &new);
            Ok(Requeue::await_change())
        }
        Step::Finished => {
            if let Some(action) = action {
                count(&ctx, &run, &action).await?;
                clean_history(&ctx, &action).await?;
            }
            Ok(Requeue::await_change())
        }
    }
}

fn until(at: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (at - now).to_std().unwrap_or_default()
}

fn classify_and_next(
    run: &ActionRun,
    attempt: i32,
    result: &AttemptResult,
    now: DateTime<Utc>,
) -> (outcome::Outcome, Next) {
    let o = outcome::classify(result);
    let next = outcome::next(&o, attempt, &run.spec, now);
    (o, next)
}

/// Starts attempt `n` in its own task. When the task ends it leaves the resourceVersion it wrote
/// (if its final write succeeded) and asks for the run to be reconciled again.
fn spawn_attempt(ctx: &Arc<Context>, run: Arc<ActionRun>, n: i32) {
    let uid = run.uid().unwrap_or_default();
    let task_ctx = ctx.clone();
    let span = info_span!("attempt", run = %run.name_any(), attempt = n);
    let mut map = match ctx.in_flight.lock() {
        Ok(m) => m,
        Err(_) => return,
    };
    let handle = tokio::spawn(
        async move {
            let ctx = task_ctx;
            let uid = run.uid().unwrap_or_default();
            let written = match attempt(&ctx, &run, n).await {
                Ok(rv) => rv,
                Err(e) => {
                    warn!(error = %e, "attempt could not be recorded; it will be retried");
                    None
                }
            };
            if let Ok(mut m) = ctx.in_flight.lock() {
                match written {
                    Some(rv) => m.insert(uid, Slot::Settled(rv, std::time::Instant::now())),
                    None => m.remove(&uid),
                };
            }
            // The watch event of the final write may have come while the task still counted as
            // running, so look again explicitly.
            let _ = ctx.retrigger.unbounded_send(ObjectRef::from_obj(&*run));
        }
        .instrument(span),
    );
    map.insert(uid, Slot::Running(handle.abort_handle()));
}

/// One attempt: wait for a request permit, resolve the endpoint, mark the run `running`, send,
/// and record the result. Returns the resourceVersion of the final write, if it was made.
async fn attempt(ctx: &Context, run: &ActionRun, n: i32) -> Result<Option<String>> {
    let _permit = ctx.permits.clone().acquire_owned().await;
    let uid = run.uid().unwrap_or_default();
    let execution_id = crate::runs::execution_id(&uid, n as u32).to_string();
    let prev = run.status.clone().unwrap_or_default();
    let triggered = run
        .creation_timestamp()
        .map(|t| crate::rest::model::to_chrono(&t))
        .unwrap_or_else(|| ctx.clock.now());
    let ns = run.namespace().unwrap_or_default();

    let resolved = match &run.spec.resolve_error {
        Some(e) => Err((ErrorCode::TemplateError, e.clone())),
        None => {
            let endpoint = ctx
                .endpoints
                .get(&ObjectRef::new(&run.spec.endpoint).within(&ns));
            target::resolve(
                &ctx.client,
                &ns,
                &run.spec.endpoint,
                endpoint.as_deref(),
                ctx.service_mode,
            )
            .await
        }
    };
    let started = ctx.clock.now();
    let running = outcome::start_attempt(&prev, n, &execution_id, triggered, started);
    let (result, base, current) = match resolved {
        // Nothing is sent: one write records the attempt and its failure.
        Err((code, message)) => (
            AttemptResult::NotSent { code, message },
            running,
            run.clone(),
        ),
        Ok(target) => {
            let current = write_status(ctx, run, &running).await?;
            debug!(url = %target.url, "sending");
            let clock = std::time::Instant::now();
            let result = super::http::send(&ctx.http, &target, run, n, &execution_id).await;
            ctx.metrics
                .attempt_duration
                .observe(clock.elapsed().as_secs_f64());
            (result, running, current)
        }
    };
    let now = ctx.clock.now();
    let (o, next) = classify_and_next(run, n, &result, now);
    let new = outcome::finish_attempt(&base, &o, next, now);
    debug!(status = new.status.as_str(), error = ?new.error_code, "attempt ended");
    match write_status(ctx, &current, &new).await {
        Ok(written) => {
            record_outcome(ctx, run, &new);
            Ok(written.resource_version())
        }
        // Changed meanwhile (cancelled by Replace): its status stands, this result is dropped.
        Err(e) if e.is_conflict() => {
            info!("run changed during the attempt; result dropped");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// A merge patch of the whole run status (absent fields written as null, so they are cleared),
/// conditional on the resourceVersion of `run`. Returns the updated run.
async fn write_status(
    ctx: &Context,
    run: &ActionRun,
    status: &ActionRunStatus,
) -> Result<ActionRun> {
    let api: Api<ActionRun> =
        Api::namespaced(ctx.client.clone(), &run.namespace().unwrap_or_default());
    let patch = json!({
        "metadata": {"resourceVersion": run.resource_version()},
        "status": status_patch(status),
    });
    api.patch_status(
        &run.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map_err(Error::Kube)
}

/// The status as a merge patch body: every optional field present, null when unset.
pub fn status_patch(status: &ActionRunStatus) -> Value {
    let mut v = serde_json::to_value(status).unwrap_or_else(|_| json!({}));
    if let Some(map) = v.as_object_mut() {
        for key in [
            "triggeredAt",
            "startedAt",
            "completedAt",
            "durationSeconds",
            "executionId",
            "httpStatus",
            "errorCode",
            "errorMessage",
            "output",
            "nextAttemptAt",
        ] {
            map.entry(key).or_insert(Value::Null);
        }
        map.entry("attempts").or_insert(json!([]));
    }
    v
}

/// Metrics and an Event when a run reaches a final status.
fn record_outcome(ctx: &Context, run: &ActionRun, status: &ActionRunStatus) {
    if status.status.is_active() {
        return;
    }
    let code = status.error_code.clone().unwrap_or_else(|| "none".into());
    ctx.metrics
        .run_outcomes
        .get_or_create(&OutcomeLabels {
            status: status.status.as_str().into(),
            error_code: code.clone(),
        })
        .inc();
    info!(status = status.status.as_str(), error_code = %code, attempts = status.attempt, "run finished");
    let event = Event {
        type_: if status.status == RunPhase::Succeeded {
            EventType::Normal
        } else {
            EventType::Warning
        },
        reason: match status.status {
            RunPhase::Succeeded => "RunSucceeded",
            RunPhase::Cancelled => "RunCancelled",
            _ => "RunFailed",
        }
        .into(),
        note: Some(match &status.error_message {
            Some(m) => format!("attempt {}: {code}: {m}", status.attempt),
            None => format!("attempt {} succeeded", status.attempt),
        }),
        action: "Execute".into(),
        secondary: None,
    };
    let recorder = ctx.recorder.clone();
    let reference = run.object_ref(&());
    // An Event is informational: it must not slow down or fail the run.
    tokio::spawn(async move {
        if let Err(e) = recorder.publish(&event, &reference).await {
            warn!(error = %e, "could not publish event");
        }
    });
}

/// The counting protocol (see `counting`): count, mark, unlist, each step retried on conflict.
async fn count(ctx: &Context, run: &ActionRun, cached: &Action) -> Result<()> {
    let ns = run.namespace().unwrap_or_default();
    let name = run.name_any();
    let phase = run.status.as_ref().map(|s| s.status).unwrap_or_default();
    let mut marked = run.annotations().contains_key(COUNTED_ANNOTATION);
    let listed_in_cache = cached
        .status
        .as_ref()
        .is_some_and(|s| s.counted_runs.contains(&name));
    if marked && !listed_in_cache {
        return Ok(()); // The common case for every run seen after it was counted: no API call.
    }
    let actions: Api<Action> = Api::namespaced(ctx.client.clone(), &ns);
    let runs: Api<ActionRun> = Api::namespaced(ctx.client.clone(), &ns);
    for _ in 0..10 {
        let Some(action) = actions
            .get_opt(&cached.name_any())
            .await
            .map_err(Error::Kube)?
        else {
            return Ok(());
        };
        let status = action.status.clone().unwrap_or_default();
        let listed = status.counted_runs.contains(&name);
        let new = match counting::count_step(phase, marked, listed) {
            CountStep::Done => return Ok(()),
            CountStep::Mark => {
                let patch = json!({"metadata": {"annotations": {COUNTED_ANNOTATION: "true"}}});
                runs.patch_metadata(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map_err(Error::Kube)?;
                marked = true;
                continue;
            }
            CountStep::Count => counting::counted(&status, &name, phase),
            CountStep::Unlist => {
                let mut s = status.clone();
                s.counted_runs = counting::unlisted(&status.counted_runs, &name, |n| {
                    ctx.runs.get(&ObjectRef::new(n).within(&ns)).is_some()
                });
                s
            }
        };
        let patch = json!({
            "metadata": {"resourceVersion": action.resource_version()},
            "status": counting::runner_fields(&new),
        });
        match actions
            .patch_status(
                &action.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => continue,
            Err(e) => return Err(Error::Kube(e)),
        }
    }
    Ok(())
}

/// Deletes counted runs beyond the Action's history limits, oldest first.
async fn clean_history(ctx: &Context, action: &Action) -> Result<()> {
    let ns = action.namespace().unwrap_or_default();
    let name = action.name_any();
    let finished: Vec<Finished> = ctx
        .runs
        .state()
        .into_iter()
        .filter(|r| r.namespace().as_deref() == Some(ns.as_str()) && r.spec.action == name)
        .filter(|r| r.meta().deletion_timestamp.is_none())
        .filter_map(|r| {
            let s = r.status.as_ref()?;
            (!s.status.is_active()).then(|| Finished {
                name: r.name_any(),
                phase: s.status,
                completed_at: s.completed_at.unwrap_or_default(),
                marked: r.annotations().contains_key(COUNTED_ANNOTATION),
            })
        })
        .collect();
    let victims = counting::history_victims(
        &finished,
        usize::try_from(action.spec.successful_runs_history_limit).unwrap_or(0),
        usize::try_from(action.spec.failed_runs_history_limit).unwrap_or(0),
    );
    let runs: Api<ActionRun> = Api::namespaced(ctx.client.clone(), &ns);
    for victim in victims {
        match runs.delete(&victim, &DeleteParams::background()).await {
            Ok(_) => debug!(run = %victim, "deleted beyond the history limit"),
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(Error::Kube(e)),
        }
    }
    Ok(())
}
