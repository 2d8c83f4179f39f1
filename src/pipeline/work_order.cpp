#include "pipeline/work_order.hpp"

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

std::vector<std::vector<IdRange>> split_evenly(const std::vector<IdRange>& runs, int parts) {
  std::uint64_t total = 0;
  for (const IdRange& r : runs) total += r.count;
  const auto n = static_cast<std::uint64_t>(parts);
  std::vector<std::vector<IdRange>> out(static_cast<std::size_t>(parts));
  std::size_t run = 0;
  std::uint64_t taken = 0;  // ids of runs[run] already handed out
  for (std::uint64_t i = 0; i < n; ++i) {
    std::uint64_t want = total / n + (i < total % n ? 1 : 0);
    while (want > 0 && run < runs.size()) {
      const std::uint64_t take = std::min(want, runs[run].count - taken);
      out[i].push_back({runs[run].first + taken, take});
      want -= take;
      taken += take;
      if (taken == runs[run].count) ++run, taken = 0;
    }
  }
  return out;
}

std::uint64_t WorkOrder::WriterPart::id_at(std::uint64_t k) const noexcept {
  // The last run whose offset is <= k.
  const auto it = std::upper_bound(run_offsets.begin(), run_offsets.end(), k);
  const auto r = static_cast<std::size_t>(it - run_offsets.begin()) - 1;
  return runs[r].first + (k - run_offsets[r]);
}

namespace {
std::vector<std::vector<IdRange>> one_run_per_set(const std::vector<IdRange>& node_sets) {
  std::vector<std::vector<IdRange>> runs;
  for (const IdRange& s : node_sets) {
    runs.emplace_back();
    if (s.count > 0) runs.back().push_back(s);
  }
  return runs;
}
}  // namespace

WorkOrder::WorkOrder(IdRange node_ids, int writers) : WorkOrder(std::vector<IdRange>{node_ids}, writers) {}

WorkOrder::WorkOrder(const std::vector<IdRange>& node_sets, int writers)
    : WorkOrder(one_run_per_set(node_sets), writers) {
  // A set with no ids here still has a position (where its ids would start).
  for (std::size_t s = 0; s < node_sets.size(); ++s)
    if (node_sets[s].count == 0) {
      set_spans_[s] = node_sets[s];
      for (WriterPart& p : parts_[s]) p.span = {node_sets[s].first, 0};
    }
}

WorkOrder::WorkOrder(const std::vector<std::vector<IdRange>>& set_runs, int writers) : writers_(writers) {
  if (writers < 1) throw std::invalid_argument("a work order needs at least one writer");
  for (const std::vector<IdRange>& runs : set_runs) {
    set_spans_.push_back(runs.empty() ? IdRange{}
                                      : IdRange{runs.front().first, runs.back().end() - runs.front().first});
    std::vector<WriterPart>& parts = parts_.emplace_back();
    std::uint64_t cursor = set_spans_.back().first;  // where an empty writer's span sits
    for (std::vector<IdRange>& pieces : split_evenly(runs, writers)) {
      WriterPart& p = parts.emplace_back();
      for (const IdRange& r : pieces) {
        p.run_offsets.push_back(p.count);
        p.count += r.count;
      }
      p.span = pieces.empty() ? IdRange{cursor, 0}
                              : IdRange{pieces.front().first, pieces.back().end() - pieces.front().first};
      p.runs = std::move(pieces);
      cursor = p.span.end();
    }
  }
  std::uint64_t longest = 0;
  for (int w = 0; w < writers_; ++w) longest = std::max(longest, writer_total(w));
  ticket_count_ = longest * static_cast<std::uint64_t>(writers_);
}

std::optional<std::uint64_t> WorkOrder::id_for_ticket(std::uint64_t t) const noexcept {
  if (t >= ticket_count_) return std::nullopt;
  return id_for_ticket(t, 0, writers_);
}

std::optional<std::uint64_t> WorkOrder::id_for_ticket(std::uint64_t t, int first_writer, int writers) const noexcept {
  if (writers < 1) return std::nullopt;
  const auto n = static_cast<std::uint64_t>(writers);
  const auto w = static_cast<std::size_t>(first_writer) + static_cast<std::size_t>(t % n);
  std::uint64_t k = t / n;
  for (const auto& set_parts : parts_) {
    if (w >= set_parts.size()) return std::nullopt;
    const WriterPart& p = set_parts[w];
    if (k < p.count) return p.id_at(k);
    k -= p.count;
  }
  return std::nullopt;
}

std::uint64_t WorkOrder::ticket_count(int first_writer, int writers) const {
  std::uint64_t longest = 0;
  for (int w = first_writer; w < first_writer + writers; ++w) longest = std::max(longest, writer_total(w));
  return longest * static_cast<std::uint64_t>(writers);
}

int WorkOrder::set_of(std::uint64_t id) const {
  for (std::size_t s = 0; s < set_spans_.size(); ++s)
    if (set_spans_[s].contains(id)) return static_cast<int>(s);
  throw std::out_of_range("matrix id " + std::to_string(id) + " belongs to no set on this node");
}

int WorkOrder::writer_of(std::uint64_t id) const {
  const auto& parts = parts_[static_cast<std::size_t>(set_of(id))];
  for (std::size_t w = 0; w < parts.size(); ++w)
    if (parts[w].span.contains(id)) return static_cast<int>(w);
  throw std::out_of_range("matrix id " + std::to_string(id) + " belongs to no writer on this node");
}

const IdRange& WorkOrder::writer_range(int w, int set) const {
  return parts_.at(static_cast<std::size_t>(set)).at(static_cast<std::size_t>(w)).span;
}

const std::vector<IdRange>& WorkOrder::writer_runs(int w, int set) const {
  return parts_.at(static_cast<std::size_t>(set)).at(static_cast<std::size_t>(w)).runs;
}

std::uint64_t WorkOrder::writer_count(int w, int set) const {
  return parts_.at(static_cast<std::size_t>(set)).at(static_cast<std::size_t>(w)).count;
}

std::uint64_t WorkOrder::writer_total(int w) const {
  std::uint64_t total = 0;
  for (const auto& set_parts : parts_) total += set_parts.at(static_cast<std::size_t>(w)).count;
  return total;
}

std::uint64_t WorkOrder::node_total() const {
  std::uint64_t total = 0;
  for (const auto& set_parts : parts_)
    for (const WriterPart& p : set_parts) total += p.count;
  return total;
}

}  // namespace shmjob::stages
