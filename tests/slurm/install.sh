#!/usr/bin/env bash
# Installs SLURM 22.05 and munge from Debian 12 for the SLURM tests (as root, or through sudo;
# CI runs it before the test command).
set -euo pipefail
if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
    && command -v munged >/dev/null; then
    exit 0
fi
bash "$(dirname "$0")/../apt_install.sh" slurmctld slurmd slurm-client munge
