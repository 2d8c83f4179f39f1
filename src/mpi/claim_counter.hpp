#pragma once
// A job-wide counter of claims, for handing out blocks of matrices across nodes: one 64-bit
// integer in a one-sided MPI window on world rank 0, incremented with MPI_Fetch_and_op
// (MPI_SUM, atomic) in a passive-target epoch held open for the window's whole life
// (MPI_Win_lock_all). Rank 0 takes no part in a claim: whoever claims reads and increments the
// counter without rank 0 calling MPI (with Open MPI: osc/sm on one host, osc/ucx or osc/rdma
// with a network that does atomics; see docs/slurm.md, "Several nodes").
#include <mpi.h>

#include <cstdint>

namespace shmjob::mpi {

class ClaimCounter {
 public:
  // Collective over `comm`; the counter starts at 0.
  explicit ClaimCounter(MPI_Comm comm);
  ~ClaimCounter();  // collective (MPI_Win_free)
  ClaimCounter(const ClaimCounter&) = delete;
  ClaimCounter& operator=(const ClaimCounter&) = delete;

  // The counter's value before this claim added 1: claims are numbered 0, 1, 2, ... job-wide,
  // each number handed out once. Any rank, any time, without the others taking part.
  std::uint64_t claim() const;

 private:
  MPI_Win win_ = MPI_WIN_NULL;
  bool locked_ = false;
};

}  // namespace shmjob::mpi
