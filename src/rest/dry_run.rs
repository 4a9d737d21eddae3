//! `POST .../trigger?dry_run=true` and `punctual trigger --dry-run`: the exact request the runner
//! would send for a trigger, built by the runner's own code (`runner::target::resolve`,
//! `runner::http::punctual_headers`), with the credential redacted, and nothing created
//! (docs/rest.md, "Trigger, dry run, rerun"; docs/cli.md).

use std::collections::BTreeMap;

use kube::api::Api;
use schemars::JsonSchema;
use serde::Serialize;

use kube::Client;

use crate::resources::{ActionEndpoint, ActionRun, JsonObject, RunErrorCode};
use crate::runner::target::{self, ServiceMode};

/// What stands for values that exist only once the run does.
pub const ASSIGNED_AT_CREATION: &str = "(assigned when the run is created)";
/// What stands for a credential.
pub const REDACTED: &str = "<redacted>";
/// What stands for values fixed only when the request is sent.
pub const AT_SENDING: &str = "(computed when the request is sent)";

/// The request a trigger would make.
#[derive(Serialize, JsonSchema, Debug)]
pub struct DryRun {
    /// The Action.
    pub action_id: String,
    /// The name the run would have (the random part differs at a real trigger).
    pub run_id: String,
    /// Whether the runner would send this request; false when the endpoint, its Secret or a
    /// template cannot be resolved (then `error_code` and `error_message` say why, and the run
    /// would fail without calling the endpoint).
    pub would_send: bool,
    /// HTTP method.
    pub method: String,
    /// The URL; null when the endpoint cannot be resolved.
    pub url: Option<String>,
    /// Every header, the endpoint's own and Punctual's; the credential redacted.
    pub headers: BTreeMap<String, String>,
    /// The JSON body: the payload with every template rendered.
    pub body: JsonObject,
    /// The conversation thread of the run.
    pub thread_id: Option<String>,
    /// Why the run would fail, if it would.
    pub error_code: Option<RunErrorCode>,
    /// Human-readable detail of that failure (never a secret).
    pub error_message: Option<String>,
}

/// The dry run of `run` (built, not created), reading its endpoint and Secrets as `client`;
/// `trace_state` is the `tracestate` the operator is configured with.
pub async fn dry_run(
    client: &Client,
    trace_state: Option<&str>,
    run: &ActionRun,
) -> Result<DryRun, kube::Error> {
    let ns = run.metadata.namespace.clone().unwrap_or_default();
    let endpoint = Api::<ActionEndpoint>::namespaced(client.clone(), &ns)
        .get_opt(&run.spec.endpoint)
        .await?;
    let resolved = target::resolve(
        client,
        &ns,
        &run.spec.endpoint,
        endpoint.as_ref(),
        ServiceMode::detect(),
    )
    .await;
    let mut headers = BTreeMap::new();
    let (mut error_code, mut error_message) = (None, None);
    let mut signing_keys = 0;
    let (method, url) = match &resolved {
        Ok(t) => {
            signing_keys = t.signing.len();
            headers.extend(t.headers.iter().cloned());
            if t.authorization.is_some() {
                let scheme = endpoint
                    .as_ref()
                    .and_then(|e| e.spec.auth.as_ref())
                    .map(|a| a.scheme.clone())
                    .unwrap_or_default();
                headers.insert("Authorization".into(), format!("{scheme} {REDACTED}"));
            }
            (
                format!("{:?}", t.method).to_uppercase(),
                Some(t.url.clone()),
            )
        }
        Err((code, message)) => {
            error_code = Some(*code);
            error_message = Some(message.clone());
            let method = endpoint.as_ref().map(|e| e.spec.method).unwrap_or_default();
            (format!("{method:?}").to_uppercase(), None)
        }
    };
    // Punctual's own headers win over the endpoint's, as in a real attempt.
    headers.extend(crate::runner::http::punctual_headers(
        run,
        1,
        ASSIGNED_AT_CREATION,
    ));
    headers.extend(sent_headers(
        run.metadata.name.as_deref().unwrap_or_default(),
        signing_keys,
        trace_state,
    ));
    if let Some(e) = &run.spec.resolve_error {
        error_code = Some(RunErrorCode::TemplateError);
        error_message = Some(e.clone());
    }
    Ok(DryRun {
        action_id: run.spec.action.clone(),
        run_id: run.metadata.name.clone().unwrap_or_default(),
        would_send: error_code.is_none(),
        method,
        url,
        headers,
        body: run.spec.resolved_payload.clone(),
        thread_id: run.spec.resolved_thread_id.clone(),
        error_code,
        error_message,
    })
}

/// The headers that depend on the run's uid or the instant of sending, as the dry run shows
/// them: `traceparent` (from the uid), `tracestate` if configured, and with signing keys
/// `webhook-id` (known) with placeholders for the timestamp and one signature per key.
fn sent_headers(
    run_name: &str,
    signing_keys: usize,
    trace_state: Option<&str>,
) -> Vec<(String, String)> {
    use crate::runner::signing;
    let mut h = vec![("traceparent".to_string(), ASSIGNED_AT_CREATION.to_string())];
    if let Some(state) = trace_state {
        h.push(("tracestate".into(), state.into()));
    }
    if signing_keys > 0 {
        let signatures = vec![format!("v1,{AT_SENDING}"); signing_keys];
        h.extend([
            (
                signing::ID_HEADER.to_string(),
                signing::webhook_id(run_name, 1),
            ),
            (
                signing::TIMESTAMP_HEADER.to_string(),
                AT_SENDING.to_string(),
            ),
            (signing::SIGNATURE_HEADER.to_string(), signatures.join(" ")),
        ]);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dry_run_shows_every_header_a_request_carries() {
        let h: BTreeMap<_, _> = sent_headers("ask-x1", 2, Some("punctual=a"))
            .into_iter()
            .collect();
        assert_eq!(h["traceparent"], ASSIGNED_AT_CREATION);
        assert_eq!(h["tracestate"], "punctual=a");
        assert_eq!(
            h["webhook-id"],
            crate::runner::signing::webhook_id("ask-x1", 1)
        );
        assert_eq!(h["webhook-timestamp"], AT_SENDING);
        // One signature per key, as during a rotation.
        assert_eq!(h["webhook-signature"].matches("v1,").count(), 2);
        let plain: BTreeMap<_, _> = sent_headers("ask-x1", 0, None).into_iter().collect();
        assert_eq!(plain.keys().collect::<Vec<_>>(), ["traceparent"]);
    }
}
