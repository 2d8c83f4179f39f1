#pragma once
// Running a job: every rank of `world` calls run_job with the same config path. Collective.
#include <mpi.h>

#include <filesystem>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace shmjob {

struct RunOptions {
  bool progress = false;  // progress line on stderr even when it is not a terminal
  bool quiet = false;     // no summary on stdout
  bool resume = false;    // --resume: as "resume": true in the config
};

// Returns the process exit code, the same on every rank (shmjob/error.hpp): 0 done, 2 bad config
// or input (nothing written), 3 I/O error while running (no master claiming "complete"; the
// message names the path), 4 interrupted (master "interrupted"; resumable), 1 internal error.
int run_job(const std::filesystem::path& config_path, const RunOptions& options, MPI_Comm world);
// `shmjob --plan`: prints the plan (a table, then JSON {"nodes": [plan, ...]}) on rank 0 without
// running the pipeline. Collective; returns the exit code (2 for a bad config).
int print_plan(const std::filesystem::path& config_path, MPI_Comm world);
// The same without MPI for `ranks` ranks on one node of this machine, or of a topology given as
// an hwloc synthetic description or an XML file (topology_spec ending in .xml).
int print_plan(const std::filesystem::path& config_path, int ranks, const std::string& topology_spec);

// The same with the config given as a JSON document (e.g. built from command-line arguments).
int run_job(const nlohmann::json& config, const RunOptions& options, MPI_Comm world);

}  // namespace shmjob
