//! The runner: executes pending ActionRuns against their endpoints, with retries, and records
//! each attempt on the run (the Action controller counts finished runs). See docs/runner.md.

mod attempt;
pub mod awaiting;
pub mod backoff;
pub mod controller;
pub mod flow;
pub mod http;
mod in_flight;
pub mod notify;
pub mod outcome;
pub mod signing;
pub mod target;
pub mod trace;
