#pragma once
// The ids a multi-node run writes, as one list: the ids to write of every set (all of a set's
// ids, or after a resume only the missing ones), set after set, in id order. A position in
// this list is what the nodes claim in blocks (block_schedule.hpp); a block may span runs and
// sets. It is the work order of a single writer (which takes every id, set after set), read
// by position.
#include <cstdint>
#include <optional>
#include <vector>

#include "pipeline/work_order.hpp"

namespace shmjob::stages {

class IdList {
 public:
  IdList() = default;
  // `set_runs[s]`: the ids of set s to write, sorted disjoint runs (sets in increasing id order).
  explicit IdList(const std::vector<std::vector<IdRange>>& set_runs);

  std::uint64_t size() const noexcept { return size_; }
  std::uint64_t id_at(std::uint64_t position) const;  // position < size()
  // First .. last id of set s to write (count 0 if none): a shard's dataset of set s covers it,
  // holding id at row id - first.
  const IdRange& set_span(int set) const;
  int sets() const noexcept { return order_ ? order_->sets() : 0; }
  int set_of(std::uint64_t id) const;  // the set whose span holds `id`

 private:
  std::optional<WorkOrder> order_;  // one writer: its k-th ticket is the k-th id of the list
  std::uint64_t size_ = 0;
};

}  // namespace shmjob::stages
