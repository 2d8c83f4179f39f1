#pragma once
// The ids a multi-node run writes, as one list: the ids to write of every set (all of a set's
// ids, or after a resume only the missing ones), set after set, in id order. A position in
// this list is what the nodes claim in blocks (block_schedule.hpp); a block may span runs and
// sets.
#include <cstdint>
#include <vector>

#include "stages/work_order.hpp"

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
  const IdRange& set_span(int set) const { return spans_.at(static_cast<std::size_t>(set)); }
  int sets() const noexcept { return static_cast<int>(spans_.size()); }
  int set_of(std::uint64_t id) const;  // the set whose span holds `id`

 private:
  std::vector<IdRange> runs_;               // every set's runs, concatenated
  std::vector<std::uint64_t> offsets_;      // positions before each run
  std::vector<IdRange> spans_;              // per set
  std::uint64_t size_ = 0;
};

}  // namespace shmjob::stages
