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
// A level that left compression behind is not tried again for kCeilingWindows windows, so the
// level does not keep stepping onto a cliff (zstd's cost per level is far from even).
// LevelController is the decision alone (no clock, no shared memory: tests replay recorded
// windows); AdaptiveLevel feeds it from the node's rank counters and publishes the level.
#include <chrono>
#include <cstdint>
#include <vector>

namespace shmjob::stages {

class StageContext;

// Fractions of one window's time, averaged over the node's ranks of each stage.
struct StageWindow {
  double producers_blocked = 0.0;
  double compressors_idle = 0.0;
};

class LevelController {
 public:
  static constexpr double kIdleToRaise = 0.15;
  static constexpr double kBehindToLower = 0.05;
  static constexpr double kIdleWhenBehind = 0.05;
  static constexpr int kCeilingWindows = 20;

  LevelController(int level, int lowest, int highest);
  int level() const noexcept { return level_; }
  // The level for the next window, after `window` was spent at level().
  int next(const StageWindow& window);

 private:
  int level_, lowest_, highest_;
  int ceiling_;  // lowest level found too slow lately (highest_ + 1: none)
  int ceiling_windows_left_ = 0;
};

class AdaptiveLevel {
 public:
  static constexpr std::chrono::milliseconds kWindow{250};

  // Decides only on the node's first compressor of a job with level "auto"; a no-op elsewhere.
  explicit AdaptiveLevel(const StageContext& ctx);
  // After each matrix the rank compressed: once a window has passed, decides and publishes.
  void after_matrix();

 private:
  struct Totals {
    std::uint64_t producers_blocked_ns = 0, compressors_idle_ns = 0;
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
