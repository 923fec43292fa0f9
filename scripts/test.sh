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

# Debian's Chromium for the browser tests (tests/e2e; `playwright install` cannot download
# here). A CJK font so the zh-CN screenshots show characters. Missing: skip locally, fail in CI.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    LOG=$(mktemp "${TMPDIR:-/tmp}/huangpu-apt-chromium.XXXXXX.log")
    echo "test: installing chromium with apt-get (log: $LOG)" >&2
    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y \
        --no-install-recommends chromium fonts-wqy-microhei; } >"$LOG" 2>&1 \
      || { tail -n 20 "$LOG" >&2; echo "test: apt-get install chromium failed" >&2; exit 1; }
  else
    echo "test: chromium not found; browser tests will be skipped unless CI is set" >&2
  fi
fi

# Real Slurm for the executor tests (tests/conftest.py: slurm_cluster). Without it they skip
# locally and fail under CI=1, as PostgreSQL does. No slurmdbd/MariaDB: no test needs sacct.
SLURM_PKGS="slurm-wlm slurmctld slurmd slurm-client munge slurmrestd slurm-wlm-jwt-plugin"
if ! command -v slurmrestd >/dev/null 2>&1 || ! command -v slurmctld >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    LOG=$(mktemp "${TMPDIR:-/tmp}/huangpu-apt-slurm.XXXXXX.log")
    echo "test: installing Slurm with apt-get (log: $LOG)" >&2
    # shellcheck disable=SC2086
    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y \
        --no-install-recommends $SLURM_PKGS; } \
      >"$LOG" 2>&1 || { tail -n 20 "$LOG" >&2; echo "test: apt-get install Slurm failed" >&2; exit 1; }
  else
    echo "test: Slurm not found; Slurm tests will be skipped unless CI is set" >&2
  fi
fi

BIN=$ROOT/.venv/bin
# The ray extra (pip install 'huangpu[ray]'), for the Ray executor tests (~40 s the first time).
if ! "$BIN/python" -c 'import ray.job_submission' >/dev/null 2>&1; then
  echo "test: installing the ray extra into .venv" >&2
  "$BIN/python" -m pip install --progress-bar off 'ray[default]>=2.9' >"$ROOT/.venv/ray-install.log" 2>&1 \
    || { tail -n 20 "$ROOT/.venv/ray-install.log" >&2; echo "test: pip install ray failed" >&2; exit 1; }
fi
# The torch extra only when a CPU wheel is at hand locally (pip's find-links): from PyPI it is
# the CUDA build, ~5 GB and minutes. Without torch the torch tests skip (importorskip).
if ! "$BIN/python" -c 'import torch' >/dev/null 2>&1 \
  && "$BIN/python" -m pip install --dry-run --no-index --no-deps 'torch==2.13.0' >/dev/null 2>&1; then
  echo "test: installing the torch extra (local CPU wheel) into .venv" >&2
  "$BIN/python" -m pip install --progress-bar off 'torch==2.13.0' >"$ROOT/.venv/torch-install.log" 2>&1 \
    || echo "test: torch install failed; torch tests will skip (log: .venv/torch-install.log)" >&2
fi
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
