#include "job/output_dir.hpp"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "h5/h5_handle.hpp"
#include "h5/shard_scan.hpp"
#include "shmjob/error.hpp"
#include "util/job_lock.hpp"
#include "util/printable.hpp"
#include "util/safe_file.hpp"

namespace shmjob {
namespace stdfs = std::filesystem;
namespace {

std::string shown(const stdfs::path& path) { return printable(path.string()); }

// "<job>.shard-<digits>.h5": exactly the names this job's writers give their shards, so job
// "run" never takes "run.shard-notes.h5" or job "run.shard-v2"'s files for its own.
bool is_shard_name(const std::string& name, const std::string& job) {
  const std::string prefix = job + ".shard-", suffix = ".h5";
  if (name.size() <= prefix.size() + suffix.size() || !name.starts_with(prefix) || !name.ends_with(suffix))
    return false;
  const std::string digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  return digits.find_first_not_of("0123456789") == std::string::npos;
}

// Two paths name the same file: same inode if both exist, else the same absolute path once
// ".." and links in the part that exists are resolved ("out/../job.json" is "job.json" even
// before out/ exists).
bool same_file(const stdfs::path& a, const stdfs::path& b) {
  std::error_code ec;
  if (stdfs::exists(a, ec) && stdfs::exists(b, ec)) return stdfs::equivalent(a, b, ec);
  const auto resolved = [&](const stdfs::path& p) {
    return stdfs::weakly_canonical(stdfs::absolute(p, ec).lexically_normal(), ec);
  };
  return resolved(a) == resolved(b);
}

void check_writable(const stdfs::path& dir) {
  // mkstemp creates exclusively (O_EXCL): a planted name is never followed.
  std::string probe = (dir / ".shmjob-probe-XXXXXX").string();
  const int fd = ::mkstemp(probe.data());
  if (fd < 0)
    throw OutputPathError("output_dir: cannot write in " + shown(dir) + ": " +
                          std::error_code(errno, std::generic_category()).message());
  ::close(fd);
  ::unlink(probe.c_str());
}

// The output names this job writes, and what each is, for the clash and link checks.
struct OutputName {
  stdfs::path path;
  const char* what;
};

std::vector<OutputName> output_names(const Config& config) {
  return {{config.master_path(), "master file"},
          {config.master_path().string() + ".partial", "master file"},
          {config.metrics_path(), "metrics log"}};
}

// The output never replaces an input, the config or one of its own other files.
void refuse_clashes(const Config& config, std::span<const stdfs::path> protected_files) {
  const std::vector<OutputName> outputs = output_names(config);
  for (const stdfs::path& input : protected_files) {
    for (const OutputName& out : outputs)
      if (same_file(out.path, input))
        throw OutputPathError("the " + std::string(out.what) + " " + shown(out.path) + " would replace " +
                                  shown(input) +
                                  ", which this job reads (an input file or its config); choose "
                                  "another output_dir, job or metrics.path",
                              kExitBadInput);
    std::error_code ec;
    if (stdfs::weakly_canonical(input.parent_path().empty() ? "." : input.parent_path(), ec) ==
            stdfs::weakly_canonical(config.output_dir, ec) &&
        is_shard_name(input.filename().string(), config.job))
      throw OutputPathError("input " + shown(input) + " has the name of one of job \"" + config.job +
                                "\"'s shards in its output_dir; choose another output_dir or job",
                            kExitBadInput);
  }
  const stdfs::path metrics = config.metrics_path();
  if (same_file(metrics, config.master_path()) ||
      (same_file(metrics.parent_path(), config.output_dir) && is_shard_name(metrics.filename().string(), config.job)) ||
      metrics.filename() == config.job + ".lock")
    throw OutputPathError("metrics.path " + shown(metrics) + " names one of the job's own files; choose another",
                          kExitBadInput);
}

// The first record of a metrics log says which job wrote it.
bool is_log_of_job(const stdfs::path& path, const std::string& job) {
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line)) return false;
  const nlohmann::json record = nlohmann::json::parse(line, nullptr, false);
  return record.is_object() && record.value("type", "") == "job_start" && record.value("job", "") == job;
}

// The job a shard was written by (its "config" attribute), if it can be read.
std::optional<std::string> shard_job(const stdfs::path& path) {
  try {
    h5::File file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "open");
    const auto config = h5::read_string_attribute_if_any(file, "config");
    if (!config) return std::nullopt;
    const nlohmann::json document = nlohmann::json::parse(*config, nullptr, false);
    if (!document.is_object() || !document.contains("job") || !document["job"].is_string()) return std::nullopt;
    return document["job"].get<std::string>();
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// The shard files an existing master lists (its "shards" attribute).
std::vector<std::string> shards_listed_by(const stdfs::path& master) {
  try {
    h5::File file(H5Fopen(master.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "open");
    const auto shards = h5::read_string_attribute_if_any(file, "shards");
    const nlohmann::json list = shards ? nlohmann::json::parse(*shards, nullptr, false) : nlohmann::json();
    std::vector<std::string> names;
    if (list.is_array())
      for (const auto& name : list)
        if (name.is_string()) names.push_back(name.get<std::string>());
    return names;
  } catch (const std::exception&) {
    return {};
  }
}

void remove_file(const stdfs::path& path) {
  std::error_code ec;
  stdfs::remove(path, ec);
  if (ec) throw OutputPathError("overwrite: cannot remove " + shown(path) + ": " + ec.message());
}

// "overwrite": exactly this job's files go: the master, the shards it lists, shards of an
// unfinished run whose stored config names this job, and its metrics log if this job wrote it.
void remove_earlier_run(const Config& config) {
  const stdfs::path& dir = config.output_dir;
  std::error_code ec;
  std::vector<stdfs::path> doomed;
  if (stdfs::exists(config.master_path(), ec)) {
    for (const std::string& name : shards_listed_by(config.master_path()))
      if (is_shard_name(name, config.job) && stdfs::is_regular_file(stdfs::symlink_status(dir / name, ec)))
        doomed.push_back(dir / name);
    doomed.push_back(config.master_path());
  }
  for (const auto& entry : stdfs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (is_shard_name(name, config.job) && shard_job(entry.path()) == config.job) doomed.push_back(entry.path());
  }
  const stdfs::path partial = config.master_path().string() + ".partial";
  if (stdfs::is_regular_file(stdfs::symlink_status(partial, ec))) doomed.push_back(partial);
  for (const stdfs::path& path : doomed) remove_file(path);
}

}  // namespace

std::optional<fs::JobLock> prepare_output_dir(const Config& config, std::span<const stdfs::path> protected_files) {
  const stdfs::path& dir = config.output_dir;
  std::error_code ec;
  refuse_clashes(config, protected_files);  // before anything is created
  if (stdfs::exists(dir, ec) && !stdfs::is_directory(dir, ec))
    throw OutputPathError("output_dir: " + shown(dir) + " exists and is not a directory");
  stdfs::create_directories(dir, ec);
  if (ec) throw OutputPathError("output_dir: cannot create " + shown(dir) + ": " + ec.message());
  check_writable(dir);
  // Taken before anything in the directory is looked at, held until the job has ended.
  std::optional<fs::JobLock> lock(std::in_place, dir, config.job);

  // A run killed while it wrote its master leaves the master's private directory behind.
  fs::remove_stale_private_dirs(dir, config.master_path().filename().string());
  // Never through a planted link, never blocked by a FIFO: every name the job writes or reads
  // back must be a regular file if it exists.
  for (const OutputName& out : output_names(config)) fs::require_regular_or_absent(out.path, out.what);
  bool unfinished = false;
  std::string unfinished_name;
  for (const auto& entry : stdfs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!is_shard_name(name, config.job)) continue;
    fs::require_regular_or_absent(entry.path(), "shard");
    if (!unfinished) unfinished_name = name;
    unfinished = true;
  }
  const stdfs::path metrics_dir = config.metrics_path().parent_path();
  if (!metrics_dir.empty() && !stdfs::is_directory(metrics_dir, ec))
    throw OutputPathError("metrics.path: directory " + shown(metrics_dir) + " does not exist");

  const bool has_master = stdfs::exists(config.master_path(), ec);
  if (!config.resume && !config.overwrite) {
    if (has_master)
      throw OutputPathError("output_dir: " + shown(dir) + " already holds job \"" + config.job + "\" (" +
                                shown(config.master_path()) +
                                "); resume it with --resume, choose another output_dir or job, or set "
                                "\"overwrite\": true to delete it and its shards",
                            kExitBadInput);
    // Shards without a master: an earlier run that crashed or failed. Never replace them silently.
    if (unfinished)
      throw OutputPathError("output_dir: " + shown(dir) + " holds " + printable(unfinished_name) +
                                " of an unfinished run of job \"" + config.job +
                                "\"; finish it with --resume, choose another output_dir, or set \"overwrite\": "
                                "true to delete that run",
                            kExitBadInput);
  }
  if (!config.resume && config.overwrite) remove_earlier_run(config);
  // A fresh run's log: a log this job left (a run that wrote nothing) goes; anything else there
  // is someone else's file.
  const stdfs::path metrics = config.metrics_path();
  if (!config.resume && stdfs::exists(stdfs::symlink_status(metrics, ec))) {
    if (!is_log_of_job(metrics, config.job))
      throw OutputPathError("metrics.path: " + shown(metrics) + " already exists and is not job \"" + config.job +
                                "\"'s log; choose another metrics.path",
                            kExitBadInput);
    remove_file(metrics);
  }
  return lock;
}

}  // namespace shmjob
