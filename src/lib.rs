//! Punctual: scheduled and on-demand agent actions on Kubernetes.
//!
//! - `resources`: the custom resource types (the CRDs are generated from them)
//! - `schedule`: the cron evaluator (Vixie cron semantics, timezones, DST)
//! - `scheduler`: the Action controller that fires slots (`plan` decides, `controller` applies)
//! - `runs`: building an ActionRun from its Action
//! - `leader`: leader election on a coordination.k8s.io Lease
//! - `rest`: the REST view of the resources
//! - `metrics`, `telemetry`: Prometheus metrics and logging
#![forbid(unsafe_code)]

pub mod cache;
pub mod leader;
pub mod metrics;
pub mod resources;
pub mod rest;
pub mod runner;
pub mod runs;
pub mod schedule;
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
