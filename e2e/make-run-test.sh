#!/usr/bin/env bash
# Exercises `make run` the way a newcomer uses it: no KUBECONFIG, so it starts its own local
# control plane; waits until an example Action has a succeeded run and the REST facade answers
# (list, trigger, run history) with the token `make run` printed; then stops it as Ctrl-C would
# and checks that everything it started is gone.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export PUNCTUAL_CLUSTER_DIR="$PWD/.cluster-makerun"
log=target/make-run-test.log
mkdir -p target
fail() {
  echo "make run test FAILED: $*" >&2
  echo "--- last lines of $log" >&2
  tail -n 40 "$log" >&2 || true
  exit 1
}

# Its own process group, so stopping it reaches make, run.sh and everything they started.
env -u KUBECONFIG setsid make run >"$log" 2>&1 &
pgid=$!
stop() { kill -TERM -- "-$pgid" 2>/dev/null || true; }
trap 'stop; e2e/cluster.sh down >/dev/null 2>&1 || true' EXIT

echo "[make-run-test] waiting for make run to finish its setup (log: $log)"
for _ in $(seq 1 600); do
  grep -q "Press Ctrl-C" "$log" && break
  kill -0 "$pgid" 2>/dev/null || fail "make run exited during setup"
  sleep 1
done
grep -q "Press Ctrl-C" "$log" || fail "setup did not finish within 10 minutes"
grep -q "The dashboard: http://127.0.0.1:8080/ui/" "$log" || fail "make run printed no dashboard URL"
grep -q "The API docs:  http://127.0.0.1:8080/docs/" "$log" || fail "make run printed no API docs URL"
token="$(sed -n 's/^ *export TOKEN=//p' "$log")"
[[ -n "$token" ]] || fail "make run printed no token"
kubectl="$(e2e/cluster.sh kubectl-path)"
export KUBECONFIG="$PUNCTUAL_CLUSTER_DIR/kubeconfig"
api=http://127.0.0.1:8080/v1/orgs/demo-org/workspaces/demo/apps/ops-assistant
auth=(-H "Authorization: Bearer $token")

echo "[make-run-test] waiting for a succeeded heartbeat run (fires every minute)"
ok=0
for _ in $(seq 1 150); do
  phases="$("$kubectl" get actionruns -n demo -l punctual.dev/action=heartbeat \
    -o jsonpath='{.items[*].status.status}' 2>/dev/null || true)"
  if [[ " $phases " == *" succeeded "* ]]; then ok=1; break; fi
  sleep 1
done
((ok)) || fail "no succeeded heartbeat run within 150 s (phases: ${phases:-none})"

echo "[make-run-test] the facade: list, trigger, run history"
list="$(curl -sf "${auth[@]}" "$api/actions")" || fail "list failed"
[[ "$list" == *'"action_id":"ask-ops"'* ]] || fail "list lacks ask-ops: $list"
code="$(curl -s -o /dev/null -w '%{http_code}' "$api/actions")"
[[ "$code" == 401 ]] || fail "a request without a token got $code, not 401"
trigger="$(curl -sf -X POST "${auth[@]}" "$api/actions/ask-ops/trigger")" || fail "trigger failed"
[[ "$trigger" == *'"status":"pending"'* ]] || fail "unexpected trigger answer: $trigger"
ok=0
for _ in $(seq 1 60); do
  runs="$(curl -sf "${auth[@]}" "$api/actions/ask-ops/runs?status=succeeded" || true)"
  if [[ "$runs" == *'"status":"succeeded"'* ]]; then ok=1; break; fi
  sleep 1
done
((ok)) || fail "the triggered run did not succeed within 60 s: $runs"

echo "[make-run-test] a long-running agent call: 202, then the endpoint reports by callback"
trigger="$(curl -sf -X POST "${auth[@]}" -H 'Content-Type: application/json' \
  -d '{"variables": {"topic": "the payment outage"}}' "$api/actions/research/trigger")" ||
  fail "trigger of research failed"
run_id="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["run_id"])' <<<"$trigger")"
ok=0
for _ in $(seq 1 60); do
  run="$(curl -sf "${auth[@]}" "$api/actions/research/runs/$run_id?view=full" || true)"
  if [[ "$run" == *'"status":"succeeded"'* ]]; then ok=1; break; fi
  sleep 1
done
((ok)) || fail "the research run did not succeed by callback within 60 s: $run"
[[ "$run" == *'"http_status":202'* && "$run" == *'done'* ]] ||
  fail "the research run does not show the 202 and the reported output: $run"

# The processes themselves, by command line: pid files say nothing once `down` has removed them,
# and the control plane runs in sessions of its own (setsid), outside make's process group. The
# control plane's command lines name the cluster directory; ours name their addresses.
patterns=("$PUNCTUAL_CLUSTER_DIR/" "punctual run --metrics-addr 127.0.0.1:9090"
  "examples/endpoint --listen 127.0.0.1:8088")
leftovers() {
  local p
  for p in "${patterns[@]}"; do pgrep -af -- "$p" || true; done
}
for p in "${patterns[@]}"; do
  pgrep -f -- "$p" >/dev/null || fail "no process matches \"$p\" before the stop: the check would prove nothing"
done
((3 <= $(pgrep -fc -- "$PUNCTUAL_CLUSTER_DIR/"))) || fail "not all three control-plane processes found"

echo "[make-run-test] stopping make run, and again while the control plane is stopping"
stop
for _ in $(seq 1 60); do
  grep -q "stopping the control plane" "$log" && break
  sleep 0.5
done
grep -q "stopping the control plane" "$log" || fail "make run did not start stopping the control plane"
stop
# Every process of the group, not only make: run.sh stops the control plane after make is gone.
for _ in $(seq 1 60); do
  pgrep -g "$pgid" >/dev/null || break
  sleep 1
done
pgrep -g "$pgid" >/dev/null && fail "make run did not stop within 60 s"
left="$(leftovers)"
[[ -z "$left" ]] || fail "still running after the stop: $left"
curl -s -o /dev/null --max-time 2 http://127.0.0.1:8080/healthz && fail "the facade still answers"
curl -s -o /dev/null --max-time 2 http://127.0.0.1:8088/healthz && fail "the endpoint still answers"
trap - EXIT
echo "[make-run-test] ok: runs succeeded, the facade answered, everything stopped"
