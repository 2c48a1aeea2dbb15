#!/usr/bin/env bash
# Starts (or reuses) a single-node SLURM cluster on this machine: munged as user munge, then
# slurmctld and slurmd as root, with one fake GPU; returns once the node is idle.
# Needs root and the packages of tests/slurm/install.sh. Usage: bash tests/slurm/start.sh [timeout_s]
set -euo pipefail
PATH="$PATH:/usr/sbin:/sbin"
here="$(cd "$(dirname "$0")" && pwd)"
timeout_s="${1:-90}"

node_state() { sinfo --noheader --Node --format=%T 2>/dev/null | head -n 1 || true; }

ours() { [[ -f /etc/slurm/slurm.conf ]] && grep -q '^ClusterName=inpaintbench$' /etc/slurm/slurm.conf; }

if ours && [[ "$(node_state)" =~ ^(idle|mixed|allocated)$ ]]; then
    echo "SLURM already running: node $(node_state)"
    exit 0
fi
if [[ -f /etc/slurm/slurm.conf ]] && ! ours; then
    echo "/etc/slurm/slurm.conf is not this test cluster's: refusing to replace it" >&2
    exit 2
fi

for tool in munged slurmctld slurmd sinfo sbatch; do
    command -v "$tool" >/dev/null || { echo "missing $tool: run tests/slurm/install.sh" >&2; exit 2; }
done
if [[ "$(id -u)" != 0 ]]; then
    sudo -n true 2>/dev/null && exec sudo -n bash "$0" "$@"
    echo "starting SLURM needs root or passwordless sudo (uid $(id -u))" >&2
    exit 2
fi

host="$(hostname -s)"
# slurmd finds the controller by this name: make it resolvable (containers may lack it).
getent hosts "$host" >/dev/null || echo "127.0.0.1 $host" >>/etc/hosts
node="$(slurmd -C | head -n 1)"
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
sed -e "s|@HOST@|$host|g" -e "s|@NODE@|$node|" "$here/slurm.conf.in" >/etc/slurm/slurm.conf
sed -e "s|@HOST@|$host|g" "$here/gres.conf.in" >/etc/slurm/gres.conf

if ! pgrep -u munge -x munged >/dev/null; then
    [[ -s /etc/munge/munge.key ]] || runuser -u munge -- mungekey --verbose
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    chmod 0755 /run/munge
    runuser -u munge -- munged
fi

pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd

deadline=$((SECONDS + timeout_s))
until [[ "$(node_state)" == idle ]]; do
    state="$(node_state)"
    if [[ "$state" == drain* || "$state" == down* ]]; then
        # A node left drained by an earlier run (e.g. a killed slurmd) is put back in service.
        scontrol update NodeName="$host" State=RESUME 2>/dev/null || true
    fi
    if (( SECONDS > deadline )); then
        echo "SLURM node not idle after ${timeout_s}s (state '${state:-none}')" >&2
        tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
        exit 1
    fi
    sleep 1
done
echo "SLURM running: node $host idle after ${SECONDS}s"
