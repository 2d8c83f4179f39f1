#pragma once
// The node's sampler: every interval it reads the counters every rank of the node keeps in its
// window segment (and /proc for CPU time and RSS), and appends to the node's metrics log the
// events it noticed (signals received, errors) and one "sample" record. It runs on one rank per
// node, on the PeriodicSampler's thread: no MPI calls, no locks the stages take.
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "metrics/bottleneck.hpp"
#include "metrics/compression_choices.hpp"
#include "metrics/latency_histogram.hpp"
#include "metrics/metrics_log.hpp"
#include "metrics/stall_watch.hpp"

namespace shmjob::stages {
class StageContext;
}

namespace shmjob::metrics {

class NodeSampler {
 public:
  // `stall_s`, `abort_s`: the watchdog's thresholds (StallWatch; 0: off).
  NodeSampler(const stages::StageContext& ctx, int node_index, MetricsLog& log, DiagnosisContext diagnosis,
              double stall_s, double abort_s);
  // Appends the new events, then the sample; returns the sample (for the progress line).
  nlohmann::json tick();
  // Set once a rank stalled for watchdog.abort_s: why the job must end (logged already).
  const std::string& abort_reason() const noexcept { return abort_reason_; }

 private:
  void append_events();
  void watch_for_stalls();
  nlohmann::json sample();
  // The sample's "compression": the level the node compresses at now, and the node's choices.
  nlohmann::json compression_now(const CompressionChoices& node_choices) const;

  const stages::StageContext& ctx_;
  int node_index_;
  MetricsLog& log_;
  DiagnosisContext diagnosis_;
  LatencyCounts previous_latency_{};
  std::vector<std::uint32_t> signals_seen_;
  std::vector<bool> error_seen_;
  StallWatch stalls_;
  std::string abort_reason_;
};

}  // namespace shmjob::metrics
