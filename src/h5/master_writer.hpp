#pragma once
// The master file a user opens: "data" is a virtual dataset over every shard (one contiguous
// block per shard, the mapping h5py reads fast), "index" is the job's index table sorted by id,
// and string attributes describe the job. It is written to a temporary name and renamed, so a
// master file exists only for a job that got that far.
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "shmjob/config.hpp"
#include "shmjob/index_row.hpp"

namespace shmjob::h5 {

struct ShardInfo {
  std::string file_name;  // relative to the master's directory
  std::uint64_t first_id = 0;
  std::uint64_t count = 0;
};

void write_master(const std::filesystem::path& path, const MatrixSpec& spec,
                  std::span<const ShardInfo> shards, std::span<const IndexRow> rows,
                  const std::map<std::string, std::string>& attributes);

}  // namespace shmjob::h5
