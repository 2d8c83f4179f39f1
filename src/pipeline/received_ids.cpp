#include "pipeline/received_ids.hpp"

#include <bit>
#include <stdexcept>
#include <string>

namespace shmjob::stages {

ReceivedIds::ReceivedIds(const std::vector<IdRange>& parts) {
  for (const IdRange& r : parts) parts_.push_back({r, std::vector<std::uint64_t>((r.count + 63) / 64, 0), {}});
}

namespace {
std::uint64_t offset_in(const IdRange& range, std::uint64_t id) {
  if (!range.contains(id)) throw std::logic_error("id " + std::to_string(id) + " is outside its shard part");
  return id - range.first;
}
}  // namespace

bool ReceivedIds::insert(std::size_t part, std::uint64_t id) {
  Bits& b = parts_.at(part);
  const std::uint64_t offset = offset_in(b.range, id);
  std::uint64_t& word = b.words[offset / 64];
  const std::uint64_t bit = std::uint64_t{1} << (offset % 64);
  if (word & bit) return false;
  word |= bit;
  ++size_;
  ranks_current_ = false;
  return true;
}

bool ReceivedIds::contains(std::size_t part, std::uint64_t id) const {
  const Bits& b = parts_.at(part);
  const std::uint64_t offset = offset_in(b.range, id);
  return (b.words[offset / 64] >> (offset % 64)) & 1u;
}

void ReceivedIds::count_ranks() {
  std::uint64_t before = 0;
  for (Bits& b : parts_) {
    b.before.resize(b.words.size());
    for (std::size_t w = 0; w < b.words.size(); ++w) {
      b.before[w] = before;
      before += static_cast<std::uint64_t>(std::popcount(b.words[w]));
    }
  }
  ranks_current_ = true;
}

std::uint64_t ReceivedIds::position(std::size_t part, std::uint64_t id) {
  if (!contains(part, id)) throw std::logic_error("id " + std::to_string(id) + " was not received");
  if (!ranks_current_) count_ranks();
  const Bits& b = parts_[part];
  const std::uint64_t offset = id - b.range.first;
  const std::uint64_t below = b.words[offset / 64] & ((std::uint64_t{1} << (offset % 64)) - 1);
  return b.before[offset / 64] + static_cast<std::uint64_t>(std::popcount(below));
}

}  // namespace shmjob::stages
