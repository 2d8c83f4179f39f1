#!/usr/bin/env bash
# Builds shmjob and runs the bundled default job (jobs/default.json) with 16 ranks:
# 200 matrices of 1000x1000 float64 into out/default/, and writes its report (report.html there).
# Usage: scripts/run-default.sh [RANKS] [CONFIG]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
ranks=${1:-16}
config=${2:-jobs/default.json}
"$root/scripts/build.sh" >/dev/null
source "$root/scripts/mpi-env.sh"
cd "$root"
mpirun -n "$ranks" build/shmjob "$config"
# The report of the run: one HTML file next to the metrics log.
log=$(/usr/bin/python3 -c 'import json, os, sys
c = json.load(open(sys.argv[1])); m = c.get("metrics", {}).get("path") or c.get("job", "shmjob") + ".metrics.jsonl"
print(m if os.path.isabs(m) else os.path.join(c.get("output_dir", "out"), m))' "$config")
/usr/bin/python3 analysis/report.py "$log"
echo "read it with: HDF5_PLUGIN_PATH=$root/build/plugins /usr/bin/python3 -c \"import h5py; print(h5py.File('out/default/default.h5')['data'][0])\""
