use chrono::TimeZone;

use super::*;
use crate::resources::TriggerType;

fn t(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
}

/// A manual run's spec with these retries (other modules' tests build on it).
pub(crate) fn spec(max_retries: i32, delay: i32) -> ActionRunSpec {
    ActionRunSpec {
        action: "a".into(),
        trigger_type: TriggerType::Manual,
        scheduled_at: None,
        resolved_payload: Default::default(),
        resolved_thread_id: None,
        resolve_error: None,
        variables: Default::default(),
        rerun_of: None,
        namespace_id: "n".into(),
        endpoint: "e".into(),
        max_retries,
        retry_delay_seconds: delay,
        retry_backoff: None,
        max_retry_delay_seconds: None,
        notifications: None,
        timeout_seconds: None,
        completion_timeout_seconds: None,
    }
}

fn response(status: u16) -> AttemptResult {
    AttemptResult::Response {
        status,
        body: "{}".into(),
        retry_after: None,
    }
}

#[test]
fn every_2xx_succeeds() {
    for status in [200, 201, 202, 204, 299] {
        let o = classify(&response(status));
        assert_eq!(o.error, None, "{status}");
        assert_eq!(o.http_status, Some(status));
    }
}

#[test]
fn retryable_failures_are_exactly_timeout_connection_5xx_408_429_and_interrupted() {
    let retryable = |r: AttemptResult| classify(&r).retryable;
    for status in [500, 502, 503, 504, 599, 408, 429] {
        assert!(retryable(response(status)), "{status}");
        assert_eq!(
            classify(&response(status)).error,
            Some(RunErrorCode::HttpError)
        );
    }
    for status in [300, 400, 401, 403, 404, 409, 422] {
        assert!(!retryable(response(status)), "{status}");
        assert_eq!(
            classify(&response(status)).error,
            Some(RunErrorCode::HttpError)
        );
    }
    assert!(retryable(AttemptResult::Timeout));
    assert_eq!(
        classify(&AttemptResult::Timeout).error,
        Some(RunErrorCode::Timeout)
    );
    assert!(retryable(AttemptResult::Connection("refused".into())));
    assert_eq!(
        classify(&AttemptResult::Connection("refused".into())).error,
        Some(RunErrorCode::ConnectionError)
    );
    assert!(retryable(AttemptResult::Interrupted));
    for code in [
        RunErrorCode::EndpointNotFound,
        RunErrorCode::SecretNotFound,
        RunErrorCode::TemplateError,
    ] {
        let o = classify(&AttemptResult::NotSent {
            code,
            message: "m".into(),
        });
        assert_eq!(o.error, Some(code));
        assert!(!o.retryable);
    }
}

#[test]
fn output_is_cut_at_4_kib_on_a_char_boundary() {
    let body = "é".repeat(3000); // 6000 bytes, 2 bytes per char
    let o = classify(&AttemptResult::Response {
        status: 200,
        body,
        retry_after: None,
    });
    let out = o.output.unwrap();
    assert_eq!(out.len(), 4096);
    let body = format!("a{}", "é".repeat(3000)); // boundary falls inside a char
    let out = truncate(&body, 4096);
    assert_eq!(out.len(), 4095);
    assert_eq!(truncate("short", 4096), "short");
}

#[test]
fn retries_while_attempts_remain_after_the_delay() {
    let fail = classify(&response(500));
    let s = spec(2, 7);
    assert_eq!(next(&fail, 1, &s, t(0), 0.5), Next::RetryAt(t(7)));
    assert_eq!(next(&fail, 2, &s, t(0), 0.5), Next::RetryAt(t(7)));
    assert_eq!(next(&fail, 3, &s, t(0), 0.5), Next::Fail);
    assert_eq!(next(&fail, 1, &spec(0, 7), t(0), 0.5), Next::Fail);
    assert_eq!(
        next(&classify(&response(404)), 1, &s, t(0), 0.5),
        Next::Fail
    );
    assert_eq!(
        next(&classify(&response(200)), 3, &s, t(0), 0.5),
        Next::Succeed
    );
    assert_eq!(next(&fail, 1, &spec(1, 0), t(0), 0.5), Next::RetryAt(t(0)));
}

#[test]
fn a_run_goes_pending_running_pending_running_succeeded() {
    let s = spec(2, 5);
    let st = start_attempt(&ActionRunStatus::default(), 1, "x1", t(-1), t(0));
    assert_eq!(st.status, RunPhase::Running);
    assert_eq!(
        (st.attempt, st.started_at, st.triggered_at),
        (1, Some(t(0)), Some(t(-1)))
    );
    let o = classify(&response(503));
    let st = finish_attempt(&st, &o, next(&o, 1, &s, t(2), 0.5), t(2));
    assert_eq!(st.status, RunPhase::Pending);
    assert_eq!(st.next_attempt_at, Some(t(7)));
    assert_eq!(st.error_code.map(|c| c.as_str()), Some("http_error"));
    assert_eq!(step(Some(&st), None, t(6)), Step::WaitUntil(t(7)));
    assert_eq!(step(Some(&st), None, t(7)), Step::Attempt(2));
    let st = start_attempt(&st, 2, "x2", t(-1), t(7));
    assert_eq!(st.next_attempt_at, None);
    let o = classify(&response(200));
    let st = finish_attempt(&st, &o, next(&o, 2, &s, t(8), 0.5), t(8));
    assert_eq!(st.status, RunPhase::Succeeded);
    assert_eq!(st.error_code, None);
    assert_eq!(st.execution_id.as_deref(), Some("x2"));
    assert_eq!(st.started_at, Some(t(0)));
    assert_eq!(st.duration_seconds, Some(8.0));
    let attempts: Vec<_> = st
        .attempts
        .iter()
        .map(|a| {
            (
                a.number,
                a.execution_id.as_str(),
                a.http_status,
                a.error_code.map(|c| c.as_str()),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        vec![
            (1, "x1", Some(503), Some("http_error")),
            (2, "x2", Some(200), None)
        ]
    );
    assert_eq!(step(Some(&st), None, t(9)), Step::Finished);
}

#[test]
fn a_run_found_running_was_interrupted_and_is_retried_if_attempts_remain() {
    let st = start_attempt(&ActionRunStatus::default(), 1, "x1", t(0), t(0));
    assert_eq!(step(Some(&st), None, t(30)), Step::Interrupted);
    let o = classify(&AttemptResult::Interrupted);
    let retried = finish_attempt(&st, &o, next(&o, 1, &spec(1, 1), t(30), 0.5), t(30));
    assert_eq!(retried.status, RunPhase::Pending);
    assert_eq!(
        retried.attempts[0].error_code.map(|c| c.as_str()),
        Some("interrupted")
    );
    let failed = finish_attempt(&st, &o, next(&o, 1, &spec(0, 1), t(30), 0.5), t(30));
    assert_eq!(failed.status, RunPhase::Failed);
    assert_eq!(failed.error_code.map(|c| c.as_str()), Some("interrupted"));
}

#[test]
fn new_runs_start_at_attempt_one_and_cancel_closes_the_open_attempt() {
    assert_eq!(step(None, None, t(0)), Step::Attempt(1));
    let st = start_attempt(&ActionRunStatus::default(), 1, "x1", t(0), t(0));
    let c = cancel(&st, "action deleted", t(4));
    assert_eq!(c.status, RunPhase::Cancelled);
    assert_eq!(c.error_code.map(|c| c.as_str()), Some("cancelled"));
    assert_eq!(
        c.attempts[0].error_code.map(|c| c.as_str()),
        Some("cancelled")
    );
    assert_eq!(step(Some(&c), None, t(5)), Step::Finished);
}

#[test]
fn a_staged_run_waits_for_its_slot_and_a_retry_does_not() {
    assert_eq!(step(None, Some(t(60)), t(0)), Step::WaitUntil(t(60)));
    assert_eq!(step(None, Some(t(60)), t(60)), Step::Attempt(1));
    // A retry of a scheduled run is timed by nextAttemptAt, not by the slot.
    let retrying = ActionRunStatus {
        attempt: 1,
        next_attempt_at: Some(t(5)),
        ..ActionRunStatus::default()
    };
    assert_eq!(step(Some(&retrying), Some(t(60)), t(6)), Step::Attempt(2));
}

fn gate_at(
    policy: ConcurrencyPolicy,
    active: &[(String, Option<String>)],
    run_generation: Option<i64>,
    now: DateTime<Utc>,
) -> Gate {
    gate(
        &GateInput {
            slot: t(0),
            run_generation,
            action_generation: Some(3),
            enabled: true,
            starting_deadline_seconds: 300,
            policy,
            active,
        },
        now,
    )
}

#[test]
fn the_gate_decides_concurrency_at_the_instant() {
    let busy = [("job-1".to_string(), Some("u1".to_string()))];
    let p = ConcurrencyPolicy::Allow;
    assert_eq!(gate_at(p, &busy, Some(3), t(0)), Gate::Send);
    let p = ConcurrencyPolicy::Forbid;
    assert_eq!(gate_at(p, &[], Some(3), t(0)), Gate::Send);
    assert_eq!(gate_at(p, &busy, Some(3), t(0)), Gate::Skip("job-1".into()));
    let p = ConcurrencyPolicy::Replace;
    assert_eq!(
        gate_at(p, &busy, Some(3), t(0)),
        Gate::Replace(busy.to_vec())
    );
}

#[test]
fn the_gate_never_sends_a_stale_or_late_run() {
    let p = ConcurrencyPolicy::Allow;
    assert_eq!(
        gate_at(p, &[], Some(2), t(0)),
        Gate::Stale,
        "built from generation 2"
    );
    assert_eq!(
        gate_at(p, &[], None, t(0)),
        Gate::Send,
        "no generation recorded"
    );
    assert_eq!(
        gate_at(p, &[], Some(3), t(300)),
        Gate::Send,
        "at the deadline"
    );
    assert_eq!(gate_at(p, &[], Some(3), t(301)), Gate::Miss);
    let disabled = gate(
        &GateInput {
            slot: t(0),
            run_generation: Some(3),
            action_generation: Some(3),
            enabled: false,
            starting_deadline_seconds: 300,
            policy: p,
            active: &[],
        },
        t(0),
    );
    assert_eq!(disabled, Gate::Stale);
}

#[test]
fn retry_after_of_a_429_or_503_and_the_backoff_set_the_next_attempt() {
    let with = |status, value: &str| AttemptResult::Response {
        status,
        body: String::new(),
        retry_after: Some(value.into()),
    };
    let mut s = spec(3, 60);
    s.max_retry_delay_seconds = Some(100);
    let at = |r: &AttemptResult, attempt, spec: &ActionRunSpec| {
        next(&classify(r), attempt, spec, t(0), 0.5)
    };
    assert_eq!(at(&with(429, "5"), 1, &s), Next::RetryAt(t(5)));
    assert_eq!(at(&with(503, "500"), 1, &s), Next::RetryAt(t(100)));
    // Not honoured on other statuses, and an unreadable value leaves the backoff.
    assert_eq!(at(&with(500, "5"), 1, &s), Next::RetryAt(t(60)));
    assert_eq!(at(&with(429, "soon"), 1, &s), Next::RetryAt(t(60)));
    // Exponential: attempt 3's retry waits half (jitter 0.5) of min(100, 10 × 4).
    s.retry_backoff = Some(crate::resources::RetryBackoff::Exponential);
    s.retry_delay_seconds = 10;
    assert_eq!(at(&response(500), 3, &s), Next::RetryAt(t(20)));
    assert_eq!(at(&response(500), 4, &s), Next::Fail);
}

#[test]
fn a_run_that_ended_owes_the_notification_named_for_its_outcome() {
    let mut s = spec(0, 1);
    let ended = |phase| ActionRunStatus {
        status: phase,
        ..ActionRunStatus::default()
    };
    assert_eq!(owed_notification(&s, &ended(RunPhase::Failed)), None);
    s.notifications = Some(crate::resources::Notifications {
        on_failure: Some("alerts".into()),
        on_success: None,
    });
    let owed = owed_notification(&s, &ended(RunPhase::Failed)).expect("owed");
    assert_eq!(
        (owed.endpoint.as_str(), owed.phase, owed.attempts),
        ("alerts", crate::resources::NotificationPhase::Pending, 0)
    );
    for phase in [
        RunPhase::Succeeded,
        RunPhase::Cancelled,
        RunPhase::Pending,
        RunPhase::Running,
    ] {
        assert_eq!(owed_notification(&s, &ended(phase)), None, "{phase:?}");
    }
    s.notifications = Some(crate::resources::Notifications {
        on_failure: None,
        on_success: Some("log".into()),
    });
    let owed = owed_notification(&s, &ended(RunPhase::Succeeded)).expect("owed");
    assert_eq!(owed.endpoint, "log");
    assert_eq!(owed_notification(&s, &ended(RunPhase::Failed)), None);
}

mod needs_runner {
    use super::super::needs_runner;
    use crate::resources::ActionRun;
    use serde_json::json;

    fn run_in(status: serde_json::Value, deleting: bool) -> ActionRun {
        let mut meta = json!({"name": "r", "namespace": "ops"});
        if deleting {
            meta["deletionTimestamp"] = json!("2027-01-15T08:00:00Z");
        }
        serde_json::from_value(json!({
            "metadata": meta,
            "spec": {"action": "daily", "triggerType": "scheduled", "namespaceId": "mem",
                     "endpoint": "e", "maxRetries": 0, "retryDelaySeconds": 1},
            "status": status,
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn only_runs_with_something_left_reach_the_runner() {
        assert!(needs_runner(&run_in(json!(null), false)), "new");
        assert!(needs_runner(&run_in(json!({"status": "pending"}), false)));
        assert!(needs_runner(&run_in(json!({"status": "running"}), false)));
        assert!(!needs_runner(&run_in(
            json!({"status": "succeeded"}),
            false
        )));
        assert!(!needs_runner(&run_in(
            json!({"status": "cancelled"}),
            false
        )));
        assert!(
            needs_runner(&run_in(json!({"status": "succeeded"}), true)),
            "deleting"
        );
        let pending = json!({"status": "failed",
                             "notification": {"endpoint": "alerts", "phase": "pending"}});
        assert!(
            needs_runner(&run_in(pending, false)),
            "notification to send"
        );
        let sent = json!({"status": "failed",
                          "notification": {"endpoint": "alerts", "phase": "delivered"}});
        assert!(!needs_runner(&run_in(sent, false)));
    }
}
