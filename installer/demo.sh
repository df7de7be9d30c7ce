#!/usr/bin/env bash
# `make demo`: build (or reuse) the demo vault, start the sandbox payer portal, open the app.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
VAULT=${OFFHOLD_DEMO_VAULT:-$($PY -c 'from ui.commands.demo import default_demo_dir; print(default_demo_dir())')}
$PY -m ui.cli demo --vault "$VAULT"
if $PY -m ui.cli sandbox-portal --help >/dev/null 2>&1; then
  $PY -m ui.cli sandbox-portal --vault "$VAULT" --port "${OFFHOLD_SANDBOX_PORT:-8765}" &
  PORTAL=$!
  trap 'kill $PORTAL 2>/dev/null || true' EXIT
fi
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "No display: opening the app under Xvfb (xvfb-run)." >&2
  exec_cmd=(xvfb-run -a $PY -m ui.cli gui --vault "$VAULT" --autologin "${OFFHOLD_DEMO_ROLE:-office_manager}")
else
  exec_cmd=($PY -m ui.cli gui --vault "$VAULT" --autologin "${OFFHOLD_DEMO_ROLE:-office_manager}")
fi
"${exec_cmd[@]}"
