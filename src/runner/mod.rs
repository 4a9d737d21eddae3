//! The runner: executes pending ActionRuns against their endpoints, with retries, and keeps the
//! Action's run counters exact. See docs/runner.md.

mod attempt;
pub mod awaiting;
pub mod backoff;
pub mod controller;
pub mod flow;
pub mod http;
pub mod notify;
pub mod outcome;
pub mod signing;
pub mod target;
pub mod trace;
