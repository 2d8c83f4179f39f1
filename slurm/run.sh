#!/usr/bin/env bash
# shmjob on Slurm:  sbatch [sbatch options] slurm/run.sh [CONFIG] [shmjob options]
#
# Submit from the repository root after scripts/build.sh (CONFIG defaults to jobs/default.json).
# Every #SBATCH line below is a default: options on the sbatch command line override it, e.g.
#   sbatch --nodes=4 --ntasks-per-node=64 --time=02:00:00 --requeue slurm/run.sh jobs/big.json
#
#SBATCH --job-name=shmjob
#SBATCH --nodes=1
#SBATCH --ntasks=16
# More tasks than cores is fine (idle shmjob ranks sleep, they do not spin) but Slurm needs to be
# told, or the job pends forever on small nodes.
#SBATCH --overcommit
#SBATCH --output=shmjob-%j.out
# SIGUSR1 to this script 2 minutes before the time limit; it forwards it to the ranks, which stop
# producing, drain and write an "interrupted" master that a later run resumes (--resume).
#SBATCH --signal=B:USR1@120
#
# Environment: SHMJOB_BIN (default build/shmjob), SHMJOB_LAUNCHER=srun|mpirun (default: srun if
# it can start PMIx jobs here, else mpirun), SHMJOB_REPORT=0 to skip the HTML report,
# SHMJOB_DASHBOARD=0 not to print the live dashboard's command, SHMJOB_DASHBOARD_PORT (default
# 8050), SHMJOB_DASHBOARD_TOKEN_FILE (default ~/.config/shmjob/dashboard-token, made once, mode 600).
set -uo pipefail

config=${1:-jobs/default.json}
shift || true
# The job starts in sbatch's --chdir (default: where sbatch ran): the repository root.
root=$(pwd)
cd "$root" || exit 1
bin=${SHMJOB_BIN:-$root/build/shmjob}
python=/usr/bin/python3
export HDF5_PLUGIN_PATH=${HDF5_PLUGIN_PATH:-$(dirname "$bin")/plugins}

if [ ! -x "$bin" ]; then
  echo "run.sh: $bin is not built; run scripts/build.sh first (or set SHMJOB_BIN)" >&2
  exit 2
fi
if [ ! -r "$config" ]; then
  echo "run.sh: cannot read config $config" >&2
  exit 2
fi

args=("$config" "$@")
# A requeued job (scontrol requeue, preemption, --requeue after a node failure) finishes what the
# previous attempt left instead of starting over.
if [ "${SLURM_RESTART_COUNT:-0}" -gt 0 ] && [[ " $* " != *" --resume "* ]]; then
  echo "run.sh: restart ${SLURM_RESTART_COUNT} of job ${SLURM_JOB_ID:-?}: resuming" >&2
  args+=(--resume)
fi

# Where the output goes: the config's output_dir and metrics.path.
read -r out_dir metrics < <("$python" - "$config" <<'EOF'
import json, os, sys
c = json.load(open(sys.argv[1]))
out = c.get("output_dir", "out")
m = c.get("metrics", {}).get("path") or c.get("job", "shmjob") + ".metrics.jsonl"
print(os.path.abspath(out), os.path.abspath(m if os.path.isabs(m) else os.path.join(out, m)))
EOF
)

# The live dashboard (docs/dashboard.md): the command that opens it, run on the login node, and
# the tunnel to it. Its token stays in a file only this user reads; the output file (often
# readable by others) names the file, not the token.
if [ "${SHMJOB_DASHBOARD:-1}" != 0 ] && [ -f "$root/analysis/dashboard.py" ]; then
  token_file=${SHMJOB_DASHBOARD_TOKEN_FILE:-${HOME:-~}/.config/shmjob/dashboard-token}
  if [ ! -s "$token_file" ]; then
    (umask 077 && mkdir -p "$(dirname "$token_file")" &&
      od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$token_file") 2>/dev/null
  fi
  if [ -s "$token_file" ]; then
    port=${SHMJOB_DASHBOARD_PORT:-8050}
    login=${SLURM_SUBMIT_HOST:-$(hostname -f 2>/dev/null || hostname)}
    printf -v q_root '%q' "$root"
    printf -v q_token '%q' "$token_file"
    printf -v q_out '%q' "$out_dir"
    echo "run.sh: live dashboard: on $login, run" >&2
    echo "run.sh:   cd $q_root && SHMJOB_DASHBOARD_TOKEN=\$(cat $q_token) $python analysis/dashboard.py --port $port $q_out" >&2
    echo "run.sh: it prints the URL to open (with the token); from your own machine first: ssh -N -L $port:127.0.0.1:$port ${USER:-\$USER}@$login" >&2
  else
    echo "run.sh: no live dashboard command: cannot write its token file $token_file" >&2
  fi
fi

launcher=${SHMJOB_LAUNCHER:-}
if [ -z "$launcher" ]; then
  # Debian's Open MPI reaches Slurm through PMIx only; without it srun cannot wire up MPI.
  if srun --mpi=list 2>&1 | grep -q pmix; then launcher=srun; else launcher=mpirun; fi
fi
case $launcher in
  srun) cmd=(srun --mpi=pmix --kill-on-bad-exit=1 "$bin" "${args[@]}") ;;
  # mpirun reads the allocation from Slurm; shmjob pins its ranks itself.
  mpirun) cmd=(mpirun --bind-to none "$bin" "${args[@]}") ;;
  *) echo "run.sh: SHMJOB_LAUNCHER must be srun or mpirun, not '$launcher'" >&2; exit 2 ;;
esac
echo "run.sh: ${cmd[*]}" >&2

# Run the launcher in the background so the trap can forward Slurm's warning signal (bash runs
# traps only between commands, and `wait` returns early when one fires).
"${cmd[@]}" &
launcher_pid=$!
forward() {
  echo "run.sh: $1 received, forwarding USR1 to the ranks (they drain and stop)" >&2
  kill -USR1 "$launcher_pid" 2>/dev/null
}
trap 'forward USR1' USR1
trap 'forward TERM' TERM
trap 'forward INT' INT
while true; do
  wait "$launcher_pid"
  status=$?
  kill -0 "$launcher_pid" 2>/dev/null || break
done
trap - USR1 TERM INT

echo "run.sh: shmjob exited with $status; output in $out_dir" >&2
if [ -f "$metrics" ] && [ "${SHMJOB_REPORT:-1}" != 0 ] && [ -f "$root/analysis/report.py" ]; then
  report="$(dirname "$metrics")/report.html"
  if "$python" "$root/analysis/report.py" "$metrics" -o "$report"; then
    echo "run.sh: metrics log $metrics, report $report" >&2
  fi
elif [ ! -f "$root/analysis/report.py" ]; then
  echo "run.sh: no report: $root/analysis/report.py not found (submit from the repository root)" >&2
fi
exit "$status"
