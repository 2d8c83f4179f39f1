#pragma once
// Fixed log-scale buckets for per-matrix latencies (produced -> written): a writer bumps one
// bucket per matrix in its shared counters, the sampler merges the node's writers and reports
// percentiles. Bucket 0 holds [0, 1 us); bucket i in 1..kLatencyBuckets-2 holds
// [2^((i-1)/2), 2^(i/2)) us (each bucket sqrt(2) wide, so a percentile is within 41%); the last
// bucket holds everything from about 36 minutes up.
#include <array>
#include <cstdint>

#include <nlohmann/json_fwd.hpp>

namespace shmjob::metrics {

inline constexpr int kLatencyBuckets = 64;
using LatencyCounts = std::array<std::uint64_t, kLatencyBuckets>;

int latency_bucket(double seconds) noexcept;
double latency_bucket_upper_s(int bucket) noexcept;  // +inf for the last
double latency_bucket_lower_s(int bucket) noexcept;

// The q-quantile (0 < q <= 1) of the matrices counted, interpolated geometrically inside its
// bucket and never above `max_s` (the exact largest latency, when known; <= 0: unknown).
// 0 when nothing was counted.
double latency_quantile(const LatencyCounts& counts, double q, double max_s) noexcept;

// {"n", "p50_s", "p90_s", "p99_s", "max_s"} of a histogram (max_s only when known).
nlohmann::json latency_summary(const LatencyCounts& counts, double max_s);

}  // namespace shmjob::metrics
