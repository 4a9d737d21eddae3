#!/usr/bin/env bash
# Benchmarks against a fresh local control plane (torn down afterwards). Prints figures only.
#   e2e/bench.sh schedule [N...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
which="${1:-schedule}"
shift || true
export PUNCTUAL_CLUSTER_DIR="${PUNCTUAL_CLUSTER_DIR:-$PWD/.cluster-bench}"
cargo build --release --bin punctual
cargo bench --bench "$which" --no-run
trap 'e2e/cluster.sh down' EXIT
e2e/cluster.sh up
eval "$(e2e/cluster.sh env)"
PUNCTUAL_BIN="$PWD/target/release/punctual" cargo bench --bench "$which" -- "$@"
