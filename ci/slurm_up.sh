#!/usr/bin/env bash
# Bring up a one-node SLURM cluster on this host (Debian/Ubuntu, as root) for
# tests/test_slurm.py: installs slurm-wlm and munge through apt when missing, writes
# /etc/slurm/slurm.conf (this host, all its cores, 85% of its memory, no cgroups, no
# accounting database, a jobcomp/filetxt job log), starts munged, slurmctld and slurmd,
# and waits until the node is idle. Idempotent: a second call only checks (under a second).
# State, logs and PID files live under $SLURM_LOCAL_BASE (default /tmp/slurm-local); the
# job log is $SLURM_LOCAL_BASE/log/jobcomp.txt. ci/slurm_down.sh stops what this started.
# No accounting: run snakemake with --slurm-status-command squeue (profiles/slurm does),
# which needs MinJobAge >= 3 x --slurm-init-seconds-before-status-checks.
set -euo pipefail
BASE=${SLURM_LOCAL_BASE:-/tmp/slurm-local}
t0=$(date +%s.%N)
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

if [ "$(id -u)" != 0 ]; then
  echo "slurm_up: must run as root (it installs packages and starts daemons)" >&2
  exit 1
fi

# 1) install (skipped when already there)
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null ||
  ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
  echo "slurm_up: installing slurm-wlm and munge with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq slurm-wlm munge >/dev/null
fi
installed=$(elapsed "$t0")
t1=$(date +%s.%N)

mkdir -p "$BASE"/{state,spool,log,run}

# 2) munge key (Debian's postinst normally creates it)
if [ ! -s /etc/munge/munge.key ]; then
  mungekey --create --keyfile=/etc/munge/munge.key --force
fi
chown munge:munge /etc/munge/munge.key
chmod 400 /etc/munge/munge.key
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge

# 3) slurm.conf, rewritten every time; the daemons restart when it changed
node=$(hostname -s)
mem=$(awk '/MemTotal/ { print int($2 / 1024 * 0.85) }' /proc/meminfo)
cpus=${SLURM_LOCAL_CPUS:-$(nproc)}
mkdir -p /etc/slurm
old=$(cat /etc/slurm/slurm.conf 2>/dev/null || true)
cat >/etc/slurm/slurm.conf <<CONF
# written by lossscale ci/slurm_up.sh
ClusterName=local
SlurmctldHost=${node}
SlurmUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=${BASE}/log/jobcomp.txt
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
ReturnToService=2
MinJobAge=600
StateSaveLocation=${BASE}/state
SlurmdSpoolDir=${BASE}/spool
SlurmctldPidFile=${BASE}/run/slurmctld.pid
SlurmdPidFile=${BASE}/run/slurmd.pid
SlurmctldLogFile=${BASE}/log/slurmctld.log
SlurmdLogFile=${BASE}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=${node} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
stop() {
  if alive "$1"; then
    local pid
    pid=$(cat "$1")
    kill "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$1"
}
if [ "$old" != "$(cat /etc/slurm/slurm.conf)" ]; then
  stop "$BASE/run/slurmd.pid"
  stop "$BASE/run/slurmctld.pid"
fi

# 4) daemons (each daemonizes and writes its PID file)
if ! alive "$BASE/run/munged.pid"; then
  rm -f /run/munge/munged.pid
  runuser -u munge -- /usr/sbin/munged --force # munge cannot write $BASE/run: copy its PID file
  for _ in $(seq 50); do [ -s /run/munge/munged.pid ] && break; sleep 0.1; done
  cp /run/munge/munged.pid "$BASE/run/munged.pid"
fi
munge -n | unmunge >/dev/null
alive "$BASE/run/slurmctld.pid" || /usr/sbin/slurmctld
alive "$BASE/run/slurmd.pid" || /usr/sbin/slurmd

# 5) wait until the node takes jobs
state() { sinfo -h -N -o %t -n "$node" 2>/dev/null || true; }
for _ in $(seq 60); do
  case "$(state)" in idle | mix | alloc) break ;; esac
  sleep 0.5
done
case "$(state)" in idle | mix | alloc) ;; *)
  echo "slurm_up: node state '$(state)', resuming it"
  scontrol update nodename="$node" state=resume || true
  sleep 2
  ;;
esac
st=$(state)
echo "slurm_up: node $node ($cpus CPUs, ${mem} MB) is '$st'; install/check ${installed} s," \
  "configure+start $(elapsed "$t1") s, total $(elapsed "$t0") s"
case "$st" in idle | mix | alloc) ;; *)
  echo "slurm_up: the node is not usable; see $BASE/log/slurmctld.log and slurmd.log" >&2
  exit 1
  ;;
esac
