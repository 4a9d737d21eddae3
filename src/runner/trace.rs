//! W3C Trace Context for requests, and the spans of a run (pure; docs/observability.md,
//! "Traces"): one trace per run, a root span for its slot and one child span per attempt, all
//! derived from ids the run already has, so they are known before an attempt starts and are the
//! same after a restart. Every request carries `traceparent: 00-<trace-id>-<span-id>-01` (the
//! attempt's span) and `tracestate` if one is configured; the run records its trace id in
//! `status.traceId`.
//!
//! A run outlives the process that started it (a restart, a 202 answered by an endpoint that
//! reports an hour later to another replica), so its spans are not live spans: each is built
//! from the run's status when the write that ends it succeeds (`ended`), and handed to a
//! `SpanSink` (the OTLP exporter, `crate::otel`).

pub use crate::otel::{RunSpan, SpanSink, Value};
use chrono::{DateTime, Utc};

use crate::resources::{ActionRun, ActionRunStatus, Attempt, RunPhase, TriggerType};

/// The trace id of a run: the 32 hex digits of a UUID derived from its uid (never all zero).
pub fn trace_id(run_uid: &str) -> String {
    let id = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("trace/{run_uid}").as_bytes(),
    );
    id.simple().to_string()
}

/// The span id of an attempt: the first 16 hex digits of its execution id, or a fixed non-zero
/// id if those are all zero (an all-zero span id is invalid).
pub fn span_id(execution_id: &str) -> String {
    let hex: String = execution_id
        .chars()
        .filter(char::is_ascii_hexdigit)
        .map(|c| c.to_ascii_lowercase())
        .take(16)
        .collect();
    if hex.len() == 16 && hex.chars().any(|c| c != '0') {
        hex
    } else {
        "0000000000000001".into()
    }
}

/// The `traceparent` of an attempt: version 00, sampled.
pub fn traceparent(run_uid: &str, execution_id: &str) -> String {
    format!("00-{}-{}-01", trace_id(run_uid), span_id(execution_id))
}

/// The span id of a run's root span (its slot), the parent of every attempt's span.
pub fn slot_span_id(run_uid: &str) -> String {
    let id = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("slot/{run_uid}").as_bytes(),
    );
    span_id(&id.to_string())
}

/// Set on a run created by a request that carried a `traceparent` (a REST trigger or rerun, or
/// by hand on an ActionRun): that caller's span, which the run's own span links to. A link, not
/// a parent: the run keeps its own trace (`status.traceId`).
pub const CALLER_ANNOTATION: &str = "punctual.dev/traceparent";

/// The trace id and span id of a valid W3C `traceparent`; None for anything else (an unknown
/// future version is read by its first four fields, as the W3C asks).
pub fn parse_traceparent(value: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = value.trim().split('-').collect();
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let zero = |s: &str| s.bytes().all(|b| b == b'0');
    let [version, trace, span, flags, ..] = parts.as_slice() else {
        return None;
    };
    let valid = hex(version, 2)
        && *version != "ff"
        && (*version != "00" || parts.len() == 4)
        && hex(trace, 32)
        && hex(span, 16)
        && hex(flags, 2)
        && !zero(trace)
        && !zero(span);
    valid.then(|| (trace.to_string(), span.to_string()))
}

/// The trace headers of an attempt: `traceparent`, and `tracestate` when one is configured.
pub fn headers(run_uid: &str, execution_id: &str, state: Option<&str>) -> Vec<(String, String)> {
    let mut h = vec![("traceparent".into(), traceparent(run_uid, execution_id))];
    if let Some(state) = state {
        h.push(("tracestate".into(), state.to_string()));
    }
    h
}

/// How the runner traces: the `tracestate` it sends, and where finished spans go.
#[derive(Clone, Default)]
pub struct Tracing {
    /// Sent as `tracestate` on every request (validated at startup, `crate::otel::trace_state`).
    pub state: Option<String>,
    /// None: no exporter configured, spans are not built.
    pub sink: Option<std::sync::Arc<dyn SpanSink>>,
}

impl std::fmt::Debug for Tracing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracing")
            .field("state", &self.state)
            .field("exporting", &self.sink.is_some())
            .finish()
    }
}

impl Tracing {
    /// Hands the spans a status write ended to the sink, if there is one.
    pub fn ended(&self, run: &ActionRun, prev: &ActionRunStatus, new: &ActionRunStatus) {
        if let Some(sink) = &self.sink {
            let spans = ended(run, prev, new);
            if !spans.is_empty() {
                sink.record(spans);
            }
        }
    }
}

/// The spans that the status write `prev` to `new` ends: each attempt that is over in `new` and
/// was not in `prev`, and the slot's span once the run reaches a final status. An attempt still
/// open when the run ends (cancelled mid-request) ends with the run.
pub fn ended(run: &ActionRun, prev: &ActionRunStatus, new: &ActionRunStatus) -> Vec<RunSpan> {
    if !prev.status.is_active() {
        return Vec::new();
    }
    let uid = run.metadata.uid.as_deref().unwrap_or_default();
    let finished = !new.status.is_active();
    let ids = Ids {
        trace: trace_id(uid),
        slot: slot_span_id(uid),
        run: run.metadata.name.clone().unwrap_or_default(),
    };
    let mut spans = Vec::new();
    for a in &new.attempts {
        let end = match (a.completed_at, finished) {
            (Some(at), _) => at,
            (None, true) => new.completed_at.unwrap_or(a.started_at),
            (None, false) => continue,
        };
        let ended_before = prev
            .attempts
            .iter()
            .any(|p| p.number == a.number && p.completed_at.is_some());
        if !ended_before {
            spans.push(attempt_span(&ids, a, end));
        }
    }
    if finished {
        spans.push(run_span(&ids, run, new));
    }
    spans
}

/// What names a run's spans.
struct Ids {
    trace: String,
    /// The slot's (the run's) span.
    slot: String,
    run: String,
}

/// The client span of attempt `a`, ended at `end`, a child of the slot's span.
fn attempt_span(ids: &Ids, a: &Attempt, end: DateTime<Utc>) -> RunSpan {
    let mut attributes = vec![
        ("punctual.run", Value::Str(ids.run.clone())),
        ("punctual.attempt", Value::Int(a.number.into())),
        ("punctual.execution_id", Value::Str(a.execution_id.clone())),
    ];
    if let Some(status) = a.http_status {
        attributes.push(("http.response.status_code", Value::Int(status.into())));
    }
    if let Some(code) = a.error_code {
        attributes.push(("error.type", Value::Str(code.as_str().into())));
    }
    RunSpan {
        name: "punctual.attempt",
        trace_id: ids.trace.clone(),
        span_id: span_id(&a.execution_id),
        parent_span_id: Some(ids.slot.clone()),
        client: true,
        start: a.started_at,
        end: end.max(a.started_at),
        attributes,
        links: Vec::new(),
        error: a.error_code.map(|code| {
            a.error_message
                .clone()
                .unwrap_or_else(|| code.as_str().to_string())
        }),
    }
}

/// The slot's span of a run that reached its final status `new`: the trace's root, linked to
/// the caller's span if a traced request created the run.
fn run_span(ids: &Ids, run: &ActionRun, new: &ActionRunStatus) -> RunSpan {
    let end = new
        .completed_at
        .or(new.attempts.last().and_then(|a| a.completed_at));
    let end = end.or(new.triggered_at).unwrap_or_default();
    // A scheduled run's span starts at its slot, so the wait before the first attempt (the
    // schedule lag) shows in the trace.
    let start = match run.spec.trigger_type {
        TriggerType::Scheduled => run.spec.scheduled_at.or(new.triggered_at),
        TriggerType::Manual => new.triggered_at,
    };
    let start = start.or(new.started_at).unwrap_or(end).min(end);
    let trigger = match run.spec.trigger_type {
        TriggerType::Scheduled => "scheduled",
        TriggerType::Manual => "manual",
    };
    let mut attributes = vec![
        (
            "k8s.namespace.name",
            Value::Str(run.metadata.namespace.clone().unwrap_or_default()),
        ),
        ("punctual.action", Value::Str(run.spec.action.clone())),
        ("punctual.run", Value::Str(ids.run.clone())),
        ("punctual.trigger", Value::Str(trigger.into())),
        ("punctual.status", Value::Str(new.status.as_str().into())),
        ("punctual.attempts", Value::Int(new.attempt.into())),
    ];
    if let Some(at) = run.spec.scheduled_at {
        attributes.push((
            "punctual.scheduled_at",
            Value::Str(crate::time::format_time(&at)),
        ));
    }
    if let Some(code) = new.error_code {
        attributes.push(("error.type", Value::Str(code.as_str().into())));
    }
    let error = (new.status == RunPhase::Failed).then(|| {
        new.error_message
            .clone()
            .or(new.error_code.map(|c| c.as_str().to_string()))
            .unwrap_or_else(|| "failed".into())
    });
    RunSpan {
        name: "punctual.run",
        trace_id: ids.trace.clone(),
        span_id: ids.slot.clone(),
        parent_span_id: None,
        client: false,
        start,
        end,
        attributes,
        links: caller(run).into_iter().collect(),
        error,
    }
}

/// The caller's span a run was created by, from its annotation.
fn caller(run: &ActionRun) -> Option<(String, String)> {
    let annotations = run.metadata.annotations.as_ref()?;
    parse_traceparent(annotations.get(CALLER_ANNOTATION)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn is_hex(s: &str, len: usize) -> bool {
        s.len() == len
            && s.chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
            && s.chars().any(|c| c != '0')
    }

    #[test]
    fn one_trace_per_run_one_span_per_attempt() {
        let uid = "3f1c2a9e-0000-4000-8000-000000000001";
        let one = crate::runspec::execution_id(uid, 1).to_string();
        let two = crate::runspec::execution_id(uid, 2).to_string();
        let (a, b) = (traceparent(uid, &one), traceparent(uid, &two));
        for tp in [&a, &b] {
            let parts: Vec<&str> = tp.split('-').collect();
            assert_eq!(parts.len(), 4, "{tp}");
            assert_eq!((parts[0], parts[3]), ("00", "01"));
            assert!(is_hex(parts[1], 32) && is_hex(parts[2], 16), "{tp}");
            assert_eq!(parts[1], trace_id(uid));
        }
        assert_ne!(a, b, "a new span per attempt");
        assert_eq!(a, traceparent(uid, &one), "the same after a restart");
        assert_ne!(trace_id(uid), trace_id("another-run"));
        assert_eq!(
            span_id("00000000-0000-0000-0000-000000000000"),
            "0000000000000001"
        );
        assert_eq!(
            span_id("ABCDEF01-2345-6789-0000-000000000000"),
            "abcdef0123456789"
        );
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("an RFC 3339 instant")
    }

    fn scheduled_run() -> ActionRun {
        let mut run = ActionRun::new(
            "nightly-29000000",
            crate::resources::ActionRunSpec {
                action: "nightly".into(),
                trigger_type: TriggerType::Scheduled,
                scheduled_at: Some(at("2026-12-01T09:00:00Z")),
                ..crate::runner::outcome::tests::spec(1, 10)
            },
        );
        run.metadata.namespace = Some("team-a".into());
        run.metadata.uid = Some("3f1c2a9e-0000-4000-8000-000000000001".into());
        run
    }

    /// The statuses of a run whose first attempt fails (retried) and whose second succeeds.
    fn two_attempts() -> [ActionRunStatus; 4] {
        use crate::runner::outcome::{self, Next, Outcome};
        let uid = "3f1c2a9e-0000-4000-8000-000000000001";
        let pending = ActionRunStatus::default();
        let e1 = crate::runspec::execution_id(uid, 1).to_string();
        let first = outcome::start_attempt(
            &pending,
            1,
            &e1,
            at("2026-12-01T08:59:00Z"),
            at("2026-12-01T09:00:01Z"),
        );
        let failure = Outcome {
            error: Some(crate::resources::RunErrorCode::HttpError),
            retryable: true,
            http_status: Some(503),
            message: Some("HTTP 503".into()),
            output: None,
            retry_after: None,
        };
        let retrying = outcome::finish_attempt(
            &first,
            &failure,
            Next::RetryAt(at("2026-12-01T09:00:12Z")),
            at("2026-12-01T09:00:02Z"),
        );
        let e2 = crate::runspec::execution_id(uid, 2).to_string();
        let second = outcome::start_attempt(
            &retrying,
            2,
            &e2,
            at("2026-12-01T08:59:00Z"),
            at("2026-12-01T09:00:12Z"),
        );
        let success = Outcome {
            error: None,
            http_status: Some(200),
            ..failure
        };
        let done =
            outcome::finish_attempt(&second, &success, Next::Succeed, at("2026-12-01T09:00:13Z"));
        [first, retrying, second, done]
    }

    #[test]
    fn each_attempt_span_is_ended_once_and_the_slot_span_with_the_run() {
        let run = scheduled_run();
        let uid = run.metadata.uid.clone().unwrap_or_default();
        let [first, retrying, second, done] = two_attempts();
        // Starting an attempt ends nothing.
        assert!(ended(&run, &ActionRunStatus::default(), &first).is_empty());
        // The failed attempt: its span alone, a client span under the slot, an error.
        let spans = ended(&run, &first, &retrying);
        assert_eq!(spans.len(), 1, "{spans:?}");
        let a1 = &spans[0];
        assert_eq!(a1.name, "punctual.attempt");
        assert_eq!(a1.trace_id, trace_id(&uid));
        assert_eq!(
            a1.parent_span_id.as_deref(),
            Some(slot_span_id(&uid).as_str())
        );
        assert_eq!(a1.span_id, span_id(&first.attempts[0].execution_id));
        assert_eq!(
            (a1.start, a1.end),
            (at("2026-12-01T09:00:01Z"), at("2026-12-01T09:00:02Z"))
        );
        assert_eq!(a1.error.as_deref(), Some("HTTP 503"));
        assert!(
            a1.attributes
                .contains(&("http.response.status_code", Value::Int(503)))
        );
        // The span id is the one the request's traceparent carried.
        let tp = traceparent(&uid, &first.attempts[0].execution_id);
        assert!(
            tp.contains(&a1.span_id) && tp.contains(&a1.trace_id),
            "{tp}"
        );
        assert!(ended(&run, &retrying, &second).is_empty());
        // The last attempt and the slot, which starts at the nominal instant.
        let spans = ended(&run, &second, &done);
        let names: Vec<_> = spans.iter().map(|s| s.name).collect();
        assert_eq!(names, ["punctual.attempt", "punctual.run"]);
        let slot = &spans[1];
        assert_eq!(
            (slot.span_id.as_str(), slot.parent_span_id.as_deref()),
            (slot_span_id(&uid).as_str(), None)
        );
        assert_eq!(
            (slot.start, slot.end),
            (at("2026-12-01T09:00:00Z"), at("2026-12-01T09:00:13Z"))
        );
        assert_eq!(slot.error, None);
        assert!(
            slot.attributes
                .contains(&("punctual.attempts", Value::Int(2)))
        );
        assert!(
            slot.attributes
                .contains(&("punctual.status", Value::Str("succeeded".into())))
        );
        assert_ne!(spans[0].span_id, a1.span_id);
        assert!(slot.links.is_empty(), "no caller, no link");
        // A later write on the finished run (its notification) ends nothing again.
        let mut notified = done.clone();
        notified.notification = Some(Default::default());
        assert!(ended(&run, &done, &notified).is_empty());
    }

    #[test]
    fn an_attempt_open_when_the_run_is_cancelled_ends_with_it() {
        let mut run = scheduled_run();
        run.spec.trigger_type = TriggerType::Manual;
        run.spec.scheduled_at = None;
        let [first, ..] = two_attempts();
        let mut cancelled = first.clone();
        cancelled.status = RunPhase::Cancelled;
        cancelled.completed_at = Some(at("2026-12-01T09:05:00Z"));
        let spans = ended(&run, &first, &cancelled);
        assert_eq!(spans.len(), 2, "{spans:?}");
        assert_eq!(spans[0].end, at("2026-12-01T09:05:00Z"));
        // A manual run's span starts at its trigger.
        assert_eq!(spans[1].start, at("2026-12-01T08:59:00Z"));
        assert_eq!(spans[1].error, None, "cancelled is not an error");
        assert_eq!(
            headers("u", "e", Some("vendor=x")).last(),
            Some(&("tracestate".to_string(), "vendor=x".to_string()))
        );
        assert_eq!(headers("u", "e", None).len(), 1);
    }

    #[test]
    fn a_run_created_by_a_traced_caller_links_to_its_span() {
        let mut run = scheduled_run();
        let caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        run.metadata.annotations =
            Some([(CALLER_ANNOTATION.to_string(), caller.to_string())].into());
        let [.., second, done] = two_attempts();
        let spans = ended(&run, &second, &done);
        let slot = spans.last().expect("the slot's span");
        assert_eq!(
            slot.links,
            [(
                "4bf92f3577b34da6a3ce929d0e0e4736".to_string(),
                "00f067aa0ba902b7".to_string()
            )]
        );
        assert!(spans[0].links.is_empty(), "attempts link to nothing");
        // What the W3C allows, and what it does not.
        assert!(parse_traceparent(caller).is_some());
        assert!(
            parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x")
                .is_some()
        );
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert_eq!(parse_traceparent(bad), None, "{bad}");
        }
    }
}
