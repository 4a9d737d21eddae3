//! Traces (docs/observability.md, "Traces") against a real OTLP/HTTP receiver: `punctual run`
//! exports to a receiver in this test that decodes each request with the official OpenTelemetry
//! protobuf definitions (`opentelemetry-proto`), as a collector would.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chrono::{DateTime, Utc};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use prost::Message;
use punctual::resources::{ActionRun, RunPhase};
use serde_json::json;

use crate::facade::{Setup, http_with};
use crate::runner::{endpoint_url, finished, status};
use crate::support::*;

/// One span as the receiver decoded it (ids in hex, as in `traceparent`).
#[derive(Clone, Debug)]
struct Exported {
    service: String,
    trace_id: String,
    span_id: String,
    /// Empty for a root span.
    parent: String,
    trace_state: String,
    name: String,
    /// OTLP's SpanKind: 1 internal, 2 server, 3 client.
    kind: i32,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    attributes: BTreeMap<String, String>,
    /// (trace id, span id) of each link.
    links: Vec<(String, String)>,
    /// OTLP's StatusCode: 0 unset, 1 ok, 2 error.
    status: i32,
}

#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Exported>>>,
    /// Content types of the export requests.
    content_types: Arc<Mutex<Vec<String>>>,
}

impl Collector {
    fn spans(&self) -> Vec<Exported> {
        self.spans.lock().expect("lock").clone()
    }

    /// The first facade request span of route template `route`, once it has arrived.
    async fn request_span(&self, route: &str) -> Exported {
        eventually(
            &format!("a span of {route}"),
            Duration::from_secs(30),
            || async {
                self.spans()
                    .into_iter()
                    .find(|x| x.attributes.get("http.route").map(String::as_str) == Some(route))
            },
        )
        .await
    }
}

/// An OTLP/HTTP receiver: `POST /v1/traces` with a protobuf `ExportTraceServiceRequest`.
async fn collector() -> (SocketAddr, Collector) {
    let collector = Collector::default();
    let app = Router::new()
        .route("/v1/traces", post(receive))
        .with_state(collector.clone());
    (serve_on_free_port(app).await, collector)
}

async fn receive(
    State(c): State<Collector>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Vec<u8>) {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    c.content_types.lock().expect("lock").push(content_type);
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return (StatusCode::BAD_REQUEST, Vec::new());
    };
    let mut spans = c.spans.lock().expect("lock");
    for rs in request.resource_spans {
        let resource = rs
            .resource
            .map(|r| attributes(&r.attributes))
            .unwrap_or_default();
        let service = resource.get("service.name").cloned().unwrap_or_default();
        for span in rs.scope_spans.into_iter().flat_map(|s| s.spans) {
            spans.push(Exported {
                service: service.clone(),
                trace_id: hex(&span.trace_id),
                span_id: hex(&span.span_id),
                parent: hex(&span.parent_span_id),
                trace_state: span.trace_state.clone(),
                name: span.name.clone(),
                kind: span.kind,
                start: instant(span.start_time_unix_nano),
                end: instant(span.end_time_unix_nano),
                attributes: attributes(&span.attributes),
                links: span
                    .links
                    .iter()
                    .map(|l| (hex(&l.trace_id), hex(&l.span_id)))
                    .collect(),
                status: span.status.map_or(0, |s| s.code),
            });
        }
    }
    let answer = ExportTraceServiceResponse::default().encode_to_vec();
    (StatusCode::OK, answer)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn instant(unix_nanos: u64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(unix_nanos as i64)
}

fn attributes(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Any::StringValue(s)) => s.clone(),
                Some(Any::IntValue(i)) => i.to_string(),
                Some(Any::BoolValue(b)) => b.to_string(),
                Some(Any::DoubleValue(d)) => d.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

/// Within a millisecond (the status keeps instants to the microsecond at most).
fn close(a: DateTime<Utc>, b: DateTime<Utc>) -> bool {
    (a - b)
        .num_microseconds()
        .is_some_and(|us| us.abs() <= 1000)
}

#[tokio::test]
async fn a_run_and_the_facade_requests_arrive_as_linked_spans() {
    let (otlp, collector) = collector().await;
    let (addr, agent) = crate::delivery::agent(HashMap::new()).await;
    let otlp_url = format!("http://{otlp}");
    let s = Setup::with_args(
        "traces",
        &[
            "--otlp-endpoint",
            &otlp_url,
            "--trace-state",
            "punctual=e2e",
        ],
    )
    .await;
    // The first request of each run gets 503, the retry 200.
    endpoint_url(
        &s.ns.name,
        "flaky",
        &format!("http://{addr}/answer/503/1"),
        json!({}),
    );
    s.create(
        json!({"name": "traced", "endpoint_id": "flaky", "namespace_id": "m",
                    "max_retries": 2, "retry_delay_seconds": 1, "payload": {"q": 1}}),
    )
    .await;

    // A caller that is itself traced triggers the run.
    let (caller_trace, caller_span) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let traceparent = format!("00-{caller_trace}-{caller_span}-01");
    let trigger = http_with(
        s.op.facade_port,
        "POST",
        &format!("{}/actions/traced/trigger", s.base()),
        Some(&s.token),
        &[("traceparent", &traceparent)],
        Some(b"{}"),
    )
    .await;
    assert_eq!(trigger.status, 202, "{}", trigger.text);
    let run_id = trigger.json["run_id"].as_str().expect("run_id").to_string();
    let api = kube::Api::<ActionRun>::namespaced(s.client.clone(), &s.ns.name);
    let run = api.get(&run_id).await.expect("the run");
    let done = finished(&s.client, &run, Duration::from_secs(60)).await;
    let st = status(&done);
    assert_eq!(st.status, RunPhase::Succeeded, "{st:?}");
    assert_eq!(st.attempts.len(), 2, "{st:?}");
    let trace = st.trace_id.clone().expect("status.traceId");
    // `kubectl get arun -o wide` shows it, to look the trace up.
    let wide = kubectl_ok(
        &["get", "arun", &run_id, "-n", &s.ns.name, "-o", "wide"],
        None,
    );
    let header = wide.lines().next().unwrap_or_default();
    assert!(header.trim_end().ends_with("TRACE"), "{wide}");
    assert!(wide.contains(&trace), "{wide}");
    let narrow = kubectl_ok(&["get", "arun", &run_id, "-n", &s.ns.name], None);
    assert!(!narrow.contains("TRACE"), "only in the wide view: {narrow}");

    // What the endpoint got: the run's trace, a span per attempt, the configured tracestate.
    let calls = agent.calls_of(&done);
    assert_eq!(calls.len(), 2);
    let mut sent_spans = Vec::new();
    for call in &calls {
        let tp = call.header("traceparent").expect("traceparent");
        let parts: Vec<&str> = tp.split('-').collect();
        assert_eq!(parts.len(), 4, "{tp}");
        assert_eq!((parts[0], parts[1], parts[3]), ("00", trace.as_str(), "01"));
        sent_spans.push(parts[2].to_string());
        assert_eq!(call.header("tracestate"), Some("punctual=e2e"));
    }

    // The run's spans: the slot's root span and one child per attempt, with the ids the
    // requests carried and the times the status records.
    let spans = eventually("the run's spans", Duration::from_secs(30), || async {
        let of_run: Vec<Exported> = collector
            .spans()
            .into_iter()
            .filter(|x| x.trace_id == trace)
            .collect();
        (of_run.len() >= 3).then_some(of_run)
    })
    .await;
    assert_eq!(spans.len(), 3, "each span once: {spans:#?}");
    let slot = spans
        .iter()
        .find(|x| x.name == "punctual.run")
        .expect("the slot's span");
    assert_eq!(slot.parent, "", "the slot's span is the root");
    assert_eq!((slot.kind, slot.status), (1, 0));
    assert_eq!(slot.service, "punctual");
    assert_eq!(slot.trace_state, "punctual=e2e");
    assert_eq!(slot.attributes["punctual.action"], "traced");
    assert_eq!(slot.attributes["punctual.run"], run_id);
    assert_eq!(slot.attributes["k8s.namespace.name"], s.ns.name);
    assert_eq!(slot.attributes["punctual.status"], "succeeded");
    assert_eq!(slot.attributes["punctual.attempts"], "2");
    // It keeps its own trace and links to the caller that triggered it.
    assert_eq!(
        slot.links,
        [(caller_trace.to_string(), caller_span.to_string())]
    );
    let mut attempts: Vec<&Exported> = spans
        .iter()
        .filter(|x| x.name == "punctual.attempt")
        .collect();
    attempts.sort_by_key(|x| x.start);
    assert_eq!(attempts.len(), 2);
    for (i, a) in attempts.iter().enumerate() {
        let recorded = &st.attempts[i];
        assert_eq!(a.parent, slot.span_id, "attempt {} under the slot", i + 1);
        assert_eq!(a.span_id, sent_spans[i], "the span the request named");
        assert_eq!(a.kind, 3, "a client span");
        assert_eq!(a.attributes["punctual.attempt"], (i + 1).to_string());
        assert!(close(a.start, recorded.started_at), "{a:?} {recorded:?}");
        let completed = recorded.completed_at.expect("completedAt");
        assert!(close(a.end, completed), "{a:?} {recorded:?}");
        assert!(slot.start <= a.start && a.end <= slot.end, "{slot:?} {a:?}");
    }
    assert_eq!(attempts[0].attributes["http.response.status_code"], "503");
    assert_eq!(attempts[0].status, 2, "the failed attempt is an error");
    assert_eq!(attempts[1].attributes["http.response.status_code"], "200");
    assert_eq!(attempts[1].status, 0);

    // The trigger request continues the caller's trace as a server span.
    let route =
        "/v1/orgs/{org_id}/workspaces/{workspace_id}/apps/{app_id}/actions/{action_id}/trigger";
    let facade = collector.request_span(route).await;
    assert_eq!(facade.name, format!("POST {route}"));
    assert_eq!(
        (facade.trace_id.as_str(), facade.parent.as_str()),
        (caller_trace, caller_span)
    );
    assert_eq!(facade.kind, 2, "a server span");
    assert_eq!(facade.attributes["http.response.status_code"], "202");
    // A request without traceparent starts a trace of its own.
    let get = s
        .call("GET", &format!("/actions/traced/runs/{run_id}"), None)
        .await;
    assert_eq!(get.status, 200, "{}", get.text);
    let run_route = "/v1/orgs/{org_id}/workspaces/{workspace_id}/apps/{app_id}/actions/{action_id}/runs/{run_id}";
    let own = collector.request_span(run_route).await;
    assert_eq!(own.parent, "");
    assert_ne!(own.trace_id, caller_trace);
    let types = collector.content_types.lock().expect("lock").clone();
    assert!(
        types.iter().all(|t| t == "application/x-protobuf"),
        "{types:?}"
    );
    // No credential in any exported attribute.
    let dump = format!("{:?}", collector.spans());
    assert!(!dump.contains(&s.token), "the token leaked into a span");
}
