//! The runner: executes pending ActionRuns against their endpoints, with retries, and keeps the
//! Action's run counters exact. See docs/runner.md.

mod attempt;
pub mod awaiting;
pub mod controller;
pub mod http;
pub mod outcome;
pub mod target;
