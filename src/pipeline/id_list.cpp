#include "pipeline/id_list.hpp"

#include <stdexcept>
#include <string>

namespace shmjob::stages {

IdList::IdList(const std::vector<std::vector<IdRange>>& set_runs)
    : order_(std::in_place, set_runs, 1), size_(order_->node_total()) {}

std::uint64_t IdList::id_at(std::uint64_t position) const {
  const std::optional<std::uint64_t> id = order_ ? order_->id_for_ticket(position) : std::nullopt;
  if (!id)
    throw std::out_of_range("position " + std::to_string(position) + " is past the " + std::to_string(size_) +
                            " ids to write");
  return *id;
}

const IdRange& IdList::set_span(int set) const {
  if (!order_) throw std::out_of_range("an empty id list has no sets");
  return order_->writer_range(0, set);
}

int IdList::set_of(std::uint64_t id) const {
  if (!order_) throw std::out_of_range("matrix id " + std::to_string(id) + " is not to be written in this run");
  return order_->set_of(id);
}

}  // namespace shmjob::stages
