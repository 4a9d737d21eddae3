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
  # Ignore further signals: Ctrl-C reaches make and this script at once, and make passes it on,
  # so a second signal would otherwise kill the cleanup before it stops the control plane.
  trap '' INT TERM
  trap - EXIT
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

echo "== a REST client identity: ServiceAccount demo-client, allowed in $NAMESPACE only"
k apply -n "$NAMESPACE" -f e2e/demo-client.yaml
TOKEN="$(k create token demo-client -n "$NAMESPACE" --duration=24h)"

echo "== starting the operator: scheduler, runner, facade on 127.0.0.1:8080 (log: target/punctual-run.log)"
target/debug/punctual run --metrics-addr 127.0.0.1:9090 --facade-addr 127.0.0.1:8080 \
  --log-format text >target/punctual-run.log 2>&1 &
pids+=($!)
for _ in $(seq 1 60); do
  curl -sf http://127.0.0.1:8080/readyz >/dev/null 2>&1 && break
  sleep 1
done

k get actions,actionendpoints,actionruns -n "$NAMESPACE"
cat <<EOT

Punctual is running: CRDs installed, examples applied, the operator scheduling, running and
serving the REST facade. "heartbeat" fires every minute; watch its runs succeed:
  export KUBECONFIG=$KUBECONFIG
  $KUBECTL get actions,actionruns -n $NAMESPACE

The dashboard: http://127.0.0.1:8080/ui/  (sign in with the token below)
The API docs:  http://127.0.0.1:8080/docs/

The REST API (token of ServiceAccount demo-client, valid 24 h):
  export TOKEN=$TOKEN
  API=http://127.0.0.1:8080/v1/orgs/$ORG/workspaces/$NAMESPACE/apps/ops-assistant
  curl -s -H "Authorization: Bearer \$TOKEN" \$API/actions
  curl -s -X POST -H "Authorization: Bearer \$TOKEN" \$API/actions/ask-ops/trigger
  curl -s -H "Authorization: Bearer \$TOKEN" \$API/actions/ask-ops/runs
  curl -s http://127.0.0.1:8080/openapi.json

A long-running agent call (202 Accepted, then a report to the callback URL; docs/agent-calls.md):
  curl -s -X POST -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' \
    -d '{"variables": {"topic": "the payment outage"}}' \$API/actions/research/trigger
  curl -s -H "Authorization: Bearer \$TOKEN" "\$API/actions/research/runs/<run_id>?view=full"

Metrics: curl -s http://127.0.0.1:9090/metrics | grep punctual_
The example endpoint logs every invocation here (also on its own: curl http://127.0.0.1:8088/_invocations).
Press Ctrl-C to stop everything this command started.
EOT
wait
