#pragma once
#include <mpi.h>

#include <string_view>

namespace shmjob::mpi {

// Throws MpiError("MPI: <what>: <MPI's error string>") unless rc == MPI_SUCCESS.
void check(int rc, std::string_view what);

}  // namespace shmjob::mpi
