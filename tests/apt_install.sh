#!/usr/bin/env bash
# Installs the Debian 12 packages named on the command line, quietly and without recommends (as root,
# or through sudo): the system tools some tests need (tests/slurm/install.sh; Chromium in .ci/run).
set -euo pipefail
as_root=()
[[ "$(id -u)" == 0 ]] || as_root=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
"${as_root[@]}" apt-get install -y -q --no-install-recommends "$@"
