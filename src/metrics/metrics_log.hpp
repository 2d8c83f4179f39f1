#pragma once
// The metrics log: JSON Lines, one record per line, flushed per record so a crashed or running
// job's log can be read as it is. Records: "job_start", "sample", "job_end" (see docs/metrics.md).
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

namespace shmjob::metrics {

class MetricsLog {
 public:
  enum class Open {
    create,   // a new file; anything already there is refused (OutputPathError, exit 2)
    append,   // keep earlier records (a resumed job's log continues the earlier runs')
    replace,  // this job's own earlier file (a resumed run's other-node log) starts afresh
  };
  // Never through a symbolic link, never onto a FIFO or device (util/safe_file.hpp). Throws
  // Error (exit 3) if it cannot be written.
  explicit MetricsLog(const std::filesystem::path& path, Open how = Open::create);
  void append(const nlohmann::json& record);  // thread-safe

 private:
  struct Close {
    void operator()(std::FILE* f) const noexcept { std::fclose(f); }
  };
  std::mutex mutex_;
  std::unique_ptr<std::FILE, Close> file_;
  std::filesystem::path path_;
};

// Calls `tick` every `interval_s` on a background thread (which makes no MPI calls), and once
// more when destroyed, so the last sample reflects the finished run.
class PeriodicSampler {
 public:
  PeriodicSampler(double interval_s, std::function<void()> tick);
  ~PeriodicSampler();
  PeriodicSampler(const PeriodicSampler&) = delete;
  PeriodicSampler& operator=(const PeriodicSampler&) = delete;

 private:
  std::function<void()> tick_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace shmjob::metrics
