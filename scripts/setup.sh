#!/usr/bin/env bash
# Installs what shmjob needs to build, run and test, from Debian 12's packages. Idempotent: when
# everything is there already it only checks and returns.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  libopenmpi-dev openmpi-bin libhwloc-dev hwloc
  libzstd-dev libisal-dev libhdf5-dev libaec-dev hdf5-tools hdf5-filter-plugin
  nlohmann-json3-dev libcli11-dev libgtest-dev libbenchmark-dev
  libopenblas-serial-dev
  python3 python3-h5py python3-numpy python3-matplotlib
  python3-jsonschema python3-pil chromium fonts-dejavu-core
  python3-fastapi python3-uvicorn python3-websockets python3-selenium chromium-driver
  slurmctld slurmd slurm-client munge
  clang libclang-rt-14-dev clang-format zstd
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "setup: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
