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

    /// Static headers added to every request. Authorization, Content-Type, Idempotency-Key and
    /// X-Punctual-* are set by Punctual and cannot be set here; use `auth` for credentials.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[x_kube(validation = Rule::new("self.all(k, !(k.lowerAscii() in ['authorization', 'content-type', 'idempotency-key']) && !k.lowerAscii().startsWith('x-punctual-'))")
        .message("headers may not set Authorization, Content-Type, Idempotency-Key or X-Punctual-*"))]
    pub headers: BTreeMap<String, String>,

    /// Credentials sent as `Authorization: <scheme> <secret value>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<EndpointAuth>,

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
