#!/usr/bin/env bash
# Idempotent set-up on a fresh machine: a Python venv with the project installed, and node_modules for Hardhat and
# anvil. Quick when already done: each half re-runs only when its manifest changed (stamp = hash of the manifest).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "bootstrap: $PYTHON not found; Parity P2P needs Python 3.11 (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "bootstrap: npm not found; install Node.js 20 (e.g. apt-get install nodejs npm)" >&2
  exit 1
fi

py_stamp=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.parity-stamp 2>/dev/null)" != "$py_stamp" ]; then
  echo "bootstrap: installing the Python environment in .venv (torch is the local CPU wheel, ~1 min)"
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -e '.[dev]' 2>&1 | grep -v "is ignored: it is neither" || true
  .venv/bin/python -c "import torch, libp2p, web3, safetensors" # fail here, not later, if the install is broken
  echo "$py_stamp" > .venv/.parity-stamp
fi

js_stamp=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -d node_modules ] || [ "$(cat node_modules/.parity-stamp 2>/dev/null)" != "$js_stamp" ]; then
  echo "bootstrap: installing node_modules (Hardhat, solcjs, OpenZeppelin, anvil)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$js_stamp" > node_modules/.parity-stamp
fi
