//! The router in process, over in-memory stores: the status precedence of `AppState::admit` and
//! the exact bodies (docs/rest.md, "Tenancy", "Lists and the cursor", "Errors"), in
//! milliseconds and without a cluster. Only requests that never reach the API server are sent:
//! the client points at a port nobody listens on, so one that did would answer 500 and fail.
//! What needs the API server (writes, TokenReview, the endpoint check) is in e2e/tests/facade.rs.
//!
//! - `precedence`: which check answers first (401, 403, path 422, 404, input 422), and the 404s
//! - `invalid`: the exact 422 bodies of bad path ids, queries and bodies
//! - `reads`: gets and lists rendered from the stores
//! - `agent`: the routes beyond the reference API (previews, cancel, rerun, dry run)
//! - `dashboard`: the pages at `/ui` and `/docs`, and the dashboard's JSON routes

mod agent;
mod dashboard;
mod invalid;
mod precedence;
mod reads;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::reflector::{self, Lookup, Store};
use kube::runtime::watcher;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::rest::auth::{AuthMode, Authenticator};
use crate::rest::*;

const BASE: &str = "/v1/orgs/acme/workspaces/team-a/apps/support-bot";
/// The callback key of the fixture's facade.
const TEST_CALLBACK_KEY: &[u8] = b"test-callback-key-of-at-least-32-bytes";

/// A store holding `objects`, filled the way a reflector's first list fills it.
fn store_of<K>(objects: Vec<K>) -> Store<K>
where
    K: Lookup + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone + Default,
{
    let (reader, mut writer) = reflector::store();
    writer.apply_watcher_event(&watcher::Event::Init);
    for object in objects {
        writer.apply_watcher_event(&watcher::Event::InitApply(object));
    }
    // InitDone swaps the listed objects in (an Apply before it would be dropped).
    writer.apply_watcher_event(&watcher::Event::InitDone);
    reader
}

fn namespace(name: &str, org: Option<&str>) -> Namespace {
    Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: org.map(|o| [(ORG_LABEL.to_string(), o.to_string())].into()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    }
}

fn action(ns: &str, name: &str, app: &str, created: &str, spec: Value) -> Action {
    let mut full = json!({"app": app, "endpoint": "agent", "namespaceId": "memory"});
    for (k, v) in spec.as_object().into_iter().flatten() {
        full[k] = v.clone();
    }
    serde_json::from_value(json!({
        "apiVersion": "punctual.dev/v1alpha1", "kind": "Action",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": created, "uid": name},
        "spec": full,
    }))
    .unwrap()
}

fn run(name: &str, action: &str, spec: Value, status: Value) -> ActionRun {
    let mut full = json!({"action": action, "triggerType": "scheduled", "namespaceId": "memory",
                          "endpoint": "agent", "maxRetries": 0, "retryDelaySeconds": 60});
    for (k, v) in spec.as_object().into_iter().flatten() {
        full[k] = v.clone();
    }
    serde_json::from_value(json!({
        "apiVersion": "punctual.dev/v1alpha1", "kind": "ActionRun",
        "metadata": {"name": name, "namespace": "team-a",
                     "creationTimestamp": "2026-03-01T00:00:00Z"},
        "spec": full,
        "status": status,
    }))
    .unwrap()
}

/// The Action every single-Action test reads: a cron Action made through the facade by alice,
/// with counters from the controller.
fn daily_report() -> Action {
    let mut a = action(
        "team-a",
        "daily-report",
        "support-bot",
        "2026-03-01T10:00:00Z",
        json!({"displayName": "Daily report", "description": "Posts the summary to Slack",
               "cronExpression": "0 9 * * *", "timezone": "Europe/Berlin",
               "payload": {"task": "summary of {{ date }}"}}),
    );
    a.metadata.annotations = Some(
        [(
            model::CREATED_BY_ANNOTATION.to_string(),
            "alice".to_string(),
        )]
        .into(),
    );
    // Reconciled (the status observed this generation), so views show the status as written.
    a.metadata.generation = Some(2);
    a.status = serde_json::from_value(json!({
        "observedGeneration": 2,
        "nextRunAt": "2026-03-02T08:00:00Z", "lastRunAt": "2026-03-01T08:00:00Z",
        "lastRunStatus": "succeeded", "totalRuns": 3, "successfulRuns": 2, "failedRuns": 1,
    }))
    .unwrap();
    a
}

/// Workspace `team-a` of org `acme` with five Actions of app `support-bot` (two created in the
/// same second), one of another app, one in another org's workspace; runs of `daily-report`.
fn fixture(auth: AuthMode) -> AppState {
    let actions = vec![
        daily_report(),
        action(
            "team-a",
            "weekly-digest",
            "support-bot",
            "2026-03-02T10:00:00Z",
            json!({"displayName": "Weekly digest"}),
        ),
        action(
            "team-a",
            "b-cleanup",
            "support-bot",
            "2026-03-03T10:00:00Z",
            json!({"displayName": "Cleanup"}),
        ),
        action(
            "team-a",
            "a-cleanup",
            "support-bot",
            "2026-03-03T10:00:00Z",
            json!({"displayName": "Cleanup old runs"}),
        ),
        action(
            "team-a",
            "ping",
            "support-bot",
            "2026-03-04T10:00:00Z",
            json!({}),
        ),
        action(
            "team-a",
            "elsewhere",
            "other-app",
            "2026-03-05T10:00:00Z",
            json!({}),
        ),
        action(
            "other-ws",
            "foreign",
            "support-bot",
            "2026-03-05T10:00:00Z",
            json!({}),
        ),
    ];
    let runs = vec![
        run(
            "daily-report-1",
            "daily-report",
            json!({}),
            json!({"status": "succeeded", "attempt": 1, "triggeredAt": "2026-03-01T09:00:00Z"}),
        ),
        run(
            "daily-report-2",
            "daily-report",
            json!({}),
            json!({"status": "failed", "attempt": 1, "triggeredAt": "2026-03-02T09:00:00Z",
                   "errorCode": "http_error", "errorMessage": "HTTP 500"}),
        ),
        run(
            "daily-report-3",
            "daily-report",
            json!({}),
            json!({"status": "running", "attempt": 1, "triggeredAt": "2026-03-03T09:00:00Z"}),
        ),
        // Staged ahead of its slot: not yet a run the API shows.
        run(
            "daily-report-staged",
            "daily-report",
            json!({"scheduledAt": "2099-01-01T09:00:00Z"}),
            json!({"status": "pending", "attempt": 0}),
        ),
        run(
            "weekly-digest-1",
            "weekly-digest",
            json!({}),
            json!({"status": "succeeded", "attempt": 1, "triggeredAt": "2026-03-02T10:00:00Z"}),
        ),
    ];
    let namespaces = vec![
        namespace("team-a", Some("acme")),
        namespace("other-ws", Some("other-org")),
        namespace("unlabelled", None),
    ];
    // Nothing listens on port 9: a request that reached the API server would be a 500.
    let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    AppState {
        auth: Arc::new(Authenticator::new(client.clone(), auth)),
        client,
        actions: store_of(actions),
        runs: store_of(runs),
        namespaces: store_of(namespaces),
        metrics: Arc::new(crate::metrics::Metrics::default()),
        callbacks: Arc::new(crate::callback::Callbacks::new(TEST_CALLBACK_KEY, None)),
        trace_state: None,
        ready: Arc::new(AtomicBool::new(true)),
    }
}

/// One answer: status, body text, body JSON (Null when not JSON).
struct Answer {
    status: StatusCode,
    text: String,
    json: Value,
}

async fn send(
    state: &AppState,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: &[u8],
) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = request.body(Body::from(body.to_vec())).unwrap();
    let response = router(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer { status, text, json }
}

/// A request without a token (the `none` auth mode needs none).
async fn call(state: &AppState, method: &str, uri: &str, body: Option<Value>) -> Answer {
    let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    send(state, method, uri, None, &body).await
}

/// The body without its timestamp (which varies), for exact comparison.
fn without_timestamp(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut()
        && let Some(t) = o.remove("timestamp")
    {
        assert!(t.as_str().is_some_and(|t| t.ends_with('Z')), "{t}");
    }
    v
}

/// Top-level keys of a JSON object text, in the order sent (a `Value` would sort them).
fn keys_in_order(text: &str) -> Vec<String> {
    struct Keys(Vec<String>);
    impl<'de> serde::Deserialize<'de> for Keys {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Keys;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut m: A,
                ) -> Result<Keys, A::Error> {
                    let mut keys = Vec::new();
                    while let Some((k, _)) = m.next_entry::<String, serde::de::IgnoredAny>()? {
                        keys.push(k);
                    }
                    Ok(Keys(keys))
                }
            }
            d.deserialize_map(V)
        }
    }
    serde_json::from_str::<Keys>(text).unwrap().0
}

fn not_found(resource_type: &str, id: &str, message: &str) -> Value {
    json!({"error": "RESOURCE_NOT_FOUND", "message": message,
           "details": {"resource_type": resource_type, "resource_id": id}, "status_code": 404})
}
