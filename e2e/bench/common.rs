//! What every benchmark binary shares: its arguments and the CRDs. Included with `#[path]`,
//! because each benchmark is a binary of its own.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, ResourceExt};

/// The sizes given on the command line, else `default`; `None` when the binary was not started
/// by `cargo bench`. (`cargo test --all-targets` runs bench binaries too, without `--bench`, and
/// a benchmark needs a control plane, so it then skips itself.)
pub fn sizes(default: &[usize]) -> Option<Vec<usize>> {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("benchmark: run it with `cargo bench` (see the Makefile); skipped");
        return None;
    }
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    Some(if sizes.is_empty() {
        default.to_vec()
    } else {
        sizes
    })
}

/// Applies the CRDs generated from the types and gives the API server a moment to serve them.
pub async fn install_crds(client: &Client) -> anyhow::Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in punctual::resources::crds() {
        let pp = PatchParams::apply("punctual-bench").force();
        api.patch(&crd.name_any(), &pp, &Patch::Apply(&crd)).await?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(())
}

/// Creates Actions `a00000`.. `a{n-1}` in `ns`, 32 at a time; `spec(i)` is the i-th spec.
#[allow(dead_code)] // the facade bench names its Actions differently
pub async fn create_actions(
    client: &Client,
    ns: &str,
    n: usize,
    spec: impl Fn(usize) -> serde_json::Value,
) -> anyhow::Result<()> {
    use futures::{StreamExt, TryStreamExt, stream};
    let actions: Api<punctual::resources::Action> = Api::namespaced(client.clone(), ns);
    stream::iter(0..n)
        .map(|i| {
            let actions = actions.clone();
            let body = serde_json::json!({
                "apiVersion": "punctual.dev/v1alpha1", "kind": "Action",
                "metadata": {"name": format!("a{i:05}")}, "spec": spec(i),
            });
            async move {
                let action = serde_json::from_value(body)?;
                actions
                    .create(&kube::api::PostParams::default(), &action)
                    .await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await?;
    eprintln!("[bench] created {n} actions at {}", chrono::Utc::now());
    Ok(())
}
