#pragma once
// An input catalog made on rank 0 and sent to every rank: opening each file on every rank would
// multiply the metadata load on a parallel file system.
#include <mpi.h>

#include <functional>

#include "input/input.hpp"

namespace shmjob {

// Collective over `world`: rank 0 calls `scan`; every rank ends with its catalog. Returns the
// agreed exit code (a scan's failure, reported once).
int share_catalog(const std::function<InputCatalog()>& scan, MPI_Comm world, InputCatalog& catalog);

// The same for the job's "input" section (notes of the scan printed on stderr).
int share_catalog(const InputConfig& input, MPI_Comm world, InputCatalog& catalog);

}  // namespace shmjob
