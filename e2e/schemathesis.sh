#!/usr/bin/env bash
# `schemathesis run` against the real facade on the real control plane (a stage of e2e/test.sh,
# run while its cluster is up; `eval "$(e2e/cluster.sh env)"` first to run it alone).
#
# schemathesis (pinned in e2e/contract/schemathesis-requirements.txt) is installed with pip in a
# virtualenv under target/. The script makes a workspace (namespace st-workspace of org st-org)
# with an ActionEndpoint served by the example endpoint program, a ServiceAccount allowed to use
# Actions there, a target Action with runs, and a second Action for the delete route; starts
# `punctual run` as the chart's operator user on free loopback ports; and runs the examples,
# fuzzing and stateful phases with every check, the path parameters pinned to that workspace,
# so that every operation reaches its logic. It fails on any failed check (a 5xx, a
# schema-valid request refused, a schema-invalid one accepted, a response the document does not
# describe) and when fewer than ST_MIN_CASES (1000) cases were generated.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
: "${KUBECTL:?run under e2e/test.sh, or eval \"\$(e2e/cluster.sh env)\" first}"
: "${PUNCTUAL_OPERATOR_KUBECONFIG:?}"
k() { "$KUBECTL" "$@"; }

NS=st-workspace
ORG=st-org
APP=st-app
MIN_CASES="${ST_MIN_CASES:-1000}"
MAX_EXAMPLES="${ST_MAX_EXAMPLES:-150}"
out="$PWD/target/schemathesis"
mkdir -p "$out"

venv="$PWD/target/schemathesis-venv"
requirements=e2e/contract/schemathesis-requirements.txt
# shellcheck source=e2e/contract/venv.sh
source e2e/contract/venv.sh
pinned_venv "$venv" "$requirements"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
FACADE_PORT="$(free_port)"
METRICS_PORT="$(free_port)"
ENDPOINT_PORT="$(free_port)"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  k delete namespace "$NS" --wait=false >/dev/null 2>&1 || true
}
trap cleanup EXIT

cargo build --quiet --bin punctual --example endpoint

echo "== workspace $NS of org $ORG, endpoint on 127.0.0.1:$ENDPOINT_PORT"
k apply --server-side --force-conflicts --field-manager punctual-e2e -f crds/ >/dev/null
k wait --for=condition=Established crd/actions.punctual.dev crd/actionruns.punctual.dev \
  crd/actionendpoints.punctual.dev --timeout=60s >/dev/null
k delete namespace "$NS" --ignore-not-found --wait=true >/dev/null
k create namespace "$NS" >/dev/null
k label namespace "$NS" "punctual.dev/org=$ORG" >/dev/null
k apply -n "$NS" -f - >/dev/null <<EOT
apiVersion: punctual.dev/v1alpha1
kind: ActionEndpoint
metadata:
  name: agent
spec:
  url: http://127.0.0.1:$ENDPOINT_PORT/invoke
  timeoutSeconds: 5
EOT
k apply -n "$NS" -f e2e/demo-client.yaml >/dev/null
TOKEN="$(k create token demo-client -n "$NS" --duration=1h)"

target/debug/examples/endpoint --listen "127.0.0.1:$ENDPOINT_PORT" >"$out/endpoint.log" 2>&1 &
pids+=($!)
echo "== punctual run, facade on 127.0.0.1:$FACADE_PORT (log: $out/punctual.log)"
KUBECONFIG="$PUNCTUAL_OPERATOR_KUBECONFIG" target/debug/punctual run --watch-namespace "$NS" \
  --metrics-addr "127.0.0.1:$METRICS_PORT" --facade-addr "127.0.0.1:$FACADE_PORT" \
  --leader-election false --log-format text >"$out/punctual.log" 2>&1 &
pids+=($!)
base="http://127.0.0.1:$FACADE_PORT"
for _ in $(seq 1 60); do
  curl -sf "$base/readyz" >/dev/null 2>&1 && break
  sleep 1
done
curl -sf "$base/readyz" >/dev/null

api="$base/v1/orgs/$ORG/workspaces/$NS/apps/$APP"
rest() { curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$@"; }
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
echo "== seeding: a target Action with runs, an Action to delete"
TARGET="$(rest -X POST "$api/actions" -d '{"name": "st target", "endpoint_id": "agent",
  "namespace_id": "st", "cron_expression": "*/5 * * * *", "payload": {"task": "{{ run_id }}"}}' |
  json_field '["action_id"]')"
DOOMED="$(rest -X POST "$api/actions" -d '{"name": "st doomed", "endpoint_id": "agent",
  "namespace_id": "st"}' | json_field '["action_id"]')"
for _ in 1 2 3; do rest -X POST "$api/actions/$TARGET/trigger" >/dev/null; done
RUN="$(rest "$api/actions/$TARGET/runs?limit=1" | json_field '["runs"][0]["run_id"]')"

# What a schema cannot say is pinned here, as the path ids are (docs/rest.md, "The OpenAPI
# document"): the endpoint must exist in the workspace; a one-time instant must be in the
# future; a cron expression must be one the scheduler's evaluator reads (ranges in order, a
# day that exists in a selected month) and a thread template one that compiles; and the
# companions of schedule_type and thread_mode are always sent, because an update's required-if
# rules also depend on the Action as stored, which no request schema can see.
body_pins='"body.endpoint_id" = "agent"
"body.scheduled_at" = "2099-01-01T09:00:00Z"
"body.cron_expression" = "*/5 * * * *"
"body.thread_id" = "st-thread"
"body.thread_id_template" = "st-{{ date }}"'
# Examples and fuzzing: every operation on the seeded Action and run (the delete on its own).
cat >"$out/pinned.toml" <<EOT
[parameters]
org_id = "$ORG"
workspace_id = "$NS"
app_id = "$APP"
action_id = "$TARGET"
run_id = "$RUN"
$body_pins

[[operations]]
include-operation-id = "delete_action"
parameters = { action_id = "$DOOMED" }

# A preview needs cron_expression or scheduled_at: a rule across query parameters, which
# OpenAPI cannot state.
[[operations]]
include-operation-id = "preview_schedule"
parameters = { "query.cron_expression" = "*/5 * * * *" }
EOT
# Stateful: the workspace pinned, the ids taken from the responses (create, then get, update,
# trigger, runs, delete of what was created).
cat >"$out/stateful.toml" <<EOT
[parameters]
org_id = "$ORG"
workspace_id = "$NS"
app_id = "$APP"
$body_pins

[[operations]]
include-operation-id = "preview_schedule"
parameters = { "query.cron_expression" = "*/5 * * * *" }
EOT

# The coverage phase is not run: it does not apply body pins (it sends `cron_expression: "0"`),
# and schemathesis 4.32.5 fails inside its own generator on the document's if/then rules.
status=0
st_run() {
  local config="$1" phases="$2"
  echo "== schemathesis $phases: every check, at most $MAX_EXAMPLES cases per operation"
  # From $out, so that schemathesis keeps its cache (.schemathesis/) there, not in the tree.
  (cd "$out" && "$venv/bin/st" --config-file "$config" run "$base/openapi.json" \
    --url "$base" -H "Authorization: Bearer $TOKEN" \
    --checks all --phases "$phases" --mode all \
    --max-examples "$MAX_EXAMPLES" --seed "${ST_SEED:-20261201}" --workers 2 \
    --report junit,ndjson --report-dir "$out/report" \
    --warnings off) 2>&1 | tee -a "$out/run.log" || status=$?
}
rm -rf "$out/report" "$out/run.log"
st_run "$out/pinned.toml" examples,fuzzing
st_run "$out/stateful.toml" stateful
cases="$(python3 - "$out/report" <<'PY'
import json, pathlib, sys
count = 0
for path in pathlib.Path(sys.argv[1]).glob("*.ndjson"):
    for line in path.read_text().splitlines():
        event = json.loads(line)
        for name, body in event.items():
            if name == "ScenarioFinished":
                count += len(body.get("recorder", {}).get("cases", {}))
print(count)
PY
)"
echo "== $cases generated cases (at least $MIN_CASES required); schemathesis exit status $status"
if ((status != 0)); then exit "$status"; fi
if ((cases < MIN_CASES)); then
  echo "too few cases: $cases < $MIN_CASES" >&2
  exit 1
fi
