#include "metrics/compression_choices.hpp"

namespace shmjob::metrics {

CompressionChoices CompressionChoices::of(const RankCounters& c) noexcept {
  const auto load = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  return {load(c.compressed_matrices), load(c.shuffled), load(c.shuffle_probes), load(c.level_sum)};
}

void CompressionChoices::add(const CompressionChoices& other) noexcept {
  matrices += other.matrices;
  shuffled += other.shuffled;
  shuffle_probes += other.shuffle_probes;
  level_sum += other.level_sum;
}

nlohmann::json CompressionChoices::json() const {
  return {{"matrices", matrices},
          {"shuffled", shuffled},
          {"shuffle_probes", shuffle_probes},
          {"level_sum", level_sum},
          {"mean_level", matrices > 0 ? static_cast<double>(level_sum) / static_cast<double>(matrices) : 0.0}};
}

}  // namespace shmjob::metrics
