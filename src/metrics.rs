//! Prometheus metrics, served at `/metrics`. Every metric and label is listed in
//! docs/observability.md; labels are bounded (a route template, a status, a namespace), never an
//! Action or run name. The chart's alerts and Grafana dashboard use them, and an end-to-end test
//! checks each of their queries against this output.

use prometheus_client::encoding::{EncodeLabelSet, text::encode};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The workspace (Kubernetes namespace) of an Action or run: bounded by the namespaces of the
/// cluster, unlike Action names.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NamespaceLabels {
    pub namespace: String,
}

/// A finished run's namespace and final status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NamespaceStatusLabels {
    pub namespace: String,
    pub status: String,
}

/// Buckets of the schedule lag: 5 ms .. ~80 s: on time is well under a second; a backlog shows
/// up in the top buckets.
const LAG_BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 80.0,
];

fn lag_histogram() -> Histogram {
    Histogram::new(LAG_BUCKETS)
}

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
    /// A scheduled run's first request sent minus the slot's nominal instant.
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
    /// Finished runs by namespace and final status.
    pub namespace_runs_finished: Family<NamespaceStatusLabels, Counter>,
    /// Slots missed and skipped, by namespace (each series from the namespace's first Action
    /// status write on, at 0 until a slot is missed or skipped).
    pub namespace_slots_missed: Family<NamespaceLabels, Counter>,
    pub namespace_slots_skipped: Family<NamespaceLabels, Counter>,
    /// The schedule lag by namespace.
    pub namespace_schedule_lag: Family<NamespaceLabels, Histogram, fn() -> Histogram>,
    /// Attempts holding one of the runner's request permits (resolving the endpoint or waiting
    /// for its answer), and the number of permits (`--max-concurrent-requests`).
    pub runner_requests_in_flight: Gauge,
    pub runner_max_concurrent_requests: Gauge,
    /// 1 while this process runs the controllers (it holds the Lease, or leader election is
    /// off), else 0.
    pub leader: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("punctual");
        let reconciles = Counter::default();
        let reconcile_errors = Family::<ErrorLabels, Counter>::default();
        let schedule_lag = lag_histogram();
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
        let namespace_runs_finished = Family::<NamespaceStatusLabels, Counter>::default();
        let namespace_slots_missed = Family::<NamespaceLabels, Counter>::default();
        let namespace_slots_skipped = Family::<NamespaceLabels, Counter>::default();
        let namespace_schedule_lag =
            Family::<NamespaceLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                lag_histogram,
            );
        let runner_requests_in_flight = Gauge::default();
        let runner_max_concurrent_requests = Gauge::default();
        let leader = Gauge::default();
        registry.register(
            "namespace_runs_finished",
            "ActionRuns that reached a final status, by namespace and status",
            namespace_runs_finished.clone(),
        );
        registry.register(
            "namespace_slots_missed",
            "Slots not started in time, by namespace",
            namespace_slots_missed.clone(),
        );
        registry.register(
            "namespace_slots_skipped",
            "Slots skipped by concurrencyPolicy Forbid, by namespace",
            namespace_slots_skipped.clone(),
        );
        registry.register(
            "namespace_schedule_lag_seconds",
            "Schedule lag (first request sent minus the slot's nominal instant), by namespace",
            namespace_schedule_lag.clone(),
        );
        registry.register(
            "runner_requests_in_flight",
            "HTTP requests to endpoints in flight",
            runner_requests_in_flight.clone(),
        );
        registry.register(
            "runner_max_concurrent_requests",
            "The cap on HTTP requests in flight (--max-concurrent-requests)",
            runner_max_concurrent_requests.clone(),
        );
        registry.register(
            "leader",
            "1 while this process runs the controllers (holds the Lease, or no leader election)",
            leader.clone(),
        );
        Self {
            registry,
            namespace_runs_finished,
            namespace_slots_missed,
            namespace_slots_skipped,
            namespace_schedule_lag,
            runner_requests_in_flight,
            runner_max_concurrent_requests,
            leader,
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

/// Counts a request in flight until dropped.
pub struct InFlight<'a>(&'a Gauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Metrics {
    /// A run reached a final status: by status and error code, and by namespace and status.
    pub fn run_finished(&self, namespace: &str, status: &str, error_code: &str) {
        self.run_outcomes
            .get_or_create(&OutcomeLabels {
                status: status.to_string(),
                error_code: error_code.to_string(),
            })
            .inc();
        self.namespace_runs_finished
            .get_or_create(&NamespaceStatusLabels {
                namespace: namespace.to_string(),
                status: status.to_string(),
            })
            .inc();
    }

    /// A scheduled run's first request went out `seconds` after its slot.
    pub fn slot_lag(&self, namespace: &str, seconds: f64) {
        self.schedule_lag.observe(seconds);
        self.namespace_schedule_lag
            .get_or_create(&NamespaceLabels {
                namespace: namespace.to_string(),
            })
            .observe(seconds);
    }

    /// Slots of an Action in `namespace` newly counted as missed and skipped.
    pub fn slots_not_run(&self, namespace: &str, missed: u64, skipped: u64) {
        let labels = NamespaceLabels {
            namespace: namespace.to_string(),
        };
        self.slots_missed.inc_by(missed);
        self.slots_skipped.inc_by(skipped);
        // Also at zero: the series exists from the namespace's first status write, so that an
        // alert's increase() sees the first miss.
        self.namespace_slots_missed
            .get_or_create(&labels)
            .inc_by(missed);
        self.namespace_slots_skipped
            .get_or_create(&labels)
            .inc_by(skipped);
    }

    /// An HTTP request to an endpoint started; it is counted until the guard is dropped.
    pub fn request_in_flight(&self) -> InFlight<'_> {
        self.runner_requests_in_flight.inc();
        InFlight(&self.runner_requests_in_flight)
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_metrics_carry_the_namespace_and_keep_the_totals() {
        let m = Metrics::default();
        m.run_finished("team-a", "failed", "http_error");
        m.run_finished("team-b", "succeeded", "none");
        m.slot_lag("team-a", 0.3);
        m.slots_not_run("team-a", 2, 0);
        {
            let _guard = m.request_in_flight();
            assert!(
                m.render()
                    .contains("punctual_runner_requests_in_flight 1\n")
            );
        }
        let text = m.render();
        for line in [
            r#"punctual_run_outcomes_total{status="failed",error_code="http_error"} 1"#,
            r#"punctual_namespace_runs_finished_total{namespace="team-a",status="failed"} 1"#,
            r#"punctual_namespace_runs_finished_total{namespace="team-b",status="succeeded"} 1"#,
            r#"punctual_namespace_schedule_lag_seconds_bucket{le="0.5",namespace="team-a"} 1"#,
            "punctual_schedule_lag_seconds_count 1",
            r#"punctual_namespace_slots_missed_total{namespace="team-a"} 2"#,
            "punctual_slots_missed_total 2",
            "punctual_runner_requests_in_flight 0",
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
        assert!(text.contains(r#"punctual_namespace_slots_skipped_total{namespace="team-a"} 0"#));
    }
}
