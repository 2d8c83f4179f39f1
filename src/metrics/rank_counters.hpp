#pragma once
// Per-rank counters in the rank's own window segment: the rank bumps them with relaxed atomics
// (no MPI traffic) and the node's sampler reads everyone's for the periodic metrics records.
#include <atomic>
#include <cstdint>

namespace shmjob::metrics {

struct alignas(64) RankCounters {
  std::atomic<std::uint64_t> matrices{0};   // matrices this rank finished its stage for
  std::atomic<std::uint64_t> bytes_in{0};   // bytes read (raw for compressors, frames for writers)
  std::atomic<std::uint64_t> bytes_out{0};  // bytes produced
  std::atomic<std::uint64_t> busy_ns{0};    // time doing stage work
  std::atomic<std::uint64_t> wait_ns{0};    // time blocked on a queue or a free slot

  void add(std::atomic<std::uint64_t>& counter, std::uint64_t value) noexcept {
    counter.fetch_add(value, std::memory_order_relaxed);
  }
};

}  // namespace shmjob::metrics
