//! The dashboard and the API docs in a real headless Chromium (`e2e/ui/browser_test.py`, set up
//! by `e2e/ui/setup.sh`, which `make e2e` runs and whose python it exports as
//! PUNCTUAL_UI_PYTHON), against a real operator with runs that succeeded, failed, retried and
//! were skipped; then the chart's PrometheusRule and Grafana dashboard checked against that
//! operator's real `/metrics`.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use kube::Client;
use kube::api::Api;
use punctual::resources::{Action, ActionRun, TriggerType};
use serde_json::{Value, json};

use crate::chart::{documents, render};
use crate::support::*;

const ORG: &str = "ui-org";
const APP: &str = "app-1";

/// A test endpoint: `/ok` 200, `/fail` 500, `/flaky` 500 for the first request of each
/// Idempotency-Key then 200, `/slow` 200 after 10 minutes (so that the next slot of a Forbid
/// Action finds it active, and the page can still cancel it).
async fn endpoint() -> std::net::SocketAddr {
    let seen: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    serve_on_free_port(Router::new().fallback(handle).with_state(seen)).await
}

async fn handle(
    State(seen): State<Arc<Mutex<BTreeSet<String>>>>,
    uri: Uri,
    headers: HeaderMap,
) -> (StatusCode, &'static str) {
    match uri.path() {
        "/ok" => (StatusCode::OK, "{}"),
        "/fail" => (StatusCode::INTERNAL_SERVER_ERROR, "broken"),
        "/flaky" => {
            let key = headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            if seen.lock().expect("lock").insert(key) {
                (StatusCode::INTERNAL_SERVER_ERROR, "first time fails")
            } else {
                (StatusCode::OK, "{}")
            }
        }
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(600)).await;
            (StatusCode::OK, "{}")
        }
        _ => (StatusCode::NOT_FOUND, "no such path"),
    }
}

/// A POST through the facade, as a REST client would send it.
async fn post(port: u16, path: &str, token: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to the facade");
    let head = format!(
        "POST {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
         Content-Length: 0\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    String::from_utf8_lossy(&raw)
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The Action's status; a failed read (a busy API server) is an empty one, for `eventually`.
async fn status_of(client: &Client, ns: &str, name: &str) -> punctual::resources::ActionStatus {
    Api::<Action>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .ok()
        .and_then(|a| a.status)
        .unwrap_or_default()
}

#[tokio::test]
async fn the_dashboard_and_the_docs_in_a_real_browser() {
    let python = std::env::var("PUNCTUAL_UI_PYTHON").expect(
        "PUNCTUAL_UI_PYTHON is not set: `make e2e` runs e2e/ui/setup.sh (chromium, \
         chromium-driver, Selenium) and exports it; or export PUNCTUAL_UI_PYTHON=$(e2e/ui/setup.sh)",
    );
    let client = client().await;
    install_crds(&client).await;
    let ns = TestNamespace::create(&client, "ui").await;
    // Where the RBAC-less token is allowed: another workspace, not this one.
    let elsewhere = TestNamespace::create(&client, "ui-else").await;
    for n in [&ns.name, &elsewhere.name] {
        kubectl_ok(
            &["label", "namespace", n, &format!("punctual.dev/org={ORG}")],
            None,
        );
    }
    let addr = endpoint().await;
    for (name, path) in [
        ("ep-ok", "ok"),
        ("ep-fail", "fail"),
        ("ep-flaky", "flaky"),
        ("ep-slow", "slow"),
    ] {
        let ep = json!({"apiVersion": "punctual.dev/v1alpha1", "kind": "ActionEndpoint",
                        "metadata": {"name": name}, "spec": {"url": format!("http://{addr}/{path}")}});
        kubectl_ok(&["apply", "-n", &ns.name, "-f", "-"], Some(&ep.to_string()));
    }
    let every_minute = json!({"cronExpression": "* * * * *", "timezone": "UTC"});
    let actions = [
        (
            "nightly-report",
            json!({"displayName": "Nightly report", "endpoint": "ep-ok"}),
            true,
        ),
        (
            "flaky-sync",
            json!({"endpoint": "ep-flaky", "maxRetries": 2, "retryDelaySeconds": 1}),
            false,
        ),
        (
            "broken-hook",
            json!({"endpoint": "ep-fail", "maxRetries": 0}),
            false,
        ),
        (
            "slow-crawl",
            json!({"endpoint": "ep-slow", "concurrencyPolicy": "Forbid", "timeoutSeconds": 900}),
            true,
        ),
    ];
    for (name, spec, cron) in &actions {
        let defaults = if *cron {
            every_minute.clone()
        } else {
            json!({})
        };
        create_test_action(&client, &ns.name, name, defaults, spec.clone()).await;
    }
    let op = Operator::start("ui", &ns.name, &[]);
    let port = op.facade_port;
    eventually("facade ready", Duration::from_secs(30), || async move {
        http_get(&format!("http://127.0.0.1:{port}/readyz"))
            .await
            .filter(|b| b == "ok")
    })
    .await;
    let admin = token_of("KUBECONFIG");
    let base = format!("/v1/orgs/{ORG}/workspaces/{}/apps/{APP}/actions", ns.name);
    for action in ["flaky-sync", "broken-hook"] {
        let code = post(port, &format!("{base}/{action}/trigger"), &admin).await;
        assert_eq!(code, 202, "trigger {action}");
    }
    // Two minutes of slots: the nightly report succeeds each minute; the slow crawl's second
    // slot finds its first run still going and is skipped.
    let (c, n) = (client.clone(), ns.name.clone());
    eventually(
        "succeeded, failed, retried and skipped runs counted",
        Duration::from_secs(200),
        || {
            let (c, n) = (c.clone(), n.clone());
            async move {
                let nightly = status_of(&c, &n, "nightly-report").await;
                let slow = status_of(&c, &n, "slow-crawl").await;
                let flaky = status_of(&c, &n, "flaky-sync").await;
                let broken = status_of(&c, &n, "broken-hook").await;
                (nightly.successful_runs >= 2
                    && slow.skipped_runs >= 1
                    && flaky.successful_runs == 1
                    && broken.failed_runs == 1)
                    .then_some(())
            }
        },
    )
    .await;
    // The RBAC-less user may read Actions in the other workspace only. What it sees is checked
    // on a facade that serves every namespace (no scheduler, no runner), so that what it does
    // not see is kept from it by RBAC, not by the watch scope of the test's operator.
    allow_user_to_read(&elsewhere.name);
    let wide = Operator::start_watching(&format!("ui-wide-{}", ns.name), None, &[]);
    let wide_port = wide.facade_port;
    eventually(
        "the wide facade ready",
        Duration::from_secs(30),
        || async move {
            http_get(&format!("http://127.0.0.1:{wide_port}/readyz"))
                .await
                .filter(|b| b == "ok")
        },
    )
    .await;

    let shots = repo_root().join("target/ui");
    let script = repo_root().join("e2e/ui/browser_test.py");
    let python_run = tokio::task::spawn_blocking({
        let (ws, admin, shots) = (ns.name.clone(), admin.clone(), shots.clone());
        let else_ws = elsewhere.name.clone();
        move || {
            Command::new(python)
                .arg(script)
                .env("UI_BASE", format!("http://127.0.0.1:{port}"))
                .env("UI_WIDE_BASE", format!("http://127.0.0.1:{wide_port}"))
                .env("UI_ELSE_WS", else_ws)
                .env("UI_ADMIN_TOKEN", admin)
                .env("UI_USER_TOKEN", token_of("PUNCTUAL_USER_KUBECONFIG"))
                .env("UI_ORG", ORG)
                .env("UI_WS", ws)
                .env("UI_APP", APP)
                .env("UI_SHOTS", shots)
                .output()
                .expect("run the browser test")
        }
    });
    let out = python_run.await.expect("browser test task");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "the browser test failed (screenshots in {}):\n{stdout}",
        shots.display()
    );
    // What the page said it triggered is a real manual run in the cluster.
    let triggered = stdout
        .lines()
        .find_map(|l| l.strip_prefix("TRIGGERED "))
        .expect("the page triggered a run");
    let run = Api::<ActionRun>::namespaced(client.clone(), &ns.name)
        .get(triggered.trim())
        .await
        .expect("the run triggered from the page exists");
    assert_eq!(run.spec.action, "nightly-report");
    assert_eq!(run.spec.trigger_type, TriggerType::Manual);
    // And the run cancelled from the page is cancelled in the cluster.
    let cancelled = stdout
        .lines()
        .find_map(|l| l.strip_prefix("CANCELLED "))
        .expect("the page cancelled a run");
    let run = Api::<ActionRun>::namespaced(client.clone(), &ns.name)
        .get(cancelled.trim())
        .await
        .expect("the cancelled run exists");
    let status = run.status.unwrap_or_default();
    assert_eq!(status.status, punctual::resources::RunPhase::Cancelled);
    assert!(
        Api::<Action>::namespaced(client.clone(), &ns.name)
            .get("nightly-report")
            .await
            .expect("action")
            .spec
            .enabled,
        "disabled and enabled again from the page"
    );

    // The alerts and the dashboard against this operator's real metrics (it has scheduled,
    // run, failed, retried, skipped and served the facade by now).
    let metrics = op.metrics().await;
    let exposed = exposed_series(&metrics);
    let rendered = render(
        "punctual-system",
        &[
            "prometheusRule.enabled=true",
            "grafanaDashboard.enabled=true",
        ],
        false,
    );
    let docs = documents(&rendered);
    let rule = docs
        .iter()
        .find(|d| d["kind"] == "PrometheusRule")
        .expect("a PrometheusRule");
    let mut alerts = Vec::new();
    for group in rule["spec"]["groups"].as_sequence().expect("groups") {
        for r in group["rules"].as_sequence().expect("rules") {
            let name = r["alert"].as_str().expect("alert name").to_string();
            let expr = r["expr"].as_str().expect("expr");
            check_query(&name, expr, &exposed);
            alerts.push(name);
        }
    }
    assert_eq!(
        alerts,
        [
            "PunctualSlotsMissed",
            "PunctualScheduleLagHigh",
            "PunctualFailureRatioHigh",
            "PunctualRunnerSaturated",
            "PunctualFacade5xx",
            "PunctualNoLeader"
        ]
    );
    let cm = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["labels"]["grafana_dashboard"] == "1")
        .expect("the dashboard ConfigMap with the sidecar label");
    let dashboard: Value = serde_json::from_str(
        cm["data"]["punctual.json"]
            .as_str()
            .expect("dashboard json"),
    )
    .expect("the dashboard is JSON");
    let queries = dashboard_queries(&dashboard);
    assert!(queries.len() >= 15, "{queries:?}");
    for (title, expr) in &queries {
        check_query(title, expr, &exposed);
    }
    // The namespace label the alerts group by carries this test's namespace.
    assert!(
        exposed[&"punctual_namespace_runs_finished_total".to_string()].contains("namespace")
            && metrics.contains(&format!(
                r#"punctual_namespace_runs_finished_total{{namespace="{}",status="failed"}} 1"#,
                ns.name
            )),
        "{metrics}"
    );
}

/// Every series name of a Prometheus text exposition with the label names it carries.
fn exposed_series(text: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let labels = out.entry(line[..name_end].to_string()).or_default();
        if let Some(rest) = line[name_end..].strip_prefix('{') {
            let inner = &rest[..rest.find('}').unwrap_or(rest.len())];
            for pair in inner.split(',').filter(|p| !p.is_empty()) {
                if let Some((k, _)) = pair.split_once('=') {
                    labels.insert(k.trim().to_string());
                }
            }
        }
    }
    out
}

/// Labels Prometheus adds at scrape time (not in the exposition) and the histogram bucket label.
const SCRAPE_LABELS: [&str; 3] = ["job", "instance", "le"];

/// Parses `expr` as PromQL (with Grafana's `$namespace` variable substituted) and checks that
/// every metric it selects is exposed with every label it matches on or aggregates by.
fn check_query(what: &str, expr: &str, exposed: &BTreeMap<String, BTreeSet<String>>) {
    let expr = expr.replace("$namespace", "team-a");
    let ast = promql_parser::parser::parse(&expr)
        .unwrap_or_else(|e| panic!("{what}: PromQL does not parse: {e}\n{expr}"));
    let mut selectors = Vec::new();
    let mut grouping = BTreeSet::new();
    walk(&ast, &mut selectors, &mut grouping);
    assert!(!selectors.is_empty(), "{what}: selects no metric");
    let on_some = |label: &String| selectors.iter().any(|(n, _)| exposed[n].contains(label));
    for (name, labels) in &selectors {
        let have = exposed
            .get(name)
            .unwrap_or_else(|| panic!("{what}: {name} is not in /metrics"));
        for label in labels
            .iter()
            .filter(|l| !SCRAPE_LABELS.contains(&l.as_str()))
        {
            assert!(
                have.contains(label),
                "{what}: {name} has no label {label} in /metrics (it has {have:?})"
            );
        }
    }
    for label in grouping
        .iter()
        .filter(|l| !SCRAPE_LABELS.contains(&l.as_str()))
    {
        assert!(
            on_some(label),
            "{what}: no selected metric has the label {label}"
        );
    }
}

/// The vector selectors (metric name, matched label names) and the grouping labels of a query.
fn walk(
    expr: &promql_parser::parser::Expr,
    selectors: &mut Vec<(String, BTreeSet<String>)>,
    grouping: &mut BTreeSet<String>,
) {
    use promql_parser::parser::{Expr, LabelModifier};
    let vector = |vs: &promql_parser::parser::VectorSelector| {
        let labels = vs
            .matchers
            .matchers
            .iter()
            .map(|m| m.name.clone())
            .filter(|n| n != "__name__")
            .collect();
        (vs.name.clone().unwrap_or_default(), labels)
    };
    match expr {
        Expr::VectorSelector(vs) => selectors.push(vector(vs)),
        Expr::MatrixSelector(ms) => selectors.push(vector(&ms.vs)),
        Expr::Aggregate(a) => {
            if let Some(LabelModifier::Include(l) | LabelModifier::Exclude(l)) = &a.modifier {
                grouping.extend(l.labels.iter().cloned());
            }
            walk(&a.expr, selectors, grouping);
        }
        Expr::Binary(b) => {
            walk(&b.lhs, selectors, grouping);
            walk(&b.rhs, selectors, grouping);
        }
        Expr::Paren(p) => walk(&p.expr, selectors, grouping),
        Expr::Unary(u) => walk(&u.expr, selectors, grouping),
        Expr::Subquery(s) => walk(&s.expr, selectors, grouping),
        Expr::Call(c) => {
            for arg in &c.args.args {
                walk(arg, selectors, grouping);
            }
        }
        _ => {}
    }
}

/// Every panel query of a Grafana dashboard (title, expr), after a structural check: panels with
/// an id, a type, a title, a grid position and a Prometheus datasource, targets with a refId.
fn dashboard_queries(d: &Value) -> Vec<(String, String)> {
    assert!(
        d["title"].is_string() && d["uid"].is_string(),
        "title and uid"
    );
    assert!(d["schemaVersion"].as_u64().is_some_and(|v| v >= 30));
    let vars: Vec<&str> = d["templating"]["list"]
        .as_array()
        .expect("templating")
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert!(
        vars.contains(&"datasource") && vars.contains(&"namespace"),
        "{vars:?}"
    );
    let mut ids = BTreeSet::new();
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        let title = p["title"].as_str().expect("panel title").to_string();
        assert!(
            ids.insert(p["id"].as_u64().expect("panel id")),
            "{title}: duplicate id"
        );
        assert!(
            ["timeseries", "stat"].contains(&p["type"].as_str().unwrap_or_default()),
            "{title}: type"
        );
        for key in ["h", "w", "x", "y"] {
            assert!(p["gridPos"][key].is_u64(), "{title}: gridPos.{key}");
        }
        assert_eq!(p["datasource"]["type"], "prometheus", "{title}");
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{title}");
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no target");
        for t in targets {
            assert!(t["refId"].is_string(), "{title}: refId");
            out.push((title.clone(), t["expr"].as_str().expect("expr").to_string()));
        }
    }
    let var_query = d["templating"]["list"][1]["query"]["query"]
        .as_str()
        .expect("namespace variable query");
    let metric = var_query
        .trim_start_matches("label_values(")
        .split(',')
        .next()
        .unwrap_or_default();
    out.push(("namespace variable".into(), metric.to_string()));
    out
}
