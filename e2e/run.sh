#!/usr/bin/env bash
# `make run`: Punctual on a cluster, with the examples applied.
# Uses the cluster of $KUBECONFIG when one is reachable; otherwise starts the local control plane
# (and stops it again on Ctrl-C). Starts the example endpoint program on 127.0.0.1:8088.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

NAMESPACE="${PUNCTUAL_DEMO_NAMESPACE:-demo}"
ORG="${PUNCTUAL_DEMO_ORG:-demo-org}"
started_cluster=0
pids=()

cleanup() {
  trap - EXIT INT TERM
  echo
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if ((started_cluster)); then e2e/cluster.sh down; fi
}
trap cleanup EXIT INT TERM

echo "== building punctual and the example endpoint"
cargo build --bin punctual --example endpoint

e2e/cluster.sh build # kubectl (and, if needed below, the control plane) matching the server
KUBECTL="$(e2e/cluster.sh kubectl-path)"
if [[ -n "${KUBECONFIG:-}" ]] && "$KUBECTL" get --raw /readyz >/dev/null 2>&1; then
  echo "== using the cluster of KUBECONFIG=$KUBECONFIG"
else
  echo "== no reachable cluster in KUBECONFIG: starting the local control plane"
  started_cluster=1
  e2e/cluster.sh up
  eval "$(e2e/cluster.sh env)"
fi
k() { "$KUBECTL" "$@"; }

echo "== installing the CRDs from crds/"
k apply --server-side -f crds/
k wait --for=condition=Established crd/actions.punctual.dev crd/actionruns.punctual.dev \
  crd/actionendpoints.punctual.dev --timeout=60s

echo "== namespace $NAMESPACE (workspace of org $ORG) with the examples"
k create namespace "$NAMESPACE" --dry-run=client -o yaml | k apply -f -
k label namespace "$NAMESPACE" "punctual.dev/org=$ORG" --overwrite
k apply -n "$NAMESPACE" -f examples/

echo "== starting the example endpoint on 127.0.0.1:8088"
target/debug/examples/endpoint --listen 127.0.0.1:8088 --token demo-token-change-me &
pids+=($!)

echo "== starting the operator (log: target/punctual-run.log)"
target/debug/punctual run --metrics-addr 127.0.0.1:9090 --log-format text \
  >target/punctual-run.log 2>&1 &
pids+=($!)

k get actions,actionendpoints,actionruns -n "$NAMESPACE"
cat <<EOT

Punctual is running: the CRDs are installed, the examples applied, the operator scheduling. Try:
  export KUBECONFIG=$KUBECONFIG
  $KUBECTL get actions -n $NAMESPACE
  $KUBECTL explain action.spec.cronExpression
  $KUBECTL get actionruns -n $NAMESPACE -w       # "heartbeat" fires every minute
  curl -s http://127.0.0.1:9090/metrics | grep punctual_
  curl -s -X POST -H 'Authorization: Bearer demo-token-change-me' http://127.0.0.1:8088/invoke -d '{"hello":"world"}'

(The REST facade is not part of this build yet. See README, "Status".)
Press Ctrl-C to stop everything this command started.
EOT
wait
