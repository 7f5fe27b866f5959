#!/usr/bin/env bash
# System packages SynthPair's tests and benchmarks need on Debian 12: Chromium for the webview and
# integration tests, the Kerberos headers code-server's native build needs, a C++ toolchain and oneDNN for
# SynthPair's native CPU kernels, patchelf to package oneDNN beside them, PyTorch as the independent
# numerical reference, and Slurm with munge, slurmdbd and MariaDB for the single-node cluster (with
# accounting, so that sacct answers) the job-array tests start (test/support/slurmCluster.ts). Skips the install when everything is present already.
set -euo pipefail

packages=(chromium libkrb5-dev g++ make libdnnl-dev patchelf python3-torch python3-torchvision
  slurmctld slurmd slurm-client munge slurmdbd mariadb-server-core mariadb-client-core)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages present: ${packages[*]}"
  exit 0
fi

sudo=''
if [ "$(id -u)" -ne 0 ]; then
  sudo='sudo'
fi
echo "installing: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
