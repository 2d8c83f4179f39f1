#pragma once
// What a rank chose while compressing (compression.shuffle / level "auto"; fixed settings too):
// the matrices it compressed (own or helped), how many of them shuffled, how many it compressed
// both ways to choose, and the sum of their levels. A rank record's "compression" (samples and
// the end record, docs/metrics.md); summed over a node's ranks in a sample's "compression".
#include <cstdint>

#include <nlohmann/json.hpp>

#include "metrics/rank_counters.hpp"

namespace shmjob::metrics {

struct CompressionChoices {
  std::uint64_t matrices = 0, shuffled = 0, shuffle_probes = 0, level_sum = 0;

  static CompressionChoices of(const RankCounters& c) noexcept;
  void add(const CompressionChoices& other) noexcept;
  // {"matrices", "shuffled", "shuffle_probes", "level_sum", "mean_level"}.
  nlohmann::json json() const;
};

}  // namespace shmjob::metrics
