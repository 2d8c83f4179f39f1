#include "output_dir.hpp"

#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <string>
#include <system_error>

#include "shmjob/error.hpp"

namespace shmjob {
namespace fs = std::filesystem;
namespace {
void check_writable(const fs::path& dir) {
  const fs::path probe = dir / (".shmjob-probe-" + std::to_string(::getpid()));
  {
    std::ofstream out(probe);
    out << "probe";
    if (!out.flush())
      throw OutputPathError("output_dir: cannot write in " + dir.string() + ": " +
                            std::error_code(errno, std::generic_category()).message());
  }
  std::error_code ec;
  fs::remove(probe, ec);
}

bool is_this_jobs_file(const std::string& name, const std::string& job) {
  return name == job + ".h5" || name == job + ".h5.partial" ||
         (name.rfind(job + ".shard-", 0) == 0 && name.size() > 3 && name.ends_with(".h5"));
}
}  // namespace

void prepare_output_dir(const Config& config) {
  const fs::path& dir = config.output_dir;
  std::error_code ec;
  if (!config.resume && !config.overwrite) {
    if (fs::exists(config.master_path(), ec))
      throw OutputPathError("output_dir: " + dir.string() + " already holds job \"" + config.job +
                            "\" (" + config.master_path().string() +
                            "); set \"overwrite\": true, resume it with --resume, or choose another output_dir",
                            kExitBadInput);
    // Shards without a master: an earlier run that crashed or failed. Never replace them silently.
    for (const auto& entry : fs::directory_iterator(dir, ec))
      if (is_this_jobs_file(entry.path().filename().string(), config.job))
        throw OutputPathError("output_dir: " + dir.string() + " holds " + entry.path().filename().string() +
                              " of an unfinished run of job \"" + config.job +
                              "\"; finish it with --resume, set \"overwrite\": true, or choose another output_dir",
                              kExitBadInput);
  }
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
    throw OutputPathError("output_dir: " + dir.string() + " exists and is not a directory");
  fs::create_directories(dir, ec);
  if (ec) throw OutputPathError("output_dir: cannot create " + dir.string() + ": " + ec.message());
  check_writable(dir);
  const fs::path metrics_dir = config.metrics_path().parent_path();
  if (!metrics_dir.empty() && !fs::is_directory(metrics_dir, ec))
    throw OutputPathError("metrics.path: directory " + metrics_dir.string() + " does not exist");
  if (config.resume || !config.overwrite) return;  // resume keeps every file of earlier runs
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (is_this_jobs_file(entry.path().filename().string(), config.job)) fs::remove(entry.path(), ec);
  fs::remove(config.metrics_path(), ec);
}

}  // namespace shmjob
