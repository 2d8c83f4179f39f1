#pragma once
// How a multi-node run hands out matrices: the run's ids as one list (IdList), cut into blocks
// (BlockSchedule) that producers of every node claim job-wide through one counter
// (mpi::ClaimCounter). A producer cuts its block among its lane's writers (each writer gets a
// contiguous piece, one run of its shard) and produces it; a node that goes slower claims
// fewer blocks. A single-node run does not use this: it splits its ids statically
// (WorkOrder), which gives every shard one contiguous block, the layout h5py reads fastest.
#include <cstdint>

#include "mpi/claim_counter.hpp"
#include "pipeline/block_schedule.hpp"
#include "pipeline/id_list.hpp"

namespace shmjob::stages {

struct Handout {
  IdList ids;
  std::uint64_t claimers = 1;   // producers of the whole job
  std::uint64_t min_block = 1;  // smallest block (multinode.min_block)
  const mpi::ClaimCounter* counter = nullptr;

  BlockSchedule schedule() const { return {ids.size(), claimers, min_block}; }
};

}  // namespace shmjob::stages
