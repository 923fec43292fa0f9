#!/bin/bash
# scripts/slurm-down.sh — stops what slurm-up.sh started, by PID only; the daemons are
# reparented, so a zombie counts as gone.
D=${HUANGPU_SLURM_DIR:-/tmp/huangpu-slurm}; export SLURM_CONF=$D/slurm.conf
alive() { [ -r /proc/$1/status ] && ! grep -q '^State:.*Z' /proc/$1/status; }
ids=$(squeue -h -o %i 2>/dev/null) && [ -n "$ids" ] && scancel $ids
for f in slurmrestd slurmd slurmctld slurmdbd mariadb munge/munged; do
  f=$D/$f.pid; [ -s "$f" ] || continue; p=$(cat "$f"); kill "$p" 2>/dev/null
  for _ in $(seq 100); do alive "$p" || break; sleep 0.1; done
  alive "$p" && kill -9 "$p"; rm -f "$f"
done
exit 0
