#!/usr/bin/env bash
# Stop the daemons that ci/slurm_up.sh started (by their PID files under
# $SLURM_LOCAL_BASE, default /tmp/slurm-local); nothing else. Idempotent.
BASE=${SLURM_LOCAL_BASE:-/tmp/slurm-local}
for daemon in slurmd slurmctld munged; do
  file="$BASE/run/$daemon.pid"
  if [ -s "$file" ] && kill -0 "$(cat "$file")" 2>/dev/null; then
    pid=$(cat "$file")
    kill -TERM "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "slurm_down: $daemon ($pid) still alive, sending KILL"
      kill -KILL "$pid"
    fi
    echo "slurm_down: stopped $daemon (pid $pid)"
  fi
  rm -f "$file"
done
