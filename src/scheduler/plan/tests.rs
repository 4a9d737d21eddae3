//! The plan's tests, each a slot story told with an injected clock: arming and firing, downtime
//! and deadlines, policies, enabled and edits, one-time and manual, conditions, staging and its
//! gate. One file of about 900 lines because every story shares the fixtures at the top.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use crate::time::to_time;
use serde_json::{Value, json};

use super::*;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn action(spec: Value, status: Value) -> Action {
    let mut full = json!({
        "app": "a", "endpoint": "agent", "namespaceId": "n", "threadMode": "new_each_run",
        "payload": {}, "actionType": "trigger", "timezone": "UTC", "maxRetries": 0,
        "retryDelaySeconds": 60, "enabled": true, "concurrencyPolicy": "Allow",
        "startingDeadlineSeconds": 300, "successfulRunsHistoryLimit": 10,
        "failedRunsHistoryLimit": 10,
    });
    for (k, v) in spec.as_object().unwrap() {
        full[k] = v.clone();
    }
    serde_json::from_value(json!({
        "apiVersion": "punctual.dev/v1alpha1", "kind": "Action",
        "metadata": {"name": "job", "namespace": "ns", "generation": 1,
                     "creationTimestamp": "2026-03-01T00:00:00Z"},
        "spec": full, "status": status,
    }))
    .unwrap()
}

fn cron(expr: &str) -> Value {
    json!({"cronExpression": expr})
}

/// The Action after `plan`'s status was written, as the next reconcile sees it.
fn with_status(mut a: Action, status: &ActionStatus) -> Action {
    a.status = Some(status.clone());
    a
}

fn run(name: &str, phase: RunPhase, slot: Option<&str>, at: &str) -> RunInfo {
    RunInfo {
        name: name.into(),
        phase,
        scheduled_at: slot.map(t),
        triggered_at: t(at),
        attempt: i32::from(phase != RunPhase::Pending),
        completed_at: (!phase.is_active()).then(|| t(at)),
        ..RunInfo::default()
    }
}

fn condition<'a>(p: &'a Plan, type_: &str) -> &'a Condition {
    p.status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap()
}

#[test]
fn a_new_cron_action_arms_the_next_slot_and_fires_nothing() {
    let p = plan(
        &action(cron("*/15 * * * *"), Value::Null),
        &[],
        true,
        t("2026-03-02T10:07:30Z"),
    );
    assert_eq!(p.create, None);
    assert_eq!(p.status.next_run_at, Some(t("2026-03-02T10:15:00Z")));
    assert_eq!(p.requeue_at, p.status.next_run_at);
    assert_eq!(
        p.status.upcoming,
        ["10:15", "10:30", "10:45", "11:00", "11:15"].map(|hm| t(&format!("2026-03-02T{hm}:00Z")))
    );
    assert_eq!(p.status.last_schedule_time, None);
    assert_eq!(condition(&p, "Ready").status, "True");
    assert!(p.events.is_empty());
}

#[test]
fn the_armed_slot_fires_once_when_due() {
    let a = action(cron("*/15 * * * *"), Value::Null);
    let armed = plan(&a, &[], true, t("2026-03-02T10:07:30Z"));
    let a = with_status(a, &armed.status);
    let due = plan(&a, &[], true, t("2026-03-02T10:15:00.300Z"));
    assert_eq!(due.create, Some(t("2026-03-02T10:15:00Z")));
    assert_eq!(
        due.status.last_schedule_time,
        Some(t("2026-03-02T10:15:00Z"))
    );
    assert_eq!(due.status.next_run_at, Some(t("2026-03-02T10:30:00Z")));
    assert_eq!(due.status.missed_runs, 0);
    // The run now exists and the status was written: nothing more to do.
    let a = with_status(a, &due.status);
    let created = [run(
        "job-1772446500",
        RunPhase::Pending,
        Some("2026-03-02T10:15:00Z"),
        "2026-03-02T10:15:00Z",
    )];
    let again = plan(&a, &created, true, t("2026-03-02T10:15:01Z"));
    assert_eq!(again.create, None);
    // Not started yet, so not active: nothing to write until it has an outcome.
    assert!(again.status.active_runs.is_empty());
    assert!(!again.write);
}

#[test]
fn early_timer_wakeups_do_not_fire() {
    let a = action(
        cron("0 * * * *"),
        json!({"observedGeneration": 1, "nextRunAt": "2026-03-02T11:00:00Z"}),
    );
    let p = plan(&a, &[], true, t("2026-03-02T10:59:59.990Z"));
    assert_eq!(p.create, None);
    assert_eq!(p.requeue_at, Some(t("2026-03-02T11:00:00Z")));
}

#[test]
fn a_crash_between_creating_the_run_and_writing_status_neither_doubles_nor_counts_a_miss() {
    let a = action(
        cron("* * * * *"),
        json!({"observedGeneration": 1, "nextRunAt": "2026-03-02T10:00:00Z"}),
    );
    let existing = [run(
        "job-1772445600",
        RunPhase::Running,
        Some("2026-03-02T10:00:00Z"),
        "2026-03-02T10:00:00Z",
    )];
    let p = plan(&a, &existing, true, t("2026-03-02T10:00:20Z"));
    assert_eq!(p.create, None);
    assert_eq!(p.status.missed_runs, 0);
    assert_eq!(p.status.last_schedule_time, Some(t("2026-03-02T10:00:00Z")));
    assert_eq!(p.status.next_run_at, Some(t("2026-03-02T10:01:00Z")));
}

#[test]
fn after_downtime_only_the_latest_slot_starts_and_the_rest_are_missed_with_one_event() {
    let a = action(
        cron("* * * * *"),
        json!({"observedGeneration": 1, "nextRunAt": "2026-03-02T10:00:00Z", "missedRuns": 2}),
    );
    let p = plan(&a, &[], true, t("2026-03-02T10:05:10Z"));
    assert_eq!(p.create, Some(t("2026-03-02T10:05:00Z")));
    assert_eq!(p.status.missed_runs, 2 + 5);
    assert_eq!(p.status.next_run_at, Some(t("2026-03-02T10:06:00Z")));
    let warnings: Vec<_> = p
        .events
        .iter()
        .filter(|e| e.reason == "MissedSlots")
        .collect();
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].warning && warnings[0].message.starts_with("5 slot(s)"),
        "{:?}",
        warnings[0]
    );
}

#[test]
fn a_slot_past_the_starting_deadline_is_missed_not_started() {
    let a = action(
        cron("0 * * * *"),
        json!({"observedGeneration": 1, "nextRunAt": "2026-03-02T10:00:00Z"}),
    );
    let p = plan(&a, &[], true, t("2026-03-02T10:05:01Z"));
    assert_eq!(p.create, None);
    assert_eq!(p.status.missed_runs, 1);
    assert_eq!(p.status.last_schedule_time, Some(t("2026-03-02T10:00:00Z")));
    assert_eq!(p.status.next_run_at, Some(t("2026-03-02T11:00:00Z")));
    // Exactly at the deadline it still starts.
    let p = plan(&a, &[], true, t("2026-03-02T10:05:00Z"));
    assert_eq!(p.create, Some(t("2026-03-02T10:00:00Z")));
}

#[test]
fn slots_whose_runs_exist_are_not_counted_as_missed() {
    let a = action(
        cron("* * * * *"),
        json!({"observedGeneration": 1, "nextRunAt": "2026-03-02T10:00:00Z"}),
    );
    let existing = [run(
        "job-1772445600",
        RunPhase::Succeeded,
        Some("2026-03-02T10:00:00Z"),
        "2026-03-02T10:00:00Z",
    )];
    let p = plan(&a, &existing, true, t("2026-03-02T10:03:05Z"));
    assert_eq!(p.create, Some(t("2026-03-02T10:03:00Z")));
    assert_eq!(p.status.missed_runs, 2, "10:01 and 10:02");
}

#[test]
fn every_policy_gets_its_run_and_the_runner_decides_at_the_instant() {
    for policy in ["Allow", "Forbid", "Replace"] {
        let a = action(
            json!({"cronExpression": "* * * * *", "concurrencyPolicy": policy}),
            json!({"observedGeneration": 1, "nextRunAt": "2026-03-02T10:01:00Z"}),
        );
        let active = [run(
            "job-1772445600",
            RunPhase::Running,
            Some("2026-03-02T10:00:00Z"),
            "2026-03-02T10:00:00Z",
        )];
        let p = plan(&a, &active, true, t("2026-03-02T10:01:00.2Z"));
        assert_eq!(p.create, Some(t("2026-03-02T10:01:00Z")), "{policy}");
        assert_eq!(p.status.active_runs, ["job-1772445600"], "{policy}");
    }
}

#[test]
fn a_slot_skipped_at_its_instant_is_counted_once_with_an_event() {
    let a = action(
        json!({"cronExpression": "* * * * *", "concurrencyPolicy": "Forbid"}),
        json!({"observedGeneration": 1, "nextRunAt": "2026-03-02T10:02:00Z",
               "lastScheduleTime": "2026-03-02T10:01:00Z"}),
    );
    let mut skipped = run(
        "job-1772445660",
        RunPhase::Cancelled,
        Some("2026-03-02T10:01:00Z"),
        "2026-03-02T10:01:00Z",
    );
    skipped.error_code = Some(crate::resources::RunErrorCode::Skipped);
    let p = plan(&a, &[skipped.clone()], true, t("2026-03-02T10:01:00.3Z"));
    assert_eq!(p.status.skipped_runs, 1);
    assert_eq!(p.status.total_runs, 0, "a skipped slot is not a run");
    assert_eq!(p.status.counted_runs, ["job-1772445660"]);
    assert!(p.write);
    assert!(
        p.events
            .iter()
            .any(|e| e.reason == "SlotSkipped" && !e.warning)
    );
    assert_eq!(
        p.status.last_run_name, None,
        "bookkeeping is not the last run"
    );
    let again = plan(
        &with_status(a, &p.status),
        &[skipped],
        true,
        t("2026-03-02T10:01:01Z"),
    );
    assert_eq!(again.status.skipped_runs, 1);
    assert!(!again.write);
}

#[test]
fn disabled_fires_nothing_and_reenabling_does_not_burst() {
    let a = action(
        json!({"cronExpression": "* * * * *", "enabled": false}),
        json!({"observedGeneration": 1, "nextRunAt": "2026-03-02T10:00:00Z", "lastScheduleTime": "2026-03-02T09:59:00Z"}),
    );
    let p = plan(&a, &[], true, t("2026-03-02T10:30:00Z"));
    assert_eq!(p.create, None);
    assert_eq!(p.status.next_run_at, None);
    assert!(p.status.upcoming.is_empty());
    assert_eq!(p.status.missed_runs, 0, "paused slots are not missed");
    assert_eq!(condition(&p, "Suspended").status, "True");

    let mut enabled = with_status(a, &p.status);
    enabled.spec.enabled = true;
    enabled.metadata.generation = Some(2);
    let p = plan(&enabled, &[], true, t("2026-03-02T11:00:30Z"));
    assert_eq!(p.create, None, "no burst on re-enable");
    assert_eq!(p.status.missed_runs, 0);
    assert_eq!(p.status.next_run_at, Some(t("2026-03-02T11:01:00Z")));
    assert_eq!(condition(&p, "Suspended").status, "False");
    assert_eq!(p.status.observed_generation, Some(2));
}

#[test]
fn editing_the_schedule_recomputes_from_now_without_firing() {
    let a = action(
        cron("*/5 * * * *"),
        json!({"observedGeneration": 1, "nextRunAt": "2026-03-02T10:05:00Z"}),
    );
    let mut edited = a.clone();
    edited.spec.cron_expression = Some("*/10 * * * *".into());
    edited.metadata.generation = Some(2);
    let p = plan(&edited, &[], true, t("2026-03-02T10:06:00Z"));
    assert_eq!(p.create, None, "10:05 is not a slot of the new schedule");
    assert_eq!(p.status.next_run_at, Some(t("2026-03-02T10:10:00Z")));
    assert_eq!(p.status.missed_runs, 0);
}

#[test]
fn editing_something_else_keeps_the_armed_slot() {
    let a = action(
        cron("*/5 * * * *"),
        json!({"observedGeneration": 1, "nextRunAt": "2026-03-02T10:05:00Z"}),
    );
    let mut edited = a.clone();
    edited.spec.description = Some("new words".into());
    edited.metadata.generation = Some(2);
    let p = plan(&edited, &[], true, t("2026-03-02T10:05:00.5Z"));
    assert_eq!(p.create, Some(t("2026-03-02T10:05:00Z")));
}

#[test]
fn one_time_fires_once() {
    let a = action(json!({"scheduledAt": "2026-03-02T12:00:00Z"}), Value::Null);
    let p = plan(&a, &[], true, t("2026-03-02T10:00:00Z"));
    assert_eq!(p.status.next_run_at, Some(t("2026-03-02T12:00:00Z")));
    assert_eq!(p.status.upcoming, [t("2026-03-02T12:00:00Z")]);
    let a = with_status(a, &p.status);
    let p = plan(&a, &[], true, t("2026-03-02T12:00:00.4Z"));
    assert_eq!(p.create, Some(t("2026-03-02T12:00:00Z")));
    assert_eq!(p.status.next_run_at, None);
    let a = with_status(a, &p.status);
    let later = plan(&a, &[], true, t("2026-03-03T12:00:00Z"));
    assert_eq!(later.create, None);
    assert_eq!(later.status.next_run_at, None);
    // Even if the status write was lost, the existing run stops a second firing.
    let mut lost = a.clone();
    lost.status = None;
    let existing = [run(
        "job-1772452800",
        RunPhase::Succeeded,
        Some("2026-03-02T12:00:00Z"),
        "2026-03-02T12:00:00Z",
    )];
    assert_eq!(
        plan(&lost, &existing, true, t("2026-03-02T12:01:00Z")).create,
        None
    );
}

#[test]
fn one_time_in_the_past_beyond_the_deadline_is_missed() {
    let a = action(json!({"scheduledAt": "2026-03-01T12:00:00Z"}), Value::Null);
    let p = plan(&a, &[], true, t("2026-03-02T10:00:00Z"));
    assert_eq!(p.create, None);
    assert_eq!(p.status.missed_runs, 1);
    assert_eq!(p.status.next_run_at, None);
    let a = with_status(a, &p.status);
    assert_eq!(
        plan(&a, &[], true, t("2026-03-02T10:01:00Z"))
            .status
            .missed_runs,
        1,
        "counted once"
    );
}

#[test]
fn manual_never_fires() {
    let a = action(
        json!({"scheduleType": "manual", "cronExpression": "* * * * *"}),
        Value::Null,
    );
    let p = plan(&a, &[], true, t("2026-03-02T10:00:00Z"));
    assert_eq!(
        (p.create, p.status.next_run_at, p.requeue_at),
        (None, None, None)
    );
    assert_eq!(condition(&p, "Ready").status, "True");
}

#[test]
fn an_invalid_cron_expression_is_reported_once() {
    let a = action(cron("61 * * * *"), Value::Null);
    let p = plan(&a, &[], true, t("2026-03-02T10:00:00Z"));
    let c = condition(&p, "ScheduleValid");
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "InvalidSchedule")
    );
    assert_eq!(condition(&p, "Ready").reason, "InvalidSchedule");
    assert_eq!(p.status.next_run_at, None);
    assert_eq!(p.events.len(), 1);
    assert!(p.events[0].warning && p.events[0].reason == "InvalidSchedule");
    let again = plan(
        &with_status(a, &p.status),
        &[],
        true,
        t("2026-03-02T10:01:00Z"),
    );
    assert!(again.events.is_empty(), "events only on transitions");
    assert_eq!(
        again.status, p.status,
        "nothing changed, so no status write"
    );
}

#[test]
fn an_unknown_timezone_is_reported() {
    let a = action(
        json!({"cronExpression": "0 9 * * *", "timezone": "Mars/Olympus"}),
        Value::Null,
    );
    let p = plan(&a, &[], true, t("2026-03-02T10:00:00Z"));
    assert_eq!(condition(&p, "ScheduleValid").reason, "InvalidTimezone");
    assert!(p.events.iter().any(|e| e.reason == "InvalidTimezone"));
}

#[test]
fn every_problem_of_an_action_is_reported_at_once() {
    let a = action(
        json!({"cronExpression": "61 * * * *", "timezone": "Mars/Olympus",
               "threadMode": "template", "threadIdTemplate": "t-{{ nope }}",
               "payload": {"text": "{{ date | no_such_filter }}", "ok": "{{ date }}"}}),
        Value::Null,
    );
    let p = plan(&a, &[], false, t("2026-03-02T10:00:00Z"));
    let ready = condition(&p, "Ready");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "InvalidTimezone")
    );
    for part in [
        "timezone \"Mars/Olympus\"",
        "cronExpression \"61 * * * *\"",
        "threadIdTemplate: undefined variable `nope`",
        "payload.text:",
        "ActionEndpoint \"agent\" not found",
    ] {
        assert!(ready.message.contains(part), "{part} in {}", ready.message);
    }
    let templates = condition(&p, "TemplatesValid");
    assert_eq!(
        (templates.status.as_str(), templates.reason.as_str()),
        ("False", "InvalidTemplate")
    );
    assert_eq!(
        p.events
            .iter()
            .filter(|e| e.reason == "InvalidTemplate" && e.warning)
            .count(),
        1
    );
    // Nothing changed: no new Event. Fixed: an Event saying so, and Ready names what is left.
    let again = plan(
        &with_status(a.clone(), &p.status),
        &[],
        false,
        t("2026-03-02T10:01:00Z"),
    );
    assert!(again.events.iter().all(|e| e.reason != "InvalidTemplate"));
    let mut fixed = with_status(a, &p.status);
    fixed.spec.thread_id_template = Some("t-{{ date }}".into());
    fixed.spec.payload = serde_json::from_value(json!({"text": "{{ date }}"})).unwrap();
    let fixed = plan(&fixed, &[], false, t("2026-03-02T10:02:00Z"));
    assert_eq!(condition(&fixed, "TemplatesValid").status, "True");
    assert!(
        fixed
            .events
            .iter()
            .any(|e| e.reason == "TemplatesValid" && !e.warning)
    );
    assert!(!condition(&fixed, "Ready").message.contains("Template"));
}

#[test]
fn a_valid_action_has_valid_templates() {
    let a = action(
        json!({"cronExpression": "0 9 * * *", "payload": {"t": "{{ thread_id }} {{ date }}"}}),
        Value::Null,
    );
    let p = plan(&a, &[], true, t("2026-03-02T10:00:00Z"));
    assert_eq!(condition(&p, "TemplatesValid").status, "True");
    assert_eq!(condition(&p, "Ready").status, "True");
}

#[test]
fn a_missing_endpoint_is_reported_but_the_schedule_keeps_time() {
    let a = action(cron("0 * * * *"), Value::Null);
    let p = plan(&a, &[], false, t("2026-03-02T10:00:30Z"));
    assert_eq!(condition(&p, "EndpointResolved").reason, "EndpointNotFound");
    assert_eq!(condition(&p, "Ready").status, "False");
    assert_eq!(p.status.next_run_at, Some(t("2026-03-02T11:00:00Z")));
    assert!(
        p.events
            .iter()
            .any(|e| e.reason == "EndpointNotFound" && e.warning)
    );
}

#[test]
fn condition_times_only_move_on_transitions() {
    let a = action(cron("0 * * * *"), Value::Null);
    let first = plan(&a, &[], true, t("2026-03-02T10:00:30Z"));
    let a = with_status(a, &first.status);
    let second = plan(&a, &[], true, t("2026-03-02T10:20:00Z"));
    assert_eq!(second.status, first.status, "a second pass changes nothing");
    let third = plan(&a, &[], false, t("2026-03-02T10:30:00Z"));
    assert_eq!(
        condition(&third, "EndpointResolved").last_transition_time,
        to_time(t("2026-03-02T10:30:00Z"))
    );
    assert_eq!(
        condition(&third, "ScheduleValid").last_transition_time,
        to_time(t("2026-03-02T10:00:30Z"))
    );
}

#[test]
fn a_fixed_time_in_the_spring_gap_fires_right_after_it() {
    // New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00Z). 02:30 does not exist.
    let a = action(
        json!({"cronExpression": "30 2 * * *", "timezone": "America/New_York"}),
        Value::Null,
    );
    let p = plan(&a, &[], true, t("2026-03-08T06:00:00Z"));
    assert_eq!(p.status.next_run_at, Some(t("2026-03-08T07:00:00Z")));
    let a = with_status(a, &p.status);
    let p = plan(&a, &[], true, t("2026-03-08T07:00:00.2Z"));
    assert_eq!(p.create, Some(t("2026-03-08T07:00:00Z")));
    assert_eq!(
        p.status.next_run_at,
        Some(t("2026-03-09T06:30:00Z")),
        "02:30 EDT next day"
    );
}

#[test]
fn the_latest_run_is_reported() {
    let a = action(cron("0 * * * *"), Value::Null);
    let runs = [
        run(
            "job-1",
            RunPhase::Succeeded,
            Some("2026-03-02T09:00:00Z"),
            "2026-03-02T09:00:00Z",
        ),
        run("job-m-x", RunPhase::Failed, None, "2026-03-02T09:30:00Z"),
    ];
    let p = plan(&a, &runs, true, t("2026-03-02T09:45:00Z"));
    assert_eq!(p.status.last_run_name.as_deref(), Some("job-m-x"));
    assert_eq!(p.status.last_run_status, Some(RunPhase::Failed));
    assert_eq!(p.status.last_run_at, Some(t("2026-03-02T09:30:00Z")));
}

const LEAD: Staging = Staging {
    lead: Duration::seconds(60),
    fire: true,
};

fn staged(name: &str, slot: &str, generation: i64) -> RunInfo {
    RunInfo {
        name: name.into(),
        uid: Some(format!("uid-{name}")),
        scheduled_at: Some(t(slot)),
        triggered_at: t(slot),
        generation: Some(generation),
        ..RunInfo::default()
    }
}

#[test]
fn a_slot_is_staged_within_its_lead_and_the_action_requeued_for_the_instant() {
    let a = action(
        cron("0 * * * *"),
        json!({"observedGeneration": 1, "nextRunAt": "2026-03-02T11:00:00Z"}),
    );
    let at = LEAD.stage_at(t("2026-03-02T11:00:00Z"), "");
    assert!(
        at >= t("2026-03-02T10:59:00Z") && at < t("2026-03-02T10:59:30Z"),
        "{at}"
    );
    let early = plan_staged(&a, &[], true, t("2026-03-02T10:58:00Z"), LEAD);
    assert_eq!((early.create, early.stage), (None, None));
    assert_eq!(early.requeue_at, Some(at));
    let p = plan_staged(&a, &[], true, at, LEAD);
    assert_eq!(p.stage, Some(t("2026-03-02T11:00:00Z")));
    assert_eq!(p.create, None);
    assert_eq!(p.requeue_at, Some(t("2026-03-02T11:00:00Z")));
    assert_eq!(p.status.next_run_at, Some(t("2026-03-02T11:00:00Z")));
    // Once it exists: nothing to create, nothing to write, wake at the instant.
    let a = with_status(a, &p.status);
    let run = staged("job-1772449200", "2026-03-02T11:00:00Z", 1);
    let again = plan_staged(&a, &[run], true, at + Duration::seconds(1), LEAD);
    assert_eq!((again.create, again.stage), (None, None));
    assert!(!again.write);
    assert_eq!(
        again.status.last_run_name, None,
        "a staged run is not the last run"
    );
    assert!(again.status.active_runs.is_empty());
    assert_eq!(again.requeue_at, Some(t("2026-03-02T11:00:00Z")));
}

#[test]
fn an_edit_before_the_instant_replaces_the_staged_run_and_disabling_removes_it() {
    let mut a = action(
        cron("0 * * * *"),
        json!({"observedGeneration": 1, "nextRunAt": "2026-03-02T11:00:00Z"}),
    );
    a.metadata.generation = Some(2);
    let run = staged("job-1772449200", "2026-03-02T11:00:00Z", 1);
    let now = t("2026-03-02T10:59:50Z");
    let p = plan_staged(&a, std::slice::from_ref(&run), true, now, LEAD);
    assert_eq!(
        p.unstage,
        [(
            "job-1772449200".to_string(),
            Some("uid-job-1772449200".to_string())
        )]
    );
    assert_eq!(
        p.stage,
        Some(t("2026-03-02T11:00:00Z")),
        "staged again from the new spec"
    );

    a.spec.enabled = false;
    let p = plan_staged(&a, std::slice::from_ref(&run), true, now, LEAD);
    assert_eq!(p.unstage.len(), 1);
    assert_eq!(p.stage, None);

    // A schedule edit that drops the slot: removed, and the new schedule is armed from now.
    let mut b = action(
        cron("30 * * * *"),
        json!({"observedGeneration": 1, "nextRunAt": "2026-03-02T11:00:00Z"}),
    );
    b.metadata.generation = Some(1);
    let p = plan_staged(&b, &[run], true, now, LEAD);
    assert_eq!(p.unstage.len(), 1, "11:00 is not a slot of '30 * * * *'");
    assert_eq!(p.status.next_run_at, Some(t("2026-03-02T11:30:00Z")));
}

#[test]
fn the_timing_write_of_a_slot_waits_for_its_run_and_goes_out_with_its_count() {
    let a = action(
        cron("* * * * *"),
        json!({"observedGeneration": 1, "nextRunAt": "2026-03-02T10:01:00Z",
               "lastScheduleTime": "2026-03-02T10:00:00Z"}),
    );
    let mut run = staged("job-1772445660", "2026-03-02T10:01:00Z", 1);
    let before = plan_staged(
        &a,
        std::slice::from_ref(&run),
        true,
        t("2026-03-02T10:00:50Z"),
        LEAD,
    );
    let a = with_status(a, &before.status);
    let at_instant = t("2026-03-02T10:01:00.050Z");
    let p = plan_staged(&a, std::slice::from_ref(&run), true, at_instant, LEAD);
    assert_eq!(p.status.next_run_at, Some(t("2026-03-02T10:02:00Z")));
    assert!(
        !p.write,
        "only timing changed and the slot's run is about to report"
    );
    assert!(p.requeue_at <= Some(t("2026-03-02T10:01:00Z") + TIMING_GRACE));
    // The run succeeded: one write with the count, the last run and the timing.
    run.phase = RunPhase::Succeeded;
    run.attempt = 1;
    run.completed_at = Some(t("2026-03-02T10:01:00.2Z"));
    let done = plan_staged(&a, &[run.clone()], true, t("2026-03-02T10:01:00.3Z"), LEAD);
    assert!(done.write);
    assert_eq!(done.status.total_runs, 1);
    assert_eq!(done.status.next_run_at, Some(t("2026-03-02T10:02:00Z")));
    assert_eq!(done.status.last_run_name.as_deref(), Some("job-1772445660"));
    assert!(done.events.is_empty(), "no Event for an ordinary success");
    // A run that never reports: the timing is written after the grace period anyway.
    run.phase = RunPhase::Pending;
    run.attempt = 0;
    let late = plan_staged(&a, &[run], true, t("2026-03-02T10:01:31Z"), LEAD);
    assert!(late.write);
}

#[test]
fn a_failure_after_success_and_the_recovery_are_the_only_run_events() {
    let a = action(
        cron("0 * * * *"),
        json!({"observedGeneration": 1, "lastRunStatus": "succeeded"}),
    );
    let mut failed = run("job-m-1", RunPhase::Failed, None, "2026-03-02T10:00:00Z");
    failed.error_code = Some(crate::resources::RunErrorCode::HttpError);
    let p = plan(&a, &[failed.clone()], true, t("2026-03-02T10:00:05Z"));
    let reasons = |p: &Plan| p.events.iter().map(|e| e.reason).collect::<Vec<_>>();
    assert_eq!(reasons(&p), ["RunFailed"]);
    assert!(p.events[0].warning);
    // Each next run is running before it is counted, and the status shows it as the last run:
    // whether the Action was failing is its streak, not lastRunStatus.
    let mut runs = vec![failed.clone()];
    let mut a = with_status(a, &p.status);
    for (name, outcome, expected) in [
        ("job-m-2", RunPhase::Failed, vec![]),
        ("job-m-3", RunPhase::Succeeded, vec!["RunRecovered"]),
        ("job-m-4", RunPhase::Succeeded, vec![]),
        ("job-m-5", RunPhase::Failed, vec!["RunFailed"]),
    ] {
        let at = "2026-03-02T11:00:00Z";
        let running = run(name, RunPhase::Running, None, at);
        let p = plan(&a, &[runs.clone(), vec![running]].concat(), true, t(at));
        assert_eq!(p.status.last_run_status, Some(RunPhase::Running));
        assert_eq!(reasons(&p), Vec::<&str>::new(), "{name} running");
        a = with_status(a, &p.status);
        let mut done = run(name, outcome, None, at);
        done.error_code = failed.error_code.filter(|_| outcome == RunPhase::Failed);
        runs.push(done);
        let p = plan(&a, &runs, true, t("2026-03-02T11:00:05Z"));
        assert_eq!(reasons(&p), expected, "{name} {outcome:?}");
        assert!(
            p.events
                .iter()
                .all(|e| e.warning == (e.reason == "RunFailed"))
        );
        a = with_status(a, &p.status);
    }
}

fn failed(name: &str, at: &str) -> RunInfo {
    RunInfo {
        error_code: Some(crate::resources::RunErrorCode::HttpError),
        error_message: Some("endpoint answered HTTP 500".into()),
        ..run(name, RunPhase::Failed, None, at)
    }
}

#[test]
fn n_failures_in_a_row_suspend_the_schedule_until_a_resume_or_a_new_threshold() {
    let spec = json!({"cronExpression": "*/5 * * * *", "suspendAfterConsecutiveFailures": 2});
    let a = action(spec, Value::Null);
    let now = t("2026-03-02T10:01:00Z");
    let one = [failed("r1", "2026-03-02T10:00:10Z")];
    let p1 = plan(&a, &one, true, now);
    assert_eq!(p1.status.consecutive_failures, 1);
    assert_eq!(condition(&p1, "Suspended").reason, "Enabled");
    assert_eq!(p1.status.next_run_at, Some(t("2026-03-02T10:05:00Z")));

    // The second failure in a row suspends: no slot armed, a condition and one Event.
    let a2 = with_status(a.clone(), &p1.status);
    let two = [one[0].clone(), failed("r2", "2026-03-02T10:00:20Z")];
    let p2 = plan(&a2, &two, true, now);
    assert_eq!(p2.status.consecutive_failures, 2);
    let c = condition(&p2, "Suspended");
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("True", "ConsecutiveFailures")
    );
    assert!(
        c.message.contains("2 runs failed in a row"),
        "{}",
        c.message
    );
    assert!(
        c.message
            .contains("run r2: http_error: endpoint answered HTTP 500"),
        "{}",
        c.message
    );
    assert_eq!(p2.status.next_run_at, None);
    assert!(p2.status.upcoming.is_empty());
    let notes: Vec<_> = p2.events.iter().map(|e| e.reason).collect();
    assert!(notes.contains(&"ConsecutiveFailures"), "{notes:?}");
    let a3 = with_status(a2.clone(), &p2.status);
    assert!(a3.spec.enabled && a3.suspended_by_failures() && !a3.schedule_active());

    // While suspended, a due slot does not fire and a staged run is removed; no second Event.
    let slot = t("2026-03-02T10:05:00Z");
    let p3 = plan(&a3, &two, true, slot);
    assert_eq!((p3.create, p3.status.next_run_at), (None, None));
    assert!(p3.events.is_empty(), "{:?}", p3.events);
    let lead = Staging {
        lead: Duration::seconds(60),
        fire: true,
    };
    let mut waiting = two.to_vec();
    waiting.push(RunInfo {
        uid: Some("u".into()),
        generation: Some(1),
        ..run(
            "job-staged",
            RunPhase::Pending,
            Some("2026-03-02T10:10:00Z"),
            "2026-03-02T10:09:00Z",
        )
    });
    let staged = plan_staged(&a3, &waiting, true, t("2026-03-02T10:09:30Z"), lead);
    assert_eq!(
        staged.unstage,
        [("job-staged".to_string(), Some("u".to_string()))]
    );
    assert_eq!(staged.stage, None);

    // A new resume annotation ends the suspension at once (the REST view and the runner see it
    // before the controller writes), and the plan starts the streak again and arms the schedule.
    let mut a4 = with_status(a3.clone(), &p3.status);
    a4.metadata.annotations = Some(
        [(
            crate::resources::RESUME_ANNOTATION.to_string(),
            "t1".to_string(),
        )]
        .into(),
    );
    assert!(a4.schedule_active());
    let p4 = plan(&a4, &two, true, t("2026-03-02T10:06:00Z"));
    assert_eq!(p4.status.consecutive_failures, 0);
    assert_eq!(p4.status.failure_streak_since.as_deref(), Some("2/t1"));
    assert_eq!(condition(&p4, "Suspended").reason, "Enabled");
    assert_eq!(p4.status.next_run_at, Some(t("2026-03-02T10:10:00Z")));
    assert!(
        p4.events.iter().any(|e| e.reason == "Resumed"),
        "{:?}",
        p4.events
    );
    // Counted again from there: one more failure is a streak of one.
    let a5 = with_status(a4.clone(), &p4.status);
    let mut three = two.to_vec();
    three.push(failed("r3", "2026-03-02T10:10:05Z"));
    let p5 = plan(&a5, &three, true, t("2026-03-02T10:11:00Z"));
    assert_eq!(p5.status.consecutive_failures, 1);
    assert!(!a5.suspended_with(&p5.status));

    // Changing the threshold starts the streak again too.
    let mut a6 = a3.clone();
    a6.spec.suspend_after_consecutive_failures = Some(3);
    assert!(a6.schedule_active());
    let p6 = plan(&a6, &two, true, t("2026-03-02T10:06:00Z"));
    assert_eq!(p6.status.consecutive_failures, 0);
    assert_eq!(condition(&p6, "Suspended").reason, "Enabled");

    // A succeeded run (a manual trigger after a fix) ends the streak and the suspension.
    let mut fixed = two.to_vec();
    fixed.push(run("m1", RunPhase::Succeeded, None, "2026-03-02T10:07:00Z"));
    let p7 = plan(&a3, &fixed, true, t("2026-03-02T10:07:30Z"));
    assert_eq!(p7.status.consecutive_failures, 0);
    assert_eq!(p7.status.last_failure, None);
    assert_eq!(p7.status.next_run_at, Some(t("2026-03-02T10:10:00Z")));
}

#[test]
fn without_a_threshold_the_streak_is_kept_but_nothing_is_suspended() {
    let a = action(cron("*/5 * * * *"), Value::Null);
    let runs: Vec<RunInfo> = (0..5)
        .map(|i| failed(&format!("r{i}"), &format!("2026-03-02T10:00:0{i}Z")))
        .collect();
    let p = plan(&a, &runs, true, t("2026-03-02T10:01:00Z"));
    assert_eq!(p.status.consecutive_failures, 5);
    assert_eq!(p.status.failure_streak_since, None);
    assert_eq!(condition(&p, "Suspended").reason, "Enabled");
    assert!(p.status.next_run_at.is_some());
}

#[test]
fn next_run_says_why_there_is_no_next_slot() {
    let now = t("2026-03-02T10:00:30Z");
    let text =
        |spec: Value, status: Value| plan(&action(spec, status), &[], true, now).status.next_run;
    assert_eq!(
        text(cron("0 * * * *"), Value::Null).as_deref(),
        Some("2026-03-02T11:00:00Z")
    );
    assert_eq!(
        text(json!({"scheduleType": "manual"}), Value::Null).as_deref(),
        Some("manual")
    );
    assert_eq!(
        text(
            json!({"cronExpression": "0 * * * *", "enabled": false}),
            Value::Null
        )
        .as_deref(),
        Some("disabled")
    );
    assert_eq!(
        text(cron("61 * * * *"), Value::Null).as_deref(),
        Some("invalid")
    );
    let once = json!({"scheduleType": "one_time", "scheduledAt": "2026-03-02T09:00:00Z"});
    let handled = json!({"lastScheduleTime": "2026-03-02T09:00:00Z"});
    assert_eq!(text(once, handled).as_deref(), Some("done"));
}

#[test]
fn a_cancelled_run_and_a_long_call_that_timed_out_are_events_of_the_action() {
    let a = action(
        json!({"scheduleType": "manual"}),
        json!({"activeRuns": ["job-m-1"]}),
    );
    let now = t("2026-03-02T10:05:00Z");
    let cancelled = RunInfo {
        error_code: Some(RunErrorCode::Cancelled),
        ..run("job-m-1", RunPhase::Cancelled, None, "2026-03-02T10:01:00Z")
    };
    let timed_out = RunInfo {
        error_code: Some(RunErrorCode::Timeout),
        accepted: true,
        ..run("job-m-2", RunPhase::Failed, None, "2026-03-02T10:02:00Z")
    };
    let quick_timeout = RunInfo {
        error_code: Some(RunErrorCode::Timeout),
        ..run("job-m-3", RunPhase::Failed, None, "2026-03-02T10:03:00Z")
    };
    let runs = [cancelled, timed_out, quick_timeout];
    let p = plan(&a, &runs, true, now);
    let reasons: Vec<&str> = p.events.iter().map(|e| e.reason).collect();
    assert_eq!(reasons, ["RunCancelled", "RunTimedOut", "RunFailed"]);
    assert!(p.events[1].warning && p.events[1].message.contains("job-m-2"));
    let again = plan(&with_status(a, &p.status), &runs, true, now);
    assert!(again.events.is_empty(), "counted once, told once");
}
