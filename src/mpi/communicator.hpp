#pragma once
// A communicator this process created and must free.
#include <mpi.h>

#include <utility>

namespace shmjob::mpi {

class Communicator {
 public:
  Communicator() = default;
  explicit Communicator(MPI_Comm comm) noexcept : comm_(comm) {}
  ~Communicator() {
    if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
  }
  Communicator(Communicator&& o) noexcept : comm_(std::exchange(o.comm_, MPI_COMM_NULL)) {}
  Communicator& operator=(Communicator&&) = delete;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  MPI_Comm get() const noexcept { return comm_; }
  int rank() const;
  int size() const;

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
};

}  // namespace shmjob::mpi
