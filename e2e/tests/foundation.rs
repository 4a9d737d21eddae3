//! The resource types against a real API server: CRDs install, examples apply with defaults,
//! bad manifests are rejected naming the field, kubectl shows columns and docs, and deleting an
//! Action garbage-collects its runs.

use std::time::Duration;

use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use punctual::resources::{
    Action, ActionEndpoint, ActionRun, ConcurrencyPolicy, HttpMethod, ScheduleType, ThreadMode,
};
use serde_json::{Value, json};

use crate::support::*;

fn example(file: &str) -> String {
    repo_root()
        .join("examples")
        .join(file)
        .display()
        .to_string()
}

#[tokio::test]
async fn crds_are_served_with_short_names() {
    let client = client().await;
    install_crds(&client).await;
    let out = kubectl_ok(
        &["api-resources", "--api-group=punctual.dev", "--no-headers"],
        None,
    );
    for (plural, short) in [
        ("actions", "act"),
        ("actionruns", "arun"),
        ("actionendpoints", "aep"),
    ] {
        let line = out
            .lines()
            .find(|l| l.split_whitespace().next() == Some(plural))
            .unwrap_or_else(|| panic!("{plural} not served: {out}"));
        assert!(
            line.split_whitespace().any(|w| w == short),
            "{plural} lacks short name {short}: {line}"
        );
        assert!(
            line.contains("true"),
            "{plural} should be namespaced: {line}"
        );
    }
}

#[tokio::test]
async fn examples_apply_and_read_back_with_server_defaults() {
    let client = client().await;
    install_crds(&client).await;
    let ns = TestNamespace::create(&client, "e2e-examples").await;
    let dir = repo_root().join("examples").display().to_string();
    kubectl_ok(&["apply", "-n", &ns.name, "-f", &dir], None);

    let actions: Api<Action> = Api::namespaced(client.clone(), &ns.name);
    let cron = actions.get("daily-standup").await.expect("daily-standup");
    assert_eq!(cron.spec.effective_schedule_type(), ScheduleType::Cron);
    assert_eq!(cron.spec.timezone, "Europe/Berlin");
    assert_eq!(cron.spec.concurrency_policy, ConcurrencyPolicy::Forbid);
    // Not in the manifest: filled in by the API server from the schema defaults.
    assert_eq!(cron.spec.thread_mode, ThreadMode::NewEachRun);
    assert_eq!(cron.spec.starting_deadline_seconds, 300);
    assert_eq!(cron.spec.successful_runs_history_limit, 10);
    assert_eq!(cron.spec.failed_runs_history_limit, 10);
    assert!(cron.spec.enabled);

    let once = actions.get("quarter-report").await.expect("quarter-report");
    assert_eq!(once.spec.schedule_type, Some(ScheduleType::OneTime));
    assert_eq!(once.spec.timezone, "UTC");
    assert_eq!(once.spec.max_retries, 0);
    assert_eq!(once.spec.retry_delay_seconds, 60);
    assert_eq!(
        once.spec.timeout_seconds, None,
        "absent: the endpoint's timeout applies"
    );

    let manual = actions.get("ask-ops").await.expect("ask-ops");
    assert_eq!(manual.spec.thread_mode, ThreadMode::Fixed);
    assert_eq!(manual.spec.thread_id.as_deref(), Some("ops-main-thread"));

    let template = actions.get("hourly-digest").await.expect("hourly-digest");
    assert_eq!(
        template.spec.thread_id_template.as_deref(),
        Some("digest-{{ date }}")
    );
    assert_eq!(
        template.spec.payload["limits"]["max_items"],
        json!(20),
        "nested payload kept"
    );

    let endpoints: Api<ActionEndpoint> = Api::namespaced(client.clone(), &ns.name);
    let by_url = endpoints.get("agent").await.expect("agent");
    assert_eq!(
        by_url.spec.auth.as_ref().map(|a| a.scheme.as_str()),
        Some("Bearer")
    );
    let by_service = endpoints
        .get("agent-by-service")
        .await
        .expect("agent-by-service");
    assert_eq!(by_service.spec.method, HttpMethod::Post, "default method");
    assert_eq!(by_service.spec.service.as_ref().map(|s| s.port), Some(80));
}

/// A valid Action manifest with `patch` merged into its spec (null removes a field).
fn action_manifest(name: &str, patch: Value) -> Value {
    let mut spec = json!({
        "app": "app-1", "endpoint": "agent", "namespaceId": "mem-1",
        "cronExpression": "*/5 * * * *",
    });
    merge(&mut spec, patch);
    json!({"apiVersion": "punctual.dev/v1alpha1", "kind": "Action",
           "metadata": {"name": name}, "spec": spec})
}

fn endpoint_manifest(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "punctual.dev/v1alpha1", "kind": "ActionEndpoint",
           "metadata": {"name": name}, "spec": spec})
}

fn merge(into: &mut Value, patch: Value) {
    if let (Some(into), Value::Object(patch)) = (into.as_object_mut(), patch) {
        for (k, v) in patch {
            if v.is_null() {
                into.remove(&k);
            } else {
                into.insert(k, v);
            }
        }
    }
}

#[tokio::test]
async fn bad_manifests_are_rejected_naming_the_field() {
    let client = client().await;
    install_crds(&client).await;
    let ns = TestNamespace::create(&client, "e2e-invalid").await;

    // (manifest, every text the API server's message must contain)
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (
            action_manifest("enum", json!({"threadMode": "sometimes"})),
            vec!["spec.threadMode", "Unsupported value", "sometimes"],
        ),
        (
            action_manifest(
                "cron-missing",
                json!({"scheduleType": "cron", "cronExpression": null}),
            ),
            vec![
                "spec.cronExpression",
                "cronExpression is required when scheduleType is cron",
            ],
        ),
        (
            action_manifest(
                "once-missing",
                json!({"scheduleType": "one_time", "cronExpression": null}),
            ),
            vec![
                "spec.scheduledAt",
                "scheduledAt is required when scheduleType is one_time",
            ],
        ),
        (
            action_manifest("ambiguous", json!({"scheduledAt": "2030-01-01T00:00:00Z"})),
            vec!["spec.scheduleType", "scheduleType is required when both"],
        ),
        (
            action_manifest("fixed", json!({"threadMode": "fixed"})),
            vec![
                "spec.threadId",
                "threadId is required when threadMode is fixed",
            ],
        ),
        (
            action_manifest("template", json!({"threadMode": "template"})),
            vec![
                "spec.threadIdTemplate",
                "threadIdTemplate is required when threadMode is template",
            ],
        ),
        (
            action_manifest("negative-retries", json!({"maxRetries": -1})),
            vec!["spec.maxRetries", "greater than or equal to 0"],
        ),
        (
            action_manifest("many-retries", json!({"maxRetries": 101})),
            vec!["spec.maxRetries", "less than or equal to 100"],
        ),
        (
            action_manifest("long-delay", json!({"retryDelaySeconds": 86401})),
            vec!["spec.retryDelaySeconds", "less than or equal to 86400"],
        ),
        (
            action_manifest("zero-timeout", json!({"timeoutSeconds": 0})),
            vec!["spec.timeoutSeconds", "greater than or equal to 1"],
        ),
        (
            action_manifest("zero-deadline", json!({"startingDeadlineSeconds": 0})),
            vec!["spec.startingDeadlineSeconds", "greater than or equal to 1"],
        ),
        (
            action_manifest("history", json!({"failedRunsHistoryLimit": 1001})),
            vec!["spec.failedRunsHistoryLimit", "less than or equal to 1000"],
        ),
        (
            action_manifest("policy", json!({"concurrencyPolicy": "Sometimes"})),
            vec!["spec.concurrencyPolicy", "Unsupported value"],
        ),
        (
            action_manifest("no-app", json!({"app": null})),
            vec!["spec.app", "Required value"],
        ),
        (
            action_manifest("empty-name", json!({"displayName": ""})),
            vec!["spec.displayName", "at least 1 chars long"],
        ),
        (
            action_manifest("long-description", json!({"description": "x".repeat(2001)})),
            vec!["spec.description", "may not be more than 2000"],
        ),
        (
            action_manifest(
                "bad-time",
                json!({"scheduleType": "one_time", "scheduledAt": "tomorrow"}),
            ),
            vec!["spec.scheduledAt", "date-time"],
        ),
        (
            action_manifest("payload-array", json!({"payload": [1, 2]})),
            vec!["spec.payload", "must be of type object"],
        ),
        (
            // 64 characters: a valid object name, but too long for its runs' action label.
            action_manifest(&"n".repeat(64), json!({})),
            vec!["metadata.name", "at most 63 characters"],
        ),
        (
            endpoint_manifest(
                "both",
                json!({"url": "http://a.example/x",
                                          "service": {"name": "s", "port": 80}}),
            ),
            vec!["spec", "exactly one of url or service must be set"],
        ),
        (
            endpoint_manifest("neither", json!({"method": "POST"})),
            vec!["spec", "exactly one of url or service must be set"],
        ),
        (
            endpoint_manifest("ftp", json!({"url": "ftp://files.example/x"})),
            vec!["spec.url", "url must be an absolute http or https URL"],
        ),
        (
            endpoint_manifest("port", json!({"service": {"name": "s", "port": 70000}})),
            vec!["spec.service.port", "less than or equal to 65535"],
        ),
        (
            endpoint_manifest(
                "header",
                json!({"url": "http://a.example/",
                                            "headers": {"Authorization": "Bearer x"}}),
            ),
            vec!["spec.headers", "may not set Authorization"],
        ),
        (
            endpoint_manifest(
                "method",
                json!({"url": "http://a.example/", "method": "TRACE"}),
            ),
            vec!["spec.method", "Unsupported value"],
        ),
    ];
    assert!(cases.len() >= 12);
    for (manifest, expected) in &cases {
        let name = manifest["metadata"]["name"].as_str().unwrap_or_default();
        let out = kubectl(
            &["apply", "-n", &ns.name, "-f", "-"],
            Some(&manifest.to_string()),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{name}: accepted, but should be rejected"
        );
        for text in expected {
            assert!(
                stderr.contains(text),
                "{name}: message lacks {text:?}: {stderr}"
            );
        }
    }
    // Nothing invalid was stored.
    let stored = kubectl_ok(
        &[
            "get",
            "actions,actionendpoints",
            "-n",
            &ns.name,
            "-o",
            "name",
        ],
        None,
    );
    assert_eq!(stored.trim(), "", "rejected objects must not exist");
}

fn run_manifest(name: &str, action: &Action) -> Value {
    json!({
        "apiVersion": "punctual.dev/v1alpha1", "kind": "ActionRun",
        "metadata": {
            "name": name,
            "ownerReferences": [{
                "apiVersion": "punctual.dev/v1alpha1", "kind": "Action",
                "name": action.metadata.name, "uid": action.metadata.uid,
                "controller": true, "blockOwnerDeletion": true,
            }],
        },
        "spec": {
            "action": action.metadata.name, "triggerType": "manual", "resolvedPayload": {"a": 1},
            "resolvedThreadId": "t-1", "namespaceId": "mem-1", "endpoint": "agent",
            "maxRetries": 0, "retryDelaySeconds": 60,
        },
    })
}

async fn create_action(client: &kube::Client, ns: &str, name: &str) -> Action {
    let api: Api<Action> = Api::namespaced(client.clone(), ns);
    let action: Action = serde_json::from_value(action_manifest(name, json!({}))).unwrap();
    api.create(&PostParams::default(), &action)
        .await
        .expect("create action")
}

#[tokio::test]
async fn action_run_spec_is_immutable_but_status_is_writable() {
    let client = client().await;
    install_crds(&client).await;
    let ns = TestNamespace::create(&client, "e2e-immutable").await;
    let action = create_action(&client, &ns.name, "nightly").await;
    let runs: Api<ActionRun> = Api::namespaced(client.clone(), &ns.name);
    let run: ActionRun = serde_json::from_value(run_manifest("nightly-m-1", &action)).unwrap();
    runs.create(&PostParams::default(), &run)
        .await
        .expect("create run");

    let changed = json!({"spec": {"resolvedThreadId": "another-thread"}});
    let err = runs
        .patch(
            "nightly-m-1",
            &PatchParams::default(),
            &Patch::Merge(&changed),
        )
        .await
        .expect_err("a changed ActionRun spec must be rejected");
    assert!(err.to_string().contains("spec is immutable"), "{err}");

    let status = json!({"status": {"status": "running", "attempt": 1}});
    let patched = runs
        .patch_status(
            "nightly-m-1",
            &PatchParams::default(),
            &Patch::Merge(&status),
        )
        .await
        .expect("status subresource is writable");
    assert_eq!(patched.spec.resolved_thread_id.as_deref(), Some("t-1"));
    let shown = kubectl_ok(&["get", "arun", "-n", &ns.name], None);
    assert!(
        shown.contains("running"),
        "STATUS column shows status.status: {shown}"
    );
}

#[tokio::test]
async fn kubectl_shows_printer_columns_and_field_docs() {
    let client = client().await;
    install_crds(&client).await;
    let ns = TestNamespace::create(&client, "e2e-kubectl").await;
    kubectl_ok(
        &["apply", "-n", &ns.name, "-f", &example("action-cron.yaml")],
        None,
    );
    let status = json!({"status": {"nextRunAt": "2030-01-07T08:00:00Z",
                                   "nextRun": "2030-01-07T08:00:00Z", "totalRuns": 42,
                                   "lastRunStatus": "succeeded",
                                   "conditions": [{"type": "Ready", "status": "True",
                                                   "reason": "Ready", "message": "ready",
                                                   "lastTransitionTime": "2030-01-01T00:00:00Z"}]}});
    Api::<Action>::namespaced(client.clone(), &ns.name)
        .patch_status(
            "daily-standup",
            &PatchParams::default(),
            &Patch::Merge(&status),
        )
        .await
        .expect("patch status");

    let table = kubectl_ok(&["get", "actions", "-n", &ns.name], None);
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or_default()
        .split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(
        header,
        [
            "NAME",
            "SCHEDULE",
            "TIMEZONE",
            "ENABLED",
            "READY",
            "NEXT RUN",
            "LAST STATUS",
            "RUNS",
            "AGE"
        ]
    );
    let row = table.lines().nth(1).unwrap_or_default();
    for value in [
        "daily-standup",
        "0 9 * * mon-fri",
        "Europe/Berlin",
        "true",
        "True",
        "succeeded",
        "42",
        // A future instant, shown as the time (a `date` column would print `<invalid>`).
        "2030-01-07T08:00:00Z",
    ] {
        assert!(row.contains(value), "row lacks {value}: {row}");
    }
    let runs = kubectl_ok(&["get", "actionruns", "-n", &ns.name], None);
    let short = kubectl_ok(&["get", "arun", "-n", &ns.name], None);
    assert_eq!(runs, short, "short name arun works");

    let explain = kubectl_ok(&["explain", "action.spec.threadMode"], None);
    assert!(
        explain.contains("How the conversation thread of each run is chosen"),
        "{explain}"
    );
    let explain = kubectl_ok(&["explain", "actionendpoint.spec.auth.secretRef"], None);
    assert!(explain.contains("never written"), "{explain}");
}

#[tokio::test]
async fn deleting_an_action_garbage_collects_its_runs() {
    let client = client().await;
    install_crds(&client).await;
    let ns = TestNamespace::create(&client, "e2e-gc").await;
    let action = create_action(&client, &ns.name, "weekly").await;
    let runs: Api<ActionRun> = Api::namespaced(client.clone(), &ns.name);
    let run: ActionRun = serde_json::from_value(run_manifest("weekly-m-1", &action)).unwrap();
    runs.create(&PostParams::default(), &run)
        .await
        .expect("create run");

    Api::<Action>::namespaced(client.clone(), &ns.name)
        .delete("weekly", &DeleteParams::background())
        .await
        .expect("delete action");
    // The garbage collector of kube-controller-manager deletes the owned run.
    eventually(
        "the owned ActionRun to be deleted",
        Duration::from_secs(60),
        || {
            let runs = runs.clone();
            async move {
                runs.get_opt("weekly-m-1")
                    .await
                    .ok()
                    .flatten()
                    .is_none()
                    .then_some(())
            }
        },
    )
    .await;
}

#[tokio::test]
async fn the_unprivileged_user_is_refused() {
    let client = client().await;
    install_crds(&client).await;
    let ns = TestNamespace::create(&client, "e2e-rbac").await;
    let user_config = std::env::var("PUNCTUAL_USER_KUBECONFIG").expect(
        "PUNCTUAL_USER_KUBECONFIG: a kubeconfig for a user without RBAC (`make e2e` sets it)",
    );
    let out = kubectl(
        &[
            "--kubeconfig",
            &user_config,
            "get",
            "actions",
            "-n",
            &ns.name,
        ],
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a user without RBAC must not list actions"
    );
    assert!(
        stderr.contains("forbidden") && stderr.contains("punctual-user"),
        "{stderr}"
    );
}
