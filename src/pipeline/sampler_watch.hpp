#pragma once
// The watchdog's watch on the node's sampler itself. The sampler (and with it the stall watch)
// runs on a thread of node rank 0's process, so a rank 0 that is stopped (SIGSTOP, a hang in the
// kernel) also silences the watchdog that would name it. Node rank 1 therefore checks on a
// thread of its own that the sampler still ticks, and names rank 0 when it has not for
// watchdog.stall_s plus one sampling interval (stderr, and the node's metrics log, appended to).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "metrics/metrics_log.hpp"
#include "metrics/stall_watch.hpp"

namespace shmjob::stages {
class StageContext;
}

namespace shmjob::metrics {

class SamplerWatch {
 public:
  // `log_path`: the node's metrics log, which node rank 0 writes; `interval_s`: its sampling
  // interval. 0 turns a threshold off, as for StallWatch.
  SamplerWatch(const stages::StageContext& ctx, int node_index, std::filesystem::path log_path, double interval_s,
               double stall_s, double abort_s);
  // Call periodically (on a thread that makes no MPI calls).
  void tick();
  // Set once the sampler has not run for watchdog.abort_s: why the job must end (logged already).
  const std::string& abort_reason() const noexcept { return abort_reason_; }

 private:
  void record(const std::string& level, const StallNote& note);

  const stages::StageContext& ctx_;
  int node_index_;
  std::filesystem::path log_path_;
  StallWatch watch_;
  std::optional<MetricsLog> log_;  // opened to append once there is something to record
  std::string abort_reason_;
};

}  // namespace shmjob::metrics
