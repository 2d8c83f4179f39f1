#pragma once
// This process's rank as its launcher announced it, read before MPI_Init (so before MPI can
// tell): a bad command line under `mpirun -n 16` is then reported once, by rank 0, not 16 times.
#include <cstdlib>
#include <string>

namespace shmjob::app {

// 0 when not started by a known launcher (a plain command line) or when the value is unreadable.
inline int launcher_rank() {
  // Open MPI's mpirun, PMIx launchers (srun --mpi=pmix), then Slurm's own task id.
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID"}) {
    const char* value = std::getenv(name);
    if (value == nullptr || *value == '\0') continue;
    char* end = nullptr;
    const long rank = std::strtol(value, &end, 10);
    if (*end == '\0' && rank >= 0 && rank < (1L << 30)) return static_cast<int>(rank);
  }
  return 0;
}

}  // namespace shmjob::app
