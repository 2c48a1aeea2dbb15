#!/usr/bin/env bash
# Starts (or reuses) a single-node SLURM cluster on this machine: munged as user munge, then
# slurmctld and slurmd as root, with two fake GPUs; returns once the node is idle. A running
# cluster of ours whose configuration differs from tests/slurm/*.in is restarted with the new one.
# Needs root and the packages of tests/slurm/install.sh. Usage: bash tests/slurm/start.sh [timeout_s]
set -euo pipefail
PATH="$PATH:/usr/sbin:/sbin"
here="$(cd "$(dirname "$0")" && pwd)"
timeout_s="${1:-90}"

node_state() { sinfo --noheader --Node --format=%T 2>/dev/null | head -n 1 || true; }

ours() { [[ -f /etc/slurm/slurm.conf ]] && grep -q '^ClusterName=inpaintbench$' /etc/slurm/slurm.conf; }

render_slurm_conf() { sed -e "s|@HOST@|$(hostname -s)|g" -e "s|@NODE@|$(slurmd -C | head -n 1)|" "$here/slurm.conf.in"; }
render_gres_conf() { sed -e "s|@HOST@|$(hostname -s)|g" "$here/gres.conf.in"; }
configs_current() {
    cmp -s <(render_slurm_conf) /etc/slurm/slurm.conf && cmp -s <(render_gres_conf) /etc/slurm/gres.conf
}

if ours && configs_current && [[ "$(node_state)" =~ ^(idle|mixed|allocated)$ ]]; then
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
if ours && ! configs_current && pgrep -x slurmctld >/dev/null; then
    # A node's GPU count changes only when both daemons restart (scontrol reconfigure keeps it).
    echo "SLURM configuration changed: restarting the cluster"
    scontrol shutdown
    for _ in $(seq 60); do pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null || break; sleep 1; done
fi
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
render_slurm_conf >/etc/slurm/slurm.conf
render_gres_conf >/etc/slurm/gres.conf

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
