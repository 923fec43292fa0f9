#!/bin/bash
# scripts/ray-up.sh — a real Ray head with the Jobs API on loopback (ENGINES.md §2), in
# $HUANGPU_RAY_DIR (default /tmp/huangpu-ray). Stop: kill -TERM "$(cat $HUANGPU_RAY_DIR/ray.pid)"
# (`--block` keeps `ray start` as the parent of its session; never the Ray CLI's stop command, which would end
# every Ray on the machine). Ports: $HUANGPU_RAY_PORT_BASE (default 26380) +0 GCS, +1 dashboard
# and Jobs API, +2..+8 other daemons, +100..+199 workers. Offers {"npu": 8} as a custom resource.
set -euo pipefail
D=${HUANGPU_RAY_DIR:-/tmp/huangpu-ray}; P=${HUANGPU_RAY_PORT_BASE:-26380}; VENV=${HUANGPU_VENV:-$PWD/.venv}
export PATH=$VENV/bin:$PATH RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 RAY_USAGE_STATS_ENABLED=0
mkdir -p "$D"
setsid ray start --head --block --node-ip-address=127.0.0.1 --port=$P --dashboard-host=127.0.0.1 \
  --dashboard-port=$((P+1)) --ray-client-server-port=$((P+2)) --node-manager-port=$((P+3)) \
  --object-manager-port=$((P+4)) --runtime-env-agent-port=$((P+5)) --dashboard-agent-grpc-port=$((P+6)) \
  --dashboard-agent-listen-port=$((P+7)) --metrics-export-port=$((P+8)) \
  --min-worker-port=$((P+100)) --max-worker-port=$((P+199)) --num-cpus="$(nproc)" \
  --resources='{"npu": 8}' --object-store-memory=$((256*1024*1024)) --temp-dir="$D/t" \
  --disable-usage-stats </dev/null >"$D/ray.log" 2>&1 &
echo $! >"$D/ray.pid"
for _ in $(seq 600); do curl -sf "http://127.0.0.1:$((P+1))/api/version" >/dev/null && exit 0; sleep 0.1; done
echo "ray not up, see $D/ray.log" >&2; exit 1
