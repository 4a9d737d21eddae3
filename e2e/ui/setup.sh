#!/usr/bin/env bash
# What the browser test (e2e/tests/ui.rs, e2e/ui/browser_test.py) needs, installed when missing:
# Debian's chromium and chromium-driver (apt; as root, or with sudo), and Selenium in a venv
# under ~/.cache/punctual (pinned). Prints the venv's python on stdout, nothing else.
set -euo pipefail
SELENIUM_VERSION="${PUNCTUAL_SELENIUM_VERSION:-4.51.0}"
VENV="${PUNCTUAL_UI_VENV:-$HOME/.cache/punctual/ui-venv-selenium-$SELENIUM_VERSION}"
log() { printf '[ui-setup] %s\n' "$*" >&2; }

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  sudo=()
  if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null 2>&1 || { log "chromium is missing and installing it needs root or sudo"; exit 1; }
    sudo=(sudo)
  fi
  log "installing chromium and chromium-driver with apt-get"
  "${sudo[@]}" apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq chromium chromium-driver >&2
fi
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c "import selenium" 2>/dev/null; then
  log "creating $VENV with selenium $SELENIUM_VERSION"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "selenium==$SELENIUM_VERSION" >&2
fi
printf '%s\n' "$VENV/bin/python"
