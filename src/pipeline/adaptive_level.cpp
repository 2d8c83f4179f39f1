#include "pipeline/adaptive_level.hpp"

#include <algorithm>

#include "pipeline/stage_context.hpp"

namespace shmjob::stages {

LevelController::LevelController(int level, int lowest, int highest)
    : level_(std::clamp(level, lowest, highest)),
      lowest_(lowest),
      highest_(highest),
      ceiling_(highest + 1),
      rates_(static_cast<std::size_t>(highest) + 1) {}

bool LevelController::lost_throughput() const {
  const LevelRate& here = rates_[static_cast<std::size_t>(level_)];
  if (here.windows < kSettleWindows) return false;
  double best_lower = 0.0;
  for (int l = lowest_; l < level_; ++l)
    if (rates_[static_cast<std::size_t>(l)].windows > 0)
      best_lower = std::max(best_lower, rates_[static_cast<std::size_t>(l)].rate);
  return here.rate < (1.0 - kRateDrop) * best_lower;
}

int LevelController::next(const StageWindow& window) {
  if (ceiling_windows_left_ > 0 && --ceiling_windows_left_ == 0) ceiling_ = highest_ + 1;
  for (int l = lowest_; l <= highest_; ++l) {
    LevelRate& r = rates_[static_cast<std::size_t>(l)];
    if (r.windows > 0 && l != level_ && ++r.age > kRateMemoryWindows) forget(l);
  }
  LevelRate& here = rates_[static_cast<std::size_t>(level_)];
  if (window.rate > 0.0) {
    here.rate += (window.rate - here.rate) / static_cast<double>(here.windows + 1);
    ++here.windows;
    here.age = 0;
  }
  const bool behind = window.producers_blocked > kBehindToLower && window.compressors_idle < kIdleWhenBehind;
  const bool settled = window.rate <= 0.0 || here.windows >= kSettleWindows;
  if (behind || lost_throughput()) {
    ceiling_ = std::min(ceiling_, level_);
    ceiling_windows_left_ = kCeilingWindows;
    if (level_ > lowest_) {
      forget(level_);  // measured anew if it is reached again
      --level_;
    }
  } else if (window.compressors_idle > kIdleToRaise && settled) {
    const int step = window.compressors_idle > kIdleToRaiseTwo ? 2 : 1;
    const int raised = std::min({level_ + step, ceiling_ - 1, highest_});
    if (raised > level_) {
      level_ = raised;
      forget(level_);
    }
  }
  return level_;
}

int current_level(const StageContext& ctx) {
  const CompressionConfig& c = ctx.config().compression;
  if (!c.level_auto) return c.level;
  const int decided = ctx.control().level.load(std::memory_order_relaxed);
  return decided != 0 ? decided : c.level;
}

namespace {
bool first_compressor(const StageContext& ctx) {
  return ctx.me().role == Role::compressor && ctx.node_rank() == ctx.plan().node_rank_of(Role::compressor, 0);
}
}  // namespace

AdaptiveLevel::AdaptiveLevel(const StageContext& ctx)
    : ctx_(ctx),
      deciding_(ctx.config().compression.level_auto && first_compressor(ctx)),
      controller_(ctx.config().compression.level, ctx.config().compression.level_min,
                  ctx.config().compression.level_max) {
  if (!deciding_) return;
  const NodeLayout& layout = ctx.plan().layout;
  for (int i = 0; i < layout.producers; ++i) producers_.push_back(ctx.plan().node_rank_of(Role::producer, i));
  for (int i = 0; i < layout.compressors; ++i) compressors_.push_back(ctx.plan().node_rank_of(Role::compressor, i));
  window_start_ = std::chrono::steady_clock::now();
  at_start_ = totals();
}

AdaptiveLevel::Totals AdaptiveLevel::totals() const {
  const auto load = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  Totals t;
  for (const int r : producers_) {
    const metrics::RankCounters& c = ctx_.counters(r);
    t.producers_blocked_ns += load(c.wait_slot_ns) + load(c.help_compress_ns);
  }
  for (const int r : compressors_) {
    const metrics::RankCounters& c = ctx_.counters(r);
    t.compressors_idle_ns += load(c.wait_input_ns) + load(c.wait_slot_ns) + load(c.help_produce_ns);
  }
  for (const RankPlan& r : ctx_.plan().ranks)  // helpers compress too
    t.compressed += load(ctx_.counters(r.node_rank).compressed_matrices);
  return t;
}

void AdaptiveLevel::after_matrix() {
  if (!deciding_) return;
  const auto now = std::chrono::steady_clock::now();
  const auto elapsed = now - window_start_;
  if (elapsed < kWindow) return;
  const Totals t = totals();
  if (t.compressed - at_start_.compressed < kMinMatrices && elapsed < 4 * kWindow) return;
  const double window_ns = static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count());
  const auto fraction = [&](std::uint64_t now_ns, std::uint64_t start_ns, std::size_t ranks) {
    return ranks == 0 ? 0.0 : static_cast<double>(now_ns - start_ns) / (window_ns * static_cast<double>(ranks));
  };
  const StageWindow window{fraction(t.producers_blocked_ns, at_start_.producers_blocked_ns, producers_.size()),
                           fraction(t.compressors_idle_ns, at_start_.compressors_idle_ns, compressors_.size()),
                           static_cast<double>(t.compressed - at_start_.compressed) * 1e9 / window_ns};
  ctx_.control().level.store(controller_.next(window), std::memory_order_relaxed);
  window_start_ = now;
  at_start_ = t;
}

}  // namespace shmjob::stages
