//! What the benchmark binaries share: their arguments, the CRDs, namespaces, the operator
//! process, the local HTTP endpoint, watches and percentiles. Included with `#[path]`, because
//! each benchmark is a binary of its own.

// Each benchmark uses a subset of these helpers.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, ResourceExt};

/// The sizes given on the command line, else `default`; `None` when the binary was not started
/// by `cargo bench`. (`cargo test --all-targets` runs bench binaries too, without `--bench`, and
/// a benchmark needs a control plane, so it then skips itself.)
pub fn sizes(default: &[usize]) -> Option<Vec<usize>> {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("benchmark: run it with `cargo bench` (see the Makefile); skipped");
        return None;
    }
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    Some(if sizes.is_empty() {
        default.to_vec()
    } else {
        sizes
    })
}

/// Applies the CRDs generated from the types and gives the API server a moment to serve them.
pub async fn install_crds(client: &Client) -> anyhow::Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in punctual::resources::crds() {
        let pp = PatchParams::apply("punctual-bench").force();
        api.patch(&crd.name_any(), &pp, &Patch::Apply(&crd)).await?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(())
}

/// Creates Actions `a00000`.. `a{n-1}` in `ns`, 32 at a time; `spec(i)` is the i-th spec.
pub async fn create_actions(
    client: &Client,
    ns: &str,
    n: usize,
    spec: impl Fn(usize) -> serde_json::Value,
) -> anyhow::Result<()> {
    use futures::{StreamExt, TryStreamExt, stream};
    let actions: Api<punctual::resources::Action> = Api::namespaced(client.clone(), ns);
    stream::iter(0..n)
        .map(|i| {
            let actions = actions.clone();
            let body = serde_json::json!({
                "apiVersion": "punctual.dev/v1alpha1", "kind": "Action",
                "metadata": {"name": format!("a{i:05}")}, "spec": spec(i),
            });
            async move {
                let action = serde_json::from_value(body)?;
                actions
                    .create(&kube::api::PostParams::default(), &action)
                    .await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await?;
    eprintln!("[bench] created {n} actions at {}", chrono::Utc::now());
    Ok(())
}

/// Runs `f(0)`.. `f(n-1)`, `concurrency` at a time; the first error stops the rest.
pub async fn for_each_concurrent<F, Fut>(n: usize, concurrency: usize, f: F) -> anyhow::Result<()>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    use futures::{StreamExt, TryStreamExt, stream};
    stream::iter(0..n)
        .map(f)
        .buffer_unordered(concurrency)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// An environment variable parsed as `T`, else `default` (a bad value is an error, not ignored).
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .map_err(|_| anyhow::anyhow!("{name}={v:?} is not a valid value")),
        Err(_) => Ok(default),
    }
}

/// Creates a namespace `{prefix}-{random}` and returns its name.
pub async fn create_namespace(client: &Client, prefix: &str) -> anyhow::Result<String> {
    use k8s_openapi::api::core::v1::Namespace;
    let name = format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    );
    let ns: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": name}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&kube::api::PostParams::default(), &ns)
        .await?;
    Ok(name)
}

/// Deletes a namespace and waits up to `wait` until it is gone, so that the next measurement
/// does not share the API server with its deletion. A namespace still there after `wait` is
/// reported, not an error (the figures after it are then noisier).
pub async fn delete_namespace(client: &Client, name: &str, wait: Duration) -> anyhow::Result<()> {
    use k8s_openapi::api::core::v1::Namespace;
    let api = Api::<Namespace>::all(client.clone());
    api.delete(name, &kube::api::DeleteParams::background())
        .await?;
    let start = std::time::Instant::now();
    while start.elapsed() < wait {
        if api.get_opt(name).await?.is_none() {
            eprintln!(
                "[bench] namespace {name} gone after {:.0} s",
                start.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    eprintln!("[bench] namespace {name} still terminating after {wait:?}; going on");
    Ok(())
}

/// A free loopback port (there is a small race until the operator binds it; fine on loopback).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// One HTTP/1.0 GET on loopback: status and body.
pub async fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.ok()?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// `punctual run` ($PUNCTUAL_BIN, default target/release/punctual) watching one namespace, as a
/// child process with this process's KUBECONFIG. Its output goes to target/bench-logs/; it is
/// killed when dropped, so an error in a benchmark leaves no operator behind.
pub struct Operator {
    child: std::process::Child,
    pub log: PathBuf,
}

impl Operator {
    /// Starts the operator and waits until its /readyz answers.
    pub async fn start(namespace: &str, log_name: &str) -> anyhow::Result<Self> {
        use anyhow::Context;
        let binary =
            std::env::var("PUNCTUAL_BIN").unwrap_or_else(|_| "target/release/punctual".into());
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-logs");
        std::fs::create_dir_all(&dir)?;
        let log = dir.join(format!("{log_name}.log"));
        let out = std::fs::File::create(&log)?;
        let metrics_port = free_port()?;
        // The facade on a port of its own: the default 8080 may be taken on a shared machine.
        let facade_port = free_port()?;
        let child = std::process::Command::new(&binary)
            .args(["run", "--watch-namespace", namespace])
            .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
            .args(["--facade-addr", &format!("127.0.0.1:{facade_port}")])
            .env("RUST_LOG", "warn")
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("cannot start {binary}"))?;
        let mut op = Operator { child, log };
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = op.child.try_wait()? {
                anyhow::bail!(
                    "operator exited ({status}) before it was ready; see {}",
                    op.log.display()
                );
            }
            if http_get(metrics_port, "/readyz")
                .await
                .is_some_and(|(s, _)| s == 200)
            {
                break;
            }
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "operator not ready after 60 s; see {}",
                op.log.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        eprintln!(
            "[bench] operator pid {} ready, log {}",
            op.child.id(),
            op.log.display()
        );
        Ok(op)
    }

    /// Peak resident set size so far (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        proc_status_kib(self.child.id(), "VmHWM")
    }

    /// Current resident set size (VmRSS), in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        proc_status_kib(self.child.id(), "VmRSS")
    }

    /// Whether the process is still running (a crash would make its figures meaningless).
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `kB` field of /proc/<pid>/status (Linux), e.g. VmHWM (peak RSS).
pub fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// "12.3 MiB", or "-" when unknown.
pub fn mib(kib: Option<u64>) -> String {
    kib.map_or("-".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

/// When each run's first request reached the endpoint, by run name (`X-Punctual-Run`).
pub type Received = Arc<Mutex<HashMap<String, chrono::DateTime<chrono::Utc>>>>;

/// A local HTTP endpoint on 127.0.0.1 that answers 200 at once to any path and notes when each
/// run's first request arrived. Returns its address; it serves until the process ends.
pub async fn endpoint(received: Received) -> anyhow::Result<SocketAddr> {
    use axum::http::HeaderMap;
    let app = axum::Router::new().fallback(move |headers: HeaderMap| {
        let received = received.clone();
        async move {
            let now = chrono::Utc::now();
            if let Some(run) = headers.get("x-punctual-run").and_then(|v| v.to_str().ok())
                && let Ok(mut map) = received.lock()
            {
                map.entry(run.to_string()).or_insert(now);
            }
            r#"{"ok": true}"#
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}

/// Watches `api` in the background and calls `on` with every added or modified object and the
/// instant it was seen. Abort the handle to stop.
pub fn spawn_watch<K>(
    api: Api<K>,
    mut on: impl FnMut(K, chrono::DateTime<chrono::Utc>) + Send + 'static,
) -> tokio::task::JoinHandle<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
    K::DynamicType: Default,
{
    spawn_watch_deletes(api, move |obj, at, deleted| {
        if !deleted {
            on(obj, at)
        }
    })
}

/// Like `spawn_watch`, also calling `on` for each deletion (`deleted` true).
pub fn spawn_watch_deletes<K>(
    api: Api<K>,
    mut on: impl FnMut(K, chrono::DateTime<chrono::Utc>, bool) + Send + 'static,
) -> tokio::task::JoinHandle<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
    K::DynamicType: Default,
{
    use futures::StreamExt;
    use kube::runtime::{WatchStreamExt, watcher};
    tokio::spawn(async move {
        // Backoff: without it a failing watch retries in a tight loop.
        let mut events = watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        while let Some(event) = events.next().await {
            match event {
                Ok(watcher::Event::Apply(obj) | watcher::Event::InitApply(obj)) => {
                    on(obj, chrono::Utc::now(), false)
                }
                Ok(watcher::Event::Delete(obj)) => on(obj, chrono::Utc::now(), true),
                Ok(watcher::Event::Init | watcher::Event::InitDone) => {}
                Err(e) => eprintln!("[bench] watch error: {e}"),
            }
        }
    })
}

/// The value at quantile `p` (0..=1) of sorted values, nearest rank.
pub fn quantile(sorted: &[f64], p: f64) -> Option<f64> {
    sorted
        .get(((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1))
        .copied()
}
