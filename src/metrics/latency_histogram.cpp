#include "metrics/latency_histogram.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

namespace shmjob::metrics {

int latency_bucket(double seconds) noexcept {
  const double us = seconds * 1e6;
  if (!(us >= 1.0)) return 0;  // also NaN and negatives (clock steps)
  // us in [2^((i-1)/2), 2^(i/2))  <=>  i - 1 <= 2 log2(us) < i
  const int i = static_cast<int>(std::floor(2.0 * std::log2(us))) + 1;
  return std::min(i, kLatencyBuckets - 1);
}

double latency_bucket_upper_s(int bucket) noexcept {
  if (bucket >= kLatencyBuckets - 1) return std::numeric_limits<double>::infinity();
  return 1e-6 * std::exp2(0.5 * bucket);
}

double latency_bucket_lower_s(int bucket) noexcept { return bucket <= 0 ? 0.0 : 1e-6 * std::exp2(0.5 * (bucket - 1)); }

double latency_quantile(const LatencyCounts& counts, double q, double max_s) noexcept {
  std::uint64_t n = 0;
  for (const std::uint64_t c : counts) n += c;
  if (n == 0) return 0.0;
  const double target = std::clamp(q, 0.0, 1.0) * static_cast<double>(n);
  double below = 0;
  for (int i = 0; i < kLatencyBuckets; ++i) {
    const auto c = static_cast<double>(counts[static_cast<std::size_t>(i)]);
    if (c == 0 || below + c < target) {
      below += c;
      continue;
    }
    const double lo = std::max(latency_bucket_lower_s(i), 1e-7);
    double hi = latency_bucket_upper_s(i);
    if (max_s > 0) hi = std::min(hi, std::max(max_s, lo));
    if (!std::isfinite(hi)) hi = lo * 2;
    const double fraction = std::clamp((target - below) / c, 0.0, 1.0);
    const double value = lo * std::pow(hi / lo, fraction);
    return max_s > 0 ? std::min(value, max_s) : value;
  }
  return max_s > 0 ? max_s : latency_bucket_lower_s(kLatencyBuckets - 1);
}

nlohmann::json latency_summary(const LatencyCounts& counts, double max_s) {
  std::uint64_t n = 0;
  for (const std::uint64_t c : counts) n += c;
  nlohmann::json s = {{"n", n},
                      {"p50_s", latency_quantile(counts, 0.50, max_s)},
                      {"p90_s", latency_quantile(counts, 0.90, max_s)},
                      {"p99_s", latency_quantile(counts, 0.99, max_s)}};
  if (max_s > 0) s["max_s"] = max_s;
  return s;
}

}  // namespace shmjob::metrics
