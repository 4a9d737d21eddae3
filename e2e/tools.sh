#!/usr/bin/env bash
# Developer tools built from their Go modules (no release downloads are reachable here), cached by
# version outside the repository like the control plane's binaries.
#
#   e2e/tools.sh helm        build (or reuse) helm; prints nothing else on stdout
#   e2e/tools.sh helm-path   print the path of the helm binary (without building)
#
# Cache: ${PUNCTUAL_BIN_CACHE:-$HOME/.cache/punctual/bin}/helm-<version>/helm
set -euo pipefail

HELM_VERSION="${PUNCTUAL_HELM_VERSION:-v3.22.0}"
BIN_CACHE="${PUNCTUAL_BIN_CACHE:-$HOME/.cache/punctual/bin}"
HELM_DIR="$BIN_CACHE/helm-$HELM_VERSION"

log() { printf '[tools] %s\n' "$*" >&2; }
die() {
  printf '[tools] error: %s\n' "$*" >&2
  exit 1
}

build_helm() {
  if [[ -x "$HELM_DIR/helm" ]]; then
    return 0
  fi
  command -v go >/dev/null 2>&1 || die "go is required to build helm $HELM_VERSION but is not on PATH (install Go 1.25 or newer)"
  local start=$SECONDS work="$BIN_CACHE/.work-helm"
  log "building helm $HELM_VERSION from helm.sh/helm/v3 (a cold build takes minutes; see README); cached in $HELM_DIR"
  rm -rf "$work" "$HELM_DIR.tmp"
  mkdir -p "$work" "$HELM_DIR.tmp"
  # `go install pkg@version` honours the module's own go.mod; -v lists each compiled package,
  # turned into a progress line every 200 packages.
  (
    cd "$work"
    CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false" GOBIN="$HELM_DIR.tmp" \
      go install -v -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
      "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" 2>&1 |
      tee "$work/build.log" |
      awk '/^#|\.go:[0-9]+|^go: / { print "  " $0; next } NR % 200 == 0 { printf "  ... %d packages compiled\n", NR; fflush() }' >&2
    exit "${PIPESTATUS[0]}"
  ) || die "build of helm $HELM_VERSION failed; see $work/build.log"
  [[ -x "$HELM_DIR.tmp/helm" ]] || die "go install wrote no helm binary into $HELM_DIR.tmp"
  rm -rf "$HELM_DIR"
  mv "$HELM_DIR.tmp" "$HELM_DIR"
  log "built helm $HELM_VERSION in $((SECONDS - start)) s"
}

case "${1:-}" in
helm)
  build_helm
  printf '%s\n' "$HELM_DIR/helm"
  ;;
helm-path) printf '%s\n' "$HELM_DIR/helm" ;;
*)
  echo "usage: $0 {helm|helm-path}" >&2
  exit 2
  ;;
esac
