#include "metrics/rank_counters.hpp"

#include <time.h>

#include <algorithm>
#include <cstring>

namespace shmjob::metrics {

void RankCounters::record_latency(double seconds) noexcept {
  add(latency[latency_bucket(seconds)], 1);
  const auto ns = static_cast<std::uint64_t>(std::max(0.0, seconds) * 1e9);
  std::uint64_t seen = latency_max_ns.load(std::memory_order_relaxed);
  while (ns > seen && !latency_max_ns.compare_exchange_weak(seen, ns, std::memory_order_relaxed)) {
  }
}

void RankCounters::record_error(const char* message) noexcept {
  if (error_set.load(std::memory_order_relaxed) != 0) return;
  std::strncpy(error, message, sizeof error - 1);
  error[sizeof error - 1] = '\0';
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  error_epoch_ns.store(std::int64_t{now.tv_sec} * 1000000000 + now.tv_nsec, std::memory_order_relaxed);
  error_set.store(1, std::memory_order_release);
}

}  // namespace shmjob::metrics
