#!/usr/bin/env bash
# Validates the facade's OpenAPI document with openapi-spec-validator (PyPI), installed once into
# a virtualenv under target/, so no system Python packages are touched.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv=target/openapi-venv
if [[ ! -x "$venv/bin/openapi-spec-validator" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet openapi-spec-validator
fi
cargo run --quiet -- openapi >target/openapi.json
"$venv/bin/openapi-spec-validator" target/openapi.json
