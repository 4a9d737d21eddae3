//! Leader election under a skewed clock (docs/faults.md): a second replica whose wall clock runs
//! 30 s ahead (`--clock-offset-seconds`, a test-only flag) must not take the lease from a live
//! leader, and every slot runs once, on the leader's time.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};
use punctual::resources::{Action, ActionRun, RunPhase};
use serde_json::json;

use crate::support::*;

async fn lease_spec(
    leases: &Api<Lease>,
    name: &str,
) -> Option<k8s_openapi::api::coordination::v1::LeaseSpec> {
    leases.get_opt(name).await.ok().flatten()?.spec
}

async fn armed(client: &Client, ns: &str, name: &str) -> chrono::DateTime<Utc> {
    let api: Api<Action> = Api::namespaced(client.clone(), ns);
    eventually("the first slot armed", Duration::from_secs(40), || {
        let api = api.clone();
        async move { api.get(name).await.ok()?.status?.next_run_at }
    })
    .await
}

#[tokio::test]
async fn a_replica_with_a_clock_30s_ahead_leaves_the_live_leader_alone() {
    let client = client().await;
    install_crds(&client).await;
    let ns = TestNamespace::create(&client, "e2e-leader-skew").await;
    let (addr, deliveries) = delivery_endpoint().await;
    kubectl_ok(
        &["apply", "-n", &ns.name, "-f", "-"],
        Some(
            &json!({"apiVersion": "punctual.dev/v1alpha1", "kind": "ActionEndpoint",
                    "metadata": {"name": "agent"}, "spec": {"url": format!("http://{addr}/")}})
            .to_string(),
        ),
    );
    let lease_ns = lease_namespace(&ns.name);
    let lease_name = format!("punctual-leader-{}", ns.name);
    let election = election_flags(&lease_ns, &lease_name);
    let mut a = Operator::start(
        &format!("skew-a-{}", ns.name),
        &ns.name,
        &[&election[..], &["--identity", "replica-a"]].concat(),
    );
    let leases: Api<Lease> = Api::namespaced(client.clone(), &lease_ns);
    let taken = eventually(
        "replica-a holds the lease",
        Duration::from_secs(60),
        || async {
            let spec = lease_spec(&leases, &lease_name).await?;
            (spec.holder_identity.as_deref() == Some("replica-a")).then_some(spec)
        },
    )
    .await;
    let transitions = taken.lease_transitions;
    // Under the old rule (renewTime compared with the local clock), this replica saw every
    // renewal as 30 s old and took the lease at its first look; the leader then exited.
    let mut b = Operator::start(
        &format!("skew-b-{}", ns.name),
        &ns.name,
        &[
            &election[..],
            &["--identity", "replica-b", "--clock-offset-seconds", "30"],
        ]
        .concat(),
    );
    create_test_action(
        &client,
        &ns.name,
        "tick",
        json!({}),
        json!({"cronExpression": "* * * * *", "retryDelaySeconds": 1}),
    )
    .await;
    let s1 = armed(&client, &ns.name, "tick").await;
    let s2 = s1 + TimeDelta::minutes(1);
    // Watch the lease until both slots have passed: always replica-a, never a new term, and
    // both processes alive (a leader that lost its lease exits, which is a restart loop).
    let until = s2 + TimeDelta::seconds(10);
    while Utc::now() < until {
        let spec = lease_spec(&leases, &lease_name).await.unwrap_or_default();
        assert_eq!(
            spec.holder_identity.as_deref(),
            Some("replica-a"),
            "the live leader keeps the lease"
        );
        assert_eq!(spec.lease_transitions, transitions, "no new term");
        assert!(a.is_running(), "the leader did not exit");
        assert!(b.is_running(), "the follower did not exit");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let runs: Api<ActionRun> = Api::namespaced(client.clone(), &ns.name);
    let finished = eventually("both slots finished", Duration::from_secs(60), || async {
        let list = runs.list(&ListParams::default()).await.ok()?.items;
        let due: Vec<ActionRun> = list
            .into_iter()
            .filter(|r| r.spec.scheduled_at.is_some_and(|s| s <= s2))
            .collect();
        due.iter()
            .all(|r| r.status.as_ref().is_some_and(|s| !s.status.is_active()))
            .then_some(due)
    })
    .await;
    let mut names: Vec<String> = finished.iter().map(|r| r.name_any()).collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            format!("tick-{}", s1.timestamp()),
            format!("tick-{}", s2.timestamp())
        ]
    );
    for r in &finished {
        let s = r.status.clone().unwrap_or_default();
        assert_eq!((s.status, s.attempt), (RunPhase::Succeeded, 1), "{s:?}");
    }
    // One request per slot, sent on the leader's clock: not 30 s early.
    let counts = deliveries.counts();
    let all = deliveries.all();
    assert_eq!(counts.len(), 2, "requests for two slots only: {all:?}");
    for slot in [s1, s2] {
        let at = punctual::time::format_time(&slot);
        let key = ("tick".to_string(), at.clone());
        assert_eq!(counts.get(&key), Some(&1), "one request for {at}: {all:?}");
        let sent = all
            .iter()
            .find(|d| d.scheduled_at == at)
            .map(|d| d.received_at);
        let early = sent
            .map(|t| (slot - t).num_milliseconds())
            .unwrap_or_default();
        assert!(early < 500, "sent on the leader's time, {early} ms early");
    }
    let log = std::fs::read_to_string(&b.log).unwrap_or_default();
    assert!(!log.contains("became leader"), "replica-b never led");
}
