//! The runner against the real control plane and a real HTTP endpoint started by each test:
//! `punctual run` executes ActionRuns created the way the scheduler and the facade create them
//! (`punctual::runspec::build_run`), and the test endpoint records what it received.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use chrono::{DateTime, Utc};
use kube::api::{Api, DeleteParams, PostParams};
use kube::{Client, ResourceExt};
use punctual::resources::{Action, ActionRun, ActionStatus, RunPhase};
use punctual::runspec::{Trigger, build_run, execution_id};
use serde_json::{Value, json};

use crate::support::*;

/// One request the test endpoint received.
#[derive(Clone, Debug)]
struct Call {
    path: String,
    headers: BTreeMap<String, String>,
    body: Value,
    at: DateTime<Utc>,
}

#[derive(Clone, Default)]
struct Recorder {
    calls: Arc<Mutex<Vec<Call>>>,
}

impl Recorder {
    fn calls(&self) -> Vec<Call> {
        self.calls.lock().expect("lock").clone()
    }
}

/// A test endpoint on a free loopback port: `/ok` answers 200 with a JSON echo,
/// `/status/{code}` that status, `/flaky/{n}` 500 for the first n requests of each
/// Idempotency-Key then 200, `/sleep/{s}` answers 200 after s seconds.
async fn endpoint() -> (SocketAddr, Recorder) {
    let recorder = Recorder::default();
    let app = Router::new().fallback(handle).with_state(recorder.clone());
    (serve_on_free_port(app).await, recorder)
}

async fn handle(
    State(rec): State<Recorder>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let call = Call {
        path: uri.path().to_string(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        at: Utc::now(),
    };
    let key = call
        .headers
        .get("idempotency-key")
        .cloned()
        .unwrap_or_default();
    let seen = {
        let mut calls = rec.calls.lock().expect("lock");
        calls.push(call.clone());
        calls
            .iter()
            .filter(|c| c.headers.get("idempotency-key") == Some(&key))
            .count()
    };
    let parts: Vec<&str> = uri.path().trim_start_matches('/').split('/').collect();
    let echo = json!({"ok": true, "echo": call.body}).to_string();
    match parts.as_slice() {
        ["status", code] => {
            let code = code.parse().ok().and_then(|c| StatusCode::from_u16(c).ok());
            (
                code.unwrap_or(StatusCode::BAD_REQUEST),
                r#"{"status": "as asked"}"#.into(),
            )
        }
        ["flaky", n] if seen <= n.parse().unwrap_or(0) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "flaky".into())
        }
        ["sleep", s] => {
            tokio::time::sleep(Duration::from_secs_f64(s.parse().unwrap_or(0.0))).await;
            (StatusCode::OK, echo)
        }
        _ => (StatusCode::OK, echo),
    }
}

pub(crate) async fn setup(prefix: &str) -> (Client, TestNamespace) {
    let client = client().await;
    install_crds(&client).await;
    let ns = TestNamespace::create(&client, prefix).await;
    (client, ns)
}

pub(crate) fn apply(ns: &str, manifest: Value) {
    kubectl_ok(&["apply", "-n", ns, "-f", "-"], Some(&manifest.to_string()));
}

pub(crate) fn endpoint_url(ns: &str, name: &str, url: &str, extra: Value) {
    let mut spec = json!({"url": url});
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        spec[k] = v;
    }
    apply(
        ns,
        json!({"apiVersion": "punctual.dev/v1alpha1", "kind": "ActionEndpoint",
               "metadata": {"name": name}, "spec": spec}),
    );
}

/// Retries one second apart, so that retry tests stay short.
pub(crate) async fn create_action(client: &Client, ns: &str, name: &str, spec: Value) -> Action {
    create_test_action(client, ns, name, json!({"retryDelaySeconds": 1}), spec).await
}

/// A manual run, created exactly as a trigger creates it.
pub(crate) async fn trigger(client: &Client, action: &Action) -> ActionRun {
    let run = build_run(
        action,
        Trigger::Manual,
        Utc::now(),
        uuid::Uuid::new_v4(),
        None,
    );
    Api::<ActionRun>::namespaced(client.clone(), &action.namespace().expect("ns"))
        .create(&PostParams::default(), &run)
        .await
        .expect("create run")
}

/// Waits until the run reaches a final status.
pub(crate) async fn finished(client: &Client, run: &ActionRun, within: Duration) -> ActionRun {
    let api: Api<ActionRun> = Api::namespaced(client.clone(), &run.namespace().expect("ns"));
    let name = run.name_any();
    eventually(&format!("run {name} to finish"), within, || {
        let (api, name) = (api.clone(), name.clone());
        async move {
            let r = api.get(&name).await.ok()?;
            let phase = r.status.as_ref()?.status;
            (!phase.is_active()).then_some(r)
        }
    })
    .await
}

pub(crate) async fn action_status(client: &Client, ns: &str, name: &str) -> ActionStatus {
    Api::<Action>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .expect("action")
        .status
        .unwrap_or_default()
}

/// Waits until the Action's counters are (total, successful, failed).
async fn counters(client: &Client, ns: &str, name: &str, want: (i64, i64, i64)) {
    let got = eventually(
        &format!("{name} counters {want:?}"),
        Duration::from_secs(20),
        || async {
            let s = action_status(client, ns, name).await;
            let got = (s.total_runs, s.successful_runs, s.failed_runs);
            (got == want).then_some(got)
        },
    )
    .await;
    assert_eq!(got, want);
}

pub(crate) fn status(run: &ActionRun) -> punctual::resources::ActionRunStatus {
    run.status.clone().expect("status")
}

fn error_codes(run: &ActionRun) -> Vec<Option<String>> {
    status(run)
        .attempts
        .iter()
        .map(|a| a.error_code.map(|c| c.as_str().to_string()))
        .collect()
}

#[tokio::test]
async fn success_sends_every_header_and_the_rendered_payload() {
    let (client, ns) = setup("e2e-run-ok").await;
    let (addr, rec) = endpoint().await;
    let secret = "s3cret-value-never-shown";
    apply(
        &ns.name,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "agent-token"},
               "stringData": {"token": secret}}),
    );
    endpoint_url(
        &ns.name,
        "agent",
        &format!("http://{addr}/ok"),
        json!({"headers": {"X-Team": "blue"},
               "auth": {"secretRef": {"name": "agent-token", "key": "token"}, "scheme": "Token"}}),
    );
    let _op = Operator::start(&format!("runner-ok-{}", ns.name), &ns.name, &[]);
    let action = create_action(
        &client,
        &ns.name,
        "digest",
        json!({"displayName": "Daily digest", "timezone": "Europe/Berlin",
               "threadMode": "template", "threadIdTemplate": "digest-{{ date }}",
               "payload": {"text": "run {{ run_id }} of {{ action_name }}",
                           "meta": {"ws": "{{ workspace_id }}", "thread": "{{ thread_id }}",
                                    "n": 3, "list": ["{{ trigger_type }}", true]}}}),
    )
    .await;
    let run = trigger(&client, &action).await;
    let name = run.name_any();
    let done = finished(&client, &run, Duration::from_secs(30)).await;
    let st = status(&done);
    assert_eq!(st.status, RunPhase::Succeeded, "{st:?}");
    assert_eq!(st.http_status, Some(200));
    assert_eq!(st.attempt, 1);
    let exec = execution_id(&done.uid().expect("uid"), 1).to_string();
    assert_eq!(st.execution_id.as_deref(), Some(exec.as_str()));
    assert_eq!(st.attempts.len(), 1);
    assert!(st.output.as_deref().unwrap_or("").contains("\"ok\":true"));
    assert!(st.started_at.is_some() && st.completed_at.is_some() && st.duration_seconds.is_some());

    let calls = rec.calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    let h = |k: &str| call.headers.get(k).map(String::as_str);
    let thread = format!(
        "digest-{}",
        Utc::now()
            .with_timezone(&chrono_tz::Europe::Berlin)
            .format("%Y-%m-%d")
    );
    assert_eq!(call.path, "/ok");
    assert_eq!(h("content-type"), Some("application/json"));
    assert_eq!(h("idempotency-key"), Some(name.as_str()));
    assert_eq!(h("x-punctual-action"), Some("digest"));
    assert_eq!(h("x-punctual-run"), Some(name.as_str()));
    assert_eq!(h("x-punctual-attempt"), Some("1"));
    assert_eq!(h("x-execution-id"), Some(exec.as_str()));
    assert_eq!(h("x-thread-id"), Some(thread.as_str()));
    assert_eq!(h("x-namespace-id"), Some("mem-1"));
    assert_eq!(h("x-scheduled-at"), None, "manual runs have no slot");
    assert_eq!(h("x-team"), Some("blue"));
    assert_eq!(h("authorization"), Some(format!("Token {secret}").as_str()));
    assert_eq!(
        call.body,
        json!({"text": format!("run {name} of Daily digest"),
               "meta": {"ws": ns.name, "thread": thread, "n": 3, "list": ["manual", true]}})
    );
    counters(&client, &ns.name, "digest", (1, 1, 0)).await;
    // lastRun* and lastExecutionId are the scheduler's fields, derived from the run it sees in
    // its own cache; the counters are the runner's. Two writers, so wait for both to settle.
    eventually(
        "lastExecutionId of the run",
        Duration::from_secs(20),
        || async {
            let s = action_status(&client, &ns.name, "digest").await;
            (s.last_execution_id.as_deref() == Some(exec.as_str())
                && s.last_run_status == Some(RunPhase::Succeeded))
            .then_some(())
        },
    )
    .await;
    // The secret value is nowhere in the run, the Action or the operator's log.
    let dump = kubectl_ok(
        &[
            "get",
            "actionruns,actions,events",
            "-n",
            &ns.name,
            "-o",
            "yaml",
        ],
        None,
    );
    assert!(!dump.contains(secret));
    let log = std::fs::read_to_string(&_op.log).unwrap_or_default();
    assert!(!log.contains(secret));
}

#[tokio::test]
async fn a_500_then_200_succeeds_on_the_second_attempt_after_the_delay() {
    let (client, ns) = setup("e2e-run-flaky").await;
    let (addr, rec) = endpoint().await;
    endpoint_url(
        &ns.name,
        "agent",
        &format!("http://{addr}/flaky/1"),
        json!({}),
    );
    let _op = Operator::start(&format!("runner-flaky-{}", ns.name), &ns.name, &[]);
    let action = create_action(
        &client,
        &ns.name,
        "flaky",
        json!({"maxRetries": 2, "retryDelaySeconds": 2}),
    )
    .await;
    let done = finished(
        &client,
        &trigger(&client, &action).await,
        Duration::from_secs(30),
    )
    .await;
    let st = status(&done);
    assert_eq!(st.status, RunPhase::Succeeded, "{st:?}");
    assert_eq!(st.attempt, 2);
    assert_eq!(error_codes(&done), vec![Some("http_error".into()), None]);
    let calls = rec.calls();
    assert_eq!(calls.len(), 2);
    let gap = (calls[1].at - calls[0].at).num_milliseconds();
    assert!(gap >= 2000, "retryDelaySeconds honoured: {gap} ms");
    // A loose upper bound: it catches a retry that waits for a poll or a default delay, but
    // not the load of a shared machine (speed belongs to the benchmarks).
    assert!(gap < 15_000, "and not a poll later: {gap} ms");
    assert_eq!(
        calls[0].headers.get("idempotency-key"),
        calls[1].headers.get("idempotency-key")
    );
    assert_eq!(
        calls[1]
            .headers
            .get("x-punctual-attempt")
            .map(String::as_str),
        Some("2")
    );
    assert_ne!(
        calls[0].headers.get("x-execution-id"),
        calls[1].headers.get("x-execution-id")
    );
    counters(&client, &ns.name, "flaky", (1, 1, 0)).await;
}

#[tokio::test]
async fn always_500_fails_after_every_attempt_and_404_is_not_retried() {
    let (client, ns) = setup("e2e-run-500").await;
    let (addr, rec) = endpoint().await;
    endpoint_url(
        &ns.name,
        "agent",
        &format!("http://{addr}/status/500"),
        json!({}),
    );
    endpoint_url(
        &ns.name,
        "gone",
        &format!("http://{addr}/status/404"),
        json!({}),
    );
    let _op = Operator::start(&format!("runner-500-{}", ns.name), &ns.name, &[]);
    let a500 = create_action(&client, &ns.name, "five", json!({"maxRetries": 2})).await;
    let a404 = create_action(
        &client,
        &ns.name,
        "four",
        json!({"maxRetries": 2, "endpoint": "gone"}),
    )
    .await;
    let (r500, r404) = (trigger(&client, &a500).await, trigger(&client, &a404).await);
    let done = finished(&client, &r500, Duration::from_secs(30)).await;
    let st = status(&done);
    assert_eq!(
        (st.status, st.attempt, st.http_status),
        (RunPhase::Failed, 3, Some(500))
    );
    assert_eq!(st.error_code.map(|c| c.as_str()), Some("http_error"));
    assert_eq!(error_codes(&done), vec![Some("http_error".into()); 3]);
    let done = finished(&client, &r404, Duration::from_secs(30)).await;
    let st = status(&done);
    assert_eq!(
        (st.status, st.attempt, st.http_status),
        (RunPhase::Failed, 1, Some(404))
    );
    assert_eq!(st.error_code.map(|c| c.as_str()), Some("http_error"));
    let calls = rec.calls();
    assert_eq!(calls.iter().filter(|c| c.path == "/status/500").count(), 3);
    assert_eq!(calls.iter().filter(|c| c.path == "/status/404").count(), 1);
    counters(&client, &ns.name, "five", (1, 0, 1)).await;
    counters(&client, &ns.name, "four", (1, 0, 1)).await;
}

#[tokio::test]
async fn timeouts_closed_ports_and_resolution_failures_have_clear_codes() {
    let (client, ns) = setup("e2e-run-errors").await;
    let (addr, rec) = endpoint().await;
    endpoint_url(
        &ns.name,
        "slow",
        &format!("http://{addr}/sleep/30"),
        json!({"timeoutSeconds": 30}),
    );
    endpoint_url(
        &ns.name,
        "closed",
        &format!("http://127.0.0.1:{}/", free_port()),
        json!({}),
    );
    endpoint_url(
        &ns.name,
        "locked",
        &format!("http://{addr}/ok"),
        json!({"auth": {"secretRef": {"name": "no-such-secret", "key": "token"}}}),
    );
    endpoint_url(&ns.name, "agent", &format!("http://{addr}/ok"), json!({}));
    let _op = Operator::start(&format!("runner-errors-{}", ns.name), &ns.name, &[]);
    let cases = [
        (
            "slow",
            json!({"endpoint": "slow", "timeoutSeconds": 1}),
            "timeout",
        ),
        ("closed", json!({"endpoint": "closed"}), "connection_error"),
        (
            "missing",
            json!({"endpoint": "no-such-endpoint"}),
            "endpoint_not_found",
        ),
        ("locked", json!({"endpoint": "locked"}), "secret_not_found"),
        (
            "tmpl",
            json!({"payload": {"x": "{{ no_such_variable }}"}}),
            "template_error",
        ),
        (
            "syntax",
            json!({"payload": {"x": "{{ run_id "}}),
            "template_error",
        ),
    ];
    let mut runs = Vec::new();
    for (name, spec, _) in &cases {
        let action = create_action(&client, &ns.name, name, spec.clone()).await;
        runs.push(trigger(&client, &action).await);
    }
    for ((name, _, code), run) in cases.iter().zip(&runs) {
        let done = finished(&client, run, Duration::from_secs(30)).await;
        let st = status(&done);
        assert_eq!(st.status, RunPhase::Failed, "{name}: {st:?}");
        assert_eq!(
            st.error_code.map(|c| c.as_str()),
            Some(*code),
            "{name}: {st:?}"
        );
        assert!(st.error_message.is_some(), "{name}");
        counters(&client, &ns.name, name, (1, 0, 1)).await;
    }
    // Only the slow endpoint was reached: failures before sending never call anything.
    let calls = rec.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].path, "/sleep/30");
}

#[tokio::test]
async fn a_service_is_reached_through_its_endpoint_slices() {
    let (client, ns) = setup("e2e-run-svc").await;
    let (addr, rec) = endpoint().await;
    apply(
        &ns.name,
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "agent-svc"},
               "spec": {"ports": [{"name": "http", "port": 80, "targetPort": addr.port()}]}}),
    );
    apply(
        &ns.name,
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
               "metadata": {"name": "agent-svc-local",
                            "labels": {"kubernetes.io/service-name": "agent-svc"}},
               "addressType": "FQDN",
               "ports": [{"name": "http", "port": addr.port(), "protocol": "TCP"}],
               "endpoints": [{"addresses": ["agent.localhost"], "conditions": {"ready": true}}]}),
    );
    apply(
        &ns.name,
        json!({"apiVersion": "punctual.dev/v1alpha1", "kind": "ActionEndpoint",
               "metadata": {"name": "agent"},
               "spec": {"service": {"name": "agent-svc", "port": 80, "path": "/ok"}}}),
    );
    let _op = Operator::start(&format!("runner-svc-{}", ns.name), &ns.name, &[]);
    let action = create_action(&client, &ns.name, "svc", json!({})).await;
    let done = finished(
        &client,
        &trigger(&client, &action).await,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(
        status(&done).status,
        RunPhase::Succeeded,
        "{:?}",
        done.status
    );
    assert_eq!(rec.calls().len(), 1);
}

#[tokio::test]
async fn a_controller_killed_mid_request_records_interrupted_and_retries_once() {
    let (client, ns) = setup("e2e-run-kill").await;
    let (addr, rec) = endpoint().await;
    endpoint_url(
        &ns.name,
        "agent",
        &format!("http://{addr}/sleep/6"),
        json!({}),
    );
    let mut op = Operator::start(&format!("runner-kill-1-{}", ns.name), &ns.name, &[]);
    let action = create_action(&client, &ns.name, "kill", json!({"maxRetries": 1})).await;
    let run = trigger(&client, &action).await;
    // A long call is written `running` once it outlives --running-after-ms (2 s).
    let api: Api<ActionRun> = Api::namespaced(client.clone(), &ns.name);
    eventually(
        "the run to show running",
        Duration::from_secs(30),
        || async {
            let r = api.get(&run.name_any()).await.ok()?;
            (r.status?.status == RunPhase::Running).then_some(())
        },
    )
    .await;
    assert_eq!(rec.calls().len(), 1);
    op.kill();
    let _op2 = Operator::start(&format!("runner-kill-2-{}", ns.name), &ns.name, &[]);
    let done = finished(&client, &run, Duration::from_secs(40)).await;
    let st = status(&done);
    assert_eq!(st.status, RunPhase::Succeeded, "{st:?}");
    assert_eq!(error_codes(&done), vec![Some("interrupted".into()), None]);
    let calls = rec.calls();
    assert_eq!(
        calls.len(),
        2,
        "at-least-once: the interrupted attempt is retried once"
    );
    assert_eq!(
        calls[0].headers.get("idempotency-key"),
        calls[1].headers.get("idempotency-key")
    );
    counters(&client, &ns.name, "kill", (1, 1, 0)).await;
    // Still exact a while later (the new process re-reads every run).
    tokio::time::sleep(Duration::from_secs(2)).await;
    counters(&client, &ns.name, "kill", (1, 1, 0)).await;
}

/// A quick request has no `running` write, so a crash during it leaves the run as it was: the
/// restarted runner sends the same attempt again, with the same execution id and idempotency key.
#[tokio::test]
async fn a_controller_killed_before_the_running_write_resends_the_same_attempt() {
    let (client, ns) = setup("e2e-run-quick-kill").await;
    let (addr, rec) = endpoint().await;
    endpoint_url(
        &ns.name,
        "agent",
        &format!("http://{addr}/sleep/1.5"),
        json!({}),
    );
    let mut op = Operator::start(&format!("runner-qkill-1-{}", ns.name), &ns.name, &[]);
    let action = create_action(&client, &ns.name, "quick", json!({})).await;
    let run = trigger(&client, &action).await;
    eventually("the request to arrive", Duration::from_secs(30), || async {
        (!rec.calls().is_empty()).then_some(())
    })
    .await;
    op.kill();
    let _op2 = Operator::start(&format!("runner-qkill-2-{}", ns.name), &ns.name, &[]);
    let done = finished(&client, &run, Duration::from_secs(40)).await;
    let st = status(&done);
    assert_eq!((st.status, st.attempt), (RunPhase::Succeeded, 1), "{st:?}");
    let calls = rec.calls();
    assert_eq!(calls.len(), 2, "sent again after the crash");
    for header in ["idempotency-key", "x-execution-id", "x-punctual-attempt"] {
        assert_eq!(
            calls[0].headers.get(header),
            calls[1].headers.get(header),
            "{header}"
        );
    }
    counters(&client, &ns.name, "quick", (1, 1, 0)).await;
}

/// The fault storm: Actions firing every minute (some succeeding, some failing), manual triggers
/// in between, history limits of one so cleanup races counting, and the operator SIGKILLed every
/// few seconds for two and a half minutes. The test's own watch sees every run that ever
/// finished; at the end every Action's counters equal those runs exactly, and every slot that
/// passed had its run.
#[tokio::test]
async fn a_sigkill_storm_leaves_every_counter_equal_to_its_runs() {
    use futures::StreamExt;
    use kube::runtime::{WatchStreamExt, watcher};

    let (client, ns) = setup("e2e-run-storm").await;
    let (addr, _rec) = endpoint().await;
    endpoint_url(&ns.name, "agent", &format!("http://{addr}/ok"), json!({}));
    endpoint_url(
        &ns.name,
        "bad",
        &format!("http://{addr}/status/400"),
        json!({}),
    );
    // Every run that reached a final phase, by name: (action, phase, slot).
    type Seen = BTreeMap<String, (String, RunPhase, Option<DateTime<Utc>>)>;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    {
        let seen = seen.clone();
        let api: Api<ActionRun> = Api::namespaced(client.clone(), &ns.name);
        tokio::spawn(async move {
            let mut stream = watcher(api, watcher::Config::default())
                .default_backoff()
                .applied_objects()
                .boxed();
            while let Some(Ok(r)) = stream.next().await {
                let phase = r.status.as_ref().map(|s| s.status).unwrap_or_default();
                if !phase.is_active()
                    && let Ok(mut m) = seen.lock()
                {
                    m.insert(
                        r.name_any(),
                        (r.spec.action.clone(), phase, r.spec.scheduled_at),
                    );
                }
            }
        });
    }
    let names: Vec<String> = (0..8).map(|i| format!("storm-{i}")).collect();
    let mut actions = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let endpoint = if i % 3 == 2 { "bad" } else { "agent" };
        let spec = json!({"cronExpression": "* * * * *", "endpoint": endpoint,
                          "successfulRunsHistoryLimit": 1, "failedRunsHistoryLimit": 1});
        actions.push(create_action(&client, &ns.name, name, spec).await);
    }
    let started = Utc::now();
    let mut op = Operator::start(&format!("storm-0-{}", ns.name), &ns.name, &[]);
    let pauses = [
        3, 7, 5, 11, 4, 9, 2, 13, 6, 8, 3, 12, 5, 10, 4, 7, 9, 3, 6, 11,
    ];
    let mut kills = 0;
    for (i, pause) in pauses.iter().cycle().enumerate() {
        if Utc::now() - started > chrono::TimeDelta::seconds(150) {
            break;
        }
        tokio::time::sleep(Duration::from_secs(*pause)).await;
        let _ = trigger(&client, &actions[i % actions.len()]).await;
        op.kill();
        kills += 1;
        op = Operator::start(&format!("storm-{}-{}", i + 1, ns.name), &ns.name, &[]);
    }
    let stopped = Utc::now();
    eprintln!("storm: {kills} kills");
    // Settled: every Action's counters equal the finished runs the watch saw, and stay so.
    let expected = |name: &str| {
        let m = seen.lock().expect("lock");
        let of = |p: RunPhase| {
            m.values()
                .filter(|(a, ph, _)| a == name && *ph == p)
                .count() as i64
        };
        let (ok, bad) = (of(RunPhase::Succeeded), of(RunPhase::Failed));
        (ok + bad, ok, bad)
    };
    for name in &names {
        eventually(
            &format!("{name} counters settle"),
            Duration::from_secs(90),
            || async {
                let s = action_status(&client, &ns.name, name).await;
                let got = (s.total_runs, s.successful_runs, s.failed_runs);
                let no_active = s.active_runs.is_empty();
                (no_active && got == expected(name) && got.0 > 0).then_some(())
            },
        )
        .await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    for name in &names {
        let s = action_status(&client, &ns.name, name).await;
        assert_eq!(
            (s.total_runs, s.successful_runs, s.failed_runs),
            expected(name),
            "{name}: counters equal its runs"
        );
        // Every slot between the first after creation and the last before the storm ended.
        let m = seen.lock().expect("lock").clone();
        let slots: Vec<DateTime<Utc>> = m
            .values()
            .filter(|(a, _, _)| a == name)
            .filter_map(|(_, _, slot)| *slot)
            .collect();
        let first = slots.iter().min().copied().expect("a slot ran");
        let mut slot = first;
        while slot < stopped - chrono::TimeDelta::seconds(5) {
            assert!(slots.contains(&slot), "{name}: slot {slot} has its run");
            slot += chrono::TimeDelta::minutes(1);
        }
    }
}

#[tokio::test]
async fn history_limits_delete_the_oldest_runs_and_keep_the_counters() {
    let (client, ns) = setup("e2e-run-history").await;
    let (addr, _rec) = endpoint().await;
    endpoint_url(&ns.name, "agent", &format!("http://{addr}/ok"), json!({}));
    endpoint_url(
        &ns.name,
        "bad",
        &format!("http://{addr}/status/400"),
        json!({}),
    );
    let _op = Operator::start(&format!("runner-history-{}", ns.name), &ns.name, &[]);
    let action = create_action(
        &client,
        &ns.name,
        "hist",
        json!({"successfulRunsHistoryLimit": 2, "failedRunsHistoryLimit": 1}),
    )
    .await;
    let mut failing = action.clone();
    failing.spec.endpoint = "bad".into();
    let mut names = Vec::new();
    for i in 0..6 {
        let a = if i % 3 == 2 { &failing } else { &action };
        let run = trigger(&client, a).await;
        finished(&client, &run, Duration::from_secs(30)).await;
        names.push(run.name_any());
    }
    counters(&client, &ns.name, "hist", (6, 4, 2)).await;
    let api: Api<ActionRun> = Api::namespaced(client.clone(), &ns.name);
    let left = eventually("history cleanup", Duration::from_secs(20), || async {
        let mut left: Vec<String> = api
            .list(&Default::default())
            .await
            .ok()?
            .items
            .iter()
            .map(|r| r.name_any())
            .collect();
        left.sort();
        (left.len() == 3).then_some(left)
    })
    .await;
    // Kept: the two newest succeeded (runs 3 and 4) and the newest failed (run 5).
    let mut want = vec![names[3].clone(), names[4].clone(), names[5].clone()];
    want.sort();
    assert_eq!(left, want);
    tokio::time::sleep(Duration::from_secs(1)).await;
    counters(&client, &ns.name, "hist", (6, 4, 2)).await;
}

#[tokio::test]
async fn deleting_the_action_cancels_its_active_run() {
    let (client, ns) = setup("e2e-run-delete").await;
    let (addr, rec) = endpoint().await;
    endpoint_url(
        &ns.name,
        "agent",
        &format!("http://{addr}/sleep/20"),
        json!({}),
    );
    let op = Operator::start(&format!("runner-delete-{}", ns.name), &ns.name, &[]);
    let action = create_action(&client, &ns.name, "del", json!({"timeoutSeconds": 60})).await;
    let run = trigger(&client, &action).await;
    eventually("the request to arrive", Duration::from_secs(30), || async {
        (!rec.calls().is_empty()).then_some(())
    })
    .await;
    Api::<Action>::namespaced(client.clone(), &ns.name)
        .delete("del", &DeleteParams::foreground())
        .await
        .expect("delete action");
    let api: Api<ActionRun> = Api::namespaced(client.clone(), &ns.name);
    eventually("the run to be gone", Duration::from_secs(30), || async {
        api.get_opt(&run.name_any())
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    let metrics = eventually("a cancelled outcome", Duration::from_secs(10), || async {
        let m = op.metrics().await;
        m.contains(r#"punctual_run_outcomes_total{status="cancelled",error_code="cancelled"} 1"#)
            .then_some(m)
    })
    .await;
    assert!(
        !metrics.contains(r#"status="succeeded""#),
        "the request was aborted, not finished"
    );
}

#[tokio::test]
async fn a_run_cancelled_by_another_writer_mid_request_keeps_cancelled() {
    let (client, ns) = setup("e2e-run-replace").await;
    let (addr, rec) = endpoint().await;
    endpoint_url(
        &ns.name,
        "agent",
        &format!("http://{addr}/sleep/5"),
        json!({}),
    );
    let op = Operator::start(&format!("runner-replace-{}", ns.name), &ns.name, &[]);
    let action = create_action(&client, &ns.name, "rep", json!({})).await;
    let run = trigger(&client, &action).await;
    eventually("the request to arrive", Duration::from_secs(30), || async {
        (!rec.calls().is_empty()).then_some(())
    })
    .await;
    // Another writer (kubectl, an older operator) ends the run while its request is in flight:
    // the request's late outcome is written conditionally, so it is dropped (a 409).
    let api: Api<ActionRun> = Api::namespaced(client.clone(), &ns.name);
    let patch = json!({"status": {"status": "cancelled", "errorCode": "cancelled",
                                  "completedAt": Utc::now(), "nextAttemptAt": null}});
    api.patch_status(
        &run.name_any(),
        &Default::default(),
        &kube::api::Patch::Merge(&patch),
    )
    .await
    .expect("cancel");
    tokio::time::sleep(Duration::from_secs(7)).await;
    let st = status(&api.get(&run.name_any()).await.expect("run"));
    assert_eq!(st.status, RunPhase::Cancelled);
    assert_eq!(st.error_code.map(|c| c.as_str()), Some("cancelled"));
    counters(&client, &ns.name, "rep", (0, 0, 0)).await;
    let m = op.metrics().await;
    assert!(!m.contains(r#"status="succeeded""#), "{m}");
}

#[tokio::test]
async fn the_global_cap_limits_requests_in_flight() {
    let (client, ns) = setup("e2e-run-cap").await;
    let (addr, rec) = endpoint().await;
    endpoint_url(
        &ns.name,
        "agent",
        &format!("http://{addr}/sleep/2"),
        json!({}),
    );
    let _op = Operator::start(
        &format!("runner-cap-{}", ns.name),
        &ns.name,
        &["--max-concurrent-requests", "1"],
    );
    let action = create_action(&client, &ns.name, "cap", json!({})).await;
    let runs = [
        trigger(&client, &action).await,
        trigger(&client, &action).await,
    ];
    for run in &runs {
        let done = finished(&client, run, Duration::from_secs(30)).await;
        assert_eq!(status(&done).status, RunPhase::Succeeded);
    }
    let calls = rec.calls();
    assert_eq!(calls.len(), 2);
    let gap = (calls[1].at - calls[0].at).num_milliseconds();
    assert!(
        gap >= 1900,
        "one request at a time: the second came {gap} ms after the first"
    );
    counters(&client, &ns.name, "cap", (2, 2, 0)).await;
}
