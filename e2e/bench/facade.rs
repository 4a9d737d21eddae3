//! REST facade benchmark: N Actions in one workspace; requests per second and p50/p99 latency of
//! list (limit 50, with and without search) and get through the facade, side by side with the
//! same reads straight from the API server. Prints; asserts nothing.
//!
//!   make bench-facade                   # N = 10000, release build
//!   cargo bench --bench facade -- 10000
//!
//! Needs KUBECONFIG (the make target starts a local control plane) and PUNCTUAL_BIN (the binary
//! to run; default target/release/punctual).

use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use kube::Client;
use kube::api::{Api, ListParams, PostParams};
use punctual::resources::Action;
use serde_json::json;

/// Requests in flight at once, per scenario.
const CONCURRENCY: usize = 8;
/// How long each scenario runs.
const SCENARIO: Duration = Duration::from_secs(5);

#[path = "common.rs"]
mod common;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Some(sizes) = common::sizes(&[10_000]) else {
        return Ok(());
    };
    let n = sizes[0];
    let client = Client::try_default().await?;
    common::install_crds(&client).await?;
    let ns = format!(
        "bench-facade-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    );
    let namespace: k8s_openapi::api::core::v1::Namespace = serde_json::from_value(
        json!({"metadata": {"name": ns, "labels": {"punctual.dev/org": "bench"}}}),
    )?;
    Api::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await?;
    let api: Api<Action> = Api::namespaced(client.clone(), &ns);
    let started = Instant::now();
    stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            async move {
                let action: Action = serde_json::from_value(json!({
                    "apiVersion": "punctual.dev/v1alpha1", "kind": "Action",
                    "metadata": {"name": format!("action-{i:05}")},
                    "spec": {"app": "app", "endpoint": "agent", "namespaceId": "m",
                             "displayName": format!("Action {i}"),
                             "description": if i % 100 == 0 { "weekly digest" } else { "job" }},
                }))?;
                api.create(&PostParams::default(), &action).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(32)
        .for_each(|r| {
            if let Err(e) = r {
                eprintln!("create: {e}");
            }
            futures::future::ready(())
        })
        .await;
    eprintln!(
        "created {n} Actions in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let bin = std::env::var("PUNCTUAL_BIN").unwrap_or_else(|_| "target/release/punctual".into());
    let mut child = std::process::Command::new(bin)
        .args(["run", "--watch-namespace", &ns, "--scheduler=false"])
        .args(["--facade-addr", &format!("127.0.0.1:{port}")])
        .args(["--metrics-addr", "127.0.0.1:0", "--auth", "none"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while common::http_get(port, "/readyz").await.map(|(s, _)| s) != Some(200) {
        anyhow::ensure!(Instant::now() < deadline, "facade not ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let base = format!("/v1/orgs/bench/workspaces/{ns}/apps/app/actions");
    println!(
        "Facade (--auth=none, loopback HTTP/1.0, {CONCURRENCY} concurrent) vs API server (kube client), {n} Actions:"
    );
    println!();
    println!("| read | via | req/s | p50 | p99 |");
    println!("|---|---|---|---|---|");
    let list_path = format!("{base}?limit=50");
    let search_path = format!("{base}?limit=50&search=weekly");
    let get_path = format!("{base}/action-04242");
    for (what, path) in [
        ("list limit=50", &list_path),
        ("list limit=50 search", &search_path),
        ("get", &get_path),
    ] {
        let path = path.clone();
        let row = measure(move || {
            let path = path.clone();
            async move {
                common::http_get(port, &path)
                    .await
                    .is_some_and(|(s, _)| s == 200)
            }
        })
        .await;
        println!("| {what} | facade | {row} |");
    }
    let lp = ListParams::default().limit(50);
    let (api2, lp2) = (api.clone(), lp.clone());
    let row = measure(move || {
        let (api, lp) = (api2.clone(), lp2.clone());
        async move { api.list(&lp).await.is_ok() }
    })
    .await;
    println!("| list limit=50 | API server | {row} |");
    // The API server cannot search a description; a client lists everything and filters.
    let api2 = api.clone();
    let row = measure(move || {
        let api = api2.clone();
        async move {
            api.list(&ListParams::default()).await.is_ok_and(|l| {
                l.items
                    .iter()
                    .filter(|a| a.spec.description.as_deref() == Some("weekly digest"))
                    .count()
                    > 0
            })
        }
    })
    .await;
    println!("| list all + filter (search) | API server | {row} |");
    let api2 = api.clone();
    let row = measure(move || {
        let api = api2.clone();
        async move { api.get("action-04242").await.is_ok() }
    })
    .await;
    println!("| get | API server | {row} |");

    let _ = child.kill();
    let _ = child.wait();
    let _ = Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
        .delete(&ns, &Default::default())
        .await;
    Ok(())
}

/// Runs `op` with CONCURRENCY workers for SCENARIO; "req/s | p50 | p99" of the successful calls.
async fn measure<F, Fut>(op: F) -> String
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let end = Instant::now() + SCENARIO;
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut lat = Vec::new();
                while Instant::now() < end {
                    let t = Instant::now();
                    if op().await {
                        lat.push(t.elapsed());
                    }
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap_or_default());
    }
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    format!(
        "{:.0} | {:.2} ms | {:.2} ms",
        all.len() as f64 / SCENARIO.as_secs_f64(),
        pct(0.5),
        pct(0.99)
    )
}
