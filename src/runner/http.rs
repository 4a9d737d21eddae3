//! One HTTP attempt: the request of docs/runner.md ("The request"), sent with a timeout, and the first 4 KiB of
//! the response read back. Nothing here decides what the result means (see `outcome`).

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};

use super::outcome::{AttemptResult, ErrorCode, OUTPUT_LIMIT};
use super::target::Target;
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

/// The per-attempt timeout: the run's own, else the endpoint's.
pub fn timeout(run: &ActionRun, target: &Target) -> Duration {
    run.spec
        .timeout_seconds
        .and_then(|s| u64::try_from(s).ok())
        .map(Duration::from_secs)
        .unwrap_or(target.timeout)
}

/// Sends one attempt and reports what happened.
pub async fn send(
    http: &reqwest::Client,
    target: &Target,
    run: &ActionRun,
    attempt: i32,
    execution_id: &str,
) -> AttemptResult {
    let mut headers = HeaderMap::new();
    // Endpoint headers first, so Punctual's own always win.
    let all = target
        .headers
        .iter()
        .cloned()
        .chain(punctual_headers(run, attempt, execution_id));
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
                    code: ErrorCode::EndpointNotFound,
                    message: format!("header {k} is not a valid HTTP header"),
                };
            }
        }
    }
    if let Some(cred) = &target.authorization {
        let Ok(mut value) = HeaderValue::try_from(cred.0.as_str()) else {
            return AttemptResult::NotSent {
                code: ErrorCode::SecretNotFound,
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
    let body = match serde_json::to_vec(&run.spec.resolved_payload) {
        Ok(b) => b,
        Err(e) => {
            return AttemptResult::NotSent {
                code: ErrorCode::TemplateError,
                message: format!("payload is not serializable: {e}"),
            };
        }
    };
    let limit = timeout(run, target);
    let request = http
        .request(method, &target.url)
        .headers(headers)
        .body(body)
        .send();
    // One deadline for the whole exchange: connect, response head and the body we read.
    let exchange = async {
        let mut response = request.await?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while body.len() < OUTPUT_LIMIT {
            match response.chunk().await? {
                Some(chunk) => body.extend_from_slice(&chunk),
                None => break,
            }
        }
        Ok::<_, reqwest::Error>((status, body))
    };
    match tokio::time::timeout(limit, exchange).await {
        Err(_) => AttemptResult::Timeout,
        Ok(Ok((status, body))) => AttemptResult::Response {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
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
    // rustls needs a process-wide crypto provider; ring is the one kube already uses. A second
    // install (tests, another module) is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
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
}
