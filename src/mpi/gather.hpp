#pragma once
// Gathering fixed-size records (POD structs, sent as bytes) on rank 0.
#include <mpi.h>

#include <climits>
#include <cstdint>
#include <vector>

#include "mpi/mpi_error.hpp"
#include "shmjob/error.hpp"

namespace shmjob::mpi {

template <class T>
std::vector<T> gather_to_root(const T& mine, MPI_Comm comm) {
  int size = 0, rank = 0;
  check(MPI_Comm_size(comm, &size), "MPI_Comm_size");
  check(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  std::vector<T> all(rank == 0 ? static_cast<std::size_t>(size) : 0);
  check(MPI_Gather(&mine, sizeof(T), MPI_BYTE, all.data(), sizeof(T), MPI_BYTE, 0, comm), "MPI_Gather");
  return all;
}

template <class T>
std::vector<T> gatherv_to_root(const std::vector<T>& mine, MPI_Comm comm) {
  int size = 0, rank = 0;
  check(MPI_Comm_size(comm, &size), "MPI_Comm_size");
  check(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  const std::uint64_t my_bytes = mine.size() * sizeof(T);
  if (my_bytes > INT_MAX) throw MpiError("MPI: index of one writer exceeds 2 GiB");
  const int count = static_cast<int>(my_bytes);
  std::vector<int> counts(static_cast<std::size_t>(size)), offsets(static_cast<std::size_t>(size));
  check(MPI_Gather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, comm), "MPI_Gather");
  std::uint64_t total = 0;
  for (int i = 0; i < size; ++i) {
    offsets[static_cast<std::size_t>(i)] = static_cast<int>(total);
    total += static_cast<std::uint64_t>(counts[static_cast<std::size_t>(i)]);
  }
  if (rank == 0 && total > INT_MAX) throw MpiError("MPI: job index exceeds 2 GiB");
  std::vector<T> all(rank == 0 ? total / sizeof(T) : 0);
  check(MPI_Gatherv(mine.data(), count, MPI_BYTE, all.data(), counts.data(), offsets.data(), MPI_BYTE, 0, comm),
        "MPI_Gatherv");
  return all;
}

}  // namespace shmjob::mpi
