#!/usr/bin/env bash
# `make test`: unit tests, then the end-to-end tests on a fresh local control plane, which is
# torn down afterwards, also when tests fail.
#   e2e/test.sh [all|unit|e2e|faults] [extra cargo test args...]
# `e2e` runs the end-to-end suite and then the control-plane fault stage (skipped when extra
# args select a subset of the suite); `faults` runs only the fault stage.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

what="${1:-all}"
shift || true
# Its own cluster directory, so tests never touch the cluster of a running `make run`.
export PUNCTUAL_CLUSTER_DIR="${PUNCTUAL_CLUSTER_DIR:-$PWD/.cluster-test}"

# The operators the tests start run as the token user punctual-operator, bound only to the
# chart's ClusterRole and leases Role (rendered by helm, subjects extended with that user), so
# the end-to-end suite proves the chart's RBAC is enough. The Lease lives in the release namespace.
# (helm warns on stderr that charts/punctual/crds is a symlink to crds/; that is intended.)
operator_rbac() {
  local release_ns=punctual-system
  echo "== chart RBAC for the operator (user punctual-operator, leases in $release_ns)"
  "$KUBECTL" create namespace "$release_ns" --dry-run=client -o yaml | "$KUBECTL" apply -f - >/dev/null
  "$HELM" template punctual charts/punctual --namespace "$release_ns" \
    --show-only templates/clusterrole.yaml --show-only templates/role.yaml \
    --set 'rbac.extraSubjects[0].kind=User' \
    --set 'rbac.extraSubjects[0].name=punctual-operator' \
    --set 'rbac.extraSubjects[0].apiGroup=rbac.authorization.k8s.io' 2> >(grep -v 'symbolic link' >&2) |
    "$KUBECTL" apply --server-side --field-manager punctual-e2e -f -
  export PUNCTUAL_LEASE_NAMESPACE="$release_ns"
}

if [[ "$what" == all || "$what" == unit ]]; then
  unit_start=$SECONDS
  echo "== unit tests"
  # Not --all-targets: that also runs the benchmarks (harness = false), which need a cluster and
  # take minutes. `make lint` (clippy --all-targets) still compiles them.
  cargo test --lib --bins --tests --examples "$@"
  echo "== OpenAPI document"
  bash e2e/openapi-check.sh
  echo "== the body parser against Pydantic (FastAPI oracle)"
  bash e2e/pydantic-oracle.sh
  echo "== unit stage done in $((SECONDS - unit_start)) s"
fi

# The control-plane faults (docs/faults.md) kill and freeze the API server and etcd, so they get
# a control plane of their own, started after the shared one is down.
fault_stage() {
  local start=$SECONDS
  echo "== control-plane faults (own local control plane in $PUNCTUAL_CLUSTER_DIR-faults)"
  cargo test --test faults --no-run
  (
    export PUNCTUAL_CLUSTER_DIR="$PUNCTUAL_CLUSTER_DIR-faults"
    export PUNCTUAL_FAULTS_CLUSTER=1
    trap 'e2e/cluster.sh down' EXIT
    e2e/cluster.sh up
    eval "$(e2e/cluster.sh env)"
    operator_rbac
    cargo test --test faults "$@"
  )
  echo "== control-plane faults done in $((SECONDS - start)) s"
}

if [[ "$what" == all || "$what" == e2e ]]; then
  e2e_start=$SECONDS
  echo "== end-to-end tests (local control plane in $PUNCTUAL_CLUSTER_DIR)"
  # Build first, so compile time does not count against the control plane's uptime.
  cargo test --test e2e --no-run
  # helm, built from its Go module and cached; the chart tests render with it.
  HELM="$(e2e/tools.sh helm)"
  export HELM
  # The browser test (e2e/tests/ui.rs): Debian's chromium and chromium-driver, installed when
  # missing, and Selenium in a cached venv.
  PUNCTUAL_UI_PYTHON="$(bash e2e/ui/setup.sh)"
  export PUNCTUAL_UI_PYTHON
  trap 'e2e/cluster.sh down' EXIT
  e2e/cluster.sh up
  eval "$(e2e/cluster.sh env)"
  operator_rbac
  cargo test --test e2e "$@"
  echo "== end-to-end suite done in $((SECONDS - e2e_start)) s (build, helm, browser setup included)"
  # schemathesis against the facade on this cluster (about a minute; PUNCTUAL_E2E_SCHEMATHESIS=0
  # skips it).
  if [[ "${PUNCTUAL_E2E_SCHEMATHESIS:-1}" != 0 ]]; then
    echo "== schemathesis against the facade"
    schemathesis_start=$SECONDS
    bash e2e/schemathesis.sh
    echo "== schemathesis done in $((SECONDS - schemathesis_start)) s"
  fi
  e2e/cluster.sh down
  trap - EXIT
  if (($# == 0)); then
    fault_stage
  fi
  # PUNCTUAL_E2E_NO_MAKE_RUN=1 skips this step, for running a subset of the suite while a
  # `make run` (which owns ports 8080, 8088 and 9090) is up.
  if [[ "${PUNCTUAL_E2E_NO_MAKE_RUN:-0}" != 1 ]]; then
    echo "== make run, as a newcomer runs it"
    make_run_start=$SECONDS
    bash e2e/make-run-test.sh
    echo "== make run test done in $((SECONDS - make_run_start)) s"
  fi
fi

if [[ "$what" == faults ]]; then
  HELM="$(e2e/tools.sh helm)"
  export HELM
  fault_stage "$@"
fi
