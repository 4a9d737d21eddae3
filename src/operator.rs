//! The operator process, wired: the health and metrics server, the shared caches, the REST facade
//! on every replica, and the Action and ActionRun controllers on the leader only. `main.rs` only
//! turns flags into `Settings`.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
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
use crate::{Clock, runner, scheduler};

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
    /// Added to the system clock wherever this process reads "now" for a decision (Lease
    /// timestamps, slots, retries): zero except in tests that start a replica with a skewed clock.
    pub clock_offset: chrono::Duration,
}

#[derive(Clone, Debug)]
pub struct FacadeSettings {
    pub addr: SocketAddr,
    pub auth: AuthMode,
    /// Checks the tokens of the callback route (the runner signs them with the same key).
    pub callbacks: Arc<crate::callback::Callbacks>,
    /// The `tracestate` the runner sends, shown by a dry run.
    pub trace_state: Option<String>,
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
    // Without its policy (no redirects, no proxies) the endpoint client must not run at all.
    let http = match settings.runner {
        Some(_) => {
            Some(runner::http::client().context("cannot build the HTTP client for endpoints")?)
        }
        None => None,
    };
    let clock: Arc<dyn Clock> = Arc::new(OffsetClock(settings.clock_offset));
    let metrics = Arc::new(Metrics::default());
    // One watch cache per resource for the whole process (scheduler, runner, facade).
    let caches = Caches::start(&client, settings.namespace.as_deref());
    // Set once the facade serves; readiness waits for it when the facade is on.
    let facade_state: Arc<OnceLock<crate::rest::AppState>> = Arc::default();
    let readiness = Readiness {
        caches: caches.clone(),
        facade: settings.facade.as_ref().map(|_| facade_state.clone()),
    };
    let server = health_server(settings.metrics_addr, metrics.clone(), readiness, &stop).await?;
    if let Some(facade) = &settings.facade {
        let state =
            start_facade(&client, &caches, &settings, facade, metrics.clone(), &stop).await?;
        let _ = facade_state.set(state);
    }
    if settings.actions.is_some() || settings.runner.is_some() {
        let leader_gauge = metrics.clone();
        let work = controllers(&client, &caches, &settings, http, metrics, &clock, &stop);
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
            Some(leader) => lead(&client, &caches, leader, clock.clone(), work, &stop).await?,
            None => work.await,
        }
    }
    server.await??;
    Ok(())
}

/// What `/readyz` waits for: every cache the process serves from has listed, and the facade, if
/// it is on, is serving (bound, with its namespace cache listed too).
#[derive(Clone)]
struct Readiness {
    caches: Caches,
    facade: Option<Arc<OnceLock<crate::rest::AppState>>>,
}

impl Readiness {
    fn check(&self) -> Result<(), &'static str> {
        let facade = self
            .facade
            .as_ref()
            .map(|f| f.get().is_some_and(|state| state.is_ready()));
        ready(self.caches.is_ready(), facade)
    }
}

/// The readiness rule (pure): caches listed, and the facade (None: off) serving.
fn ready(caches_listed: bool, facade_serving: Option<bool>) -> Result<(), &'static str> {
    match (caches_listed, facade_serving) {
        (false, _) => Err("caches not listed yet"),
        (true, Some(false)) => Err("the REST facade is not serving yet"),
        (true, _) => Ok(()),
    }
}

/// `/healthz` (the process is up; cheap, for liveness), `/readyz` (`Readiness`) and `/metrics`.
async fn health_server(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    readiness: Readiness,
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("bind {addr}"))?;
    info!(%addr, "serving /healthz, /readyz, /metrics");
    let ready = move || {
        let readiness = readiness.clone();
        async move {
            match readiness.check() {
                Ok(()) => (StatusCode::OK, "ok"),
                Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
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
) -> anyhow::Result<crate::rest::AppState> {
    auth::check_mode(facade.auth, facade.addr).map_err(anyhow::Error::msg)?;
    let state = crate::rest::AppState::start(
        client.clone(),
        caches,
        settings.namespace.as_deref(),
        facade.auth,
        metrics,
    )
    .with_callbacks(facade.callbacks.clone())
    .with_trace_state(facade.trace_state.clone());
    let listener = tokio::net::TcpListener::bind(facade.addr)
        .await
        .with_context(|| format!("bind {}", facade.addr))?;
    info!(addr = %facade.addr, auth = ?facade.auth, "serving the REST facade");
    let server = axum::serve(listener, crate::rest::router(state.clone()))
        .with_graceful_shutdown(stopped(stop.clone()));
    tokio::spawn(async move {
        if let Err(e) = server.await {
            error!(error = %e, "REST facade stopped");
        }
    });
    Ok(state)
}

/// The Action controller and the runner, as configured, until `stop`.
async fn controllers(
    client: &kube::Client,
    caches: &Caches,
    settings: &Settings,
    http: Option<reqwest::Client>,
    metrics: Arc<Metrics>,
    clock: &Arc<dyn Clock>,
    stop: &watch::Receiver<bool>,
) {
    let clock = || clock.clone();
    let actions = async {
        if let Some(config) = settings.actions {
            let (c, m, s) = (client.clone(), metrics.clone(), stopped(stop.clone()));
            scheduler::controller::run(c, caches.clone(), config, m, clock(), s).await;
        }
    };
    let runner = async {
        if let (Some(config), Some(http)) = (settings.runner.clone(), http) {
            let (c, m, s) = (client.clone(), metrics.clone(), stopped(stop.clone()));
            runner::controller::run(c, caches.clone(), config, http, m, clock(), s).await;
        }
    };
    tokio::join!(actions, runner);
}

/// Runs `work` while holding the Lease.
async fn lead(
    client: &kube::Client,
    caches: &Caches,
    leader: &LeaderSettings,
    clock: Arc<dyn Clock>,
    work: impl std::future::Future<Output = ()>,
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let elector = LeaderElector::new(
        client.clone(),
        &leader.lease_namespace,
        &leader.lease_name,
        &leader.identity,
        leader.lease_duration,
        clock,
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

/// The system clock moved by a fixed offset (`--clock-offset-seconds`, for tests).
struct OffsetClock(chrono::Duration);

impl Clock for OffsetClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() + self.0
    }
}

/// Resolves once the stop flag is set.
async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

#[cfg(test)]
mod readiness_tests {
    use super::ready;

    #[test]
    fn ready_only_when_the_caches_listed_and_the_facade_serves() {
        assert_eq!(ready(false, None), Err("caches not listed yet"));
        assert_eq!(ready(false, Some(true)), Err("caches not listed yet"));
        assert_eq!(
            ready(true, Some(false)),
            Err("the REST facade is not serving yet")
        );
        assert_eq!(ready(true, Some(true)), Ok(()));
        assert_eq!(ready(true, None), Ok(()), "no facade: the caches decide");
    }
}
