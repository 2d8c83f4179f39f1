#include "stages/work_order.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace shmjob::stages {

std::vector<IdRange> split_evenly(IdRange total, int parts) {
  std::vector<IdRange> out;
  const auto n = static_cast<std::uint64_t>(parts);
  std::uint64_t first = total.first;
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::uint64_t count = total.count / n + (i < total.count % n ? 1 : 0);
    out.push_back({first, count});
    first += count;
  }
  return out;
}

WorkOrder::WorkOrder(IdRange node_ids, int writers) : ranges_(split_evenly(node_ids, writers)) {
  // The first range is the longest; every writer gets a ticket in each round up to its length.
  ticket_count_ = ranges_.empty() ? 0 : ranges_.front().count * ranges_.size();
}

std::optional<std::uint64_t> WorkOrder::id_for_ticket(std::uint64_t t) const noexcept {
  if (t >= ticket_count_) return std::nullopt;
  const IdRange& r = ranges_[t % ranges_.size()];
  const std::uint64_t round = t / ranges_.size();
  if (round >= r.count) return std::nullopt;
  return r.first + round;
}

int WorkOrder::writer_of(std::uint64_t id) const {
  const auto it = std::upper_bound(ranges_.begin(), ranges_.end(), id,
                                   [](std::uint64_t v, const IdRange& r) { return v < r.first; });
  if (it == ranges_.begin() || !std::prev(it)->contains(id))
    throw std::out_of_range("matrix id " + std::to_string(id) + " belongs to no writer on this node");
  return static_cast<int>(std::prev(it) - ranges_.begin());
}

}  // namespace shmjob::stages
