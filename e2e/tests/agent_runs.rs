//! Runs built for agents, through the real facade, runner and API server: trigger overrides and
//! the dry run, rerun, cancel (REST and kubectl) with the endpoint seeing the abort, and the
//! schedule previews. The endpoint is a real HTTP server in the test that records every request.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::facade::{Setup, http, wait_facade_ready};
use crate::support::*;

/// One request the endpoint received.
#[derive(Clone, Debug)]
struct Received {
    method: String,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Log {
    received: Vec<Received>,
    /// Requests whose client went away before the answer (a `"hang": true` body).
    aborted: usize,
}

/// An endpoint that answers 200 at once; 500 when the body has `"fail": true`; 202 Accepted (and
/// then the test reports as the agent would) for `"agent": true`; and never for `"hang": true`
/// (it then waits for the client to close the connection and counts that as an abort).
/// `"slow": true` delays the answer by 2 s.
async fn recording_endpoint() -> (u16, Arc<Mutex<Log>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let log: Arc<Mutex<Log>> = Arc::default();
    let shared = log.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let log = shared.clone();
            tokio::spawn(async move {
                let Some((head, body)) = read_request(&mut conn).await else {
                    return;
                };
                let method = head
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                let headers = head
                    .lines()
                    .skip(1)
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .collect();
                let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                let hang = body["hang"] == true;
                let agent = body["agent"] == true && method == "POST";
                let slow = body["slow"] == true;
                log.lock().unwrap().received.push(Received {
                    method,
                    headers,
                    body,
                });
                if hang {
                    let mut byte = [0u8; 1];
                    // Returns when the client closes the connection (0 bytes, or an error).
                    let closed =
                        tokio::time::timeout(Duration::from_secs(120), conn.read(&mut byte));
                    if let Ok(Ok(0) | Err(_)) = closed.await {
                        log.lock().unwrap().aborted += 1;
                    }
                    return;
                }
                if slow {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                let answer = if agent {
                    "HTTP/1.1 202 Accepted\r\nContent-Length: 7\r\nConnection: close\r\n\r\nworking"
                } else if body_fails(&log) {
                    "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 16\r\nConnection: close\r\n\r\n{\"error\":\"boom\"}"
                } else {
                    "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}"
                };
                let _ = conn.write_all(answer.as_bytes()).await;
            });
        }
    });
    (port, log)
}

/// Whether the latest request asked to fail (`"fail": true` in its body).
fn body_fails(log: &Arc<Mutex<Log>>) -> bool {
    log.lock()
        .unwrap()
        .received
        .last()
        .is_some_and(|r| r.body["fail"] == true)
}

fn received(log: &Arc<Mutex<Log>>) -> Vec<Received> {
    log.lock().unwrap().received.clone()
}

/// Waits until the endpoint has received `n` requests; returns them.
async fn until_received(log: &Arc<Mutex<Log>>, n: usize) -> Vec<Received> {
    eventually(
        &format!("{n} requests at the endpoint"),
        Duration::from_secs(30),
        || async { Some(received(log)).filter(|r| r.len() >= n) },
    )
    .await
}

#[tokio::test]
async fn trigger_overrides_dry_run_rerun_and_cancel() {
    let s = Setup::new("agent-runs").await;
    let (port, log) = recording_endpoint().await;
    let secret = "s3cr3t-value-never-shown";
    let manifests = json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "agent-token"},
         "stringData": {"token": secret}},
        {"apiVersion": "punctual.dev/v1alpha1", "kind": "ActionEndpoint",
         "metadata": {"name": "recorder"},
         "spec": {"url": format!("http://127.0.0.1:{port}/run"),
                  "headers": {"X-Team": "ops"},
                  "auth": {"secretRef": {"name": "agent-token", "key": "token"}}}},
    ]});
    kubectl_ok(
        &["apply", "-n", &s.ns.name, "-f", "-"],
        Some(&manifests.to_string()),
    );
    s.create(
        json!({"name": "ask", "endpoint_id": "recorder", "namespace_id": "m",
                    "payload": {"question": "status of {{ topic | default('all') }}?"}}),
    )
    .await;
    let runs = |status: &str| format!("/actions/ask/runs?status={status}");

    // Dry run: the exact request, the credential redacted, nothing created or sent.
    let dry = s
        .call(
            "POST",
            "/actions/ask/trigger?dry_run=true",
            Some(json!({"thread_id": "support-42", "variables": {"topic": "billing"}})),
        )
        .await;
    assert_eq!(dry.status, 200, "{}", dry.text);
    assert!(
        !dry.text.contains(secret),
        "the secret leaked: {}",
        dry.text
    );
    let d = &dry.json;
    assert_eq!(d["would_send"], true);
    assert_eq!(d["method"], "POST");
    assert_eq!(d["url"], format!("http://127.0.0.1:{port}/run"));
    assert_eq!(d["body"], json!({"question": "status of billing?"}));
    assert_eq!(d["thread_id"], "support-42");
    assert_eq!(d["headers"]["Authorization"], "Bearer <redacted>");
    assert_eq!(d["headers"]["X-Thread-Id"], "support-42");
    assert_eq!(d["headers"]["X-Team"], "ops");
    assert_eq!(d["headers"]["Idempotency-Key"], d["run_id"]);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(received(&log).is_empty(), "a dry run sends nothing");
    let listed = s.call("GET", "/actions/ask/runs", None).await;
    assert_eq!(listed.json["total"], 0, "a dry run creates nothing");

    // Trigger with overrides: the endpoint gets the thread and the rendered variables.
    let t = s
        .call(
            "POST",
            "/actions/ask/trigger",
            Some(json!({"thread_id": "support-42", "variables": {"topic": "billing"}})),
        )
        .await;
    assert_eq!(t.status, 202, "{}", t.text);
    let first = t.json["run_id"].as_str().unwrap().to_string();
    let got = until_received(&log, 1).await;
    assert_eq!(got[0].body, json!({"question": "status of billing?"}));
    assert_eq!(got[0].header("X-Thread-Id"), Some("support-42"));
    assert_eq!(
        got[0].header("Authorization"),
        Some(format!("Bearer {secret}").as_str())
    );
    s.get_until("the first run succeeded", &runs("succeeded"), |a| {
        a["total"] == 1
    })
    .await;
    // An override naming a built-in variable, or a template variable nobody gives: 422.
    let bad = s
        .call(
            "POST",
            "/actions/ask/trigger",
            Some(json!({"variables": {"date": "x"}, "payload": {"q": "{{ nobody }}"}})),
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.text);
    let locs: Vec<&Value> = bad.json["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["loc"])
        .collect();
    assert_eq!(
        locs,
        [
            &json!(["body", "variables", "date"]),
            &json!(["body", "payload", "q"])
        ]
    );

    // Rerun: the same resolved payload and thread, linked to the original; fresh renders anew.
    s.call(
        "PUT",
        "/actions/ask",
        Some(json!({"payload": {"question": "v2: {{ topic | default('all') }}"}})),
    )
    .await;
    let again = s
        .call("POST", &format!("/actions/ask/runs/{first}/rerun"), None)
        .await;
    assert_eq!(again.status, 202, "{}", again.text);
    let rerun = again.json["run_id"].as_str().unwrap().to_string();
    assert_ne!(rerun, first);
    let got = until_received(&log, 2).await;
    assert_eq!(got[1].body, json!({"question": "status of billing?"}));
    assert_eq!(got[1].header("X-Thread-Id"), Some("support-42"));
    let link = kubectl_ok(
        &[
            "get",
            "arun",
            &rerun,
            "-n",
            &s.ns.name,
            "-o",
            "jsonpath={.spec.rerunOf}",
        ],
        None,
    );
    assert_eq!(link, first);
    let fresh = s
        .call(
            "POST",
            &format!("/actions/ask/runs/{first}/rerun?render=fresh"),
            None,
        )
        .await;
    assert_eq!(fresh.status, 202, "{}", fresh.text);
    let got = until_received(&log, 3).await;
    assert_eq!(got[2].body, json!({"question": "v2: billing"}));
    let bad_render = s
        .call(
            "POST",
            &format!("/actions/ask/runs/{first}/rerun?render=new"),
            None,
        )
        .await;
    assert_eq!(bad_render.status, 422, "{}", bad_render.text);
    s.get_until("three runs succeeded", &runs("succeeded"), |a| {
        a["total"] == 3
    })
    .await;

    // Cancel a run whose request is in flight: the request is aborted, the run ends cancelled,
    // the counters do not count it, and a second cancel is a conflict.
    let hanging = s
        .call(
            "POST",
            "/actions/ask/trigger",
            Some(json!({"payload": {"hang": true}})),
        )
        .await;
    let hanging = hanging.json["run_id"].as_str().unwrap().to_string();
    until_received(&log, 4).await;
    let cancel = s
        .call("POST", &format!("/actions/ask/runs/{hanging}/cancel"), None)
        .await;
    assert_eq!(cancel.status, 200, "{}", cancel.text);
    assert_eq!(cancel.json["status"], "cancelled");
    assert_eq!(cancel.json["error_code"], "cancelled");
    assert!(
        cancel.json["error_message"]
            .as_str()
            .is_some_and(|m| m.contains("admin")),
        "{}",
        cancel.text
    );
    eventually(
        "the endpoint saw the abort",
        Duration::from_secs(15),
        || async { (log.lock().unwrap().aborted == 1).then_some(()) },
    )
    .await;
    let twice = s
        .call("POST", &format!("/actions/ask/runs/{hanging}/cancel"), None)
        .await;
    assert_eq!(twice.status, 409, "{}", twice.text);

    // The kubectl way: an annotation the runner honours.
    let other = s
        .call(
            "POST",
            "/actions/ask/trigger",
            Some(json!({"payload": {"hang": true}})),
        )
        .await;
    let other = other.json["run_id"].as_str().unwrap().to_string();
    until_received(&log, 5).await;
    kubectl_ok(
        &[
            "annotate",
            "arun",
            &other,
            "-n",
            &s.ns.name,
            "punctual.dev/cancel=wrong question",
        ],
        None,
    );
    let run = s
        .get_until(
            "the annotated run cancelled",
            &format!("/actions/ask/runs/{other}"),
            |r| r["status"] == "cancelled",
        )
        .await;
    assert!(
        run["error_message"]
            .as_str()
            .unwrap()
            .contains("wrong question")
    );
    eventually(
        "the endpoint saw the second abort",
        Duration::from_secs(15),
        || async { (log.lock().unwrap().aborted == 2).then_some(()) },
    )
    .await;
    let action = s
        .get_until("counters settled", "/actions/ask", |a| a["total_runs"] == 3)
        .await;
    assert_eq!(action["successful_runs"], 3);
    assert_eq!(action["failed_runs"], 0);
    assert_eq!(action["is_running"], false);
    let cancelled = s.call("GET", &runs("cancelled"), None).await;
    assert_eq!(cancelled.json["total"], 2);
    // The Action's own Events say so (they outlive the runs' history cleanup).
    let (told, events) = action_events(&s.ns.name, "ask", "RunCancelled", 2).await;
    assert_eq!(told, 2, "two RunCancelled Events in:\n{events}");
    assert!(events.contains("was cancelled"), "{events}");
    assert!(!events.contains("s3cr3t"), "{events}");

    // The full view of a run that was retried: every attempt with what the endpoint said.
    s.create(
        json!({"name": "flaky", "endpoint_id": "recorder", "namespace_id": "m",
                    "max_retries": 2, "retry_delay_seconds": 1, "payload": {"fail": true}}),
    )
    .await;
    let t = s.call("POST", "/actions/flaky/trigger", None).await;
    let id = t.json["run_id"].as_str().unwrap().to_string();
    let path = format!("/actions/flaky/runs/{id}");
    s.get_until("the flaky run failed", &path, |r| r["status"] == "failed")
        .await;
    let summary = s.call("GET", &path, None).await;
    assert!(
        summary.json.get("attempts").is_none(),
        "the seed's shape by default"
    );
    let full = s.call("GET", &format!("{path}?view=full"), None).await;
    assert_eq!(full.status, 200, "{}", full.text);
    let attempts = full.json["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3);
    for (i, a) in attempts.iter().enumerate() {
        assert_eq!(a["attempt"], i + 1);
        assert_eq!(a["http_status"], 500);
        assert_eq!(a["error_code"], "http_error");
        assert_eq!(a["output"], "{\"error\":\"boom\"}");
        assert!(a["completed_at"].as_str().is_some_and(|t| t.ends_with('Z')));
    }
    let execution_ids: std::collections::BTreeSet<&str> = attempts
        .iter()
        .map(|a| a["execution_id"].as_str().unwrap())
        .collect();
    assert_eq!(execution_ids.len(), 3, "a new execution id per attempt");
    assert_eq!(full.json["run_id"], id.as_str());
    assert_eq!(full.json["status"], "failed");
    let bad = s
        .call("GET", &format!("{path}?view=everything"), None)
        .await;
    assert_eq!(bad.status, 422, "{}", bad.text);
}

/// Two replicas: the callback of a 202 run reaches the replica that does not lead (as a load
/// balancer in front of the facades may send it there). That replica checks the token and hands
/// the report over in the run; the leader's runner records it.
#[tokio::test]
async fn a_callback_to_the_replica_that_does_not_lead_is_recorded_by_the_leader() {
    let key_arg = "--callback-key=e2e-replicas-key-0123456789abcdef0123456789";
    let prefix = "agent-replicas";
    // The test's namespace is made by Setup: the Lease goes where the chart's Role is bound (or
    // `default`), under a name of its own.
    let lease_ns = lease_namespace("default");
    let lease_name = format!(
        "punctual-leader-{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let election = election_flags(&lease_ns, &lease_name);
    let flags = |identity: &'static str| {
        let mut f: Vec<&str> = election.to_vec();
        f.extend([key_arg, "--identity", identity]);
        f
    };
    let s = Setup::with_args(prefix, &flags("replica-a")).await;
    let leases: kube::Api<k8s_openapi::api::coordination::v1::Lease> =
        kube::Api::namespaced(s.client.clone(), &lease_ns);
    let holder = || async {
        let lease = leases.get_opt(&lease_name).await.ok().flatten()?;
        lease.spec?.holder_identity
    };
    eventually("replica-a leads", Duration::from_secs(60), || async {
        (holder().await.as_deref() == Some("replica-a")).then_some(())
    })
    .await;
    let b = Operator::start(
        &format!("{prefix}-b-{}", s.ns.name),
        &s.ns.name,
        &flags("replica-b"),
    );
    wait_facade_ready(b.facade_port).await;
    let (port, log) = recording_endpoint().await;
    let endpoint = json!({"apiVersion": "punctual.dev/v1alpha1", "kind": "ActionEndpoint",
        "metadata": {"name": "agent-202"}, "spec": {"url": format!("http://127.0.0.1:{port}/")}});
    kubectl_ok(
        &["apply", "-n", &s.ns.name, "-f", "-"],
        Some(&endpoint.to_string()),
    );
    s.create(
        json!({"name": "long", "endpoint_id": "agent-202", "namespace_id": "m",
                    "payload": {"agent": true}}),
    )
    .await;
    let run = trigger(&s, "/actions/long/trigger").await;
    let got = until_received(&log, 1).await;
    let (url, token) = callback_of(&got, 0);
    let path = format!("/actions/long/runs/{run}?view=full");
    s.get_until("awaiting the report", &path, |r| {
        r["status"] == "running" && r["attempts"][0]["http_status"] == 202
    })
    .await;
    assert_eq!(
        holder().await.as_deref(),
        Some("replica-a"),
        "the leader changed"
    );
    // The report goes to replica b's facade, the heartbeat too.
    let beat = report(b.facade_port, &url, &token, "/heartbeat", None).await;
    assert_eq!(beat.status, 200, "{}", beat.text);
    report_succeeded(b.facade_port, &url, &token, "from b").await;
    let full = s
        .get_until("recorded", &path, |r| r["status"] == "succeeded")
        .await;
    assert_eq!(full["output"], "from b");
    let action = s
        .get_until("counted once", "/actions/long", |a| a["total_runs"] == 1)
        .await;
    assert_eq!(action["successful_runs"], 1);
    assert_eq!(received(&log).len(), 1, "one request, no retry");
}

/// Cancel before a request is in flight: a run waiting for its endpoint's turn
/// (`maxConcurrentRequests: 1`, held by a hanging request) and a run waiting to retry. Each ends
/// `cancelled` with nothing sent for it afterwards, and no counter counts them.
#[tokio::test]
async fn cancel_a_run_waiting_for_its_turn_and_one_waiting_to_retry() {
    let s = Setup::new("agent-cancel-waiting").await;
    let (port, log) = recording_endpoint().await;
    let endpoint = json!({"apiVersion": "punctual.dev/v1alpha1", "kind": "ActionEndpoint",
        "metadata": {"name": "one-at-a-time"},
        "spec": {"url": format!("http://127.0.0.1:{port}/"), "maxConcurrentRequests": 1}});
    kubectl_ok(
        &["apply", "-n", &s.ns.name, "-f", "-"],
        Some(&endpoint.to_string()),
    );
    for (name, extra) in [
        ("hold", json!({"payload": {"hang": true}})),
        ("queued", json!({"payload": {"n": 1}})),
        (
            "flaky",
            json!({"payload": {"fail": true}, "max_retries": 3, "retry_delay_seconds": 10}),
        ),
    ] {
        let mut body = json!({"name": name, "endpoint_id": "one-at-a-time", "namespace_id": "m"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        s.create(body).await;
    }
    let sent_for = |run: &str| requests_for(&received(&log), "POST", run).len();

    // Waiting for its turn: the endpoint's one slot is held by a request that hangs.
    let hold = trigger(&s, "/actions/hold/trigger").await;
    until_received(&log, 1).await;
    let queued = trigger(&s, "/actions/queued/trigger").await;
    let path = format!("/actions/queued/runs/{queued}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let waiting = s.call("GET", &format!("{path}?view=full"), None).await;
    assert_eq!(waiting.json["status"], "pending", "{}", waiting.text);
    assert_eq!(waiting.json["attempts"], json!([]), "{}", waiting.text);
    let cancel = s.call("POST", &format!("{path}/cancel"), None).await;
    assert_eq!(cancel.status, 200, "{}", cancel.text);
    assert_eq!(cancel.json["status"], "cancelled");
    // Free the endpoint's slot: the cancelled run must not take it.
    let freed = s
        .call("POST", &format!("/actions/hold/runs/{hold}/cancel"), None)
        .await;
    assert_eq!(freed.json["status"], "cancelled", "{}", freed.text);
    eventually(
        "the hanging request aborted",
        Duration::from_secs(15),
        || async { (log.lock().unwrap().aborted == 1).then_some(()) },
    )
    .await;

    // Waiting to retry: attempt 1 failed, attempt 2 is due 10 s later.
    let flaky = trigger(&s, "/actions/flaky/trigger").await;
    let path = format!("/actions/flaky/runs/{flaky}");
    let retrying = s
        .get_until(
            "attempt 1 failed, a retry due",
            &format!("{path}?view=full"),
            |r| r["status"] == "pending" && !r["next_attempt_at"].is_null(),
        )
        .await;
    assert_eq!(retrying["attempts"].as_array().map(Vec::len), Some(1));
    let cancel = s.call("POST", &format!("{path}/cancel"), None).await;
    assert_eq!(cancel.status, 200, "{}", cancel.text);
    assert_eq!(cancel.json["status"], "cancelled");
    let full = s.call("GET", &format!("{path}?view=full"), None).await;
    assert_eq!(full.json["next_attempt_at"], Value::Null, "{}", full.text);
    // Past the retry's instant (10 s after attempt 1) with a margin: nothing more was sent.
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(
        sent_for(&queued),
        0,
        "the run cancelled while waiting was never sent"
    );
    assert_eq!(
        sent_for(&flaky),
        1,
        "the retry of the cancelled run was never sent"
    );
    assert_eq!(sent_for(&hold), 1);
    for (name, run) in [("hold", &hold), ("queued", &queued), ("flaky", &flaky)] {
        let r = s
            .call("GET", &format!("/actions/{name}/runs/{run}"), None)
            .await;
        assert_eq!(r.json["status"], "cancelled", "{name}: {}", r.text);
        let a = s.call("GET", &format!("/actions/{name}"), None).await;
        assert_eq!(
            (a.json["total_runs"].clone(), a.json["is_running"].clone()),
            (json!(0), json!(false)),
            "{name}: {}",
            a.text
        );
    }
}

/// The Events of `reason` on Action `action`, waiting up to 30 s for at least `at_least`: how
/// many (the event recorder folds Events of the same reason into one series, so they are
/// counted by its count) and their messages, one per line.
async fn action_events(ns: &str, action: &str, reason: &str, at_least: u64) -> (u64, String) {
    let selector =
        format!("involvedObject.kind=Action,involvedObject.name={action},reason={reason}");
    let list = || {
        kubectl_ok(
            &[
                "get",
                "events",
                "-n",
                ns,
                "--field-selector",
                &selector,
                "-o",
                "jsonpath={range .items[*]}{.series.count} {.message}{\"\\n\"}{end}",
            ],
            None,
        )
    };
    let count = |events: &str| -> u64 {
        events
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .map(|c| c.parse::<u64>().unwrap_or(1).max(1))
            .sum()
    };
    let mut events = String::new();
    for _ in 0..30 {
        events = list();
        if count(&events) >= at_least {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    (count(&events), events)
}

#[tokio::test]
async fn upcoming_for_cron_in_a_dst_zone_one_time_and_manual() {
    let s = Setup::new("agent-upcoming").await;
    s.create(
        // Sundays at 02:30: 100 of them span about two years, so every answer crosses both of
        // Berlin's changes (02:30 does not exist on the last Sunday of March, and happens twice
        // on the last Sunday of October), whatever day the test runs.
        json!({"name": "berlin", "endpoint_id": "agent", "namespace_id": "m",
                    "cron_expression": "30 2 * * 0", "timezone": "Europe/Berlin"}),
    )
    .await;
    let at = (chrono::Utc::now() + chrono::TimeDelta::days(2))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    s.create(
        json!({"name": "once", "endpoint_id": "agent", "namespace_id": "m", "scheduled_at": at}),
    )
    .await;
    s.create(json!({"name": "by hand", "endpoint_id": "agent", "namespace_id": "m"}))
        .await;
    let berlin = s
        .call("GET", "/actions/berlin/upcoming?count=100", None)
        .await;
    assert_eq!(berlin.status, 200, "{}", berlin.text);
    let list = berlin.json["upcoming"].as_array().unwrap();
    assert_eq!(list.len(), 100);
    let zone: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
    let local: Vec<_> = list
        .iter()
        .map(|item| {
            let utc: chrono::DateTime<chrono::Utc> = item["at"].as_str().unwrap().parse().unwrap();
            let local = utc.with_timezone(&zone);
            assert_eq!(item["local"], local.to_rfc3339());
            local
        })
        .collect();
    let (mut gaps, mut offsets) = (0, std::collections::BTreeSet::new());
    for pair in local.windows(2) {
        let (before, after) = (pair[0], pair[1]);
        // One instant every Sunday: none doubled on the day 02:30 happens twice, none lost.
        assert_eq!(
            (after.date_naive() - before.date_naive()).num_days(),
            7,
            "{after}"
        );
        assert_eq!(after.format("%a").to_string(), "Sun");
        offsets.insert(after.format("%:z").to_string());
        let hm = after.format("%H:%M").to_string();
        // 02:30, or 03:00 (the first minute after the gap) on the day summer time begins.
        let spring_forward = before.format("%:z").to_string() == "+01:00"
            && after.format("%:z").to_string() == "+02:00";
        if spring_forward {
            assert_eq!(hm, "03:00", "{after}");
            gaps += 1;
        } else {
            assert_eq!(hm, "02:30", "{after}");
        }
    }
    assert!(gaps >= 1, "no spring-forward day in {} weeks", local.len());
    assert_eq!(offsets.len(), 2, "both offsets: {offsets:?}");
    let once = s.call("GET", "/actions/once/upcoming", None).await;
    assert_eq!(once.json["schedule_type"], "one_time");
    assert_eq!(once.json["upcoming"][0]["at"], at.as_str());
    assert_eq!(once.json["upcoming"].as_array().unwrap().len(), 1);
    let manual = s.call("GET", "/actions/by-hand/upcoming", None).await;
    assert_eq!(manual.json["schedule_type"], "manual");
    assert_eq!(manual.json["upcoming"], json!([]));
    let preview = s
        .call(
            "GET",
            "/schedule-preview?cron_expression=0%209%20*%20*%201-5&timezone=America/New_York&count=5",
            None,
        )
        .await;
    assert_eq!(preview.status, 200, "{}", preview.text);
    assert_eq!(preview.json["upcoming"].as_array().unwrap().len(), 5);
    let bad = s
        .call(
            "GET",
            "/schedule-preview?cron_expression=61%20*%20*%20*%20*",
            None,
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.text);
}

/// Reports to a callback URL as an agent does: POST with the attempt's token.
async fn report(
    port: u16,
    url: &str,
    token: &str,
    suffix: &str,
    body: Option<Value>,
) -> crate::facade::Answer {
    let path = url
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_string()))
        .expect("a callback URL with a path");
    let bytes = body.map(|b| b.to_string().into_bytes());
    http(
        port,
        "POST",
        &format!("{path}{suffix}"),
        Some(token),
        bytes.as_deref(),
    )
    .await
}

/// Reports the attempt of `url` succeeded with `output`; asserts it was recorded at once (200).
async fn report_succeeded(port: u16, url: &str, token: &str, output: &str) {
    let body = json!({"status": "succeeded", "output": output});
    let done = report(port, url, token, "", Some(body)).await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(
        (done.json["status"].clone(), done.json["recorded"].clone()),
        (json!("succeeded"), json!(true))
    );
}

/// Triggers and returns the run's id.
async fn trigger(s: &Setup, path: &str) -> String {
    let t = s.call("POST", path, None).await;
    assert_eq!(t.status, 202, "{}", t.text);
    t.json["run_id"].as_str().unwrap().to_string()
}

/// The callback URL and token of the `i`-th request the endpoint received.
fn callback_of(got: &[Received], i: usize) -> (String, String) {
    let url = got[i]
        .header("X-Punctual-Callback-URL")
        .expect("a callback URL")
        .to_string();
    let token = got[i]
        .header("X-Punctual-Callback-Token")
        .expect("a callback token")
        .to_string();
    (url, token)
}

#[tokio::test]
async fn long_running_calls_report_by_callback() {
    let key = "e2e-callback-key-0123456789abcdef0123456789";
    let key_arg = format!("--callback-key={key}");
    let mut s = Setup::with_args("agent-callback", &[&key_arg]).await;
    let (port, log) = recording_endpoint().await;
    let endpoint = json!({"apiVersion": "punctual.dev/v1alpha1", "kind": "ActionEndpoint",
        "metadata": {"name": "agent-202"}, "spec": {"url": format!("http://127.0.0.1:{port}/")}});
    kubectl_ok(
        &["apply", "-n", &s.ns.name, "-f", "-"],
        Some(&endpoint.to_string()),
    );
    s.create(
        json!({"name": "long", "endpoint_id": "agent-202", "namespace_id": "m",
                    "max_retries": 1, "retry_delay_seconds": 1, "payload": {"agent": true}}),
    )
    .await;
    // Short completion timeouts for the timeout and heartbeat cases (kubectl: not on REST).
    completion_timeout(&s, "long", 4).await;
    let facade = s.op.facade_port;

    // 1. Succeeds by callback; a repeat is answered the same and changes nothing.
    let run = trigger(&s, "/actions/long/trigger").await;
    let got = until_received(&log, 1).await;
    let (url, token) = callback_of(&got, 0);
    assert!(
        url.ends_with(&format!("/v1/callbacks/{}/{run}/1", s.ns.name)),
        "{url}"
    );
    let path = format!("/actions/long/runs/{run}");
    s.get_until("running while the agent works", &path, |r| {
        r["status"] == "running"
    })
    .await;
    report_succeeded(facade, &url, &token, "42").await;
    let again = report(facade, &url, &token, "", Some(json!({"status": "failed"}))).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(
        (again.json["status"].clone(), again.json["recorded"].clone()),
        (json!("succeeded"), json!(false))
    );
    let full = s.call("GET", &format!("{path}?view=full"), None).await;
    assert_eq!(full.json["output"], "42");
    assert_eq!(full.json["attempts"][0]["http_status"], 202);

    // 2. Fails by callback: final, not retried.
    let run2 = trigger(&s, "/actions/long/trigger").await;
    let got = until_received(&log, 2).await;
    let (url2, token2) = callback_of(&got, 1);
    // A wrong token, and the first run's token: 401, and nothing changes.
    let wrong = report(
        facade,
        &url2,
        "bm9wZQ",
        "",
        Some(json!({"status": "succeeded"})),
    )
    .await;
    assert_eq!(wrong.status, 401, "{}", wrong.text);
    let others = report(
        facade,
        &url2,
        &token,
        "",
        Some(json!({"status": "succeeded"})),
    )
    .await;
    assert_eq!(others.status, 401, "{}", others.text);
    let unknown = report(
        facade,
        &url2.replace(&run2, "no-such-run"),
        &token2,
        "",
        Some(json!({"status": "succeeded"})),
    )
    .await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    let bad = report(facade, &url2, &token2, "", Some(json!({"status": "done"}))).await;
    assert_eq!(bad.status, 422, "{}", bad.text);
    let path2 = format!("/actions/long/runs/{run2}");
    // Running, awaiting the report (the 202 is recorded once the endpoint has answered).
    s.get_until(
        "run 2 awaiting its report",
        &format!("{path2}?view=full"),
        |r| r["status"] == "running" && r["attempts"][0]["http_status"] == 202,
    )
    .await;
    let failed = report(
        facade,
        &url2,
        &token2,
        "",
        Some(json!({"status": "failed", "error_message": "tool crashed"})),
    )
    .await;
    assert_eq!(failed.json["status"], "failed", "{}", failed.text);
    let r2 = s.call("GET", &path2, None).await.json;
    assert_eq!(
        (
            r2["error_code"].clone(),
            r2["error_message"].clone(),
            r2["attempt"].clone()
        ),
        (json!("reported_failure"), json!("tool crashed"), json!(1))
    );

    // 3. No report within completionTimeoutSeconds: a timeout, retried; attempt 2 is reported.
    let run3 = trigger(&s, "/actions/long/trigger").await;
    until_received(&log, 3).await;
    let path3 = format!("/actions/long/runs/{run3}");
    let got = until_received(&log, 4).await; // attempt 2, after the timeout and the retry delay
    let (url3, token3) = callback_of(&got, 3);
    assert!(url3.ends_with(&format!("/{run3}/2")), "{url3}");
    let full3 = s
        .call("GET", &format!("{path3}?view=full"), None)
        .await
        .json;
    assert_eq!(full3["attempts"][0]["error_code"], "timeout");
    // Attempt 1's token does not report attempt 2.
    let (url3a, token3a) = callback_of(&got, 2);
    let stale = report(
        facade,
        &url3,
        &token3a,
        "",
        Some(json!({"status": "succeeded"})),
    )
    .await;
    assert_eq!(stale.status, 401, "{}", stale.text);
    let late = report(
        facade,
        &url3a,
        &token3a,
        "",
        Some(json!({"status": "succeeded"})),
    )
    .await;
    assert_eq!(
        (late.status, late.json["recorded"].clone()),
        (200, json!(false)),
        "{}",
        late.text
    );
    let ok3 = report(
        facade,
        &url3,
        &token3,
        "",
        Some(json!({"status": "succeeded"})),
    )
    .await;
    assert_eq!(ok3.json["status"], "succeeded", "{}", ok3.text);
    assert_eq!(s.call("GET", &path3, None).await.json["attempt"], 2);

    // 4. Heartbeats keep it alive past the deadline.
    let run4 = trigger(&s, "/actions/long/trigger").await;
    let got = until_received(&log, 5).await;
    let (url4, token4) = callback_of(&got, 4);
    s.get_until(
        "run 4 awaiting its report",
        &format!("/actions/long/runs/{run4}?view=full"),
        |r| r["status"] == "running" && r["attempts"][0]["http_status"] == 202,
    )
    .await;
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let beat = report(facade, &url4, &token4, "/heartbeat", None).await;
        assert_eq!(beat.status, 200, "{}", beat.text);
    }
    // 8 s after the start, twice the timeout: still running on the heartbeats.
    let path4 = format!("/actions/long/runs/{run4}");
    assert_eq!(s.call("GET", &path4, None).await.json["status"], "running");
    assert_eq!(received(&log).len(), 5, "no second attempt");
    let ok4 = report(
        facade,
        &url4,
        &token4,
        "",
        Some(json!({"status": "succeeded"})),
    )
    .await;
    assert_eq!(ok4.json["status"], "succeeded", "{}", ok4.text);
    let after = report(facade, &url4, &token4, "/heartbeat", None).await;
    assert_eq!(
        after.status, 409,
        "a heartbeat for a finished attempt: {}",
        after.text
    );

    // 5. A callback after an operator restart (the state is in the run; same key).
    completion_timeout(&s, "long", 600).await;
    let run5 = trigger(&s, "/actions/long/trigger").await;
    let got = until_received(&log, 6).await;
    let (url5, token5) = callback_of(&got, 5);
    let path5 = format!("/actions/long/runs/{run5}");
    s.get_until("run 5 running", &path5, |r| r["status"] == "running")
        .await;
    s.op.kill();
    s.op = Operator::start("agent-callback-2", &s.ns.name, &[&key_arg]);
    wait_facade_ready(s.op.facade_port).await;
    let ok5 = report(
        s.op.facade_port,
        &url5,
        &token5,
        "",
        Some(json!({"status": "succeeded"})),
    )
    .await;
    assert_eq!(ok5.status, 200, "{}", ok5.text);
    assert_eq!(ok5.json["status"], "succeeded");

    // 6. Cancel a run the agent is working on: it is told with a DELETE and X-Punctual-Cancel.
    let run6 = trigger(&s, "/actions/long/trigger").await;
    until_received(&log, 7).await;
    let path6 = format!("/actions/long/runs/{run6}");
    s.get_until("run 6 running", &path6, |r| r["status"] == "running")
        .await;
    let cancel = s.call("POST", &format!("{path6}/cancel"), None).await;
    assert_eq!(cancel.json["status"], "cancelled", "{}", cancel.text);
    let got = until_received(&log, 8).await;
    assert_eq!(got[7].method, "DELETE");
    assert_eq!(got[7].header("X-Punctual-Cancel"), Some("true"));
    assert_eq!(got[7].header("X-Punctual-Run"), Some(run6.as_str()));

    // 7. No report on either attempt: failed for good by timeout.
    completion_timeout(&s, "long", 2).await;
    let run7 = trigger(&s, "/actions/long/trigger").await;
    let r7 = s
        .get_until(
            "run 7 timed out twice",
            &format!("/actions/long/runs/{run7}"),
            |r| r["status"] == "failed",
        )
        .await;
    assert_eq!(
        (r7["error_code"].clone(), r7["attempt"].clone()),
        (json!("timeout"), json!(2))
    );

    // 8. A fast agent reports before its 202 has reached Punctual (the endpoint holds the
    // answer 2 s): the report waits in the run and counts once the 202 is recorded.
    let t8 = s
        .call(
            "POST",
            "/actions/long/trigger",
            Some(json!({"payload": {"agent": true, "slow": true}})),
        )
        .await;
    assert_eq!(t8.status, 202, "{}", t8.text);
    let run8 = t8.json["run_id"].as_str().unwrap().to_string();
    let sent8 = eventually("run 8's request", Duration::from_secs(30), || async {
        requests_for(&received(&log), "POST", &run8)
            .first()
            .map(|r| (*r).clone())
    })
    .await;
    let url8 = sent8.header("X-Punctual-Callback-URL").unwrap().to_string();
    let token8 = sent8
        .header("X-Punctual-Callback-Token")
        .unwrap()
        .to_string();
    let path8 = format!("/actions/long/runs/{run8}?view=full");
    let before = s.call("GET", &path8, None).await.json;
    assert_eq!(
        before["http_status"],
        Value::Null,
        "the 202 is not recorded yet"
    );
    report_succeeded(s.op.facade_port, &url8, &token8, "early").await;
    let r8 = s.call("GET", &path8, None).await.json;
    assert_eq!(
        (
            r8["status"].clone(),
            r8["output"].clone(),
            r8["attempt"].clone()
        ),
        (json!("succeeded"), json!("early"), json!(1))
    );

    // The counters: runs 1, 3, 4, 5, 8 succeeded; runs 2 and 7 failed; run 6 cancelled (not
    // counted).
    let action = s
        .get_until("counters settled", "/actions/long", |a| {
            a["total_runs"] == 7
        })
        .await;
    assert_eq!(
        (
            action["successful_runs"].clone(),
            action["failed_runs"].clone()
        ),
        (json!(5), json!(2))
    );
    // The Action's Events mark the transitions: run 2 failed after a success, run 3 recovered
    // (its first attempt's timeout was retried, so it is no RunTimedOut), run 6 was cancelled,
    // run 7 failed again and timed out for good, run 8 recovered.
    let ns = &s.ns.name;
    for (reason, n, names) in [
        ("RunFailed", 2, vec![&run2, &run7]),
        ("RunRecovered", 2, vec![&run3, &run8]),
        ("RunCancelled", 1, vec![&run6]),
        ("RunTimedOut", 1, vec![&run7]),
    ] {
        let (told, events) = action_events(ns, "long", reason, n).await;
        assert_eq!(told, n, "{n} {reason} Events in:\n{events}");
        for name in names {
            assert!(
                events.contains(name.as_str()),
                "{reason} names {name}: {events}"
            );
        }
    }
}

/// Sets the Action's `completionTimeoutSeconds` with kubectl (it is not a REST field) and waits
/// until the facade's cache shows the change: a run copies it when it is created, so a trigger
/// right after the patch could be built from the old spec.
async fn completion_timeout(s: &Setup, action: &str, seconds: u32) {
    let path = format!("/actions/{action}");
    let before = s.call("GET", &path, None).await.json["updated_at"].clone();
    // updated_at has whole seconds: a second after the last change, the patch shows in it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let patch = json!({"spec": {"completionTimeoutSeconds": seconds}}).to_string();
    kubectl_ok(
        &[
            "patch",
            "action",
            action,
            "-n",
            &s.ns.name,
            "--type=merge",
            "-p",
            &patch,
        ],
        None,
    );
    s.get_until("the facade sees the new timeout", &path, |a| {
        a["updated_at"] != before
    })
    .await;
}

/// Runs `punctual <args>` as a person would, with the admin kubeconfig; returns (ok, stdout, stderr).
fn punctual(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_punctual"))
        .args(args)
        .output()
        .expect("run punctual");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_punctual_command_triggers_lists_and_cancels_against_the_cluster() {
    let s = Setup::new("agent-cli").await;
    let (port, log) = recording_endpoint().await;
    let endpoint = json!({"apiVersion": "punctual.dev/v1alpha1", "kind": "ActionEndpoint",
        "metadata": {"name": "recorder"}, "spec": {"url": format!("http://127.0.0.1:{port}/")}});
    kubectl_ok(
        &["apply", "-n", &s.ns.name, "-f", "-"],
        Some(&endpoint.to_string()),
    );
    s.create(
        json!({"name": "ask", "endpoint_id": "recorder", "namespace_id": "m",
                    "payload": {"q": "about {{ topic | default('all') }}"}}),
    )
    .await;
    let ns = s.ns.name.as_str();

    // A dry run prints the request the runner would send and creates nothing; as JSON it is
    // the REST dry run's answer.
    let dry_run = [
        "trigger",
        "ask",
        "-n",
        ns,
        "--var",
        "topic=billing",
        "--dry-run",
    ];
    let (ok, dry, err) = punctual(&dry_run);
    assert!(ok, "{err}");
    assert!(dry.contains("would be created (dry run)"), "{dry}");
    assert!(
        dry.contains(&format!("POST http://127.0.0.1:{port}/\n")),
        "{dry}"
    );
    assert!(dry.contains("Content-Type: application/json"), "{dry}");
    assert!(dry.contains(r#""q": "about billing""#), "{dry}");
    let (ok, dry, err) = punctual(&[&dry_run[..], &["-o", "json"]].concat());
    assert!(ok, "{err}");
    let dry: Value = serde_json::from_str(&dry).expect("JSON output");
    assert_eq!(dry["would_send"], true, "{dry}");
    assert_eq!(dry["url"], format!("http://127.0.0.1:{port}/"));
    assert_eq!(dry["body"], json!({"q": "about billing"}));
    let (ok, listed, err) = punctual(&["runs", "ask", "-n", ns, "-o", "json"]);
    assert!(ok, "{err}");
    assert_eq!(listed.trim(), "[]", "a dry run creates nothing");
    // Trigger with a variable and a thread, as JSON.
    let (ok, created, err) = punctual(&[
        "trigger",
        "ask",
        "-n",
        ns,
        "--var",
        "topic=billing",
        "--thread-id",
        "t-7",
        "-o",
        "json",
    ]);
    assert!(ok, "{err}");
    let run: Value = serde_json::from_str(&created).expect("JSON output");
    let name = run["metadata"]["name"]
        .as_str()
        .expect("a run name")
        .to_string();
    let got = until_received(&log, 1).await;
    assert_eq!(got[0].body, json!({"q": "about billing"}));
    assert_eq!(got[0].header("X-Thread-Id"), Some("t-7"));
    s.get_until(
        "the CLI's run succeeded",
        &format!("/actions/ask/runs/{name}"),
        |r| r["status"] == "succeeded",
    )
    .await;

    // The runs table, wide, and as the kubectl plugin.
    let (ok, table, err) = punctual(&["runs", "ask", "-n", ns, "-o", "wide"]);
    assert!(ok, "{err}");
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(header[..3], ["NAME", "STATUS", "ATTEMPT"]);
    assert!(header.contains(&"EXECUTION-ID"));
    let row = table
        .lines()
        .find(|l| l.starts_with(&name))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("succeeded") && row.contains("t-7"), "{row}");
    let plugins = tempfile_dir();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_punctual"),
        plugins.join("kubectl-punctual"),
    )
    .expect("symlink the plugin");
    let path = format!(
        "{}:{}",
        plugins.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let kubectl = std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into());
    let plugin = std::process::Command::new(kubectl)
        .args(["punctual", "runs", "ask", "-n", ns, "-o", "yaml"])
        .env("PATH", path)
        .output()
        .expect("kubectl punctual");
    let yaml = String::from_utf8_lossy(&plugin.stdout);
    assert!(
        plugin.status.success(),
        "{}",
        String::from_utf8_lossy(&plugin.stderr)
    );
    assert!(yaml.contains(&format!("name: {name}")), "{yaml}");

    // Cancel a run whose request is in flight.
    let (ok, created, err) = punctual(&[
        "trigger",
        "ask",
        "-n",
        ns,
        "--payload",
        r#"{"hang": true}"#,
        "-o",
        "json",
    ]);
    assert!(ok, "{err}");
    let run: Value = serde_json::from_str(&created).expect("JSON output");
    let hanging = run["metadata"]["name"]
        .as_str()
        .expect("a run name")
        .to_string();
    until_received(&log, 2).await;
    let (ok, out, err) = punctual(&["cancel", &hanging, "-n", ns, "--reason", "from the CLI"]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), format!("actionrun/{hanging} cancelled"));
    eventually(
        "the endpoint saw the abort",
        Duration::from_secs(15),
        || async { (log.lock().unwrap().aborted == 1).then_some(()) },
    )
    .await;
    let (ok, _, err) = punctual(&["cancel", &hanging, "-n", ns]);
    assert!(!ok && err.contains("already cancelled"), "{err}");
    let (ok, _, err) = punctual(&["trigger", "nope", "-n", ns]);
    assert!(!ok && err.contains("Action nope not found"), "{err}");
    let (ok, next, _) = punctual(&["next", "0 9 * * *", "--tz", "Asia/Tokyo", "--count", "2"]);
    assert!(
        ok && next
            .lines()
            .nth(1)
            .is_some_and(|l| l.ends_with("T09:00:00+09:00")),
        "{next}"
    );
}

/// A fresh directory under target/ for this test's files.
fn tempfile_dir() -> std::path::PathBuf {
    let dir = repo_root()
        .join("target")
        .join(format!("e2e-cli-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    dir
}

/// The requests for run `run` with `method`.
fn requests_for<'a>(got: &'a [Received], method: &str, run: &str) -> Vec<&'a Received> {
    got.iter()
        .filter(|r| r.method == method && r.header("X-Punctual-Run") == Some(run))
        .collect()
}

/// concurrencyPolicy Replace at the next slot: the run an agent is still working on (it answered
/// 202) ends `cancelled` and its endpoint is told with one DELETE, and the new slot's request
/// goes out. Deleting the Action then tells the endpoint of that run too. Every way a 202 run
/// ends cancelled goes through one cancel path; the REST cancel is in the test above.
#[tokio::test]
async fn replace_and_deleting_the_action_tell_a_202_endpoint() {
    let s = Setup::new("agent-replace").await;
    let (port, log) = recording_endpoint().await;
    let manifests = json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "punctual.dev/v1alpha1", "kind": "ActionEndpoint",
         "metadata": {"name": "agent-202"}, "spec": {"url": format!("http://127.0.0.1:{port}/")}},
        {"apiVersion": "punctual.dev/v1alpha1", "kind": "Action", "metadata": {"name": "minutely"},
         "spec": {"app": "a", "namespaceId": "m", "endpoint": "agent-202",
                  "scheduleType": "cron", "cronExpression": "* * * * *",
                  "concurrencyPolicy": "Replace", "completionTimeoutSeconds": 600,
                  "payload": {"agent": true}}},
    ]});
    kubectl_ok(
        &["apply", "-n", &s.ns.name, "-f", "-"],
        Some(&manifests.to_string()),
    );
    // Up to a minute to the first slot, then a minute to the next.
    let slot = Duration::from_secs(75);
    let first = eventually("the first slot's request", slot, || async {
        received(&log).first().cloned()
    })
    .await;
    assert_eq!(first.method, "POST");
    let run1 = first.header("X-Punctual-Run").expect("a run").to_string();
    let (told, run2) = eventually("the next slot replacing the first", slot, || async {
        let got = received(&log);
        let told = requests_for(&got, "DELETE", &run1).len();
        let next = got
            .iter()
            .filter(|r| r.method == "POST")
            .filter_map(|r| r.header("X-Punctual-Run"))
            .find(|r| *r != run1)
            .map(str::to_string);
        next.filter(|_| told > 0).map(|n| (told, n))
    })
    .await;
    assert_eq!(told, 1, "one DELETE for the replaced run");
    let runs: kube::Api<punctual::resources::ActionRun> =
        kube::Api::namespaced(s.client.clone(), &s.ns.name);
    let replaced = runs.get(&run1).await.expect("the replaced run");
    let st = replaced.status.expect("a status");
    assert_eq!(st.status, punctual::resources::RunPhase::Cancelled);
    let message = st.error_message.unwrap_or_default();
    assert!(message.contains("concurrencyPolicy Replace"), "{message}");

    kubectl_ok(&["delete", "action", "minutely", "-n", &s.ns.name], None);
    eventually(
        "the endpoint told of the deleted Action's run",
        slot,
        || async {
            let got = received(&log);
            (!requests_for(&got, "DELETE", &run2).is_empty()).then_some(())
        },
    )
    .await;
    // Whichever sees it first (the cancel write, or the run's deletion), it is told once.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = received(&log);
    assert_eq!(requests_for(&got, "DELETE", &run2).len(), 1);
    assert_eq!(requests_for(&got, "DELETE", &run1).len(), 1);
    for r in requests_for(&got, "DELETE", &run2) {
        assert_eq!(r.header("X-Punctual-Cancel"), Some("true"));
    }
}
