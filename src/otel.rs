//! OpenTelemetry export over OTLP/HTTP (docs/observability.md, "Traces"), on with
//! `--otlp-endpoint` or `OTEL_EXPORTER_OTLP_ENDPOINT`.
//!
//! Two kinds of spans leave through one batch processor and one exporter:
//! - a run's spans (its slot, each attempt), built from its status by `runner::trace::ended` with
//!   the ids its requests' `traceparent` carried, and handed over as finished span data: a run
//!   outlives the process that starts it, so they cannot be live spans;
//! - the facade's request spans, live `tracing` spans through the `tracing-opentelemetry`
//!   bridge, continuing the caller's trace when the request carries a `traceparent`.
//!
//! The exporter sends with the runner's HTTP stack (reqwest on the operator's tokio runtime); the
//! batch processor exports from a thread of its own, so a slow collector never holds up a run.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{
    Link, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId, TraceState,
    TracerProvider as _,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_http::{HttpClient, HttpError};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchSpanProcessor, SdkTracerProvider, SpanData, SpanEvents, SpanLinks, SpanProcessor,
};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// Where finished spans go (the OTLP exporter); best effort, never blocks.
pub trait SpanSink: Send + Sync {
    fn record(&self, spans: Vec<RunSpan>);
}

/// A span of a run, ended: everything an exporter needs, nothing it does not.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSpan {
    pub name: &'static str,
    /// 32 hex digits.
    pub trace_id: String,
    /// 16 hex digits.
    pub span_id: String,
    /// None for the root (slot) span.
    pub parent_span_id: Option<String>,
    /// An attempt is an HTTP client call; the slot is internal work.
    pub client: bool,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub attributes: Vec<(&'static str, Value)>,
    /// Spans this one links to: (trace id, span id).
    pub links: Vec<(String, String)>,
    /// Why it failed (the span's status is an error then). Never a secret: error messages are
    /// written without them.
    pub error: Option<String>,
}

/// An attribute's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
}

/// The `tracing` target of the facade's request spans: the only `tracing` spans exported (the
/// controllers' internal spans would be noise next to the run's own spans).
pub const FACADE_SPANS: &str = "punctual::facade";

/// How long one export request may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The OTLP/HTTP URL spans are posted to: the endpoint is a base URL, as
/// `OTEL_EXPORTER_OTLP_ENDPOINT` is, and `/v1/traces` is appended.
pub fn traces_url(endpoint: &str) -> anyhow::Result<String> {
    let url = reqwest::Url::parse(endpoint.trim())
        .with_context(|| format!("--otlp-endpoint {endpoint:?} is not a URL"))?;
    anyhow::ensure!(
        matches!(url.scheme(), "http" | "https") && url.host().is_some(),
        "--otlp-endpoint {endpoint:?} must be an http:// or https:// URL with a host"
    );
    Ok(format!("{}/v1/traces", url.as_str().trim_end_matches('/')))
}

/// A `--trace-state` value checked against the W3C grammar: at most 32 `key=value` members,
/// keys unique, values of printable ASCII without `,` or `=` and not ending in a space. (The
/// SDK's own parser checks keys but lets duplicates and odd values through.)
pub fn trace_state(value: &str) -> anyhow::Result<TraceState> {
    let bad = |why: &str| anyhow::anyhow!("--trace-state {value:?} is not a W3C tracestate: {why}");
    let members: Vec<&str> = value
        .split(',')
        .map(|m| m.trim_matches([' ', '\t']))
        .filter(|m| !m.is_empty())
        .collect();
    if members.is_empty() || members.len() > 32 {
        return Err(bad("it needs 1 to 32 key=value members"));
    }
    let mut keys = std::collections::BTreeSet::new();
    for member in &members {
        let Some((key, val)) = member.split_once('=') else {
            return Err(bad(&format!("{member:?} is not key=value")));
        };
        let printable = val
            .bytes()
            .all(|b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=');
        if val.is_empty() || val.len() > 256 || !printable || val.ends_with(' ') {
            return Err(bad(&format!("the value of {key:?} is not allowed")));
        }
        if !keys.insert(key) {
            return Err(bad(&format!("{key:?} appears twice")));
        }
    }
    members
        .join(",")
        .parse()
        .map_err(|e: <TraceState as std::str::FromStr>::Err| bad(&e.to_string()))
}

/// The exporter, its batch processor and the tracer provider of the `tracing` bridge.
pub struct Otel {
    provider: SdkTracerProvider,
    processor: Arc<BatchSpanProcessor>,
    scope: InstrumentationScope,
    state: TraceState,
}

impl Otel {
    /// Starts exporting to `endpoint` (a base URL). Needs a tokio runtime: the export requests
    /// run on it.
    pub fn start(endpoint: &str, state: Option<&str>) -> anyhow::Result<Self> {
        let url = traces_url(endpoint)?;
        let state = state.map(trace_state).transpose()?.unwrap_or_default();
        let runtime = tokio::runtime::Handle::try_current()
            .context("the OTLP exporter needs a tokio runtime")?;
        crate::install_crypto();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(EXPORT_TIMEOUT)
            .user_agent(concat!("punctual/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot build the HTTP client of the OTLP exporter")?;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(OnRuntime { client, runtime })
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(url)
            .with_timeout(EXPORT_TIMEOUT)
            .build()
            .context("cannot build the OTLP exporter")?;
        let resource = resource();
        let mut batch = BatchSpanProcessor::builder(exporter).build();
        batch.set_resource(&resource);
        let processor = Arc::new(batch);
        let provider = SdkTracerProvider::builder()
            .with_resource(resource)
            .with_span_processor(Shared(processor.clone()))
            .build();
        let scope = InstrumentationScope::builder("punctual")
            .with_version(env!("CARGO_PKG_VERSION"))
            .build();
        Ok(Self {
            provider,
            processor,
            scope,
            state,
        })
    }

    /// The `tracing` layer that exports the facade's request spans.
    pub fn layer<S>(&self) -> impl tracing_subscriber::Layer<S> + use<S>
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        use tracing_subscriber::Layer as _;
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer_with_scope(self.scope.clone()))
            .with_threads(false)
            .with_filter(tracing_subscriber::filter::filter_fn(|m| {
                m.target() == FACADE_SPANS || (m.is_event() && *m.level() <= tracing::Level::WARN)
            }))
    }

    /// Sends what is queued and stops (at process exit).
    pub fn shutdown(&self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!(error = %e, "the span exporter did not shut down cleanly");
        }
    }
}

impl SpanSink for Otel {
    fn record(&self, spans: Vec<RunSpan>) {
        for span in spans {
            if let Some(data) = span_data(span, &self.scope, &self.state) {
                self.processor.on_end(data);
            }
        }
    }
}

/// `service.name` is `punctual` unless `OTEL_SERVICE_NAME` says otherwise;
/// `OTEL_RESOURCE_ATTRIBUTES` is read as usual.
fn resource() -> Resource {
    let builder = Resource::builder();
    let builder = if std::env::var_os("OTEL_SERVICE_NAME").is_some() {
        builder
    } else {
        builder.with_service_name("punctual")
    };
    builder
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build()
}

/// A run's span as the SDK's finished span; None if its ids are not valid hex (they always are:
/// `runner::trace` makes them).
pub fn span_data(
    span: RunSpan,
    scope: &InstrumentationScope,
    state: &TraceState,
) -> Option<SpanData> {
    let trace_id = TraceId::from_hex(&span.trace_id).ok()?;
    let span_id = SpanId::from_hex(&span.span_id).ok()?;
    let parent_span_id = match &span.parent_span_id {
        Some(p) => SpanId::from_hex(p).ok()?,
        None => SpanId::INVALID,
    };
    let attributes = span
        .attributes
        .into_iter()
        .map(|(k, v)| match v {
            Value::Str(s) => KeyValue::new(k, s),
            Value::Int(i) => KeyValue::new(k, i),
        })
        .collect();
    Some(SpanData {
        span_context: SpanContext::new(
            trace_id,
            span_id,
            TraceFlags::SAMPLED,
            false,
            state.clone(),
        ),
        parent_span_id,
        parent_span_is_remote: false,
        span_kind: if span.client {
            SpanKind::Client
        } else {
            SpanKind::Internal
        },
        name: Cow::Borrowed(span.name),
        start_time: span.start.into(),
        end_time: span.end.into(),
        attributes,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: links(&span.links),
        status: match span.error {
            Some(message) => Status::error(message),
            None => Status::Unset,
        },
        instrumentation_scope: scope.clone(),
    })
}

/// The SDK's links to (trace id, span id) pairs (remote spans, sampled); invalid ones dropped.
fn links(pairs: &[(String, String)]) -> SpanLinks {
    let mut links = SpanLinks::default();
    links.links = pairs
        .iter()
        .filter_map(|(trace, span)| {
            let cx = SpanContext::new(
                TraceId::from_hex(trace).ok()?,
                SpanId::from_hex(span).ok()?,
                TraceFlags::SAMPLED,
                true,
                TraceState::default(),
            );
            Some(Link::with_context(cx))
        })
        .collect();
    links
}

/// Makes `span` (a facade request's) a child of the caller's span when the request carries a
/// valid `traceparent` (and its `tracestate`). Without an exporter this does nothing.
pub fn continue_trace(span: &tracing::Span, headers: &http::HeaderMap) {
    let cx = TraceContextPropagator::new().extract(&opentelemetry_http::HeaderExtractor(headers));
    if cx.span().span_context().is_valid() {
        // An error only means no exporter is installed.
        let _ = span.set_parent(cx);
    }
}

/// The batch processor, shared by the provider (the bridge's spans) and `Otel::record` (the
/// runs'). The resource is set on it before it is shared.
#[derive(Debug)]
struct Shared(Arc<BatchSpanProcessor>);

impl SpanProcessor for Shared {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &opentelemetry::Context) {
        self.0.on_start(span, cx);
    }
    fn on_end(&self, span: SpanData) {
        self.0.on_end(span);
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
}

/// The exporter's HTTP client: reqwest needs a tokio runtime, and the batch processor's thread
/// has none, so each request runs on the operator's runtime.
#[derive(Debug)]
struct OnRuntime {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for OnRuntime {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let exchange = async move {
            let (parts, body) = request.into_parts();
            let response = client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await?;
            let (status, headers) = (response.status(), response.headers().clone());
            let body = response.bytes().await?;
            let mut answer = http::Response::new(body);
            *answer.status_mut() = status;
            *answer.headers_mut() = headers;
            Ok::<_, reqwest::Error>(answer)
        };
        match self.runtime.spawn(exchange).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => Err(Box::new(e.without_url())),
            Err(e) => Err(Box::new(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_is_a_base_url() {
        for (given, url) in [
            ("http://collector:4318", "http://collector:4318/v1/traces"),
            ("http://collector:4318/", "http://collector:4318/v1/traces"),
            (
                "https://otel.example/base/",
                "https://otel.example/base/v1/traces",
            ),
        ] {
            assert_eq!(traces_url(given).ok().as_deref(), Some(url), "{given}");
        }
        for bad in ["collector:4318", "ftp://x", "not a url", ""] {
            assert!(traces_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_trace_state_follows_the_w3c_grammar() {
        assert!(trace_state("punctual=cluster-a,rojo=00f067aa0ba902b7").is_ok());
        for bad in ["no-equals", "Upper=1", "a=1,a=2", "k=a\tb", "k=a,b", ""] {
            assert!(trace_state(bad).is_err(), "{bad}");
        }
        let many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
        assert!(trace_state(&many.join(",")).is_err());
    }

    #[test]
    fn a_run_span_keeps_its_ids_times_and_status() {
        let start = "2026-12-01T09:00:00Z".parse().unwrap_or_default();
        let end = "2026-12-01T09:00:02Z".parse().unwrap_or_default();
        let span = RunSpan {
            name: "punctual.attempt",
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            span_id: "00f067aa0ba902b7".into(),
            parent_span_id: Some("00f067aa0ba902b8".into()),
            client: true,
            start,
            end,
            attributes: vec![("punctual.attempt", Value::Int(2))],
            links: vec![(
                "4bf92f3577b34da6a3ce929d0e0e4737".into(),
                "00f067aa0ba902b9".into(),
            )],
            error: Some("HTTP 503".into()),
        };
        let scope = InstrumentationScope::builder("punctual").build();
        let state = trace_state("punctual=a").unwrap_or_default();
        let data = span_data(span.clone(), &scope, &state).expect("valid ids");
        assert_eq!(
            data.span_context.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(data.span_context.span_id().to_string(), "00f067aa0ba902b7");
        assert_eq!(data.parent_span_id.to_string(), "00f067aa0ba902b8");
        assert_eq!(data.span_context.trace_state().header(), "punctual=a");
        assert_eq!(data.span_kind, SpanKind::Client);
        assert_eq!(data.start_time, std::time::SystemTime::from(start));
        assert_eq!(data.end_time, std::time::SystemTime::from(end));
        assert_eq!(data.status, Status::error("HTTP 503"));
        assert_eq!(data.attributes, vec![KeyValue::new("punctual.attempt", 2)]);
        let linked = &data.links.links[0].span_context;
        assert_eq!(
            (linked.trace_id().to_string(), linked.span_id().to_string()),
            (
                "4bf92f3577b34da6a3ce929d0e0e4737".into(),
                "00f067aa0ba902b9".into()
            )
        );
        let root = RunSpan {
            parent_span_id: None,
            error: None,
            ..span.clone()
        };
        let data = span_data(root, &scope, &state).expect("valid ids");
        assert_eq!(data.parent_span_id, SpanId::INVALID);
        assert_eq!(data.status, Status::Unset);
        let bad = RunSpan {
            span_id: "xyz".into(),
            ..span
        };
        assert!(span_data(bad, &scope, &state).is_none());
    }
}
