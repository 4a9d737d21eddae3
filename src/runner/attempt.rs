//! One attempt of a run, and the run status writes: send (writing `running` only for a long
//! request), classify, record the outcome conditionally, re-check a conflict against a fresh read.

use chrono::{DateTime, Utc};
use kube::ResourceExt;
use kube::api::{Api, Patch};
use kube::runtime::reflector::ObjectRef;
use serde_json::{Value, json};
use tracing::{debug, info, warn};

use super::controller::{Context, conclude, params};
use super::outcome::{self, AttemptResult};
use super::target;
use crate::resources::RunErrorCode;
use crate::resources::{ActionRun, ActionRunStatus, RunPhase};
use crate::{Error, Result};

/// When a run was triggered: its slot for a run staged ahead of it, else its creation.
fn triggered_at(run: &ActionRun, now: DateTime<Utc>) -> DateTime<Utc> {
    let created = run
        .creation_timestamp()
        .map(|t| crate::time::to_chrono(&t))
        .unwrap_or(now);
    match run.spec.scheduled_at {
        Some(slot) if slot > created => slot,
        _ => created,
    }
}

/// One attempt: wait for a request permit, resolve the endpoint, send, and record the result.
/// The run is written `running` only if the request outlives `running_after`. Returns the
/// resourceVersion of the final write, if it was made.
pub(super) async fn attempt(ctx: &Context, run: &ActionRun, n: i32) -> Result<Option<String>> {
    // The endpoint's own limits first: a run waiting for a slow endpoint holds no global permit.
    let turn = endpoint_turn(ctx, run).await;
    let permit = ctx.permits.clone().acquire_owned().await;
    // Boxed, so that a run still waiting above (a whole slot's runs wait at its instant) holds
    // only this small future: the request's state is allocated once the request may go.
    Box::pin(go(ctx, run, n, turn, permit)).await
}

/// The attempt once its turn and permit are held (`attempt`).
async fn go(
    ctx: &Context,
    run: &ActionRun,
    n: i32,
    turn: Option<super::flow::Permit>,
    permit: std::result::Result<tokio::sync::OwnedSemaphorePermit, tokio::sync::AcquireError>,
) -> Result<Option<String>> {
    // Counted while the permit is held, so that in flight equal to the cap means it is full.
    let in_flight = ctx.metrics.request_in_flight();
    let uid = run.uid().unwrap_or_default();
    let execution_id = crate::runspec::execution_id(&uid, n as u32).to_string();
    let prev = run.status.clone().unwrap_or_default();
    let started = ctx.clock.now();
    let mut running =
        outcome::start_attempt(&prev, n, &execution_id, triggered_at(run, started), started);
    running.trace_id = Some(super::trace::trace_id(&uid));
    let mut current = run.clone();
    let result = match resolve(ctx, run).await {
        // Nothing is sent: one write records the attempt and its failure.
        Err((code, message)) => AttemptResult::NotSent { code, message },
        Ok(mut target) => {
            target.headers.extend(callback_headers(ctx, run, n));
            match send(ctx, run, n, &execution_id, &target, &running, &mut current).await? {
                Some(result) => result,
                None => return Ok(None),
            }
        }
    };
    // The endpoint has answered: the next request may go while this one is recorded.
    drop(permit);
    drop(turn);
    drop(in_flight);
    let now = ctx.clock.now();
    // 202 Accepted: the endpoint works on it and reports to its callback URL.
    if let AttemptResult::Response {
        status: 202, body, ..
    } = &result
    {
        let output = Some(outcome::truncate(body, outcome::OUTPUT_LIMIT).to_string());
        let timeout = super::awaiting::completion_timeout(run);
        let waiting = super::awaiting::accepted(&running, output, timeout, now);
        info!("202 Accepted: waiting for the endpoint's report");
        return record(ctx, run, current, &waiting, &prev).await;
    }
    let new = conclude(run, &running, n, &result, now);
    debug!(status = new.status.as_str(), error = ?new.error_code, "attempt ended");
    record_until_written(ctx, run, current, &new, &prev).await
}

/// Longest wait between two tries of an outcome write that keeps failing.
const RECORD_BACKOFF_MAX: std::time::Duration = std::time::Duration::from_secs(10);

/// `record`, tried again until the API server takes the write: the endpoint has answered, and
/// giving the result up would send the attempt again (docs/faults.md). An API server that has
/// just restarted answers 403 until its RBAC cache is filled, and one that is down refuses
/// connections for longer than `write_status`'s own retries last.
async fn record_until_written(
    ctx: &Context,
    run: &ActionRun,
    current: ActionRun,
    new: &ActionRunStatus,
    prev: &ActionRunStatus,
) -> Result<Option<String>> {
    let mut delay = std::time::Duration::from_millis(500);
    loop {
        match record(ctx, run, current.clone(), new, prev).await {
            Ok(written) => return Ok(written),
            // The run is gone (its Action deleted): nothing to record it on.
            Err(Error::Kube(kube::Error::Api(e))) if e.code == 404 => return Ok(None),
            Err(e) => {
                warn!(error = %e, retry_in = ?delay, "the attempt's outcome is not written yet; trying again");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(RECORD_BACKOFF_MAX);
            }
        }
    }
}

/// Where and with what token the endpoint reports attempt `n` if it answers 202; none without a
/// public URL for the facade.
fn callback_headers(ctx: &Context, run: &ActionRun, n: i32) -> Vec<(String, String)> {
    let ns = run.namespace().unwrap_or_default();
    let name = run.name_any();
    let Some(url) = ctx.callbacks.url(&ns, &name, n) else {
        return Vec::new();
    };
    let token = ctx
        .callbacks
        .token(&ns, &name, &run.uid().unwrap_or_default(), n);
    vec![
        (crate::callback::URL_HEADER.to_string(), url),
        (crate::callback::TOKEN_HEADER.to_string(), token),
    ]
}

/// Waits for the run's turn at its endpoint (`maxConcurrentRequests`, `maxRequestsPerSecond`),
/// in the order of nominal instants. None: the endpoint sets no limit.
async fn endpoint_turn(ctx: &Context, run: &ActionRun) -> Option<super::flow::Permit> {
    let ns = run.namespace().unwrap_or_default();
    let endpoint = ctx
        .caches
        .endpoints()
        .get(&ObjectRef::new(&run.spec.endpoint).within(&ns))?;
    let limits = super::flow::Limits::of(&endpoint.spec);
    let created = run.creation_timestamp().map(|t| crate::time::to_chrono(&t));
    let nominal = run.spec.scheduled_at.or(created).unwrap_or(ctx.clock.now());
    let order = (nominal, run.name_any());
    ctx.flow
        .acquire((ns, run.spec.endpoint.clone()), order, limits)
        .await
}

/// The endpoint to call, or why there is none (never retried).
pub(super) async fn resolve(
    ctx: &Context,
    run: &ActionRun,
) -> Result<target::Target, target::Unresolved> {
    if let Some(e) = &run.spec.resolve_error {
        return Err((RunErrorCode::TemplateError, e.clone()));
    }
    let ns = run.namespace().unwrap_or_default();
    let endpoint = ctx
        .caches
        .endpoints()
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

/// Sends the request; if it outlives `running_after`, writes `running` (into `current`) and
/// keeps waiting. None: the run was changed (cancelled) meanwhile, and the request is aborted.
async fn send(
    ctx: &Context,
    run: &ActionRun,
    n: i32,
    execution_id: &str,
    target: &target::Target,
    running: &ActionRunStatus,
    current: &mut ActionRun,
) -> Result<Option<AttemptResult>> {
    debug!(url = %target.url, "sending");
    let clock = std::time::Instant::now();
    let send = super::http::send(
        &ctx.http,
        target,
        run,
        n,
        execution_id,
        ctx.clock.now(),
        ctx.tracing.state.as_deref(),
    );
    tokio::pin!(send);
    let result = tokio::select! {
        result = &mut send => result,
        _ = tokio::time::sleep(ctx.running_after) => {
            // A long call: show it as running while it goes on. The request keeps going while
            // the write waits for the API server (which may be down or frozen).
            let mut early = None;
            let written = {
                let write = write_status(ctx, current, running);
                tokio::pin!(write);
                loop {
                    tokio::select! {
                        written = &mut write => break written,
                        result = &mut send, if early.is_none() => early = Some(result),
                    }
                }
            };
            match written {
                Ok(written) => *current = written,
                // A 409 after a retried write may be that write itself, which landed although
                // its answer was lost (etcd frozen): then go on. Anything else (cancelled
                // meanwhile): dropping the request aborts it.
                Err(e) if e.is_conflict() => match own_running_write(ctx, run, running).await {
                    Some(fresh) => *current = fresh,
                    None => {
                        info!("run changed during the attempt; request aborted");
                        return Ok(None);
                    }
                },
                // Not shown as running; the outcome write carries the attempt all the same.
                // (Aborting here would send the attempt again: docs/faults.md.)
                Err(e) => warn!(error = %e, "could not write the run as running; the request goes on"),
            }
            match early {
                Some(result) => result,
                None => (&mut send).await,
            }
        }
    };
    ctx.metrics
        .attempt_duration
        .observe(clock.elapsed().as_secs_f64());
    Ok(Some(result))
}

/// The run as the API server has it, if it shows exactly this attempt's `running` write.
async fn own_running_write(
    ctx: &Context,
    run: &ActionRun,
    running: &ActionRunStatus,
) -> Option<ActionRun> {
    let api: Api<ActionRun> =
        Api::namespaced(ctx.client.clone(), &run.namespace().unwrap_or_default());
    let fresh = api.get_opt(&run.name_any()).await.ok().flatten()?;
    let s = fresh.status.as_ref()?;
    let ours = fresh.uid() == run.uid()
        && s.status == RunPhase::Running
        && s.attempt == running.attempt
        && s.execution_id == running.execution_id;
    ours.then_some(fresh)
}

/// Writes the attempt's outcome, conditional on `current`. A 409 is checked against a fresh
/// read: cancelled meanwhile, its status stands and this result is dropped; any other change (a
/// label, an annotation) does not make the result less true, so it is written on the fresh copy.
async fn record(
    ctx: &Context,
    run: &ActionRun,
    mut current: ActionRun,
    new: &ActionRunStatus,
    prev: &ActionRunStatus,
) -> Result<Option<String>> {
    let uid = run.uid().unwrap_or_default();
    let api: Api<ActionRun> =
        Api::namespaced(ctx.client.clone(), &run.namespace().unwrap_or_default());
    for _ in 0..3 {
        match write_status(ctx, &current, new).await {
            Ok(written) => {
                record_outcome(ctx, run, new);
                return Ok(written.resource_version());
            }
            Err(e) if e.is_conflict() => {
                match api.get_opt(&run.name_any()).await.map_err(Error::Kube)? {
                    Some(fresh) if still_this_attempt(&fresh, &uid, prev) => current = fresh,
                    _ => {
                        info!("run changed during the attempt; result dropped");
                        return Ok(None);
                    }
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Whether the run read from the API server is still in the state this attempt started from (or
/// the `running` write it made): same object, same attempt, still active.
fn still_this_attempt(fresh: &ActionRun, uid: &str, prev: &ActionRunStatus) -> bool {
    let s = fresh.status.clone().unwrap_or_default();
    fresh.uid().as_deref() == Some(uid)
        && s.status.is_active()
        && (s.attempt == prev.attempt || s.attempt == prev.attempt + 1)
}

/// A merge patch of the whole run status (absent fields written as null, so they are cleared),
/// conditional on the resourceVersion of `run`. Returns the updated run.
///
/// At most `WRITERS` of these are in flight at once, and a transient failure (429 from the API
/// server's flow control, 5xx, a dropped connection) is retried with backoff: giving up on an
/// outcome would mean sending the request again.
pub(super) async fn write_status(
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
    let _permit = ctx.writers.acquire().await;
    let mut delay = std::time::Duration::from_millis(100);
    let mut tries = 0;
    let written = loop {
        tries += 1;
        match api
            .patch_status(&run.name_any(), &params(), &Patch::Merge(&patch))
            .await
        {
            Err(e) if crate::is_transient(&e) && tries < WRITE_TRIES => {
                debug!(error = %e, "transient error writing a run status; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(3));
            }
            other => break other.map_err(Error::Kube)?,
        }
    };
    // The write that ends an attempt or the run ends its spans (docs/observability.md).
    let prev = run.status.clone().unwrap_or_default();
    ctx.tracing.ended(run, &prev, status);
    Ok(written)
}

/// Run status writes in flight at once, across all runs (see `write_status`).
pub(super) const WRITERS: usize = 32;
/// Tries of one status write before its error is returned.
const WRITE_TRIES: usize = 9;

/// The status as a merge patch body: every optional field present, null when unset.
pub fn status_patch(status: &ActionRunStatus) -> Value {
    let mut v = serde_json::to_value(status).unwrap_or_else(|_| json!({}));
    if let Some(map) = v.as_object_mut() {
        // Every field of the type, from its schema: a field added later is cleared too.
        for key in STATUS_FIELDS.iter() {
            map.entry(key.as_str()).or_insert(Value::Null);
        }
        map.insert("attempts".into(), json!(status.attempts));
    }
    v
}

/// The serialized names of every `ActionRunStatus` field.
static STATUS_FIELDS: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
    let schema = schemars::schema_for!(ActionRunStatus);
    schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
});

/// Metrics and a log line when a run reaches a final status. (Events are published by the Action
/// controller, on transitions only: one per successful run would be a write per run.)
pub(super) fn record_outcome(ctx: &Context, run: &ActionRun, status: &ActionRunStatus) {
    if status.status.is_active() {
        return;
    }
    let code = status.error_code.map_or("none", |c| c.as_str()).to_string();
    let namespace = run.namespace().unwrap_or_default();
    ctx.metrics
        .run_finished(&namespace, status.status.as_str(), &code);
    if status.status == RunPhase::Succeeded {
        debug!(attempts = status.attempt, "run succeeded");
    } else {
        info!(status = status.status.as_str(), error_code = %code, attempts = status.attempt, "run finished");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_patch_clears_every_unset_field() {
        let patch = status_patch(&ActionRunStatus::default());
        for key in [
            "errorCode",
            "errorMessage",
            "nextAttemptAt",
            "httpStatus",
            "output",
            "callbackDeadline",
        ] {
            assert_eq!(patch[key], Value::Null, "{key}");
            assert!(
                patch.as_object().is_some_and(|m| m.contains_key(key)),
                "{key}"
            );
        }
        assert_eq!(patch["attempts"], json!([]));
        assert_eq!(patch["status"], json!("pending"));
    }
}
