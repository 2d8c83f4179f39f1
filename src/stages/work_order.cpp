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

WorkOrder::WorkOrder(IdRange node_ids, int writers)
    : WorkOrder(std::vector<IdRange>{node_ids}, writers) {}

WorkOrder::WorkOrder(const std::vector<IdRange>& node_sets, int writers)
    : node_sets_(node_sets), writers_(writers) {
  if (writers < 1) throw std::invalid_argument("a work order needs at least one writer");
  for (const IdRange& set : node_sets_) parts_.push_back(split_evenly(set, writers));
  std::uint64_t longest = 0;
  for (int w = 0; w < writers_; ++w) longest = std::max(longest, writer_total(w));
  ticket_count_ = longest * static_cast<std::uint64_t>(writers_);
}

std::optional<std::uint64_t> WorkOrder::id_for_ticket(std::uint64_t t) const noexcept {
  if (t >= ticket_count_) return std::nullopt;
  return id_for_ticket(t, 0, writers_);
}

std::optional<std::uint64_t> WorkOrder::id_for_ticket(std::uint64_t t, int first_writer,
                                                      int writers) const noexcept {
  if (writers < 1) return std::nullopt;
  const auto n = static_cast<std::uint64_t>(writers);
  const auto w = static_cast<std::size_t>(first_writer) + static_cast<std::size_t>(t % n);
  std::uint64_t k = t / n;
  for (const auto& set_parts : parts_) {
    if (w >= set_parts.size()) return std::nullopt;
    const IdRange& r = set_parts[w];
    if (k < r.count) return r.first + k;
    k -= r.count;
  }
  return std::nullopt;
}

std::uint64_t WorkOrder::ticket_count(int first_writer, int writers) const {
  std::uint64_t longest = 0;
  for (int w = first_writer; w < first_writer + writers; ++w) longest = std::max(longest, writer_total(w));
  return longest * static_cast<std::uint64_t>(writers);
}

int WorkOrder::set_of(std::uint64_t id) const {
  for (std::size_t s = 0; s < node_sets_.size(); ++s)
    if (node_sets_[s].contains(id)) return static_cast<int>(s);
  throw std::out_of_range("matrix id " + std::to_string(id) + " belongs to no set on this node");
}

int WorkOrder::writer_of(std::uint64_t id) const {
  const auto& ranges = parts_[static_cast<std::size_t>(set_of(id))];
  for (std::size_t w = 0; w < ranges.size(); ++w)
    if (ranges[w].contains(id)) return static_cast<int>(w);
  throw std::out_of_range("matrix id " + std::to_string(id) + " belongs to no writer on this node");
}

const IdRange& WorkOrder::writer_range(int w, int set) const {
  return parts_.at(static_cast<std::size_t>(set)).at(static_cast<std::size_t>(w));
}

std::uint64_t WorkOrder::writer_total(int w) const {
  std::uint64_t total = 0;
  for (const auto& set_parts : parts_) total += set_parts.at(static_cast<std::size_t>(w)).count;
  return total;
}

std::uint64_t WorkOrder::node_total() const {
  std::uint64_t total = 0;
  for (const IdRange& s : node_sets_) total += s.count;
  return total;
}

}  // namespace shmjob::stages
