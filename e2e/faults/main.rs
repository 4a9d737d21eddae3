//! Control-plane faults (docs/faults.md): the API server and etcd killed and restarted, and
//! frozen for 30 s, while 50 per-minute Actions fire. These take the control plane down, so they
//! run on a control plane of their own (`e2e/test.sh faults`, after the shared suite), never on
//! the one the rest of the end-to-end suite shares.

#[path = "../tests/support/mod.rs"]
#[allow(dead_code)]
mod support;

use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};
use punctual::resources::{Action, ActionRun, RunPhase};
use serde_json::json;

use support::*;

const ACTIONS: usize = 50;

/// `e2e/cluster.sh ARGS` on this stage's control plane; must succeed.
fn cluster(args: &[&str]) {
    let out = Command::new("bash")
        .arg(repo_root().join("e2e").join("cluster.sh"))
        .args(args)
        .output()
        .expect("run e2e/cluster.sh");
    assert!(
        out.status.success(),
        "e2e/cluster.sh {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{}: e2e/cluster.sh {}", Utc::now(), args.join(" "));
}

/// Resumes both components if the test fails while one is frozen, so the stage can tear down.
struct Thaw;

impl Drop for Thaw {
    fn drop(&mut self) {
        for name in ["apiserver", "etcd"] {
            let _ = Command::new("bash")
                .arg(repo_root().join("e2e").join("cluster.sh"))
                .args(["signal", name, "CONT"])
                .output();
        }
    }
}

async fn sleep_until(t: DateTime<Utc>) {
    if let Ok(d) = (t - Utc::now()).to_std() {
        tokio::time::sleep(d).await;
    }
}

fn next_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::minutes(1)).unwrap_or(t) + TimeDelta::minutes(1)
}

/// Waits until the API server answers again (after a fault).
async fn api_back(client: &Client, ns: &str) {
    let api: Api<Action> = Api::namespaced(client.clone(), ns);
    eventually("the API server answering", Duration::from_secs(120), || {
        let api = api.clone();
        async move { api.list(&ListParams::default().limit(1)).await.ok() }
    })
    .await;
}

/// The faults, one per minute slot, in this order; a last slot with no fault follows.
enum Fault {
    /// SIGKILL just before the slot, restarted at once (same ports, certificates, data).
    Kill(&'static str),
    /// SIGSTOP 10 s before the slot, SIGCONT 30 s later.
    Freeze(&'static str),
}

#[tokio::test]
async fn api_server_and_etcd_killed_and_frozen_lose_and_double_no_slot() {
    assert!(
        std::env::var_os("PUNCTUAL_FAULTS_CLUSTER").is_some(),
        "these tests kill the control plane: run them with `e2e/test.sh faults`, which starts \
         one for them alone"
    );
    let _thaw = Thaw;
    let client = client().await;
    install_crds(&client).await;
    let ns = TestNamespace::create(&client, "faults-control-plane").await;
    let (addr, deliveries) = delivery_endpoint().await;
    // Half the Actions call a slow path: their runs are written `running` while the request is
    // in flight, one more write for the faults to hit.
    for (name, path) in [("agent", "/"), ("slow-agent", "/slow")] {
        kubectl_ok(
            &["apply", "-n", &ns.name, "-f", "-"],
            Some(
                &json!({"apiVersion": "punctual.dev/v1alpha1", "kind": "ActionEndpoint",
                        "metadata": {"name": name},
                        "spec": {"url": format!("http://{addr}{path}")}})
                .to_string(),
            ),
        );
    }
    // Created just after a minute boundary, so every Action's first slot is the next one.
    sleep_until(next_minute(Utc::now()) + TimeDelta::seconds(1)).await;
    let names: Vec<String> = (0..ACTIONS).map(|i| format!("tick-{i:02}")).collect();
    for (i, name) in names.iter().enumerate() {
        let endpoint = if i % 2 == 0 { "agent" } else { "slow-agent" };
        create_test_action(
            &client,
            &ns.name,
            name,
            json!({}),
            json!({"cronExpression": "* * * * *", "endpoint": endpoint, "timeoutSeconds": 120,
                   "maxRetries": 3, "retryDelaySeconds": 5,
                   "successfulRunsHistoryLimit": 100, "failedRunsHistoryLimit": 100}),
        )
        .await;
    }
    let first = next_minute(Utc::now());
    let _op = Operator::start(&format!("faults-{}", ns.name), &ns.name, &[]);
    let actions: Api<Action> = Api::namespaced(client.clone(), &ns.name);
    eventually(
        "every Action armed for the first slot",
        Duration::from_secs(40),
        || async {
            let list = actions.list(&ListParams::default()).await.ok()?;
            let armed = list
                .items
                .iter()
                .filter(|a| a.status.as_ref().and_then(|s| s.next_run_at) == Some(first))
                .count();
            (armed == ACTIONS).then_some(())
        },
    )
    .await;

    let faults = [
        Fault::Kill("apiserver"),
        Fault::Freeze("apiserver"),
        Fault::Kill("etcd"),
        Fault::Freeze("etcd"),
    ];
    let mut slots = Vec::new();
    for (i, fault) in faults.iter().enumerate() {
        let slot = first + TimeDelta::minutes(i as i64);
        slots.push(slot);
        match fault {
            Fault::Kill(name) => {
                sleep_until(slot - TimeDelta::seconds(1)).await;
                cluster(&["signal", name, "KILL"]);
                cluster(&["restart", name]);
            }
            Fault::Freeze(name) => {
                sleep_until(slot - TimeDelta::seconds(10)).await;
                cluster(&["signal", name, "STOP"]);
                tokio::time::sleep(Duration::from_secs(30)).await;
                cluster(&["signal", name, "CONT"]);
            }
        }
        api_back(&client, &ns.name).await;
    }
    // One slot with no fault: the operator has recovered, not just limped through.
    let last = first + TimeDelta::minutes(faults.len() as i64);
    slots.push(last);

    // Every slot of the window: one run per Action, succeeded after one request.
    let runs: Api<ActionRun> = Api::namespaced(client.clone(), &ns.name);
    let settled = eventually(
        "every run of the window finished",
        Duration::from_secs(300),
        || async {
            let list = runs.list(&ListParams::default()).await.ok()?.items;
            let due: Vec<ActionRun> = list
                .into_iter()
                .filter(|r| r.spec.scheduled_at.is_some_and(|s| s <= last))
                .collect();
            let done = due
                .iter()
                .all(|r| r.status.as_ref().is_some_and(|s| !s.status.is_active()));
            (done && due.len() >= ACTIONS * slots.len()).then_some(due)
        },
    )
    .await;
    let mut expected: Vec<String> = names
        .iter()
        .flat_map(|n| slots.iter().map(move |s| format!("{n}-{}", s.timestamp())))
        .collect();
    expected.sort();
    let mut got: Vec<String> = settled.iter().map(|r| r.name_any()).collect();
    got.sort();
    assert_eq!(got, expected, "exactly one run per Action and slot");
    for r in &settled {
        let s = r.status.clone().unwrap_or_default();
        assert_eq!(
            (s.status, s.attempt, s.attempts.len()),
            (RunPhase::Succeeded, 1, 1),
            "{}: one attempt, succeeded: {s:?}",
            r.name_any()
        );
    }
    // What the endpoint received: one request per Action and slot, none doubled, none lost.
    let received = deliveries.counts();
    for name in &names {
        for slot in &slots {
            let key = (name.clone(), punctual::time::format_time(slot));
            assert_eq!(
                received.get(&key).copied(),
                Some(1),
                "{name} at {slot}: requests received"
            );
        }
    }
    let in_window = received
        .keys()
        .filter(|(_, at)| {
            DateTime::parse_from_rfc3339(at).is_ok_and(|t| t.with_timezone(&Utc) <= last)
        })
        .count();
    assert_eq!(
        in_window,
        ACTIONS * slots.len(),
        "no request for another slot"
    );
    // The counters of each Action equal its finished runs (a slot after the window may have
    // fired meanwhile: it is counted too).
    eventually(
        "every Action counted exactly its runs",
        Duration::from_secs(120),
        || async {
            let list = actions.list(&ListParams::default()).await.ok()?;
            let all = runs.list(&ListParams::default()).await.ok()?.items;
            list.items
                .iter()
                .all(|a| {
                    let s = a.status.clone().unwrap_or_default();
                    let mine = all.iter().filter(|r| r.spec.action == a.name_any());
                    let phases: Vec<RunPhase> = mine
                        .filter_map(|r| r.status.as_ref().map(|s| s.status))
                        .filter(|p| !p.is_active())
                        .collect();
                    let ok = phases.iter().filter(|p| **p == RunPhase::Succeeded).count();
                    phases.len() >= slots.len()
                        && (
                            s.total_runs,
                            s.successful_runs,
                            s.failed_runs,
                            s.missed_runs,
                        ) == (phases.len() as i64, ok as i64, 0, 0)
                })
                .then_some(())
        },
    )
    .await;
}
