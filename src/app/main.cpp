// shmjob: run a job under MPI.
//   mpirun -n 16 shmjob jobs/default.json
//   mpirun -n 4 shmjob ingest frames/*.h5 --out compressed/ --level 5 --shuffle
//   shmjob read|inspect|verify OUT ...   (src/app/*_command.cpp; no MPI)
#include <mpi.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "app/commands.hpp"
#include "app/launcher_rank.hpp"
#include "job/interrupt.hpp"
#include "job/stale_launcher_files.hpp"
#include "shmjob/error.hpp"
#include "shmjob/pipeline.hpp"
#include "shmjob/version.hpp"
#include "util/printable.hpp"

namespace {

struct IngestArgs {
  std::vector<std::string> inputs;
  std::string out;
  std::optional<std::string> dataset;  // unset: /data, else each file's only 2-D or 3-D dataset
  std::string job;
  std::string chunk;  // "RxC": tiles instead of one chunk per matrix
  int level = 3;
  bool shuffle = false;
  bool recursive = false;
  bool overwrite = false;
};

// `shmjob ingest` is a config written from the command line: same validation, same pipeline.
nlohmann::json ingest_config(const IngestArgs& a) {
  std::string job = a.job;
  if (job.empty()) {
    // The first input's file name, made a valid job name (it may be a glob pattern).
    for (const char c : std::filesystem::path(a.inputs.front()).stem().string())
      if (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || (c == '.' && !job.empty())) job += c;
    job = job.substr(0, 64);
    if (job.empty()) job = "ingest";
  }
  nlohmann::json config = {{"job", job},
                           {"output_dir", a.out},
                           {"overwrite", a.overwrite},
                           {"input", {{"files", a.inputs}, {"recursive", a.recursive}}},
                           {"compression", {{"level", a.level}, {"shuffle", a.shuffle}}}};
  if (a.dataset) config["input"]["dataset"] = *a.dataset;
  if (!a.chunk.empty()) {
    // "256x256" -> [256, 256]; anything else goes to the config check as written, which names it.
    const auto x = a.chunk.find('x');
    const auto digits = [](const std::string& t) {
      return !t.empty() && t.size() < 10 && t.find_first_not_of("0123456789") == std::string::npos;
    };
    if (x != std::string::npos && digits(a.chunk.substr(0, x)) && digits(a.chunk.substr(x + 1)))
      config["compression"]["chunk"] = {std::stoul(a.chunk.substr(0, x)), std::stoul(a.chunk.substr(x + 1))};
    else
      config["compression"]["chunk"] = a.chunk;
  }
  return config;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "shmjob: move matrices through a node-local shared-memory pipeline "
      "(produce or read HDF5 -> zstd compress -> HDF5 shards + master file)"};
  app.set_version_flag("--version", "shmjob " + shmjob::version());
  std::string config_path;
  shmjob::RunOptions options;
  app.add_option("config", config_path, "job config (JSON); every key: docs/config.md");
  app.add_flag("--progress", options.progress, "progress line on stderr even when it is not a terminal");
  app.add_flag("--quiet", options.quiet, "no summary and no progress line");
  app.add_flag("--resume", options.resume,
               "keep every intact matrix of an earlier run of this job and write only the rest");
  bool plan_only = false;
  int plan_ranks = 0;
  std::string plan_topology;
  app.add_flag("--plan", plan_only, "print the placement plan (table and JSON) and exit");
  app.add_option("--ranks", plan_ranks, "with --plan: plan for N ranks without MPI")->check(CLI::Range(1, 1 << 20));
  app.add_option("--topology", plan_topology,
                 "with --plan --ranks: an hwloc synthetic topology (\"pack:2 [numa] core:8 pu:1\") or an XML file");

  IngestArgs ingest;
  CLI::App* ingest_cmd = app.add_subcommand("ingest", "compress matrices from HDF5 files without writing a config");
  ingest_cmd->add_option("inputs", ingest.inputs, "input HDF5 files or glob patterns")->required();
  ingest_cmd->add_option("--out", ingest.out, "output directory")->required();
  ingest_cmd->add_option("--dataset", ingest.dataset,
                         "3-D or 2-D dataset, or a group of 2-D datasets (default: /data if the file has it, else "
                         "the file's only 2-D or 3-D dataset)");
  ingest_cmd->add_flag("--recursive", ingest.recursive, "with a group: include its subgroups");
  ingest_cmd->add_option("--level", ingest.level, "zstd level (1-22)")->capture_default_str();
  ingest_cmd->add_flag("--shuffle", ingest.shuffle, "byte shuffle before zstd");
  ingest_cmd->add_option("--chunk", ingest.chunk, "store matrices as RxC tiles (e.g. 256x256; clamped to each shape)");
  ingest_cmd->add_option("--job", ingest.job, "job name (default: the first input's file name)");
  ingest_cmd->add_flag("--overwrite", ingest.overwrite, "replace a job of the same name in --out");
  ingest_cmd->add_flag("--progress", options.progress, "progress line on stderr even when it is not a terminal");
  ingest_cmd->add_flag("--quiet", options.quiet, "no summary and no progress line");
  ingest_cmd->add_flag("--resume", options.resume, "finish an earlier, unfinished ingest into --out");

  bool dry_run = false;
  CLI::App* cleanup_cmd = app.add_subcommand("cleanup",
                                             "remove what a killed mpirun left on this node (/dev/shm/vader_segment.*, "
                                             "session directories of dead mpiruns); running jobs are not touched");
  cleanup_cmd->add_flag("--dry-run", dry_run, "only list what would be removed");

  // Reading the output needs no MPI.
  const shmjob::app::Subcommand readers[] = {shmjob::app::add_read_command(app), shmjob::app::add_inspect_command(app),
                                             shmjob::app::add_verify_command(app)};
  try {
    app.parse(argc, argv);
    if (cleanup_cmd->parsed()) return shmjob::cleanup::run_cleanup(dry_run);
    for (const auto& r : readers)
      if (r.command->parsed()) return shmjob::app::run_subcommand(r);
    if (!ingest_cmd->parsed() && config_path.empty()) throw CLI::RequiredError("config (or the ingest subcommand)");
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    // Every rank parses the same command line and fails alike; one of them says why, in the
    // same one-line form as every other error.
    return shmjob::app::fail_before_mpi(shmjob::kExitBadInput, std::string(e.what()) + " (see shmjob --help)");
  }

  if (plan_only && plan_ranks > 0) return shmjob::print_plan(config_path, plan_ranks, plan_topology);
  if (!plan_topology.empty() || (plan_ranks > 0 && !plan_only)) {
    return shmjob::app::fail_before_mpi(shmjob::kExitBadInput, "--ranks and --topology go with --plan");
  }

  int provided = 0;
  // FUNNELED: the metrics sampler thread never calls MPI, only the main thread does.
  if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
    std::fprintf(stderr, "shmjob: error: MPI_Init_thread failed\n");
    return shmjob::kExitInternal;
  }
  int code = shmjob::kExitInternal;
  {
    // Until MPI is finalized a first signal asks the job to stop (drain), whenever it comes; see
    // interrupt.hpp. A signal after the job's work is done changes nothing; a second aborts.
    const shmjob::InterruptHandler signals;
    try {
      const std::filesystem::path path(config_path);
      if (ingest_cmd->parsed())
        code = shmjob::run_job(ingest_config(ingest), options, MPI_COMM_WORLD);
      else if (plan_only)
        code = shmjob::print_plan(path, MPI_COMM_WORLD);
      else
        code = shmjob::run_job(path, options, MPI_COMM_WORLD);
    } catch (const std::exception& e) {
      // Failures inside run_job's collective steps: this rank cannot agree with the others any
      // more, so take the whole job down rather than hang.
      std::fprintf(stderr, "shmjob: error: %s\n", shmjob::printable(e.what()).c_str());
      MPI_Abort(MPI_COMM_WORLD, shmjob::kExitInternal);
    }
    MPI_Finalize();
  }
  return code;
}
