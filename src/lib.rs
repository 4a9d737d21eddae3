//! Punctual: scheduled and on-demand agent actions on Kubernetes.
//!
//! Layers, bottom to top (a module uses only modules below it):
//!
//! - `resources`: the custom resource types (the CRDs are generated from them); `time`: timestamp
//!   conversions; `metrics`, `otel`, `leader`: Prometheus metrics, OTLP span export, leader
//!   election; `callback`: the callback URLs and tokens of runs answered 202
//! - `telemetry`: logging, and the facade's spans through `otel`
//! - `cron`: the cron evaluator (Vixie cron semantics, timezones, DST)
//! - `runspec`: building an ActionRun from its Action (names, rendered templates)
//! - `cache`: the one watch cache per resource every controller and the facade share
//! - `scheduler`: the Action controller (`plan` decides slots, `counting` counts, `controller`
//!   applies); `runner`: the ActionRun controller that calls the endpoints
//! - `cli`: the `punctual trigger|runs|cancel|next` commands for people
//! - `rest`: the REST facade over the resources (its `ui` module: the dashboard and `/docs`)
//! - `operator`: the process wired together (health server, caches, facade, controllers)
#![forbid(unsafe_code)]

pub mod cache;
pub mod callback;
pub mod cli;
pub mod cron;
pub mod leader;
pub mod metrics;
pub mod operator;
pub mod otel;
pub mod resources;
pub mod rest;
pub mod runner;
pub mod runspec;
pub mod scheduler;
pub mod telemetry;
pub mod time;

use chrono::{DateTime, Utc};

/// Errors of the controller; each has a short stable label for metrics.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[source] kube::Error),
    #[error("leader election: {0}")]
    Lease(String),
}

impl Error {
    /// A short, stable name for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(e)) if e.code == 409 => "conflict",
            Error::Kube(_) => "kube",
            Error::Lease(_) => "lease",
        }
    }

    /// Whether another writer won a race (optimistic concurrency).
    pub fn is_conflict(&self) -> bool {
        self.label() == "conflict"
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Whether a failed API call may succeed if tried again: throttled (429), a server-side error, or
/// the connection failed. (A 409 is not: it means the state changed, and the decision with it.)
pub fn is_transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => matches!(s.code, 429 | 500 | 502 | 503 | 504),
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// The source of "now", passed in so that decisions can be tested at any instant.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// rustls needs a process-wide crypto provider before any TLS client is built (the endpoint
/// client, the OTLP exporter); ring is the one kube already uses. A second install (tests,
/// another client) is harmless.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
