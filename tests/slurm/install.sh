#!/usr/bin/env bash
# Installs SLURM 22.05 and munge from Debian 12 for the SLURM tests (as root, or through sudo;
# CI runs it before the test command).
set -euo pipefail
as_root=()
[[ "$(id -u)" == 0 ]] || as_root=(sudo)
if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
    && command -v munged >/dev/null; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
"${as_root[@]}" apt-get install -y -q --no-install-recommends slurmctld slurmd slurm-client munge
