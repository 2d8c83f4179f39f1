#include "mpi/claim_counter.hpp"

#include "mpi/mpi_error.hpp"

namespace shmjob::mpi {

ClaimCounter::ClaimCounter(MPI_Comm comm) {
  int rank = 0;
  check(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  const MPI_Aint bytes = rank == 0 ? static_cast<MPI_Aint>(sizeof(std::uint64_t)) : 0;
  std::uint64_t* base = nullptr;
  check(MPI_Win_allocate(bytes, sizeof(std::uint64_t), MPI_INFO_NULL, comm, &base, &win_),
        "MPI_Win_allocate (claim counter)");
  if (rank == 0) *base = 0;  // before any epoch: the barrier below publishes it
  check(MPI_Win_lock_all(MPI_MODE_NOCHECK, win_), "MPI_Win_lock_all");
  locked_ = true;
  check(MPI_Win_sync(win_), "MPI_Win_sync");
  check(MPI_Barrier(comm), "MPI_Barrier");
}

ClaimCounter::~ClaimCounter() {
  if (locked_) MPI_Win_unlock_all(win_);
  if (win_ != MPI_WIN_NULL) MPI_Win_free(&win_);
}

std::uint64_t ClaimCounter::claim() const {
  const std::uint64_t one = 1;
  std::uint64_t before = 0;
  check(MPI_Fetch_and_op(&one, &before, MPI_UINT64_T, 0, 0, MPI_SUM, win_), "MPI_Fetch_and_op (claim)");
  check(MPI_Win_flush(0, win_), "MPI_Win_flush (claim)");
  return before;
}

}  // namespace shmjob::mpi
