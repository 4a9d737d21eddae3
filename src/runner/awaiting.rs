//! Runs whose endpoint answered `202 Accepted` and reports later (docs/agent-calls.md): the
//! runner's side. The decision is `callback::decide` (pure); this applies it with the runner's
//! guarded status writes, so every runner replica and every restart decides the same.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use kube::ResourceExt;
use kube::runtime::controller::Action as Requeue;
use tracing::info;

use super::attempt::{record_outcome, write_status};
use super::controller::Context;
use super::outcome::{self, AttemptResult, Next, Outcome};
use crate::Result;
use crate::callback::{self, Awaiting, HEARTBEAT_ANNOTATION, REPORT_ANNOTATION, Reported};
use crate::resources::RunErrorCode;
use crate::resources::{ActionRun, ActionRunStatus, RunPhase};

/// The completion timeout of a run.
pub fn completion_timeout(run: &ActionRun) -> Duration {
    Duration::seconds(i64::from(
        run.spec
            .completion_timeout_seconds
            .unwrap_or(callback::DEFAULT_COMPLETION_TIMEOUT_SECONDS as i32),
    ))
}

/// The status once the endpoint answered 202 to the current attempt: still running, the attempt
/// open, the deadline set.
pub fn accepted(
    running: &ActionRunStatus,
    output: Option<String>,
    timeout: Duration,
    now: DateTime<Utc>,
) -> ActionRunStatus {
    let mut s = running.clone();
    s.status = RunPhase::Running;
    s.http_status = Some(202);
    s.output = output.clone();
    s.callback_deadline = Some(now + timeout);
    if let Some(last) = s.attempts.last_mut() {
        last.http_status = Some(202);
        last.output = output;
    }
    s
}

/// The attempt's outcome from the endpoint's report: `failed` is its final word (not retried).
pub fn reported(report: &callback::Report) -> Outcome {
    match report.status {
        Reported::Succeeded => Outcome {
            error: None,
            retryable: false,
            http_status: Some(202),
            message: None,
            output: report.output.clone(),
            retry_after: None,
        },
        Reported::Failed => Outcome {
            error: Some(RunErrorCode::ReportedFailure),
            retryable: false,
            http_status: Some(202),
            message: Some(
                report
                    .error_message
                    .clone()
                    .unwrap_or_else(|| "the endpoint reported failure".into()),
            ),
            output: report.output.clone(),
            retry_after: None,
        },
    }
}

/// The status after the awaited attempt ended with `o` (`jitter`: the backoff's random number),
/// with the notification a run that ended owes.
pub fn finish(
    run: &ActionRun,
    status: &ActionRunStatus,
    o: &Outcome,
    now: DateTime<Utc>,
    jitter: f64,
) -> ActionRunStatus {
    let next: Next = outcome::next(o, status.attempt, &run.spec, now, jitter);
    let mut s = outcome::finish_attempt(status, o, next, now);
    s.callback_deadline = None;
    s.notification = outcome::owed_notification(&run.spec, &s);
    s
}

/// Applies the decision for a run awaiting its endpoint's report; None when it awaits nothing.
pub(super) async fn reconcile(
    ctx: &Arc<Context>,
    run: &Arc<ActionRun>,
    now: DateTime<Utc>,
) -> Result<Option<Requeue>> {
    let Some(status) = run.status.clone() else {
        return Ok(None);
    };
    let timeout = completion_timeout(run);
    let report = callback::read(run.annotations().get(REPORT_ANNOTATION));
    let heartbeat = callback::read(run.annotations().get(HEARTBEAT_ANNOTATION));
    let Some(decision) = callback::decide(&status, report, heartbeat, timeout, now) else {
        return Ok(None);
    };
    let new = match decision {
        Awaiting::WaitUntil(at) => {
            let wait = (at - now).to_std().unwrap_or_default();
            return Ok(Some(Requeue::requeue(wait)));
        }
        Awaiting::Extend(at) => {
            let mut s = status.clone();
            s.callback_deadline = Some(at);
            write_status(ctx, run, &s).await?;
            return Ok(Some(Requeue::await_change()));
        }
        Awaiting::Report(r) => {
            info!(attempt = r.attempt, status = ?r.status, "the endpoint reported");
            finish(
                run,
                &status,
                &reported(&r),
                now,
                super::backoff::random_jitter(),
            )
        }
        Awaiting::TimedOut => {
            let mut o = outcome::classify(&AttemptResult::Timeout);
            o.http_status = Some(202);
            o.message = Some(format!(
                "no report within completionTimeoutSeconds ({}s) of 202 Accepted",
                timeout.num_seconds()
            ));
            info!(attempt = status.attempt, "no report by the deadline");
            finish(run, &status, &o, now, super::backoff::random_jitter())
        }
    };
    write_status(ctx, run, &new).await?;
    record_outcome(ctx, run, &new);
    Ok(Some(Requeue::await_change()))
}

/// Tells the endpoint of a cancelled 202 run: one `DELETE` to its URL with the run's headers and
/// `X-Punctual-Cancel: true`, best effort (once, not retried; the run is cancelled either way).
pub(super) fn notify_cancel(ctx: &Arc<Context>, run: &Arc<ActionRun>) {
    let (ctx, run) = (ctx.clone(), run.clone());
    tokio::spawn(async move {
        let Ok(mut target) = super::attempt::resolve(&ctx, &run).await else {
            return;
        };
        target.method = crate::resources::HttpMethod::Delete;
        target
            .headers
            .push((callback::CANCEL_HEADER.into(), "true".into()));
        let attempt = run.status.as_ref().map_or(1, |s| s.attempt.max(1));
        let execution_id =
            crate::runspec::execution_id(&run.uid().unwrap_or_default(), attempt as u32);
        let result = super::http::send(
            &ctx.http,
            &target,
            &run,
            attempt,
            &execution_id.to_string(),
            ctx.clock.now(),
            ctx.tracing.state.as_deref(),
        )
        .await;
        info!(?result, "told the endpoint of the cancelled 202 run");
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_or_a_timeout_ends_the_awaited_attempt() {
        let run: ActionRun = serde_json::from_value(serde_json::json!({
            "apiVersion": "punctual.dev/v1alpha1", "kind": "ActionRun",
            "metadata": {"name": "r", "namespace": "ws"},
            "spec": {"action": "a", "triggerType": "manual", "namespaceId": "n",
                     "endpoint": "e", "maxRetries": 1, "retryDelaySeconds": 5},
        }))
        .unwrap();
        let now: DateTime<Utc> = "2026-03-01T10:00:00Z".parse().unwrap();
        let started = outcome::start_attempt(&ActionRunStatus::default(), 1, "x", now, now);
        let waiting = accepted(
            &started,
            Some("working".into()),
            completion_timeout(&run),
            now,
        );
        assert_eq!(waiting.status, RunPhase::Running);
        assert_eq!(waiting.callback_deadline, Some(now + Duration::hours(1)));
        assert_eq!(waiting.attempts[0].completed_at, None);
        let later = now + Duration::minutes(5);
        let report = |status| callback::Report {
            attempt: 1,
            status,
            output: Some("done".into()),
            error_message: None,
            at: later,
        };
        let ok = finish(
            &run,
            &waiting,
            &reported(&report(Reported::Succeeded)),
            later,
            0.5,
        );
        assert_eq!(
            (ok.status, ok.callback_deadline),
            (RunPhase::Succeeded, None)
        );
        assert_eq!(ok.output.as_deref(), Some("done"));
        let failed = finish(
            &run,
            &waiting,
            &reported(&report(Reported::Failed)),
            later,
            0.5,
        );
        assert_eq!(
            failed.status,
            RunPhase::Failed,
            "a reported failure is final"
        );
        assert_eq!(failed.error_code, Some(RunErrorCode::ReportedFailure));
        // A timeout is retried like any timeout (maxRetries 1: a second attempt).
        let timed_out = finish(
            &run,
            &waiting,
            &outcome::classify(&AttemptResult::Timeout),
            later,
            0.5,
        );
        assert_eq!(timed_out.status, RunPhase::Pending);
        assert_eq!(
            timed_out.next_attempt_at,
            Some(later + Duration::seconds(5))
        );
        assert_eq!(
            timed_out.attempts[0].error_code,
            Some(RunErrorCode::Timeout)
        );
    }
}
