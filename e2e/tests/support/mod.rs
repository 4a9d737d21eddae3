//! Shared pieces of the end-to-end tests: a client for the local control plane, one fresh
//! namespace per test, the CRDs installed, and kubectl.
//!
//! The tests need a running API server: `make e2e` (or `make test`) starts the local control
//! plane and exports KUBECONFIG and KUBECTL before running them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, ResourceExt};

pub const FIELD_MANAGER: &str = "punctual-e2e";

/// The repository root, for examples and crds.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A client for the cluster of $KUBECONFIG; fails the test with a clear message without one.
pub async fn client() -> Client {
    assert!(
        std::env::var_os("KUBECONFIG").is_some(),
        "KUBECONFIG is not set: run the end-to-end tests with `make e2e`, which starts the local \
         control plane, or export KUBECONFIG for a cluster you want to test against"
    );
    Client::try_default()
        .await
        .expect("a client for the cluster in KUBECONFIG")
}

/// Applies the CRDs generated from the types and waits until the API server serves them.
pub async fn install_crds(client: &Client) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for crd in punctual::resources::crds() {
        let name = crd.name_any();
        api.patch(&name, &params, &Patch::Apply(&crd))
            .await
            .unwrap_or_else(|e| panic!("apply CRD {name}: {e}"));
        let established = await_condition(api.clone(), &name, conditions::is_crd_established());
        tokio::time::timeout(Duration::from_secs(30), established)
            .await
            .unwrap_or_else(|_| panic!("CRD {name} not established within 30s"))
            .unwrap_or_else(|e| panic!("watch CRD {name}: {e}"));
    }
}

/// A namespace that exists for one test and is deleted when the test ends (pass or fail).
pub struct TestNamespace {
    pub name: String,
}

impl TestNamespace {
    pub async fn create(client: &Client, prefix: &str) -> Self {
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let name = format!("{prefix}-{}", &suffix[..8]);
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {"punctual.dev/e2e": "true"}}
        }))
        .expect("namespace object");
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .unwrap_or_else(|e| panic!("create namespace {name}: {e}"));
        Self { name }
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        // Drop cannot be async; kubectl keeps this independent of the test's runtime.
        let _ = kubectl(&["delete", "namespace", &self.name, "--wait=false"], None);
    }
}

/// Runs kubectl against the test cluster, optionally feeding `stdin`.
pub fn kubectl(args: &[&str], stdin: Option<&str>) -> Output {
    let program = std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".to_string());
    let mut child = Command::new(&program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {program}: {e} (set KUBECTL, or use `make e2e`)"));
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes())
            .expect("write kubectl stdin");
    }
    child.wait_with_output().expect("kubectl output")
}

/// kubectl that must succeed; returns stdout.
pub fn kubectl_ok(args: &[&str], stdin: Option<&str>) -> String {
    let out = kubectl(args, stdin);
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Polls `check` every 200 ms until it returns Some, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A `punctual run` process started by a test, killed when dropped. Its log goes to
/// `target/e2e-logs/<name>.log`.
pub struct Operator {
    child: std::process::Child,
    pub metrics_port: u16,
    /// Port of the REST facade on loopback (every operator serves one; tests that do not use it
    /// ignore it).
    pub facade_port: u16,
    pub log: PathBuf,
}

impl Operator {
    /// Starts the operator watching only `namespace`, so parallel tests do not see each other.
    pub fn start(name: &str, namespace: &str, extra: &[&str]) -> Self {
        Self::start_watching(name, Some(namespace), extra)
    }

    /// Starts the operator watching `namespace`, or every namespace (`None`: then without its
    /// scheduler and runner, so that it never acts on another test's objects).
    pub fn start_watching(name: &str, namespace: Option<&str>, extra: &[&str]) -> Self {
        // `make e2e` runs the operator as a user bound only to the Helm chart's RBAC; the tests'
        // own client keeps the admin kubeconfig.
        let kubeconfig = std::env::var_os("PUNCTUAL_OPERATOR_KUBECONFIG");
        Self::spawn(name, namespace, kubeconfig.as_deref(), extra)
    }

    /// Starts the operator watching `namespace` with the credentials of `kubeconfig`.
    pub fn start_as(name: &str, namespace: &str, kubeconfig: &Path, extra: &[&str]) -> Self {
        Self::spawn(name, Some(namespace), Some(kubeconfig.as_os_str()), extra)
    }

    fn spawn(
        name: &str,
        namespace: Option<&str>,
        kubeconfig: Option<&std::ffi::OsStr>,
        extra: &[&str],
    ) -> Self {
        let metrics_port = free_port();
        let facade_port = free_port();
        let dir = repo_root().join("target").join("e2e-logs");
        std::fs::create_dir_all(&dir).expect("log dir");
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_punctual"));
        command.args(["run", "--log-format", "text"]);
        match namespace {
            Some(ns) => command.args(["--watch-namespace", ns]),
            None => command.args(["--scheduler=false", "--runner=false"]),
        };
        command
            .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
            .args(["--facade-addr", &format!("127.0.0.1:{facade_port}")])
            .args(extra)
            .env("RUST_LOG", "info,punctual=debug")
            .stdout(Stdio::from(file.try_clone().expect("log file")))
            .stderr(Stdio::from(file));
        if let Some(kubeconfig) = kubeconfig {
            command.env("KUBECONFIG", kubeconfig);
        }
        let child = command.spawn().expect("start punctual");
        Self {
            child,
            metrics_port,
            facade_port,
            log,
        }
    }

    /// Whether the process is still running (it has not exited on its own).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL: no graceful shutdown, as in a crash or an evicted pod.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The Prometheus text of /metrics.
    pub async fn metrics(&self) -> String {
        let url = format!("http://127.0.0.1:{}/metrics", self.metrics_port);
        http_get(&url).await.unwrap_or_default()
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The namespace for leader-election Leases: where the chart's leases Role is bound
/// (PUNCTUAL_LEASE_NAMESPACE, set by `make e2e`), else the test's own namespace.
pub fn lease_namespace(test_namespace: &str) -> String {
    std::env::var("PUNCTUAL_LEASE_NAMESPACE").unwrap_or_else(|_| test_namespace.to_string())
}

/// The flags that turn leader election on for a test's replicas: the Lease `lease_name` in
/// `lease_ns`, lasting 6 s (so a takeover fits in a test). Each replica adds its `--identity`.
pub fn election_flags<'a>(lease_ns: &'a str, lease_name: &'a str) -> [&'a str; 8] {
    [
        "--leader-election",
        "true",
        "--lease-namespace",
        lease_ns,
        "--lease-name",
        lease_name,
        "--lease-duration-seconds",
        "6",
    ]
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A plain HTTP GET of a loopback URL (no client crate needed for one metrics scrape).
pub async fn http_get(url: &str) -> Option<String> {
    http_get_status(url).await.map(|(_, body)| body)
}

/// `http_get` with the response's status code.
pub async fn http_get_status(url: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut stream = tokio::net::TcpStream::connect(host).await.ok()?;
    let request = format!("GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, body.to_string()))
}

/// Creates the Action `name` in `ns`: app `app-1`, endpoint `agent`, namespaceId `mem-1`, then
/// `defaults`, then `spec` (later keys win).
pub async fn create_test_action(
    client: &Client,
    ns: &str,
    name: &str,
    defaults: serde_json::Value,
    spec: serde_json::Value,
) -> punctual::resources::Action {
    let mut full = serde_json::json!({"app": "app-1", "endpoint": "agent", "namespaceId": "mem-1"});
    for layer in [defaults, spec] {
        for (k, v) in layer.as_object().cloned().unwrap_or_default() {
            full[k] = v;
        }
    }
    let action: punctual::resources::Action = serde_json::from_value(serde_json::json!({
        "apiVersion": "punctual.dev/v1alpha1", "kind": "Action",
        "metadata": {"name": name}, "spec": full,
    }))
    .expect("action");
    Api::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &action)
        .await
        .expect("create action")
}

/// One request a [`delivery_endpoint`] received.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// `X-Punctual-Action`.
    pub action: String,
    /// `X-Scheduled-At`: the slot's nominal instant.
    pub scheduled_at: String,
    pub received_at: chrono::DateTime<chrono::Utc>,
}

/// Requests a [`delivery_endpoint`] received.
#[derive(Clone, Default)]
pub struct Deliveries(std::sync::Arc<std::sync::Mutex<Vec<Delivery>>>);

impl Deliveries {
    /// How many requests came for each (Action, nominal instant).
    pub fn counts(&self) -> std::collections::BTreeMap<(String, String), usize> {
        let mut m = std::collections::BTreeMap::new();
        for d in self.all() {
            *m.entry((d.action, d.scheduled_at)).or_default() += 1;
        }
        m
    }

    pub fn all(&self) -> Vec<Delivery> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// A real HTTP endpoint on a free loopback port that answers 200 to everything (after 3 s under
/// `/slow`, longer than `--running-after-ms`, so the run is written `running` first) and records
/// which Action and slot each request was for.
pub async fn delivery_endpoint() -> (std::net::SocketAddr, Deliveries) {
    let deliveries = Deliveries::default();
    let d = deliveries.clone();
    let app = axum::Router::new().fallback(
        move |uri: axum::http::Uri, headers: axum::http::HeaderMap| {
            let d = d.clone();
            async move {
                if uri.path().starts_with("/slow") {
                    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
                }
                let get = |k: &str| {
                    headers
                        .get(k)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string()
                };
                let delivery = Delivery {
                    action: get("x-punctual-action"),
                    scheduled_at: get("x-scheduled-at"),
                    received_at: chrono::Utc::now(),
                };
                if let Ok(mut v) = d.0.lock() {
                    v.push(delivery);
                }
                "ok"
            }
        },
    );
    (serve_on_free_port(app).await, deliveries)
}

/// Reads one HTTP/1.1 request (head and as many body bytes as Content-Length says) from a test
/// endpoint's connection: (head, body), or None when the client closed first.
pub async fn read_request(conn: &mut tokio::net::TcpStream) -> Option<(String, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::io::AsyncReadExt::read(conn, &mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if body.len() >= len {
                return Some((head.to_string(), body.to_string()));
            }
        }
    }
}

/// The token in a kubeconfig written by e2e/cluster.sh.
pub fn token_of(var: &str) -> String {
    let path = std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set"));
    let text = std::fs::read_to_string(&path).expect("kubeconfig");
    text.lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("token:")
                .map(|t| t.trim().to_string())
        })
        .expect("a token in the kubeconfig")
}

/// Lets the token user `punctual-user` get and list Actions and runs in `namespace` (a Role and
/// RoleBinding `actions-reader`).
pub fn allow_user_to_read(namespace: &str) {
    let role = serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "actions-reader"},
        "rules": [{"apiGroups": ["punctual.dev"], "resources": ["actions", "actionruns"], "verbs": ["get", "list"]}]});
    let binding = serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "actions-reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "actions-reader"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "punctual-user"}]});
    for doc in [role, binding] {
        kubectl_ok(
            &["apply", "-n", namespace, "-f", "-"],
            Some(&doc.to_string()),
        );
    }
}

/// Serves `app` on a free loopback port until the test ends; returns its address.
pub async fn serve_on_free_port(app: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind test endpoint");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}
