//! The REST facade: the documented Actions API served from watch caches, writing through the
//! API server (docs/rest.md).
//!
//! - `model`: the JSON views of Actions and runs
//! - `admission`: the checks every request passes, in their order, before a handler acts; the
//!   route paths
//! - `actions`, `runs`: the handlers, one module per resource; `run_actions`: cancel and rerun;
//!   `schedule`: schedule previews; `dry_run`: a trigger's request without the trigger;
//!   `callback`: the reports of endpoints that answered 202
//! - `validate`, `cursor`, `error`, `extract`, `pyjson`: pure input checking, list paging, error
//!   bodies, the reference's wording of malformed JSON
//! - `auth`: TokenReview / SubjectAccessReview with a short cache
//! - `openapi`: the OpenAPI 3.1 document at `/openapi.json`; `bodies`: the request bodies as
//!   types for its schemas
//! - `ui`: the dashboard at `/ui`, the API docs at `/docs`, and the dashboard's read-only JSON
//!   routes

pub mod actions;
pub mod admission;
pub mod auth;
pub mod bodies;
pub mod callback;
pub mod cursor;
pub mod detail;
pub mod dry_run;
pub mod error;
pub mod extract;
pub mod model;
pub mod openapi;
pub mod pyjson;
pub mod run_actions;
pub mod runs;
pub mod schedule;
pub mod ui;
pub mod validate;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::Resource;
use kube::api::Api;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use tracing::Instrument;

pub use admission::{ActionPath, Admitted, RoutePath, RunPath, Scope};
pub use model::{ActionView, RunView};

use crate::metrics::{HttpLabels, Metrics};
use crate::resources::{Action, ActionRun};
use auth::{AuthMode, Authenticator};
use error::ApiError;

/// Field manager of every write the facade makes.
pub const FIELD_MANAGER: &str = "punctual-facade";
/// Namespace label naming the org a workspace belongs to (docs/rest.md, "Tenancy").
pub const ORG_LABEL: &str = "punctual.dev/org";
/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// How long a write waits for the watch cache to show it (read-your-writes).
const SEEN_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub client: kube::Client,
    pub actions: Store<Action>,
    pub runs: Store<ActionRun>,
    pub namespaces: Store<Namespace>,
    pub auth: Arc<Authenticator>,
    pub metrics: Arc<Metrics>,
    /// Checks callback tokens (docs/agent-calls.md).
    pub callbacks: Arc<crate::callback::Callbacks>,
    /// The `tracestate` the runner sends (`--trace-state`), for the dry run.
    pub trace_state: Option<String>,
    ready: Arc<AtomicBool>,
}

impl AppState {
    /// The state over the process's shared caches (`crate::cache`), plus a namespace watch (all
    /// namespaces, or only `namespace`) for workspace lookups; it runs until the process ends.
    pub fn start(
        client: kube::Client,
        caches: &crate::cache::Caches,
        namespace: Option<&str>,
        auth: AuthMode,
        metrics: Arc<Metrics>,
    ) -> Self {
        let ns_config = match namespace {
            Some(ns) => watcher::Config::default().fields(&format!("metadata.name={ns}")),
            None => watcher::Config::default(),
        };
        let namespaces = spawn_reflector(Api::all(client.clone()), ns_config);
        let ready = Arc::new(AtomicBool::new(false));
        {
            let (caches, n, ready) = (caches.clone(), namespaces.clone(), ready.clone());
            tokio::spawn(async move {
                let _ = tokio::join!(caches.wait_ready(), n.wait_until_ready());
                ready.store(true, Ordering::SeqCst);
            });
        }
        Self {
            auth: Arc::new(Authenticator::new(client.clone(), auth)),
            client,
            actions: caches.actions().clone(),
            runs: caches.runs().clone(),
            namespaces,
            metrics,
            // Replaced by `with_callbacks`; a key nobody knows accepts no token meanwhile.
            callbacks: Arc::new(crate::callback::Callbacks::new(
                uuid::Uuid::new_v4().as_bytes(),
                None,
            )),
            trace_state: None,
            ready,
        }
    }

    /// The `tracestate` the runner sends.
    pub fn with_trace_state(mut self, state: Option<String>) -> Self {
        self.trace_state = state;
        self
    }

    /// The callback key shared with the runner.
    pub fn with_callbacks(mut self, callbacks: Arc<crate::callback::Callbacks>) -> Self {
        self.callbacks = callbacks;
        self
    }

    /// Whether every watch cache has completed its first list.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}

fn spawn_reflector<K>(api: Api<K>, config: watcher::Config) -> Store<K>
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
{
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(writer, watcher(api, config).default_backoff())
        .applied_objects()
        .for_each(|event| {
            if let Err(e) = event {
                tracing::warn!(error = %e, "facade watch error; retrying");
            }
            futures::future::ready(())
        });
    tokio::spawn(stream);
    reader
}

/// Waits (bounded) until `store` holds `obj` at its resourceVersion or later, so the next read
/// sees the write. Past the bound the answer goes out anyway; a read may then be stale briefly.
async fn wait_seen<K>(store: &Store<K>, obj: &K)
where
    K: Resource + Clone,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let key = ObjectRef::from_obj(obj);
    let written = obj.meta().resource_version.clone().unwrap_or_default();
    let deadline = Instant::now() + SEEN_TIMEOUT;
    while Instant::now() < deadline {
        if let Some(seen) = store.get(&key)
            && version_reached(
                seen.meta().resource_version.as_deref().unwrap_or(""),
                &written,
            )
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tracing::warn!(object = %key, "write not yet in the watch cache; answering anyway");
}

/// Waits (bounded) until `store` no longer holds the object with this uid.
async fn wait_gone<K>(store: &Store<K>, key: &ObjectRef<K>, uid: Option<&str>)
where
    K: Resource + Clone,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let deadline = Instant::now() + SEEN_TIMEOUT;
    while Instant::now() < deadline {
        match store.get(key) {
            Some(obj) if obj.meta().uid.as_deref() == uid => {}
            _ => return,
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tracing::warn!(object = %key, "deletion not yet in the watch cache; answering anyway");
}

/// How long an answer about what the runner does with a request (a cancel, a callback's report)
/// waits for the runner to record it.
const RECORDED_WAIT: Duration = Duration::from_secs(10);

/// Waits (bounded by `RECORDED_WAIT`) until the cached run `key` satisfies `recorded`; returns
/// the status to answer with (200 once recorded, 202 when it is still to come) and the latest
/// cached copy of the run.
async fn wait_recorded(
    store: &Store<ActionRun>,
    key: &ObjectRef<ActionRun>,
    recorded: impl Fn(&ActionRun) -> bool,
) -> (StatusCode, Option<Arc<ActionRun>>) {
    let deadline = Instant::now() + RECORDED_WAIT;
    loop {
        let seen = store.get(key);
        if seen.as_deref().is_some_and(&recorded) {
            return (StatusCode::OK, seen);
        }
        if Instant::now() >= deadline {
            return (StatusCode::ACCEPTED, seen);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// resourceVersions are opaque, but etcd-backed ones are increasing integers; compare them as
/// such when both parse, and fall back to equality otherwise.
pub fn version_reached(seen: &str, written: &str) -> bool {
    match (seen.parse::<u64>(), written.parse::<u64>()) {
        (Ok(s), Ok(w)) => s >= w,
        _ => seen == written,
    }
}

/// The facade's routes (paths as axum writes them), for the router and the OpenAPI document.
pub const PREFIX: &str = "/v1/orgs/{org_id}/workspaces/{workspace_id}/apps/{app_id}";

/// The router of the whole facade.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/actions", get(actions::list).post(actions::create))
        .route(
            "/actions/{action_id}",
            get(actions::get)
                .put(actions::update)
                .delete(actions::delete),
        )
        .route("/actions/{action_id}/trigger", post(actions::trigger))
        .route("/actions/{action_id}/enable", post(actions::enable))
        .route("/actions/{action_id}/disable", post(actions::disable))
        .route("/actions/{action_id}/runs", get(runs::list))
        .route("/actions/{action_id}/runs/{run_id}", get(runs::get))
        .route(
            "/actions/{action_id}/runs/{run_id}/cancel",
            post(run_actions::cancel),
        )
        .route(
            "/actions/{action_id}/runs/{run_id}/rerun",
            post(run_actions::rerun),
        )
        .route("/actions/{action_id}/upcoming", get(schedule::of_action))
        .route("/schedule-preview", get(schedule::preview));
    Router::new()
        .nest(PREFIX, api)
        .merge(ui::routes(PREFIX))
        .route(
            "/v1/callbacks/{workspace_id}/{run_id}/{attempt}",
            post(callback::report),
        )
        .route(
            "/v1/callbacks/{workspace_id}/{run_id}/{attempt}/heartbeat",
            post(callback::heartbeat),
        )
        .route("/openapi.json", get(openapi::serve))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .with_state(state)
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.is_ready() {
        (StatusCode::OK, "ok").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "watch caches not synced").into_response()
    }
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound {
        resource_type: "route",
        resource_id: uri.path().to_string(),
    }
}

/// A tracing span and the request metrics (by route template, never by raw path, so that the
/// label set stays bounded).
async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().to_string();
    let span = tracing::info_span!(
        target: crate::otel::FACADE_SPANS,
        "http",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
    );
    // A caller that sends `traceparent` sees this request in its own trace.
    crate::otel::continue_trace(&span, req.headers());
    let started = Instant::now();
    let response = next.run(req).instrument(span.clone()).await;
    let status = response.status().as_u16();
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
    let elapsed = started.elapsed().as_secs_f64();
    span.in_scope(|| tracing::debug!(elapsed, "request done"));
    state
        .metrics
        .http_requests
        .get_or_create(&HttpLabels {
            route,
            method,
            status,
        })
        .inc();
    state.metrics.http_duration.observe(elapsed);
    response
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod version_tests {
    use super::*;

    #[test]
    fn resource_versions_compare_as_numbers_when_they_are() {
        assert!(version_reached("10", "9"));
        assert!(version_reached("10", "10"));
        assert!(!version_reached("9", "10"));
        assert!(version_reached("abc", "abc"));
        assert!(!version_reached("abc", "abd"));
    }
}
