#!/usr/bin/env bash
# scripts/demo.sh — the README's first command: set up, then run the demo.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash scripts/setup.sh
exec "$ROOT/.venv/bin/huangpu" demo "$@"
