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
