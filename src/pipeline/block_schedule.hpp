#pragma once
// How the positions of a multi-node run's id list (id_list.hpp) are cut into the blocks that
// producers claim from the job-wide counter (mpi/claim_counter.hpp): claim number i gets block
// i. Guided self-scheduling: each block is the remaining positions divided by twice the number
// of claimers, but at least `min_block`. Early blocks are large (few blocks, so few
// virtual-dataset mappings in the master), late ones small (a slow node holds back at most a
// small block at the end). A pure function of (total, claimers, min_block), so every rank
// computes the same blocks without talking.
#include <cstdint>

#include "pipeline/work_order.hpp"

namespace shmjob::stages {

class BlockSchedule {
 public:
  BlockSchedule() = default;
  BlockSchedule(std::uint64_t total, std::uint64_t claimers, std::uint64_t min_block);

  // Positions of block `claim` (count 0: past the end). Cheapest when called with increasing
  // claims (what one claimer sees): it walks forward from the last block it computed.
  IdRange block(std::uint64_t claim);
  std::uint64_t total() const noexcept { return total_; }

 private:
  std::uint64_t size_after(std::uint64_t start) const noexcept;

  std::uint64_t total_ = 0, claimers_ = 1, min_block_ = 1;
  std::uint64_t cursor_claim_ = 0, cursor_start_ = 0;  // block cursor_claim_ starts here
};

}  // namespace shmjob::stages
