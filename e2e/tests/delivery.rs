//! The delivery contract of docs/delivery.md against the real control plane, `punctual run` and a
//! real HTTP endpoint started by each test: signed requests, backoff and Retry-After.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Event;
use kube::ResourceExt;
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use punctual::resources::{ActionRun, ActionRunStatus, NotificationPhase, RunErrorCode, RunPhase};
use punctual::runner::signing::{self, Rejection, SigningKey};
use serde_json::json;

use crate::runner::{apply, create_action, endpoint_url, finished, setup, status, trigger};
use crate::support::*;

/// One request the test endpoint received, with its exact body bytes (signatures cover them).
#[derive(Clone, Debug)]
pub(crate) struct Received {
    path: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
    at: std::time::Instant,
}

impl Received {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

#[derive(Clone, Default)]
pub(crate) struct Agent {
    calls: Arc<Mutex<Vec<Received>>>,
    /// Every Retry-After value sent, in order.
    retry_after: Arc<Mutex<Vec<String>>>,
    /// Requests being answered now, and the most at any moment (`/hold/{ms}`).
    active: Arc<std::sync::atomic::AtomicUsize>,
    max_active: Arc<std::sync::atomic::AtomicUsize>,
    /// Key sets by name, for `/verify/{set}`.
    keys: Arc<HashMap<String, Vec<SigningKey>>>,
}

impl Agent {
    fn calls(&self) -> Vec<Received> {
        self.calls.lock().expect("lock").clone()
    }

    pub(crate) fn calls_of(&self, run: &ActionRun) -> Vec<Received> {
        let name = run.name_any();
        self.calls()
            .into_iter()
            .filter(|c| c.header("x-punctual-run") == Some(name.as_str()))
            .collect()
    }
}

/// A test endpoint on a free loopback port. `/verify/{set}` answers 200 when the Standard
/// Webhooks signature verifies with key set `set` (else 401); `/answer/{code}/{n}` answers `code`
/// to the first `n` requests of each run on that path, with `Retry-After: <v>` when the query has
/// `retry_after=<v>` (`date+<s>`: an HTTP date s seconds ahead), then 200; `/hold/{ms}`
/// answers 200 after ms milliseconds, counting the requests it holds at once; anything else 200.
pub(crate) async fn agent(keys: HashMap<String, Vec<SigningKey>>) -> (SocketAddr, Agent) {
    let agent = Agent {
        keys: Arc::new(keys),
        ..Agent::default()
    };
    let app = Router::new().fallback(handle).with_state(agent.clone());
    (serve_on_free_port(app).await, agent)
}

async fn handle(State(agent): State<Agent>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let call = Received {
        path: uri.path().to_string(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body: body.to_vec(),
        at: std::time::Instant::now(),
    };
    let run = call
        .header("x-punctual-run")
        .unwrap_or_default()
        .to_string();
    let seen = {
        let mut calls = agent.calls.lock().expect("lock");
        calls.push(call.clone());
        calls
            .iter()
            .filter(|c| c.header("x-punctual-run") == Some(run.as_str()) && c.path == call.path)
            .count()
    };
    let parts: Vec<&str> = uri.path().trim_start_matches('/').split('/').collect();
    let asked = uri.query().and_then(|q| q.strip_prefix("retry_after="));
    match parts.as_slice() {
        ["verify", set] => {
            let keys = agent.keys.get(*set).cloned().unwrap_or_default();
            match verify(&keys, &call, &call.body) {
                Ok(()) => (StatusCode::OK, "verified").into_response(),
                Err(e) => (StatusCode::UNAUTHORIZED, e.to_string()).into_response(),
            }
        }
        ["hold", ms] => {
            use std::sync::atomic::Ordering::SeqCst;
            let now = agent.active.fetch_add(1, SeqCst) + 1;
            agent.max_active.fetch_max(now, SeqCst);
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
            agent.active.fetch_sub(1, SeqCst);
            (StatusCode::OK, "held").into_response()
        }
        ["answer", code, n] if seen <= n.parse().unwrap_or(0) => {
            let code = code.parse().ok().and_then(|c| StatusCode::from_u16(c).ok());
            let mut response = code.unwrap_or(StatusCode::BAD_REQUEST).into_response();
            if let Some(value) = asked.map(retry_after_value) {
                agent.retry_after.lock().expect("lock").push(value.clone());
                let value = HeaderValue::from_str(&value).expect("header value");
                response.headers_mut().insert("retry-after", value);
            }
            response
        }
        _ => (StatusCode::OK, "ok").into_response(),
    }
}

/// `date+<s>` becomes an HTTP date s seconds from now; anything else is sent as it is.
fn retry_after_value(asked: &str) -> String {
    match asked
        .strip_prefix("date+")
        .and_then(|s| s.parse::<u64>().ok())
    {
        Some(s) => httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(s)),
        None => asked.to_string(),
    }
}

fn verify(keys: &[SigningKey], call: &Received, body: &[u8]) -> Result<(), Rejection> {
    signing::verify(
        keys,
        call.header(signing::ID_HEADER),
        call.header(signing::TIMESTAMP_HEADER),
        call.header(signing::SIGNATURE_HEADER),
        body,
        Utc::now().timestamp(),
    )
}

fn key(text: &str) -> SigningKey {
    SigningKey::parse(text).expect("signing key")
}

const NEW_KEY: &str = "whsec_bmV3LWtleS1ieXRlcy1mb3ItcHVuY3R1YWwtZTJl";
const OLD_KEY: &str = "whsec_b2xkLWtleS1ieXRlcy1mb3ItcHVuY3R1YWwtZTJl";
const OTHER_KEY: &str = "whsec_b3RoZXIta2V5LWJ5dGVzLWZvci1wdW5jdHVhbA==";

#[tokio::test]
async fn signed_requests_verify_with_one_key_and_with_either_key_during_rotation() {
    let (client, ns) = setup("e2e-sign").await;
    let sets = HashMap::from([
        ("new".to_string(), vec![key(NEW_KEY)]),
        ("old".to_string(), vec![key(OLD_KEY)]),
        ("other".to_string(), vec![key(OTHER_KEY)]),
    ]);
    let (addr, agent) = agent(sets).await;
    let broken = "not-a-signing-key-value";
    apply(
        &ns.name,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "signing"},
               "stringData": {"new": NEW_KEY, "old": OLD_KEY, "broken": broken}}),
    );
    let signing = |keys: &[&str]| json!({"signing": {"secretName": "signing", "keys": keys}});
    let url = |path: &str| format!("http://{addr}{path}");
    endpoint_url(&ns.name, "one", &url("/verify/new"), signing(&["new"]));
    endpoint_url(
        &ns.name,
        "rotating",
        &url("/verify/old"),
        signing(&["new", "old"]),
    );
    endpoint_url(
        &ns.name,
        "stranger",
        &url("/verify/other"),
        signing(&["new"]),
    );
    endpoint_url(
        &ns.name,
        "broken",
        &url("/verify/new"),
        signing(&["broken"]),
    );
    endpoint_url(&ns.name, "unsigned", &url("/plain"), json!({}));
    let op = Operator::start(&format!("sign-{}", ns.name), &ns.name, &[]);
    let mut done = BTreeMap::new();
    for endpoint in ["one", "rotating", "stranger", "broken", "unsigned"] {
        let action = create_action(
            &client,
            &ns.name,
            endpoint,
            json!({"endpoint": endpoint, "payload": {"prompt": "sign {{ run_id }}"}}),
        )
        .await;
        let run = trigger(&client, &action).await;
        done.insert(
            endpoint,
            finished(&client, &run, Duration::from_secs(60)).await,
        );
    }

    // One key: verified by the endpoint; the id is the idempotency key and the attempt, the
    // timestamp the instant the attempt was sent.
    let run = &done["one"];
    let st = status(run);
    assert_eq!(st.status, RunPhase::Succeeded, "{st:?}");
    let calls = agent.calls_of(run);
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(
        call.header("webhook-id"),
        Some(format!("{}_1", run.name_any()).as_str())
    );
    let ts: i64 = call
        .header("webhook-timestamp")
        .and_then(|t| t.parse().ok())
        .expect("webhook-timestamp");
    let attempt = &st.attempts[0];
    let sent = attempt.started_at.timestamp();
    let ended = attempt.completed_at.map(|t| t.timestamp()).unwrap_or(sent);
    assert!(
        (sent - 1..=ended).contains(&ts),
        "{ts} not in {sent}..={ended}"
    );
    let signature = call.header("webhook-signature").unwrap_or_default();
    assert_eq!(signature.split(' ').count(), 1, "{signature}");
    // Tampered: the same headers over a changed body do not verify.
    let mut tampered = call.body.clone();
    tampered.extend_from_slice(b" ");
    assert_eq!(
        verify(&[key(NEW_KEY)], call, &tampered),
        Err(Rejection::BadSignature)
    );

    // Rotation: two signatures, the new key's first; an endpoint that knows only the old key
    // accepts the request.
    let run = &done["rotating"];
    assert_eq!(status(run).status, RunPhase::Succeeded, "{:?}", status(run));
    let call = &agent.calls_of(run)[0];
    let entries: Vec<String> = call
        .header("webhook-signature")
        .unwrap_or_default()
        .split(' ')
        .map(str::to_string)
        .collect();
    assert_eq!(entries.len(), 2, "{entries:?}");
    for (entry, k) in entries.iter().zip([NEW_KEY, OLD_KEY]) {
        let single = Received {
            headers: [("webhook-signature".to_string(), entry.clone())]
                .into_iter()
                .chain(
                    call.headers
                        .clone()
                        .into_iter()
                        .filter(|(h, _)| h != "webhook-signature"),
                )
                .collect(),
            ..call.clone()
        };
        assert_eq!(verify(&[key(k)], &single, &single.body), Ok(()), "{entry}");
    }

    // A key the endpoint does not know: rejected, and the run fails with the endpoint's 401.
    let st = status(&done["stranger"]);
    assert_eq!(
        (st.status, st.error_code, st.http_status),
        (RunPhase::Failed, Some(RunErrorCode::HttpError), Some(401)),
        "{st:?}"
    );

    // A Secret value that is no key: nothing is sent, the error says why without the value.
    let run = &done["broken"];
    let st = status(run);
    assert_eq!(st.error_code, Some(RunErrorCode::SecretNotFound), "{st:?}");
    let message = st.error_message.clone().unwrap_or_default();
    assert!(
        message.contains("key broken is not a signing key"),
        "{message}"
    );
    assert!(agent.calls_of(run).is_empty());

    // No signing configured: no webhook-* headers.
    let call = &agent.calls_of(&done["unsigned"])[0];
    assert_eq!(call.path, "/plain");
    assert!(
        !call.headers.keys().any(|h| h.starts_with("webhook-")),
        "{:?}",
        call.headers
    );

    // No key appears in any run, Action, Event or log line.
    let dump = kubectl_ok(
        &[
            "get",
            "actionruns,actions,actionendpoints,events",
            "-n",
            &ns.name,
            "-o",
            "yaml",
        ],
        None,
    );
    let log = std::fs::read_to_string(&op.log).unwrap_or_default();
    for secret in [NEW_KEY, OLD_KEY, broken] {
        let body = secret.trim_start_matches("whsec_");
        assert!(!dump.contains(body), "a key is in the API objects");
        assert!(!log.contains(body), "a key is in the operator log");
    }
}

/// Every status the run is written with from now until it finishes, in order (a watch sees each
/// write), and the run at the end.
async fn statuses_until_finished(
    client: &kube::Client,
    run: &ActionRun,
) -> (Vec<ActionRunStatus>, ActionRun) {
    let api: Api<ActionRun> = Api::namespaced(client.clone(), &run.namespace().expect("ns"));
    let params = WatchParams::default()
        .fields(&format!("metadata.name={}", run.name_any()))
        .timeout(280);
    let rv = run.resource_version().unwrap_or_default();
    let mut stream = api.watch(&params, &rv).await.expect("watch run").boxed();
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while let Ok(Ok(Some(event))) = tokio::time::timeout_at(deadline, stream.try_next()).await {
        if let WatchEvent::Modified(r) = event {
            let st = r.status.clone().unwrap_or_default();
            seen.push(st.clone());
            if !st.status.is_active() {
                return (seen, r);
            }
        }
    }
    panic!(
        "run {} did not finish within 120 s: {seen:?}",
        run.name_any()
    );
}

/// The waits the run was written with: (attempt, its end, nextAttemptAt), one per retry.
fn waits(seen: &[ActionRunStatus]) -> Vec<(i32, DateTime<Utc>, DateTime<Utc>)> {
    let mut out: Vec<(i32, DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for st in seen {
        let (Some(next), Some(last)) = (st.next_attempt_at, st.attempts.last()) else {
            continue;
        };
        let ended = last
            .completed_at
            .expect("a waiting run's last attempt has ended");
        if out.last().is_none_or(|(n, _, _)| *n != last.number) {
            out.push((last.number, ended, next));
        }
    }
    out
}

/// Attempt `n`'s start in the final status.
fn started(run: &ActionRun, n: i32) -> DateTime<Utc> {
    status(run)
        .attempts
        .iter()
        .find(|a| a.number == n)
        .map(|a| a.started_at)
        .unwrap_or_else(|| panic!("no attempt {n}: {:?}", status(run)))
}

/// Exponential backoff, read from the `nextAttemptAt` each run is written with. Retry delays
/// are 1 s doubling, capped at 3 s, so the ceilings of the three retries are 1 s, 2 s and 3 s (not
/// 4 s). With full jitter a single run proves little, so 30 runs fail three times each: every
/// wait stays within its ceiling, and some second and some third wait exceed the ceiling before
/// them, which a missing doubling can never do (a correct implementation fails that by chance
/// with probability (1/2)^30 and (2/3)^30; without the cap all 30 third waits would stay under
/// 3 s with probability (3/4)^30 < 2e-4).
#[tokio::test]
async fn exponential_backoff_waits_a_jittered_time_within_the_cap() {
    let (client, ns) = setup("e2e-backoff").await;
    let (addr, agent) = agent(HashMap::new()).await;
    endpoint_url(
        &ns.name,
        "agent",
        &format!("http://{addr}/answer/500/3"),
        json!({}),
    );
    let _op = Operator::start(&format!("backoff-{}", ns.name), &ns.name, &[]);
    let action = create_action(
        &client,
        &ns.name,
        "expo",
        json!({"maxRetries": 3, "retryDelaySeconds": 1, "retryBackoff": "exponential",
               "maxRetryDelaySeconds": 3}),
    )
    .await;
    let mut runs = Vec::new();
    for _ in 0..30 {
        runs.push(trigger(&client, &action).await);
    }
    let watched =
        futures::future::join_all(runs.iter().map(|r| statuses_until_finished(&client, r))).await;
    let ceiling = |retry: i32| chrono::Duration::seconds([1, 2, 3][(retry - 1) as usize]);
    let mut all_waits = Vec::new();
    for (seen, done) in &watched {
        assert_eq!(
            status(done).status,
            RunPhase::Succeeded,
            "{:?}",
            status(done)
        );
        let waits = waits(seen);
        assert_eq!(
            waits.iter().map(|w| w.0).collect::<Vec<_>>(),
            [1, 2, 3],
            "{seen:?}"
        );
        for (n, ended, next) in &waits {
            let wait = *next - *ended;
            assert!(
                wait >= chrono::Duration::zero() && wait <= ceiling(*n),
                "retry after attempt {n} waits {wait}, above {}",
                ceiling(*n)
            );
            assert!(
                started(done, n + 1) >= *next,
                "attempt {} before {next}",
                n + 1
            );
        }
        all_waits.extend(waits);
    }
    let longest = |retry: i32| {
        all_waits
            .iter()
            .filter(|w| w.0 == retry)
            .map(|(_, ended, next)| *next - *ended)
            .max()
            .unwrap_or_default()
    };
    assert!(
        longest(2) > ceiling(1),
        "the second waits never doubled: {all_waits:?}"
    );
    assert!(
        longest(3) > ceiling(2),
        "the third waits never grew: {all_waits:?}"
    );
    // Full jitter: a random share in milliseconds, not the same whole seconds each time.
    let whole = all_waits
        .iter()
        .all(|(_, e, n)| (*n - *e).num_milliseconds() % 1000 == 0);
    assert!(!whole, "no jitter in {all_waits:?}");
    let done = &watched[0].1;
    // Every attempt carries the run's trace (status.traceId), each in a span of its own.
    let trace = status(done).trace_id.expect("traceId");
    let parents: Vec<String> = agent
        .calls_of(done)
        .iter()
        .map(|c| c.header("traceparent").unwrap_or_default().to_string())
        .collect();
    assert_eq!(parents.len(), 4, "{parents:?}");
    let mut spans = std::collections::BTreeSet::new();
    for tp in &parents {
        let parts: Vec<&str> = tp.split('-').collect();
        assert_eq!(parts.len(), 4, "{tp}");
        assert_eq!(
            (parts[0], parts[1], parts[3]),
            ("00", trace.as_str(), "01"),
            "{tp}"
        );
        spans.insert(parts[2].to_string());
    }
    assert_eq!(spans.len(), 4, "{parents:?}");
}

#[tokio::test]
async fn retry_after_in_seconds_or_as_a_date_sets_the_next_attempt_within_the_maximum() {
    let (client, ns) = setup("e2e-retry-after").await;
    let (addr, agent) = agent(HashMap::new()).await;
    let url = |path: &str| format!("http://{addr}{path}");
    endpoint_url(
        &ns.name,
        "secs",
        &url("/answer/429/1?retry_after=3"),
        json!({}),
    );
    endpoint_url(
        &ns.name,
        "date",
        &url("/answer/503/1?retry_after=date+4"),
        json!({}),
    );
    endpoint_url(
        &ns.name,
        "capped",
        &url("/answer/429/1?retry_after=120"),
        json!({}),
    );
    let _op = Operator::start(&format!("retry-after-{}", ns.name), &ns.name, &[]);
    // Without Retry-After these would wait the 60 s of retryDelaySeconds.
    let mut results = BTreeMap::new();
    for (name, extra) in [
        ("secs", json!({})),
        ("date", json!({})),
        ("capped", json!({"maxRetryDelaySeconds": 2})),
    ] {
        let mut spec = json!({"endpoint": name, "maxRetries": 1, "retryDelaySeconds": 60});
        for (k, v) in extra.as_object().cloned().unwrap_or_default() {
            spec[k] = v;
        }
        let action = create_action(&client, &ns.name, name, spec).await;
        let run = trigger(&client, &action).await;
        let (seen, done) = statuses_until_finished(&client, &run).await;
        assert_eq!(
            status(&done).status,
            RunPhase::Succeeded,
            "{name}: {:?}",
            status(&done)
        );
        let waits = waits(&seen);
        assert_eq!(waits.len(), 1, "{name}: {seen:?}");
        let (_, ended, next) = waits[0];
        assert!(started(&done, 2) >= next, "{name}: attempt 2 before {next}");
        results.insert(name, (ended, next));
    }
    let (ended, next) = results["secs"];
    assert_eq!(next - ended, chrono::Duration::seconds(3));
    let (ended, next) = results["capped"];
    assert_eq!(next - ended, chrono::Duration::seconds(2));
    // The date form: the next attempt is at exactly the date the endpoint sent.
    let sent = agent.retry_after.lock().expect("lock").clone();
    let date = sent
        .iter()
        .find(|v| v.ends_with("GMT"))
        .expect("an HTTP date was sent");
    let at: DateTime<Utc> = httpdate::parse_http_date(date).expect("http date").into();
    let (ended, next) = results["date"];
    assert!(at > ended, "{at} is not after {ended}");
    assert_eq!(next, at);
}

/// The Action's status, condition `type_`, and whether an Event with `reason` exists for it.
async fn suspension(
    client: &kube::Client,
    ns: &str,
    name: &str,
) -> (
    punctual::resources::ActionStatus,
    Option<(String, String, String)>,
) {
    let status = crate::runner::action_status(client, ns, name).await;
    let suspended = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Suspended")
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()));
    (status, suspended)
}

async fn events_with(client: &kube::Client, ns: &str, name: &str, reason: &str) -> usize {
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    let list = events.list(&ListParams::default()).await.expect("events");
    list.items
        .iter()
        .filter(|e| {
            e.involved_object.name.as_deref() == Some(name) && e.reason.as_deref() == Some(reason)
        })
        .count()
}

/// Triggers a manual run and waits until it has failed.
async fn fail_once(client: &kube::Client, action: &punctual::resources::Action) {
    let run = trigger(client, action).await;
    let done = finished(client, &run, Duration::from_secs(60)).await;
    assert_eq!(
        status(&done).status,
        RunPhase::Failed,
        "{:?}",
        status(&done)
    );
}

#[tokio::test]
async fn consecutive_failures_suspend_the_schedule_until_enabled_or_the_threshold_is_cleared() {
    let (client, ns) = setup("e2e-suspend").await;
    kubectl_ok(
        &["label", "namespace", &ns.name, "punctual.dev/org=acme"],
        None,
    );
    let (addr, _agent) = agent(HashMap::new()).await;
    endpoint_url(
        &ns.name,
        "agent",
        &format!("http://{addr}/answer/500/1000"),
        json!({}),
    );
    let op = Operator::start(
        &format!("suspend-{}", ns.name),
        &ns.name,
        &["--auth", "none"],
    );
    // Yearly, so no slot fires during the test: the failures are manual runs.
    let action = create_action(
        &client,
        &ns.name,
        "flaky",
        json!({"cronExpression": "0 0 1 1 *", "suspendAfterConsecutiveFailures": 2}),
    )
    .await;
    let name = "flaky";
    let rest = format!(
        "/v1/orgs/acme/workspaces/{}/apps/app-1/actions/{name}",
        ns.name
    );
    fail_once(&client, &action).await;
    let (st, cond) = eventually("a streak of one", Duration::from_secs(30), || async {
        let got = suspension(&client, &ns.name, name).await;
        (got.0.consecutive_failures == 1).then_some(got)
    })
    .await;
    assert_eq!(cond.map(|c| c.1).as_deref(), Some("Enabled"));
    assert!(st.next_run_at.is_some());

    // The second failure in a row suspends the schedule: enabled stays true.
    fail_once(&client, &action).await;
    let (st, cond) = eventually("suspended", Duration::from_secs(30), || async {
        let got = suspension(&client, &ns.name, name).await;
        got.1
            .as_ref()
            .is_some_and(|c| c.1 == "ConsecutiveFailures")
            .then_some(got)
    })
    .await;
    let (state, _, message) = cond.expect("Suspended");
    assert_eq!(state, "True");
    assert!(message.contains("2 runs failed in a row"), "{message}");
    assert!(
        message.contains("http_error: endpoint answered HTTP 500"),
        "{message}"
    );
    assert_eq!((st.consecutive_failures, st.next_run_at), (2, None));
    let spec = Api::<punctual::resources::Action>::namespaced(client.clone(), &ns.name)
        .get(name)
        .await
        .expect("action")
        .spec;
    assert!(spec.enabled, "enabled stays as the user set it");
    eventually(
        "a ConsecutiveFailures Event",
        Duration::from_secs(30),
        || async {
            (events_with(&client, &ns.name, name, "ConsecutiveFailures").await == 1).then_some(())
        },
    )
    .await;
    let port = op.facade_port;
    let got = eventually(
        "the facade shows is_enabled false",
        Duration::from_secs(30),
        || {
            let path = rest.clone();
            async move {
                let a = crate::facade::http(port, "GET", &path, None, None).await;
                (a.status == 200 && a.json["is_enabled"] == json!(false)).then_some(a.json)
            }
        },
    )
    .await;
    assert_eq!(got["next_run_at"], serde_json::Value::Null);

    // A manual trigger still runs while suspended (and fails again: a streak of three, still
    // one Event, since Events mark transitions).
    let triggered = crate::facade::http(port, "POST", &format!("{rest}/trigger"), None, None).await;
    assert!((200..300).contains(&triggered.status), "{}", triggered.text);
    eventually("a streak of three", Duration::from_secs(60), || async {
        (suspension(&client, &ns.name, name)
            .await
            .0
            .consecutive_failures
            == 3)
            .then_some(())
    })
    .await;
    assert_eq!(
        events_with(&client, &ns.name, name, "ConsecutiveFailures").await,
        1
    );

    // REST enable resumes: the answer already says enabled; the streak starts again.
    let enabled = crate::facade::http(port, "POST", &format!("{rest}/enable"), None, None).await;
    assert_eq!(enabled.status, 200, "{}", enabled.text);
    assert_eq!(enabled.json["is_enabled"], json!(true));
    let (st, cond) = eventually("resumed", Duration::from_secs(30), || async {
        let got = suspension(&client, &ns.name, name).await;
        got.1
            .as_ref()
            .is_some_and(|c| c.1 == "Enabled")
            .then_some(got)
    })
    .await;
    assert_eq!(cond.map(|c| c.0).as_deref(), Some("False"));
    assert_eq!(st.consecutive_failures, 0);
    assert!(st.next_run_at.is_some());
    eventually("a Resumed Event", Duration::from_secs(30), || async {
        (events_with(&client, &ns.name, name, "Resumed").await >= 1).then_some(())
    })
    .await;

    // Suspended again, then clearing the field in the spec resumes too.
    fail_once(&client, &action).await;
    fail_once(&client, &action).await;
    eventually("suspended again", Duration::from_secs(30), || async {
        let got = suspension(&client, &ns.name, name).await;
        got.1
            .is_some_and(|c| c.1 == "ConsecutiveFailures")
            .then_some(())
    })
    .await;
    kubectl_ok(
        &[
            "patch",
            "action",
            name,
            "-n",
            &ns.name,
            "--type",
            "merge",
            "-p",
            r#"{"spec": {"suspendAfterConsecutiveFailures": null}}"#,
        ],
        None,
    );
    let st = eventually("resumed by the spec", Duration::from_secs(30), || async {
        let got = suspension(&client, &ns.name, name).await;
        got.1.is_some_and(|c| c.1 == "Enabled").then_some(got.0)
    })
    .await;
    assert_eq!(st.consecutive_failures, 0);
    assert!(st.next_run_at.is_some());
}

/// Waits until the run's notification is settled, and returns the run.
async fn notified(client: &kube::Client, run: &ActionRun) -> ActionRun {
    let api: Api<ActionRun> = Api::namespaced(client.clone(), &run.namespace().expect("ns"));
    let name = run.name_any();
    eventually(
        &format!("the notification of {name}"),
        Duration::from_secs(60),
        || {
            let (api, name) = (api.clone(), name.clone());
            async move {
                let r = api.get(&name).await.ok()?;
                let n = r.status.as_ref()?.notification.as_ref()?;
                (n.phase != NotificationPhase::Pending).then_some(r)
            }
        },
    )
    .await
}

#[tokio::test]
async fn a_failed_and_a_succeeded_run_are_notified_signed_with_a_retry_and_never_counted() {
    let (client, ns) = setup("e2e-notify").await;
    let sets = HashMap::from([("new".to_string(), vec![key(NEW_KEY)])]);
    let (addr, agent) = agent(sets).await;
    apply(
        &ns.name,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "signing"},
               "stringData": {"new": NEW_KEY}}),
    );
    let url = |path: &str| format!("http://{addr}{path}");
    endpoint_url(&ns.name, "broken", &url("/answer/500/1000"), json!({}));
    endpoint_url(&ns.name, "fine", &url("/plain"), json!({}));
    // The alert endpoint answers 503 to the first notification of each run, then 200.
    let signed = json!({"signing": {"secretName": "signing", "keys": ["new"]}});
    endpoint_url(&ns.name, "alerts", &url("/answer/503/1"), signed);
    endpoint_url(&ns.name, "log", &url("/log"), json!({}));
    let _op = Operator::start(&format!("notify-{}", ns.name), &ns.name, &[]);
    let notifications = json!({"onFailure": "alerts", "onSuccess": "log"});
    let failing = create_action(
        &client,
        &ns.name,
        "failing",
        json!({"endpoint": "broken", "notifications": notifications}),
    )
    .await;
    let working = create_action(
        &client,
        &ns.name,
        "working",
        json!({"endpoint": "fine", "notifications": notifications}),
    )
    .await;
    let failed_run = trigger(&client, &failing).await;
    let ok_run = trigger(&client, &working).await;
    let failed_run = notified(&client, &failed_run).await;
    let ok_run = notified(&client, &ok_run).await;

    // The failure: two requests to the alert endpoint (503, then 200), each signed, with the
    // run's summary; delivered on the second.
    let st = status(&failed_run);
    assert_eq!(st.status, RunPhase::Failed);
    let note = st.notification.clone().expect("notification");
    assert_eq!(
        (note.endpoint.as_str(), note.phase, note.attempts),
        ("alerts", NotificationPhase::Delivered, 2),
        "{note:?}"
    );
    assert!(note.delivered_at.is_some());
    let calls: Vec<Received> = agent
        .calls_of(&failed_run)
        .into_iter()
        .filter(|c| c.header("x-punctual-notification").is_some())
        .collect();
    assert_eq!(calls.len(), 2, "{calls:?}");
    for (i, call) in calls.iter().enumerate() {
        assert_eq!(call.path, "/answer/503/1");
        assert_eq!(call.header("x-punctual-notification"), Some("run.failed"));
        let attempt = (i + 1).to_string();
        assert_eq!(call.header("x-punctual-attempt"), Some(attempt.as_str()));
        assert_eq!(
            call.header("idempotency-key"),
            Some(format!("{}_notify", failed_run.name_any()).as_str())
        );
        assert_eq!(verify(&[key(NEW_KEY)], call, &call.body), Ok(()));
    }
    let body: serde_json::Value = serde_json::from_slice(&calls[1].body).expect("json");
    assert_eq!(body["type"], "run.failed");
    assert_eq!(body["namespace"], ns.name.as_str());
    assert_eq!(body["action"], "failing");
    assert_eq!(body["run"], failed_run.name_any().as_str());
    assert_eq!(body["status"], "failed");
    assert_eq!(body["trigger_type"], "manual");
    assert_eq!(body["error_code"], "http_error");
    assert_eq!(body["error_message"], "endpoint answered HTTP 500");
    assert_eq!(body["http_status"], 500);
    assert_eq!(body["attempts"], 1);
    // Every documented field (docs/delivery.md, "Notifications"), each as the run records it.
    let time = |t: Option<DateTime<Utc>>| t.map(|t| punctual::time::format_time(&t));
    let mut keys: Vec<&str> = body
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "action",
            "attempts",
            "completed_at",
            "duration_seconds",
            "error_code",
            "error_message",
            "execution_id",
            "http_status",
            "namespace",
            "output_excerpt",
            "run",
            "scheduled_at",
            "started_at",
            "status",
            "trigger_type",
            "triggered_at",
            "type"
        ]
    );
    for (field, recorded) in [
        ("completed_at", time(st.completed_at)),
        ("started_at", time(st.started_at)),
        ("triggered_at", time(st.triggered_at)),
        ("scheduled_at", None),
        ("execution_id", st.execution_id.clone()),
    ] {
        assert_eq!(body[field].as_str(), recorded.as_deref(), "{field}");
    }
    assert!(body["started_at"].is_string() && body["execution_id"].is_string());
    assert_eq!(body["duration_seconds"].as_f64(), st.duration_seconds);

    // The success: one request to the success endpoint.
    let note = status(&ok_run).notification.expect("notification");
    assert_eq!(
        (note.endpoint.as_str(), note.phase),
        ("log", NotificationPhase::Delivered)
    );
    let calls: Vec<Received> = agent
        .calls_of(&ok_run)
        .into_iter()
        .filter(|c| c.path == "/log")
        .collect();
    assert_eq!(calls.len(), 1);
    let body: serde_json::Value = serde_json::from_slice(&calls[0].body).expect("json");
    assert_eq!(
        (body["type"].as_str(), body["status"].as_str()),
        (Some("run.succeeded"), Some("succeeded"))
    );
    // The excerpt of what the endpoint answered ("ok"), and no error.
    assert_eq!(
        (
            body["output_excerpt"].as_str(),
            body["http_status"].as_i64()
        ),
        (Some("ok"), Some(200))
    );
    assert!(body["error_code"].is_null() && body["error_message"].is_null());

    // Notifications are not runs: each Action counts exactly its one run.
    for name in ["failing", "working"] {
        let s = eventually(
            &format!("{name} counted"),
            Duration::from_secs(30),
            || async {
                let s = crate::runner::action_status(&client, &ns.name, name).await;
                (s.total_runs == 1).then_some(s)
            },
        )
        .await;
        assert_eq!(s.total_runs, 1, "{name}");
    }
    let runs = Api::<ActionRun>::namespaced(client.clone(), &ns.name)
        .list(&ListParams::default())
        .await
        .expect("runs");
    assert_eq!(runs.items.len(), 2);
}

#[tokio::test]
async fn an_endpoint_s_own_caps_hold_runs_pending_and_let_them_go_in_nominal_order() {
    use std::sync::atomic::Ordering::SeqCst;
    let (client, ns) = setup("e2e-flow").await;
    let (addr, agent) = agent(HashMap::new()).await;
    let url = |path: &str| format!("http://{addr}{path}");
    endpoint_url(
        &ns.name,
        "narrow",
        &url("/hold/1500"),
        json!({"maxConcurrentRequests": 2}),
    );
    endpoint_url(
        &ns.name,
        "slow",
        &url("/rate"),
        json!({"maxRequestsPerSecond": 2}),
    );
    endpoint_url(
        &ns.name,
        "single",
        &url("/hold/1500"),
        json!({"maxConcurrentRequests": 1}),
    );
    let _op = Operator::start(&format!("flow-{}", ns.name), &ns.name, &[]);

    // Concurrency: six runs at once, never more than two requests at the endpoint (and two do
    // run side by side). The global cap (64) alone would let all six in.
    let narrow = create_action(&client, &ns.name, "narrow", json!({"endpoint": "narrow"})).await;
    let mut runs = Vec::new();
    for _ in 0..6 {
        runs.push(trigger(&client, &narrow).await);
    }
    // While they wait for their turn, the waiting runs are still pending with no attempt.
    let waiting = eventually(
        "runs waiting for their turn",
        Duration::from_secs(30),
        || async {
            let list = Api::<ActionRun>::namespaced(client.clone(), &ns.name)
                .list(&ListParams::default().labels("punctual.dev/action=narrow"))
                .await
                .ok()?;
            let pending = list
                .items
                .iter()
                .filter(|r| r.status.as_ref().is_none_or(|s| s.attempt == 0))
                .count();
            (agent.max_active.load(SeqCst) == 2 && pending >= 1).then_some(pending)
        },
    )
    .await;
    assert!(waiting >= 1);
    for run in &runs {
        let done = finished(&client, run, Duration::from_secs(120)).await;
        assert_eq!(
            status(&done).status,
            RunPhase::Succeeded,
            "{:?}",
            status(&done)
        );
    }
    assert_eq!(agent.max_active.load(SeqCst), 2);

    // Rate: five runs at two per second arrive at least about half a second apart.
    let slow = create_action(&client, &ns.name, "slow", json!({"endpoint": "slow"})).await;
    let mut runs = Vec::new();
    for _ in 0..5 {
        runs.push(trigger(&client, &slow).await);
    }
    for run in &runs {
        finished(&client, run, Duration::from_secs(120)).await;
    }
    let mut arrivals: Vec<std::time::Instant> = agent
        .calls()
        .iter()
        .filter(|c| c.path == "/rate")
        .map(|c| c.at)
        .collect();
    arrivals.sort();
    assert_eq!(arrivals.len(), 5);
    for pair in arrivals.windows(2) {
        let gap = pair[1] - pair[0];
        // 500 ms apart when sent; a little less on arrival is network jitter, not a burst.
        assert!(gap >= Duration::from_millis(350), "requests {gap:?} apart");
    }

    // Order: one request at a time; scheduled runs created latest slot first are delivered in
    // slot order once the first one holds the endpoint.
    let single = create_action(&client, &ns.name, "single", json!({"endpoint": "single"})).await;
    let base = Utc::now() - chrono::Duration::seconds(120);
    let slots: Vec<DateTime<Utc>> = (0..5)
        .map(|i| base + chrono::Duration::seconds(10 * i))
        .collect();
    let api: Api<ActionRun> = Api::namespaced(client.clone(), &ns.name);
    let mut runs = Vec::new();
    for slot in slots.iter().rev() {
        let run = punctual::runspec::build_run(
            &single,
            punctual::runspec::Trigger::Scheduled(*slot),
            Utc::now(),
            uuid::Uuid::new_v4(),
            None,
        );
        runs.push(
            api.create(&kube::api::PostParams::default(), &run)
                .await
                .expect("create run"),
        );
    }
    for run in &runs {
        let done = finished(&client, run, Duration::from_secs(120)).await;
        assert_eq!(
            status(&done).status,
            RunPhase::Succeeded,
            "{:?}",
            status(&done)
        );
    }
    let mut calls: Vec<Received> = agent
        .calls()
        .into_iter()
        .filter(|c| c.header("x-punctual-action") == Some("single"))
        .collect();
    calls.sort_by_key(|c| c.at);
    let sent: Vec<String> = calls
        .iter()
        .map(|c| c.header("x-scheduled-at").unwrap_or_default().to_string())
        .collect();
    assert_eq!(sent.len(), 5);
    // The first may be whichever run was seen first; every later one waited, in slot order.
    let mut rest = sent[1..].to_vec();
    rest.sort();
    assert_eq!(sent[1..].to_vec(), rest, "delivered in {sent:?}");
}

#[tokio::test]
async fn a_notification_in_flight_when_the_operator_dies_is_sent_again_and_then_never() {
    let (client, ns) = setup("e2e-notify-kill").await;
    let (addr, agent) = agent(HashMap::new()).await;
    let url = |path: &str| format!("http://{addr}{path}");
    endpoint_url(&ns.name, "broken", &url("/answer/500/1000"), json!({}));
    endpoint_url(&ns.name, "alerts", &url("/hold/4000"), json!({}));
    let mut op = Operator::start(&format!("notify-kill-1-{}", ns.name), &ns.name, &[]);
    let action = create_action(
        &client,
        &ns.name,
        "failing",
        json!({"endpoint": "broken", "notifications": {"onFailure": "alerts"}}),
    )
    .await;
    let run = trigger(&client, &action).await;
    let held = |agent: &Agent| {
        agent
            .calls_of(&run)
            .iter()
            .filter(|c| c.path == "/hold/4000")
            .count()
    };
    eventually(
        "the notification in flight",
        Duration::from_secs(60),
        || async { (held(&agent) == 1).then_some(()) },
    )
    .await;
    op.kill();
    let api: Api<ActionRun> = Api::namespaced(client.clone(), &ns.name);
    let before = api.get(&run.name_any()).await.expect("run");
    let note = status(&before).notification.expect("owed");
    assert_eq!(note.phase, NotificationPhase::Pending, "{note:?}");

    let _op2 = Operator::start(&format!("notify-kill-2-{}", ns.name), &ns.name, &[]);
    let done = notified(&client, &run).await;
    let note = status(&done).notification.expect("settled");
    assert_eq!(note.phase, NotificationPhase::Delivered, "{note:?}");
    let sent = held(&agent);
    assert_eq!(sent, 2, "sent again after the restart, once");
    // Acknowledged: nothing more is sent.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(held(&agent), sent);
    let keys: std::collections::BTreeSet<_> = agent
        .calls_of(&run)
        .iter()
        .filter(|c| c.path == "/hold/4000")
        .map(|c| c.header("idempotency-key").unwrap_or_default().to_string())
        .collect();
    assert_eq!(keys.len(), 1, "the same Idempotency-Key on both: {keys:?}");
}
