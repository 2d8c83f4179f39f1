# Slurm (issue 8): a real single-node cluster (munged, slurmctld, slurmd from Debian) started by
# the test itself in a temporary directory on free ports; sbatch --wait slurm/run.sh runs the
# default job, a time-limit warning leaves an "interrupted" output that a second sbatch resumes,
# and a requeued job resumes on its own. Skips (exit 77) with the reason where the daemons cannot
# start. RESOURCE_LOCK: one cluster at a time.
shmjob_mpi_script(slurm_cluster slurm_test.py LABEL slurm $<TARGET_FILE:shmjob>)
set_tests_properties(slurm_cluster PROPERTIES RESOURCE_LOCK slurm)
