#pragma once
// Checking a job's output end to end, without trusting the virtual dataset (a missing shard
// reads as fill values through it without any error): the master's status, the index (no id
// missing or doubled), every shard present and readable, every chunk of every indexed matrix
// stored, decodable and of the size the index records, every matrix's CRC-32, and the master's
// VDS mapping each id to the shard and row the index names.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "shmjob/error.hpp"  // ReaderError

namespace shmjob {

struct VerifyProblem {
  std::optional<std::uint64_t> first_id, last_id;  // the matrices concerned, if any
  std::string file;                                // the file at fault
  std::string what;
  // "matrix 17: out/x.shard-00001.h5: ..." / "matrices 10..19: ..." / "out/x.h5: ..."
  std::string text() const;
};

struct VerifyReport {
  std::filesystem::path master;
  std::string status;
  std::uint64_t matrices = 0;       // ids the job was to write
  std::uint64_t matrices_read = 0;  // matrices decoded and checked
  std::uint64_t shards = 0;
  std::vector<VerifyProblem> problems;
  bool ok() const noexcept { return problems.empty(); }
};

// `path`: the master file or the output directory. Throws ReaderError (exit code 2) when there
// is no master to check; everything wrong with the output is a problem in the report.
VerifyReport verify_output(const std::filesystem::path& path);

}  // namespace shmjob
