# Sourced by the scripts: lets Open MPI run as root (containers, CI) and oversubscribe cores
# (shmjob's stages are more ranks than this machine has cores; idle ranks sleep, not spin).
export OMPI_ALLOW_RUN_AS_ROOT=1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
