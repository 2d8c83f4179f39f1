// segment_layout: where each rank's control words, queues and slots live in its window segment.
// Every rank computes every other rank's layout itself, so the function must be a pure function
// of (role, node layout) and its regions must be aligned, disjoint and inside the segment.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "config/config.hpp"
#include "metrics/rank_counters.hpp"
#include "pipeline/segment_layout.hpp"
#include "shm/shared_queue.hpp"
#include "shm/slots.hpp"
#include "topology/role_plan.hpp"

namespace shmjob::shm {
namespace {

constexpr std::size_t kLine = 64;
constexpr std::size_t kPage = 4096;
constexpr std::size_t npos = SegmentLayout::npos;

struct Region {
  std::string name;
  std::size_t offset;
  std::size_t bytes;
};

// The regions a layout claims, with the sizes the code that uses them needs.
std::vector<Region> regions_of(const SegmentLayout& s, Role role) {
  std::vector<Region> out;
  out.push_back({"counters", s.counters, sizeof(metrics::RankCounters)});
  if (s.control != npos) out.push_back({"control", s.control, sizeof(NodeControl)});
  if (s.ready_queue != npos) out.push_back({"ready_queue", s.ready_queue, SharedQueue::bytes_for(s.ready_capacity)});
  if (s.queue != npos) out.push_back({"queue", s.queue, SharedQueue::bytes_for(s.queue_capacity)});
  const std::size_t header = role == Role::compressor ? sizeof(CompressedSlotHeader) : sizeof(RawSlotHeader);
  if (s.slot_headers != npos) out.push_back({"slot_headers", s.slot_headers, header * s.slot_count});
  if (s.slot_data != npos) out.push_back({"slot_data", s.slot_data, s.slot_stride * s.slot_count});
  return out;
}

std::string describe(const NodeLayout& l) {
  return std::to_string(l.producers) + "/" + std::to_string(l.compressors) + "/" + std::to_string(l.writers) + "+" +
         std::to_string(l.idle) + " idle, slots " + std::to_string(l.raw_slots_per_producer) + "x" +
         std::to_string(l.raw_slot_bytes) + " raw, " + std::to_string(l.compressed_slots_per_compressor) + "x" +
         std::to_string(l.compressed_slot_bytes) + " compressed";
}

NodeLayout make_layout(int producers, int compressors, int writers, int idle, int slots, std::uint64_t raw_bytes,
                       std::uint64_t compressed_bytes, int compressed_slots = -1) {
  NodeLayout l;
  l.producers = producers;
  l.compressors = compressors;
  l.writers = writers;
  l.idle = idle;
  l.raw_slots_per_producer = slots;
  l.compressed_slots_per_compressor = compressed_slots < 0 ? slots : compressed_slots;
  l.raw_slot_bytes = raw_bytes;
  l.compressed_slot_bytes = compressed_bytes;
  return l;
}

bool same(const SegmentLayout& a, const SegmentLayout& b) {
  return a.counters == b.counters && a.control == b.control && a.ready_queue == b.ready_queue &&
         a.ready_capacity == b.ready_capacity && a.queue == b.queue && a.queue_capacity == b.queue_capacity &&
         a.slot_headers == b.slot_headers && a.slot_data == b.slot_data && a.slot_stride == b.slot_stride &&
         a.slot_count == b.slot_count && a.total == b.total;
}

// Every property of every rank's layout.
void check_node(const NodeLayout& layout) {
  SCOPED_TRACE(describe(layout));
  const RolePlan plan = make_node_plan(layout);
  ASSERT_EQ(plan.ranks.size(),
            static_cast<std::size_t>(layout.producers + layout.compressors + layout.writers + layout.idle));
  for (const RankPlan& rank : plan.ranks) {
    SCOPED_TRACE("node rank " + std::to_string(rank.node_rank) + " (" + std::string(role_name(rank.role)) + ")");
    const SegmentLayout s = segment_layout(plan, rank.node_rank);

    // Pure: the same inputs give the same layout (every rank computes everyone's).
    const SegmentLayout again = segment_layout(plan, rank.node_rank);
    EXPECT_TRUE(same(s, again));

    EXPECT_GT(s.total, 0u);
    EXPECT_EQ(s.total % kPage, 0u) << "total " << s.total;

    // Aligned, inside the segment, pairwise disjoint.
    std::vector<Region> regions = regions_of(s, rank.role);
    for (const Region& r : regions) {
      EXPECT_EQ(r.offset % kLine, 0u) << r.name << " at " << r.offset;
      EXPECT_LE(r.offset + r.bytes, s.total) << r.name << " [" << r.offset << ", +" << r.bytes << ")";
    }
    std::sort(regions.begin(), regions.end(), [](const Region& a, const Region& b) { return a.offset < b.offset; });
    for (std::size_t i = 1; i < regions.size(); ++i)
      EXPECT_LE(regions[i - 1].offset + regions[i - 1].bytes, regions[i].offset)
          << regions[i - 1].name << " overlaps " << regions[i].name;

    // Node rank 0 holds the node's control block and ready queue; nobody else does.
    if (rank.node_rank == 0) {
      EXPECT_NE(s.control, npos);
      EXPECT_NE(s.ready_queue, npos);
      EXPECT_GT(s.ready_queue, s.control);
      // Every raw slot of the node may wait in one lane's queue at once.
      EXPECT_EQ(s.ready_capacity, std::uint64_t(layout.producers) * std::uint64_t(layout.raw_slots_per_producer));
    } else {
      EXPECT_EQ(s.control, npos);
      EXPECT_EQ(s.ready_queue, npos);
      EXPECT_EQ(s.ready_capacity, 0u);
    }

    switch (rank.role) {
      case Role::producer:
      case Role::compressor: {
        const bool producer = rank.role == Role::producer;
        const auto slots = static_cast<std::uint32_t>(producer ? layout.raw_slots_per_producer
                                                               : layout.compressed_slots_per_compressor);
        const std::uint64_t slot_bytes = producer ? layout.raw_slot_bytes : layout.compressed_slot_bytes;
        EXPECT_EQ(s.slot_count, slots);
        EXPECT_EQ(s.queue_capacity, slots) << "the free-slot queue holds every slot";
        ASSERT_NE(s.queue, npos);
        ASSERT_NE(s.slot_headers, npos);
        ASSERT_NE(s.slot_data, npos);
        EXPECT_EQ(s.slot_data % kPage, 0u) << "slot data at " << s.slot_data;
        EXPECT_GE(s.slot_stride, slot_bytes);
        EXPECT_EQ(s.slot_stride % kPage, 0u) << "stride " << s.slot_stride;
        EXPECT_LT(s.slot_stride - slot_bytes, kPage) << "stride wastes a page or more";
        // Each slot's data, through the last one, is page aligned and inside the segment.
        for (std::uint32_t i = 0; i < slots; ++i) {
          const std::size_t at = s.slot_data + s.slot_stride * i;
          EXPECT_EQ(at % kPage, 0u);
          EXPECT_LE(at + slot_bytes, s.total);
        }
        const std::size_t header = producer ? sizeof(RawSlotHeader) : sizeof(CompressedSlotHeader);
        EXPECT_EQ(header % kLine, 0u);
        for (std::uint32_t i = 0; i < slots; ++i) EXPECT_EQ((s.slot_headers + header * i) % kLine, 0u);
        break;
      }
      case Role::writer:
        ASSERT_NE(s.queue, npos);
        // Every compressed slot on the node may be in one writer's inbox, plus end-of-stream.
        EXPECT_EQ(s.queue_capacity,
                  std::uint64_t(layout.compressors) * std::uint64_t(layout.compressed_slots_per_compressor) + 1);
        EXPECT_EQ(s.slot_count, 0u);
        EXPECT_EQ(s.slot_headers, npos);
        EXPECT_EQ(s.slot_data, npos);
        break;
      case Role::idle:
        // Only the counters (the node's sampler reads them).
        EXPECT_EQ(s.counters, 0u);
        EXPECT_EQ(s.queue, npos);
        EXPECT_EQ(s.queue_capacity, 0u);
        EXPECT_EQ(s.slot_count, 0u);
        EXPECT_EQ(s.slot_headers, npos);
        EXPECT_EQ(s.slot_data, npos);
        if (rank.node_rank != 0) {
          EXPECT_EQ(regions.size(), 1u);
          EXPECT_EQ(s.total, kPage);
        }
        break;
    }
  }
}

TEST(SegmentLayout, SmallestNode) { check_node(make_layout(1, 1, 1, 0, 4, 1000, 1100)); }

TEST(SegmentLayout, SixteenRanksWithEightMegabyteSlots) {
  const std::uint64_t mb8 = 8u << 20;
  check_node(make_layout(4, 10, 2, 0, 8, mb8, mb8 + mb8 / 255 + 1024));
}

TEST(SegmentLayout, IdleRanks) {
  check_node(make_layout(2, 3, 1, 4, 4, 80'000, 80'400));
  check_node(make_layout(1, 1, 1, 13, 2, 4096, 4096 + 140));
}

TEST(SegmentLayout, OddSizesAndCounts) {
  // Slot sizes that are exact pages, one byte over a page, and tiny; one slot; many slots.
  check_node(make_layout(1, 1, 1, 0, 1, 4096, 4096 * 3));
  check_node(make_layout(3, 2, 3, 1, 1, 4097, 4097 + 200));
  check_node(make_layout(2, 5, 1, 0, 7, 1, 73));
  check_node(make_layout(3, 4, 2, 0, 64, 12'345, 12'500, 5));
  check_node(make_layout(2, 2, 4, 0, 1024, 8, 80, 3));
}

TEST(SegmentLayout, LayoutsFromResolvedConfigs) {
  // What the job actually computes for a 16-rank node, with zstd's real compress bound.
  for (const auto& [rows, cols, producers, writers, per_producer] :
       std::vector<std::tuple<std::uint32_t, std::uint32_t, int, int, int>>{
           {1024, 1024, 4, 2, 8}, {100, 37, 2, 1, 3}, {1, 1, 1, 1, 1}, {512, 300, 6, 3, 2}}) {
    Config config;
    config.matrices.count = 100;
    config.matrices.shape.rows = rows;
    config.matrices.shape.cols = cols;
    config.stages.producers = producers;
    config.stages.writers = writers;
    config.slots.per_producer = per_producer;
    config.slots.per_compressor = per_producer + 1;
    const NodeLayout layout = resolve_layout(config, 16);
    check_node(layout);
  }
}

// The layout used for real: build every region of each rank in a buffer as StageContext does,
// scribble over the slot headers and data, and check the control structures survived.
TEST(SegmentLayout, RegionsCanBeBuiltAndFilledIndependently) {
  const NodeLayout layout = make_layout(2, 2, 1, 1, 3, 5000, 5200);
  const RolePlan plan = make_node_plan(layout);
  for (const RankPlan& rank : plan.ranks) {
    SCOPED_TRACE("node rank " + std::to_string(rank.node_rank));
    const SegmentLayout s = segment_layout(plan, rank.node_rank);
    std::unique_ptr<std::byte, decltype(&std::free)> memory(static_cast<std::byte*>(std::aligned_alloc(kPage, s.total)),
                                                            &std::free);
    ASSERT_NE(memory, nullptr);
    std::byte* base = memory.get();
    std::memset(base, 0xEE, s.total);

    auto* counters = new (base + s.counters) metrics::RankCounters();
    NodeControl* control = nullptr;
    SharedQueue* ready = nullptr;
    if (s.control != npos) {
      control = new (base + s.control) NodeControl();
      ready = SharedQueue::create(base + s.ready_queue, s.ready_capacity);
    }
    SharedQueue* queue = s.queue != npos ? SharedQueue::create(base + s.queue, s.queue_capacity) : nullptr;
    if (queue) {
      for (std::uint64_t i = 0; i < s.queue_capacity; ++i)
        ASSERT_TRUE(queue->try_push(make_handle(rank.node_rank, static_cast<std::uint32_t>(i))));
    }
    if (ready) {
      for (std::uint64_t i = 0; i < s.ready_capacity; ++i) ASSERT_TRUE(ready->try_push(1000 + i));
    }
    counters->add(counters->matrices, 7);
    if (control) control->lane_ticket[0].next.store(99);

    // Fill the slot regions completely, as producers and compressors do.
    if (s.slot_count > 0) {
      std::memset(base + s.slot_headers, 0xA5, s.slot_data - s.slot_headers);
      std::memset(base + s.slot_data, 0x5A, s.slot_stride * s.slot_count);
    }

    EXPECT_EQ(counters->matrices.load(), 7u);
    EXPECT_EQ(counters->bytes_in.load(), 0u);
    if (control) {
      EXPECT_EQ(control->lane_ticket[0].next.load(), 99u);
      EXPECT_EQ(control->abort.load(), 0u);
      std::uint64_t v = 0;
      for (std::uint64_t i = 0; i < s.ready_capacity; ++i) {
        ASSERT_TRUE(ready->try_pop(v));
        EXPECT_EQ(v, 1000 + i);
      }
      EXPECT_FALSE(ready->try_pop(v));
    }
    if (queue) {
      std::uint64_t v = 0;
      for (std::uint64_t i = 0; i < s.queue_capacity; ++i) {
        ASSERT_TRUE(queue->try_pop(v));
        EXPECT_EQ(handle_owner(v), rank.node_rank);
        EXPECT_EQ(handle_slot(v), i);
      }
      EXPECT_FALSE(queue->try_pop(v));
    }
  }
}

TEST(SlotHandles, RoundTrip) {
  for (int owner : {0, 1, 15, 1 << 20})
    for (std::uint32_t slot : {0u, 1u, 1023u, 0xFFFF'FFFEu}) {
      const SlotHandle h = make_handle(owner, slot);
      EXPECT_EQ(handle_owner(h), owner);
      EXPECT_EQ(handle_slot(h), slot);
      EXPECT_NE(h, kEndOfStream);
    }
}

// With several lanes each lane's first producer holds the lane's ready queue (on the lane's NUMA
// domain), sized for the lane's raw slots; node rank 0 alone holds the control block.
TEST(SegmentLayout, EachLaneFirstProducerHoldsItsReadyQueue) {
  TopologyView view;
  for (int d = 0; d < 2; ++d) {
    NumaDomain domain{d, {}};
    for (int c = 0; c < 4; ++c) domain.cores.push_back({d * 4 + c, d * 4 + c, {d * 4 + c}});
    view.numa.push_back(domain);
  }
  Config config;
  config.matrices = {10, 100, 100, DType::float64, DataKind::smooth, 0};
  const RolePlan plan = compute_role_plan(view, std::vector<CpuSet>(8), config);
  ASSERT_EQ(plan.lanes.size(), 2u);
  int holders = 0;
  for (const RankPlan& rank : plan.ranks) {
    const SegmentLayout s = segment_layout(plan, rank.node_rank);
    EXPECT_EQ(s.control != npos, rank.node_rank == 0);
    const bool first_producer = rank.role == Role::producer && rank.lane_role_index == 0;
    EXPECT_EQ(s.ready_queue != npos, first_producer) << "node rank " << rank.node_rank;
    if (!first_producer) continue;
    ++holders;
    EXPECT_EQ(s.ready_capacity,
              std::uint64_t(plan.count(rank.lane, Role::producer)) * std::uint64_t(plan.layout.raw_slots_per_producer));
    EXPECT_EQ(s.ready_queue % kLine, 0u);
    EXPECT_LE(s.ready_queue + SharedQueue::bytes_for(s.ready_capacity), s.queue);
  }
  EXPECT_EQ(holders, 2);
}

}  // namespace
}  // namespace shmjob::shm
