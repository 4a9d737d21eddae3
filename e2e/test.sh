#!/usr/bin/env bash
# `make test`: unit tests, then the end-to-end tests on a fresh local control plane, which is
# torn down afterwards, also when tests fail.
#   e2e/test.sh [all|unit|e2e] [extra cargo test args...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

what="${1:-all}"
shift || true
# Its own cluster directory, so tests never touch the cluster of a running `make run`.
export PUNCTUAL_CLUSTER_DIR="${PUNCTUAL_CLUSTER_DIR:-$PWD/.cluster-test}"

if [[ "$what" == all || "$what" == unit ]]; then
  echo "== unit tests"
  cargo test --all-targets "$@"
  echo "== OpenAPI document"
  bash e2e/openapi-check.sh
fi

if [[ "$what" == all || "$what" == e2e ]]; then
  echo "== end-to-end tests (local control plane in $PUNCTUAL_CLUSTER_DIR)"
  # Build first, so compile time does not count against the control plane's uptime.
  cargo test --test e2e --no-run
  trap 'e2e/cluster.sh down' EXIT
  e2e/cluster.sh up
  eval "$(e2e/cluster.sh env)"
  cargo test --test e2e "$@"
fi
