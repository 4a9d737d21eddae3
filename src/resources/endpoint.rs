//! The `ActionEndpoint` custom resource: an invocable HTTP target.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// An HTTP target that Actions call: an absolute URL, or a Service in the same namespace.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "punctual.dev",
    version = "v1alpha1",
    kind = "ActionEndpoint",
    namespaced,
    shortname = "aep",
    category = "punctual",
    derive = "PartialEq",
    doc = "An HTTP target that Actions call: a URL or a Service, with headers and auth.",
    printcolumn = r#"{"name": "URL", "type": "string", "jsonPath": ".spec.url"}"#,
    printcolumn = r#"{"name": "Service", "type": "string", "jsonPath": ".spec.service.name"}"#,
    printcolumn = r#"{"name": "Method", "type": "string", "jsonPath": ".spec.method"}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new("has(self.url) != has(self.service)")
    .message("exactly one of url or service must be set"))]
#[serde(rename_all = "camelCase")]
pub struct ActionEndpointSpec {
    /// Absolute http:// or https:// URL to call. Exactly one of url and service is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = Rule::new("isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHostname() != ''")
        .message("url must be an absolute http or https URL"))]
    pub url: Option<String>,

    /// A Service in the same namespace to call. Exactly one of url and service is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceTarget>,

    /// HTTP method of the request.
    /// Defaults to `POST`.
    #[serde(default)]
    pub method: HttpMethod,

    /// Static headers added to every request. Authorization, Content-Type, Idempotency-Key,
    /// X-Punctual-* and webhook-* are set by Punctual and cannot be set here; use `auth` for
    /// credentials.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[x_kube(validation = Rule::new("self.all(k, !(k.lowerAscii() in ['authorization', 'content-type', 'idempotency-key']) && !k.lowerAscii().startsWith('x-punctual-') && !k.lowerAscii().startsWith('webhook-'))")
        .message("headers may not set Authorization, Content-Type, Idempotency-Key, X-Punctual-* or webhook-*"))]
    pub headers: BTreeMap<String, String>,

    /// Credentials sent as `Authorization: <scheme> <secret value>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<EndpointAuth>,

    /// Signs every request as Standard Webhooks defines (headers `webhook-id`,
    /// `webhook-timestamp`, `webhook-signature`) with the keys in this Secret, so the endpoint can
    /// check that a request comes from Punctual and was not altered (docs/delivery.md). Key values
    /// are never written to any status, event or log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing: Option<EndpointSigning>,

    /// At most this many requests to this endpoint at once, across all Actions (on top of the
    /// operator's global cap). Runs waiting for a turn stay `pending` and go in the order of
    /// their nominal instant. Unset: no limit of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub max_concurrent_requests: Option<i32>,

    /// At most this many request starts per second to this endpoint (fractions allowed: 0.1 is
    /// one every 10 s). Runs waiting for a turn stay `pending` and go in the order of their
    /// nominal instant. Unset: no limit of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.001, max = 10000))]
    pub max_requests_per_second: Option<f64>,

    /// Default per-attempt HTTP timeout in seconds, used when the Action sets none.
    /// Defaults to `30`.
    #[serde(default = "default_timeout_seconds")]
    #[schemars(range(min = 1, max = 3600))]
    pub timeout_seconds: i32,
}

/// A Service target: `http://<name>.<namespace>.svc:<port><path>` inside the cluster.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceTarget {
    /// Name of the Service, in the endpoint's namespace.
    #[schemars(length(min = 1, max = 63))]
    pub name: String,
    /// Service port number.
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// Request path, starting with `/`.
    /// Defaults to `/`.
    #[serde(default = "default_path")]
    #[schemars(length(min = 1, max = 2048), regex(pattern = r"^/"))]
    pub path: String,
}

/// HTTP methods an endpoint can be called with.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// POST (the default).
    #[default]
    Post,
    /// PUT.
    Put,
    /// PATCH.
    Patch,
    /// GET (the payload is still sent as a JSON body).
    Get,
    /// DELETE.
    Delete,
}

/// Where the credential comes from and how it is sent.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointAuth {
    /// The Secret (same namespace) and key holding the credential. Its value is never written
    /// to any status, event or log.
    pub secret_ref: SecretKeyRef,
    /// The scheme before the credential in the Authorization header.
    /// Defaults to `Bearer`.
    #[serde(default = "default_scheme")]
    #[schemars(
        length(min = 1, max = 64),
        regex(pattern = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
    )]
    pub scheme: String,
}

/// Where the signing keys come from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.keys.size() < 2 || self.keys[0] != self.keys[1]")
    .message("signing.keys must name two different keys"))]
pub struct EndpointSigning {
    /// Name of the Secret (same namespace) holding the keys.
    #[schemars(length(min = 1, max = 253))]
    pub secret_name: String,
    /// One or two keys of the Secret's data, each holding a Standard Webhooks key: `whsec_`
    /// followed by the base64 of 24 to 64 random bytes. Every request carries one signature per
    /// key, in this order; during a rotation list the new key and the old one, so receivers that
    /// know either accept the request.
    #[schemars(length(min = 1, max = 2), inner(length(min = 1, max = 253)))]
    pub keys: Vec<String>,
}

/// A key in a Secret of the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
pub struct SecretKeyRef {
    /// Secret name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key within the Secret's data.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

fn default_timeout_seconds() -> i32 {
    30
}

fn default_path() -> String {
    "/".to_string()
}

fn default_scheme() -> String {
    "Bearer".to_string()
}
