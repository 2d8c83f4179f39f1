#include "mpi/tree_reduce.hpp"

#include <algorithm>
#include <cstdint>

#include "mpi/mpi_error.hpp"

namespace shmjob::mpi {
namespace {

constexpr int kTag = 0x5244;                                   // "RD"
constexpr std::uint64_t kMaxMessage = std::uint64_t{1} << 30;  // MPI counts are ints

void send_bytes(const std::vector<std::byte>& bytes, int to, MPI_Comm comm) {
  const std::uint64_t size = bytes.size();
  check(MPI_Send(&size, 1, MPI_UINT64_T, to, kTag, comm), "MPI_Send");
  for (std::uint64_t done = 0; done < size;) {
    const int n = static_cast<int>(std::min(size - done, kMaxMessage));
    check(MPI_Send(bytes.data() + done, n, MPI_BYTE, to, kTag, comm), "MPI_Send");
    done += static_cast<std::uint64_t>(n);
  }
}

std::vector<std::byte> receive_bytes(int from, MPI_Comm comm) {
  std::uint64_t size = 0;
  check(MPI_Recv(&size, 1, MPI_UINT64_T, from, kTag, comm, MPI_STATUS_IGNORE), "MPI_Recv");
  std::vector<std::byte> bytes(size);
  for (std::uint64_t done = 0; done < size;) {
    const int n = static_cast<int>(std::min(size - done, kMaxMessage));
    check(MPI_Recv(bytes.data() + done, n, MPI_BYTE, from, kTag, comm, MPI_STATUS_IGNORE), "MPI_Recv");
    done += static_cast<std::uint64_t>(n);
  }
  return bytes;
}

}  // namespace

std::vector<std::byte> tree_reduce_to_root(std::vector<std::byte> mine, const MergeBytes& merge, MPI_Comm comm) {
  int rank = 0, size = 0;
  check(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  check(MPI_Comm_size(comm, &size), "MPI_Comm_size");
  // Round k: ranks with bit k set send to rank - 2^k and are done; the others receive from
  // rank + 2^k when it exists.
  for (int step = 1; step < size; step *= 2) {
    if (rank % (2 * step) == step) {
      send_bytes(mine, rank - step, comm);
      return {};
    }
    if (rank % (2 * step) == 0 && rank + step < size) {
      std::vector<std::byte> other = receive_bytes(rank + step, comm);
      if (mine.empty())
        mine = std::move(other);
      else if (!other.empty())
        mine = merge(std::move(mine), std::move(other));
    }
  }
  return mine;
}

}  // namespace shmjob::mpi
