// split_evenly and WorkOrder: the order in which a node's producers take matrix ids and which
// writer owns each id. Every id of the node must be produced exactly once and reach the writer
// whose range holds it, or a shard ends up with a hole (or a duplicate).
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <set>
#include <stdexcept>
#include <tuple>
#include <vector>

#include "pipeline/block_schedule.hpp"
#include "pipeline/id_list.hpp"
#include "pipeline/work_order.hpp"

namespace shmjob::stages {
namespace {

// --- split_evenly ----------------------------------------------------------------------------

// The properties every split must have, whatever the sizes.
void expect_even_split(IdRange total, int parts) {
  SCOPED_TRACE("total {" + std::to_string(total.first) + ", " + std::to_string(total.count) + "} into " +
               std::to_string(parts));
  const std::vector<IdRange> ranges = split_evenly(total, parts);
  ASSERT_EQ(ranges.size(), static_cast<std::size_t>(parts));
  std::uint64_t next = total.first;
  std::uint64_t smallest = std::numeric_limits<std::uint64_t>::max(), largest = 0;
  std::uint64_t covered = 0;
  for (const IdRange& r : ranges) {
    EXPECT_EQ(r.first, next) << "ranges must be contiguous and in order";
    next = r.first + r.count;
    covered += r.count;
    smallest = std::min(smallest, r.count);
    largest = std::max(largest, r.count);
  }
  EXPECT_EQ(covered, total.count);
  EXPECT_EQ(next, total.first + total.count);
  EXPECT_LE(largest - smallest, 1u) << "sizes must differ by at most one";
  // Larger ranges first: WorkOrder relies on the first range being a longest one.
  for (std::size_t i = 1; i < ranges.size(); ++i) EXPECT_LE(ranges[i].count, ranges[i - 1].count);
}

TEST(SplitEvenly, ExactDivision) {
  const auto r = split_evenly({0, 12}, 4);
  ASSERT_EQ(r.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(r[i].first, 3 * i);
    EXPECT_EQ(r[i].count, 3u);
  }
}

TEST(SplitEvenly, RemainderGoesToTheFirstParts) {
  const auto r = split_evenly({100, 10}, 4);  // 3 3 2 2
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0].first, 100u);
  EXPECT_EQ(r[0].count, 3u);
  EXPECT_EQ(r[1].first, 103u);
  EXPECT_EQ(r[1].count, 3u);
  EXPECT_EQ(r[2].first, 106u);
  EXPECT_EQ(r[2].count, 2u);
  EXPECT_EQ(r[3].first, 108u);
  EXPECT_EQ(r[3].count, 2u);
}

TEST(SplitEvenly, PropertiesOverManySizes) {
  for (std::uint64_t first : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{1000003}})
    for (std::uint64_t count = 0; count <= 40; ++count)
      for (int parts = 1; parts <= 17; ++parts) expect_even_split({first, count}, parts);
  expect_even_split({0, 1'000'000'007}, 16);
  expect_even_split({std::uint64_t{1} << 40, (std::uint64_t{1} << 40) + 5}, 7);
}

TEST(SplitEvenly, MorePartsThanIdsGivesEmptyRangesAtTheEnd) {
  const auto r = split_evenly({50, 3}, 5);
  ASSERT_EQ(r.size(), 5u);
  EXPECT_EQ(r[0].first, 50u);
  EXPECT_EQ(r[0].count, 1u);
  EXPECT_EQ(r[1].first, 51u);
  EXPECT_EQ(r[1].count, 1u);
  EXPECT_EQ(r[2].first, 52u);
  EXPECT_EQ(r[2].count, 1u);
  EXPECT_EQ(r[3].count, 0u);
  EXPECT_EQ(r[4].count, 0u);
  for (const auto& range : r) EXPECT_LE(range.first, 53u);

  const auto none = split_evenly({7, 0}, 3);
  ASSERT_EQ(none.size(), 3u);
  for (const auto& range : none) {
    EXPECT_EQ(range.first, 7u);
    EXPECT_EQ(range.count, 0u);
    EXPECT_FALSE(range.contains(7));
  }
}

TEST(IdRange, Contains) {
  const IdRange r{10, 5};
  EXPECT_FALSE(r.contains(9));
  EXPECT_TRUE(r.contains(10));
  EXPECT_TRUE(r.contains(14));
  EXPECT_FALSE(r.contains(15));
  EXPECT_FALSE(IdRange{}.contains(0));
  // No overflow at the top of the id space.
  const IdRange top{std::numeric_limits<std::uint64_t>::max() - 1, 1};
  EXPECT_TRUE(top.contains(std::numeric_limits<std::uint64_t>::max() - 1));
  EXPECT_FALSE(top.contains(std::numeric_limits<std::uint64_t>::max()));
  EXPECT_FALSE(top.contains(0));
}

// --- WorkOrder -------------------------------------------------------------------------------

// Everything a node relies on, checked by brute force over all tickets and ids.
void expect_consistent_order(IdRange node, int writers) {
  SCOPED_TRACE("node ids {" + std::to_string(node.first) + ", " + std::to_string(node.count) + "}, " +
               std::to_string(writers) + " writers");
  const WorkOrder order(node, writers);
  ASSERT_EQ(order.writers(), writers);

  // Writer ranges are the even split of the node range.
  const auto expected_ranges = split_evenly(node, writers);
  for (int w = 0; w < writers; ++w) {
    EXPECT_EQ(order.writer_range(w).first, expected_ranges[static_cast<std::size_t>(w)].first);
    EXPECT_EQ(order.writer_range(w).count, expected_ranges[static_cast<std::size_t>(w)].count);
  }

  // Every id of the node appears for exactly one ticket below ticket_count(); nothing else does.
  std::vector<int> hits(node.count, 0);
  std::uint64_t gaps = 0;
  for (std::uint64_t t = 0; t < order.ticket_count(); ++t) {
    const std::optional<std::uint64_t> id = order.id_for_ticket(t);
    if (!id) {
      ++gaps;
      continue;
    }
    ASSERT_TRUE(node.contains(*id)) << "ticket " << t << " gives id " << *id;
    ++hits[*id - node.first];
    // Ticket t belongs to writer t % W.
    EXPECT_EQ(order.writer_of(*id), static_cast<int>(t % static_cast<std::uint64_t>(writers))) << "ticket " << t;
  }
  for (std::uint64_t i = 0; i < node.count; ++i)
    EXPECT_EQ(hits[i], 1) << "id " << node.first + i << " appears " << hits[i] << " times";
  EXPECT_EQ(order.ticket_count() - gaps, node.count);
  // Gaps come only from rounds where a shorter range has run out: fewer than one per writer.
  EXPECT_LT(gaps, static_cast<std::uint64_t>(writers));

  // Past the end there is nothing, including far past it.
  for (std::uint64_t t = order.ticket_count(); t < order.ticket_count() + 3 * static_cast<std::uint64_t>(writers); ++t)
    EXPECT_FALSE(order.id_for_ticket(t).has_value()) << "ticket " << t;
  EXPECT_FALSE(order.id_for_ticket(std::numeric_limits<std::uint64_t>::max()).has_value());

  // Interleaving: the first min(W, ids) tickets go to different writers, each with ids.
  const std::uint64_t first_round = std::min<std::uint64_t>(static_cast<std::uint64_t>(writers), node.count);
  std::set<int> first_writers;
  for (std::uint64_t t = 0; t < first_round; ++t) {
    const auto id = order.id_for_ticket(t);
    ASSERT_TRUE(id.has_value()) << "ticket " << t << " of the first round is a gap";
    first_writers.insert(order.writer_of(*id));
  }
  EXPECT_EQ(first_writers.size(), first_round);

  // Within one writer, tickets hand out its ids in increasing order (shards fill front to back).
  std::vector<std::uint64_t> last(static_cast<std::size_t>(writers), 0);
  std::vector<bool> seen(static_cast<std::size_t>(writers), false);
  for (std::uint64_t t = 0; t < order.ticket_count(); ++t) {
    const auto id = order.id_for_ticket(t);
    if (!id) continue;
    const auto w = static_cast<std::size_t>(order.writer_of(*id));
    if (seen[w]) {
      EXPECT_EQ(*id, last[w] + 1) << "ticket " << t;
    }
    seen[w] = true;
    last[w] = *id;
  }

  // writer_of agrees with writer_range for every id of the node.
  for (std::uint64_t id = node.first; id < node.first + node.count; ++id) {
    const int w = order.writer_of(id);
    ASSERT_GE(w, 0);
    ASSERT_LT(w, writers);
    EXPECT_TRUE(order.writer_range(w).contains(id)) << "id " << id << " writer " << w;
    for (int other = 0; other < writers; ++other)
      if (other != w) {
        EXPECT_FALSE(order.writer_range(other).contains(id));
      }
  }

  // Ids outside the node range belong to no writer.
  if (node.first > 0) {
    EXPECT_THROW(order.writer_of(node.first - 1), std::out_of_range);
    EXPECT_THROW(order.writer_of(0), std::out_of_range);
  }
  EXPECT_THROW(order.writer_of(node.first + node.count), std::out_of_range);
  EXPECT_THROW(order.writer_of(node.first + node.count + 1000), std::out_of_range);
  EXPECT_THROW(order.writer_of(std::numeric_limits<std::uint64_t>::max()), std::out_of_range);
}

TEST(WorkOrder, ExampleFromTheHeader) {
  // 10 ids, 3 writers: ranges [0,4) [4,7) [7,10); ticket t -> writer t % 3, id start + t / 3.
  const WorkOrder order({0, 10}, 3);
  EXPECT_EQ(order.ticket_count(), 12u);
  const std::vector<std::optional<std::uint64_t>> expected = {0, 4, 7, 1, 5, 8, 2, 6, 9, 3, std::nullopt, std::nullopt};
  for (std::uint64_t t = 0; t < expected.size(); ++t) EXPECT_EQ(order.id_for_ticket(t), expected[t]) << "ticket " << t;
  EXPECT_EQ(order.writer_of(3), 0);
  EXPECT_EQ(order.writer_of(4), 1);
  EXPECT_EQ(order.writer_of(6), 1);
  EXPECT_EQ(order.writer_of(7), 2);
  EXPECT_EQ(order.writer_of(9), 2);
  EXPECT_THROW(order.writer_of(10), std::out_of_range);
}

TEST(WorkOrder, OneWriterTakesIdsInOrder) {
  const WorkOrder order({5, 6}, 1);
  EXPECT_EQ(order.ticket_count(), 6u);
  for (std::uint64_t t = 0; t < 6; ++t) EXPECT_EQ(order.id_for_ticket(t), std::optional<std::uint64_t>(5 + t));
  EXPECT_FALSE(order.id_for_ticket(6).has_value());
  expect_consistent_order({5, 6}, 1);
}

TEST(WorkOrder, EveryIdExactlyOnceOverManyShapes) {
  for (std::uint64_t first : {std::uint64_t{0}, std::uint64_t{3}, std::uint64_t{1'000'000}})
    for (std::uint64_t count : {1, 2, 5, 7, 16, 31, 100})
      for (int writers : {1, 2, 3, 4, 7, 8}) expect_consistent_order({first, count}, writers);
}

TEST(WorkOrder, MoreWritersThanIds) {
  expect_consistent_order({0, 3}, 5);
  expect_consistent_order({42, 1}, 4);
  const WorkOrder order({20, 2}, 4);
  EXPECT_EQ(order.writer_range(2).count, 0u);
  EXPECT_EQ(order.writer_range(3).count, 0u);
  EXPECT_EQ(order.ticket_count(), 4u);  // one round: writers 2 and 3 give gaps
  EXPECT_EQ(order.id_for_ticket(0), std::optional<std::uint64_t>(20));
  EXPECT_EQ(order.id_for_ticket(1), std::optional<std::uint64_t>(21));
  EXPECT_FALSE(order.id_for_ticket(2).has_value());
  EXPECT_FALSE(order.id_for_ticket(3).has_value());
  EXPECT_EQ(order.writer_of(20), 0);
  EXPECT_EQ(order.writer_of(21), 1);
  EXPECT_THROW(order.writer_of(22), std::out_of_range);  // where the empty ranges "start"
  EXPECT_THROW(order.writer_of(19), std::out_of_range);
}

TEST(WorkOrder, EmptyNodeRange) {
  const WorkOrder order({9, 0}, 3);
  EXPECT_EQ(order.ticket_count(), 0u);
  EXPECT_FALSE(order.id_for_ticket(0).has_value());
  EXPECT_THROW(order.writer_of(9), std::out_of_range);
  EXPECT_THROW(order.writer_of(0), std::out_of_range);
  for (int w = 0; w < 3; ++w) EXPECT_EQ(order.writer_range(w).count, 0u);
}

TEST(WorkOrder, NodeRangeNotStartingAtZero) {
  // The second of three nodes sharing 1000 ids: node ranges come from split_evenly too.
  const auto nodes = split_evenly({0, 1000}, 3);
  for (const IdRange& node : nodes) expect_consistent_order(node, 3);
  const WorkOrder order(nodes[1], 2);
  EXPECT_EQ(order.writer_range(0).first, nodes[1].first);
  EXPECT_EQ(order.id_for_ticket(0), std::optional<std::uint64_t>(nodes[1].first));
  EXPECT_THROW(order.writer_of(nodes[0].first), std::out_of_range);
  EXPECT_THROW(order.writer_of(nodes[2].first), std::out_of_range);
}

TEST(WorkOrder, WriterRangeOutOfBoundsThrows) {
  const WorkOrder order({0, 10}, 2);
  EXPECT_THROW(order.writer_range(2), std::out_of_range);
  EXPECT_THROW(order.writer_range(-1), std::out_of_range);
}

// --- resume: only the missing ids, as runs --------------------------------------------------

TEST(SplitRuns, CutsTheIdsInOrderIntoEvenGroups) {
  // ids 0-2, 10-11, 20-24: 10 ids into 3 groups of 4, 3, 3.
  const std::vector<IdRange> runs{{0, 3}, {10, 2}, {20, 5}};
  const auto groups = split_evenly(runs, 3);
  ASSERT_EQ(groups.size(), 3u);
  EXPECT_EQ(groups[0], (std::vector<IdRange>{{0, 3}, {10, 1}}));
  EXPECT_EQ(groups[1], (std::vector<IdRange>{{11, 1}, {20, 2}}));
  EXPECT_EQ(groups[2], (std::vector<IdRange>{{22, 3}}));
  // One run is split_evenly of that range.
  const auto single = split_evenly(std::vector<IdRange>{{100, 10}}, 4);
  const auto plain = split_evenly(IdRange{100, 10}, 4);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(single[i], (std::vector<IdRange>{plain[i]}));
  EXPECT_TRUE(split_evenly(std::vector<IdRange>{}, 2)[1].empty());
}

TEST(WorkOrder, WithHolesEveryMissingIdOnceToTheWriterWhoseSpanHoldsIt) {
  // An earlier run kept 3-9 and 12-19 of set 0 (ids 0-29) and all of set 1 (30-39) but 35.
  const std::vector<std::vector<IdRange>> todo{{{0, 3}, {10, 2}, {20, 10}}, {{35, 1}}};
  for (int writers = 1; writers <= 5; ++writers) {
    SCOPED_TRACE(std::to_string(writers) + " writers");
    const WorkOrder order(todo, writers);
    std::multiset<std::uint64_t> produced;
    for (std::uint64_t t = 0; t < order.ticket_count(); ++t)
      if (const auto id = order.id_for_ticket(t)) produced.insert(*id);
    std::multiset<std::uint64_t> expected;
    for (const auto& runs : todo)
      for (const IdRange& r : runs)
        for (std::uint64_t id = r.first; id < r.end(); ++id) expected.insert(id);
    EXPECT_EQ(produced, expected);
    EXPECT_EQ(order.node_total(), expected.size());
    std::uint64_t per_writer = 0;
    for (int w = 0; w < writers; ++w) {
      per_writer += order.writer_total(w);
      for (int s = 0; s < 2; ++s)
        for (const IdRange& r : order.writer_runs(w, s))
          for (std::uint64_t id = r.first; id < r.end(); ++id) {
            EXPECT_TRUE(order.writer_range(w, s).contains(id));
            EXPECT_EQ(order.writer_of(id), w);
            EXPECT_EQ(order.set_of(id), s);
          }
    }
    EXPECT_EQ(per_writer, expected.size());
  }
  // Two writers, set 0's 15 missing ids: 8 and 7; the first's span 0-22 holds the kept 3-9 and
  // 12-19 as holes.
  const WorkOrder two(todo, 2);
  EXPECT_EQ(two.writer_range(0, 0), (IdRange{0, 23}));
  EXPECT_EQ(two.writer_count(0, 0), 8u);  // 0,1,2,10,11,20,21,22
  EXPECT_EQ(two.writer_range(1, 0), (IdRange{23, 7}));
  EXPECT_EQ(two.writer_range(0, 1).count + two.writer_range(1, 1).count, 1u);
}

}  // namespace
}  // namespace shmjob::stages

// ---- several nodes: the id list and the block schedule -----------------------------------
namespace shmjob::stages {
namespace {

TEST(IdList, PositionsWalkEverySetsRunsInOrder) {
  // Set 0 holds ids 0..9 (3..5 kept by an earlier run), set 1 ids 10..19 (all to write).
  const IdList ids({{{0, 3}, {6, 4}}, {{10, 10}}});
  EXPECT_EQ(ids.size(), 17U);
  std::vector<std::uint64_t> got;
  for (std::uint64_t p = 0; p < ids.size(); ++p) got.push_back(ids.id_at(p));
  EXPECT_EQ(got, (std::vector<std::uint64_t>{0, 1, 2, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19}));
  EXPECT_EQ(ids.set_span(0), (IdRange{0, 10}));
  EXPECT_EQ(ids.set_span(1), (IdRange{10, 10}));
  EXPECT_EQ(ids.set_of(7), 0);
  EXPECT_EQ(ids.set_of(10), 1);
  EXPECT_THROW(ids.id_at(17), std::out_of_range);
  EXPECT_THROW(ids.set_of(20), std::out_of_range);
}

TEST(IdList, ASetWithNothingToWriteHasAnEmptySpan) {
  const IdList ids({{}, {{5, 2}}});
  EXPECT_EQ(ids.size(), 2U);
  EXPECT_EQ(ids.set_span(0).count, 0U);
  EXPECT_EQ(ids.id_at(0), 5U);
}

// Blocks for claims 0, 1, 2, ... until the first empty one.
std::vector<IdRange> all_blocks(BlockSchedule schedule) {
  std::vector<IdRange> out;
  for (std::uint64_t claim = 0;; ++claim) {
    const IdRange b = schedule.block(claim);
    if (b.count == 0) break;
    out.push_back(b);
  }
  return out;
}

TEST(BlockSchedule, BlocksTileTheListAndShrinkToTheMinimum) {
  for (const std::uint64_t total : {1ULL, 7ULL, 60ULL, 1000ULL, 200000ULL})
    for (const std::uint64_t claimers : {1ULL, 2ULL, 5ULL, 64ULL})
      for (const std::uint64_t min_block : {1ULL, 4ULL, 16ULL}) {
        const std::vector<IdRange> blocks = all_blocks(BlockSchedule(total, claimers, min_block));
        std::uint64_t next = 0;
        for (std::size_t i = 0; i < blocks.size(); ++i) {
          EXPECT_EQ(blocks[i].first, next);
          EXPECT_GE(blocks[i].count, 1U);
          if (i + 1 < blocks.size()) {
            EXPECT_GE(blocks[i].count, std::min(min_block, total));
            EXPECT_GE(blocks[i].count, blocks[i + 1].count);  // guided: never growing
          }
          next = blocks[i].end();
        }
        EXPECT_EQ(next, total) << total << " " << claimers << " " << min_block;
      }
}

TEST(BlockSchedule, FirstBlockIsAShareOfTwiceTheClaimersAndFewBlocksInAll) {
  const std::vector<IdRange> blocks = all_blocks(BlockSchedule(200000, 32, 8));
  EXPECT_EQ(blocks.front(), (IdRange{0, 3125}));  // 200000 / 64
  EXPECT_LT(blocks.size(), 600U);                 // a few hundred VDS mappings per writer count
  EXPECT_EQ(blocks.back().count <= 8, true);
}

TEST(BlockSchedule, AnyClaimOrderGivesTheSameBlocks) {
  const std::vector<IdRange> in_order = all_blocks(BlockSchedule(1000, 3, 4));
  BlockSchedule jumping(1000, 3, 4);
  for (std::size_t i = in_order.size(); i-- > 0;) EXPECT_EQ(jumping.block(i), in_order[i]);
  EXPECT_EQ(jumping.block(in_order.size()).count, 0U);
  EXPECT_EQ(jumping.block(in_order.size() + 100).count, 0U);
}

TEST(BlockSchedule, NothingToHandOut) {
  BlockSchedule empty(0, 4, 8);
  EXPECT_EQ(empty.block(0).count, 0U);
}

}  // namespace
}  // namespace shmjob::stages
