//! One HTTP attempt: the request of docs/runner.md ("The request"), sent with a timeout, and the first 4 KiB of
//! the response read back. Nothing here decides what the result means (see `outcome`).

use std::time::Duration;

use chrono::{DateTime, Utc};

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};

use super::outcome::{AttemptResult, OUTPUT_LIMIT};
use super::signing::{self, SigningKey};
use super::target::Target;
use super::trace;
use crate::resources::RunErrorCode;
use crate::resources::{ActionRun, HttpMethod, TriggerType};

/// The headers Punctual sets on every request (without the endpoint's own and without auth).
pub fn punctual_headers(
    run: &ActionRun,
    attempt: i32,
    execution_id: &str,
) -> Vec<(String, String)> {
    let name = run.metadata.name.clone().unwrap_or_default();
    let mut h = vec![
        ("Content-Type".into(), "application/json".into()),
        ("Idempotency-Key".into(), name.clone()),
        ("X-Punctual-Action".into(), run.spec.action.clone()),
        ("X-Punctual-Run".into(), name),
        ("X-Punctual-Attempt".into(), attempt.to_string()),
        ("X-Execution-Id".into(), execution_id.to_string()),
        (
            "X-Thread-Id".into(),
            run.spec.resolved_thread_id.clone().unwrap_or_default(),
        ),
        ("X-Namespace-Id".into(), run.spec.namespace_id.clone()),
    ];
    if let (TriggerType::Scheduled, Some(at)) = (run.spec.trigger_type, run.spec.scheduled_at) {
        h.push(("X-Scheduled-At".into(), crate::time::format_time(&at)));
    }
    h
}

/// The Standard Webhooks headers of a request with `webhook-id` `id`, sent at `timestamp` (Unix
/// seconds) with `body`; none when the endpoint has no signing keys.
pub fn signing_headers(
    keys: &[SigningKey],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Vec<(String, String)> {
    if keys.is_empty() {
        return Vec::new();
    }
    let signature = signing::signature_header(keys, id, timestamp, body);
    vec![
        (signing::ID_HEADER.into(), id.to_string()),
        (signing::TIMESTAMP_HEADER.into(), timestamp.to_string()),
        (signing::SIGNATURE_HEADER.into(), signature),
    ]
}

/// The per-attempt timeout: the run's own, else the endpoint's.
pub fn timeout(run: &ActionRun, target: &Target) -> Duration {
    run.spec
        .timeout_seconds
        .and_then(|s| u64::try_from(s).ok())
        .map(Duration::from_secs)
        .unwrap_or(target.timeout)
}

/// Sends one attempt at `sent_at` (the signature's timestamp) and reports what happened.
pub async fn send(
    http: &reqwest::Client,
    target: &Target,
    run: &ActionRun,
    attempt: i32,
    execution_id: &str,
    sent_at: DateTime<Utc>,
    trace_state: Option<&str>,
) -> AttemptResult {
    let body = match serde_json::to_vec(&run.spec.resolved_payload) {
        Ok(b) => b,
        Err(e) => {
            return AttemptResult::NotSent {
                code: RunErrorCode::TemplateError,
                message: format!("payload is not serializable: {e}"),
            };
        }
    };
    let key = run.metadata.name.as_deref().unwrap_or_default();
    let id = signing::webhook_id(key, attempt);
    let mut own = punctual_headers(run, attempt, execution_id);
    let uid = run.metadata.uid.as_deref().unwrap_or_default();
    own.extend(trace::headers(uid, execution_id, trace_state));
    own.extend(signing_headers(
        &target.signing,
        &id,
        sent_at.timestamp(),
        &body,
    ));
    send_body(http, target, own, body, timeout(run, target)).await
}

/// Sends `body` to `target` with the endpoint's headers, then `own` (Punctual's, which win), and
/// the endpoint's credential, within `limit` for the whole exchange.
pub async fn send_body(
    http: &reqwest::Client,
    target: &Target,
    own: Vec<(String, String)>,
    body: Vec<u8>,
    limit: Duration,
) -> AttemptResult {
    let mut headers = HeaderMap::new();
    // Endpoint headers first, so Punctual's own always win.
    let all = target.headers.iter().cloned().chain(own);
    for (k, v) in all {
        match (
            HeaderName::try_from(k.as_str()),
            HeaderValue::try_from(v.as_str()),
        ) {
            (Ok(k), Ok(v)) => {
                headers.insert(k, v);
            }
            _ => {
                return AttemptResult::NotSent {
                    code: RunErrorCode::EndpointNotFound,
                    message: format!("header {k} is not a valid HTTP header"),
                };
            }
        }
    }
    if let Some(cred) = &target.authorization {
        let Ok(mut value) = HeaderValue::try_from(cred.0.as_str()) else {
            return AttemptResult::NotSent {
                code: RunErrorCode::SecretNotFound,
                message: "the secret value is not a valid HTTP header value".into(),
            };
        };
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
    }
    let method = match target.method {
        HttpMethod::Post => reqwest::Method::POST,
        HttpMethod::Put => reqwest::Method::PUT,
        HttpMethod::Patch => reqwest::Method::PATCH,
        HttpMethod::Get => reqwest::Method::GET,
        HttpMethod::Delete => reqwest::Method::DELETE,
    };
    let request = http
        .request(method, &target.url)
        .headers(headers)
        .body(body)
        .send();
    // One deadline for the whole exchange: connect, response head and the body we read.
    let exchange = async {
        let mut response = request.await?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut body = Vec::new();
        while body.len() < OUTPUT_LIMIT {
            match response.chunk().await? {
                Some(chunk) => body.extend_from_slice(&chunk),
                None => break,
            }
        }
        Ok::<_, reqwest::Error>((status, body, retry_after))
    };
    match tokio::time::timeout(limit, exchange).await {
        Err(_) => AttemptResult::Timeout,
        Ok(Ok((status, body, retry_after))) => AttemptResult::Response {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
            retry_after,
        },
        Ok(Err(e)) if e.is_timeout() => AttemptResult::Timeout,
        Ok(Err(e)) => AttemptResult::Connection(describe(e)),
    }
}

/// A reqwest error with its causes, without the URL's query (it may hold a token).
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut parts = vec![e.to_string()];
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.dedup();
    parts.join(": ")
}

/// The shared HTTP client: no redirects (an endpoint redirect is answered as its 3xx), no
/// proxies from the environment, connection pooling across runs. An error when that client
/// cannot be built: a default client instead would follow redirects and use proxies, the
/// opposite of docs/runner.md, so the operator refuses to start.
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    crate::install_crypto();
    with_policy(reqwest::Client::builder()).build()
}

/// The policy every endpoint request is sent under.
fn with_policy(builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
    builder
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("punctual/", env!("CARGO_PKG_VERSION")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A builder that cannot be built is an error, never a client without the policy (which
    /// would follow redirects and read proxy variables).
    #[test]
    fn a_client_that_cannot_be_built_is_an_error() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let impossible = reqwest::Client::builder()
            .min_tls_version(reqwest::tls::Version::TLS_1_3)
            .max_tls_version(reqwest::tls::Version::TLS_1_2);
        assert!(with_policy(impossible).build().is_err());
        assert!(client().is_ok());
    }

    /// The client built for endpoints answers a redirect with the 3xx itself.
    #[tokio::test]
    async fn the_client_follows_no_redirect() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        async fn serve(answer: &'static str) -> std::net::SocketAddr {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move {
                while let Ok((mut s, _)) = listener.accept().await {
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf).await;
                    let _ = s.write_all(answer.as_bytes()).await;
                }
            });
            addr
        }
        let ok = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
        let target = serve(ok).await;
        let redirect: &'static str = Box::leak(
            format!(
                "HTTP/1.1 302 Found\r\nlocation: http://{target}/\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            )
            .into_boxed_str(),
        );
        let redirecting = serve(redirect).await;
        let http = client().expect("client");
        let r = http
            .get(format!("http://{redirecting}/"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 302, "the redirect is not followed");
    }

    #[test]
    fn every_spec_header_is_set_and_scheduled_at_only_when_scheduled() {
        let mut run: ActionRun = serde_json::from_value(json!({
            "apiVersion": "punctual.dev/v1alpha1", "kind": "ActionRun",
            "metadata": {"name": "daily-1800000000"},
            "spec": {"action": "daily", "triggerType": "scheduled",
                     "scheduledAt": "2027-01-15T08:00:00Z", "resolvedThreadId": "th",
                     "namespaceId": "mem", "endpoint": "e", "maxRetries": 0,
                     "retryDelaySeconds": 1}
        }))
        .unwrap();
        let h: std::collections::BTreeMap<_, _> =
            punctual_headers(&run, 2, "x-2").into_iter().collect();
        let get = |k: &str| h.get(k).map(String::as_str);
        assert_eq!(get("Idempotency-Key"), Some("daily-1800000000"));
        assert_eq!(get("X-Punctual-Run"), Some("daily-1800000000"));
        assert_eq!(get("X-Punctual-Action"), Some("daily"));
        assert_eq!(get("X-Punctual-Attempt"), Some("2"));
        assert_eq!(get("X-Execution-Id"), Some("x-2"));
        assert_eq!(get("X-Thread-Id"), Some("th"));
        assert_eq!(get("X-Namespace-Id"), Some("mem"));
        assert_eq!(get("Content-Type"), Some("application/json"));
        assert_eq!(get("X-Scheduled-At"), Some("2027-01-15T08:00:00Z"));
        run.spec.trigger_type = TriggerType::Manual;
        run.spec.scheduled_at = None;
        assert!(
            !punctual_headers(&run, 1, "x")
                .iter()
                .any(|(k, _)| k == "X-Scheduled-At")
        );
    }

    #[test]
    fn signed_headers_verify_against_the_body_sent_and_are_absent_without_keys() {
        let run: ActionRun = serde_json::from_value(json!({
            "metadata": {"name": "ask-m-1"},
            "spec": {"action": "ask", "triggerType": "manual", "namespaceId": "mem",
                     "endpoint": "e", "maxRetries": 0, "retryDelaySeconds": 1}
        }))
        .unwrap();
        let id = signing::webhook_id(run.metadata.name.as_deref().unwrap_or_default(), 3);
        assert!(signing_headers(&[], &id, 100, b"{}").is_empty());
        let key = SigningKey::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let h: std::collections::BTreeMap<_, _> =
            signing_headers(std::slice::from_ref(&key), &id, 1_800_000_000, b"{\"a\":1}")
                .into_iter()
                .collect();
        let get = |k: &str| h.get(k).map(String::as_str);
        assert_eq!(get("webhook-id"), Some("ask-m-1_3"));
        assert_eq!(get("webhook-timestamp"), Some("1800000000"));
        let verify = |body: &[u8]| {
            signing::verify(
                std::slice::from_ref(&key),
                get("webhook-id"),
                get("webhook-timestamp"),
                get("webhook-signature"),
                body,
                1_800_000_000,
            )
        };
        assert_eq!(verify(b"{\"a\":1}"), Ok(()));
        assert_eq!(verify(b"{\"a\":2}"), Err(signing::Rejection::BadSignature));
    }
}
