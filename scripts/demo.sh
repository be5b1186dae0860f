#!/usr/bin/env bash
# The main job: a fresh local chain, the contracts deployed, and a real federated session played end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PWD/node_modules/.bin:$PATH"
exec python -m parity_p2p.devnet.demo "$@"
