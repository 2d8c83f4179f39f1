#include "mpi/agreement.hpp"

#include <climits>
#include <cstdio>

#include "mpi/mpi_error.hpp"

namespace shmjob::mpi {

int agree(MPI_Comm world, const Failure& local) {
  int code = 0;
  check(MPI_Allreduce(&local.code, &code, 1, MPI_INT, MPI_MAX, world), "MPI_Allreduce");
  if (code == kExitOk) return code;
  int me = 0, first = 0;
  check(MPI_Comm_rank(world, &me), "MPI_Comm_rank");
  const int candidate = local.code != kExitOk ? me : INT_MAX;
  check(MPI_Allreduce(&candidate, &first, 1, MPI_INT, MPI_MIN, world), "MPI_Allreduce");
  if (me == first) std::fprintf(stderr, "shmjob: error: %s\n", local.message.c_str());
  return code;
}

Failure as_failure(const std::exception& e) {
  if (const auto* error = dynamic_cast<const Error*>(&e)) return {error->exit_code(), error->what()};
  return {kExitRuntime, e.what()};
}

}  // namespace shmjob::mpi
