#!/usr/bin/env bash
# A real one-node Slurm cluster on this machine (Debian packages, as root), for the tests and
# for trying hydra/launcher=submitit_slurm without a cluster.
#   bash scripts/slurm.sh install   apt-get install slurmd slurmctld slurm-client munge
#   bash scripts/slurm.sh start     write slurm.conf, start munged, slurmctld, slurmd; wait for idle
#   bash scripts/slurm.sh stop      stop them (by their pid files)
#   bash scripts/slurm.sh status    sinfo
# State, logs and pid files live in $POSENC_SLURM_DIR (default /tmp/posenc-slurm).
set -euo pipefail
dir=${POSENC_SLURM_DIR:-/tmp/posenc-slurm}
host=$(hostname -s)

install() {
  command -v slurmctld >/dev/null && command -v munged >/dev/null && return 0
  [ "$(id -u)" = 0 ] || { echo "slurm.sh install: needs root (apt-get)"; exit 1; }
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq slurmd slurmctld slurm-client munge >/dev/null
}

start() {
  install
  mkdir -p "$dir"/{spool,state,log} /run/munge /etc/slurm
  if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
  fi
  chown munge:munge /etc/munge/munge.key /run/munge 2>/dev/null || true
  chmod 400 /etc/munge/munge.key
  pgrep -x munged >/dev/null || su -s /bin/sh munge -c "munged" || munged --force
  cat >/etc/slurm/slurm.conf <<CONF
ClusterName=posenc
SlurmctldHost=$host
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
NodeName=$host CPUs=$(nproc) RealMemory=8000 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
  [ -s "$dir/slurmctld.pid" ] && kill -0 "$(cat "$dir/slurmctld.pid")" 2>/dev/null || slurmctld
  [ -s "$dir/slurmd.pid" ] && kill -0 "$(cat "$dir/slurmd.pid")" 2>/dev/null || slurmd
  for _ in $(seq 60); do
    if sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
      echo "slurm: node $host $(sinfo -h -o %t)"
      return 0
    fi
    sleep 1
  done
  echo "slurm: the node did not become idle; see $dir/log"; exit 1
}

stop() {
  for name in slurmd slurmctld; do
    [ -s "$dir/$name.pid" ] && kill "$(cat "$dir/$name.pid")" 2>/dev/null || true
  done
  echo "slurm: stopped"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) sinfo ;;
  *) echo "usage: $0 install|start|stop|status"; exit 2 ;;
esac
