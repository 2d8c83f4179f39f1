#pragma once
// This process's rank as its launcher announced it, read before MPI_Init (so before MPI can
// tell): a bad command line under `mpirun -n 16` is then reported once, by rank 0, not 16 times.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

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

// A failure before MPI_Init, where the ranks cannot agree: each fails alike with `code`, rank 0
// says why in one line. The other ranks wait a moment first: mpirun ends the job at the first
// non-zero exit, and a rank that exited at once could have the job killed before rank 0 printed
// (seen under load). With rank 0 first, mpirun also reports rank 0's code.
inline int fail_before_mpi(int code, const std::string& message) {
  if (launcher_rank() == 0) {
    std::fprintf(stderr, "shmjob: error: %s\n", message.c_str());
    std::fflush(stderr);
  } else {
    std::this_thread::sleep_for(std::chrono::seconds(2));
  }
  return code;
}

}  // namespace shmjob::app
