#pragma once
// Where things live in each rank's window segment. A pure function of the node's plan, so every
// rank computes every other rank's layout itself and no offsets are exchanged.
//
//   every rank:      RankCounters
//   node rank 0:     NodeControl
//   a lane's first producer: the lane's ready queue (raw slots waiting for compression), so it
//                    sits on the lane's NUMA domain
//   producer:        free-slot queue, raw slot headers, raw slot data (page aligned)
//   compressor:      free-slot queue, compressed slot headers, compressed slot data
//   writer:          inbox queue (compressed slots to write)
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "shm/futex_event.hpp"
#include "topology/role_plan.hpp"

namespace shmjob::shm {

inline constexpr int kMaxLanes = 64;
// Cores of a node whose activity the elastic stages track (logical indexes; beyond it, a rank
// counts in the node-wide figure only).
inline constexpr int kMaxTrackedCores = 1024;

// Node-wide coordination, in node rank 0's segment.
struct alignas(64) NodeControl {
  struct alignas(64) Ticket {
    std::atomic<std::uint64_t> next{0};  // a lane's position in the work order
  };
  Ticket lane_ticket[kMaxLanes];
  alignas(64) std::atomic<std::uint32_t> abort{0};  // a rank failed: everyone stops
  std::atomic<std::uint32_t> producers_done{0};
  std::atomic<std::uint32_t> compressors_done{0};
  std::atomic<std::uint32_t> ranks_finished{0};
  std::atomic<std::uint32_t> interrupted{0};    // a signal asked the node to stop producing
  std::atomic<std::uint64_t> sampler_ticks{0};  // the node's sampler's heartbeat (pipeline/sampler_watch.hpp)
  // Elastic stages (pipeline/elastic.hpp): ranks producing or compressing outside their own stage
  // right now. Compressors end only once no helper is producing, the writers' end of stream
  // waits until no helper is compressing.
  std::atomic<std::uint32_t> helping_producers{0};
  std::atomic<std::uint32_t> helping_compressors{0};
  // compression.level "auto": the level the node compresses at now (0: not decided yet, the
  // config's starting level), set by the node's first compressor (pipeline/adaptive_level.hpp).
  std::atomic<std::int32_t> level{0};
  // Ranks working (not asleep) in all, and per core they are bound to: a rank helps only where a
  // core would otherwise be idle.
  alignas(64) std::atomic<std::int32_t> active_ranks{0};
  std::atomic<std::int32_t> active_on_core[kMaxTrackedCores] = {};
  // Compressors sleep here: notified by every push to any lane's ready queue, by the last
  // producer finishing and on abort (one event, so a compressor can wait for any lane).
  alignas(64) FutexEvent ready;
  alignas(64) FutexEvent finished;  // notified when ranks_finished grows or on abort
};

struct SegmentLayout {
  static constexpr std::size_t npos = ~std::size_t{0};
  std::size_t counters = 0;
  std::size_t control = npos;      // NodeControl
  std::size_t ready_queue = npos;  // the lane's, if this rank is its first producer
  std::uint64_t ready_capacity = 0;
  std::size_t queue = npos;  // free-slot queue or writer inbox
  std::uint64_t queue_capacity = 0;
  std::size_t slot_headers = npos;
  std::size_t slot_data = npos;
  std::size_t slot_stride = 0;  // page-aligned slot size
  std::uint32_t slot_count = 0;
  std::size_t total = 0;
};

SegmentLayout segment_layout(const RolePlan& plan, int node_rank);

}  // namespace shmjob::shm
