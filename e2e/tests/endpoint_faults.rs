//! The endpoint fault matrix (docs/faults.md): every way an endpoint can fail, each against a
//! real server started by the test, on the shared control plane with `punctual run`. Each case
//! checks the documented error code (docs/runner.md), the number of attempts, the recorded retry
//! timing (`attempts[]`, `nextAttemptAt`) and what the server received.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, TimeDelta, Utc};
use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};
use punctual::resources::{ActionRun, ActionRunStatus, RunPhase};
use punctual::runspec::{Trigger, build_run};
use serde_json::json;

use crate::support::*;

/// Every case: three attempts at most, two seconds apart, two seconds each.
const MAX_RETRIES: i32 = 2;
const DELAY: i64 = 2;
const TIMEOUT: i64 = 2;

/// Requests the fault server received, by path.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<BTreeMap<String, Vec<DateTime<Utc>>>>>);

impl Received {
    fn note(&self, path: &str) {
        if let Ok(mut m) = self.0.lock() {
            m.entry(path.to_string()).or_default().push(Utc::now());
        }
    }

    fn at(&self, path: &str) -> Vec<DateTime<Utc>> {
        self.0
            .lock()
            .map(|m| m.get(path).cloned().unwrap_or_default())
            .unwrap_or_default()
    }
}

/// The HTTP fault server: `/status/{code}` (with `Retry-After: 2` on 503 and 429),
/// `/slow/{ms}` (200 after that long), `/redirect` (302 to `/ok`), `/ok`, `/big` (10 MiB).
async fn fault_server() -> (SocketAddr, Received) {
    let received = Received::default();
    let app = Router::new()
        .route("/status/{code}", get(status).post(status))
        .route("/slow/{ms}", get(slow).post(slow))
        .route("/redirect", get(redirect).post(redirect))
        .route("/ok", get(ok).post(ok))
        .route("/big", get(big).post(big))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the fault server");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, received)
}

async fn status(State(r): State<Received>, Path(code): Path<u16>) -> Response {
    r.note(&format!("/status/{code}"));
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
    let mut headers = HeaderMap::new();
    if code == StatusCode::SERVICE_UNAVAILABLE || code == StatusCode::TOO_MANY_REQUESTS {
        // Equal to the Action's retryDelaySeconds, so the timing holds whether or not the runner
        // honours Retry-After (its own timing is tested with that feature).
        headers.insert(header::RETRY_AFTER, DELAY.into());
    }
    (code, headers, "fault").into_response()
}

async fn slow(State(r): State<Received>, Path(ms): Path<u64>) -> &'static str {
    r.note(&format!("/slow/{ms}"));
    tokio::time::sleep(Duration::from_millis(ms)).await;
    "late"
}

async fn redirect(State(r): State<Received>) -> Response {
    r.note("/redirect");
    (StatusCode::FOUND, [(header::LOCATION, "/ok")], "").into_response()
}

async fn ok(State(r): State<Received>) -> &'static str {
    r.note("/ok");
    "ok"
}

async fn big(State(r): State<Received>) -> String {
    r.note("/big");
    "x".repeat(10 * 1024 * 1024)
}

/// A TCP server that accepts connections, reads, and never answers; counts connections.
async fn hanging_server() -> (SocketAddr, Received) {
    let received = Received::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the hanging server");
    let addr = listener.local_addr().expect("addr");
    let r = received.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            r.note("/hang");
            held.push(socket);
        }
    });
    (addr, received)
}

/// An HTTPS server (`openssl s_server`) whose certificate no one trusts: self-signed, made now.
struct UntrustedTls {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl UntrustedTls {
    async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let made = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args([
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run openssl req");
        assert!(made.success(), "openssl made a certificate");
        let port = free_port();
        let child = Command::new("openssl")
            .args(["s_server", "-quiet", "-www", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start openssl s_server");
        eventually(
            "the TLS server listening",
            Duration::from_secs(20),
            || async {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .ok()
                    .map(|_| ())
            },
        )
        .await;
        Self {
            child,
            port,
            _dir: dir,
        }
    }
}

impl Drop for UntrustedTls {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One row of the matrix.
struct Case {
    name: &'static str,
    url: String,
    /// `None`: the run succeeds.
    code: Option<&'static str>,
    http_status: Option<i32>,
    attempts: usize,
    /// Whether each attempt should last about the timeout.
    times_out: bool,
    /// Where the server counts this case's requests, and how many it must have received.
    received: Option<(Received, &'static str, usize)>,
}

/// The run of a manual trigger, created as the facade creates it, and every distinct status seen
/// while it ran (polled), until it finished.
async fn run_to_end(client: &Client, ns: &str, action: &str) -> (ActionRun, Vec<ActionRunStatus>) {
    let actions: Api<punctual::resources::Action> = Api::namespaced(client.clone(), ns);
    let action = actions.get(action).await.expect("action");
    let run = build_run(
        &action,
        Trigger::Manual,
        Utc::now(),
        uuid::Uuid::new_v4(),
        None,
    );
    let runs: Api<ActionRun> = Api::namespaced(client.clone(), ns);
    let name = runs
        .create(&PostParams::default(), &run)
        .await
        .expect("create run")
        .name_any();
    let mut seen: Vec<ActionRunStatus> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(r) = runs.get_opt(&name).await.ok().flatten() {
            let s = r.status.clone().unwrap_or_default();
            if seen.last() != Some(&s) {
                seen.push(s.clone());
            }
            if !s.status.is_active() {
                return (r, seen);
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "run {name} did not finish: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn seconds(d: TimeDelta) -> f64 {
    d.num_milliseconds() as f64 / 1000.0
}

/// Checks one finished run against its row.
fn check(case: &Case, run: &ActionRun, seen: &[ActionRunStatus]) {
    let name = case.name;
    let st = run.status.clone().unwrap_or_default();
    let want_phase = if case.code.is_some() {
        RunPhase::Failed
    } else {
        RunPhase::Succeeded
    };
    assert_eq!(st.status, want_phase, "{name}: {st:?}");
    assert_eq!(
        st.error_code.map(|c| c.as_str()),
        case.code,
        "{name}: {st:?}"
    );
    assert_eq!(st.http_status, case.http_status, "{name}: {st:?}");
    assert_eq!(st.attempt as usize, case.attempts, "{name}: {st:?}");
    assert_eq!(st.attempts.len(), case.attempts, "{name}: {st:?}");
    for (i, a) in st.attempts.iter().enumerate() {
        assert_eq!(a.number as usize, i + 1, "{name}: attempt numbers");
        assert_eq!(
            a.error_code.map(|c| c.as_str()),
            case.code,
            "{name}: attempt {a:?}"
        );
        let done = a.completed_at.expect("a finished attempt has completedAt");
        let took = seconds(done - a.started_at);
        if case.times_out {
            // The per-attempt timeout ends it: not before, and not much after.
            assert!(
                took >= TIMEOUT as f64 - 0.1 && took < TIMEOUT as f64 + 5.0,
                "{name}: attempt {} took {took} s",
                a.number
            );
        }
        if let Some(next) = st.attempts.get(i + 1) {
            // retryDelaySeconds after the end of the attempt, not before (a loose upper bound
            // only catches a retry that waits for a poll or a default delay).
            let gap = seconds(next.started_at - done);
            assert!(
                gap >= DELAY as f64 - 0.05 && gap < DELAY as f64 + 10.0,
                "{name}: attempt {} started {gap} s after attempt {} ended",
                next.number,
                a.number
            );
        }
    }
    // While it waited, the run was pending with nextAttemptAt exactly retryDelaySeconds after
    // the attempt's end.
    for s in seen.iter().filter(|s| s.next_attempt_at.is_some()) {
        assert_eq!(s.status, RunPhase::Pending, "{name}: {s:?}");
        assert_eq!(s.error_code.map(|c| c.as_str()), case.code, "{name}: {s:?}");
        let last = s.attempts.last().expect("an attempt before a retry");
        assert_eq!(
            s.next_attempt_at,
            last.completed_at.map(|c| c + TimeDelta::seconds(DELAY)),
            "{name}: nextAttemptAt"
        );
    }
    if case.attempts > 1 {
        assert!(
            seen.iter().any(|s| s.next_attempt_at.is_some()),
            "{name}: a retry was announced with nextAttemptAt: {seen:?}"
        );
    } else {
        assert!(
            seen.iter().all(|s| s.next_attempt_at.is_none()),
            "{name}: no retry: {seen:?}"
        );
    }
    if let Some((received, path, count)) = &case.received {
        let at = received.at(path);
        assert_eq!(at.len(), *count, "{name}: requests received at {path}");
        for pair in at.windows(2) {
            let gap = seconds(pair[1] - pair[0]);
            assert!(
                gap >= DELAY as f64 - 0.05,
                "{name}: the server saw a retry {gap} s after the previous attempt"
            );
        }
    }
}

#[tokio::test]
async fn every_endpoint_fault_gets_its_code_attempts_and_retry_timing() {
    let client = client().await;
    install_crds(&client).await;
    let ns = TestNamespace::create(&client, "e2e-endpoint-faults").await;
    let (http, received) = fault_server().await;
    let (hang, hung) = hanging_server().await;
    let tls = UntrustedTls::start().await;
    let base = format!("http://{http}");
    let slow_ms = (TIMEOUT * 1000 + 400) as u64;
    let three = MAX_RETRIES as usize + 1;
    // A response: `http_error` with its status unless 200; every attempt reaches the server.
    let answered = |name, path: &'static str, status: i32, attempts| Case {
        name,
        url: format!("{base}{path}"),
        code: (status != 200).then_some("http_error"),
        http_status: Some(status),
        attempts,
        times_out: false,
        received: Some((received.clone(), path, attempts)),
    };
    // No response: three attempts, each ending in `code`.
    let unanswered = |name, url: String, code, times_out| Case {
        name,
        url,
        code: Some(code),
        http_status: None,
        attempts: three,
        times_out,
        received: None,
    };
    let mut hang_case = unanswered("hang", format!("http://{hang}/"), "timeout", true);
    hang_case.received = Some((hung.clone(), "/hang", three));
    let cases = vec![
        answered("s500", "/status/500", 500, three),
        answered("s503", "/status/503", 503, three),
        answered("s429", "/status/429", 429, three),
        answered("s404", "/status/404", 404, 1),
        answered("s408", "/status/408", 408, three),
        // A redirect is answered as itself, not followed (its target is never called).
        answered("redirect", "/redirect", 302, 1),
        // 10 MiB answered 200: a success; only the first 4 KiB are kept (checked below).
        answered("big", "/big", 200, 1),
        unanswered("slow", format!("{base}/slow/{slow_ms}"), "timeout", true),
        hang_case,
        unanswered(
            "refused",
            format!("http://127.0.0.1:{}/", free_port()),
            "connection_error",
            false,
        ),
        unanswered(
            "untrusted-tls",
            format!("https://127.0.0.1:{}/", tls.port),
            "connection_error",
            false,
        ),
        // .invalid never resolves (RFC 6761).
        unanswered(
            "no-such-name",
            "http://punctual-fault-test.invalid/".into(),
            "connection_error",
            false,
        ),
    ];
    for case in &cases {
        kubectl_ok(
            &["apply", "-n", &ns.name, "-f", "-"],
            Some(
                &json!({"apiVersion": "punctual.dev/v1alpha1", "kind": "ActionEndpoint",
                        "metadata": {"name": case.name}, "spec": {"url": case.url}})
                .to_string(),
            ),
        );
        create_test_action(
            &client,
            &ns.name,
            case.name,
            json!({"scheduleType": "manual"}),
            json!({"endpoint": case.name, "maxRetries": MAX_RETRIES,
                   "retryDelaySeconds": DELAY, "timeoutSeconds": TIMEOUT}),
        )
        .await;
    }
    let op = Operator::start(&format!("endpoint-faults-{}", ns.name), &ns.name, &[]);
    let results =
        futures::future::join_all(cases.iter().map(|c| run_to_end(&client, &ns.name, c.name)))
            .await;
    for (case, (run, seen)) in cases.iter().zip(&results) {
        check(case, run, seen);
        let (total, ok, failed) = if case.code.is_some() {
            (1, 0, 1)
        } else {
            (1, 1, 0)
        };
        let want = (total, ok, failed);
        eventually(
            &format!("{}: counters {want:?}", case.name),
            Duration::from_secs(30),
            || async {
                let a: punctual::resources::Action = Api::namespaced(client.clone(), &ns.name)
                    .get(case.name)
                    .await
                    .ok()?;
                let s = a.status.unwrap_or_default();
                ((s.total_runs, s.successful_runs, s.failed_runs) == want).then_some(())
            },
        )
        .await;
    }
    let status_of = |name: &str| {
        cases
            .iter()
            .zip(&results)
            .find(|(c, _)| c.name == name)
            .and_then(|(_, (r, _))| r.status.clone())
            .unwrap_or_default()
    };
    assert_eq!(received.at("/ok").len(), 0, "the redirect was not followed");
    let big = status_of("big");
    assert_eq!(
        big.output.as_deref().map(str::len),
        Some(4096),
        "first 4 KiB kept"
    );
    let tls_message = status_of("untrusted-tls").error_message.unwrap_or_default();
    assert!(
        tls_message.to_lowercase().contains("certificate"),
        "the TLS failure says why: {tls_message}"
    );
    let dns_message = status_of("no-such-name").error_message.unwrap_or_default();
    assert!(
        dns_message.contains("dns") || dns_message.contains("resolve"),
        "the name failure says why: {dns_message}"
    );
    drop(op);
}
