#!/bin/bash
# scripts/slurm-up.sh — a real single-host Slurm (munged, slurmctld, slurmd, slurmrestd) on
# loopback, in $HUANGPU_SLURM_DIR (default /tmp/huangpu-slurm; no spaces). From ENGINES.md §1.
# Ports: $HUANGPU_SLURM_PORT_BASE (default 26810) +6 mariadb, +7 slurmctld, +8 slurmd,
# +9 slurmdbd, +10 slurmrestd. Node `localhost` has 4 fake GPUs (gpu:fake:4, files are symlinks
# to /dev/null) and 8 count-only NPUs. HUANGPU_SLURM_DBD=1 adds accounting (slurmdbd + MariaDB).
# Stop with scripts/slurm-down.sh (by PID).
set -euo pipefail
D=${HUANGPU_SLURM_DIR:-/tmp/huangpu-slurm}; P=${HUANGPU_SLURM_PORT_BASE:-26810}
SOCK=$D/munge/munge.socket.2; export SLURM_CONF=$D/slurm.conf
wait_for() { for _ in $(seq 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "timeout: $*" >&2; return 1; }
mkdir -p "$D"/{munge,state,spool,log,dev}; chmod 755 "$D" "$D/munge"  # munged wants o+x on its socket dir
[ -f "$D/munge/munge.key" ] || { head -c 1024 /dev/urandom >"$D/munge/munge.key"; chmod 400 "$D/munge/munge.key"; }
[ -f "$D/jwt.key" ] || { head -c 32 /dev/urandom >"$D/jwt.key"; chmod 600 "$D/jwt.key"; }
for i in 0 1 2 3; do ln -sf /dev/null "$D/dev/fakegpu$i"; done
AUTH="SlurmUser=root AuthType=auth/munge AuthInfo=socket=$SOCK AuthAltTypes=auth/jwt AuthAltParameters=jwt_key=$D/jwt.key"
# Beyond ENGINES.md: SlurmdTimeout=10 so a killed slurmd marks the node DOWN (and its jobs
# NODE_FAIL) in seconds, not 5 minutes; JobRequeue=0 so such a job fails instead of being
# requeued by Slurm behind huangpu's back; KillWait=5 bounds a cancel's TERM->KILL gap.
printf '%s\n' ClusterName=huangpu 'SlurmctldHost=localhost(127.0.0.1)' SlurmctldPort=$((P+7)) SlurmdPort=$((P+8)) \
  $AUTH CommunicationParameters=NoInAddrAny,NoCtldInAddrAny StateSaveLocation=$D/state SlurmdSpoolDir=$D/spool \
  SlurmctldPidFile=$D/slurmctld.pid SlurmdPidFile=$D/slurmd.pid SlurmctldLogFile=$D/log/slurmctld.log \
  SlurmdLogFile=$D/log/slurmd.log ProctrackType=proctrack/linuxproc TaskPlugin=task/none MpiDefault=none \
  SelectType=select/cons_tres SelectTypeParameters=CR_Core SchedulerParameters=batch_sched_delay=0 \
  GresTypes=gpu,npu ReturnToService=2 MaxJobCount=100000 SlurmdTimeout=10 JobRequeue=0 KillWait=5 \
  "NodeName=localhost NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=1000 Gres=gpu:fake:4,npu:8" \
  "PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:64" >"$SLURM_CONF"
printf '%s\n' AutoDetect=off "NodeName=localhost Name=gpu Type=fake File=$D/dev/fakegpu[0-3]" \
  "NodeName=localhost Name=npu Count=8" >"$D/gres.conf"
munged -S "$SOCK" --key-file="$D/munge/munge.key" --pid-file="$D/munge/munged.pid" --log-file="$D/log/munged.log" --seed-file="$D/munge/seed"
REST=openapi/v0.0.38                       # without slurmdbd, loading openapi/dbv0.0.38 is fatal
if [ "${HUANGPU_SLURM_DBD:-0}" = 1 ]; then
  [ -d "$D/mysql" ] || mariadb-install-db --no-defaults --datadir="$D/mysql" --user=root >"$D/log/mariadb-install.log"
  mariadbd --no-defaults --datadir="$D/mysql" --user=root --socket="$D/mysql.sock" --port=$((P+6)) \
    --bind-address=127.0.0.1 --pid-file="$D/mariadb.pid" --log-error="$D/log/mariadb.log" --skip-log-bin </dev/null &>/dev/null &
  wait_for mariadb-admin --no-defaults -S "$D/mysql.sock" ping
  mariadb --no-defaults -S "$D/mysql.sock" -e "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1'"
  printf '%s\n' $AUTH CommunicationParameters=NoInAddrAny DbdHost=localhost DbdAddr=127.0.0.1 DbdPort=$((P+9)) \
    PidFile=$D/slurmdbd.pid LogFile=$D/log/slurmdbd.log StorageType=accounting_storage/mysql StorageHost=127.0.0.1 \
    StoragePort=$((P+6)) StorageUser=slurm StoragePass=slurm StorageLoc=slurm_acct_db >"$D/slurmdbd.conf"
  chmod 600 "$D/slurmdbd.conf"
  printf '%s\n' AccountingStorageType=accounting_storage/slurmdbd AccountingStorageHost=localhost \
    AccountingStoragePort=$((P+9)) AccountingStoragePass=$SOCK AccountingStorageTRES=gres/gpu,gres/npu >>"$SLURM_CONF"
  slurmdbd                                   # reads slurmdbd.conf next to $SLURM_CONF
  wait_for sacctmgr -n list cluster
  REST=$REST,openapi/dbv0.0.38
fi
slurmctld -i -f "$SLURM_CONF"
slurmd -N localhost -f "$SLURM_CONF"
# slurmrestd refuses root; SLURM_JWT=daemon makes it forward the caller's JWT
SLURM_JWT=daemon setsid slurmrestd -u nobody -g nogroup -a rest_auth/jwt -s "$REST" \
  127.0.0.1:$((P+10)) </dev/null >"$D/log/slurmrestd.log" 2>&1 &
echo $! >"$D/slurmrestd.pid"
wait_for bash -c '[ "$(sinfo -h -n localhost -o %T)" = idle ]'
