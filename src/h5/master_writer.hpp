#pragma once
// The master file a user opens. Per matrix set: a virtual dataset over every shard (one
// contiguous block per shard, the mapping h5py reads fast) and an index table sorted by id.
// For ingests, group "inputs" lists the source files and dataset paths the index refers to.
// String attributes describe the job. The file is written under a temporary name and renamed,
// so a master file exists only for a job that got that far.
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "shmjob/index_row.hpp"
#include "shmjob/matrix_set.hpp"

namespace shmjob::h5 {

struct ShardInfo {
  std::string file_name;  // relative to the master's directory
  std::vector<std::uint64_t> first_id, count;  // per set
};

struct InputList {
  std::vector<std::string> files;
  std::vector<std::string> datasets;
};

// `rows` holds every set's rows, sorted by id.
void write_master(const std::filesystem::path& path, const std::vector<MatrixSet>& sets,
                  std::span<const ShardInfo> shards, std::span<const IndexRow> rows,
                  const InputList& inputs, const std::map<std::string, std::string>& attributes);

}  // namespace shmjob::h5
