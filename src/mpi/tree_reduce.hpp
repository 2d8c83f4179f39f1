#pragma once
// Combines one byte image per rank into one on rank 0 along a binomial tree: each rank holds at
// most two images at a time (its own and one received), whatever the number of ranks, where a
// gather would hold every rank's on rank 0. For accumulators too large to gather (a reduction
// over matrices keeps several values per element).
#include <mpi.h>

#include <cstddef>
#include <functional>
#include <vector>

namespace shmjob::mpi {

// `merge(a, b)` combines two non-empty images; an empty image stands for "nothing" (a rank
// that accumulated nothing). Collective over `comm`. Rank 0 returns the combination of all
// (empty if every image was), the other ranks an empty vector.
using MergeBytes = std::function<std::vector<std::byte>(std::vector<std::byte>, std::vector<std::byte>)>;
std::vector<std::byte> tree_reduce_to_root(std::vector<std::byte> mine, const MergeBytes& merge, MPI_Comm comm);

}  // namespace shmjob::mpi
