// compression.shuffle / level "auto": the decisions alone (codec/shuffle_choice.hpp,
// pipeline/adaptive_level.hpp), replayed on recorded and modelled histories.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <vector>

#include "codec/shuffle_choice.hpp"
#include "pipeline/adaptive_level.hpp"

namespace shmjob {
namespace {

using codec::ShuffleChoice;
using stages::LevelController;
using stages::StageWindow;

// ---- shuffle ----------------------------------------------------------------------------------

TEST(ShuffleChoice, FirstMatrixOfEachSetIsAProbeAndTheSmallerWins) {
  ShuffleChoice c(2);
  EXPECT_TRUE(c.probe_due(0));
  EXPECT_TRUE(c.probe_due(1));
  EXPECT_TRUE(c.probed(0, 1000, 400, 300));   // shuffled smaller: kept
  EXPECT_FALSE(c.probed(1, 1000, 300, 400));  // plain smaller
  EXPECT_FALSE(c.probe_due(0));
  EXPECT_TRUE(c.shuffle(0));
  EXPECT_FALSE(c.shuffle(1));
  ShuffleChoice tie(1);
  EXPECT_FALSE(tie.probed(0, 1000, 300, 300));  // a tie: plain, one pass less
}

TEST(ShuffleChoice, ProbesComeAtDoublingIntervalsWhileTheyConfirmTheChoice) {
  ShuffleChoice c(1);
  std::vector<int> probes;
  for (int m = 0; m < 200; ++m) {
    if (c.probe_due(0)) {
      probes.push_back(m);
      c.probed(0, 1000, 400, 300);
    } else {
      c.compressed(0, 1000, 300);
    }
  }
  // 0, then 4, 8, 16 and 32 matrices later, then every kMaxInterval.
  EXPECT_EQ(probes, (std::vector<int>{0, 4, 12, 28, 60, 92, 124, 156, 188}));
}

TEST(ShuffleChoice, AFlippedChoiceProbesSoonAgain) {
  ShuffleChoice c(1);
  int m = 0;
  for (; m < 40; ++m) c.probe_due(0) ? (void)c.probed(0, 1000, 400, 300) : c.compressed(0, 1000, 300);
  EXPECT_TRUE(c.shuffle(0));
  while (!c.probe_due(0)) c.compressed(0, 1000, 300);
  EXPECT_FALSE(c.probed(0, 1000, 300, 400));  // flipped
  for (std::uint32_t i = 1; i < ShuffleChoice::kFirstInterval; ++i) {
    EXPECT_FALSE(c.probe_due(0));
    c.compressed(0, 1000, 300);
  }
  EXPECT_TRUE(c.probe_due(0));
}

// Recorded: float64 matrices of 200 x 150 at level 3, frame bytes plain / shuffled, of a set
// whose data turns from `smooth` (shuffle hurts) to `poisson` (shuffle helps) at matrix 40.
TEST(ShuffleChoice, FollowsTheDataWhenItChanges) {
  constexpr std::size_t kStored = 240000;
  const std::size_t smooth[2] = {28611, 49010}, poisson[2] = {20950, 15431};
  ShuffleChoice c(1);
  std::vector<bool> chosen;
  for (int m = 0; m < 80; ++m) {
    const std::size_t* sizes = m < 40 ? smooth : poisson;
    if (c.probe_due(0)) {
      chosen.push_back(c.probed(0, kStored, sizes[0], sizes[1]));
    } else {
      chosen.push_back(c.shuffle(0));
      c.compressed(0, kStored, sizes[c.shuffle(0) ? 1 : 0]);
    }
  }
  for (int m = 0; m < 40; ++m) EXPECT_FALSE(chosen[static_cast<std::size_t>(m)]) << m;
  // Matrices 40 and 41 are compressed plain, their ratios far from the mean: 42 is a probe.
  EXPECT_FALSE(chosen[40]);
  EXPECT_FALSE(chosen[41]);
  for (int m = 42; m < 80; ++m) EXPECT_TRUE(chosen[static_cast<std::size_t>(m)]) << m;
}

// Recorded: the plain ratios of 40 consecutive 1000 x 1000 float64 `smooth` matrices at level 3
// (3.9 ... 15.2: the noise of the data, not a change of it); shuffled frames are about 1.6 times
// larger. Probes stay at the doubling intervals' pace: 0, 4, 12, 28 and at most a few more.
TEST(ShuffleChoice, NoisyRatiosDoNotTriggerProbes) {
  const double ratios[] = {7.71, 7.49,  13.31, 7.4,  10.28, 6.26,  5.57, 8.41, 6.55, 5.34,  7.4,  7.24,  5.4,   5.41,
                           7.04, 6.54,  15.17, 7.14, 5.38,  11.29, 7.37, 3.87, 4.78, 5.79,  6.23, 13.42, 13.77, 9.26,
                           5.08, 10.35, 6.66,  6.46, 5.28,  6.71,  9.2,  5.37, 7.12, 12.82, 5.63, 6.86};
  constexpr std::size_t kStored = 8000000;
  ShuffleChoice c(1);
  int probes = 0;
  for (const double r : ratios) {
    const auto plain = static_cast<std::size_t>(kStored / r);
    if (c.probe_due(0)) {
      ++probes;
      EXPECT_FALSE(c.probed(0, kStored, plain, plain * 16 / 10));
    } else {
      c.compressed(0, kStored, plain);
    }
  }
  EXPECT_LE(probes, 6);
}

TEST(ShuffleChoice, SmallRatioChangesDoNotProbe) {
  ShuffleChoice c(1);
  c.probed(0, 1000, 400, 300);
  for (std::uint32_t m = 1; m < ShuffleChoice::kFirstInterval; ++m) {
    EXPECT_FALSE(c.probe_due(0)) << m;
    c.compressed(0, 1000, m % 2 ? 290 : 310);  // +-3 %
  }
  EXPECT_TRUE(c.probe_due(0));
}

// ---- level ------------------------------------------------------------------------------------

std::vector<int> replay(LevelController& c, const std::vector<StageWindow>& windows) {
  std::vector<int> levels;
  for (const StageWindow& w : windows) levels.push_back(c.next(w));
  return levels;
}

TEST(LevelController, SlowProducersRaiseTheLevelStepByStepToTheTop) {
  LevelController c(3, 1, 19);
  // Compressors idle most of the time: two levels a window.
  std::vector<int> levels = replay(c, std::vector<StageWindow>(30, {0.0, 0.8}));
  EXPECT_EQ(levels.front(), 5);
  for (std::size_t i = 1; i < levels.size(); ++i) EXPECT_LE(levels[i] - levels[i - 1], 2);
  EXPECT_EQ(levels.back(), 19);
  // Idle a little more than kIdleToRaise: one level a window.
  LevelController d(3, 1, 19);
  levels = replay(d, std::vector<StageWindow>(5, {0.0, 0.3}));
  EXPECT_EQ(levels, (std::vector<int>{4, 5, 6, 7, 8}));
}

TEST(LevelController, CompressionBehindLowersTheLevelToTheBottom) {
  LevelController c(3, 1, 19);
  EXPECT_EQ(replay(c, std::vector<StageWindow>(5, {0.4, 0.0})), (std::vector<int>{2, 1, 1, 1, 1}));
}

TEST(LevelController, StaysWithinTheRange) {
  LevelController c(3, 5, 7);
  EXPECT_EQ(c.level(), 5);
  EXPECT_EQ(replay(c, std::vector<StageWindow>(5, {0.0, 0.9})).back(), 7);
  EXPECT_EQ(replay(c, std::vector<StageWindow>(5, {0.9, 0.0})).back(), 5);
}

TEST(LevelController, BalancedStagesHoldTheLevel) {
  LevelController c(6, 1, 19);
  // Compressors a little idle, producers a little blocked: neither rule fires.
  EXPECT_EQ(replay(c, {{0.04, 0.10}, {0.2, 0.08}, {0.0, 0.15}, {0.04, 0.0}}), (std::vector<int>{6, 6, 6, 6}));
}

TEST(LevelController, BlockedProducersWithIdleCompressorsAreNotCompressionsFault) {
  // Writers are slow: producers wait for raw slots because compressors wait for compressed
  // slots. Smaller frames help the writers: raise.
  LevelController c(3, 1, 19);
  EXPECT_EQ(c.next({0.6, 0.5}), 4);
}

// A modelled node: producers deliver `demand` of what one compressor does per window at level
// 1; a matrix at level l costs cost[l] of that. Compressors idle the rest; when the work exceeds
// the window, producers are blocked by the excess. zstd's cost is uneven: a cliff at level 8.
StageWindow modelled(int level, double demand) {
  static const double cost[] = {0, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0, 2.2, 6.0, 6.5, 7.0};
  const double work = demand * cost[std::min(level, 10)];
  if (work <= 1.0) return {0.0, 1.0 - work};
  return {1.0 - 1.0 / work, 0.0};
}

TEST(LevelController, SettlesBelowACliffWithoutRepeatedlySteppingOntoIt) {
  LevelController c(3, 1, 10);
  int level = c.level(), behind_windows = 0;
  std::vector<int> levels;
  for (int w = 0; w < 400; ++w) {
    const StageWindow window = modelled(level, 0.4);  // level 7: work 0.88, level 8: 2.4
    if (window.producers_blocked > 0) ++behind_windows;
    level = c.next(window);
    levels.push_back(level);
  }
  // Climbs to 7, tries 8 once per kCeilingWindows at most, and spends nearly all the time at 7.
  EXPECT_EQ(std::count(levels.begin() + 100, levels.end(), 7),
            static_cast<long>(std::count_if(levels.begin() + 100, levels.end(), [](int l) { return l != 8; })));
  EXPECT_LE(behind_windows, 400 / LevelController::kCeilingWindows + 1);
  EXPECT_GE(std::count(levels.begin() + 100, levels.end(), 7), 280);
}

TEST(LevelController, SteadyThroughputLetsTheLevelClimb) {
  // Slow producers, nothing else limits: the node compresses 25 matrices/s at any level.
  LevelController c(3, 1, 12);
  int level = c.level();
  for (int w = 0; w < 40; ++w) level = c.next({0.0, 0.6, 25.0});
  EXPECT_EQ(level, 12);
}

// Elastic stages: idle compressors produce in the producers' stead, so a higher level (busier
// compressors) costs throughput although the compressors never look short of time: the node
// compresses 37 matrices/s up to level 3 and 8 % less per level above.
TEST(LevelController, ALevelThatCostsThroughputIsLeft) {
  LevelController c(3, 1, 19);
  int level = c.level(), above_3 = 0, highest = level;
  for (int w = 0; w < 400; ++w) {
    const double rate = 37.0 * (level <= 3 ? 1.0 : 1.0 - 0.08 * (level - 3));
    level = c.next({0.0, 0.5, rate});
    above_3 += level > 3;
    highest = std::max(highest, level);
  }
  EXPECT_EQ(highest, 4);
  // Level 4 is tried for kSettleWindows, then barred for kCeilingWindows: about 1 window in 10.
  EXPECT_LE(above_3, 400 / 8);
}

TEST(LevelController, FastProducersKeepTheLevelLowAndCompressionCaughtUp) {
  LevelController c(3, 1, 10);
  int level = c.level();
  for (int w = 0; w < 50; ++w) level = c.next(modelled(level, 0.9));  // level 1: work 0.9
  EXPECT_EQ(level, 1);
}

}  // namespace
}  // namespace shmjob
