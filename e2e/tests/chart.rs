//! The Helm chart in `charts/punctual`: rendered by helm (built from its Go module by
//! `e2e/tools.sh helm`; `make e2e` exports its path as HELM), and every rendered manifest accepted
//! by the real API server in a server-side dry-run apply.

use std::process::Command;

use serde::Deserialize as _;
use serde_yaml::Value;

use crate::support::*;

/// The helm binary: $HELM, else the one `e2e/tools.sh` builds (and caches).
fn helm() -> String {
    if let Ok(helm) = std::env::var("HELM") {
        return helm;
    }
    let out = Command::new("bash")
        .arg(repo_root().join("e2e/tools.sh"))
        .arg("helm")
        .output()
        .expect("run e2e/tools.sh helm");
    assert!(
        out.status.success(),
        "e2e/tools.sh helm failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `helm template` of the chart into `namespace` with `--set` values; returns the YAML.
pub(crate) fn render(namespace: &str, sets: &[&str], include_crds: bool) -> String {
    let chart = repo_root().join("charts/punctual");
    let mut cmd = Command::new(helm());
    cmd.args(["template", "punctual"])
        .arg(&chart)
        .args(["--namespace", namespace]);
    if include_crds {
        cmd.arg("--include-crds");
    }
    for set in sets {
        cmd.args(["--set", set]);
    }
    let out = cmd.output().expect("run helm");
    assert!(
        out.status.success(),
        "helm template {sets:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 manifests")
}

/// The non-empty YAML documents of a rendering.
pub(crate) fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|doc| Value::deserialize(doc).expect("rendered YAML parses"))
        .filter(|v| !v.is_null())
        .collect()
}

fn kinds(docs: &[Value]) -> Vec<String> {
    let mut kinds: Vec<String> = docs
        .iter()
        .filter_map(|d| d["kind"].as_str().map(String::from))
        .collect();
    kinds.sort();
    kinds
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter()
        .filter(|d| d["kind"].as_str() == Some(kind))
        .collect()
}

/// The value of an env var of the Deployment's container.
fn container_env(docs: &[Value], name: &str) -> Option<String> {
    let deployment = of_kind(docs, "Deployment").pop()?;
    deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_sequence()?
        .iter()
        .find(|e| e["name"].as_str() == Some(name))
        .and_then(|e| e["value"].as_str().map(String::from))
}

/// The CRDs of `crds/` installed for real (they are the chart's `crds/`, a symlink), then every
/// rendered manifest applied with a server-side dry run: the API server validates them fully.
async fn assert_accepted(yaml: &str) {
    let client = client().await;
    install_crds(&client).await;
    let out = kubectl(
        &[
            "apply",
            "--server-side",
            "--dry-run=server",
            "--field-manager",
            FIELD_MANAGER,
            "-f",
            "-",
        ],
        Some(yaml),
    );
    assert!(
        out.status.success(),
        "the API server refused the rendered chart: {}\n{yaml}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn chart_with_default_values_renders_and_is_accepted() {
    let client = client().await;
    let ns = TestNamespace::create(&client, "e2e-chart").await;
    let yaml = render(&ns.name, &[], false);
    let docs = documents(&yaml);
    assert_eq!(
        kinds(&docs),
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
            "Role",
            "RoleBinding",
            "Secret",
            "Service",
            "ServiceAccount"
        ],
        "ServiceMonitor, NetworkPolicy and PodDisruptionBudget are off by default"
    );
    assert_eq!(
        container_env(&docs, "PUNCTUAL_PUBLIC_URL"),
        Some(format!("http://punctual.{}.svc:8080", ns.name)),
        "callbacks reach the facade through the Service"
    );
    assert_eq!(
        container_env(&docs, "PUNCTUAL_LEADER_ELECTION").as_deref(),
        Some("false")
    );
    assert_eq!(
        container_env(&docs, "OTEL_EXPORTER_OTLP_ENDPOINT"),
        None,
        "no span export unless asked"
    );
    let container = &of_kind(&docs, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["runAsNonRoot"], true);
    assert_eq!(security["capabilities"]["drop"][0], "ALL");
    assert_eq!(security["seccompProfile"]["type"], "RuntimeDefault");
    assert!(container["resources"]["requests"]["memory"].is_string());
    assert_accepted(&yaml).await;
}

#[tokio::test]
async fn chart_with_two_replicas_turns_leader_election_on_and_is_accepted() {
    let client = client().await;
    let ns = TestNamespace::create(&client, "e2e-chart-ha").await;
    let yaml = render(
        &ns.name,
        &["replicaCount=2", "podDisruptionBudget.enabled=true"],
        false,
    );
    let docs = documents(&yaml);
    assert_eq!(
        of_kind(&docs, "Deployment")[0]["spec"]["replicas"],
        Value::from(2)
    );
    assert_eq!(
        container_env(&docs, "PUNCTUAL_LEADER_ELECTION").as_deref(),
        Some("true"),
        "more than one replica elects a leader"
    );
    assert_eq!(of_kind(&docs, "PodDisruptionBudget").len(), 1);
    assert_accepted(&yaml).await;
}

#[tokio::test]
async fn chart_with_network_policy_renders_and_is_accepted() {
    let client = client().await;
    let ns = TestNamespace::create(&client, "e2e-chart-netpol").await;
    let yaml = render(&ns.name, &["networkPolicy.enabled=true"], false);
    let docs = documents(&yaml);
    let policy = of_kind(&docs, "NetworkPolicy");
    assert_eq!(policy.len(), 1);
    assert_eq!(policy[0]["spec"]["policyTypes"][0], "Ingress");
    assert_accepted(&yaml).await;
}

#[test]
fn chart_service_monitor_is_optional() {
    let docs = documents(&render(
        "punctual-system",
        &["metrics.serviceMonitor.enabled=true"],
        false,
    ));
    let monitor = of_kind(&docs, "ServiceMonitor");
    assert_eq!(monitor.len(), 1);
    assert_eq!(monitor[0]["spec"]["endpoints"][0]["port"], "metrics");
}

#[test]
fn chart_installs_exactly_the_crds_of_the_crds_folder() {
    let docs = documents(&render("punctual-system", &[], true));
    let mut rendered: Vec<String> = of_kind(&docs, "CustomResourceDefinition")
        .iter()
        .map(|c| {
            c["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    rendered.sort();
    let mut files: Vec<String> = std::fs::read_dir(repo_root().join("crds"))
        .expect("crds/")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|f| f.strip_suffix(".yaml").map(String::from))
        .collect();
    files.sort();
    assert_eq!(rendered, files);
    // The chart's crds/ is the top-level folder itself, not a copy that could drift.
    let link = std::fs::read_link(repo_root().join("charts/punctual/crds")).expect("a symlink");
    assert_eq!(link, std::path::PathBuf::from("../../crds"));
}

#[test]
fn chart_rbac_has_no_wildcards_and_binds_extra_subjects() {
    let docs = documents(&render(
        "punctual-system",
        &[
            "rbac.extraSubjects[0].kind=User",
            "rbac.extraSubjects[0].name=punctual-operator",
            "rbac.extraSubjects[0].apiGroup=rbac.authorization.k8s.io",
        ],
        false,
    ));
    for role in of_kind(&docs, "ClusterRole")
        .into_iter()
        .chain(of_kind(&docs, "Role"))
    {
        let rules = role["rules"].as_sequence().expect("rules");
        assert!(!rules.is_empty());
        for rule in rules {
            for field in ["apiGroups", "resources", "verbs"] {
                let values = rule[field].as_sequence().expect(field);
                assert!(
                    values.iter().all(|v| v.as_str() != Some("*")),
                    "wildcard in {field} of {rule:?}"
                );
            }
            assert!(rule.get("nonResourceURLs").is_none());
        }
    }
    // Secrets are only ever read by name.
    let cluster_role = of_kind(&docs, "ClusterRole")[0];
    let secrets = cluster_role["rules"]
        .as_sequence()
        .expect("rules")
        .iter()
        .find(|r| r["resources"][0] == "secrets")
        .expect("a secrets rule");
    assert_eq!(secrets["verbs"], Value::from(vec!["get"]));
    for binding in of_kind(&docs, "ClusterRoleBinding")
        .into_iter()
        .chain(of_kind(&docs, "RoleBinding"))
    {
        let subjects = binding["subjects"].as_sequence().expect("subjects");
        assert_eq!(subjects[0]["kind"], "ServiceAccount");
        assert_eq!(subjects[1]["name"], "punctual-operator");
    }
}

#[test]
fn chart_readme_documents_every_value() {
    let chart = repo_root().join("charts/punctual");
    let values: Value =
        serde_yaml::from_str(&std::fs::read_to_string(chart.join("values.yaml")).expect("values"))
            .expect("values.yaml parses");
    let readme = std::fs::read_to_string(chart.join("README.md")).expect("chart README");
    // A value is documented when its path appears as `path` in the README; a map documented as a
    // whole (e.g. `resources`) need not list its keys.
    fn walk(prefix: &str, value: &Value, readme: &str, missing: &mut Vec<String>) {
        if !prefix.is_empty() && readme.contains(&format!("| `{prefix}` |")) {
            return;
        }
        match value.as_mapping() {
            Some(map) if !map.is_empty() => {
                for (key, child) in map {
                    let key = key.as_str().expect("string keys");
                    let path = if prefix.is_empty() {
                        key.to_string()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    walk(&path, child, readme, missing);
                }
            }
            _ => missing.push(prefix.to_string()),
        }
    }
    let mut missing = Vec::new();
    walk("", &values, &readme, &mut missing);
    assert!(
        missing.is_empty(),
        "values not documented in charts/punctual/README.md: {missing:?}"
    );
}

/// The user the tests run the operator as (`make e2e` binds it to the chart's roles) can do what
/// the chart grants and nothing more.
#[test]
fn operator_user_has_exactly_the_chart_permissions() {
    let (Ok(kubeconfig), Ok(lease_ns)) = (
        std::env::var("PUNCTUAL_OPERATOR_KUBECONFIG"),
        std::env::var("PUNCTUAL_LEASE_NAMESPACE"),
    ) else {
        eprintln!(
            "PUNCTUAL_OPERATOR_KUBECONFIG is not set (not run by `make e2e`): nothing to check"
        );
        return;
    };
    let can = |args: &[&str]| {
        let out = kubectl(
            &[&["--kubeconfig", &kubeconfig, "auth", "can-i"], args].concat(),
            None,
        );
        String::from_utf8_lossy(&out.stdout).trim() == "yes"
    };
    let allowed: &[&[&str]] = &[
        &["watch", "actions.punctual.dev", "--all-namespaces"],
        &[
            "patch",
            "actions.punctual.dev",
            "--subresource=status",
            "-n",
            "x",
        ],
        &["create", "actionruns.punctual.dev", "-n", "x"],
        &["get", "secrets", "-n", "x"],
        &["create", "events.events.k8s.io", "-n", "x"],
        &["create", "tokenreviews.authentication.k8s.io"],
        &["create", "subjectaccessreviews.authorization.k8s.io"],
        &["update", "leases.coordination.k8s.io", "-n", &lease_ns],
    ];
    let refused: &[&[&str]] = &[
        &["list", "secrets", "-n", "x"],
        &["create", "actionendpoints.punctual.dev", "-n", "x"],
        &["create", "deployments.apps", "-n", "x"],
        &["create", "leases.coordination.k8s.io", "-n", "x"],
        &["delete", "leases.coordination.k8s.io", "-n", &lease_ns],
        &["create", "clusterrolebindings.rbac.authorization.k8s.io"],
    ];
    for args in allowed {
        assert!(can(args), "punctual-operator should be allowed: {args:?}");
    }
    for args in refused {
        assert!(!can(args), "punctual-operator should be refused: {args:?}");
    }
}

/// A `punctual run` started with exactly the environment the chart's Deployment sets.
struct ChartProcess(std::process::Child);

impl Drop for ChartProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The binary accepts the chart's configuration: `punctual run` with the rendered Deployment's
/// environment (two replicas, so leader election is on) becomes ready and schedules an Action.
#[tokio::test]
async fn the_binary_runs_with_the_environment_the_chart_sets() {
    let client = client().await;
    install_crds(&client).await;
    let ns = TestNamespace::create(&client, "e2e-chart-env").await;
    let lease_ns = lease_namespace(&ns.name);
    let (facade_port, metrics_port) = (free_port(), free_port());
    let yaml = render(
        &lease_ns,
        &[
            "replicaCount=2",
            &format!("watchNamespace={}", ns.name),
            &format!("leaderElection.leaseName=punctual-leader-{}", ns.name),
            &format!("facade.port={facade_port}"),
            &format!("metrics.port={metrics_port}"),
            // Nothing listens there: export failures must not stop the operator.
            &format!("tracing.otlpEndpoint=http://127.0.0.1:{}", free_port()),
            "tracing.traceState=punctual=chart",
        ],
        false,
    );
    let docs = documents(&yaml);
    let env = of_kind(&docs, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_sequence()
        .expect("env")
        .clone();
    let log = repo_root().join("target/e2e-logs/chart-env.log");
    std::fs::create_dir_all(log.parent().expect("dir")).expect("log dir");
    let file = std::fs::File::create(&log).expect("log file");
    let mut command = Command::new(env!("CARGO_BIN_EXE_punctual"));
    command
        .arg("run")
        .stdout(file.try_clone().expect("log file"))
        .stderr(file);
    for var in &env {
        let name = var["name"].as_str().expect("env name");
        let value = match name {
            // The downward API, as the kubelet would fill it in.
            "POD_NAMESPACE" => lease_ns.clone(),
            "POD_NAME" => "punctual-chart-0".to_string(),
            // From the chart's Secret, as the kubelet would fill it in.
            "PUNCTUAL_CALLBACK_KEY" => {
                let secret = of_kind(&docs, "Secret")[0]["data"]["key"]
                    .as_str()
                    .expect("key");
                let bytes =
                    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, secret)
                        .expect("base64");
                String::from_utf8(bytes).expect("a text key")
            }
            _ => var["value"].as_str().expect("env value").to_string(),
        };
        command.env(name, value);
    }
    if let Some(kubeconfig) = std::env::var_os("PUNCTUAL_OPERATOR_KUBECONFIG") {
        command.env("KUBECONFIG", kubeconfig);
    }
    let mut process = ChartProcess(command.spawn().expect("start punctual"));
    let readyz = format!("http://127.0.0.1:{metrics_port}/readyz");
    eventually("/readyz", std::time::Duration::from_secs(30), || {
        let url = readyz.clone();
        async move { http_get(&url).await }
    })
    .await;
    let endpoint = serde_json::json!({"apiVersion": "punctual.dev/v1alpha1", "kind": "ActionEndpoint",
        "metadata": {"name": "agent"}, "spec": {"url": "http://127.0.0.1:9/"}});
    kubectl_ok(
        &["apply", "-n", &ns.name, "-f", "-"],
        Some(&endpoint.to_string()),
    );
    let action = serde_json::json!({"apiVersion": "punctual.dev/v1alpha1", "kind": "Action",
        "metadata": {"name": "tick"},
        "spec": {"app": "app-1", "endpoint": "agent", "namespaceId": "mem-1",
                 "cronExpression": "0 0 1 1 *"}});
    kubectl_ok(
        &["apply", "-n", &ns.name, "-f", "-"],
        Some(&action.to_string()),
    );
    let actions: kube::Api<punctual::resources::Action> = kube::Api::namespaced(client, &ns.name);
    eventually(
        "the chart-configured operator arms the Action",
        std::time::Duration::from_secs(30),
        || {
            let actions = actions.clone();
            async move { actions.get("tick").await.ok()?.status?.next_run_at }
        },
    )
    .await;
    assert!(
        process.0.try_wait().expect("process state").is_none(),
        "punctual run exited; see {}",
        log.display()
    );
}

/// `/readyz` tells the truth: an operator whose credentials cannot list its resources yet is up
/// (`/healthz` answers) but not ready, on the metrics port the chart probes and on the facade,
/// and it becomes ready on its own once RBAC lets its caches list, without a restart.
#[tokio::test]
async fn readyz_answers_503_until_every_cache_has_listed() {
    let client = client().await;
    install_crds(&client).await;
    let ns = TestNamespace::create(&client, "e2e-readyz").await;
    let account = serde_json::json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "late"}});
    kubectl_ok(
        &["apply", "-n", &ns.name, "-f", "-"],
        Some(&account.to_string()),
    );
    let token = kubectl_ok(
        &["create", "token", "late", "-n", &ns.name, "--duration=1h"],
        None,
    );
    // The admin's kubeconfig with the service account's token: no RBAC yet.
    let admin = std::env::var("KUBECONFIG").expect("KUBECONFIG");
    let config = std::fs::read_to_string(&admin)
        .expect("the admin kubeconfig")
        .replace(&token_of("KUBECONFIG"), token.trim());
    let dir = repo_root().join("target").join("e2e-logs");
    std::fs::create_dir_all(&dir).expect("log dir");
    let path = dir.join(format!("kubeconfig-{}", ns.name));
    std::fs::write(&path, config).expect("write the kubeconfig");
    let mut op = Operator::start_as(&format!("readyz-{}", ns.name), &ns.name, &path, &[]);
    let url = |port: u16, path: &str| format!("http://127.0.0.1:{port}{path}");
    let (metrics, facade) = (op.metrics_port, op.facade_port);
    let healthz = url(metrics, "/healthz");
    eventually("/healthz", std::time::Duration::from_secs(30), || {
        http_get_status(&healthz)
    })
    .await;
    for _ in 0..3 {
        let (code, body) = http_get_status(&url(metrics, "/readyz"))
            .await
            .expect("/readyz answers");
        assert_eq!(
            (code, body.as_str()),
            (503, "caches not listed yet"),
            "ready without a listed cache"
        );
        let (code, _) = http_get_status(&url(facade, "/readyz"))
            .await
            .expect("the facade's /readyz answers");
        assert_eq!(code, 503, "the facade is ready without a listed cache");
        let (code, _) = http_get_status(&url(metrics, "/healthz"))
            .await
            .expect("/healthz answers");
        assert_eq!(code, 200, "liveness does not depend on the caches");
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    // RBAC arrives: the chart's ClusterRole when `make e2e` applied it.
    let role = if kubectl(&["get", "clusterrole", "punctual"], None)
        .status
        .success()
    {
        "punctual"
    } else {
        "cluster-admin"
    };
    let binding = ns.name.clone();
    kubectl_ok(
        &[
            "create",
            "clusterrolebinding",
            &binding,
            &format!("--clusterrole={role}"),
            &format!("--serviceaccount={}:late", ns.name),
        ],
        None,
    );
    let answers = eventually(
        "ready once the caches can list",
        std::time::Duration::from_secs(90),
        || async {
            let m = http_get_status(&url(metrics, "/readyz")).await?;
            let f = http_get_status(&url(facade, "/readyz")).await?;
            (m.0 == 200 && f.0 == 200).then_some((m, f))
        },
    )
    .await;
    kubectl_ok(&["delete", "clusterrolebinding", &binding], None);
    assert_eq!(answers.0.1, "ok");
    assert!(op.is_running(), "the operator restarted or exited");
}
