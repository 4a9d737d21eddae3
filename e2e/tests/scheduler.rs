//! The scheduler against the real control plane, with `punctual run` as a real process.
//! These tests wait for real minute boundaries, so each takes one to three minutes; they run in
//! parallel, each with its own namespace and its own operator.

use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use punctual::resources::{Action, ActionRun, RunPhase, TriggerType};
use serde_json::{Value, json};

use crate::support::*;

async fn create_action(client: &Client, ns: &str, name: &str, spec: Value) -> Action {
    create_test_action(client, ns, name, json!({}), spec).await
}

async fn runs_of(client: &Client, ns: &str, action: &str) -> Vec<ActionRun> {
    let api: Api<ActionRun> = Api::namespaced(client.clone(), ns);
    let lp = ListParams::default().labels(&format!("punctual.dev/action={action}"));
    let mut runs = api.list(&lp).await.expect("list runs").items;
    runs.sort_by_key(|r| r.name_any());
    runs
}

async fn action_status(client: &Client, ns: &str, name: &str) -> punctual::resources::ActionStatus {
    let api: Api<Action> = Api::namespaced(client.clone(), ns);
    api.get(name)
        .await
        .expect("action")
        .status
        .unwrap_or_default()
}

/// Waits until the Action's status satisfies `settled` (the status write follows the run
/// creation, so reading it once would race the controller); returns that status.
async fn status_when(
    client: &Client,
    ns: &str,
    name: &str,
    settled: impl Fn(&punctual::resources::ActionStatus) -> bool,
) -> punctual::resources::ActionStatus {
    eventually(
        &format!("{name}: settled status"),
        Duration::from_secs(20),
        || async {
            let s = action_status(client, ns, name).await;
            settled(&s).then_some(s)
        },
    )
    .await
}

/// Waits for a Warning Event about `name` with `reason` whose message contains `part`.
async fn warning_event(client: &Client, ns: &str, name: &str, reason: &str, part: &str) {
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    eventually(
        &format!("{name}: a Warning Event {reason}"),
        Duration::from_secs(30),
        || {
            let events = events.clone();
            async move {
                let list = events.list(&ListParams::default()).await.ok()?;
                list.items
                    .iter()
                    .any(|e| {
                        e.involved_object.name.as_deref() == Some(name)
                            && e.type_.as_deref() == Some("Warning")
                            && e.reason.as_deref() == Some(reason)
                            && e.message.as_deref().is_some_and(|m| m.contains(part))
                    })
                    .then_some(())
            }
        },
    )
    .await;
}

/// The next minute boundary after `t`.
fn next_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::minutes(1)).unwrap_or(t) + TimeDelta::minutes(1)
}

/// The first slot the controller armed for a new Action (its status.nextRunAt).
async fn armed_slot(client: &Client, ns: &str, name: &str) -> DateTime<Utc> {
    let api: Api<Action> = Api::namespaced(client.clone(), ns);
    eventually(
        &format!("{name}: nextRunAt"),
        Duration::from_secs(30),
        || {
            let api = api.clone();
            async move { api.get(name).await.ok()?.status?.next_run_at }
        },
    )
    .await
}

async fn sleep_until(t: DateTime<Utc>) {
    if let Ok(d) = (t - Utc::now()).to_std() {
        tokio::time::sleep(d).await;
    }
}

/// Waits until the run for `slot` has been sent (its first attempt started; a run is staged
/// ahead of its slot, so existing is not enough); returns the lag (request sent minus slot).
async fn wait_for_slot(client: &Client, ns: &str, action: &str, slot: DateTime<Utc>) -> f64 {
    let name = format!("{action}-{}", slot.timestamp());
    let api: Api<ActionRun> = Api::namespaced(client.clone(), ns);
    let run = eventually(
        &format!("run {name} sent"),
        Duration::from_secs(130),
        || {
            let (api, name) = (api.clone(), name.clone());
            async move {
                let run = api.get_opt(&name).await.ok().flatten()?;
                let sent = run.status.as_ref().is_some_and(|s| !s.attempts.is_empty());
                sent.then_some(run)
            }
        },
    )
    .await;
    assert_eq!(run.spec.trigger_type, TriggerType::Scheduled);
    assert_eq!(
        run.spec.scheduled_at,
        Some(slot),
        "the run carries its nominal instant"
    );
    let owner = run
        .owner_references()
        .first()
        .cloned()
        .expect("owned by its Action");
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.controller),
        ("Action", action, Some(true))
    );
    let sent = run
        .status
        .as_ref()
        .and_then(|s| s.attempts.first())
        .map(|a| a.started_at);
    sent.map(|c| (c - slot).num_milliseconds() as f64 / 1000.0)
        .unwrap_or(f64::NAN)
}

/// Asserts the runs of `action` whose slot has passed are exactly one per slot in `slots`, and
/// that any other run is staged for a future slot (pending, never attempted), at most one.
async fn assert_exactly(client: &Client, ns: &str, action: &str, slots: &[DateTime<Utc>]) {
    let now = Utc::now();
    let runs = runs_of(client, ns, action).await;
    let (due, staged): (Vec<&ActionRun>, Vec<&ActionRun>) = runs
        .iter()
        .partition(|r| r.spec.scheduled_at.is_none_or(|s| s <= now));
    for r in &staged {
        let s = r.status.clone().unwrap_or_default();
        assert!(
            s.status == RunPhase::Pending && s.attempts.is_empty(),
            "a run for a future slot is only staged: {s:?}"
        );
    }
    assert!(staged.len() <= 1, "one staged run at most: {staged:?}");
    let names: Vec<String> = due.iter().map(|r| r.name_any()).collect();
    let mut expected: Vec<String> = slots
        .iter()
        .map(|s| format!("{action}-{}", s.timestamp()))
        .collect();
    expected.sort();
    assert_eq!(
        names, expected,
        "exactly one run per slot, none doubled, none lost"
    );
}

async fn setup(prefix: &str) -> (Client, TestNamespace) {
    let client = client().await;
    install_crds(&client).await;
    let ns = TestNamespace::create(&client, prefix).await;
    let endpoint = json!({"apiVersion": "punctual.dev/v1alpha1", "kind": "ActionEndpoint",
                          "metadata": {"name": "agent"}, "spec": {"url": "http://127.0.0.1:9/"}});
    kubectl_ok(
        &["apply", "-n", &ns.name, "-f", "-"],
        Some(&endpoint.to_string()),
    );
    (client, ns)
}

#[tokio::test]
async fn every_minute_fires_exactly_one_run_per_slot_on_time() {
    let (client, ns) = setup("e2e-cron").await;
    let _op = Operator::start("cron-every-minute", &ns.name, &[]);
    create_action(
        &client,
        &ns.name,
        "tick",
        json!({"cronExpression": "* * * * *"}),
    )
    .await;
    let first = armed_slot(&client, &ns.name, "tick").await;
    let slots = [first, first + TimeDelta::minutes(1)];
    for slot in slots {
        let lag = wait_for_slot(&client, &ns.name, "tick", slot).await;
        eprintln!("slot {slot}: schedule lag {lag:.3}s");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_exactly(&client, &ns.name, "tick", &slots).await;
    // The status write follows the run's creation; wait for it rather than race it.
    let status = status_when(&client, &ns.name, "tick", |s| {
        s.last_schedule_time == Some(slots[1])
            && s.next_run_at == Some(slots[1] + TimeDelta::minutes(1))
    })
    .await;
    assert_eq!(status.upcoming.len(), 5);
    assert_eq!(status.missed_runs, 0);
    let metrics = _op.metrics().await;
    assert!(
        metrics.contains("punctual_schedule_lag_seconds_count 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn one_time_fires_once_and_manual_never() {
    let (client, ns) = setup("e2e-once").await;
    let _op = Operator::start("one-time-and-manual", &ns.name, &[]);
    let at = (Utc::now() + TimeDelta::seconds(8))
        .duration_trunc(TimeDelta::seconds(1))
        .unwrap();
    create_action(&client, &ns.name, "once", json!({"scheduledAt": at})).await;
    create_action(
        &client,
        &ns.name,
        "by-hand",
        json!({"scheduleType": "manual", "cronExpression": "* * * * *"}),
    )
    .await;
    wait_for_slot(&client, &ns.name, "once", at).await;
    // Past the next minute boundary, so a manual Action with a cron expression had its chance to
    // misfire.
    sleep_until(next_minute(Utc::now()) + TimeDelta::seconds(3)).await;
    assert_exactly(&client, &ns.name, "once", &[at]).await;
    status_when(&client, &ns.name, "once", |s| {
        s.last_schedule_time == Some(at) && s.next_run_at.is_none()
    })
    .await;
    assert!(
        runs_of(&client, &ns.name, "by-hand").await.is_empty(),
        "manual never fires"
    );
    let manual = action_status(&client, &ns.name, "by-hand").await;
    assert_eq!(manual.next_run_at, None);
    assert!(
        manual
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    );
}

#[tokio::test]
async fn a_killed_controller_restarts_without_duplicate_or_lost_slots() {
    let (client, ns) = setup("e2e-restart").await;
    let mut op = Operator::start("restart-1", &ns.name, &[]);
    create_action(
        &client,
        &ns.name,
        "tick",
        json!({"cronExpression": "* * * * *"}),
    )
    .await;
    let s1 = armed_slot(&client, &ns.name, "tick").await;
    wait_for_slot(&client, &ns.name, "tick", s1).await;
    // Killed right after creating the run: its status write may or may not have happened.
    op.kill();
    let s2 = s1 + TimeDelta::minutes(1);
    // Down across the next slot, then back: s2 is late but inside startingDeadlineSeconds.
    sleep_until(s2 + TimeDelta::seconds(5)).await;
    let _op2 = Operator::start("restart-2", &ns.name, &[]);
    let lag = wait_for_slot(&client, &ns.name, "tick", s2).await;
    assert!(lag >= 4.0, "s2 was started after the restart (lag {lag}s)");
    let s3 = s2 + TimeDelta::minutes(1);
    wait_for_slot(&client, &ns.name, "tick", s3).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_exactly(&client, &ns.name, "tick", &[s1, s2, s3]).await;
    assert_eq!(
        action_status(&client, &ns.name, "tick").await.missed_runs,
        0
    );
}

#[tokio::test]
async fn two_replicas_fire_each_slot_once_and_fail_over() {
    let (client, ns) = setup("e2e-replicas").await;
    // The Lease namespace may be shared (the chart's release namespace): the name is per test.
    let lease_ns = lease_namespace(&ns.name);
    let lease_name = format!("punctual-leader-{}", ns.name);
    let election = election_flags(&lease_ns, &lease_name);
    let mut a = Operator::start(
        "replica-a",
        &ns.name,
        &[&election[..], &["--identity", "replica-a"]].concat(),
    );
    let mut b = Operator::start(
        "replica-b",
        &ns.name,
        &[&election[..], &["--identity", "replica-b"]].concat(),
    );
    create_action(
        &client,
        &ns.name,
        "tick",
        json!({"cronExpression": "* * * * *"}),
    )
    .await;
    let s1 = armed_slot(&client, &ns.name, "tick").await;
    wait_for_slot(&client, &ns.name, "tick", s1).await;

    let leases: Api<Lease> = Api::namespaced(client.clone(), &lease_ns);
    let lease = leases.get(&lease_name).await.expect("lease");
    let leader = lease
        .spec
        .and_then(|s| s.holder_identity)
        .unwrap_or_default();
    // Kill the leader a few seconds before the next slot: the follower must take over in time.
    let s2 = s1 + TimeDelta::minutes(1);
    sleep_until(s2 - TimeDelta::seconds(3)).await;
    match leader.as_str() {
        "replica-a" => a.kill(),
        "replica-b" => b.kill(),
        other => panic!("unexpected lease holder {other:?}"),
    }
    let lag = wait_for_slot(&client, &ns.name, "tick", s2).await;
    eprintln!("failover: slot {s2} created {lag:.1}s late");
    let s3 = s2 + TimeDelta::minutes(1);
    wait_for_slot(&client, &ns.name, "tick", s3).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_exactly(&client, &ns.name, "tick", &[s1, s2, s3]).await;
    let holder = leases
        .get(&lease_name)
        .await
        .expect("lease")
        .spec
        .and_then(|s| s.holder_identity);
    assert_ne!(
        holder.as_deref(),
        Some(leader.as_str()),
        "the survivor holds the lease"
    );
}

#[tokio::test]
async fn an_invalid_schedule_is_reported_and_recovers_when_fixed() {
    let (client, ns) = setup("e2e-invalid-schedule").await;
    let _op = Operator::start("invalid-schedule", &ns.name, &[]);
    create_action(
        &client,
        &ns.name,
        "bad-cron",
        json!({"cronExpression": "61 * * * *"}),
    )
    .await;
    create_action(
        &client,
        &ns.name,
        "bad-zone",
        json!({"cronExpression": "0 9 * * *", "timezone": "Mars/Olympus"}),
    )
    .await;
    for (name, reason) in [
        ("bad-cron", "InvalidSchedule"),
        ("bad-zone", "InvalidTimezone"),
    ] {
        let api: Api<Action> = Api::namespaced(client.clone(), &ns.name);
        eventually(
            &format!("{name}: ScheduleValid False {reason}"),
            Duration::from_secs(30),
            || {
                let api = api.clone();
                async move {
                    let status = api.get(name).await.ok()?.status?;
                    status
                        .conditions
                        .iter()
                        .any(|c| {
                            c.type_ == "ScheduleValid" && c.status == "False" && c.reason == reason
                        })
                        .then_some(())
                }
            },
        )
        .await;
        warning_event(&client, &ns.name, name, reason, "").await;
        assert_eq!(
            action_status(&client, &ns.name, name).await.next_run_at,
            None
        );
    }
    // Fixing the spec recovers: valid again, next run computed, no unexpected run.
    let api: Api<Action> = Api::namespaced(client.clone(), &ns.name);
    let fix = json!({"spec": {"cronExpression": "0 9 * * *", "timezone": "Europe/Berlin"}});
    for name in ["bad-cron", "bad-zone"] {
        api.patch(name, &PatchParams::default(), &Patch::Merge(&fix))
            .await
            .expect("fix");
        let status = eventually(
            &format!("{name} valid again"),
            Duration::from_secs(30),
            || {
                let api = api.clone();
                async move {
                    let status = api.get(name).await.ok()?.status?;
                    status
                        .conditions
                        .iter()
                        .any(|c| c.type_ == "Ready" && c.status == "True")
                        .then_some(status)
                }
            },
        )
        .await;
        let next = status.next_run_at.expect("nextRunAt after the fix");
        assert!(next > Utc::now(), "next run is in the future: {next}");
        assert!(runs_of(&client, &ns.name, name).await.is_empty());
    }
}

/// A broken template is found when the Action is saved, not at its next run: Ready is False
/// with every problem of the Action in its message, TemplatesValid is False with reason
/// InvalidTemplate and a Warning Event; `kubectl get actions` shows READY and a NEXT RUN that
/// explains itself.
#[tokio::test]
async fn every_problem_of_an_action_is_reported_at_once_and_shown_by_kubectl() {
    let (client, ns) = setup("e2e-problems").await;
    let _op = Operator::start("problems", &ns.name, &[]);
    create_action(
        &client,
        &ns.name,
        "broken",
        json!({"cronExpression": "0 9 * * *", "timezone": "Mars/Olympus",
               "endpoint": "nowhere", "payload": {"text": "{{ nope }}"}}),
    )
    .await;
    for (name, spec) in [
        ("on-demand", json!({"scheduleType": "manual"})),
        (
            "paused",
            json!({"cronExpression": "0 9 * * *", "enabled": false}),
        ),
        ("fine", json!({"cronExpression": "0 9 * * *"})),
    ] {
        create_action(&client, &ns.name, name, spec).await;
    }
    let broken = status_when(&client, &ns.name, "broken", |s| {
        s.conditions.iter().any(|c| c.type_ == "Ready")
    })
    .await;
    let ready = broken
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "InvalidTimezone")
    );
    for part in [
        "Mars/Olympus",
        "undefined variable `nope`",
        "\"nowhere\" not found",
    ] {
        assert!(
            ready.message.contains(part),
            "{part} in {:?}",
            ready.message
        );
    }
    let templates = broken
        .conditions
        .iter()
        .find(|c| c.type_ == "TemplatesValid")
        .unwrap();
    assert_eq!(
        (templates.status.as_str(), templates.reason.as_str()),
        ("False", "InvalidTemplate")
    );
    warning_event(&client, &ns.name, "broken", "InvalidTemplate", "nope").await;
    for name in ["on-demand", "paused", "fine"] {
        status_when(&client, &ns.name, name, |s| s.next_run.is_some()).await;
    }
    let table = kubectl_ok(&["get", "actions", "-n", &ns.name], None);
    let header = table.lines().next().unwrap_or_default();
    let titles = ["READY", "NEXT RUN", "LAST STATUS", "RUNS", "AGE"];
    let starts: Vec<usize> = titles
        .iter()
        .map(|t| header.find(t).unwrap_or_else(|| panic!("{t} in {header}")))
        .collect();
    // Columns are aligned to the header; an empty cell is blank.
    let cells = |name: &str| -> Vec<String> {
        let line = table
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} in {table}"));
        starts
            .windows(2)
            .map(|w| line.get(w[0]..w[1]).unwrap_or_default().trim().to_string())
            .collect()
    };
    assert_eq!(cells("broken"), ["False", "invalid", "", "0"]);
    assert_eq!(cells("paused"), ["True", "disabled", "", "0"]);
    let fine = cells("fine");
    assert_eq!(fine[0], "True");
    assert!(fine[1].ends_with("T09:00:00Z"), "{fine:?}");
    assert_eq!(cells("on-demand"), ["True", "manual", "", "0"]);
}
