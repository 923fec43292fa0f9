#!/usr/bin/env bash
# scripts/pg-up.sh — a throwaway PostgreSQL on 127.0.0.1 for tests (ENGINES.md, section 3).
#   HUANGPU_PG_DIR  (default /tmp/huangpu-pg): data, socket and logs; must be enterable by the
#                   postgres user, so put it directly under /tmp, not under pytest's tmp_path.
#   HUANGPU_PG_PORT (default 15432)
# Stop: kill -INT "$(head -1 "$HUANGPU_PG_DIR/data/postmaster.pid")"   (fast shutdown)
# The database is `huangpu`, user `postgres`, trust auth on loopback only.
set -euo pipefail
D=${HUANGPU_PG_DIR:-/tmp/huangpu-pg}
PORT=${HUANGPU_PG_PORT:-15432}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ]; then
  echo "pg-up: PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin;" \
    "install them (Debian: apt-get install postgresql)" >&2
  exit 3
fi
mkdir -p "$D"
# initdb refuses to run as root: as root, run the server as `postgres`; otherwise as ourselves.
if [ "$(id -u)" = 0 ]; then
  chown postgres: "$D"
  as_pg() { runuser -u postgres -- "$@"; }
else
  as_pg() { "$@"; }
fi
[ -f "$D/data/PG_VERSION" ] || as_pg "$PGBIN/initdb" -D "$D/data" -U postgres -A trust \
  -E UTF8 --no-sync >"$D/initdb.log"
as_pg "$PGBIN/pg_ctl" -D "$D/data" -l "$D/pg.log" -w \
  -o "-p $PORT -k $D -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
PSQL="$PGBIN/psql"; CREATEDB="$PGBIN/createdb"
"$PSQL" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -tAc \
  "SELECT 1 FROM pg_database WHERE datname='huangpu'" | grep -q 1 \
  || "$CREATEDB" -h 127.0.0.1 -p "$PORT" -U postgres huangpu
