//! Runner throughput benchmark: N one_time Actions due at the same instant, a local HTTP
//! endpoint, and `punctual run` (scheduler and runner) on the local control plane. Prints the
//! median time from the nominal instant to the run seen by a watch (the scheduler's share), the
//! sustained runs per second (N over the time from the nominal instant to the last run
//! finished), the latency from the nominal instant to the request received by the endpoint
//! (p50/p99/max), and the operator's peak memory. Prints; asserts nothing.
//!
//!   make bench-runner              # N = 200 and 1000
//!   cargo bench --bench runner -- 500
//!
//! Needs KUBECONFIG (the make target starts a local control plane).

use std::collections::HashMap;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use punctual::resources::{ActionRun, RunPhase};
use serde_json::json;

#[path = "common.rs"]
mod common;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Some(sizes) = common::sizes(&[200, 1000]) else {
        return Ok(());
    };
    let client = Client::try_default().await?;
    common::install_crds(&client).await?;
    println!(
        "| runs | finished | p50 run seen | runs/s | p50 latency | p99 latency | max latency | \
         operator peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for n in sizes {
        let row = bench(&client, n).await?;
        println!("{row}");
    }
    Ok(())
}

async fn bench(client: &Client, n: usize) -> anyhow::Result<String> {
    let ns_name = format!(
        "bench-run-{n}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    );
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": ns_name}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    let received: common::Received = Default::default();
    let addr = common::endpoint(received.clone()).await?;
    let endpoint: punctual::resources::ActionEndpoint = serde_json::from_value(json!({
        "apiVersion": "punctual.dev/v1alpha1", "kind": "ActionEndpoint",
        "metadata": {"name": "agent"}, "spec": {"url": format!("http://{addr}/invoke")},
    }))?;
    Api::namespaced(client.clone(), &ns_name)
        .create(&PostParams::default(), &endpoint)
        .await?;

    // Creating the Actions takes a while: aim at an instant comfortably after that.
    let estimate = TimeDelta::milliseconds(40 * n as i64) + TimeDelta::seconds(15);
    let slot = (Utc::now() + estimate).duration_trunc(TimeDelta::seconds(1))?;
    eprintln!("[bench] {n} one_time actions in {ns_name}, all due at {slot}");

    let operator = common::Operator::start(&ns_name, &format!("runner-{n}")).await?;

    common::create_actions(client, &ns_name, n, |i| {
        json!({"app": "bench", "endpoint": "agent", "namespaceId": "bench",
               "scheduledAt": slot, "payload": {"n": i, "run": "{{ run_id }}"}})
    })
    .await?;

    let runs: Api<ActionRun> = Api::namespaced(client.clone(), &ns_name);
    let mut done: HashMap<String, DateTime<Utc>> = HashMap::new();
    let mut created: HashMap<String, DateTime<Utc>> = HashMap::new();
    let deadline = slot + TimeDelta::seconds(180);
    let mut events = watcher(runs, watcher::Config::default())
        .applied_objects()
        .boxed();
    while done.len() < n && Utc::now() < deadline {
        let wait = (deadline - Utc::now()).to_std().unwrap_or_default();
        match tokio::time::timeout(wait, events.next()).await {
            Ok(Some(Ok(run))) => {
                created.entry(run.name_any()).or_insert_with(Utc::now);
                let phase = run.status.as_ref().map(|s| s.status);
                if phase.is_some_and(|p| !p.is_active()) {
                    if phase != Some(RunPhase::Succeeded) {
                        eprintln!("[bench] {} ended {:?}", run.name_any(), run.status);
                    }
                    done.entry(run.name_any()).or_insert_with(Utc::now);
                }
            }
            Ok(Some(Err(e))) => eprintln!("[bench] watch error: {e}"),
            Ok(None) | Err(_) => break,
        }
    }
    let peak = operator.peak_rss_kib();
    drop(operator);
    Api::<Namespace>::all(client.clone())
        .delete(&ns_name, &DeleteParams::background())
        .await?;

    let secs = |t: DateTime<Utc>| (t - slot).num_milliseconds() as f64 / 1000.0;
    let mut latencies: Vec<f64> = received
        .lock()
        .map(|m| m.values().map(|t| secs(*t)).collect())
        .unwrap_or_default();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .copied()
    };
    let fmt = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.3} s"));
    let mut creation: Vec<f64> = created.values().map(|t| secs(*t)).collect();
    creation.sort_by(f64::total_cmp);
    let median_created = creation.get(creation.len() / 2).copied();
    let last = done.values().max().map(|t| secs(*t));
    let rate = last.filter(|s| *s > 0.0).map(|s| done.len() as f64 / s);
    Ok(format!(
        "| {n} | {} | {} | {} | {} | {} | {} | {} |",
        done.len(),
        fmt(median_created),
        rate.map_or("-".into(), |r| format!("{r:.0}")),
        fmt(pct(0.50)),
        fmt(pct(0.99)),
        fmt(latencies.last().copied()),
        common::mib(peak),
    ))
}
