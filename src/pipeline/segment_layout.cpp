#include "pipeline/segment_layout.hpp"

#include "metrics/rank_counters.hpp"
#include "shm/shared_queue.hpp"
#include "shm/slots.hpp"

namespace shmjob::shm {
namespace {
constexpr std::size_t kLine = 64;
constexpr std::size_t kPage = 4096;
constexpr std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

// Hands out aligned ranges one after another.
struct Cursor {
  std::size_t at = 0;
  std::size_t take(std::size_t bytes, std::size_t align = kLine) {
    const std::size_t start = round_up(at, align);
    at = start + bytes;
    return start;
  }
};
}  // namespace

SegmentLayout segment_layout(const RolePlan& plan, int node_rank) {
  const RankPlan& rank = plan.ranks.at(static_cast<std::size_t>(node_rank));
  const NodeLayout& layout = plan.layout;
  SegmentLayout s;
  Cursor c;
  s.counters = c.take(sizeof(metrics::RankCounters));
  if (rank.node_rank == 0) s.control = c.take(sizeof(NodeControl));
  if (rank.role == Role::producer && rank.lane_role_index == 0) {
    // Every raw slot of the lane may wait at once.
    s.ready_capacity =
        std::uint64_t(plan.count(rank.lane, Role::producer)) * std::uint64_t(layout.raw_slots_per_producer);
    s.ready_queue = c.take(SharedQueue::bytes_for(s.ready_capacity));
  }
  auto add_slots = [&](std::uint32_t count, std::size_t header_bytes, std::uint64_t slot_bytes) {
    s.slot_count = count;
    s.queue_capacity = count;
    s.queue = c.take(SharedQueue::bytes_for(count));
    s.slot_headers = c.take(header_bytes * count);
    s.slot_stride = round_up(slot_bytes, kPage);
    s.slot_data = c.take(s.slot_stride * count, kPage);
  };
  switch (rank.role) {
    case Role::producer:
      add_slots(static_cast<std::uint32_t>(layout.raw_slots_per_producer), sizeof(RawSlotHeader),
                layout.raw_slot_bytes);
      break;
    case Role::compressor:
      add_slots(static_cast<std::uint32_t>(layout.compressed_slots_per_compressor), sizeof(CompressedSlotHeader),
                layout.compressed_slot_bytes);
      break;
    case Role::writer:
      // Every compressed slot on the node may be addressed to one writer, plus end-of-stream.
      s.queue_capacity = std::uint64_t(layout.compressors) * std::uint64_t(layout.compressed_slots_per_compressor) + 1;
      s.queue = c.take(SharedQueue::bytes_for(s.queue_capacity));
      break;
    case Role::idle:
      break;
  }
  s.total = round_up(c.at, kPage);
  return s;
}

}  // namespace shmjob::shm
