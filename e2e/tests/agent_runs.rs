//! Runs built for agents, through the real facade, runner and API server: trigger overrides and
//! the dry run, rerun, cancel (REST and kubectl) with the endpoint seeing the abort, and the
//! schedule previews. The endpoint is a real HTTP server in the test that records every request.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::facade::Setup;
use crate::support::*;

/// One request the endpoint received.
#[derive(Clone, Debug)]
struct Received {
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

/// An endpoint that answers 200 at once, or never when the body has `"hang": true` (it then
/// waits for the client to close the connection and counts that as an abort).
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
                let headers = head
                    .lines()
                    .skip(1)
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .collect();
                let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                let hang = body["hang"] == true;
                log.lock()
                    .unwrap()
                    .received
                    .push(Received { headers, body });
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
                let answer = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}";
                let _ = conn.write_all(answer.as_bytes()).await;
            });
        }
    });
    (port, log)
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
}

#[tokio::test]
async fn upcoming_for_cron_in_a_dst_zone_one_time_and_manual() {
    let s = Setup::new("agent-upcoming").await;
    s.create(
        json!({"name": "berlin", "endpoint_id": "agent", "namespace_id": "m",
                    "cron_expression": "30 2 * * *", "timezone": "Europe/Berlin"}),
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
    for item in list {
        let utc: chrono::DateTime<chrono::Utc> = item["at"].as_str().unwrap().parse().unwrap();
        let local = utc.with_timezone(&zone);
        assert_eq!(item["local"], local.to_rfc3339());
        // 02:30 local every day, or 03:00 on a spring-forward day when 02:30 does not exist.
        let hm = local.format("%H:%M").to_string();
        assert!(hm == "02:30" || hm == "03:00", "{hm}");
    }
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
