#!/usr/bin/env bash
# A real, local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager) built
# from the published Go modules and run on loopback, the way envtest does it.
#
#   e2e/cluster.sh build        build (or reuse) the binaries
#   e2e/cluster.sh up           build if needed, start everything, write the kubeconfig
#   e2e/cluster.sh down         stop exactly what `up` started and remove its data
#   e2e/cluster.sh status       print what runs, exit 1 if not up
#   e2e/cluster.sh kubeconfig   print the kubeconfig path (admin user)
#   e2e/cluster.sh env          print `export KUBECONFIG=...` (and the limited users', and KUBECTL)
#   e2e/cluster.sh kubectl ...  run the matching kubectl against this cluster
#   e2e/cluster.sh kubectl-path print the path of that kubectl
#   e2e/cluster.sh signal NAME SIG  send SIG (KILL, STOP, CONT, TERM) to one component
#   e2e/cluster.sh restart NAME     stop one component (if running) and start it again with the
#                               same ports, certificates and data; waits until it is ready
#   (NAME: etcd, apiserver or controller-manager; the fault tests use these)
#
# Binaries are cached outside the repository, keyed by version, so every clone on this machine
# reuses them: ${PUNCTUAL_BIN_CACHE:-$HOME/.cache/punctual/bin}.
# Cluster state (data, logs, pid files, certs, kubeconfigs) lives in
# ${PUNCTUAL_CLUSTER_DIR:-<repo>/.cluster}.
set -euo pipefail

K8S_VERSION="${PUNCTUAL_K8S_VERSION:-v1.35.4}"
ETCD_VERSION="${PUNCTUAL_ETCD_VERSION:-v3.6.16}"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_CACHE="${PUNCTUAL_BIN_CACHE:-$HOME/.cache/punctual/bin}"
K8S_BIN="$BIN_CACHE/kubernetes-$K8S_VERSION"
ETCD_BIN="$BIN_CACHE/etcd-$ETCD_VERSION"
STATE="${PUNCTUAL_CLUSTER_DIR:-$REPO_ROOT/.cluster}"
READY_TIMEOUT="${PUNCTUAL_READY_TIMEOUT:-180}"

log() { printf '[cluster] %s\n' "$*" >&2; }
die() {
  printf '[cluster] error: %s\n' "$*" >&2
  exit 1
}

need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 is required but not on PATH ($2)"
}

# ---------------------------------------------------------------------------------------------
# build

# Builds main packages of a module that cannot be `go install`ed directly (its go.mod has
# replace directives) through a throwaway consumer module.
#   $1 work dir, $2 module, $3 version, $4 extra go.mod text, $5 output dir, $6 ldflags, $7.. pkgs
go_build_via_consumer() {
  local work="$1" module="$2" version="$3" extra="$4" out="$5" ldflags="$6"
  shift 6
  rm -rf "$work"
  mkdir -p "$work" "$out.tmp"
  cat >"$work/go.mod" <<EOF
module punctual.dev/controlplane-build

go 1.25

require $module $version

$extra
EOF
  (
    cd "$work"
    log "  resolving dependencies of $module@$version"
    for pkg in "$@"; do
      GOFLAGS="-mod=mod -buildvcs=false" go get "$pkg@$version" >/dev/null 2>"$work/get.log" || {
        tail -n 30 "$work/get.log" >&2
        die "go get $pkg@$version failed"
      }
    done
    log "  compiling $* (prints a line every 200 packages)"
    # -v lists each package as it is compiled; turn that into a progress counter.
    CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false" go build -v -trimpath -ldflags "$ldflags" -o "$out.tmp/" "$@" 2>&1 |
      tee "$work/build.log" |
      awk '/^#|\.go:[0-9]+/ { print "  " $0; next } NR % 200 == 0 { printf "  ... %d packages compiled\n", NR; fflush() }' >&2
  ) || die "build of $module@$version failed; see $work/build.log"
  rm -rf "$out"
  mv "$out.tmp" "$out"
}

build_kubernetes() {
  local cmd missing=()
  for cmd in kube-apiserver kube-controller-manager kubectl; do
    [[ -x "$K8S_BIN/$cmd" ]] || missing+=("k8s.io/kubernetes/cmd/$cmd")
  done
  ((${#missing[@]} > 0)) || return 0
  need go "install Go 1.25 or newer"
  local start=$SECONDS
  log "building ${missing[*]##*/} $K8S_VERSION from k8s.io/kubernetes"
  log "a cold build takes many minutes (measured on 2 cores: see README); cached in $K8S_BIN"
  local gomod
  gomod="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')" ||
    die "cannot download k8s.io/kubernetes@$K8S_VERSION from the Go module proxy"
  # k8s.io/kubernetes replaces every staging module with a local path; point each one at its
  # published tag instead (v1.X.Y -> v0.X.Y). The list is read from the real go.mod.
  local staging_version="v0.${K8S_VERSION#v1.}"
  local replaces
  replaces="$(awk '$2 == "=>" && $3 ~ /^\.\/staging\// { printf "replace %s => %s %s\n", $1, $1, V }' \
    V="$staging_version" "$gomod")"
  [[ -n "$replaces" ]] || die "found no staging replace lines in $gomod"
  local minor="${K8S_VERSION#v1.}"
  minor="${minor%%.*}"
  local pkgv="k8s.io/component-base/version"
  local ldflags="-s -w -X $pkgv.gitVersion=$K8S_VERSION -X $pkgv.gitMajor=1 -X $pkgv.gitMinor=$minor"
  ldflags+=" -X $pkgv.gitTreeState=clean -X $pkgv.buildDate=1970-01-01T00:00:00Z"
  go_build_via_consumer "$BIN_CACHE/.work-kubernetes" k8s.io/kubernetes "$K8S_VERSION" "$replaces" \
    "$K8S_BIN.new" "$ldflags" "${missing[@]}"
  mkdir -p "$K8S_BIN"
  mv "$K8S_BIN.new"/* "$K8S_BIN/"
  rm -rf "$K8S_BIN.new"
  log "built kubernetes $K8S_VERSION in $((SECONDS - start)) s"
}

build_etcd() {
  if [[ -x "$ETCD_BIN/etcd" ]]; then
    return 0
  fi
  need go "install Go 1.25 or newer"
  local start=$SECONDS
  log "building etcd $ETCD_VERSION from go.etcd.io/etcd/server/v3; cached in $ETCD_BIN"
  # The consumer module's own requirements pin the etcd sibling modules at the same version, so
  # the server module's relative replace lines are not needed.
  go_build_via_consumer "$BIN_CACHE/.work-etcd" go.etcd.io/etcd/server/v3 "$ETCD_VERSION" "" \
    "$ETCD_BIN.d" "-s -w" go.etcd.io/etcd/server/v3
  mkdir -p "$ETCD_BIN"
  # go names a /vN module's binary after its parent element; take whatever single file it wrote.
  mv "$ETCD_BIN.d"/* "$ETCD_BIN/etcd"
  rm -rf "$ETCD_BIN.d"
  log "built etcd $ETCD_VERSION in $((SECONDS - start)) s"
}

cmd_build() {
  need python3 "used to read go.mod metadata"
  mkdir -p "$BIN_CACHE"
  build_etcd
  build_kubernetes
  log "binaries: $K8S_BIN, $ETCD_BIN"
}

# ---------------------------------------------------------------------------------------------
# run

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# A non-loopback local IPv4 address; kube-apiserver refuses to advertise 127.0.0.1.
advertise_address() {
  local ip
  ip="$(ip -4 route get 1.1.1.1 2>/dev/null | awk '{for(i=1;i<NF;i++) if($i=="src") print $(i+1)}' | head -n1)"
  [[ -z "$ip" ]] && ip="$(hostname -I 2>/dev/null | awk '{print $1}')"
  [[ -z "$ip" ]] && ip="10.255.255.1" # no interface at all: any private address works for loopback use
  printf '%s' "$ip"
}

pid_alive() {
  local f="$STATE/$1.pid"
  [[ -f "$f" ]] && kill -0 "$(cat "$f")" 2>/dev/null
}

start_process() {
  local name="$1"
  shift
  # Kept so that `restart` starts the same command (same ports, certificates, data).
  printf '%q ' "$@" >"$STATE/$name.cmd"
  # setsid: the process must outlive the shell that started it (make targets, tests). Appended,
  # so a restarted component's log follows the first one's.
  setsid "$@" >>"$STATE/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$STATE/$name.pid"
}

fail_with_log() {
  local name="$1" why="$2"
  printf '[cluster] error: %s %s; last lines of %s:\n' "$name" "$why" "$STATE/logs/$name.log" >&2
  tail -n 40 "$STATE/logs/$name.log" >&2 || true
  cmd_down >/dev/null 2>&1 || true
  exit 1
}

# wait_ready NAME URL [curl args...]
wait_ready() {
  local name="$1" url="$2"
  shift 2
  printf '%q ' "$url" "$@" >"$STATE/$name.ready"
  local deadline=$((SECONDS + READY_TIMEOUT))
  while ((SECONDS < deadline)); do
    pid_alive "$name" || fail_with_log "$name" "exited during startup"
    if curl -fsS --max-time 3 "$@" "$url" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.5
  done
  fail_with_log "$name" "was not ready after ${READY_TIMEOUT}s"
}

make_certs() {
  local pki="$STATE/pki" adv="$1"
  mkdir -p "$pki"
  openssl genrsa -out "$pki/ca.key" 2048 2>/dev/null
  openssl req -x509 -new -key "$pki/ca.key" -days 3650 -subj "/CN=punctual-local-ca" \
    -out "$pki/ca.crt" 2>/dev/null
  openssl genrsa -out "$pki/apiserver.key" 2048 2>/dev/null
  openssl req -new -key "$pki/apiserver.key" -subj "/CN=kube-apiserver" -out "$pki/apiserver.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,IP:10.0.0.1,IP:%s,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' \
    "$adv" >"$pki/apiserver.ext"
  openssl x509 -req -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 3650 -extfile "$pki/apiserver.ext" -out "$pki/apiserver.crt" 2>/dev/null
  # One RSA key signs and verifies service-account tokens.
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
}

write_kubeconfig() {
  local file="$1" server="$2" user="$3" token="$4"
  local ca
  ca="$(base64 -w0 <"$STATE/pki/ca.crt")"
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: punctual-local
  cluster:
    server: $server
    certificate-authority-data: $ca
users:
- name: $user
  user:
    token: $token
contexts:
- name: punctual-local
  context:
    cluster: punctual-local
    user: $user
    namespace: default
current-context: punctual-local
EOF
  chmod 600 "$file"
}

cmd_up() {
  need openssl "used to make the cluster's certificates"
  need curl "used to wait for readiness"
  need python3 "used to find free ports"
  if cmd_status >/dev/null 2>&1; then
    log "already up; kubeconfig: $STATE/kubeconfig"
    return 0
  fi
  # Leftovers of a crashed run: stop them and start clean.
  cmd_down >/dev/null 2>&1 || true
  cmd_build
  local start=$SECONDS
  mkdir -p "$STATE/logs" "$STATE/etcd"
  local adv etcd_port etcd_peer api_port kcm_port
  adv="$(advertise_address)"
  etcd_port="$(free_port)"
  etcd_peer="$(free_port)"
  api_port="$(free_port)"
  kcm_port="$(free_port)"
  make_certs "$adv"

  local admin_token user_token operator_token
  admin_token="$(openssl rand -hex 24)"
  user_token="$(openssl rand -hex 24)"
  operator_token="$(openssl rand -hex 24)"
  # Format: token,user,uid,"group1,group2". The limited users have no RBAC at all until something
  # binds them: punctual-user by tests, punctual-operator by e2e/test.sh (to the chart's roles).
  printf '%s,admin,admin-uid,"system:masters"\n%s,punctual-user,punctual-user-uid\n%s,punctual-operator,punctual-operator-uid\n' \
    "$admin_token" "$user_token" "$operator_token" >"$STATE/pki/tokens.csv"

  log "starting etcd on 127.0.0.1:$etcd_port"
  start_process etcd "$ETCD_BIN/etcd" \
    --name=punctual --data-dir="$STATE/etcd" \
    --listen-client-urls="http://127.0.0.1:$etcd_port" \
    --advertise-client-urls="http://127.0.0.1:$etcd_port" \
    --listen-peer-urls="http://127.0.0.1:$etcd_peer" \
    --initial-advertise-peer-urls="http://127.0.0.1:$etcd_peer" \
    --initial-cluster="punctual=http://127.0.0.1:$etcd_peer" \
    --unsafe-no-fsync=true --quota-backend-bytes=4294967296
  wait_ready etcd "http://127.0.0.1:$etcd_port/health"

  log "starting kube-apiserver on 127.0.0.1:$api_port (advertising $adv)"
  start_process kube-apiserver "$K8S_BIN/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$etcd_port" \
    --bind-address=127.0.0.1 --secure-port="$api_port" --advertise-address="$adv" \
    --cert-dir="$STATE/pki" \
    --tls-cert-file="$STATE/pki/apiserver.crt" --tls-private-key-file="$STATE/pki/apiserver.key" \
    --client-ca-file="$STATE/pki/ca.crt" \
    --service-cluster-ip-range=10.0.0.0/24 \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$STATE/pki/sa.key" \
    --service-account-signing-key-file="$STATE/pki/sa.key" \
    --token-auth-file="$STATE/pki/tokens.csv" \
    --authorization-mode=RBAC --allow-privileged=true
  wait_ready kube-apiserver "https://127.0.0.1:$api_port/readyz" --cacert "$STATE/pki/ca.crt"

  local server="https://127.0.0.1:$api_port"
  write_kubeconfig "$STATE/kubeconfig" "$server" admin "$admin_token"
  write_kubeconfig "$STATE/kubeconfig-user" "$server" punctual-user "$user_token"
  write_kubeconfig "$STATE/kubeconfig-operator" "$server" punctual-operator "$operator_token"

  log "starting kube-controller-manager"
  start_process kube-controller-manager "$K8S_BIN/kube-controller-manager" \
    --kubeconfig="$STATE/kubeconfig" \
    --authentication-kubeconfig="$STATE/kubeconfig" --authorization-kubeconfig="$STATE/kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$kcm_port" --leader-elect=false \
    --service-account-private-key-file="$STATE/pki/sa.key" --root-ca-file="$STATE/pki/ca.crt" \
    --cluster-name=punctual-local
  wait_ready kube-controller-manager "https://127.0.0.1:$kcm_port/healthz" -k

  printf '%s\n' "$server" >"$STATE/server"
  log "up in $((SECONDS - start)) s; kubeconfig: $STATE/kubeconfig (limited users: $STATE/kubeconfig-user, $STATE/kubeconfig-operator)"
}

# TERM, then KILL after 10 s. CONT first: a process frozen by `signal NAME STOP` (a fault test
# that failed midway) cannot act on TERM until it runs again.
stop_pid() {
  local pid="$1"
  kill -CONT "$pid" 2>/dev/null || true
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  kill -9 "$pid" 2>/dev/null || true
}

cmd_down() {
  local name pid stopped=0
  # A second Ctrl-C (or TERM to the process group) while this runs must not leave the rest
  # running: the stop is bounded (TERM, then KILL after 10 s each), so let it finish.
  trap '' INT TERM HUP
  log "stopping the control plane"
  for name in kube-controller-manager kube-apiserver etcd; do
    [[ -f "$STATE/$name.pid" ]] || continue
    pid="$(cat "$STATE/$name.pid")"
    if kill -0 "$pid" 2>/dev/null; then
      stop_pid "$pid"
      stopped=$((stopped + 1))
    fi
    rm -f "$STATE/$name.pid"
  done
  rm -rf "$STATE/etcd" "$STATE/pki" "$STATE/kubeconfig" "$STATE/kubeconfig-user" \
    "$STATE/kubeconfig-operator" "$STATE/server" "$STATE"/*.cmd "$STATE"/*.ready
  log "down ($stopped processes stopped); logs kept in $STATE/logs"
}

# The component's name in pid files and logs.
component() {
  case "$1" in
  etcd) echo etcd ;;
  apiserver | kube-apiserver) echo kube-apiserver ;;
  controller-manager | kube-controller-manager) echo kube-controller-manager ;;
  *) die "unknown component $1 (etcd, apiserver, controller-manager)" ;;
  esac
}

cmd_signal() {
  local name sig="${2:-}"
  name="$(component "${1:-}")"
  [[ -n "$sig" ]] || die "usage: signal NAME SIG"
  pid_alive "$name" || die "$name is not running"
  kill -s "$sig" "$(cat "$STATE/$name.pid")"
  log "sent SIG$sig to $name (pid $(cat "$STATE/$name.pid"))"
}

cmd_restart() {
  local name
  name="$(component "${1:-}")"
  [[ -f "$STATE/$name.cmd" && -f "$STATE/$name.ready" ]] || die "$name was never started here"
  if pid_alive "$name"; then
    stop_pid "$(cat "$STATE/$name.pid")"
  fi
  local start=$SECONDS cmd ready
  cmd="$(cat "$STATE/$name.cmd")"
  ready="$(cat "$STATE/$name.ready")"
  eval "start_process $name $cmd"
  eval "wait_ready $name $ready"
  log "$name restarted (pid $(cat "$STATE/$name.pid")) and ready in $((SECONDS - start)) s"
}

cmd_status() {
  local name ok=0
  for name in etcd kube-apiserver kube-controller-manager; do
    if pid_alive "$name"; then
      printf '%-24s running (pid %s)\n' "$name" "$(cat "$STATE/$name.pid")"
    else
      printf '%-24s stopped\n' "$name"
      ok=1
    fi
  done
  if ((ok == 0)); then
    if curl -fsS --max-time 3 --cacert "$STATE/pki/ca.crt" "$(cat "$STATE/server")/readyz" >/dev/null 2>&1; then
      printf 'apiserver                %s ready\nkubeconfig               %s\n' "$(cat "$STATE/server")" "$STATE/kubeconfig"
    else
      printf 'apiserver                not ready\n'
      ok=1
    fi
  fi
  return $ok
}

case "${1:-}" in
build) cmd_build ;;
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
kubeconfig) printf '%s\n' "$STATE/kubeconfig" ;;
signal) cmd_signal "${2:-}" "${3:-}" ;;
restart) cmd_restart "${2:-}" ;;
kubectl-path) printf '%s\n' "$K8S_BIN/kubectl" ;;
env)
  printf 'export KUBECONFIG=%q\nexport PUNCTUAL_USER_KUBECONFIG=%q\nexport PUNCTUAL_OPERATOR_KUBECONFIG=%q\nexport KUBECTL=%q\n' \
    "$STATE/kubeconfig" "$STATE/kubeconfig-user" "$STATE/kubeconfig-operator" "$K8S_BIN/kubectl"
  ;;
kubectl)
  shift
  exec "$K8S_BIN/kubectl" --kubeconfig "$STATE/kubeconfig" "$@"
  ;;
*)
  echo "usage: $0 {build|up|down|status|kubeconfig|env|kubectl ARGS...|kubectl-path|signal NAME SIG|restart NAME}" >&2
  exit 2
  ;;
esac
