#!/usr/bin/env bash
# The whole test suite: lint, types, contract tests (Hardhat), Python tests (pytest, trio mode, real anvil).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PWD/node_modules/.bin:$PATH"

echo "== ruff"; ruff check .
echo "== mypy"; mypy
echo "== hardhat test"; npx hardhat test
echo "== pytest"; pytest --durations=15 "$@"
