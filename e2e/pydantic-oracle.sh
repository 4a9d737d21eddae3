#!/usr/bin/env bash
# The facade's body parser against Pydantic v2 (docs/rest.md, "Errors"): a FastAPI app with the
# reference's request models (e2e/contract/oracle.py, FastAPI and Pydantic pinned in
# e2e/contract/pydantic-requirements.txt, installed with pip in a virtualenv under target/)
# and the facade's parser (the `parse-bodies` example) get the same few hundred bodies: every
# type rule (str, int, float, bool, datetime, enum, dict, null) in lax and strict inputs, and
# malformed JSON. The 422 bodies must be equal field by field and the accepted values the same;
# the differences kept on purpose are listed in oracle.py with their reason. A stage of
# `make unit` (no cluster needed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv=target/pydantic-venv
requirements=e2e/contract/pydantic-requirements.txt
# shellcheck source=e2e/contract/venv.sh
source e2e/contract/venv.sh
pinned_venv "$venv" "$requirements"
cargo build --quiet --bin punctual --example parse-bodies
target/debug/punctual openapi >target/openapi-oracle.json
"$venv/bin/python" -W ignore e2e/contract/oracle.py target/openapi-oracle.json \
  target/debug/examples/parse-bodies
