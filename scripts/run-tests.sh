#!/usr/bin/env bash
# Builds shmjob and runs the whole test suite (unit, MPI, Python readers) with ctest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build.sh"
source "$root/scripts/mpi-env.sh"
ctest --test-dir "${SHMJOB_BUILD_DIR:-$root/build}" --output-on-failure -j2 "$@"
