#pragma once
// compression.level "auto": the node's compressors move the zstd level so that they keep up with
// their input and no more. Every window (kWindow of time), the node's first compressor looks at
// how the node's producers and compressors spent it:
//   - compressors idle (waiting for input or for a free compressed slot, or producing in the
//     producers' stead) more than kIdleToRaise: compression has time to spare; raise the level
//     (smaller output for the same throughput);
//   - producers blocked (waiting for a free raw slot, or compressing in the compressors' stead)
//     more than kBehindToLower while compressors are hardly idle: compression limits the job;
//     lower the level.
//   - the node's throughput (matrices compressed per second) at this level fell more than
//     kRateDrop below the best of the lower levels lately (kRateMemoryWindows): a higher level
//     cost throughput although compressors were idle (idle compressors produce in the
//     producers' stead with elastic stages, and a busier one does less of that); lower it.
// A level is raised from only after kSettleWindows windows at it (its throughput is known). A
// level that cost throughput or left compression behind is not tried again for kCeilingWindows
// windows, so the level does not keep stepping onto a cliff (zstd's cost per level is far from
// even).
// LevelController is the decision alone (no clock, no shared memory: tests replay recorded
// windows); AdaptiveLevel feeds it from the node's rank counters and publishes the level.
#include <chrono>
#include <cstdint>
#include <vector>

namespace shmjob::stages {

class StageContext;

// The level the node compresses at now: compression.level, or with "auto" what the node's
// decider published last (its starting level until the first decision).
int current_level(const StageContext& ctx);

// Fractions of one window's time, averaged over the node's ranks of each stage.
struct StageWindow {
  double producers_blocked = 0.0;
  double compressors_idle = 0.0;
  double rate = 0.0;  // matrices the node compressed per second (0: not measured)
};

class LevelController {
 public:
  static constexpr double kIdleToRaise = 0.15;
  static constexpr double kIdleToRaiseTwo = 0.5;  // far from busy: two levels at once
  static constexpr double kBehindToLower = 0.05;
  static constexpr double kIdleWhenBehind = 0.05;
  static constexpr int kCeilingWindows = 20;
  static constexpr double kRateDrop = 0.05;
  static constexpr int kRateMemoryWindows = 40;
  static constexpr int kSettleWindows = 2;

  LevelController(int level, int lowest, int highest);
  int level() const noexcept { return level_; }
  // The level for the next window, after `window` was spent at level().
  int next(const StageWindow& window);

 private:
  // Throughput seen at each level lately (mean of its windows' rates since it was last reached).
  struct LevelRate {
    double rate = 0.0;
    int windows = 0;  // at this level since it was last reached (0: unknown)
    int age = 0;      // windows since its last one
  };
  void forget(int level) { rates_[static_cast<std::size_t>(level)] = {}; }
  // True when this level's throughput fell below the best of the lower levels.
  bool lost_throughput() const;

  int level_, lowest_, highest_;
  int ceiling_;  // lowest level found too slow lately (highest_ + 1: none)
  int ceiling_windows_left_ = 0;
  std::vector<LevelRate> rates_;  // by level
};

class AdaptiveLevel {
 public:
  static constexpr std::chrono::milliseconds kWindow{250};

  // Decides only on the node's first compressor of a job with level "auto"; a no-op elsewhere.
  explicit AdaptiveLevel(const StageContext& ctx);
  // After each matrix the rank compressed: once a window has passed, decides and publishes.
  void after_matrix();

 private:
  static constexpr std::uint64_t kMinMatrices = 8;  // per window, unless it lasted 4 x kWindow

  struct Totals {
    std::uint64_t producers_blocked_ns = 0, compressors_idle_ns = 0, compressed = 0;
  };
  Totals totals() const;

  const StageContext& ctx_;
  bool deciding_;
  LevelController controller_;
  std::vector<int> producers_, compressors_;  // node ranks
  std::chrono::steady_clock::time_point window_start_;
  Totals at_start_;
};

}  // namespace shmjob::stages
