//! Prometheus metrics, served at `/metrics`.

use prometheus_client::encoding::{EncodeLabelSet, text::encode};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Label for errors by their stable short name.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub error: String,
}

/// Label for runs by how they were triggered.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TriggerLabels {
    pub trigger: String,
}

/// Labels of a facade request: the route template, the method and the response status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub route: String,
    pub method: String,
    pub status: u16,
}

/// Labels of a finished run: its final status and error code (`none` when it succeeded).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub status: String,
    pub error_code: String,
}

/// Every metric the process exports.
pub struct Metrics {
    registry: Registry,
    pub reconciles: Counter,
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    /// Run creation time minus the slot's nominal instant.
    pub schedule_lag: Histogram,
    pub runs_created: Family<TriggerLabels, Counter>,
    pub slots_missed: Counter,
    pub slots_skipped: Counter,
    /// Facade requests by route and status.
    pub http_requests: Family<HttpLabels, Counter>,
    /// Facade request duration.
    pub http_duration: Histogram,
    /// Runs that reached a final status, by status and error code.
    pub run_outcomes: Family<OutcomeLabels, Counter>,
    /// Duration of each HTTP attempt, from sending to the end of the response (or failure).
    pub attempt_duration: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("punctual");
        let reconciles = Counter::default();
        let reconcile_errors = Family::<ErrorLabels, Counter>::default();
        // 5 ms .. ~80 s: on time is well under a second; a backlog shows up in the top buckets.
        let schedule_lag = Histogram::new([
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 80.0,
        ]);
        let runs_created = Family::<TriggerLabels, Counter>::default();
        let slots_missed = Counter::default();
        let slots_skipped = Counter::default();
        registry.register("reconciles", "Action reconciles", reconciles.clone());
        registry.register(
            "reconcile_errors",
            "Action reconciles that failed, by error",
            reconcile_errors.clone(),
        );
        registry.register(
            "schedule_lag_seconds",
            "Time a scheduled run's first request was sent minus the slot's nominal instant",
            schedule_lag.clone(),
        );
        registry.register("runs_created", "ActionRuns created", runs_created.clone());
        registry.register(
            "slots_missed",
            "Slots not started in time",
            slots_missed.clone(),
        );
        registry.register(
            "slots_skipped",
            "Slots skipped by concurrencyPolicy Forbid",
            slots_skipped.clone(),
        );
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_duration = Histogram::new([
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ]);
        registry.register(
            "http_requests",
            "REST facade requests by route, method and status",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "REST facade request duration",
            http_duration.clone(),
        );
        let run_outcomes = Family::<OutcomeLabels, Counter>::default();
        // 5 ms .. 1 h: agent calls range from instant to the longest allowed timeout.
        let attempt_duration = Histogram::new([
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
            900.0, 3600.0,
        ]);
        registry.register(
            "run_outcomes",
            "ActionRuns that reached a final status, by status and error code",
            run_outcomes.clone(),
        );
        registry.register(
            "attempt_duration_seconds",
            "Duration of each HTTP attempt to an endpoint",
            attempt_duration.clone(),
        );
        Self {
            registry,
            http_requests,
            http_duration,
            run_outcomes,
            attempt_duration,
            reconciles,
            reconcile_errors,
            schedule_lag,
            runs_created,
            slots_missed,
            slots_skipped,
        }
    }
}

impl Metrics {
    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
