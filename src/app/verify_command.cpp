// shmjob verify OUT: every check of verify_output(); exit 0 clean, 3 problems (the output on disk
// is broken), 2 no master.
#include <cstdio>
#include <memory>
#include <string>

#include "app/commands.hpp"
#include "shmjob/error.hpp"
#include "shmjob/verify.hpp"
#include "util/printable.hpp"

namespace shmjob::app {
namespace {

int run_verify(const std::string& out_dir) {
  const VerifyReport report = verify_output(out_dir);
  for (const VerifyProblem& p : report.problems) std::printf("problem: %s\n", printable(p.text()).c_str());
  if (report.ok()) {
    std::printf("ok: %s: %llu matrices in %llu shards verified (status %s)\n",
                printable(report.master.string()).c_str(), static_cast<unsigned long long>(report.matrices_read),
                static_cast<unsigned long long>(report.shards), printable(report.status).c_str());
    return kExitOk;
  }
  std::printf("verify: %zu problem(s) in %s (%llu of %llu matrices read back intact)\n", report.problems.size(),
              printable(report.master.string()).c_str(), static_cast<unsigned long long>(report.matrices_read),
              static_cast<unsigned long long>(report.matrices));
  return kExitIo;
}

}  // namespace

Subcommand add_verify_command(CLI::App& app) {
  auto out_dir = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(
      "verify", "check a job's output: status, index, every shard, chunk, checksum and the VDS mapping");
  cmd->add_option("output", *out_dir, "output directory or master file (<job>.h5)")->required();
  return {cmd, [out_dir] { return run_verify(*out_dir); }};
}

}  // namespace shmjob::app
