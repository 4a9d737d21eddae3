//! Schedule lag benchmark: N Actions due in the same minute, against the local control plane
//! and a release build of `punctual run`. Prints p50/p99/max schedule lag (run seen by a watch
//! minus the slot's nominal instant) and the controller's peak memory. Prints; asserts nothing.
//!
//!   make bench-schedule            # N = 1000 and 5000
//!   cargo bench --bench schedule -- 1000
//!
//! Needs KUBECONFIG (the make target starts a local control plane).

use std::collections::HashMap;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use punctual::resources::ActionRun;
use serde_json::json;

#[path = "common.rs"]
mod common;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Some(sizes) = common::sizes(&[1000, 5000]) else {
        return Ok(());
    };
    let client = Client::try_default().await?;
    common::install_crds(&client).await?;
    println!("| actions | runs seen | p50 lag | p99 lag | max lag | controller peak RSS |");
    println!("|---|---|---|---|---|---|");
    for n in sizes {
        let row = bench(&client, n).await?;
        println!("{row}");
    }
    Ok(())
}

async fn bench(client: &Client, n: usize) -> anyhow::Result<String> {
    let ns_name = format!(
        "bench-{n}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    );
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": ns_name}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await?;

    // Creating thousands of Actions takes a while: aim at a minute comfortably after that.
    let estimate = TimeDelta::milliseconds(40 * n as i64) + TimeDelta::seconds(20);
    let slot =
        (Utc::now() + estimate).duration_trunc(TimeDelta::minutes(1))? + TimeDelta::minutes(1);
    eprintln!("[bench] {n} actions in {ns_name}, all due at {slot}");

    let endpoint: punctual::resources::ActionEndpoint = serde_json::from_value(json!({
        "apiVersion": "punctual.dev/v1alpha1", "kind": "ActionEndpoint",
        "metadata": {"name": "agent"}, "spec": {"url": "http://127.0.0.1:9/"},
    }))?;
    Api::namespaced(client.clone(), &ns_name)
        .create(&PostParams::default(), &endpoint)
        .await?;

    let operator = common::Operator::start(&ns_name, &format!("schedule-{n}")).await?;

    let cron = format!("{} {} * * *", slot.format("%M"), slot.format("%H"));
    common::create_actions(client, &ns_name, n, |_| {
        json!({"app": "bench", "endpoint": "agent", "namespaceId": "bench",
               "cronExpression": cron})
    })
    .await?;

    let runs: Api<ActionRun> = Api::namespaced(client.clone(), &ns_name);
    let mut seen: HashMap<String, f64> = HashMap::new();
    let deadline = slot + TimeDelta::seconds(120);
    let mut events = watcher(runs, watcher::Config::default())
        .applied_objects()
        .boxed();
    while seen.len() < n && Utc::now() < deadline {
        let wait = (deadline - Utc::now()).to_std().unwrap_or_default();
        match tokio::time::timeout(wait, events.next()).await {
            Ok(Some(Ok(run))) => {
                let lag = lag_seconds(Utc::now(), run.spec.scheduled_at.unwrap_or(slot));
                seen.entry(run.name_any()).or_insert(lag);
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

    let mut lags: Vec<f64> = seen.values().copied().collect();
    lags.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        lags.get(((lags.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .copied()
    };
    let fmt = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.3} s"));
    Ok(format!(
        "| {n} | {} | {} | {} | {} | {} |",
        lags.len(),
        fmt(pct(0.50)),
        fmt(pct(0.99)),
        fmt(lags.last().copied()),
        common::mib(peak),
    ))
}

fn lag_seconds(seen: DateTime<Utc>, slot: DateTime<Utc>) -> f64 {
    (seen - slot).num_milliseconds() as f64 / 1000.0
}
