use super::*;
use crate::resources::ConcurrencyPolicy;
use chrono::{DateTime, Utc};

fn t(s: &str) -> DateTime<Utc> {
    s.parse().expect("timestamp")
}

fn action(cron: Option<&str>, enabled: bool, created: &str) -> Action {
    let mut spec = json!({"app": "app-1", "endpoint": "agent", "namespaceId": "m",
                          "enabled": enabled, "timezone": "UTC"});
    if let Some(c) = cron {
        spec["cronExpression"] = json!(c);
    }
    serde_json::from_value(json!({
        "apiVersion": "punctual.dev/v1alpha1", "kind": "Action",
        "metadata": {"name": "a1", "namespace": "ws", "creationTimestamp": created},
        "spec": spec,
        "status": {"skippedRuns": 2, "missedRuns": 1, "totalRuns": 5, "successfulRuns": 3,
                   "failedRuns": 2, "upcoming": ["2026-12-01T10:05:00Z"],
                   "conditions": [{"type": "Ready", "status": "True", "reason": "Scheduled",
                                   "message": "", "lastTransitionTime": created}]},
    }))
    .expect("action")
}

fn run(name: &str, slot: Option<&str>, status: Value) -> Arc<ActionRun> {
    let trigger = if slot.is_some() {
        "scheduled"
    } else {
        "manual"
    };
    let mut spec = json!({"action": "a1", "triggerType": trigger, "namespaceId": "m",
                          "endpoint": "agent", "maxRetries": 0, "retryDelaySeconds": 1,
                          "resolvedPayload": {}});
    if let Some(s) = slot {
        spec["scheduledAt"] = json!(s);
    }
    Arc::new(
        serde_json::from_value(json!({
            "apiVersion": "punctual.dev/v1alpha1", "kind": "ActionRun",
            "metadata": {"name": name, "namespace": "ws",
                         "creationTimestamp": slot.unwrap_or("2026-12-01T09:59:00Z")},
            "spec": spec, "status": status,
        }))
        .expect("run"),
    )
}

use serde_json::{Value, json};

#[test]
fn marks_follow_status_and_error_code() {
    let cases = [
        (
            json!({"status": "succeeded", "attempt": 1}),
            Mark::Succeeded,
        ),
        (json!({"status": "failed", "attempt": 3}), Mark::Failed),
        (
            json!({"status": "cancelled", "errorCode": "skipped"}),
            Mark::Skipped,
        ),
        (
            json!({"status": "cancelled", "errorCode": "missed"}),
            Mark::Missed,
        ),
        (
            json!({"status": "cancelled", "errorCode": "cancelled"}),
            Mark::Cancelled,
        ),
        (json!({"status": "running", "attempt": 1}), Mark::Running),
        (json!({"status": "pending", "attempt": 1}), Mark::Running),
        (json!({"status": "pending", "attempt": 0}), Mark::Pending),
    ];
    for (status, want) in cases {
        let r = run("r", Some("2026-12-01T10:00:00Z"), status.clone());
        assert_eq!(mark_of(&r), want, "{status}");
    }
}

#[test]
fn percentiles_are_nearest_rank() {
    let p = percentiles((1..=100).map(f64::from).collect());
    assert_eq!(
        (p.samples, p.p50, p.p90, p.p99, p.max),
        (100, Some(50.0), Some(90.0), Some(99.0), Some(100.0))
    );
    let one = percentiles(vec![0.25]);
    assert_eq!((one.p50, one.p99), (Some(0.25), Some(0.25)));
    let none = percentiles(vec![]);
    assert_eq!((none.samples, none.p50, none.max), (0, None, None));
}

#[test]
fn integer_parameters_are_bounded() {
    let q = |v: &str| vec![("hours".to_string(), v.to_string())];
    assert_eq!(int_param(&[], "hours", TIMELINE_HOURS), Ok(24));
    assert_eq!(int_param(&q("168"), "hours", TIMELINE_HOURS), Ok(168));
    for (raw, kind) in [
        ("0", "greater_than_equal"),
        ("169", "less_than_equal"),
        ("x", "int_parsing"),
    ] {
        let errs = int_param(&q(raw), "hours", TIMELINE_HOURS).expect_err(raw);
        let body = serde_json::to_value(&errs[0]).expect("json");
        assert_eq!(body["type"], kind, "{raw}");
        assert_eq!(body["loc"], json!(["query", "hours"]));
    }
}

#[test]
fn the_timeline_marks_every_slot_of_the_schedule() {
    let a = action(Some("* * * * *"), true, "2026-12-01T09:55:30Z");
    let now = t("2026-12-01T10:00:30Z");
    let runs = vec![
        run(
            "ok",
            Some("2026-12-01T09:57:00Z"),
            json!({"status": "succeeded", "attempt": 1,
                   "startedAt": "2026-12-01T09:57:00.250Z", "completedAt": "2026-12-01T09:57:01.250Z",
                   "durationSeconds": 1.0,
                   "attempts": [{"number": 1, "executionId": "e", "startedAt": "2026-12-01T09:57:00.250Z"}]}),
        ),
        run(
            "bad",
            Some("2026-12-01T09:58:00Z"),
            json!({"status": "failed", "attempt": 2, "startedAt": "2026-12-01T09:58:01Z",
                   "completedAt": "2026-12-01T09:58:03Z"}),
        ),
        run(
            "skip",
            Some("2026-12-01T09:59:00Z"),
            json!({"status": "cancelled", "errorCode": "skipped"}),
        ),
        run(
            "man",
            None,
            json!({"status": "running", "attempt": 1, "triggeredAt": "2026-12-01T09:59:30Z",
                   "startedAt": "2026-12-01T09:59:30Z"}),
        ),
        // Staged ahead, not yet due: not in the past window.
        run(
            "future",
            Some("2026-12-01T10:01:00Z"),
            json!({"status": "pending"}),
        ),
    ];
    let tl = compute_timeline(&a, &runs, now, 24);
    let got: Vec<(&str, Mark, Option<&str>)> = tl
        .slots
        .iter()
        .map(|s| (s.at.as_str(), s.mark, s.run_id.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("2026-12-01T09:56:00Z", Mark::NotKept, None),
            ("2026-12-01T09:57:00Z", Mark::Succeeded, Some("ok")),
            ("2026-12-01T09:58:00Z", Mark::Failed, Some("bad")),
            ("2026-12-01T09:59:00Z", Mark::Skipped, Some("skip")),
            ("2026-12-01T09:59:30Z", Mark::Running, Some("man")),
            ("2026-12-01T10:00:00Z", Mark::NotKept, None),
        ]
    );
    assert!(!tl.truncated);
    assert_eq!(tl.marks["not_kept"], 2);
    let lags: Vec<(&str, Option<f64>, Option<f64>)> = tl
        .points
        .iter()
        .map(|p| (p.run_id.as_str(), p.lag_seconds, p.duration_seconds))
        .collect();
    assert_eq!(
        lags,
        vec![
            ("ok", Some(0.25), Some(1.0)),
            ("bad", Some(1.0), Some(2.0)),
            ("man", None, None)
        ]
    );
    assert_eq!((tl.counters.skipped_runs, tl.counters.missed_runs), (2, 1));
}

#[test]
fn a_disabled_or_manual_action_has_only_its_runs() {
    let now = t("2026-12-01T10:00:30Z");
    let runs = vec![run(
        "man",
        None,
        json!({"status": "succeeded", "triggeredAt": "2026-12-01T09:59:30Z"}),
    )];
    for a in [
        action(Some("* * * * *"), false, "2026-12-01T09:00:00Z"),
        action(None, true, "2026-12-01T09:00:00Z"),
    ] {
        let tl = compute_timeline(&a, &runs, now, 1);
        assert_eq!(tl.slots.len(), 1);
        assert_eq!(tl.slots[0].mark, Mark::Succeeded);
    }
}

#[test]
fn a_week_of_minutes_keeps_the_newest_slots() {
    let a = action(Some("* * * * *"), true, "2026-11-01T00:00:00Z");
    let now = t("2026-12-01T10:00:30Z");
    let tl = compute_timeline(&a, &[], now, 168);
    assert!(tl.truncated);
    assert_eq!(tl.slots.len(), MAX_SLOTS);
    assert_eq!(
        tl.slots.last().map(|s| s.at.as_str()),
        Some("2026-12-01T10:00:00Z")
    );
}

#[test]
fn the_overview_counts_finished_runs_per_minute() {
    let a = Arc::new(action(Some("* * * * *"), true, "2026-12-01T09:00:00Z"));
    let now = t("2026-12-01T10:00:30Z");
    let runs = vec![
        run(
            "ok",
            Some("2026-12-01T09:58:00Z"),
            json!({"status": "succeeded", "startedAt": "2026-12-01T09:58:00.5Z",
                   "completedAt": "2026-12-01T09:58:01Z"}),
        ),
        run(
            "bad",
            Some("2026-12-01T09:59:00Z"),
            json!({"status": "failed", "startedAt": "2026-12-01T09:59:02Z",
                   "completedAt": "2026-12-01T09:59:05Z"}),
        ),
        run(
            "skip",
            Some("2026-12-01T10:00:00Z"),
            json!({"status": "cancelled", "errorCode": "skipped",
                   "completedAt": "2026-12-01T10:00:00Z"}),
        ),
        run(
            "old",
            Some("2026-12-01T08:00:00Z"),
            json!({"status": "succeeded", "startedAt": "2026-12-01T08:00:00Z",
                   "completedAt": "2026-12-01T08:00:01Z"}),
        ),
    ];
    let o = compute_overview(&[a], &runs, now, 5);
    assert_eq!(
        o.finished,
        StatusCounts {
            succeeded: 1,
            failed: 1,
            cancelled: 0
        }
    );
    assert_eq!(o.failure_rate, Some(0.5));
    let minutes: Vec<(&str, u64, u64)> = o
        .runs_per_minute
        .iter()
        .map(|b| (b.minute.as_str(), b.finished, b.failed))
        .collect();
    assert_eq!(
        minutes,
        vec![
            ("2026-12-01T09:55:00Z", 0, 0),
            ("2026-12-01T09:56:00Z", 0, 0),
            ("2026-12-01T09:57:00Z", 0, 0),
            ("2026-12-01T09:58:00Z", 1, 0),
            ("2026-12-01T09:59:00Z", 1, 1),
            ("2026-12-01T10:00:00Z", 0, 0),
        ]
    );
    assert_eq!(o.lag_seconds.samples, 2);
    assert_eq!(o.lag_seconds.max, Some(2.0));
    assert_eq!(o.actions[0].ready, Some(true));
    assert_eq!(o.actions[0].skipped_runs, 2);
    assert_eq!(o.actions[0].upcoming, vec!["2026-12-01T10:05:00Z"]);
}

#[test]
fn under_forbid_a_slot_during_an_active_run_was_skipped() {
    let mut a = action(Some("* * * * *"), true, "2026-12-01T09:58:30Z");
    a.spec.concurrency_policy = ConcurrencyPolicy::Forbid;
    let now = t("2026-12-01T10:01:30Z");
    let runs = vec![run(
        "slow",
        Some("2026-12-01T09:59:00Z"),
        json!({"status": "succeeded", "startedAt": "2026-12-01T09:59:00Z",
               "completedAt": "2026-12-01T10:00:30Z"}),
    )];
    let marks = |a: &Action| -> Vec<Mark> {
        compute_timeline(a, &runs, now, 1)
            .slots
            .iter()
            .map(|s| s.mark)
            .collect()
    };
    assert_eq!(
        marks(&a),
        vec![Mark::Succeeded, Mark::Skipped, Mark::NotKept]
    );
    a.spec.concurrency_policy = ConcurrencyPolicy::Allow;
    assert_eq!(
        marks(&a),
        vec![Mark::Succeeded, Mark::NotKept, Mark::NotKept]
    );
}
