#!/usr/bin/env bash
# Builds .venv-flower for bench/flower_compare.py (Flower 1.42 cannot share .venv: its pins conflict with ours;
# see that file's docstring). Idempotent: does nothing when the venv already matches
# bench/flower_app/requirements.txt. The test suite never needs it.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python bench/flower_compare.py --setup-only
