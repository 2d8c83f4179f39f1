#include "output_dir.hpp"

#include <unistd.h>

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
    if (!out.flush()) throw OutputPathError("output_dir: cannot write in " + dir.string());
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
  if (fs::exists(config.master_path(), ec) && !config.overwrite)
    throw OutputPathError("output_dir: " + dir.string() + " already holds job \"" + config.job +
                          "\" (" + config.master_path().string() +
                          "); set \"overwrite\": true or choose another output_dir");
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
    throw OutputPathError("output_dir: " + dir.string() + " exists and is not a directory");
  fs::create_directories(dir, ec);
  if (ec) throw OutputPathError("output_dir: cannot create " + dir.string() + ": " + ec.message());
  check_writable(dir);
  const fs::path metrics_dir = config.metrics_path().parent_path();
  if (!metrics_dir.empty() && !fs::is_directory(metrics_dir, ec))
    throw OutputPathError("metrics.path: directory " + metrics_dir.string() + " does not exist");
  if (!config.overwrite) return;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (is_this_jobs_file(entry.path().filename().string(), config.job)) fs::remove(entry.path(), ec);
  fs::remove(config.metrics_path(), ec);
}

}  // namespace shmjob
