#!/usr/bin/env bash
# Refreshes the vendored Swagger UI files that `/docs` serves (embedded in the binary with
# include_bytes!, so the build needs no network). Run by hand when upgrading; the pinned
# version and the npm registry's integrity (sha512) of its tarball are checked before anything
# is replaced. To upgrade: change both lines below (`npm view swagger-ui-dist@X dist.integrity`).
set -euo pipefail
VERSION=5.35.0
INTEGRITY=sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ==
FILES=(swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css LICENSE NOTICE)

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "swagger-ui-dist@$VERSION" >/dev/null)
tarball="$work/swagger-ui-dist-$VERSION.tgz"
got="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [[ "$got" != "$INTEGRITY" ]]; then
  echo "integrity mismatch for swagger-ui-dist@$VERSION: got $got, pinned $INTEGRITY" >&2
  exit 1
fi
tar -xzf "$tarball" -C "$work"
mkdir -p "$here/swagger-ui"
for f in "${FILES[@]}"; do cp "$work/package/$f" "$here/swagger-ui/$f"; done
echo "$VERSION" >"$here/swagger-ui/VERSION"
echo "swagger-ui-dist $VERSION vendored into $here/swagger-ui"
