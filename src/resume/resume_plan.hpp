#pragma once
// Deciding, on every rank, what this run writes: all ids for a fresh job, or with resume only
// the ids an earlier run did not leave intact. With resume, global rank 0 lists the output
// directory, every rank checks a share of the candidate rows (reading and decompressing their
// chunks), and rank 0 merges the result and broadcasts what is missing. Collective.
#include <mpi.h>

#include <cstdint>
#include <vector>

#include "config/config.hpp"
#include "config/id_range.hpp"
#include "config/matrix_set.hpp"
#include "resume/prior_output.hpp"

namespace shmjob::resume {

struct ResumePlan {
  std::vector<std::vector<stages::IdRange>> todo;  // per set: the ids this run writes (all ranks)
  std::uint32_t first_shard = 0;                   // this run's shard numbers start here (all ranks)
  bool resuming = false;                           // an earlier run's output is kept (all ranks)
  bool already_complete = false;                   // nothing to write, the master says complete
  PriorOutput prior;                               // what is kept (rank 0 only)

  std::uint64_t todo_count() const;
};

// Fills `plan`; returns the agreed exit code (kExitBadInput when the directory holds another
// job's output). Prints, on rank 0 unless `quiet`, what the resume keeps and ignores.
int plan_run(const Config& config, const std::vector<MatrixSet>& sets, bool quiet, MPI_Comm world, ResumePlan& plan);

}  // namespace shmjob::resume
