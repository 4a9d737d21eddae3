//! Write path, side by side, on one control plane. Prints figures; asserts nothing.
//!
//! 1. The raw limit: creates per second of a plain parallel client (64 requests in flight) for
//!    ActionRuns and for ConfigMaps, with no operator running; and runs per second of the same
//!    client making the four writes a run costs the operator (create the run, write its outcome,
//!    write its Action's status, delete the run before), each like the operator's, conditional
//!    where the operator's is. A status PATCH of a custom resource costs the API server several
//!    creates (it decodes, converts and re-encodes the stored object), so this, not the create
//!    rate, bounds what any operator can sustain with four writes a run. Then the same four
//!    writes one kind at a time, each kind's own rate (BENCH_VERBS_PER_WORKER of each per
//!    worker, 50): which of them the API server finds expensive.
//! 2. For each N: N Actions on `* * * * *` and `punctual run`; for the first full minute slot
//!    after all Actions exist and are armed, the time from the nominal instant to the request
//!    received by a local endpoint and to the run first seen by a watch (negative: the run was
//!    created ahead of its slot).
//! 3. The same N as CronJobs (suspended Jobs, so no pods) under kube-controller-manager's
//!    defaults: nominal instant to Job first seen, and the slots that got no Job.
//! 4. Sustained runs per second with N Actions, and API writes per run from the API server's
//!    `apiserver_request_total`, by resource and verb.
//! 5. The operator's peak RSS with many Actions and finished runs existing when it starts.
//!
//!   make bench-writepath                      # N = 1000 and 5000
//!   cargo bench --bench writepath -- 50       # needs KUBECONFIG and PUNCTUAL_BIN
//!
//! Environment: BENCH_RAW_SECONDS (10), BENCH_VERBS_PER_WORKER (50), BENCH_SUSTAINED_SECONDS (180), BENCH_RSS_ACTIONS
//! (10000), BENCH_RSS_RUNS (20000), BENCH_RSS_SETTLE_SECONDS (30); BENCH_RSS_ONLY=1 measures
//! only the memory (item 5), for comparing builds; BENCH_CRONJOB=0 and BENCH_RSS=0 leave out
//! items 3 and 5 (for a large N, where only Punctual's own figures are wanted).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
};
use kube::{Client, Resource, ResourceExt};
use punctual::resources::{Action, ActionEndpoint, ActionRun, RunPhase};
use serde_json::json;

#[path = "common.rs"]
mod common;

/// Requests in flight at once for the plain parallel clients (raw limit, RSS setup).
const CONCURRENCY: usize = 64;
/// The CronJob controller writes this annotation on each Job with its slot (RFC 3339).
const CRONJOB_SLOT_ANNOTATION: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";
/// Verbs of `apiserver_request_total` that write.
const WRITE_VERBS: &[&str] = &[
    "POST",
    "CREATE",
    "PUT",
    "UPDATE",
    "PATCH",
    "APPLY",
    "DELETE",
    "DELETECOLLECTION",
];

/// Write requests of one (resource, verb): all of them, and those not answered 2xx (conflicts,
/// deletions of what is already gone: load on the server all the same).
#[derive(Clone, Copy, Default)]
struct Writes {
    total: f64,
    failed: f64,
}

struct Settings {
    raw: Duration,
    sustained: Duration,
    rss_actions: usize,
    rss_runs: usize,
    rss_settle: Duration,
    verbs_per_worker: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Some(sizes) = common::sizes(&[1000, 5000]) else {
        return Ok(());
    };
    let settings = Settings {
        raw: Duration::from_secs(common::env_or("BENCH_RAW_SECONDS", 10)?),
        sustained: Duration::from_secs(common::env_or("BENCH_SUSTAINED_SECONDS", 180)?),
        rss_actions: common::env_or("BENCH_RSS_ACTIONS", 10_000)?,
        rss_runs: common::env_or("BENCH_RSS_RUNS", 20_000)?,
        rss_settle: Duration::from_secs(common::env_or("BENCH_RSS_SETTLE_SECONDS", 30)?),
        verbs_per_worker: common::env_or("BENCH_VERBS_PER_WORKER", 50)?,
    };
    let client = Client::try_default().await?;
    common::install_crds(&client).await?;
    let (with_cronjob, with_rss) = (switch("BENCH_CRONJOB"), switch("BENCH_RSS"));
    if std::env::var("BENCH_RSS_ONLY").is_ok_and(|v| v == "1") {
        return print_rss(&client, &settings).await;
    }

    let raw = raw_limit(&client, settings.raw).await?;
    println!(
        "Raw limit: a plain kube-rs client, {CONCURRENCY} creates in flight for {} s, no operator running:",
        settings.raw.as_secs()
    );
    println!();
    println!("| object | created | failed | creates/s |");
    println!("|---|---|---|---|");
    for r in &raw {
        println!(
            "| {} | {} | {} | {:.0} |",
            r.kind,
            r.created,
            r.failed,
            r.created as f64 / r.secs
        );
    }
    println!();
    let mix = raw_mix(&client, settings.raw).await?;
    println!(
        "The same client, {CONCURRENCY} runs in flight for {} s, each run the operator's four writes (POST run, PATCH run status, PATCH Action status, DELETE the run before), no operator running:",
        settings.raw.as_secs()
    );
    println!();
    println!("| runs | failed writes | runs/s | writes/s |");
    println!("|---|---|---|---|");
    println!(
        "| {} | {} | {:.0} | {:.0} |",
        mix.runs,
        mix.failed,
        mix.runs as f64 / mix.secs,
        mix.writes as f64 / mix.secs
    );
    println!();
    let verbs = raw_verbs(&client, settings.verbs_per_worker).await?;
    print_verbs(&verbs, &mix);

    let mut rows = Vec::new();
    for &n in &sizes {
        // CronJobs first, and gone before the operator starts: the two never share the server.
        let cron = match with_cronjob {
            true => Some(cronjob_slot(&client, n).await?),
            false => None,
        };
        let punctual = punctual_slot(&client, n, settings.sustained).await?;
        rows.push((n, cron, punctual));
    }
    print_slot_tables(&rows, settings.sustained);
    match with_rss {
        true => print_rss(&client, &settings).await,
        false => Ok(()),
    }
}

/// What each write costs alone, and the rate of runs the four of them allow.
fn print_verbs(verbs: &[Verb], mix: &Mix) {
    println!(
        "The same four writes one kind at a time ({CONCURRENCY} in flight, each worker on its own Action and runs), no operator running:"
    );
    println!();
    println!("| write | done | failed | per second | ms per write (1 / rate) |");
    println!("|---|---|---|---|---|");
    let mut per_run = 0.0;
    for v in verbs {
        let rate = v.done as f64 / v.secs;
        let ms = 1000.0 / rate;
        per_run += ms;
        println!(
            "| {} | {} | {} | {:.0} | {:.2} |",
            v.write, v.done, v.failed, rate, ms
        );
    }
    println!();
    println!(
        "One run's four writes: {per_run:.2} ms of the saturated API server, so at most {:.0} runs/s; the plain client mixing them made {:.0} runs/s.",
        1000.0 / per_run,
        mix.runs as f64 / mix.secs
    );
    println!();
}

/// An on/off switch of the environment; on unless set to `0`.
fn switch(name: &str) -> bool {
    std::env::var(name).map_or(true, |v| v != "0")
}

/// Item 5: the operator's memory with the objects of `settings` already there.
async fn print_rss(client: &Client, settings: &Settings) -> anyhow::Result<()> {
    let rss = operator_rss(client, settings).await?;
    println!(
        "Operator memory: `punctual run` started with the objects below already there, read {} s after /readyz:",
        settings.rss_settle.as_secs()
    );
    println!();
    println!(
        "| Actions (manual) | ActionRuns (succeeded) | operator peak RSS (VmHWM) | RSS then (VmRSS) | Actions with a status by then |"
    );
    println!("|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {} | {} |",
        settings.rss_actions,
        settings.rss_runs,
        common::mib(rss.peak),
        common::mib(rss.now),
        rss.reconciled
    );
    Ok(())
}

/// A poisoned lock only means a watch callback panicked; its data is still what was seen.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The first minute boundary at least 60 s after `ready`: the whole minute before it (in which
/// the operator may stage the slot's runs) then runs with everything in place.
fn first_full_slot(ready: DateTime<Utc>) -> anyhow::Result<DateTime<Utc>> {
    let t = ready + TimeDelta::seconds(60);
    let floor = t.duration_trunc(TimeDelta::minutes(1))?;
    Ok(if floor == t {
        t
    } else {
        floor + TimeDelta::minutes(1)
    })
}

async fn sleep_until(t: DateTime<Utc>) {
    tokio::time::sleep((t - Utc::now()).to_std().unwrap_or_default()).await;
}

fn seconds(d: TimeDelta) -> f64 {
    d.num_milliseconds() as f64 / 1000.0
}

/// "p50 / p99 / max s" of sorted values; `signed` puts a sign on every figure.
fn spread(sorted: &[f64], signed: bool) -> String {
    let f = |v: Option<f64>| match v {
        None => "-".to_string(),
        Some(v) if signed => format!("{v:+.3}"),
        Some(v) => format!("{v:.3}"),
    };
    if sorted.is_empty() {
        return "-".into();
    }
    format!(
        "{} / {} / {} s",
        f(common::quantile(sorted, 0.50)),
        f(common::quantile(sorted, 0.99)),
        f(sorted.last().copied())
    )
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

// ---------------------------------------------------------------------------------------------
// 1. The raw limit

struct Raw {
    kind: &'static str,
    created: usize,
    failed: usize,
    secs: f64,
}

async fn raw_limit(client: &Client, run_for: Duration) -> anyhow::Result<Vec<Raw>> {
    let ns = common::create_namespace(client, "bench-raw").await?;
    // Minimal valid objects of about the same size; the ActionRun is standalone (no owner).
    let kinds = [
        (
            "ActionRun",
            ApiResource::erase::<ActionRun>(&()),
            json!({"apiVersion": "punctual.dev/v1alpha1", "kind": "ActionRun",
                   "metadata": {"name": "x"},
                   "spec": {"action": "raw", "triggerType": "manual", "namespaceId": "bench",
                            "endpoint": "agent", "maxRetries": 0, "retryDelaySeconds": 60}}),
        ),
        (
            "ConfigMap",
            ApiResource::erase::<ConfigMap>(&()),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"},
                   "data": {"action": "raw", "triggerType": "manual", "namespaceId": "bench",
                            "endpoint": "agent"}}),
        ),
    ];
    let mut out = Vec::new();
    for (kind, resource, body) in kinds {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &resource);
        let template: DynamicObject = serde_json::from_value(body)?;
        let start = Instant::now();
        let end = start + run_for;
        let workers: Vec<_> = (0..CONCURRENCY)
            .map(|w| {
                let (api, mut obj) = (api.clone(), template.clone());
                tokio::spawn(async move {
                    let (mut created, mut failed, mut first_error) = (0, 0, None);
                    let mut i = 0;
                    while Instant::now() < end {
                        obj.metadata.name = Some(format!("raw-{w}-{i}"));
                        i += 1;
                        match api.create(&PostParams::default(), &obj).await {
                            Ok(_) => created += 1,
                            Err(e) => {
                                failed += 1;
                                first_error.get_or_insert(e.to_string());
                            }
                        }
                    }
                    (created, failed, first_error)
                })
            })
            .collect();
        let mut raw = Raw {
            kind,
            created: 0,
            failed: 0,
            secs: 0.0,
        };
        for w in workers {
            let (created, failed, first_error) = w.await?;
            raw.created += created;
            raw.failed += failed;
            if let Some(e) = first_error {
                eprintln!("[bench] {kind} create failed: {e}");
            }
        }
        // Until the last request in flight returned: those creates count too.
        raw.secs = start.elapsed().as_secs_f64();
        eprintln!(
            "[bench] raw {kind}: {} created in {:.1} s",
            raw.created, raw.secs
        );
        api.delete_collection(&DeleteParams::default(), &ListParams::default())
            .await?;
        out.push(raw);
    }
    common::delete_namespace(client, &ns, Duration::from_secs(120)).await?;
    Ok(out)
}

/// The plain client's runs of the operator's four writes.
struct Mix {
    runs: usize,
    writes: usize,
    failed: usize,
    secs: f64,
}

/// One worker per Action (so its conditional Action status writes never conflict with another
/// worker's); each run as the operator makes it: owned by the Action, labelled, its payload
/// and thread resolved, then its outcome with one attempt, then the Action's counters and next
/// slot, then the previous run deleted (a history limit of 1).
async fn raw_mix(client: &Client, run_for: Duration) -> anyhow::Result<Mix> {
    let ns = common::create_namespace(client, "bench-mix").await?;
    let actions: Api<Action> = Api::namespaced(client.clone(), &ns);
    let runs: Api<ActionRun> = Api::namespaced(client.clone(), &ns);
    let start = Instant::now();
    let end = start + run_for;
    let mut workers = Vec::new();
    for w in 0..CONCURRENCY {
        let action: Action = serde_json::from_value(mix_action(w))?;
        let action = actions.create(&PostParams::default(), &action).await?;
        let (actions, runs) = (actions.clone(), runs.clone());
        workers.push(tokio::spawn(async move {
            let (mut done, mut writes, mut failed) = (0, 0, 0);
            let mut first_error = None;
            let mut action_rv = action.resource_version();
            let mut previous: Option<String> = None;
            let mut i: i64 = 0;
            while Instant::now() < end {
                i += 1;
                let one = mix_run(&actions, &runs, &action, i, &mut action_rv, &mut previous).await;
                writes += one.0;
                match one.1 {
                    Ok(()) => done += 1,
                    Err(e) => {
                        failed += 1;
                        first_error.get_or_insert(e.to_string());
                    }
                }
            }
            (done, writes, failed, first_error)
        }));
    }
    let mut mix = Mix {
        runs: 0,
        writes: 0,
        failed: 0,
        secs: 0.0,
    };
    for w in workers {
        let (done, writes, failed, first_error) = w.await?;
        mix.runs += done;
        mix.writes += writes;
        mix.failed += failed;
        if let Some(e) = first_error {
            eprintln!("[bench] write mix: {e}");
        }
    }
    mix.secs = start.elapsed().as_secs_f64();
    eprintln!(
        "[bench] write mix: {} runs, {} writes in {:.1} s",
        mix.runs, mix.writes, mix.secs
    );
    common::delete_namespace(client, &ns, Duration::from_secs(120)).await?;
    Ok(mix)
}

/// One of the four writes, measured on its own.
struct Verb {
    write: &'static str,
    done: usize,
    failed: usize,
    secs: f64,
}

/// A worker of `raw_verbs`: its Action and the runs it made (name, resourceVersion).
struct VerbWorker {
    action: Action,
    action_rv: Option<String>,
    runs: Vec<(String, Option<String>)>,
}

/// The four writes one verb at a time, `per_worker` of each by each of 64 workers (one Action
/// each), so that each write's own rate shows: which one the API server finds expensive.
async fn raw_verbs(client: &Client, per_worker: usize) -> anyhow::Result<Vec<Verb>> {
    let ns = common::create_namespace(client, "bench-verbs").await?;
    let actions: Api<Action> = Api::namespaced(client.clone(), &ns);
    let runs: Api<ActionRun> = Api::namespaced(client.clone(), &ns);
    let mut workers = Vec::new();
    for w in 0..CONCURRENCY {
        let action: Action = serde_json::from_value(mix_action(w))?;
        let action = actions.create(&PostParams::default(), &action).await?;
        workers.push(VerbWorker {
            action_rv: action.resource_version(),
            action,
            runs: Vec::new(),
        });
    }
    let mut out = Vec::new();
    let r = runs.clone();
    let (verb, workers) = phase("POST run", workers, move |mut w| {
        let runs = r.clone();
        async move {
            let mut failed = 0;
            for i in 0..per_worker {
                let name = format!("{}-{i}", w.action.name_any());
                let body = run_body(&w.action, &name, i as i64, Utc::now());
                let created = match serde_json::from_value::<ActionRun>(body) {
                    Ok(run) => runs.create(&PostParams::default(), &run).await.ok(),
                    Err(_) => None,
                };
                match created {
                    Some(run) => w.runs.push((name, run.resource_version())),
                    None => failed += 1,
                }
            }
            (w.runs.len(), failed, w)
        }
    })
    .await?;
    out.push(verb);
    let r = runs.clone();
    let (verb, workers) = phase("PATCH run status", workers, move |w| {
        let runs = r.clone();
        async move {
            let (mut done, mut failed) = (0, 0);
            for (name, rv) in &w.runs {
                let body = outcome_body(rv.clone(), Utc::now());
                let params = PatchParams::default();
                match runs.patch_status(name, &params, &Patch::Merge(&body)).await {
                    Ok(_) => done += 1,
                    Err(_) => failed += 1,
                }
            }
            (done, failed, w)
        }
    })
    .await?;
    out.push(verb);
    let a = actions.clone();
    let (verb, workers) = phase("PATCH Action status", workers, move |mut w| {
        let actions = a.clone();
        async move {
            let (mut done, mut failed) = (0, 0);
            for (i, (name, _)) in w.runs.iter().enumerate() {
                let body =
                    counters_body(&w.action, w.action_rv.clone(), i as i64, name, Utc::now());
                let params = PatchParams::default();
                match actions
                    .patch_status(&w.action.name_any(), &params, &Patch::Merge(&body))
                    .await
                {
                    Ok(a) => {
                        w.action_rv = a.resource_version();
                        done += 1;
                    }
                    Err(_) => failed += 1,
                }
            }
            (done, failed, w)
        }
    })
    .await?;
    out.push(verb);
    let r = runs.clone();
    let (verb, _) = phase("DELETE run", workers, move |w| {
        let runs = r.clone();
        async move {
            let (mut done, mut failed) = (0, 0);
            for (name, _) in &w.runs {
                match runs.delete(name, &DeleteParams::default()).await {
                    Ok(_) => done += 1,
                    Err(_) => failed += 1,
                }
            }
            (done, failed, w)
        }
    })
    .await?;
    out.push(verb);
    common::delete_namespace(client, &ns, Duration::from_secs(120)).await?;
    Ok(out)
}

/// Runs `f` on every worker at once; the writes it made (succeeded, failed) and how long all
/// took.
async fn phase<F, Fut>(
    write: &'static str,
    workers: Vec<VerbWorker>,
    f: F,
) -> anyhow::Result<(Verb, Vec<VerbWorker>)>
where
    F: Fn(VerbWorker) -> Fut,
    Fut: std::future::Future<Output = (usize, usize, VerbWorker)> + Send + 'static,
{
    let start = Instant::now();
    let tasks: Vec<_> = workers.into_iter().map(|w| tokio::spawn(f(w))).collect();
    let mut verb = Verb {
        write,
        done: 0,
        failed: 0,
        secs: 0.0,
    };
    let mut workers = Vec::new();
    for task in tasks {
        let (done, failed, w) = task.await?;
        verb.done += done;
        verb.failed += failed;
        workers.push(w);
    }
    verb.secs = start.elapsed().as_secs_f64();
    eprintln!(
        "[bench] {write}: {} in {:.1} s ({} failed)",
        verb.done, verb.secs, verb.failed
    );
    Ok((verb, workers))
}

/// Run `i` of a worker: the writes it made, and whether all four succeeded.
async fn mix_run(
    actions: &Api<Action>,
    runs: &Api<ActionRun>,
    action: &Action,
    i: i64,
    action_rv: &mut Option<String>,
    previous: &mut Option<String>,
) -> (usize, anyhow::Result<()>) {
    let name = format!("{}-{i}", action.name_any());
    let slot = Utc::now();
    let run: ActionRun = match serde_json::from_value(run_body(action, &name, i, slot)) {
        Ok(r) => r,
        Err(e) => return (0, Err(e.into())),
    };
    let params = PatchParams::default();
    let created = match runs.create(&PostParams::default(), &run).await {
        Ok(r) => r,
        Err(e) => return (1, Err(e.into())),
    };
    let outcome = outcome_body(created.resource_version(), slot);
    if let Err(e) = runs
        .patch_status(&name, &params, &Patch::Merge(&outcome))
        .await
    {
        return (2, Err(e.into()));
    }
    let counters = counters_body(action, action_rv.clone(), i, &name, slot);
    match actions
        .patch_status(&action.name_any(), &params, &Patch::Merge(&counters))
        .await
    {
        Ok(a) => *action_rv = a.resource_version(),
        Err(e) => return (3, Err(e.into())),
    }
    let Some(before) = previous.replace(name) else {
        return (3, Ok(()));
    };
    match runs.delete(&before, &DeleteParams::default()).await {
        Ok(_) => (4, Ok(())),
        Err(e) => (4, Err(e.into())),
    }
}

/// Worker `w`'s Action of the plain client's runs.
fn mix_action(w: usize) -> serde_json::Value {
    json!({
        "apiVersion": "punctual.dev/v1alpha1", "kind": "Action",
        "metadata": {"name": format!("m{w:03}")},
        "spec": {"app": "bench", "endpoint": "agent", "namespaceId": "bench",
                 "cronExpression": "* * * * *", "payload": {"n": w},
                 "successfulRunsHistoryLimit": 1, "failedRunsHistoryLimit": 1},
    })
}

/// A run as the operator creates it: owned by its Action, labelled, payload and thread resolved.
fn run_body(action: &Action, name: &str, i: i64, slot: DateTime<Utc>) -> serde_json::Value {
    json!({
        "apiVersion": "punctual.dev/v1alpha1", "kind": "ActionRun",
        "metadata": {"name": name, "labels": {"punctual.dev/action": action.name_any()},
                     "annotations": {"punctual.dev/action-generation": "1"},
                     "ownerReferences": [{"apiVersion": "punctual.dev/v1alpha1", "kind": "Action",
                         "name": action.name_any(), "uid": action.uid(),
                         "controller": true, "blockOwnerDeletion": true}]},
        "spec": {"action": action.name_any(), "triggerType": "scheduled", "namespaceId": "bench",
                 "endpoint": "agent", "maxRetries": 0, "retryDelaySeconds": 60,
                 "scheduledAt": slot, "resolvedPayload": {"n": i},
                 "resolvedThreadId": uuid::Uuid::new_v4().to_string()},
    })
}

/// A run's outcome with one attempt, conditional on `rv`.
fn outcome_body(rv: Option<String>, slot: DateTime<Utc>) -> serde_json::Value {
    let execution = uuid::Uuid::new_v4().to_string();
    json!({
        "metadata": {"resourceVersion": rv},
        "status": {"status": "succeeded", "attempt": 1, "executionId": execution,
                   "triggeredAt": slot, "startedAt": slot, "completedAt": Utc::now(),
                   "durationSeconds": 0.004, "httpStatus": 200, "output": "{\"ok\": true}",
                   "traceId": "cfe547db92dd59ac868d9cffda003ebc",
                   "attempts": [{"number": 1, "executionId": execution, "startedAt": slot,
                                 "completedAt": Utc::now(), "httpStatus": 200,
                                 "output": "{\"ok\": true}"}]},
    })
}

/// The Action's status after its run `i` (`name`): counters, ledger, last run, next slots;
/// conditional on `rv`.
fn counters_body(
    action: &Action,
    rv: Option<String>,
    i: i64,
    name: &str,
    slot: DateTime<Utc>,
) -> serde_json::Value {
    let next = slot + TimeDelta::minutes(1);
    let upcoming: Vec<_> = (1..=5).map(|k| slot + TimeDelta::minutes(k)).collect();
    json!({
        "metadata": {"resourceVersion": rv},
        "status": {"observedGeneration": 1, "totalRuns": i, "successfulRuns": i,
                   "lastRunAt": slot, "lastRunName": name, "lastRunStatus": "succeeded",
                   "lastExecutionId": uuid::Uuid::new_v4().to_string(), "lastScheduleTime": slot,
                   "nextRunAt": next, "nextRun": format!("{}-{}", action.name_any(), i + 1),
                   "countedRuns": [name], "upcoming": upcoming},
    })
}

// ---------------------------------------------------------------------------------------------
// 3. CronJobs

struct CronFigures {
    /// Nominal instant to Job first seen, sorted, for the Jobs of the measured slot.
    lags: Vec<f64>,
}

/// The slot of a Job made by the CronJob controller: its annotation, else the name's suffix
/// (minutes since the epoch).
fn job_slot(job: &Job) -> Option<DateTime<Utc>> {
    if let Some(at) = job.annotations().get(CRONJOB_SLOT_ANNOTATION) {
        return DateTime::parse_from_rfc3339(at)
            .ok()
            .map(|t| t.with_timezone(&Utc));
    }
    let minutes: i64 = job.name_any().rsplit_once('-')?.1.parse().ok()?;
    DateTime::from_timestamp(minutes * 60, 0)
}

async fn cronjob_slot(client: &Client, n: usize) -> anyhow::Result<CronFigures> {
    let ns = common::create_namespace(client, &format!("bench-cron-{n}")).await?;
    // Job name -> (first seen, slot).
    type Seen = HashMap<String, (DateTime<Utc>, Option<DateTime<Utc>>)>;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let watch = common::spawn_watch(Api::<Job>::namespaced(client.clone(), &ns), {
        let seen = seen.clone();
        move |job: Job, at| {
            lock(&seen)
                .entry(job.name_any())
                .or_insert_with(|| (at, job_slot(&job)));
        }
    });
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), &ns);
    // Suspended Jobs: the Job controller never makes pods, and this control plane has no nodes.
    let template: CronJob = serde_json::from_value(json!({
        "metadata": {"name": "c"},
        "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"suspend": true, "template": {
            "spec": {"restartPolicy": "Never",
                     "containers": [{"name": "c", "image": "registry.invalid/none"}]}}}}},
    }))?;
    common::for_each_concurrent(n, 32, |i| {
        let (api, mut cj) = (cronjobs.clone(), template.clone());
        cj.metadata.name = Some(format!("c{i:05}"));
        async move {
            api.create(&PostParams::default(), &cj).await?;
            Ok(())
        }
    })
    .await?;
    let slot = first_full_slot(Utc::now())?;
    eprintln!("[bench] {n} CronJobs in {ns}; measuring the slot {slot}");
    // The measured minute plus 60 s: a Job later than that counts as missed.
    let deadline = slot + TimeDelta::seconds(120);
    sleep_until(slot).await;
    loop {
        let count = lock(&seen)
            .values()
            .filter(|(_, s)| *s == Some(slot))
            .count();
        if count >= n || Utc::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    watch.abort();
    let lags = sorted(
        lock(&seen)
            .values()
            .filter(|(_, s)| *s == Some(slot))
            .map(|(at, _)| seconds(*at - slot))
            .collect(),
    );
    eprintln!("[bench] CronJobs: {} of {n} Jobs for the slot", lags.len());

    // CronJobs first so that no new Jobs appear, then the Jobs; the namespace deletion would do
    // it too, but only as fast as the namespace controller goes.
    for (what, result) in [
        (
            "cronjobs",
            cronjobs
                .delete_collection(&DeleteParams::background(), &ListParams::default())
                .await
                .map(|_| ()),
        ),
        (
            "jobs",
            Api::<Job>::namespaced(client.clone(), &ns)
                .delete_collection(&DeleteParams::background(), &ListParams::default())
                .await
                .map(|_| ()),
        ),
    ] {
        if let Err(e) = result {
            eprintln!("[bench] deleting {what} in {ns}: {e} (the namespace deletion goes on)");
        }
    }
    common::delete_namespace(client, &ns, Duration::from_secs(600)).await?;
    Ok(CronFigures { lags })
}

// ---------------------------------------------------------------------------------------------
// 2 and 4. Punctual

struct RunSeen {
    scheduled_at: Option<DateTime<Utc>>,
    /// When the watch first saw the run.
    created: DateTime<Utc>,
    /// When the watch first saw it in a final phase, and that phase.
    finished: Option<(DateTime<Utc>, RunPhase)>,
    /// When the watch saw it deleted (history cleanup).
    deleted: Option<DateTime<Utc>>,
}

struct PunctualFigures {
    runs_for_slot: usize,
    requests_for_slot: usize,
    /// Nominal instant to request received, sorted.
    request: Vec<f64>,
    /// Nominal instant to run first seen (negative: ahead of the slot), sorted.
    created: Vec<f64>,
    window: f64,
    succeeded: usize,
    failed: usize,
    /// Runs first seen in the window (created), and seen deleted in it.
    created_in_window: usize,
    deleted_in_window: usize,
    /// API writes in the window by (resource, verb).
    writes: BTreeMap<(String, String), Writes>,
    peak: Option<u64>,
    crashed: bool,
    /// What the Actions' counters added up to over the window.
    counted: Counted,
}

/// The counters of every Action in a namespace, summed.
#[derive(Clone, Copy, Default)]
struct Counted {
    runs: i64,
    missed: i64,
    skipped: i64,
}

async fn counted(client: &Client, ns: &str) -> anyhow::Result<Counted> {
    let mut sum = Counted::default();
    for action in list_actions(client, ns).await? {
        let status = action.status.unwrap_or_default();
        sum.runs += status.total_runs;
        sum.missed += status.missed_runs;
        sum.skipped += status.skipped_runs;
    }
    Ok(sum)
}

async fn punctual_slot(
    client: &Client,
    n: usize,
    sustained: Duration,
) -> anyhow::Result<PunctualFigures> {
    let ns = common::create_namespace(client, &format!("bench-wp-{n}")).await?;
    let received: common::Received = Default::default();
    let addr = common::endpoint(received.clone()).await?;

    // Both watches start before anything exists, so every run's first sighting is recorded.
    let runs: Arc<Mutex<HashMap<String, RunSeen>>> = Arc::default();
    let run_watch =
        common::spawn_watch_deletes(Api::<ActionRun>::namespaced(client.clone(), &ns), {
            let runs = runs.clone();
            move |run: ActionRun, at, deleted| {
                let mut runs = lock(&runs);
                let seen = runs.entry(run.name_any()).or_insert(RunSeen {
                    scheduled_at: run.spec.scheduled_at,
                    created: at,
                    finished: None,
                    deleted: None,
                });
                if deleted {
                    seen.deleted.get_or_insert(at);
                    return;
                }
                let phase = run.status.as_ref().map(|s| s.status);
                if let Some(phase) = phase.filter(|p| !p.is_active()) {
                    seen.finished.get_or_insert((at, phase));
                }
            }
        });
    // Armed: the scheduler has reconciled the Action and knows its next slot.
    let armed: Arc<Mutex<HashSet<String>>> = Arc::default();
    let action_watch = common::spawn_watch(Api::<Action>::namespaced(client.clone(), &ns), {
        let armed = armed.clone();
        move |action: Action, _| {
            if action
                .status
                .as_ref()
                .is_some_and(|s| s.next_run_at.is_some())
            {
                lock(&armed).insert(action.name_any());
            }
        }
    });

    let endpoint: ActionEndpoint = serde_json::from_value(json!({
        "apiVersion": "punctual.dev/v1alpha1", "kind": "ActionEndpoint",
        "metadata": {"name": "agent"}, "spec": {"url": format!("http://{addr}/")},
    }))?;
    Api::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &endpoint)
        .await?;
    let mut operator = common::Operator::start(&ns, &format!("writepath-{n}")).await?;
    // A history of 1: from each Action's second run on, every finished run deletes the one
    // before, so the sustained window sees the steady state (with the default of 10, deletions
    // would start only after ten minutes).
    common::create_actions(client, &ns, n, |i| {
        json!({"app": "bench", "endpoint": "agent", "namespaceId": "bench",
               "cronExpression": "* * * * *", "payload": {"n": i},
               "successfulRunsHistoryLimit": 1, "failedRunsHistoryLimit": 1})
    })
    .await?;
    // 120 s, or longer for a large N: arming is one status write per Action.
    let arm_for = Duration::from_secs(120.max(n as u64 / 50));
    let ready_by = Instant::now() + arm_for;
    while lock(&armed).len() < n && Instant::now() < ready_by {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let armed_count = lock(&armed).len();
    if armed_count < n {
        eprintln!(
            "[bench] only {armed_count} of {n} Actions armed after {} s; measuring anyway",
            arm_for.as_secs()
        );
    }

    let slot = first_full_slot(Utc::now())?;
    eprintln!("[bench] {n} Actions in {ns}; measuring the slot {slot}");
    let deadline = slot + TimeDelta::seconds(180);
    let for_slot = |runs: &HashMap<String, RunSeen>, received: &HashMap<String, DateTime<Utc>>| {
        let mine = |name: &String| runs.get(name).is_some_and(|r| r.scheduled_at == Some(slot));
        (
            runs.values()
                .filter(|r| r.scheduled_at == Some(slot))
                .count(),
            received.keys().filter(|name| mine(name)).count(),
        )
    };
    sleep_until(slot).await;
    loop {
        let (created, requested) = for_slot(&lock(&runs), &lock(&received));
        if (created >= n && requested >= n) || Utc::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let (runs_for_slot, requests_for_slot, request, created) = {
        let (runs, received) = (lock(&runs), lock(&received));
        let (c, r) = for_slot(&runs, &received);
        let request = received
            .iter()
            .filter(|(name, _)| {
                runs.get(*name)
                    .is_some_and(|r| r.scheduled_at == Some(slot))
            })
            .map(|(_, at)| seconds(*at - slot))
            .collect();
        let created = runs
            .values()
            .filter(|r| r.scheduled_at == Some(slot))
            .map(|r| seconds(r.created - slot))
            .collect();
        (c, r, sorted(request), sorted(created))
    };
    eprintln!("[bench] slot {slot}: {runs_for_slot} runs seen, {requests_for_slot} requests");

    // The window starts 30 s into a minute: a slot that keeps up is then finished, and the
    // window holds whole minutes.
    let mut start = slot + TimeDelta::seconds(30);
    while start < Utc::now() {
        start += TimeDelta::minutes(1);
    }
    sleep_until(start).await;
    let t0 = Utc::now();
    let before = api_writes(client).await?;
    let counted_before = counted(client, &ns).await?;
    tokio::time::sleep(sustained).await;
    let after = api_writes(client).await?;
    let counted_after = counted(client, &ns).await?;
    let t1 = Utc::now();
    let peak = operator.peak_rss_kib();
    let crashed = !operator.running();
    if crashed {
        eprintln!(
            "[bench] the operator exited during the measurement; see {}",
            operator.log.display()
        );
    }
    drop(operator);
    run_watch.abort();
    action_watch.abort();

    let in_window = |at: &DateTime<Utc>| *at >= t0 && *at < t1;
    let (mut succeeded, mut failed) = (0, 0);
    let (mut created_in_window, mut deleted_in_window) = (0, 0);
    for run in lock(&runs).values() {
        match run.finished {
            Some((at, RunPhase::Succeeded)) if in_window(&at) => succeeded += 1,
            Some((at, _)) if in_window(&at) => failed += 1,
            _ => {}
        }
        created_in_window += usize::from(in_window(&run.created));
        deleted_in_window += usize::from(run.deleted.as_ref().is_some_and(in_window));
    }
    let writes = after
        .iter()
        .filter_map(|(k, v)| {
            let b = before.get(k).copied().unwrap_or_default();
            let d = Writes {
                total: v.total - b.total,
                failed: v.failed - b.failed,
            };
            (d.total > 0.0).then(|| (k.clone(), d))
        })
        .collect();
    common::delete_namespace(client, &ns, Duration::from_secs(600)).await?;
    Ok(PunctualFigures {
        runs_for_slot,
        requests_for_slot,
        request,
        created,
        window: seconds(t1 - t0),
        succeeded,
        failed,
        created_in_window,
        deleted_in_window,
        writes,
        peak,
        crashed,
        counted: Counted {
            runs: counted_after.runs - counted_before.runs,
            missed: counted_after.missed - counted_before.missed,
            skipped: counted_after.skipped - counted_before.skipped,
        },
    })
}

/// `apiserver_request_total` of the write verbs, summed by (resource, verb); the resource is
/// `resource[.group][/subresource]`.
async fn api_writes(client: &Client) -> anyhow::Result<BTreeMap<(String, String), Writes>> {
    let request = axum::http::Request::get("/metrics").body(Vec::new())?;
    let text = client.request_text(request).await?;
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once('}') else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        let labels = parse_labels(labels);
        let get = |k: &str| labels.get(k).map(String::as_str).unwrap_or_default();
        if !WRITE_VERBS.contains(&get("verb")) {
            continue;
        }
        let mut resource = get("resource").to_string();
        if !get("group").is_empty() {
            resource = format!("{resource}.{}", get("group"));
        }
        if !get("subresource").is_empty() {
            resource = format!("{resource}/{}", get("subresource"));
        }
        let w: &mut Writes = out.entry((resource, get("verb").to_string())).or_default();
        w.total += value;
        if !get("code").starts_with('2') {
            w.failed += value;
        }
    }
    anyhow::ensure!(
        !out.is_empty(),
        "no apiserver_request_total write series in /metrics"
    );
    Ok(out)
}

/// `k1="v1",k2="v2"` of a Prometheus text line (values may hold escaped quotes and commas).
fn parse_labels(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut chars = s.chars().peekable();
    loop {
        let key: String = chars
            .by_ref()
            .take_while(|c| *c != '=')
            .collect::<String>()
            .trim_start_matches(',')
            .trim()
            .to_string();
        if key.is_empty() || chars.next() != Some('"') {
            return out;
        }
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(e) = chars.next() {
                        value.push(if e == 'n' { '\n' } else { e });
                    }
                }
                '"' => break,
                c => value.push(c),
            }
        }
        out.insert(key, value);
    }
}

fn print_slot_tables(rows: &[(usize, Option<CronFigures>, PunctualFigures)], sustained: Duration) {
    println!(
        "One minute slot, N objects on `* * * * *`, the first full minute after setup; seconds from the nominal instant, p50 / p99 / max (negative: ahead of it):"
    );
    println!();
    println!(
        "| N | Punctual: request received | Punctual: run created | CronJob: Job seen | Punctual: requests / runs for the slot | CronJob: slots with a Job by +120 s (missed) |"
    );
    println!("|---|---|---|---|---|---|");
    for (n, cron, p) in rows {
        let (cron_lag, cron_slots) = match cron {
            Some(c) => (
                spread(&c.lags, false),
                format!("{} ({})", c.lags.len(), n.saturating_sub(c.lags.len())),
            ),
            None => ("not run".into(), "not run".into()),
        };
        println!(
            "| {n} | {} | {} | {cron_lag} | {} / {} | {cron_slots} |",
            spread(&p.request, false),
            spread(&p.created, true),
            p.requests_for_slot,
            p.runs_for_slot,
        );
    }
    println!();
    println!(
        "Sustained, N Actions firing every minute, {} s window (writes: apiserver_request_total, verbs POST/PUT/PATCH/APPLY/DELETE/DELETECOLLECTION, every client, the control plane's own included):",
        sustained.as_secs()
    );
    println!();
    println!(
        "| N | runs succeeded | runs failed | runs/s | API writes | of them not 2xx | writes per run | operator peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (n, _, p) in rows {
        let total: f64 = p.writes.values().map(|w| w.total).sum();
        let failed: f64 = p.writes.values().map(|w| w.failed).sum();
        println!(
            "| {n} | {} | {} | {:.1} | {total:.0} | {failed:.0} | {} | {}{} |",
            p.succeeded,
            p.failed,
            p.succeeded as f64 / p.window,
            per_run(total, p.succeeded),
            common::mib(p.peak),
            if p.crashed { " (operator exited)" } else { "" },
        );
    }
    println!();
    println!(
        "Every slot accounted for: what the Actions' counters added in the window (read at its start and end), against the slots due in it (N per minute; a slot finished just after the window counts in the next one, so the two differ by the slots in progress at its edges):"
    );
    println!();
    println!("| N | slots due | runs counted | missed counted | skipped counted | all counted |");
    println!("|---|---|---|---|---|---|");
    for (n, _, p) in rows {
        let due = (*n as f64 * p.window / 60.0).round() as i64;
        let c = p.counted;
        println!(
            "| {n} | {due} | {} | {} | {} | {} |",
            c.runs,
            c.missed,
            c.skipped,
            c.runs + c.missed + c.skipped
        );
    }
    println!();
    println!(
        "API writes per run succeeded in the window, by resource and verb (in brackets: the total, and how many were not answered 2xx):"
    );
    println!();
    let header: Vec<String> = rows.iter().map(|(n, ..)| format!("N = {n}")).collect();
    println!("| resource | verb | {} |", header.join(" | "));
    println!("|---|---|{}", "---|".repeat(rows.len()));
    let keys: std::collections::BTreeSet<&(String, String)> =
        rows.iter().flat_map(|(.., p)| p.writes.keys()).collect();
    for key in keys {
        let cells: Vec<String> = rows
            .iter()
            .map(|(.., p)| {
                let w = p.writes.get(key).copied().unwrap_or_default();
                let failed = if w.failed > 0.0 {
                    format!(", {:.0} not 2xx", w.failed)
                } else {
                    String::new()
                };
                format!("{} ({:.0}{failed})", per_run(w.total, p.succeeded), w.total)
            })
            .collect();
        println!("| {} | {} | {} |", key.0, key.1, cells.join(" | "));
    }
    println!();
    print_steady_state(rows);
}

/// What a write is, for the steady-state table: which runs of the window it belongs to.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum WriteKind {
    /// A run created (staged).
    Create,
    /// A run's outcome (and, for a slow request, its `running` state).
    RunStatus,
    /// A run counted on its Action.
    ActionStatus,
    /// A run removed by history cleanup.
    Delete,
    /// Everything else (Events, leases, the control plane's own writes).
    Other,
}

fn write_kind((resource, verb): &(String, String)) -> WriteKind {
    match (resource.as_str(), verb.as_str()) {
        ("actionruns.punctual.dev", "POST" | "CREATE") => WriteKind::Create,
        ("actionruns.punctual.dev", "DELETE") => WriteKind::Delete,
        ("actionruns.punctual.dev/status", _) => WriteKind::RunStatus,
        ("actions.punctual.dev/status", _) => WriteKind::ActionStatus,
        _ => WriteKind::Other,
    }
}

/// The runs of the window a kind of write belongs to: creates to the runs created in it,
/// outcomes to the runs finished, counts to the runs counted (the counters' increase), deletes
/// to the runs deleted. The plain ratio (every write against the runs finished) moves with the
/// backlog at the window's edges (counts and deletes trail the outcomes by up to a minute near
/// the ceiling); this one is the cost of one run in steady state.
fn runs_of(kind: WriteKind, p: &PunctualFigures) -> usize {
    let counted = p.counted.runs + p.counted.missed + p.counted.skipped;
    match kind {
        WriteKind::Create => p.created_in_window,
        WriteKind::ActionStatus => usize::try_from(counted).unwrap_or(0),
        WriteKind::Delete => p.deleted_in_window,
        WriteKind::RunStatus | WriteKind::Other => p.succeeded + p.failed,
    }
}

fn print_steady_state(rows: &[(usize, Option<CronFigures>, PunctualFigures)]) {
    println!(
        "API writes per run in steady state: each kind of write against the runs of the window it belongs to (writes / runs):"
    );
    println!();
    println!(
        "| N | creates / runs created | run status / runs finished | Action status / runs counted | deletes / runs deleted | other writes / runs finished | writes per run |"
    );
    println!("|---|---|---|---|---|---|---|");
    let kinds = [
        WriteKind::Create,
        WriteKind::RunStatus,
        WriteKind::ActionStatus,
        WriteKind::Delete,
        WriteKind::Other,
    ];
    for (n, _, p) in rows {
        let mut cells = Vec::new();
        let mut sum = 0.0;
        for kind in kinds {
            let writes: f64 = p
                .writes
                .iter()
                .filter(|(k, _)| write_kind(k) == kind)
                .map(|(_, w)| w.total)
                .sum();
            let runs = runs_of(kind, p);
            if runs > 0 {
                sum += writes / runs as f64;
            }
            cells.push(format!("{} ({writes:.0} / {runs})", per_run(writes, runs)));
        }
        println!("| {n} | {} | {sum:.2} |", cells.join(" | "));
    }
    println!();
}

fn per_run(writes: f64, runs: usize) -> String {
    if runs == 0 {
        "-".into()
    } else {
        format!("{:.2}", writes / runs as f64)
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Operator memory

struct RssFigures {
    peak: Option<u64>,
    now: Option<u64>,
    reconciled: usize,
}

/// Every Action in `ns`, a page at a time (one list of 10,000 would be one huge response).
async fn list_actions(client: &Client, ns: &str) -> anyhow::Result<Vec<Action>> {
    let api: Api<Action> = Api::namespaced(client.clone(), ns);
    let mut out = Vec::new();
    let mut params = ListParams::default().limit(1000);
    loop {
        let page = api.list(&params).await?;
        out.extend(page.items);
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => return Ok(out),
        }
    }
}

async fn operator_rss(client: &Client, s: &Settings) -> anyhow::Result<RssFigures> {
    let ns = common::create_namespace(client, "bench-rss").await?;
    let endpoint: ActionEndpoint = serde_json::from_value(json!({
        "apiVersion": "punctual.dev/v1alpha1", "kind": "ActionEndpoint",
        "metadata": {"name": "agent"}, "spec": {"url": "http://127.0.0.1:9/"},
    }))?;
    Api::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &endpoint)
        .await?;
    // Manual Actions never fire; the highest history limits keep every run.
    common::create_actions(client, &ns, s.rss_actions, |_| {
        json!({"app": "bench", "endpoint": "agent", "namespaceId": "bench",
               "successfulRunsHistoryLimit": 1000, "failedRunsHistoryLimit": 1000})
    })
    .await?;
    let mut owners = Vec::new();
    for action in list_actions(client, &ns).await? {
        let mut owner = action
            .controller_owner_ref(&())
            .ok_or_else(|| anyhow::anyhow!("Action {} has no uid", action.name_any()))?;
        owner.block_owner_deletion = Some(true);
        owners.push((action.name_any(), owner));
    }
    owners.sort_by(|a, b| a.0.cmp(&b.0));
    anyhow::ensure!(
        !owners.is_empty() || s.rss_runs == 0,
        "runs need at least one Action"
    );

    // Finished history, as the operator leaves it: labelled and owned like its own runs, and
    // finished (the operator counts them once when it starts, then holds them).
    let runs: Api<ActionRun> = Api::namespaced(client.clone(), &ns);
    let base = Utc::now().duration_trunc(TimeDelta::minutes(1))?;
    let per_action = owners.len().max(1);
    common::for_each_concurrent(s.rss_runs, CONCURRENCY, |j| {
        let (action, owner) = owners[j % per_action].clone();
        let slot = base - TimeDelta::minutes(1 + (j / per_action) as i64);
        let runs = runs.clone();
        async move {
            let name = punctual::runspec::naming::scheduled_run_name(&action, slot);
            let run: ActionRun = serde_json::from_value(json!({
                "apiVersion": "punctual.dev/v1alpha1", "kind": "ActionRun",
                "metadata": {
                    "name": name,
                    "labels": {punctual::runspec::ACTION_LABEL: action},
                    "ownerReferences": [owner],
                },
                "spec": {"action": action, "triggerType": "scheduled", "scheduledAt": slot,
                         "namespaceId": "bench", "endpoint": "agent", "maxRetries": 0,
                         "retryDelaySeconds": 60, "resolvedPayload": {},
                         "resolvedThreadId": uuid::Uuid::new_v4().to_string()},
            }))?;
            runs.create(&PostParams::default(), &run).await?;
            let done = slot + TimeDelta::milliseconds(250);
            let status = json!({"status": {
                "status": "succeeded", "attempt": 1, "triggeredAt": slot, "startedAt": slot,
                "completedAt": done, "durationSeconds": 0.25, "httpStatus": 200,
                "executionId": uuid::Uuid::new_v4().to_string(), "output": r#"{"ok": true}"#,
            }});
            runs.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                .await?;
            Ok(())
        }
    })
    .await?;
    eprintln!(
        "[bench] {} finished runs of {} Actions in {ns}",
        s.rss_runs,
        owners.len()
    );

    let mut operator = common::Operator::start(&ns, "writepath-rss").await?;
    tokio::time::sleep(s.rss_settle).await;
    let (peak, now) = (operator.peak_rss_kib(), operator.rss_kib());
    if !operator.running() {
        eprintln!(
            "[bench] the operator exited; see {}",
            operator.log.display()
        );
    }
    drop(operator);
    let reconciled = list_actions(client, &ns)
        .await?
        .iter()
        .filter(|a| a.status.is_some())
        .count();
    common::delete_namespace(client, &ns, Duration::from_secs(600)).await?;
    Ok(RssFigures {
        peak,
        now,
        reconciled,
    })
}
