#pragma once
// The order in which a node's producers take matrix ids. Matrix ids come in sets (one per output
// dataset: one set for synthetic jobs, one per shape/dtype for ingests), each a contiguous id
// range. Each writer owns a contiguous part of every set (its shard holds them at id - part
// start, which lets the master map every shard as one block of each virtual dataset). Tickets
// interleave the writers so every writer stays busy: ticket t -> writer t % W, and the
// (t / W)-th id of that writer's parts, set after set.
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
  WorkOrder(IdRange node_ids, int writers);  // a single set
  // `node_sets`: this node's part of each set, in increasing id order.
  WorkOrder(const std::vector<IdRange>& node_sets, int writers);

  // The id for ticket `t`, or nullopt if t is a gap (a writer with fewer ids) or past the end.
  std::optional<std::uint64_t> id_for_ticket(std::uint64_t t) const noexcept;
  std::uint64_t ticket_count() const noexcept { return ticket_count_; }
  // The same over writers first_writer .. first_writer+writers-1 only (one lane's writers):
  // ticket t -> writer first_writer + t % writers, its (t / writers)-th id.
  std::optional<std::uint64_t> id_for_ticket(std::uint64_t t, int first_writer, int writers) const noexcept;
  std::uint64_t ticket_count(int first_writer, int writers) const;
  int writer_of(std::uint64_t id) const;  // the node-local writer index owning `id`
  int set_of(std::uint64_t id) const;     // index of the set holding `id`
  // Writer w's part of set s.
  const IdRange& writer_range(int w, int set = 0) const;
  std::uint64_t writer_total(int w) const;  // ids writer w owns over all sets
  std::uint64_t node_total() const;
  int writers() const noexcept { return writers_; }
  int sets() const noexcept { return static_cast<int>(parts_.size()); }

 private:
  std::vector<IdRange> node_sets_;
  std::vector<std::vector<IdRange>> parts_;  // [set][writer]
  int writers_;
  std::uint64_t ticket_count_ = 0;
};

}  // namespace shmjob::stages
