#include "mpi/node_window.hpp"

#include <cstdint>
#include <string>

#include "mpi/mpi_error.hpp"

namespace shmjob::mpi {
namespace {
std::byte* align_up(std::byte* p) {
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  return p + ((kPageBytes - address % kPageBytes) % kPageBytes);
}

class Info {
 public:
  Info() { check(MPI_Info_create(&info_), "MPI_Info_create"); }
  ~Info() { MPI_Info_free(&info_); }
  Info(const Info&) = delete;
  Info& operator=(const Info&) = delete;
  void set(const char* key, const char* value) { check(MPI_Info_set(info_, key, value), "MPI_Info_set"); }
  MPI_Info get() const { return info_; }

 private:
  MPI_Info info_ = MPI_INFO_NULL;
};
}  // namespace

NodeWindow::NodeWindow(MPI_Comm node_comm, std::size_t my_bytes) : comm_(node_comm) {
  Info info;
  // Each rank's segment on its own pages, so first touch places it on the owner's NUMA node.
  info.set("alloc_shared_noncontig", "true");
  std::byte* base = nullptr;
  const auto request = static_cast<MPI_Aint>(my_bytes + kPageBytes);
  check(MPI_Win_allocate_shared(request, 1, info.get(), comm_, &base, &win_),
        "MPI_Win_allocate_shared of " + std::to_string(request) + " bytes");
  int ranks = 0;
  check(MPI_Comm_size(comm_, &ranks), "MPI_Comm_size");
  for (int r = 0; r < ranks; ++r) {
    MPI_Aint bytes = 0;
    int disp_unit = 0;
    std::byte* ptr = nullptr;
    check(MPI_Win_shared_query(win_, r, &bytes, &disp_unit, &ptr), "MPI_Win_shared_query");
    std::byte* aligned = align_up(ptr);
    segments_.push_back(aligned);
    sizes_.push_back(static_cast<std::size_t>(bytes) - static_cast<std::size_t>(aligned - ptr));
  }
  check(MPI_Win_lock_all(MPI_MODE_NOCHECK, win_), "MPI_Win_lock_all");
}

NodeWindow::~NodeWindow() {
  if (win_ == MPI_WIN_NULL) return;
  MPI_Win_unlock_all(win_);
  MPI_Win_free(&win_);
}

void NodeWindow::sync_barrier() const {
  check(MPI_Win_sync(win_), "MPI_Win_sync");
  check(MPI_Barrier(comm_), "MPI_Barrier");
  check(MPI_Win_sync(win_), "MPI_Win_sync");
}

}  // namespace shmjob::mpi
