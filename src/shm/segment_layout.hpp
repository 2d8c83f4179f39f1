#pragma once
// Where things live in each rank's window segment. A pure function of (role, node layout), so
// every rank computes every other rank's layout itself and no offsets are exchanged.
//
//   every rank:      RankCounters
//   node rank 0:     NodeControl, then the node's ready queue (raw slots waiting for compression)
//   producer:        free-slot queue, raw slot headers, raw slot data (page aligned)
//   compressor:      free-slot queue, compressed slot headers, compressed slot data
//   writer:          inbox queue (compressed slots to write)
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "shm/futex_event.hpp"
#include "shmjob/role_plan.hpp"

namespace shmjob::shm {

// Node-wide coordination, in node rank 0's segment.
struct alignas(64) NodeControl {
  alignas(64) std::atomic<std::uint64_t> next_ticket{0};  // work order position (see WorkOrder)
  alignas(64) std::atomic<std::uint32_t> abort{0};        // a rank failed: everyone stops
  std::atomic<std::uint32_t> producers_done{0};
  std::atomic<std::uint32_t> compressors_done{0};
  std::atomic<std::uint32_t> ranks_finished{0};
  alignas(64) FutexEvent finished;  // notified when ranks_finished grows or on abort
};

struct SegmentLayout {
  static constexpr std::size_t npos = ~std::size_t{0};
  std::size_t counters = 0;
  std::size_t control = npos;      // NodeControl
  std::size_t ready_queue = npos;  // follows NodeControl
  std::uint64_t ready_capacity = 0;
  std::size_t queue = npos;        // free-slot queue or writer inbox
  std::uint64_t queue_capacity = 0;
  std::size_t slot_headers = npos;
  std::size_t slot_data = npos;
  std::size_t slot_stride = 0;     // page-aligned slot size
  std::uint32_t slot_count = 0;
  std::size_t total = 0;
};

SegmentLayout segment_layout(const RankAssignment& rank, const NodeLayout& layout);

}  // namespace shmjob::shm
