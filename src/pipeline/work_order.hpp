#pragma once
// The order in which a node's producers take matrix ids. Matrix ids come in sets (one per output
// dataset: one set for synthetic jobs, one per shape/dtype for ingests). On this node each set
// has ids to write: its whole node range, or after a resume only the ids an earlier run did not
// leave intact, as sorted runs. Each writer owns consecutive ids of every set (the ids to write
// are cut in id order into pieces whose sizes differ by at most one): its shard holds them at
// id - span start, which lets the master map every run of a shard as one block of each virtual
// dataset. Tickets interleave the writers so every writer stays busy: ticket t -> writer t % W,
// and the (t / W)-th id of that writer's ids, set after set.
#include <cstdint>
#include <optional>
#include <vector>

#include "config/id_range.hpp"

namespace shmjob::stages {

// Splits `total` into `parts` contiguous ranges whose sizes differ by at most one.
std::vector<IdRange> split_evenly(IdRange total, int parts);
// The same for the ids of `runs` (sorted, disjoint, non-empty): `parts` groups of consecutive
// ids (in id order), sizes differing by at most one, larger groups first.
std::vector<std::vector<IdRange>> split_evenly(const std::vector<IdRange>& runs, int parts);

class WorkOrder {
 public:
  WorkOrder(IdRange node_ids, int writers);  // a single set
  // `node_sets`: this node's part of each set, in increasing id order.
  WorkOrder(const std::vector<IdRange>& node_sets, int writers);
  // `set_runs[s]`: the ids of set s this node writes, as sorted disjoint runs (sets in
  // increasing id order).
  WorkOrder(const std::vector<std::vector<IdRange>>& set_runs, int writers);

  // The id for ticket `t`, or nullopt if t is a gap (a writer with fewer ids) or past the end.
  std::optional<std::uint64_t> id_for_ticket(std::uint64_t t) const noexcept;
  std::uint64_t ticket_count() const noexcept { return ticket_count_; }
  // The same over writers first_writer .. first_writer+writers-1 only (one lane's writers):
  // ticket t -> writer first_writer + t % writers, its (t / writers)-th id.
  std::optional<std::uint64_t> id_for_ticket(std::uint64_t t, int first_writer, int writers) const noexcept;
  std::uint64_t ticket_count(int first_writer, int writers) const;
  int writer_of(std::uint64_t id) const;  // the node-local writer index owning `id`
  int set_of(std::uint64_t id) const;     // index of the set holding `id`
  // Writer w's span of set s: first .. last of the ids it writes (its shard dataset's rows).
  // Without holes (no resume) that is exactly its ids.
  const IdRange& writer_range(int w, int set = 0) const;
  // The ids writer w writes of set s, as sorted runs inside writer_range(w, s).
  const std::vector<IdRange>& writer_runs(int w, int set = 0) const;
  std::uint64_t writer_count(int w, int set = 0) const;  // ids in writer_runs(w, set)
  std::uint64_t writer_total(int w) const;               // ids writer w writes over all sets
  std::uint64_t node_total() const;
  int writers() const noexcept { return writers_; }
  int sets() const noexcept { return static_cast<int>(parts_.size()); }

 private:
  struct WriterPart {
    IdRange span;
    std::vector<IdRange> runs;
    std::vector<std::uint64_t> run_offsets;  // ids before each run
    std::uint64_t count = 0;
    std::uint64_t id_at(std::uint64_t k) const noexcept;  // k < count
  };
  std::vector<IdRange> set_spans_;              // per set: first .. last id this node writes
  std::vector<std::vector<WriterPart>> parts_;  // [set][writer]
  int writers_;
  std::uint64_t ticket_count_ = 0;
};

}  // namespace shmjob::stages
