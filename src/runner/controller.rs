//! The runner's Kubernetes side: a controller over ActionRuns. Each reconcile reads a run and
//! asks `outcome::step` what is next: wait for the run's slot or its `nextAttemptAt` (a requeue
//! for exactly that instant), pass the gate of a scheduled run at its instant (`outcome::gate`),
//! start an attempt (in a task of its own, behind the global request cap), record an interrupted
//! attempt, or cancel (Action gone). Finished runs are counted by the Action controller.
//!
//! A quick attempt costs one write, its outcome: the run is written `running` only when its
//! request outlives `Config::running_after`. Every status write is conditional on the
//! resourceVersion it was computed from, so a run cancelled (concurrencyPolicy Replace) while its
//! request is in flight keeps its `cancelled` status: the late result is dropped, and the request
//! is aborted.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::channel::mpsc;
use kube::api::{Api, PatchParams};
use kube::runtime::controller::{Action as Requeue, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, Resource, ResourceExt};
use tokio::sync::Semaphore;
use tracing::{Instrument, debug, info, info_span, warn};

use super::attempt::{attempt, record_outcome, write_status};
use super::in_flight::{Busy, InFlight, SETTLE, Settled};
use super::outcome::{self, AttemptResult, Gate, GateInput, Next, Step};
use super::target::ServiceMode;
use crate::cache::{Caches, Change};
use crate::metrics::{ErrorLabels, Metrics};
use crate::resources::{Action, ActionRun, ActionRunStatus, RunErrorCode, RunPhase, TriggerType};
use crate::runspec::{CANCEL_ANNOTATION, GENERATION_ANNOTATION};
use crate::{Clock, Error, Result};

/// Field manager of every write the runner makes.
pub const MANAGER: &str = "punctual-runner";

/// How the runner is set up.
#[derive(Clone, Debug)]
pub struct Config {
    /// At most this many requests to endpoints at the same time, across all runs.
    pub max_concurrent_requests: usize,
    pub service_mode: ServiceMode,
    /// An attempt whose request takes longer than this is written `running` (so a long agent call
    /// shows as running); a quicker one goes straight to its outcome.
    pub running_after: Duration,
    /// Callback URLs and tokens for endpoints that answer 202 (docs/agent-calls.md).
    pub callbacks: Arc<crate::callback::Callbacks>,
    /// `tracestate` and the span exporter (docs/observability.md, "Traces").
    pub tracing: super::trace::Tracing,
}

/// What every reconcile shares.
pub struct Context {
    pub(super) client: Client,
    pub(super) http: reqwest::Client,
    pub(super) caches: Caches,
    pub(super) metrics: Arc<Metrics>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) permits: Arc<Semaphore>,
    /// Per-endpoint limits (`flow`), taken before a global permit.
    pub(super) flow: Arc<super::flow::FlowControl>,
    /// Bounds the run status writes in flight (`attempt::WRITERS`).
    pub(super) writers: Semaphore,
    in_flight: Arc<InFlight>,
    /// Reconcile a run again (an attempt task ended).
    retrigger: mpsc::UnboundedSender<ObjectRef<ActionRun>>,
    pub(super) service_mode: ServiceMode,
    pub(super) running_after: Duration,
    pub(super) callbacks: Arc<crate::callback::Callbacks>,
    pub(super) tracing: super::trace::Tracing,
}

pub(super) fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(MANAGER.into()),
        ..PatchParams::default()
    }
}

/// Runs the runner until `shutdown` resolves.
pub async fn run(
    client: Client,
    caches: Caches,
    config: Config,
    http: reqwest::Client,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let in_flight: Arc<InFlight> = Arc::default();
    let (retrigger, retriggered) = mpsc::unbounded();
    metrics
        .runner_max_concurrent_requests
        .set(config.max_concurrent_requests.max(1) as i64);
    let ctx = Arc::new(Context {
        client: client.clone(),
        http,
        caches: caches.clone(),
        metrics: metrics.clone(),
        clock,
        permits: Arc::new(Semaphore::new(config.max_concurrent_requests.max(1))),
        flow: Arc::default(),
        writers: Semaphore::new(super::attempt::WRITERS),
        in_flight: in_flight.clone(),
        retrigger,
        service_mode: config.service_mode,
        running_after: config.running_after,
        callbacks: config.callbacks.clone(),
        tracing: config.tracing.clone(),
    });
    // A run deleted while its request is in flight (its Action deleted, or by hand): abort; one
    // an endpoint is working on (202): tell it. A finished run with nothing left to send is not
    // reconciled at all: a start with many finished runs would otherwise queue every one of them.
    let deleted_ctx = ctx.clone();
    let runs = caches.subscribe_runs().filter_map(move |change| {
        let out = match change {
            Change::Applied(r) => outcome::needs_runner(&r).then_some(r),
            Change::Deleted(r) => {
                if in_flight.abort_deleted(&r.uid().unwrap_or_default()) {
                    info!(run = %r.name_any(), "run deleted; its request was aborted");
                    let namespace = r.namespace().unwrap_or_default();
                    metrics.run_finished(&namespace, "cancelled", "cancelled");
                }
                if awaits_callback(&r) {
                    info!(run = %r.name_any(), "run deleted while its endpoint works on it");
                    super::awaiting::notify_cancel(&deleted_ctx, &r);
                }
                None
            }
        };
        futures::future::ready(out)
    });
    // An Action deleted: cancel its active runs.
    let index = caches.clone();
    let gone = caches.subscribe_actions().flat_map(move |change| {
        let action = change.object();
        let deleted =
            matches!(change, Change::Deleted(_)) || action.meta().deletion_timestamp.is_some();
        let ns = action.namespace().unwrap_or_default();
        let refs: Vec<ObjectRef<ActionRun>> = if deleted {
            index
                .runs_of(&ns, &action.name_any())
                .iter()
                .filter(|r| r.status.as_ref().is_none_or(|s| s.status.is_active()))
                .map(|r| ObjectRef::from_obj(&**r))
                .collect()
        } else {
            Vec::new()
        };
        futures::stream::iter(refs)
    });
    Controller::for_shared_stream(runs, caches.runs().clone())
        .reconcile_on(futures::stream::select(gone, retriggered))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
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

/// The run's Action, if it exists, is the run's owner and is not being deleted. A cache miss is
/// confirmed with the API server: the Action watch may lag behind the run watch (a run created
/// right after its Action), and a wrong "gone" would cancel the run.
async fn live_action(ctx: &Context, run: &ActionRun) -> Result<Option<Arc<Action>>> {
    let ns = run.namespace().unwrap_or_default();
    let action = match ctx
        .caches
        .actions()
        .get(&ObjectRef::new(&run.spec.action).within(&ns))
    {
        Some(a) => a,
        None => {
            let api: Api<Action> = Api::namespaced(ctx.client.clone(), &ns);
            match api.get_opt(&run.spec.action).await.map_err(Error::Kube)? {
                Some(a) => Arc::new(a),
                None => return Ok(None),
            }
        }
    };
    let live = crate::cache::owned_by(run, &action) && action.meta().deletion_timestamp.is_none();
    Ok(live.then_some(action))
}

#[tracing::instrument(skip_all, fields(run = %run.name_any(), namespace = run.namespace().unwrap_or_default()))]
async fn reconcile(run: Arc<ActionRun>, ctx: Arc<Context>) -> Result<Requeue> {
    // Deciding "the Action is gone" from a cache that has not listed yet would cancel everything.
    ctx.caches.wait_ready().await;
    if run.meta().deletion_timestamp.is_some() {
        ctx.in_flight.abort(&run.uid().unwrap_or_default());
        return Ok(Requeue::await_change());
    }
    let uid = run.uid().unwrap_or_default();
    let status = run.status.clone();
    let phase = status.as_ref().map(|s| s.status).unwrap_or_default();
    if !phase.is_active() {
        // Counted and cleaned up by the Action controller; its notification is the runner's.
        if super::notify::due(&run) {
            match ctx.in_flight.busy(&run) {
                Busy::No => spawn_task(&ctx, run.clone(), Work::Notify),
                Busy::CacheBehind => return Ok(Requeue::requeue(SETTLE)),
                // In flight here, or the run was deleted: nothing to send now.
                Busy::Running | Busy::Gone => {}
            }
        }
        return Ok(Requeue::await_change());
    }
    if let Some(reason) = run.annotations().get(CANCEL_ANNOTATION) {
        return cancel_requested(&ctx, &run, reason).await;
    }
    let action = live_action(&ctx, &run).await?;
    match ctx.in_flight.busy(&run) {
        Busy::No => {}
        Busy::CacheBehind => return Ok(Requeue::requeue(SETTLE)),
        Busy::Running if action.is_none() => {
            ctx.in_flight.abort(&uid);
            info!("aborted the request of a cancelled run");
        }
        Busy::Running | Busy::Gone => return Ok(Requeue::await_change()),
    }
    let Some(action) = action else {
        if let Cancel::Gone(cancelled) = cancel_run(&ctx, &run, "its Action was deleted").await? {
            // Deleted by the garbage collector first: cancelled all the same.
            record_outcome(&ctx, &run, &cancelled);
        }
        return Ok(Requeue::await_change());
    };
    let now = ctx.clock.now();
    if let Some(requeue) = super::awaiting::reconcile(&ctx, &run, now).await? {
        return Ok(requeue);
    }
    let step = outcome::step(status.as_ref(), run.spec.scheduled_at, now);
    debug!(?step, phase = phase.as_str(), "runner reconcile");
    match step {
        Step::WaitUntil(at) => Ok(Requeue::requeue(until(at, now))),
        Step::Attempt(1) if run.spec.trigger_type == TriggerType::Scheduled => {
            at_the_instant(&ctx, &run, &action, now).await
        }
        Step::Attempt(n) => {
            spawn_attempt(&ctx, run.clone(), n);
            Ok(Requeue::await_change())
        }
        Step::Interrupted => {
            let prev = status.unwrap_or_default();
            let attempt = prev.attempt.max(1);
            let new = conclude(&run, &prev, attempt, &AttemptResult::Interrupted, now);
            warn!(attempt = prev.attempt, "attempt interrupted by a restart");
            write_status(&ctx, &run, &new).await?;
            record_outcome(&ctx, &run, &new);
            Ok(Requeue::await_change())
        }
        Step::Finished => Ok(Requeue::await_change()),
    }
}

/// A cancel asked for by annotation (the REST cancel sets it).
async fn cancel_requested(
    ctx: &Arc<Context>,
    run: &Arc<ActionRun>,
    reason: &str,
) -> Result<Requeue> {
    let reason = if reason.trim().is_empty() {
        "cancelled on request".to_string()
    } else {
        format!("cancelled on request: {reason}")
    };
    cancel_run(ctx, run, &reason).await?;
    Ok(Requeue::await_change())
}

/// What became of a cancel.
enum Cancel {
    Written,
    /// The run finished or changed since it was read: it keeps what it has now.
    Changed,
    /// The run is gone (its Action's garbage collection, or by hand); what it would have become.
    Gone(Box<ActionRunStatus>),
}

/// The one cancel path (a cancel annotation, the Action deleted, concurrencyPolicy Replace): the
/// request in flight here is aborted, the run is written `cancelled` by a write conditional on
/// the version read (a run that finished meanwhile keeps its outcome), and an endpoint working on
/// a 202 for it is told (docs/agent-calls.md, "Cancel"). A run deleted before it could be written
/// is told about by the deletion's own event (`run`).
async fn cancel_run(ctx: &Arc<Context>, run: &Arc<ActionRun>, reason: &str) -> Result<Cancel> {
    if ctx.in_flight.abort(&run.uid().unwrap_or_default()) {
        info!(run = %run.name_any(), "cancelled: the request in flight was aborted");
    }
    let cancelled = outcome::cancel(
        &run.status.clone().unwrap_or_default(),
        reason,
        ctx.clock.now(),
    );
    match write_status(ctx, run, &cancelled).await {
        Ok(_) => {}
        Err(e) if e.is_conflict() => return Ok(Cancel::Changed),
        Err(Error::Kube(kube::Error::Api(e))) if e.code == 404 => {
            return Ok(Cancel::Gone(Box::new(cancelled)));
        }
        Err(e) => return Err(e),
    }
    record_outcome(ctx, run, &cancelled);
    if awaits_callback(run) {
        super::awaiting::notify_cancel(ctx, run);
    }
    Ok(Cancel::Written)
}

/// Whether an endpoint answered 202 for this run and is still working on it.
fn awaits_callback(run: &ActionRun) -> bool {
    run.status
        .as_ref()
        .is_some_and(|s| s.status.is_active() && s.callback_deadline.is_some())
}

/// A scheduled run at its instant: the gate decides whether it starts (docs/write-path.md).
async fn at_the_instant(
    ctx: &Arc<Context>,
    run: &Arc<ActionRun>,
    action: &Action,
    now: DateTime<Utc>,
) -> Result<Requeue> {
    let ns = run.namespace().unwrap_or_default();
    let me = run.name_any();
    let active: Vec<(String, Option<String>)> = ctx
        .caches
        .runs_of(&ns, &run.spec.action)
        .iter()
        .filter(|r| r.name_any() != me && crate::cache::owned_by(r, action))
        .filter(|r| is_active_now(r, &ctx.in_flight, now))
        .map(|r| (r.name_any(), r.uid()))
        .collect();
    let input = GateInput {
        slot: run.spec.scheduled_at.unwrap_or(now),
        run_generation: run
            .annotations()
            .get(GENERATION_ANNOTATION)
            .and_then(|g| g.parse().ok()),
        action_generation: action.metadata.generation,
        enabled: action.schedule_active(),
        starting_deadline_seconds: action.spec.starting_deadline_seconds,
        policy: action.spec.concurrency_policy,
        active: &active,
    };
    let prev = run.status.clone().unwrap_or_default();
    match outcome::gate(&input, now) {
        Gate::Send => {}
        // The Action controller deletes it (and stages a fresh one); never send it.
        Gate::Stale => return Ok(Requeue::requeue(Duration::from_secs(2))),
        Gate::Miss => {
            let message = format!(
                "not started within startingDeadlineSeconds ({}s) of its slot",
                action.spec.starting_deadline_seconds
            );
            let s = outcome::not_started(&prev, RunErrorCode::Missed, &message, now);
            write_status(ctx, run, &s).await?;
            return Ok(Requeue::await_change());
        }
        Gate::Skip(other) => {
            let message = format!("concurrencyPolicy Forbid: {other} is still active");
            let s = outcome::not_started(&prev, RunErrorCode::Skipped, &message, now);
            write_status(ctx, run, &s).await?;
            return Ok(Requeue::await_change());
        }
        Gate::Replace(others) => {
            for (name, uid) in others {
                if let Some(uid) = &uid {
                    ctx.in_flight.abort(uid);
                }
                let cached = ctx.caches.runs().get(&ObjectRef::new(&name).within(&ns));
                let Some(other) = cached else { continue };
                // Finished or gone meanwhile: nothing to replace.
                let reason = "replaced by a newer slot (concurrencyPolicy Replace)";
                cancel_run(ctx, &other, reason).await?;
            }
        }
    }
    let lag = (ctx.clock.now() - input.slot).num_milliseconds() as f64 / 1000.0;
    ctx.metrics
        .slot_lag(&run.namespace().unwrap_or_default(), lag.max(0.0));
    spawn_attempt(ctx, run.clone(), 1);
    Ok(Requeue::await_change())
}

/// Whether a run counts as active for concurrencyPolicy at `now`: its request in flight here, or
/// running, or pending and due (a run staged for a later slot is not active yet).
fn is_active_now(run: &ActionRun, in_flight: &InFlight, now: DateTime<Utc>) -> bool {
    if in_flight.is_running(&run.uid().unwrap_or_default()) {
        return true;
    }
    let status = run.status.clone().unwrap_or_default();
    match status.status {
        RunPhase::Running => true,
        RunPhase::Pending => status.attempt > 0 || run.spec.scheduled_at.is_none_or(|s| s <= now),
        _ => false,
    }
}

fn until(at: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (at - now).to_std().unwrap_or_default()
}

/// The status after attempt `attempt` (started from `from`) ended at `now` with `result`: its
/// classification, the retry decision (with a fresh jitter), and the notification a run that
/// ended owes.
pub(super) fn conclude(
    run: &ActionRun,
    from: &ActionRunStatus,
    attempt: i32,
    result: &AttemptResult,
    now: DateTime<Utc>,
) -> ActionRunStatus {
    let o = outcome::classify(result);
    let jitter = super::backoff::random_jitter();
    let next: Next = outcome::next(&o, attempt, &run.spec, now, jitter);
    let mut status = outcome::finish_attempt(from, &o, next, now);
    status.notification = outcome::owed_notification(&run.spec, &status);
    status
}

/// What a task of a run does.
#[derive(Clone, Copy, Debug)]
enum Work {
    /// Attempt `n`.
    Attempt(i32),
    /// Send the notification the finished run owes.
    Notify,
}

fn spawn_attempt(ctx: &Arc<Context>, run: Arc<ActionRun>, n: i32) {
    spawn_task(ctx, run, Work::Attempt(n));
}

/// Starts `work` in its own task. When the task ends it leaves what it wrote (`Settled`) and
/// asks for the run to be reconciled again.
fn spawn_task(ctx: &Arc<Context>, run: Arc<ActionRun>, work: Work) {
    let uid = run.uid().unwrap_or_default();
    let task_ctx = ctx.clone();
    let span = info_span!("attempt", run = %run.name_any(), work = ?work);
    let task = async move {
        let ctx = task_ctx;
        let done = match work {
            Work::Attempt(n) => attempt(&ctx, &run, n).await,
            Work::Notify => super::notify::notify(&ctx, &run).await,
        };
        let settled = match done {
            Ok(written) => Some(Settled {
                written,
                from: run.resource_version(),
                at: std::time::Instant::now(),
            }),
            Err(e) => {
                warn!(error = %e, "attempt could not be recorded; it will be retried");
                None
            }
        };
        ctx.in_flight.settle(run.uid().unwrap_or_default(), settled);
        // The watch event of the final write may have come while the task still counted as
        // running, so look again explicitly.
        let _ = ctx.retrigger.unbounded_send(ObjectRef::from_obj(&*run));
    };
    ctx.in_flight
        .start(uid, || tokio::spawn(task.instrument(span)).abort_handle());
}
