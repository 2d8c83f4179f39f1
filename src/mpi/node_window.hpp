#pragma once
// One MPI shared-memory window over the ranks of a node. Each rank owns one segment of the size
// it asked for; every rank can address every segment through its own mapping. Segment bases are
// only 8-byte aligned by Open MPI, so each segment is over-allocated and its usable start rounded
// up to a page (the rounding is the same in every process: the mappings are page aligned).
#include <mpi.h>

#include <cstddef>
#include <vector>

namespace shmjob::mpi {

inline constexpr std::size_t kPageBytes = 4096;

class NodeWindow {
 public:
  // Collective over `node_comm`. `my_bytes` is this rank's usable segment size.
  NodeWindow(MPI_Comm node_comm, std::size_t my_bytes);
  ~NodeWindow();
  NodeWindow(const NodeWindow&) = delete;
  NodeWindow& operator=(const NodeWindow&) = delete;

  std::byte* segment(int node_rank) const { return segments_.at(static_cast<std::size_t>(node_rank)); }
  std::size_t segment_bytes(int node_rank) const { return sizes_.at(static_cast<std::size_t>(node_rank)); }
  int size() const noexcept { return static_cast<int>(segments_.size()); }

  // Memory barrier for window memory plus a node barrier: everything written before is visible
  // to every rank after (MPI's unified-model sync around a barrier).
  void sync_barrier() const;

 private:
  MPI_Comm comm_;
  MPI_Win win_ = MPI_WIN_NULL;
  std::vector<std::byte*> segments_;
  std::vector<std::size_t> sizes_;
};

}  // namespace shmjob::mpi
