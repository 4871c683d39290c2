#!/usr/bin/env bash
# A single-node Slurm (Debian's slurm-wlm + munge) on this machine, for the opt-in Slurm test:
#   .ci/slurm.sh start   -> slurmctld + slurmd for this host (installs the packages when root)
#   .ci/slurm.sh stop
# Config and state live in $SLURM_DIR; nothing outside it is changed but /etc/slurm/slurm.conf
# (Slurm's commands read it from there) and /etc/slurm/cgroup.conf.
set -euo pipefail
SLURM_DIR="${SLURM_DIR:-/tmp/dse-slurm}"

start() {
    if ! command -v slurmctld >/dev/null; then
        [ "$(id -u)" = 0 ] || { echo "slurm.sh: slurm-wlm is not installed" >&2; exit 1; }
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >/dev/null
    fi
    stop >/dev/null 2>&1 || true
    mkdir -p "$SLURM_DIR"/{state,spool,log} /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
    [ -s /etc/munge/munge.key ] || { mungekey --create --force 2>/dev/null || /usr/sbin/create-munge-key -f; }
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged
    local host cpus mem
    host=$(hostname -s); cpus=$(nproc); mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
    mkdir -p /etc/slurm
    cat > /etc/slurm/slurm.conf <<CONF
ClusterName=dse-ci
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$SLURM_DIR/state
SlurmdSpoolDir=$SLURM_DIR/spool
SlurmctldPidFile=$SLURM_DIR/slurmctld.pid
SlurmdPidFile=$SLURM_DIR/slurmd.pid
SlurmctldLogFile=$SLURM_DIR/log/slurmctld.log
SlurmdLogFile=$SLURM_DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
SchedulerType=sched/backfill
MpiDefault=none
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
    rm -f /etc/slurm/cgroup.conf
    slurmctld
    slurmd
    for _ in $(seq 50); do
        sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)' && break
        sleep 0.2
    done
    sinfo
}

stop() {
    pkill -x slurmd 2>/dev/null || true
    pkill -x slurmctld 2>/dev/null || true
    sleep 0.5
    rm -rf "$SLURM_DIR"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: .ci/slurm.sh start|stop" >&2; exit 2 ;;
esac
