#pragma once
// Per-rank counters in the rank's own window segment: the rank bumps them with relaxed atomics
// (no MPI traffic, no locks) and the node's sampler reads everyone's for the periodic metrics
// records. Time is split into disjoint parts (docs/metrics.md, "Where the time went"):
//   busy        stage work on the CPU: generate or read a matrix, checksum + shuffle + compress,
//               a writer's bookkeeping
//   wait_input  nothing to work on: a compressor's ready queues or a writer's inbox are empty
//               (the stage before is slower)
//   wait_slot   work in hand but no free slot of its own to put it in: a producer's raw slots or
//               a compressor's compressed slots are all still held downstream (the stage after
//               is slower)
//   wait_disk   a writer blocked in HDF5 writing its shard (chunk writes, flush, close)
#include <atomic>
#include <cstdint>

#include "metrics/latency_histogram.hpp"

namespace shmjob::metrics {

// The signal a rank received and the last error it failed with, for the sampler's events.
struct SignalNote {
  std::atomic<std::uint32_t> count{0};    // signals received so far
  std::atomic<std::uint32_t> number{0};   // the last one
  std::atomic<std::int64_t> epoch_ns{0};  // when (CLOCK_REALTIME)
};

struct alignas(64) RankCounters {
  std::atomic<std::uint64_t> matrices{0};   // matrices this rank finished its stage for
  std::atomic<std::uint64_t> bytes_in{0};   // bytes read (raw for compressors, frames for writers)
  std::atomic<std::uint64_t> bytes_out{0};  // bytes produced
  std::atomic<std::uint64_t> busy_ns{0};
  std::atomic<std::uint64_t> wait_input_ns{0};
  std::atomic<std::uint64_t> wait_slot_ns{0};
  std::atomic<std::uint64_t> wait_disk_ns{0};
  std::atomic<std::uint64_t> transform_ns{0};  // a compressor's part of busy_ns spent in the transform
  std::atomic<std::uint64_t> saturated{0};     // values the transform's casts clamped (or NaN -> 0)
  std::atomic<std::uint64_t> blocks{0};        // a producer's blocks claimed job-wide (several nodes)
  // Elastic stages (pipeline/elastic.hpp): matrices this rank compressed or produced for another
  // stage, and the time it took (apart from busy_ns and the waits, which are its own stage's).
  std::atomic<std::uint64_t> helped_compressed{0};
  std::atomic<std::uint64_t> helped_produced{0};
  std::atomic<std::uint64_t> help_compress_ns{0};
  std::atomic<std::uint64_t> help_produce_ns{0};
  // Compression choices (compression.shuffle / level "auto", metrics/compression_choices.hpp):
  // matrices this rank compressed (own or helped), of them shuffled, compressed both ways to
  // choose, and the sum of their levels.
  std::atomic<std::uint64_t> compressed_matrices{0};
  std::atomic<std::uint64_t> shuffled{0};
  std::atomic<std::uint64_t> shuffle_probes{0};
  std::atomic<std::uint64_t> level_sum{0};
  std::atomic<std::uint32_t> stage_done{0};  // its stage returned: nothing waits for it any more
  std::atomic<std::uint64_t> pid{0};         // so the node's sampler can read /proc/<pid>
  SignalNote signal;
  // A writer's matrices by latency, produced -> written (LatencyHistogram's buckets).
  std::atomic<std::uint64_t> latency[kLatencyBuckets] = {};
  std::atomic<std::uint64_t> latency_max_ns{0};
  // The message this rank failed with; `error_set` is stored after the text (release).
  std::atomic<std::uint32_t> error_set{0};
  std::atomic<std::int64_t> error_epoch_ns{0};
  char error[256] = {};

  void add(std::atomic<std::uint64_t>& counter, std::uint64_t value) noexcept {
    counter.fetch_add(value, std::memory_order_relaxed);
  }
  std::uint64_t wait_ns() const noexcept {
    return wait_input_ns.load(std::memory_order_relaxed) + wait_slot_ns.load(std::memory_order_relaxed) +
           wait_disk_ns.load(std::memory_order_relaxed);
  }
  // A writer's matrix went from produced to written in `seconds`.
  void record_latency(double seconds) noexcept;
  // Keeps the first error (the cause; later ones are usually its consequences).
  void record_error(const char* message) noexcept;
};

}  // namespace shmjob::metrics
