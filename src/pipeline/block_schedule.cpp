#include "pipeline/block_schedule.hpp"

#include <algorithm>

namespace shmjob::stages {

BlockSchedule::BlockSchedule(std::uint64_t total, std::uint64_t claimers, std::uint64_t min_block)
    : total_(total),
      claimers_(std::max<std::uint64_t>(claimers, 1)),
      min_block_(std::max<std::uint64_t>(min_block, 1)) {}

std::uint64_t BlockSchedule::size_after(std::uint64_t start) const noexcept {
  const std::uint64_t remaining = total_ - start;
  const std::uint64_t guided = (remaining + 2 * claimers_ - 1) / (2 * claimers_);
  return std::min(remaining, std::max(guided, min_block_));
}

IdRange BlockSchedule::block(std::uint64_t claim) {
  if (claim < cursor_claim_) cursor_claim_ = 0, cursor_start_ = 0;  // out of order: start over
  while (cursor_claim_ < claim && cursor_start_ < total_) {
    cursor_start_ += size_after(cursor_start_);
    ++cursor_claim_;
  }
  if (cursor_start_ >= total_) return {total_, 0};
  return {cursor_start_, size_after(cursor_start_)};
}

}  // namespace shmjob::stages
