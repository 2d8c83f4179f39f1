// StallWatch: who is named, when, and when not.
#include <gtest/gtest.h>

#include <vector>

#include "metrics/stall_watch.hpp"

namespace shmjob::metrics {
namespace {

RankProgress writer(std::uint64_t done, std::uint64_t waiting) {
  return {5, "writer 0", done, waiting, "in its inbox", "written"};
}

TEST(StallWatch, NamesAStalledRankOnceThenWhenItMoves) {
  StallWatch watch(10.0);
  std::vector<RankProgress> ranks{writer(3, 4)};
  EXPECT_TRUE(watch.observe(0.0, ranks).empty());
  EXPECT_TRUE(watch.observe(9.5, ranks).empty());  // not yet
  const auto notes = watch.observe(10.5, ranks);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_TRUE(notes[0].stalled);
  EXPECT_EQ(notes[0].rank, 5);
  EXPECT_EQ(notes[0].message,
            "rank 5 (writer 0) has written nothing for 11 s while 4 matrices wait in its inbox: is the process "
            "stopped, or does its file system hang? (watchdog.stall_s)");
  EXPECT_TRUE(watch.observe(30.0, ranks).empty());  // once per stall
  ranks[0].done = 4;
  const auto moved = watch.observe(31.0, ranks);
  ASSERT_EQ(moved.size(), 1u);
  EXPECT_FALSE(moved[0].stalled);
  EXPECT_EQ(moved[0].message, "rank 5 (writer 0) moves again after 31 s");
}

TEST(StallWatch, NothingToDoIsNoStall) {
  StallWatch watch(10.0);
  std::vector<RankProgress> ranks{writer(3, 0)};
  EXPECT_TRUE(watch.observe(0.0, ranks).empty());
  EXPECT_TRUE(watch.observe(100.0, ranks).empty());  // idle: its inbox is empty
  ranks[0].waiting = 2;                               // work arrives: the clock starts now
  EXPECT_TRUE(watch.observe(105.0, ranks).empty());
  EXPECT_EQ(watch.observe(111.0, ranks).size(), 1u);
}

TEST(StallWatch, ProgressKeepsItQuietAndZeroTurnsItOff) {
  StallWatch watch(10.0);
  for (std::uint64_t k = 0; k < 50; ++k) {
    std::vector<RankProgress> ranks{writer(k, 3)};
    EXPECT_TRUE(watch.observe(static_cast<double>(k) * 5.0, ranks).empty());
  }
  StallWatch off(0.0);
  std::vector<RankProgress> ranks{writer(0, 3)};
  EXPECT_TRUE(off.observe(0.0, ranks).empty());
  EXPECT_TRUE(off.observe(1e6, ranks).empty());
}

}  // namespace
}  // namespace shmjob::metrics

namespace shmjob::metrics {
namespace {
TEST(StallWatch, AbortAfterAbortSeconds) {
  StallWatch watch(2.0, 5.0);
  std::vector<RankProgress> ranks{{7, "compressor 1", 10, 3, "ready to compress", "compressed"}};
  EXPECT_TRUE(watch.observe(0.0, ranks).empty());
  const auto warned = watch.observe(2.5, ranks);
  ASSERT_EQ(warned.size(), 1u);
  EXPECT_FALSE(warned[0].abort);
  const auto ended = watch.observe(5.5, ranks);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_TRUE(ended[0].abort);
  EXPECT_EQ(ended[0].message,
            "watchdog: rank 7 (compressor 1) has compressed nothing for 6 s while 3 matrices wait ready to compress: "
            "ending the job (watchdog.abort_s); what was flushed is kept for --resume");
  EXPECT_TRUE(watch.observe(9.0, ranks).empty());  // once
}
}  // namespace
}  // namespace shmjob::metrics
