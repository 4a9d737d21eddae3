//! The REST facade over real HTTP, with `punctual run` as a real process against the real
//! control plane: shapes against the reference, defaults, errors, paging under churn, runs,
//! kubectl/REST agreement and RBAC.

use std::time::Duration;

use kube::Client;
use kube::api::{Api, DeleteParams, PostParams};
use punctual::resources::Action;
use serde_json::{Value, json};

use crate::support::*;

/// An invalid request and its exact answer: (method, path, body, status, expected body).
type BadRequest<'a> = (&'a str, String, Option<Vec<u8>>, u16, Value);

const ORG: &str = "acme";
const APP: &str = "support-bot";

/// Keys of the Action object of the reference, in order.
const ACTION_KEYS: &[&str] = &[
    "action_id",
    "workspace_id",
    "app_id",
    "endpoint_id",
    "name",
    "description",
    "namespace_id",
    "thread_mode",
    "thread_id",
    "thread_id_template",
    "payload",
    "action_type",
    "schedule_type",
    "cron_expression",
    "scheduled_at",
    "timezone",
    "max_retries",
    "retry_delay_seconds",
    "is_enabled",
    "is_running",
    "next_run_at",
    "last_run_at",
    "last_run_status",
    "last_execution_id",
    "total_runs",
    "successful_runs",
    "failed_runs",
    "created_by",
    "created_at",
    "updated_at",
];
const RUN_KEYS: &[&str] = &[
    "run_id",
    "action_id",
    "workspace_id",
    "execution_id",
    "status",
    "attempt",
    "trigger_type",
    "triggered_at",
    "started_at",
    "completed_at",
    "duration_seconds",
    "resolved_payload",
    "resolved_thread_id",
    "error_message",
    "error_code",
];

/// One HTTP answer: status, body text, body JSON (Null when not JSON).
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) text: String,
    pub(crate) json: Value,
}

/// A minimal HTTP/1.0 client (one request per connection), enough for these tests.
pub(crate) async fn http(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
) -> Answer {
    http_with(port, method, path, token, &[], body).await
}

/// `http` with extra request headers.
pub(crate) async fn http_with(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Answer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to the facade");
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n");
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(b) = body {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("write");
    if let Some(b) = body {
        // The server may answer 413 and close before reading everything.
        let _ = stream.write_all(b).await;
    }
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, text) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Answer {
        status,
        text: text.to_string(),
        json: serde_json::from_str(text).unwrap_or(Value::Null),
    }
}

/// Top-level keys of a JSON text, in order.
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
    serde_json::from_str::<Keys>(text).expect("a JSON object").0
}

/// One workspace with the org label, an endpoint, and an operator serving the facade.
pub(crate) struct Setup {
    pub(crate) client: Client,
    pub(crate) ns: TestNamespace,
    pub(crate) op: Operator,
    pub(crate) token: String,
}

impl Setup {
    pub(crate) async fn new(prefix: &str) -> Self {
        Self::with_args(prefix, &[]).await
    }

    /// `new`, with extra arguments for `punctual run`.
    pub(crate) async fn with_args(prefix: &str, extra: &[&str]) -> Self {
        let client = client().await;
        install_crds(&client).await;
        let ns = TestNamespace::create(&client, prefix).await;
        kubectl_ok(
            &[
                "label",
                "namespace",
                &ns.name,
                &format!("punctual.dev/org={ORG}"),
            ],
            None,
        );
        let endpoint = json!({"apiVersion": "punctual.dev/v1alpha1", "kind": "ActionEndpoint",
                              "metadata": {"name": "agent"}, "spec": {"url": "http://127.0.0.1:9/"}});
        kubectl_ok(
            &["apply", "-n", &ns.name, "-f", "-"],
            Some(&endpoint.to_string()),
        );
        let op = Operator::start(prefix, &ns.name, extra);
        wait_facade_ready(op.facade_port).await;
        Self {
            client,
            ns,
            op,
            token: token_of("KUBECONFIG"),
        }
    }

    pub(crate) fn base(&self) -> String {
        format!("/v1/orgs/{ORG}/workspaces/{}/apps/{APP}", self.ns.name)
    }

    pub(crate) async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        let bytes = body.map(|b| b.to_string().into_bytes());
        let full = format!("{}{path}", self.base());
        http(
            self.op.facade_port,
            method,
            &full,
            Some(&self.token),
            bytes.as_deref(),
        )
        .await
    }

    /// GETs `path` until `done` holds for the answer's JSON (the controller catches up
    /// asynchronously); returns that JSON.
    pub(crate) async fn get_until(
        &self,
        what: &str,
        path: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        eventually(what, Duration::from_secs(30), || async {
            let a = self.call("GET", path, None).await;
            done(&a.json).then_some(a.json)
        })
        .await
    }

    async fn raw(
        &self,
        method: &str,
        full_path: &str,
        token: Option<&str>,
        body: Option<&[u8]>,
    ) -> Answer {
        http(self.op.facade_port, method, full_path, token, body).await
    }

    pub(crate) async fn create(&self, body: Value) -> Value {
        let a = self.call("POST", "/actions", Some(body)).await;
        assert_eq!(a.status, 201, "create: {}", a.text);
        a.json
    }
}

/// Waits until the facade on `port` answers /readyz with ok.
pub(crate) async fn wait_facade_ready(port: u16) {
    eventually("facade ready", Duration::from_secs(30), || async move {
        let url = format!("http://127.0.0.1:{port}/readyz");
        http_get(&url).await.filter(|b| b == "ok")
    })
    .await;
}

/// The body without its timestamp (which varies), for exact comparison.
fn without_timestamp(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        if o.contains_key("timestamp") {
            assert!(o["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
        }
        o.remove("timestamp");
    }
    v
}

#[tokio::test]
async fn facade_every_route_with_reference_shapes_and_defaults() {
    let s = Setup::new("facade-routes").await;

    // Create with only the required fields: every default.
    let created = s
        .call(
            "POST",
            "/actions",
            Some(json!({"name": "Daily Report", "endpoint_id": "agent", "namespace_id": "mem-1"})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(keys_in_order(&created.text), ACTION_KEYS);
    let a = &created.json;
    assert_eq!(a["action_id"], "daily-report");
    assert_eq!(a["workspace_id"], s.ns.name.as_str());
    assert_eq!(a["app_id"], APP);
    assert_eq!(a["endpoint_id"], "agent");
    assert_eq!(a["name"], "Daily Report");
    assert_eq!(a["description"], Value::Null);
    assert_eq!(a["namespace_id"], "mem-1");
    assert_eq!(a["thread_mode"], "new_each_run");
    assert_eq!(a["thread_id"], Value::Null);
    assert_eq!(a["thread_id_template"], Value::Null);
    assert_eq!(a["payload"], json!({}));
    assert_eq!(a["action_type"], "trigger");
    assert_eq!(a["schedule_type"], "manual");
    assert_eq!(a["cron_expression"], Value::Null);
    assert_eq!(a["scheduled_at"], Value::Null);
    assert_eq!(a["timezone"], "UTC");
    assert_eq!(a["max_retries"], 0);
    assert_eq!(a["retry_delay_seconds"], 60);
    assert_eq!(a["is_enabled"], true);
    assert_eq!(a["is_running"], false);
    assert_eq!(a["total_runs"], 0);
    assert_eq!(a["successful_runs"], 0);
    assert_eq!(a["failed_runs"], 0);
    assert_eq!(a["created_by"], "admin");
    assert!(a["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(a["updated_at"].as_str().unwrap().ends_with('Z'));

    // A second Action of the same name gets another, still valid, action_id.
    let twin = s
        .create(json!({"name": "Daily Report", "endpoint_id": "agent", "namespace_id": "m"}))
        .await;
    let twin_id = twin["action_id"].as_str().unwrap().to_string();
    assert_ne!(twin_id, "daily-report");
    assert!(twin_id.starts_with("daily-report-"));

    // Inference of schedule_type.
    let cron = s
        .create(
            json!({"name": "Cron one", "endpoint_id": "agent", "namespace_id": "m",
                               "cron_expression": "0 9 * * 1-5", "timezone": "Europe/Berlin"}),
        )
        .await;
    assert_eq!(cron["schedule_type"], "cron");
    let at = (chrono::Utc::now() + chrono::TimeDelta::days(1))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let once = s.create(json!({"name": "Once", "endpoint_id": "agent", "namespace_id": "m", "scheduled_at": at})).await;
    assert_eq!(once["schedule_type"], "one_time");
    assert_eq!(once["scheduled_at"], at.as_str());

    // GET sees the create at once (read-your-writes) and equals it.
    let got = s.call("GET", "/actions/daily-report", None).await;
    assert_eq!(got.status, 200);
    assert_eq!(keys_in_order(&got.text), ACTION_KEYS);
    assert_eq!(got.json["action_id"], "daily-report");
    assert_eq!(got.json["created_by"], "admin");

    // List: shape, order newest first then id, search.
    let list = s.call("GET", "/actions", None).await;
    assert_eq!(list.status, 200);
    assert_eq!(
        keys_in_order(&list.text),
        ["total", "has_more", "next_cursor", "actions"]
    );
    assert_eq!(list.json["total"], 4);
    assert_eq!(list.json["has_more"], false);
    assert_eq!(list.json["next_cursor"], Value::Null);
    let found = s.call("GET", "/actions?search=CRON", None).await;
    assert_eq!(found.json["total"], 1);
    assert_eq!(found.json["actions"][0]["name"], "Cron one");

    // PUT is partial: only the sent fields change; read-only and unknown fields are ignored.
    let mut sent = got.json.clone();
    sent["description"] = json!("Posts the report");
    sent["max_retries"] = json!(2);
    sent["is_running"] = json!(true);
    sent["nonsense"] = json!(1);
    let put = s.call("PUT", "/actions/daily-report", Some(sent)).await;
    assert_eq!(put.status, 200, "{}", put.text);
    assert_eq!(put.json["description"], "Posts the report");
    assert_eq!(put.json["max_retries"], 2);
    assert_eq!(put.json["is_running"], false);
    let put = s
        .call(
            "PUT",
            "/actions/daily-report",
            Some(json!({"retry_delay_seconds": 5})),
        )
        .await;
    assert_eq!(put.json["retry_delay_seconds"], 5);
    assert_eq!(put.json["description"], "Posts the report");
    assert_eq!(
        s.call("GET", "/actions/daily-report", None).await.json["retry_delay_seconds"],
        5
    );

    // Disable and enable.
    let off = s.call("POST", "/actions/daily-report/disable", None).await;
    assert_eq!(
        (off.status, off.json["is_enabled"].clone()),
        (200, json!(false))
    );
    assert_eq!(keys_in_order(&off.text), ACTION_KEYS);
    let on = s.call("POST", "/actions/daily-report/enable", None).await;
    assert_eq!(
        (on.status, on.json["is_enabled"].clone()),
        (200, json!(true))
    );

    // Trigger, with and without a one-off payload; the runs are listed at once.
    let t = s.call("POST", "/actions/daily-report/trigger", None).await;
    assert_eq!(t.status, 202, "{}", t.text);
    assert_eq!(
        keys_in_order(&t.text),
        ["action_id", "run_id", "execution_id", "status", "message"]
    );
    assert_eq!(t.json["status"], "pending");
    assert_eq!(t.json["action_id"], "daily-report");
    assert!(uuid::Uuid::parse_str(t.json["execution_id"].as_str().unwrap()).is_ok());
    let run_id = t.json["run_id"].as_str().unwrap().to_string();
    let t2 = s
        .call(
            "POST",
            "/actions/daily-report/trigger",
            Some(json!({"payload": {"once": true}})),
        )
        .await;
    assert_eq!(t2.status, 202);
    let runs = s.call("GET", "/actions/daily-report/runs", None).await;
    assert_eq!(runs.status, 200);
    assert_eq!(
        keys_in_order(&runs.text),
        ["total", "has_more", "next_cursor", "runs"]
    );
    assert_eq!(runs.json["total"], 2);
    let run = s
        .call("GET", &format!("/actions/daily-report/runs/{run_id}"), None)
        .await;
    assert_eq!(run.status, 200);
    assert_eq!(keys_in_order(&run.text), RUN_KEYS);
    assert_eq!(run.json["run_id"], run_id.as_str());
    assert_eq!(run.json["trigger_type"], "manual");
    let other = s
        .call(
            "GET",
            &format!(
                "/actions/daily-report/runs/{}",
                t2.json["run_id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(other.json["resolved_payload"], json!({"once": true}));

    // kubectl sees the REST-created Action; REST sees a kubectl-created one.
    let names = kubectl_ok(&["get", "actions", "-n", &s.ns.name, "-o", "name"], None);
    assert!(
        names.contains("action.punctual.dev/daily-report"),
        "{names}"
    );
    let manifest = json!({"apiVersion": "punctual.dev/v1alpha1", "kind": "Action",
        "metadata": {"name": "from-kubectl"},
        "spec": {"app": APP, "endpoint": "agent", "namespaceId": "m"}});
    kubectl_ok(
        &["apply", "-n", &s.ns.name, "-f", "-"],
        Some(&manifest.to_string()),
    );
    let port = s.op.facade_port;
    let path = format!("{}/actions/from-kubectl", s.base());
    let token = s.token.clone();
    let seen = eventually("kubectl Action in REST", Duration::from_secs(10), || {
        let (path, token) = (path.clone(), token.clone());
        async move {
            let a = http(port, "GET", &path, Some(&token), None).await;
            (a.status == 200).then_some(a.json)
        }
    })
    .await;
    assert_eq!(seen["created_by"], Value::Null);
    assert_eq!(seen["name"], "from-kubectl");

    // Delete: 204 with no body, then 404 at once.
    let d = s.call("DELETE", "/actions/daily-report", None).await;
    assert_eq!((d.status, d.text.as_str()), (204, ""));
    let gone = s.call("GET", "/actions/daily-report", None).await;
    assert_eq!(gone.status, 404);

    // Infrastructure routes.
    let doc = s.raw("GET", "/openapi.json", None, None).await;
    assert_eq!(doc.status, 200);
    assert_eq!(doc.json["openapi"], "3.1.0");
    assert_eq!(s.raw("GET", "/healthz", None, None).await.status, 200);
    let metrics = s.op.metrics().await;
    assert!(
        metrics.contains("punctual_http_requests_total"),
        "{metrics}"
    );
}

#[tokio::test]
async fn facade_invalid_requests_have_exact_status_and_body() {
    let s = Setup::new("facade-errors").await;
    s.create(json!({"name": "exists", "endpoint_id": "agent", "namespace_id": "m"}))
        .await;
    let base = s.base();
    let e = |t: &str, loc: Value, msg: &str, input: Value| json!({"type": t, "loc": loc, "msg": msg, "input": input});
    let ec = |t: &str, loc: Value, msg: &str, input: Value, ctx: Value| json!({"type": t, "loc": loc, "msg": msg, "input": input, "ctx": ctx});
    let ve = |loc: Value, msg: &str, input: Value| json!({"type": "value_error", "loc": loc, "msg": format!("Value error, {msg}"), "input": input, "ctx": {"error": msg}});
    let ok_body = json!({"name": "n", "endpoint_id": "agent", "namespace_id": "m"});
    let with = |extra: Value| {
        let mut b = ok_body.clone();
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let past = "2020-01-01T00:00:00Z";
    let enum_thread = "'new_each_run', 'fixed' or 'template'";
    let not_found = |t: &str, id: &str, msg: &str| json!({"error": "RESOURCE_NOT_FOUND", "message": msg, "details": {"resource_type": t, "resource_id": id}, "status_code": 404});
    // Path ids that can never name anything are 422, as a FastAPI `Path(pattern=, max_length=)`.
    let dns_label = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
    let dns_subdomain = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
    let org_label = "^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$";
    let mismatch = |param: &str, input: &str, pattern: &str| {
        ec(
            "string_pattern_mismatch",
            json!(["path", param]),
            &format!("String should match pattern '{pattern}'"),
            json!(input),
            json!({ "pattern": pattern }),
        )
    };
    let long_run = "r".repeat(254);
    let cases: Vec<BadRequest> = vec![
        (
            "POST",
            format!("{base}/actions"),
            Some(b"{}".to_vec()),
            422,
            json!({"detail": [
                e("missing", json!(["body", "name"]), "Field required", json!({})),
                e("missing", json!(["body", "endpoint_id"]), "Field required", json!({})),
                e("missing", json!(["body", "namespace_id"]), "Field required", json!({})),
            ]}),
        ),
        (
            "POST",
            format!("{base}/actions"),
            None,
            422,
            json!({"detail": [
            e("missing", json!(["body"]), "Field required", Value::Null)]}),
        ),
        (
            "POST",
            format!("{base}/actions"),
            Some(with(json!({"name": 5})).to_string().into_bytes()),
            422,
            json!({"detail": [
            e("string_type", json!(["body", "name"]), "Input should be a valid string", json!(5))]}),
        ),
        // Beside a type error, the zone and the template of the fields that type-checked.
        (
            "POST",
            format!("{base}/actions"),
            Some(
                with(json!({"name": 5, "timezone": "Mars/Base", "payload": {"q": "{{ nope"}}))
                    .to_string()
                    .into_bytes(),
            ),
            422,
            json!({"detail": [
                e("string_type", json!(["body", "name"]), "Input should be a valid string", json!(5)),
                ve(json!(["body", "payload", "q"]), "invalid template: syntax error: unexpected end of input, expected end of variable block", json!("{{ nope")),
                ve(json!(["body", "timezone"]), "unknown time zone `Mars/Base` (expected an IANA name such as `Europe/Berlin` or `UTC`)", json!("Mars/Base")),
            ]}),
        ),
        (
            "POST",
            format!("{base}/actions"),
            Some(with(json!({"name": ""})).to_string().into_bytes()),
            422,
            json!({"detail": [
            ec("string_too_short", json!(["body", "name"]), "String should have at least 1 character", json!(""), json!({"min_length": 1}))]}),
        ),
        (
            "POST",
            format!("{base}/actions"),
            Some(
                with(json!({"name": "x".repeat(256)}))
                    .to_string()
                    .into_bytes(),
            ),
            422,
            json!({"detail": [
            ec("string_too_long", json!(["body", "name"]), "String should have at most 255 characters", json!("x".repeat(256)), json!({"max_length": 255}))]}),
        ),
        (
            "POST",
            format!("{base}/actions"),
            Some(
                with(json!({"thread_mode": "sometimes"}))
                    .to_string()
                    .into_bytes(),
            ),
            422,
            json!({"detail": [
            ec("enum", json!(["body", "thread_mode"]), &format!("Input should be {enum_thread}"), json!("sometimes"), json!({"expected": enum_thread}))]}),
        ),
        (
            "POST",
            format!("{base}/actions"),
            Some(
                with(json!({"schedule_type": "weekly"}))
                    .to_string()
                    .into_bytes(),
            ),
            422,
            json!({"detail": [
            ec("enum", json!(["body", "schedule_type"]), "Input should be 'cron', 'one_time' or 'manual'", json!("weekly"), json!({"expected": "'cron', 'one_time' or 'manual'"}))]}),
        ),
        (
            "POST",
            format!("{base}/actions"),
            Some(with(json!({"max_retries": 101})).to_string().into_bytes()),
            422,
            json!({"detail": [
            ec("less_than_equal", json!(["body", "max_retries"]), "Input should be less than or equal to 100", json!(101), json!({"le": 100}))]}),
        ),
        (
            "POST",
            format!("{base}/actions"),
            Some(
                with(json!({"retry_delay_seconds": -1}))
                    .to_string()
                    .into_bytes(),
            ),
            422,
            json!({"detail": [
            ec("greater_than_equal", json!(["body", "retry_delay_seconds"]), "Input should be greater than or equal to 0", json!(-1), json!({"ge": 0}))]}),
        ),
        (
            "POST",
            format!("{base}/actions"),
            Some(
                with(json!({"max_retries": "many"}))
                    .to_string()
                    .into_bytes(),
            ),
            422,
            json!({"detail": [
            e("int_parsing", json!(["body", "max_retries"]), "Input should be a valid integer, unable to parse string as an integer", json!("many"))]}),
        ),
        (
            "POST",
            format!("{base}/actions"),
            Some(with(json!({"is_enabled": [true]})).to_string().into_bytes()),
            422,
            json!({"detail": [
            e("bool_type", json!(["body", "is_enabled"]), "Input should be a valid boolean", json!([true]))]}),
        ),
        (
            "POST",
            format!("{base}/actions"),
            Some(with(json!({"payload": "text"})).to_string().into_bytes()),
            422,
            json!({"detail": [
            e("dict_type", json!(["body", "payload"]), "Input should be a valid dictionary", json!("text"))]}),
        ),
        (
            "POST",
            format!("{base}/actions"),
            Some(
                with(json!({"scheduled_at": "next tuesday"}))
                    .to_string()
                    .into_bytes(),
            ),
            422,
            json!({"detail": [
            ec("datetime_from_date_parsing", json!(["body", "scheduled_at"]), "Input should be a valid datetime or date, invalid character in year", json!("next tuesday"), json!({"error": "invalid character in year"}))]}),
        ),
        (
            "POST",
            format!("{base}/actions"),
            Some(
                with(json!({"cron_expression": "61 * * * *"}))
                    .to_string()
                    .into_bytes(),
            ),
            422,
            json!({"detail": [
            ve(json!(["body", "cron_expression"]), "invalid cron expression: minute field: value 61 out of range 0-59", json!("61 * * * *"))]}),
        ),
        (
            "POST",
            format!("{base}/actions"),
            Some(
                with(json!({"cron_expression": "0 0 30 2 *"}))
                    .to_string()
                    .into_bytes(),
            ),
            422,
            Value::Null,
        ),
        (
            "POST",
            format!("{base}/actions"),
            Some(
                with(json!({"schedule_type": "cron"}))
                    .to_string()
                    .into_bytes(),
            ),
            422,
            json!({"detail": [
            ve(json!(["body", "cron_expression"]), "cron_expression is required when schedule_type is cron", Value::Null)]}),
        ),
        (
            "POST",
            format!("{base}/actions"),
            Some(
                with(json!({"timezone": "Mars/Olympus"}))
                    .to_string()
                    .into_bytes(),
            ),
            422,
            json!({"detail": [
            ve(json!(["body", "timezone"]), "unknown time zone `Mars/Olympus` (expected an IANA name such as `Europe/Berlin` or `UTC`)", json!("Mars/Olympus"))]}),
        ),
        (
            "POST",
            format!("{base}/actions"),
            Some(with(json!({"scheduled_at": past})).to_string().into_bytes()),
            422,
            json!({"detail": [
            ve(json!(["body", "scheduled_at"]), "scheduled_at must be in the future", json!(past))]}),
        ),
        (
            "POST",
            format!("{base}/actions"),
            Some(
                with(json!({"thread_mode": "fixed"}))
                    .to_string()
                    .into_bytes(),
            ),
            422,
            json!({"detail": [
            ve(json!(["body", "thread_id"]), "thread_id is required when thread_mode is fixed", Value::Null)]}),
        ),
        (
            "POST",
            format!("{base}/actions"),
            Some(
                with(json!({"thread_mode": "template", "thread_id_template": "t-{{ date"}))
                    .to_string()
                    .into_bytes(),
            ),
            422,
            Value::Null,
        ),
        (
            "POST",
            format!("{base}/actions"),
            Some(
                with(json!({"endpoint_id": "nope"}))
                    .to_string()
                    .into_bytes(),
            ),
            422,
            json!({"detail": [
            ve(json!(["body", "endpoint_id"]), "endpoint 'nope' does not exist in this workspace", json!("nope"))]}),
        ),
        (
            "POST",
            format!("{base}/actions"),
            Some(b"{\"name\": }".to_vec()),
            422,
            json!({"detail": [
            ec("json_invalid", json!(["body", 9]), "JSON decode error", json!({}), json!({"error": "Expecting value"}))]}),
        ),
        (
            "POST",
            format!("{base}/actions"),
            Some(b"[1, 2]".to_vec()),
            422,
            json!({"detail": [
            e("model_attributes_type", json!(["body"]), "Input should be a valid dictionary or object to extract fields from", json!([1, 2]))]}),
        ),
        (
            "POST",
            format!("{base}/actions"),
            Some(vec![b' '; 1024 * 1024 + 1]),
            413,
            json!({
            "error": "PAYLOAD_TOO_LARGE", "message": "Request body is larger than 1 MiB", "details": {"max_bytes": 1048576}, "status_code": 413}),
        ),
        (
            "GET",
            format!("{base}/actions?limit=0"),
            None,
            422,
            json!({"detail": [
            ec("greater_than_equal", json!(["query", "limit"]), "Input should be greater than or equal to 1", json!("0"), json!({"ge": 1}))]}),
        ),
        (
            "GET",
            format!("{base}/actions?limit=201"),
            None,
            422,
            json!({"detail": [
            ec("less_than_equal", json!(["query", "limit"]), "Input should be less than or equal to 200", json!("201"), json!({"le": 200}))]}),
        ),
        (
            "GET",
            format!("{base}/actions?limit=abc"),
            None,
            422,
            json!({"detail": [
            e("int_parsing", json!(["query", "limit"]), "Input should be a valid integer, unable to parse string as an integer", json!("abc"))]}),
        ),
        (
            "GET",
            format!("{base}/actions?cursor=garbage"),
            None,
            422,
            json!({"detail": [
            ec("string_pattern_mismatch", json!(["query", "cursor"]),
               &format!("String should match pattern '{}'", punctual::rest::cursor::CURSOR_PATTERN),
               json!("garbage"), json!({"pattern": punctual::rest::cursor::CURSOR_PATTERN}))]}),
        ),
        (
            "GET",
            format!("{base}/actions/exists/runs?status=done"),
            None,
            422,
            json!({"detail": [
            ec("enum", json!(["query", "status"]), "Input should be 'pending', 'running', 'succeeded', 'failed' or 'cancelled'", json!("done"), json!({"expected": "'pending', 'running', 'succeeded', 'failed' or 'cancelled'"}))]}),
        ),
        (
            "PUT",
            format!("{base}/actions/exists"),
            Some(b"{\"max_retries\": 1.5}".to_vec()),
            422,
            json!({"detail": [
            e("int_from_float", json!(["body", "max_retries"]), "Input should be a valid integer, got a number with a fractional part", json!(1.5))]}),
        ),
        (
            "POST",
            format!("{base}/actions/exists/trigger"),
            Some(b"{\"payload\": 1}".to_vec()),
            422,
            json!({"detail": [
            e("dict_type", json!(["body", "payload"]), "Input should be a valid dictionary", json!(1))]}),
        ),
        (
            "GET",
            format!("{base}/actions/missing"),
            None,
            404,
            not_found("action", "missing", "Action 'missing' not found"),
        ),
        (
            "GET",
            format!(
                "/v1/orgs/other-org/workspaces/{}/apps/{APP}/actions/exists",
                s.ns.name
            ),
            None,
            404,
            not_found("action", "exists", "Action 'exists' not found"),
        ),
        (
            "GET",
            format!(
                "/v1/orgs/{ORG}/workspaces/{}/apps/other-app/actions/exists",
                s.ns.name
            ),
            None,
            404,
            not_found("action", "exists", "Action 'exists' not found"),
        ),
        (
            "GET",
            format!(
                "/v1/orgs/other-org/workspaces/{}/apps/{APP}/actions",
                s.ns.name
            ),
            None,
            404,
            not_found(
                "workspace",
                &s.ns.name,
                &format!("Workspace '{}' not found", s.ns.name),
            ),
        ),
        (
            "GET",
            format!("{base}/actions/exists/runs/nope"),
            None,
            404,
            not_found("run", "nope", "Run 'nope' not found"),
        ),
        (
            "DELETE",
            format!("{base}/actions/missing"),
            None,
            404,
            not_found("action", "missing", "Action 'missing' not found"),
        ),
        (
            "POST",
            format!("{base}/actions/missing/trigger"),
            None,
            404,
            not_found("action", "missing", "Action 'missing' not found"),
        ),
        (
            "GET",
            format!("/v1/orgs/{ORG}/workspaces/Bad_NS/apps/{APP}/actions"),
            None,
            422,
            json!({"detail": [mismatch("workspace_id", "Bad_NS", dns_label)]}),
        ),
        (
            "GET",
            format!("{base}/actions/UPPER"),
            None,
            422,
            json!({"detail": [mismatch("action_id", "UPPER", dns_subdomain)]}),
        ),
        (
            "GET",
            format!("{base}/actions/exists/runs/{long_run}"),
            None,
            422,
            json!({"detail": [
            ec("string_too_long", json!(["path", "run_id"]), "String should have at most 253 characters", json!(long_run), json!({"max_length": 253}))]}),
        ),
        (
            "DELETE",
            format!("/v1/orgs/{ORG}/workspaces/Bad_NS/apps/{APP}/actions/UPPER"),
            None,
            422,
            json!({"detail": [
                mismatch("workspace_id", "Bad_NS", dns_label),
                mismatch("action_id", "UPPER", dns_subdomain),
            ]}),
        ),
        // Path, query and body errors in one answer, path first.
        (
            "GET",
            format!(
                "/v1/orgs/-{ORG}/workspaces/{}/apps/{APP}/actions?limit=0",
                s.ns.name
            ),
            None,
            422,
            json!({"detail": [
                mismatch("org_id", &format!("-{ORG}"), org_label),
                ec("greater_than_equal", json!(["query", "limit"]), "Input should be greater than or equal to 1", json!("0"), json!({"ge": 1})),
            ]}),
        ),
        (
            "POST",
            format!("{base}/actions/UPPER/trigger"),
            Some(b"{\"payload\": 1}".to_vec()),
            422,
            json!({"detail": [
                mismatch("action_id", "UPPER", dns_subdomain),
                e("dict_type", json!(["body", "payload"]), "Input should be a valid dictionary", json!(1)),
            ]}),
        ),
    ];
    assert!(cases.len() >= 25);
    for (method, path, body, status, expected) in cases {
        let a = s.raw(method, &path, Some(&s.token), body.as_deref()).await;
        assert_eq!(a.status, status, "{method} {path}: {}", a.text);
        if expected.is_null() {
            // Messages from the cron evaluator and template engine: the shape is what matters.
            assert_eq!(
                a.json["detail"][0]["type"], "value_error",
                "{method} {path}: {}",
                a.text
            );
        } else {
            assert_eq!(without_timestamp(a.json), expected, "{method} {path}");
        }
    }

    // Every invalid field is reported, not only the first.
    let many = s
        .call(
            "POST",
            "/actions",
            Some(json!({"name": 1, "thread_mode": "x", "max_retries": -1, "timezone": 2})),
        )
        .await;
    assert_eq!(many.status, 422);
    let locs: Vec<Value> = many.json["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["loc"].clone())
        .collect();
    assert_eq!(
        locs,
        [
            json!(["body", "name"]),
            json!(["body", "endpoint_id"]),
            json!(["body", "namespace_id"]),
            json!(["body", "thread_mode"]),
            json!(["body", "timezone"]),
            json!(["body", "max_retries"])
        ]
    );
}

#[tokio::test]
async fn facade_pagination_is_stable_while_actions_come_and_go() {
    let s = Setup::new("facade-pages").await;
    let api: Api<Action> = Api::namespaced(s.client.clone(), &s.ns.name);
    let make = |name: String, display: String| -> Action {
        serde_json::from_value(
            json!({"apiVersion": "punctual.dev/v1alpha1", "kind": "Action",
            "metadata": {"name": name},
            "spec": {"app": APP, "endpoint": "agent", "namespaceId": "m", "displayName": display}}),
        )
        .expect("action")
    };
    for i in 0..120 {
        let display = if i % 10 == 0 {
            format!("Weekly digest {i}")
        } else {
            format!("Job {i}")
        };
        api.create(
            &PostParams::default(),
            &make(format!("job-{i:03}"), display),
        )
        .await
        .expect("create");
    }
    let port = s.op.facade_port;
    let (base, token) = (s.base(), s.token.clone());
    eventually("120 actions in the facade", Duration::from_secs(30), || {
        let (base, token) = (base.clone(), token.clone());
        async move {
            let a = http(
                port,
                "GET",
                &format!("{base}/actions?limit=1"),
                Some(&token),
                None,
            )
            .await;
            (a.json["total"] == 120).then_some(())
        }
    })
    .await;

    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut removed: Vec<String> = Vec::new();
    for page in 0.. {
        let q = cursor.as_ref().map_or_else(
            || "?limit=50".to_string(),
            |c| format!("?limit=50&cursor={c}"),
        );
        let a = s.call("GET", &format!("/actions{q}"), None).await;
        assert_eq!(a.status, 200, "{}", a.text);
        let ids: Vec<String> = a.json["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["action_id"].as_str().unwrap().to_string())
            .collect();
        assert!(ids.len() <= 50);
        seen.extend(ids.clone());
        if page < 2 {
            // Churn between pages: delete one seen and one unseen Action, add two new ones
            // (newer, so before the cursor).
            let unseen = (0..120)
                .map(|i| format!("job-{i:03}"))
                .find(|n| !seen.contains(n) && !removed.contains(n))
                .unwrap();
            for victim in [ids[0].clone(), unseen] {
                api.delete(&victim, &DeleteParams::default())
                    .await
                    .expect("delete");
                removed.push(victim);
            }
            for k in 0..2 {
                api.create(
                    &PostParams::default(),
                    &make(format!("late-{page}-{k}"), "Late".into()),
                )
                .await
                .expect("create");
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        if a.json["has_more"] == false {
            assert_eq!(a.json["next_cursor"], Value::Null);
            break;
        }
        cursor = Some(a.json["next_cursor"].as_str().unwrap().to_string());
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no Action repeated");
    for i in 0..120 {
        let name = format!("job-{i:03}");
        // Every Action that existed for the whole walk was seen exactly once.
        assert!(
            removed.contains(&name) || seen.contains(&name),
            "{name} lost"
        );
    }

    // Search, with its own paging and total.
    let found = s
        .call("GET", "/actions?search=weekly%20DIGEST&limit=5", None)
        .await;
    let digests = (0..120)
        .step_by(10)
        .filter(|i| !removed.contains(&format!("job-{i:03}")))
        .count();
    assert_eq!(found.json["total"], digests);
    assert_eq!(found.json["has_more"], true);
    assert_eq!(found.json["actions"].as_array().unwrap().len(), 5);
}

/// A local endpoint that answers 500 when the body contains `"fail":true`, else 200.
async fn start_endpoint() -> u16 {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Some((_, body)) = read_request(&mut conn).await else {
                    return;
                };
                let text = body.replace(' ', "");
                let status = if text.contains("\"fail\":true") {
                    "500 Internal Server Error"
                } else {
                    "200 OK"
                };
                let answer = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
                );
                let _ = conn.write_all(answer.as_bytes()).await;
            });
        }
    });
    port
}

#[tokio::test]
async fn facade_run_history_with_status_filter() {
    let s = Setup::new("facade-runs").await;
    let port = start_endpoint().await;
    let endpoint = json!({"apiVersion": "punctual.dev/v1alpha1", "kind": "ActionEndpoint",
                          "metadata": {"name": "echo"}, "spec": {"url": format!("http://127.0.0.1:{port}/")}});
    kubectl_ok(
        &["apply", "-n", &s.ns.name, "-f", "-"],
        Some(&endpoint.to_string()),
    );
    s.create(json!({"name": "runner", "endpoint_id": "echo", "namespace_id": "m"}))
        .await;
    let mut ids = Vec::new();
    for body in [None, Some(json!({"payload": {"fail": true}})), None] {
        let t = s.call("POST", "/actions/runner/trigger", body).await;
        assert_eq!(t.status, 202, "{}", t.text);
        ids.push(t.json["run_id"].as_str().unwrap().to_string());
        // Distinct triggered_at seconds, so the order is by time rather than by name.
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    // The runner executes them: the second fails with a 500 (no retries), the others succeed.
    let failed = s
        .get_until(
            "the failed run",
            "/actions/runner/runs?status=failed",
            |a| a["total"] == 1,
        )
        .await;
    assert_eq!(failed["runs"][0]["run_id"], ids[1].as_str());
    assert_eq!(failed["runs"][0]["error_code"], "http_error");
    let succeeded = s
        .get_until(
            "two succeeded runs",
            "/actions/runner/runs?status=succeeded",
            |a| a["total"] == 2,
        )
        .await;
    let run = &succeeded["runs"][0];
    assert_eq!(run["run_id"], ids[2].as_str());
    assert!(run["execution_id"].as_str().is_some());
    assert!(run["duration_seconds"].is_number());
    assert!(
        run["completed_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    // A run's final status comes before the runner counts it: wait for the counters.
    let action = s
        .get_until("three runs counted", "/actions/runner", |a| {
            a["total_runs"] == 3
        })
        .await;
    assert_eq!(action["successful_runs"], 2);
    assert_eq!(action["failed_runs"], 1);
    let all = s.call("GET", "/actions/runner/runs", None).await;
    let order: Vec<&str> = all.json["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        [ids[2].as_str(), ids[1].as_str(), ids[0].as_str()],
        "newest first"
    );
    let paged = s.call("GET", "/actions/runner/runs?limit=2", None).await;
    assert_eq!(
        (paged.json["total"].clone(), paged.json["has_more"].clone()),
        (json!(3), json!(true))
    );
    let next = paged.json["next_cursor"].as_str().unwrap();
    let rest = s
        .call(
            "GET",
            &format!("/actions/runner/runs?limit=2&cursor={next}"),
            None,
        )
        .await;
    assert_eq!(rest.json["runs"][0]["run_id"], ids[0].as_str());
    assert_eq!(rest.json["has_more"], false);
}

#[tokio::test]
async fn facade_authentication_and_rbac() {
    let s = Setup::new("facade-auth").await;
    s.create(json!({"name": "secret plan", "endpoint_id": "agent", "namespace_id": "m"}))
        .await;
    let other = TestNamespace::create(&s.client, "facade-auth-other").await;
    kubectl_ok(
        &[
            "label",
            "namespace",
            &other.name,
            &format!("punctual.dev/org={ORG}"),
        ],
        None,
    );
    let list = format!("{}/actions", s.base());
    let other_list = format!(
        "/v1/orgs/{ORG}/workspaces/{}/apps/{APP}/actions",
        other.name
    );

    let none = s.raw("GET", &list, None, None).await;
    assert_eq!(none.status, 401);
    assert_eq!(
        without_timestamp(none.json),
        json!({"error": "AUTHENTICATION_FAILED",
        "message": "Authentication failed: a valid bearer token is required", "details": {}, "status_code": 401})
    );
    let bad = s.raw("GET", &list, Some("not-a-token"), None).await;
    assert_eq!(bad.status, 401);

    let user = token_of("PUNCTUAL_USER_KUBECONFIG");
    let forbidden = s.raw("GET", &list, Some(&user), None).await;
    assert_eq!(forbidden.status, 403);
    assert_eq!(
        without_timestamp(forbidden.json),
        json!({"error": "FORBIDDEN",
        "message": "You do not have permission to perform this operation",
        "details": {"required_permission": "list actions.punctual.dev"}, "status_code": 403})
    );

    // Allowed in this workspace only.
    allow_user_to_read(&s.ns.name);
    let port = s.op.facade_port;
    let allowed = eventually(
        "RBAC applies (after the cache)",
        Duration::from_secs(20),
        || {
            let (list, user) = (list.clone(), user.clone());
            async move {
                let a = http(port, "GET", &list, Some(&user), None).await;
                (a.status == 200).then_some(a.json)
            }
        },
    )
    .await;
    assert_eq!(allowed["total"], 1);
    let elsewhere = s.raw("GET", &other_list, Some(&user), None).await;
    assert_eq!(elsewhere.status, 403);
    // Authentication and authorization come before the path grammar (422).
    let bad_path = format!("/v1/orgs/{ORG}/workspaces/Bad_NS/apps/{APP}/actions");
    assert_eq!(s.raw("GET", &bad_path, None, None).await.status, 401);
    assert_eq!(s.raw("GET", &bad_path, Some(&user), None).await.status, 403);
    // Reading is not writing.
    let write = s.raw("POST", &list, Some(&user), Some(b"{}")).await;
    assert_eq!(write.status, 403);
    assert_eq!(
        write.json["details"]["required_permission"],
        "create actions.punctual.dev"
    );
}

#[tokio::test]
async fn facade_scheduled_runs_appear_in_history() {
    let s = Setup::new("facade-sched").await;
    let created = s
        .create(
            json!({"name": "every minute", "endpoint_id": "agent", "namespace_id": "m",
                       "cron_expression": "* * * * *"}),
        )
        .await;
    let id = created["action_id"].as_str().unwrap().to_string();
    let port = s.op.facade_port;
    let path = format!("{}/actions/{id}", s.base());
    let token = s.token.clone();
    // The scheduler arms the next slot; the facade shows it.
    let armed = eventually("next_run_at", Duration::from_secs(20), || {
        let (path, token) = (path.clone(), token.clone());
        async move {
            let a = http(port, "GET", &path, Some(&token), None).await;
            a.json["next_run_at"].as_str().map(str::to_string)
        }
    })
    .await;
    let runs = eventually("a scheduled run", Duration::from_secs(75), || {
        let (path, token) = (path.clone(), token.clone());
        async move {
            let a = http(port, "GET", &format!("{path}/runs"), Some(&token), None).await;
            (a.json["total"].as_u64() >= Some(1)).then_some(a.json)
        }
    })
    .await;
    let run = &runs["runs"][0];
    assert_eq!(run["trigger_type"], "scheduled");
    assert_eq!(run["action_id"], id.as_str());
    assert!(run["run_id"].as_str().unwrap().starts_with(&id));
    let nominal = chrono::DateTime::parse_from_rfc3339(&armed)
        .unwrap()
        .timestamp();
    assert!(
        run["run_id"]
            .as_str()
            .unwrap()
            .ends_with(&nominal.to_string())
    );
    // A manual trigger next to it; the runner fails both (nothing listens on port 9).
    // (A run without a status sorts by its creation time, which has whole seconds.)
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let t = s
        .call("POST", &format!("/actions/{id}/trigger"), None)
        .await;
    assert_eq!(t.status, 202);
    let (runs_path, token) = (format!("{path}/runs?status=failed"), s.token.clone());
    let failed = eventually("both runs failed", Duration::from_secs(30), || {
        let (runs_path, token) = (runs_path.clone(), token.clone());
        async move {
            let a = http(port, "GET", &runs_path, Some(&token), None).await;
            (a.json["total"].as_u64() >= Some(2)).then_some(a.json)
        }
    })
    .await;
    assert_eq!(failed["runs"][0]["trigger_type"], "manual", "newest first");
    assert_eq!(failed["runs"][0]["error_code"], "connection_error");
    let types: Vec<&str> = failed["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["trigger_type"].as_str().unwrap())
        .collect();
    assert!(types.contains(&"scheduled"), "{types:?}");
}

/// A write answers with what the next read shows: the computed `next_run_at` on create, disable
/// and enable; and a sent field replaces the stored value whole (an old payload key does not
/// survive a PUT of a new payload; nulls inside a payload are stored as sent, visible to kubectl).
#[tokio::test]
async fn facade_writes_answer_what_the_next_read_shows() {
    let s = Setup::new("facade-writes").await;
    let created = s
        .create(
            json!({"name": "Every five", "endpoint_id": "agent", "namespace_id": "m",
                       "cron_expression": "*/5 * * * *",
                       "payload": {"greeting": "hello", "broken": "{{ date }}", "keep": null}}),
        )
        .await;
    let next = |v: &Value| {
        v["next_run_at"]
            .as_str()
            .map(|t| t.parse::<chrono::DateTime<chrono::Utc>>().expect("a time"))
    };
    let first = next(&created).expect("create answers with the next slot, not null");
    assert!(first > chrono::Utc::now() && first.timestamp() % 300 == 0);
    let path = "/actions/every-five";
    let read = s.call("GET", path, None).await;
    assert_eq!(next(&read.json), Some(first));

    let disabled = s.call("POST", &format!("{path}/disable"), None).await;
    assert_eq!(disabled.status, 200, "{}", disabled.text);
    assert_eq!(disabled.json["next_run_at"], Value::Null);
    assert_eq!(disabled.json["is_enabled"], false);
    let reconciled = s
        .get_until("the controller reconciled the disable", path, |v| {
            v["is_enabled"] == false
        })
        .await;
    assert_eq!(reconciled["next_run_at"], Value::Null);
    let enabled = s.call("POST", &format!("{path}/enable"), None).await;
    assert_eq!(enabled.status, 200, "{}", enabled.text);
    let again = next(&enabled.json).expect("enable answers with the next slot");
    assert!(again >= first);

    // PUT replaces the payload whole; nulls inside it are kept.
    let put = s
        .call(
            "PUT",
            path,
            Some(json!({"payload": {"greeting": "hi", "empty": null, "nested": {"n": null}}})),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    let want = json!({"greeting": "hi", "empty": null, "nested": {"n": null}});
    assert_eq!(put.json["payload"], want);
    assert_eq!(s.call("GET", path, None).await.json["payload"], want);
    let stored = kubectl_ok(
        &[
            "get",
            "action",
            "every-five",
            "-n",
            &s.ns.name,
            "-o",
            "jsonpath={.spec.payload}",
        ],
        None,
    );
    let stored: Value = serde_json::from_str(&stored).expect("payload JSON");
    assert_eq!(stored, want, "kubectl sees exactly what the client sent");
    // Fields not sent are unchanged.
    assert_eq!(put.json["cron_expression"], "*/5 * * * *");
    assert_eq!(put.json["name"], "Every five");

    // A template naming a variable no run has is refused at save time, every one at once.
    let bad = s
        .call(
            "PUT",
            path,
            Some(json!({"payload": {"a": "{{ nope }}", "b": ["{{ date | nofilter }}"]}})),
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.text);
    let detail = bad.json["detail"].as_array().expect("detail");
    let locs: Vec<&Value> = detail.iter().map(|d| &d["loc"]).collect();
    assert_eq!(
        locs,
        [
            &json!(["body", "payload", "a"]),
            &json!(["body", "payload", "b", 0])
        ]
    );
    assert!(
        detail[0]["msg"]
            .as_str()
            .is_some_and(|m| m.contains("undefined variable `nope`")),
        "{}",
        bad.text
    );
    assert_eq!(s.call("GET", path, None).await.json["payload"], want);
}

/// An update that leaves both schedules without a type stores the type a create would infer:
/// the CRD refuses both without one as ambiguous, and the facade once answered that with a 500
/// (found by e2e/schemathesis.sh). A PUT needs a body, as the document says.
#[tokio::test]
async fn facade_update_infers_an_ambiguous_schedule_type() {
    let s = Setup::new("facade-infer").await;
    let at = (chrono::Utc::now() + chrono::TimeDelta::days(1))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let created = s
        .create(
            json!({"name": "Both", "endpoint_id": "agent", "namespace_id": "m",
                       "cron_expression": "0 9 * * *", "scheduled_at": at}),
        )
        .await;
    assert_eq!(created["schedule_type"], "cron");
    let cleared = s
        .call("PUT", "/actions/both", Some(json!({"schedule_type": null})))
        .await;
    assert_eq!(cleared.status, 200, "{}", cleared.text);
    assert_eq!(cleared.json["schedule_type"], "cron");
    assert_eq!(cleared.json["scheduled_at"], at.as_str());
    let one_time = s
        .call(
            "PUT",
            "/actions/both",
            Some(json!({"schedule_type": "one_time"})),
        )
        .await;
    assert_eq!(
        one_time.json["schedule_type"], "one_time",
        "{}",
        one_time.text
    );
    let no_body = s.call("PUT", "/actions/both", None).await;
    assert_eq!(no_body.status, 422, "{}", no_body.text);
    assert_eq!(
        no_body.json,
        json!({"detail": [{"type": "missing", "loc": ["body"], "msg": "Field required", "input": null}]})
    );
}
