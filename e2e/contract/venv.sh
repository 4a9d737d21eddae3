# shellcheck shell=bash
# pinned_venv DIR REQUIREMENTS: a virtualenv at DIR holding exactly the pinned REQUIREMENTS
# (pip freeze output), made again whenever that file changes.
pinned_venv() {
  local venv="$1" requirements="$2"
  if ! cmp -s "$requirements" "$venv/requirements.txt" 2>/dev/null; then
    echo "== installing $(basename "$requirements" .txt) into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --no-deps -r "$requirements"
    cp "$requirements" "$venv/requirements.txt"
  fi
}
