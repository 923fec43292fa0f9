#!/usr/bin/env bash
# scripts/test.sh — the README's second command, and what CI runs (.ci/run).
#
# Sets up .venv, makes sure PostgreSQL is installed (the store is tested on it for real), then
# runs every check in order and stops at the first failure. Arguments go to pytest.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

bash scripts/setup.sh

have_initdb() { compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; }
if ! have_initdb; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    LOG=$(mktemp "${TMPDIR:-/tmp}/huangpu-apt-pg.XXXXXX.log")
    echo "test: installing postgresql with apt-get (log: $LOG)" >&2
    { apt-get update \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql; } \
      >"$LOG" 2>&1 || { tail -n 20 "$LOG" >&2; echo "test: apt-get install postgresql failed" >&2; exit 1; }
  else
    # Not fatal here: the postgres tests skip locally and fail under CI=1 (tests/conftest.py).
    echo "test: PostgreSQL (initdb) not found; postgres tests will be skipped unless CI is set" >&2
  fi
fi

BIN=$ROOT/.venv/bin
step() {
  echo "==> $*" >&2
  "$@" || { rc=$?; echo "test: FAILED ($rc): $*" >&2; exit "$rc"; }
}
step "$BIN/ruff" check .
step "$BIN/ruff" format --check .
step "$BIN/mypy" huangpu
step "$BIN/lint-imports"

echo "==> pytest $*" >&2
rc=0
"$BIN/python" -m pytest "$@" || rc=$?
if [ "$rc" = 5 ]; then
  # pytest's 5 means "no tests collected": a typo in a path or marker must not pass CI.
  echo "test: FAILED: pytest collected no tests (exit 5); check the paths and -k/-m filters" >&2
  exit 1
elif [ "$rc" != 0 ]; then
  echo "test: FAILED: pytest exited $rc" >&2
  exit "$rc"
fi
echo "test: all checks passed" >&2
