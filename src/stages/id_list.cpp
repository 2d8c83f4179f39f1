#include "stages/id_list.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace shmjob::stages {

IdList::IdList(const std::vector<std::vector<IdRange>>& set_runs) {
  for (const std::vector<IdRange>& runs : set_runs) {
    spans_.push_back(runs.empty() ? IdRange{}
                                  : IdRange{runs.front().first, runs.back().end() - runs.front().first});
    for (const IdRange& r : runs) {
      if (r.count == 0) continue;
      runs_.push_back(r);
      offsets_.push_back(size_);
      size_ += r.count;
    }
  }
}

std::uint64_t IdList::id_at(std::uint64_t position) const {
  if (position >= size_)
    throw std::out_of_range("position " + std::to_string(position) + " is past the " +
                            std::to_string(size_) + " ids to write");
  const auto it = std::upper_bound(offsets_.begin(), offsets_.end(), position);
  const auto r = static_cast<std::size_t>(it - offsets_.begin()) - 1;
  return runs_[r].first + (position - offsets_[r]);
}

int IdList::set_of(std::uint64_t id) const {
  for (std::size_t s = 0; s < spans_.size(); ++s)
    if (spans_[s].contains(id)) return static_cast<int>(s);
  throw std::out_of_range("matrix id " + std::to_string(id) + " is not to be written in this run");
}

}  // namespace shmjob::stages
