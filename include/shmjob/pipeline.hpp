#pragma once
// Running a job: every rank of `world` calls run_job with the same config path. Collective.
#include <mpi.h>

#include <filesystem>

namespace shmjob {

struct RunOptions {
  bool progress = false;  // progress line on stderr even when it is not a terminal
  bool quiet = false;     // no summary on stdout
};

// Returns the process exit code, the same on every rank: 0 done, 2 bad config or output path
// (nothing written), 1 failure while running (the master file is not written; the message names
// the rank and what failed).
int run_job(const std::filesystem::path& config_path, const RunOptions& options, MPI_Comm world);

}  // namespace shmjob
