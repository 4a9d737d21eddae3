//! What an attempt's result means (pure): its error code, whether it may be retried, and what the
//! run's status becomes. The controller only performs the request and writes what this decides.

use chrono::{DateTime, Duration, Utc};
use kube::Resource;

use crate::resources::{
    ActionRun, ActionRunSpec, ActionRunStatus, Attempt, ConcurrencyPolicy, NotificationStatus,
    RunPhase,
};

/// Most of a response body kept in `status.output`.
pub const OUTPUT_LIMIT: usize = 4096;

use crate::resources::RunErrorCode;

/// What happened to one attempt, before any interpretation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptResult {
    /// A response came (any status), with its `Retry-After` header if it had one.
    Response {
        status: u16,
        body: String,
        retry_after: Option<String>,
    },
    /// No response within the timeout.
    Timeout,
    /// Could not connect, or the connection broke.
    Connection(String),
    /// The attempt never reached the endpoint (resolution or template failure).
    NotSent { code: RunErrorCode, message: String },
    /// The controller stopped while the attempt was in flight.
    Interrupted,
}

/// The classification of an attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// None when the attempt succeeded.
    pub error: Option<RunErrorCode>,
    pub retryable: bool,
    pub http_status: Option<u16>,
    pub message: Option<String>,
    pub output: Option<String>,
    /// The `Retry-After` of a 429 or 503 answer, as sent.
    pub retry_after: Option<String>,
}

/// Any 2xx succeeds (docs/runner.md); timeout, connection errors, 5xx, 408 and 429 may be retried (and so
/// may an interrupted attempt, as delivery is at-least-once); everything else fails at once.
pub fn classify(result: &AttemptResult) -> Outcome {
    match result {
        AttemptResult::Response {
            status,
            body,
            retry_after,
        } => {
            let ok = (200..300).contains(status);
            Outcome {
                error: (!ok).then_some(RunErrorCode::HttpError),
                retryable: !ok && (*status >= 500 || *status == 408 || *status == 429),
                http_status: Some(*status),
                message: (!ok).then(|| format!("endpoint answered HTTP {status}")),
                output: Some(truncate(body, OUTPUT_LIMIT).to_string()),
                retry_after: retry_after
                    .clone()
                    .filter(|_| super::backoff::honours_retry_after(*status)),
            }
        }
        AttemptResult::Timeout => failure(
            RunErrorCode::Timeout,
            true,
            "no response within the timeout",
        ),
        AttemptResult::Connection(msg) => failure(RunErrorCode::ConnectionError, true, msg),
        AttemptResult::Interrupted => failure(
            RunErrorCode::Interrupted,
            true,
            "the controller stopped while this attempt was in flight",
        ),
        AttemptResult::NotSent { code, message } => failure(*code, false, message),
    }
}

fn failure(code: RunErrorCode, retryable: bool, message: &str) -> Outcome {
    Outcome {
        error: Some(code),
        retryable,
        http_status: None,
        message: Some(message.to_string()),
        output: None,
        retry_after: None,
    }
}

/// The first `limit` bytes of `s`, cut back to a character boundary.
pub fn truncate(s: &str, limit: usize) -> &str {
    if s.len() <= limit {
        return s;
    }
    let mut end = limit;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// What follows an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    Succeed,
    Fail,
    RetryAt(DateTime<Utc>),
}

/// Retry while attempts remain (1 + maxRetries in all), at the attempt's end (`now`) plus the
/// delay of `backoff::delay`; `jitter` is its random number in [0, 1).
pub fn next(
    outcome: &Outcome,
    attempt: i32,
    spec: &ActionRunSpec,
    now: DateTime<Utc>,
    jitter: f64,
) -> Next {
    match outcome.error {
        None => Next::Succeed,
        Some(_) if outcome.retryable && attempt < 1 + spec.max_retries.max(0) => {
            let wish = outcome
                .retry_after
                .as_deref()
                .and_then(|v| super::backoff::parse_retry_after(v, now));
            let policy = super::backoff::Policy::of(spec);
            Next::RetryAt(now + super::backoff::delay(&policy, attempt, wish, jitter))
        }
        Some(_) => Next::Fail,
    }
}

/// The status to start attempt `number` with: `running`, a new attempts entry.
pub fn start_attempt(
    prev: &ActionRunStatus,
    number: i32,
    execution_id: &str,
    triggered_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> ActionRunStatus {
    let mut s = prev.clone();
    s.status = RunPhase::Running;
    s.attempt = number;
    s.triggered_at.get_or_insert(triggered_at);
    s.started_at.get_or_insert(now);
    s.execution_id = Some(execution_id.to_string());
    s.next_attempt_at = None;
    s.attempts.retain(|a| a.number != number);
    s.attempts.push(Attempt {
        number,
        execution_id: execution_id.to_string(),
        started_at: now,
        ..Attempt::default()
    });
    s
}

/// The status after the current attempt (the last entry of `attempts`) ended at `now`.
pub fn finish_attempt(
    prev: &ActionRunStatus,
    outcome: &Outcome,
    next: Next,
    now: DateTime<Utc>,
) -> ActionRunStatus {
    let mut s = prev.clone();
    if let Some(last) = s.attempts.last_mut() {
        last.completed_at = Some(now);
        last.http_status = outcome.http_status.map(i32::from);
        last.error_code = outcome.error;
        last.error_message = outcome.message.clone();
        last.output = outcome.output.clone();
    }
    s.http_status = outcome.http_status.map(i32::from);
    s.error_code = outcome.error;
    s.error_message = outcome.message.clone();
    s.output = outcome.output.clone();
    match next {
        Next::RetryAt(at) => {
            s.status = RunPhase::Pending;
            s.next_attempt_at = Some(at);
        }
        Next::Succeed | Next::Fail => {
            s.status = if next == Next::Succeed {
                RunPhase::Succeeded
            } else {
                RunPhase::Failed
            };
            s.next_attempt_at = None;
            s.completed_at = Some(now);
            let started = s.started_at.unwrap_or(now);
            s.duration_seconds = Some((now - started).num_milliseconds() as f64 / 1000.0);
        }
    }
    s
}

/// The notification a run that has just ended owes: `pending`, to the endpoint its
/// `notifications` name for the outcome (cancelled runs notify nobody).
pub fn owed_notification(
    spec: &ActionRunSpec,
    status: &ActionRunStatus,
) -> Option<NotificationStatus> {
    let wanted = spec.notifications.as_ref()?;
    let endpoint = match status.status {
        RunPhase::Succeeded => wanted.on_success.clone(),
        RunPhase::Failed => wanted.on_failure.clone(),
        _ => None,
    }?;
    Some(NotificationStatus {
        endpoint,
        ..NotificationStatus::default()
    })
}

/// The status of a run cancelled at `now`, whatever asked for it (the runner's one cancel path).
pub fn cancel(prev: &ActionRunStatus, reason: &str, now: DateTime<Utc>) -> ActionRunStatus {
    let mut s = prev.clone();
    if let Some(last) = s.attempts.last_mut().filter(|a| a.completed_at.is_none()) {
        last.completed_at = Some(now);
        last.error_code = Some(RunErrorCode::Cancelled);
        last.error_message = Some(reason.to_string());
    }
    s.status = RunPhase::Cancelled;
    s.error_code = Some(RunErrorCode::Cancelled);
    s.error_message = Some(reason.to_string());
    s.next_attempt_at = None;
    s.callback_deadline = None;
    s.completed_at = Some(now);
    if let Some(started) = s.started_at {
        s.duration_seconds = Some((now - started).num_milliseconds() as f64 / 1000.0);
    }
    s
}

/// The status of a scheduled run that does not start at its instant (skipped or missed): a
/// cancelled run carrying why, counted by the Action controller and then deleted.
pub fn not_started(
    prev: &ActionRunStatus,
    code: RunErrorCode,
    message: &str,
    now: DateTime<Utc>,
) -> ActionRunStatus {
    let mut s = prev.clone();
    s.status = RunPhase::Cancelled;
    s.error_code = Some(code);
    s.error_message = Some(message.to_string());
    s.next_attempt_at = None;
    s.completed_at = Some(now);
    s
}

/// What a scheduled run's Action looks like to the gate at the run's instant.
#[derive(Clone, Debug)]
pub struct GateInput<'a> {
    pub slot: DateTime<Utc>,
    /// The Action generation the run was built from, if recorded.
    pub run_generation: Option<i64>,
    pub action_generation: Option<i64>,
    pub enabled: bool,
    pub starting_deadline_seconds: i64,
    pub policy: ConcurrencyPolicy,
    /// The Action's other runs that are active now: (name, uid).
    pub active: &'a [(String, Option<String>)],
}

/// The decision at a scheduled run's instant, before its first attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Send it.
    Send,
    /// Built from an older spec (or the Action is disabled): never sent; the Action controller
    /// replaces or removes it. Look again shortly.
    Stale,
    /// Past the starting deadline.
    Miss,
    /// Forbid, and this run is still active.
    Skip(String),
    /// Replace: cancel these (name, uid), then send.
    Replace(Vec<(String, Option<String>)>),
}

/// Decides, at the instant, whether a staged (or late-created) scheduled run starts: the spec it
/// was built from must still be the Action's, the slot must be within its starting deadline, and
/// `concurrencyPolicy` decides against the runs active at this very moment.
pub fn gate(g: &GateInput, now: DateTime<Utc>) -> Gate {
    let stale = g.run_generation.is_some() && g.run_generation != g.action_generation;
    if stale || !g.enabled {
        return Gate::Stale;
    }
    if now - g.slot > Duration::seconds(g.starting_deadline_seconds.max(1)) {
        return Gate::Miss;
    }
    match (g.policy, g.active.first()) {
        (_, None) | (ConcurrencyPolicy::Allow, _) => Gate::Send,
        (ConcurrencyPolicy::Forbid, Some((name, _))) => Gate::Skip(name.clone()),
        (ConcurrencyPolicy::Replace, Some(_)) => Gate::Replace(g.active.to_vec()),
    }
}

/// What the controller should do with a run it sees (pure).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Start attempt `n` now.
    Attempt(i32),
    /// Wait until this instant, then look again.
    WaitUntil(DateTime<Utc>),
    /// Found `running` with no request in flight here: the attempt was interrupted.
    Interrupted,
    /// Finished: count it and clean up history.
    Finished,
}

/// The decision for a run that is not in flight in this process. A run staged ahead of its slot
/// (`scheduled_at` in the future, no attempt yet) waits for the slot.
pub fn step(
    status: Option<&ActionRunStatus>,
    scheduled_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Step {
    let not_begun = status.is_none_or(|s| s.status == RunPhase::Pending && s.attempt == 0);
    if let (true, Some(slot)) = (not_begun, scheduled_at.filter(|s| *s > now)) {
        return Step::WaitUntil(slot);
    }
    let Some(s) = status else {
        return Step::Attempt(1);
    };
    match s.status {
        RunPhase::Pending => match s.next_attempt_at {
            Some(at) if at > now => Step::WaitUntil(at),
            _ => Step::Attempt(s.attempt.max(0) + 1),
        },
        RunPhase::Running => Step::Interrupted,
        RunPhase::Succeeded | RunPhase::Failed | RunPhase::Cancelled => Step::Finished,
    }
}

/// Whether a run has anything left for the runner: it is active, or finished with its
/// notification still to send, or being deleted (an attempt in flight is aborted).
pub fn needs_runner(run: &ActionRun) -> bool {
    run.meta().deletion_timestamp.is_some()
        || run.status.as_ref().is_none_or(|s| s.status.is_active())
        || super::notify::due(run)
}

#[cfg(test)]
pub(crate) mod tests;
