// StallWatch: who is named, when, and when not.
#include <gtest/gtest.h>

#include <vector>

#include "metrics/stall_watch.hpp"

namespace shmjob::metrics {
namespace {

// What a sampler ticking every `step` seconds from `from` to `to` (inclusive) is told.
std::vector<StallNote> tick_until(StallWatch& watch, const std::vector<RankProgress>& ranks, double from, double to,
                                  double step = 0.5) {
  std::vector<StallNote> notes;
  for (double t = from; t <= to + 1e-9; t += step)
    for (StallNote& n : watch.observe(t, ranks)) notes.push_back(std::move(n));
  return notes;
}

RankProgress writer(std::uint64_t done, std::uint64_t waiting) {
  return {5, "writer 0", done, waiting, "has written nothing", "matrices wait in its inbox"};
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
  ranks[0].waiting = 2;                              // work arrives: the clock starts now
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

// The watcher's own process was stopped for longer than the threshold: nobody is blamed for the
// gap; a rank still silent a threshold later is.
TEST(StallWatch, AGapInTheWatcherItselfRestartsTheClocks) {
  StallWatch watch(2.0);
  std::vector<RankProgress> ranks{writer(3, 4)};
  EXPECT_TRUE(watch.observe(0.0, ranks).empty());
  EXPECT_TRUE(watch.observe(0.2, ranks).empty());
  EXPECT_TRUE(watch.observe(5.0, ranks).empty());  // the watcher was stopped from 0.2 to 5.0
  EXPECT_TRUE(watch.observe(6.5, ranks).empty());
  EXPECT_EQ(watch.observe(7.1, ranks).size(), 1u);
}

// A process that does not run at all (the node's sampler, watched from another rank) has no
// queue to name: the message has no "while" clause.
TEST(StallWatch, WithoutWaitingWorkTheMessageNamesOnlyTheSilence) {
  StallWatch watch(10.0);
  std::vector<RankProgress> ranks{{0, "writer 0, which samples node 0", 4, 1, "has not run", ""}};
  const auto notes = tick_until(watch, ranks, 0.0, 12.0);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_EQ(notes[0].message,
            "rank 0 (writer 0, which samples node 0) has not run for 10 s: is the process stopped, or does its file "
            "system hang? (watchdog.stall_s)");
}
}  // namespace
}  // namespace shmjob::metrics

namespace shmjob::metrics {
namespace {
TEST(StallWatch, AbortAfterAbortSeconds) {
  StallWatch watch(2.0, 5.0);
  std::vector<RankProgress> ranks{
      {7, "compressor 1", 10, 3, "has compressed nothing", "matrices wait ready to compress"}};
  const auto warned = tick_until(watch, ranks, 0.0, 2.5);
  ASSERT_EQ(warned.size(), 1u);
  EXPECT_FALSE(warned[0].abort);
  const auto ended = tick_until(watch, ranks, 3.0, 5.5);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_TRUE(ended[0].abort);
  EXPECT_EQ(ended[0].message,
            "watchdog: rank 7 (compressor 1) has compressed nothing for 5 s while 3 matrices wait ready to compress: "
            "ending the job (watchdog.abort_s); what was flushed is kept for --resume");
  EXPECT_TRUE(tick_until(watch, ranks, 6.0, 9.0).empty());  // once
}
}  // namespace
}  // namespace shmjob::metrics
