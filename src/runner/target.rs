//! Where a run's request goes: the ActionEndpoint's URL, or its Service (by cluster DNS inside
//! a cluster; through the Service's EndpointSlices outside one), plus its static headers and its
//! credential. The credential is held in [`Credential`], whose Debug output is redacted, and is
//! never put into an error message.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};

use super::signing::SigningKey;
use crate::resources::RunErrorCode;
use crate::resources::{ActionEndpoint, HttpMethod, ServiceTarget};

/// An `Authorization` header value. Debug prints `<redacted>`.
#[derive(Clone)]
pub struct Credential(pub String);

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Everything needed to send a request, resolved.
#[derive(Clone, Debug)]
pub struct Target {
    pub url: String,
    pub method: HttpMethod,
    pub headers: Vec<(String, String)>,
    pub authorization: Option<Credential>,
    /// The Standard Webhooks keys to sign with, in order (empty: requests are not signed).
    pub signing: Vec<SigningKey>,
    /// The endpoint's default timeout (the run's own timeout wins).
    pub timeout: Duration,
}

/// Why a target could not be resolved: an error code and a message without secrets.
pub type Unresolved = (RunErrorCode, String);

/// How Service targets are reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceMode {
    /// Inside a cluster: `<name>.<namespace>.svc:<port>` by cluster DNS.
    ClusterDns,
    /// Outside (the local control plane): an address of the Service's EndpointSlices.
    EndpointSlices,
}

impl ServiceMode {
    /// Cluster DNS when running in a pod (the API server's env vars are set), else slices.
    pub fn detect() -> Self {
        if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() {
            ServiceMode::ClusterDns
        } else {
            ServiceMode::EndpointSlices
        }
    }
}

/// Resolves `endpoint` (None: it does not exist) in namespace `ns`.
pub async fn resolve(
    client: &Client,
    ns: &str,
    name: &str,
    endpoint: Option<&ActionEndpoint>,
    mode: ServiceMode,
) -> Result<Target, Unresolved> {
    let Some(endpoint) = endpoint else {
        return Err((
            RunErrorCode::EndpointNotFound,
            format!("ActionEndpoint {name} does not exist in namespace {ns}"),
        ));
    };
    let spec = &endpoint.spec;
    let url = match (&spec.url, &spec.service) {
        (Some(url), _) => url.clone(),
        (None, Some(svc)) => match mode {
            ServiceMode::ClusterDns => {
                format!("http://{}.{ns}.svc:{}{}", svc.name, svc.port, svc.path)
            }
            ServiceMode::EndpointSlices => via_slices(client, ns, svc).await?,
        },
        (None, None) => {
            return Err((
                RunErrorCode::EndpointNotFound,
                format!("ActionEndpoint {name} has neither url nor service"),
            ));
        }
    };
    let authorization = match &spec.auth {
        None => None,
        Some(auth) => {
            let value =
                secret_value(client, ns, &auth.secret_ref.name, &auth.secret_ref.key).await?;
            Some(Credential(format!("{} {value}", auth.scheme)))
        }
    };
    let mut signing = Vec::new();
    if let Some(keys) = &spec.signing {
        let secret = &keys.secret_name;
        for key in &keys.keys {
            let text = secret_value(client, ns, secret, key).await?;
            // The error says what is wrong with the key, never what it is.
            let parsed = SigningKey::parse(&text).map_err(|e| {
                (
                    RunErrorCode::SecretNotFound,
                    format!("Secret {secret} key {key} is not a signing key: it {e}"),
                )
            })?;
            signing.push(parsed);
        }
    }
    Ok(Target {
        url,
        method: spec.method,
        headers: spec
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        authorization,
        signing,
        timeout: Duration::from_secs(u64::try_from(spec.timeout_seconds).unwrap_or(30).max(1)),
    })
}

async fn secret_value(
    client: &Client,
    ns: &str,
    name: &str,
    key: &str,
) -> Result<String, Unresolved> {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let missing = |what: String| (RunErrorCode::SecretNotFound, what);
    let secret = match api.get_opt(name).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return Err(missing(format!(
                "Secret {name} does not exist in namespace {ns}"
            )));
        }
        // Forbidden or unreachable: the credential cannot be had, say so without detail.
        Err(e) => {
            return Err(missing(format!(
                "Secret {name} could not be read: {}",
                api_reason(&e)
            )));
        }
    };
    let bytes = secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| b.0.clone())
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|d| d.get(key))
                .map(|s| s.clone().into_bytes())
        })
        .ok_or_else(|| missing(format!("Secret {name} has no key {key}")))?;
    let value = String::from_utf8(bytes)
        .map_err(|_| missing(format!("Secret {name} key {key} is not UTF-8 text")))?;
    // A trailing newline (from `echo` into a file) is never part of a token.
    Ok(value.trim_end_matches(['\r', '\n']).to_string())
}

/// The reason of an API error, never its body.
fn api_reason(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("HTTP {} {}", s.code, s.reason),
        _ => "API server unreachable".into(),
    }
}

async fn via_slices(
    client: &Client,
    ns: &str,
    target: &ServiceTarget,
) -> Result<String, Unresolved> {
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    let service = match services.get_opt(&target.name).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return Err((
                RunErrorCode::EndpointNotFound,
                format!("Service {} does not exist in namespace {ns}", target.name),
            ));
        }
        Err(e) => {
            return Err((
                RunErrorCode::ConnectionError,
                format!(
                    "Service {} could not be read: {}",
                    target.name,
                    api_reason(&e)
                ),
            ));
        }
    };
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), ns);
    let lp = ListParams::default().labels(&format!("kubernetes.io/service-name={}", target.name));
    let slices = slices.list(&lp).await.map_err(|e| {
        (
            RunErrorCode::ConnectionError,
            format!(
                "EndpointSlices of Service {} could not be listed: {}",
                target.name,
                api_reason(&e)
            ),
        )
    })?;
    let (host, port) = slice_address(&service, target.port, &slices.items).ok_or_else(|| {
        // Like a Service without ready pods in a cluster: retryable.
        (
            RunErrorCode::ConnectionError,
            format!(
                "Service {} has no ready endpoint for port {}",
                service.name_any(),
                target.port
            ),
        )
    })?;
    Ok(format!("http://{host}:{port}{}", target.path))
}

/// A ready address and port for `port` of `service` among its EndpointSlices (pure).
///
/// The Service port is matched by number, then the slice port by the Service port's name (an
/// unnamed Service port matches an unnamed slice port). IPv4, IPv6 and FQDN slices are
/// supported; names under `.localhost` mean the loopback host (RFC 6761), which is how a local
/// control plane, whose API server refuses loopback IPs in slices, points at a local process.
pub fn slice_address(
    service: &Service,
    port: i32,
    slices: &[EndpointSlice],
) -> Option<(String, i32)> {
    let svc_port = service
        .spec
        .as_ref()?
        .ports
        .as_ref()?
        .iter()
        .find(|p| p.port == port)?;
    let port_name = svc_port.name.clone().unwrap_or_default();
    for slice in slices {
        let Some(slice_port) = slice
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.clone().unwrap_or_default() == port_name)
            .and_then(|p| p.port)
        else {
            continue;
        };
        let ready = slice
            .endpoints
            .iter()
            .filter(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true))
            .flat_map(|e| e.addresses.iter());
        if let Some(addr) = ready.into_iter().next() {
            let host = match slice.address_type.as_str() {
                "IPv6" => format!("[{addr}]"),
                "FQDN" if addr == "localhost" || addr.ends_with(".localhost") => {
                    "127.0.0.1".to_string()
                }
                _ => addr.clone(),
            };
            return Some((host, slice_port));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service(ports: serde_json::Value) -> Service {
        serde_json::from_value(json!({"metadata": {"name": "agent"}, "spec": {"ports": ports}}))
            .unwrap()
    }

    fn slice(kind: &str, ports: serde_json::Value, endpoints: serde_json::Value) -> EndpointSlice {
        serde_json::from_value(json!({
            "metadata": {"name": "s"}, "addressType": kind, "ports": ports, "endpoints": endpoints
        }))
        .unwrap()
    }

    #[test]
    fn finds_a_ready_address_of_the_named_port() {
        let svc = service(json!([{"name": "http", "port": 80}, {"name": "m", "port": 9}]));
        let slices = [
            slice(
                "IPv4",
                json!([{"name": "m", "port": 9090}]),
                json!([{"addresses": ["10.0.0.9"]}]),
            ),
            slice(
                "IPv4",
                json!([{"name": "http", "port": 8080}]),
                json!([
                    {"addresses": ["10.0.0.1"], "conditions": {"ready": false}},
                    {"addresses": ["10.0.0.2"], "conditions": {"ready": true}}
                ]),
            ),
        ];
        assert_eq!(
            slice_address(&svc, 80, &slices),
            Some(("10.0.0.2".into(), 8080))
        );
        assert_eq!(slice_address(&svc, 81, &slices), None);
    }

    #[test]
    fn fqdn_localhost_is_loopback_and_ipv6_is_bracketed() {
        let svc = service(json!([{"port": 80}]));
        let fqdn = [slice(
            "FQDN",
            json!([{"port": 8088}]),
            json!([{"addresses": ["agent.localhost"]}]),
        )];
        assert_eq!(
            slice_address(&svc, 80, &fqdn),
            Some(("127.0.0.1".into(), 8088))
        );
        let v6 = [slice(
            "IPv6",
            json!([{"port": 8088}]),
            json!([{"addresses": ["fd00::1"]}]),
        )];
        assert_eq!(
            slice_address(&svc, 80, &v6),
            Some(("[fd00::1]".into(), 8088))
        );
        let none_ready = [slice(
            "IPv4",
            json!([{"port": 8088}]),
            json!([{"addresses": ["10.0.0.1"], "conditions": {"ready": false}}]),
        )];
        assert_eq!(slice_address(&svc, 80, &none_ready), None);
    }

    #[test]
    fn a_credential_never_prints() {
        let c = Credential("Bearer s3cret".into());
        assert_eq!(format!("{c:?}"), "<redacted>");
    }
}
