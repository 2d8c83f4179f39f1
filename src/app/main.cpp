// shmjob: run a job described by a JSON config under MPI.
//   mpirun -n 16 shmjob jobs/default.json
#include <mpi.h>

#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "shmjob/error.hpp"
#include "shmjob/pipeline.hpp"
#include "shmjob/version.hpp"

int main(int argc, char** argv) {
  CLI::App app{"shmjob: move matrices through a node-local shared-memory pipeline "
               "(produce -> zstd compress -> HDF5 shards + master file)"};
  std::string config_path;
  shmjob::RunOptions options;
  app.add_option("config", config_path, "job config (JSON); see README for every key")->required();
  app.add_flag("--progress", options.progress, "print a progress line on stderr even when it is not a terminal");
  app.add_flag("--quiet", options.quiet, "no summary and no progress line");
  app.set_version_flag("--version", "shmjob " + shmjob::version());
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : shmjob::kExitBadInput;
  }

  int provided = 0;
  // FUNNELED: the metrics sampler thread never calls MPI, only the main thread does.
  if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
    std::fprintf(stderr, "shmjob: error: MPI_Init_thread failed\n");
    return shmjob::kExitRuntime;
  }
  int code = shmjob::kExitRuntime;
  try {
    code = shmjob::run_job(config_path, options, MPI_COMM_WORLD);
  } catch (const std::exception& e) {
    // Failures inside run_job's collective steps: this rank cannot agree with the others any
    // more, so take the whole job down rather than hang.
    std::fprintf(stderr, "shmjob: error: %s\n", e.what());
    MPI_Abort(MPI_COMM_WORLD, shmjob::kExitRuntime);
  }
  MPI_Finalize();
  return code;
}
