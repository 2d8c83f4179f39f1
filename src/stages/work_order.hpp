#pragma once
// The order in which a node's producers take matrix ids. Each writer owns a contiguous range of
// ids (its shard holds them at id - range start, which lets the master map every shard as one
// block of a virtual dataset); tickets interleave the ranges so every writer stays busy:
// ticket t -> writer t % W, id = start(t % W) + t / W.
#include <cstdint>
#include <optional>
#include <vector>

namespace shmjob::stages {

struct IdRange {
  std::uint64_t first = 0;
  std::uint64_t count = 0;
  bool contains(std::uint64_t id) const noexcept { return id >= first && id - first < count; }
};

// Splits `total` into `parts` contiguous ranges whose sizes differ by at most one.
std::vector<IdRange> split_evenly(IdRange total, int parts);

class WorkOrder {
 public:
  WorkOrder(IdRange node_ids, int writers);

  // The id for ticket `t`, or nullopt if t is a gap (a shorter range) or past the end.
  std::optional<std::uint64_t> id_for_ticket(std::uint64_t t) const noexcept;
  std::uint64_t ticket_count() const noexcept { return ticket_count_; }
  int writer_of(std::uint64_t id) const;  // the node-local writer index owning `id`
  const IdRange& writer_range(int w) const { return ranges_.at(static_cast<std::size_t>(w)); }
  int writers() const noexcept { return static_cast<int>(ranges_.size()); }

 private:
  std::vector<IdRange> ranges_;
  std::uint64_t ticket_count_ = 0;
};

}  // namespace shmjob::stages
