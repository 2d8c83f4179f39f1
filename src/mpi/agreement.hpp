#pragma once
// Ranks agreeing on failure: every step that can fail on some ranks ends with agree(), so all
// ranks leave together with the same exit code and the user sees one message.
#include <mpi.h>

#include <exception>
#include <string>

#include "shmjob/error.hpp"

namespace shmjob::mpi {

struct Failure {
  int code = kExitOk;
  std::string message;
};

// Every rank learns the highest exit code; the lowest rank failing with that code prints its
// message, once.
// Collective over `world`; returns the agreed exit code.
int agree(MPI_Comm world, const Failure& local);

// The exit code and message of an exception (an Error carries its own exit code).
Failure as_failure(const std::exception& e);

}  // namespace shmjob::mpi
