#!/usr/bin/env bash
# shmjob on Slurm: sbatch slurm/run.sh [CONFIG] [--resume]   (default: jobs/default.json)
# After a time limit (exit 4) or a crash, submit again with --resume: it keeps what is intact
# and writes the rest.
# Run from the repository root after scripts/build.sh. One node, 16 tasks; more tasks than
# cores needs --overcommit (idle shmjob ranks sleep, they do not spin).
#SBATCH --job-name=shmjob
#SBATCH --nodes=1
#SBATCH --ntasks=16
#SBATCH --overcommit
#SBATCH --output=shmjob-%j.out
# SIGTERM two minutes before the time limit: shmjob drains and writes an "interrupted" master.
#SBATCH --signal=TERM@120
set -euo pipefail
config=${1:-jobs/default.json}
shift $(( $# > 0 ? 1 : 0 ))
root=${SLURM_SUBMIT_DIR:-$(pwd)}
cd "$root"
export HDF5_PLUGIN_PATH="$root/build/plugins"
# Debian's Open MPI talks to Slurm through PMIx; srun delivers Slurm's signals to every rank.
exec srun --mpi=pmix build/shmjob "$@" "$config"
