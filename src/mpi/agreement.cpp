#include "mpi/agreement.hpp"

#include <climits>
#include <cstdio>

#include "mpi/mpi_error.hpp"
#include "util/printable.hpp"

namespace shmjob::mpi {

int agree(MPI_Comm world, const Failure& local) {
  int code = 0;
  check(MPI_Allreduce(&local.code, &code, 1, MPI_INT, MPI_MAX, world), "MPI_Allreduce");
  if (code == kExitOk) return code;
  int me = 0, first = 0;
  check(MPI_Comm_rank(world, &me), "MPI_Comm_rank");
  // The message shown belongs to the code the job exits with.
  const int candidate = local.code == code ? me : INT_MAX;
  check(MPI_Allreduce(&candidate, &first, 1, MPI_INT, MPI_MIN, world), "MPI_Allreduce");
  if (me == first) std::fprintf(stderr, "shmjob: error: %s\n", printable(local.message).c_str());
  return code;
}

Failure as_failure(const std::exception& e) {
  if (const auto* error = dynamic_cast<const Error*>(&e)) return {error->exit_code(), error->what()};
  return {kExitInternal, e.what()};
}

}  // namespace shmjob::mpi
