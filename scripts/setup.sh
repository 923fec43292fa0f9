#!/usr/bin/env bash
# scripts/setup.sh — make a working .venv in the repo root, as a new user would.
#
# Idempotent: a second run reuses .venv and skips `pip install` while pyproject.toml is
# unchanged (a stamp in .venv records its hash). HUANGPU_SETUP_FORCE=1 reinstalls anyway.
# Needs Python 3.11+ ($PYTHON, default python3). On Debian, where `python3 -m venv` lacks
# ensurepip until python3-venv is installed, it installs that package when run as root.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PY=${PYTHON:-python3}
VENV=$ROOT/.venv
STAMP=$VENV/.huangpu-setup-stamp

die() { echo "setup: $*" >&2; exit 1; }
say() { echo "setup: $*" >&2; }

command -v "$PY" >/dev/null 2>&1 \
  || die "'$PY' not found. Install Python 3.11 or newer (Debian: apt-get install python3), or set PYTHON=/path/to/python3.11"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "Python 3.11+ is required; '$PY' is $("$PY" -c 'import sys; print(sys.version.split()[0])'). Set PYTHON=/path/to/python3.11"

# `venv` alone is not enough on Debian: without ensurepip the venv has no pip.
venv_ok() { "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; }
if [ ! -x "$VENV/bin/python" ] && ! venv_ok; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    APTLOG=$(mktemp "${TMPDIR:-/tmp}/huangpu-apt.XXXXXX.log")
    say "installing python3-venv with apt-get (log: $APTLOG)"
    # Debian splits venv's ensurepip into python3-venv and python3.X-venv; ask for both.
    PYVER=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    apt_install() { DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"; }
    (
      apt-get update || exit 1
      apt_install python3-venv "python${PYVER}-venv" || apt_install python3-venv
    ) >"$APTLOG" 2>&1 || die "apt-get could not install python3-venv; see $APTLOG"
    venv_ok || die "python3-venv is installed but '$PY -m venv' still lacks ensurepip; see $APTLOG"
  else
    die "'$PY -m venv' is unavailable. Install it (Debian: sudo apt-get install python3-venv) and rerun"
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  "$PY" -m venv "$VENV" || die "'$PY -m venv $VENV' failed"
fi

LOG=$VENV/setup.log
WANT=$( { cat pyproject.toml; "$VENV/bin/python" -V; } | sha256sum | cut -d' ' -f1)
if [ "${HUANGPU_SETUP_FORCE:-0}" != 1 ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] \
  && "$VENV/bin/python" -c 'import huangpu' >/dev/null 2>&1; then
  say "up to date ($VENV)"
  exit 0
fi

say "installing huangpu with dev extras into $VENV (log: $LOG)"
rm -f "$STAMP"
{
  "$VENV/bin/python" -m pip install --upgrade pip \
    && "$VENV/bin/python" -m pip install --progress-bar off -e '.[dev]'
} >"$LOG" 2>&1 || { tail -n 20 "$LOG" >&2; die "pip install failed; full log in $LOG"; }
"$VENV/bin/python" -c 'import huangpu' || die "huangpu does not import after install; see $LOG"
echo "$WANT" >"$STAMP"
say "done"
