#include "job/share_catalog.hpp"

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "mpi/agreement.hpp"
#include "mpi/mpi_error.hpp"
#include "util/printable.hpp"

namespace shmjob {

int share_catalog(const std::function<InputCatalog()>& scan, MPI_Comm world, InputCatalog& catalog) {
  mpi::Failure failure;
  int rank = 0;
  mpi::check(MPI_Comm_rank(world, &rank), "MPI_Comm_rank");
  std::vector<std::byte> bytes;
  if (rank == 0) {
    try {
      bytes = scan().serialize();
    } catch (const std::exception& e) {
      failure = mpi::as_failure(e);
    }
  }
  if (const int code = mpi::agree(world, failure)) return code;
  std::uint64_t size = bytes.size();
  mpi::check(MPI_Bcast(&size, 1, MPI_UINT64_T, 0, world), "MPI_Bcast");
  bytes.resize(size);
  for (std::uint64_t done = 0; done < size;) {  // MPI counts are ints
    const int n = static_cast<int>(std::min<std::uint64_t>(size - done, 1u << 30));
    mpi::check(MPI_Bcast(bytes.data() + done, n, MPI_BYTE, 0, world), "MPI_Bcast");
    done += static_cast<std::uint64_t>(n);
  }
  catalog = InputCatalog::deserialize(bytes);
  return kExitOk;
}

int share_catalog(const InputConfig& input, MPI_Comm world, InputCatalog& catalog) {
  return share_catalog(
      [&] {
        std::vector<std::string> notes;
        InputCatalog scanned = InputCatalog::scan(input, &notes);
        for (const std::string& note : notes) std::fprintf(stderr, "shmjob: note: %s\n", printable(note).c_str());
        return scanned;
      },
      world, catalog);
}

}  // namespace shmjob
