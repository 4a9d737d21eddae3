//! The operator process, wired: the health and metrics server, the shared caches, the REST facade
//! on every replica, and the Action and ActionRun controllers on the leader only. `main.rs` only
//! turns flags into `Settings`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::cache::Caches;
use crate::leader::LeaderElector;
use crate::metrics::Metrics;
use crate::rest::auth::{self, AuthMode};
use crate::{SystemClock, runner, scheduler};

/// How long the controllers get to finish their reconciles once the process is asked to stop.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// What to run.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Watch only this namespace (default: all).
    pub namespace: Option<String>,
    /// `/healthz`, `/readyz`, `/metrics`.
    pub metrics_addr: SocketAddr,
    pub facade: Option<FacadeSettings>,
    /// The Action controller (counting, status, and firing slots if `staging.fire`).
    pub actions: Option<scheduler::controller::Config>,
    pub runner: Option<runner::controller::Config>,
    /// With leader election, only the Lease holder runs the controllers.
    pub leader: Option<LeaderSettings>,
}

#[derive(Clone, Debug)]
pub struct FacadeSettings {
    pub addr: SocketAddr,
    pub auth: AuthMode,
    /// Checks the tokens of the callback route (the runner signs them with the same key).
    pub callbacks: Arc<crate::callback::Callbacks>,
}

#[derive(Clone, Debug)]
pub struct LeaderSettings {
    pub identity: String,
    pub lease_namespace: String,
    pub lease_name: String,
    pub lease_duration: Duration,
}

/// Runs the operator until `stop` turns true.
pub async fn run(
    client: kube::Client,
    settings: Settings,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::default());
    // One watch cache per resource for the whole process (scheduler, runner, facade).
    let caches = Caches::start(&client, settings.namespace.as_deref());
    let server = health_server(
        settings.metrics_addr,
        metrics.clone(),
        caches.clone(),
        &stop,
    )
    .await?;
    if let Some(facade) = &settings.facade {
        start_facade(&client, &caches, &settings, facade, metrics.clone(), &stop).await?;
    }
    if settings.actions.is_some() || settings.runner.is_some() {
        let leader_gauge = metrics.clone();
        let work = controllers(&client, &caches, &settings, metrics, &stop);
        // A controller still waiting for its first list (an unreachable API server) does not
        // notice the stop; a stopping process must not hang on it.
        let grace = async {
            stopped(stop.clone()).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
            warn!("the controllers did not stop within {SHUTDOWN_GRACE:?}; exiting anyway");
        };
        let work = async {
            // Called once the Lease is held (or with no leader election): this process leads.
            leader_gauge.leader.set(1);
            tokio::select! {
                _ = work => {}
                _ = grace => {}
            }
        };
        match &settings.leader {
            Some(leader) => lead(&client, &caches, leader, work, &stop).await?,
            None => work.await,
        }
    }
    server.await??;
    Ok(())
}

/// `/healthz` (the process is up), `/readyz` (every cache it serves from has listed) and
/// `/metrics`.
async fn health_server(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    caches: Caches,
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("bind {addr}"))?;
    info!(%addr, "serving /healthz, /readyz, /metrics");
    let ready = move || {
        let caches = caches.clone();
        async move {
            if caches.is_ready() {
                (StatusCode::OK, "ok")
            } else {
                (StatusCode::SERVICE_UNAVAILABLE, "caches not listed yet")
            }
        }
    };
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(render_metrics))
        .with_state(metrics);
    let server = axum::serve(listener, app).with_graceful_shutdown(stopped(stop.clone()));
    Ok(tokio::spawn(async move { server.await }))
}

async fn render_metrics(State(metrics): State<Arc<Metrics>>) -> (StatusCode, String) {
    (StatusCode::OK, metrics.render())
}

async fn start_facade(
    client: &kube::Client,
    caches: &Caches,
    settings: &Settings,
    facade: &FacadeSettings,
    metrics: Arc<Metrics>,
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<()> {
    auth::check_mode(facade.auth, facade.addr).map_err(anyhow::Error::msg)?;
    let state = crate::rest::AppState::start(
        client.clone(),
        caches,
        settings.namespace.as_deref(),
        facade.auth,
        metrics,
    )
    .with_callbacks(facade.callbacks.clone());
    let listener = tokio::net::TcpListener::bind(facade.addr)
        .await
        .with_context(|| format!("bind {}", facade.addr))?;
    info!(addr = %facade.addr, auth = ?facade.auth, "serving the REST facade");
    let server = axum::serve(listener, crate::rest::router(state))
        .with_graceful_shutdown(stopped(stop.clone()));
    tokio::spawn(async move {
        if let Err(e) = server.await {
            error!(error = %e, "REST facade stopped");
        }
    });
    Ok(())
}

/// The Action controller and the runner, as configured, until `stop`.
async fn controllers(
    client: &kube::Client,
    caches: &Caches,
    settings: &Settings,
    metrics: Arc<Metrics>,
    stop: &watch::Receiver<bool>,
) {
    let clock = || -> Arc<dyn crate::Clock> { Arc::new(SystemClock) };
    let actions = async {
        if let Some(config) = settings.actions {
            let (c, m, s) = (client.clone(), metrics.clone(), stopped(stop.clone()));
            scheduler::controller::run(c, caches.clone(), config, m, clock(), s).await;
        }
    };
    let runner = async {
        if let Some(config) = settings.runner.clone() {
            let (c, m, s) = (client.clone(), metrics.clone(), stopped(stop.clone()));
            runner::controller::run(c, caches.clone(), config, m, clock(), s).await;
        }
    };
    tokio::join!(actions, runner);
}

/// Runs `work` while holding the Lease.
async fn lead(
    client: &kube::Client,
    caches: &Caches,
    leader: &LeaderSettings,
    work: impl std::future::Future<Output = ()>,
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let elector = LeaderElector::new(
        client.clone(),
        &leader.lease_namespace,
        &leader.lease_name,
        &leader.identity,
        leader.lease_duration,
    );
    tokio::select! {
        acquired = elector.acquire() => acquired?,
        _ = stopped(stop.clone()) => return Ok(()),
    }
    // Decide from what the API server holds now, not from watches that may have stalled while
    // this replica was a follower (docs/write-path.md).
    caches.resync().await;
    tokio::select! {
        _ = work => {}
        lost = elector.hold() => {
            // Like client-go: a replica that lost the lease stops at once; it is restarted as a
            // follower. Deterministic run names and conditional status writes cover the overlap.
            error!(error = %lost, "lost leadership; exiting");
            std::process::exit(1);
        }
    }
    elector.release().await;
    Ok(())
}

/// Resolves once the stop flag is set.
async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}
