#include "mpi/mpi_error.hpp"

#include <string>

#include "shmjob/error.hpp"

namespace shmjob::mpi {

void check(int rc, std::string_view what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(rc, text, &length) != MPI_SUCCESS) length = 0;
  throw MpiError("MPI: " + std::string(what) + ": " + std::string(text, static_cast<std::size_t>(length)));
}

}  // namespace shmjob::mpi

#include "mpi/communicator.hpp"

namespace shmjob::mpi {
int Communicator::rank() const {
  int r = 0;
  check(MPI_Comm_rank(comm_, &r), "MPI_Comm_rank");
  return r;
}
int Communicator::size() const {
  int s = 0;
  check(MPI_Comm_size(comm_, &s), "MPI_Comm_size");
  return s;
}
}  // namespace shmjob::mpi
