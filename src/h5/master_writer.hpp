#pragma once
// The master file a user opens. Per matrix set: a virtual dataset over every shard and an index
// table sorted by id. The virtual dataset maps each run of consecutive ids the index places at
// consecutive rows of one shard as one block: one block per shard for a job run in one go (the
// mapping h5py reads fast), a few more after a resume; ids not in the index are not mapped and
// read as zeros.
// For ingests, group "inputs" lists the source files and dataset paths the index refers to.
// String attributes describe the job. The file is written in a private directory and renamed
// onto its name (never through a link planted there), so a master file exists only for a job
// that got that far.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "shmjob/dtype.hpp"

#include "config/matrix_set.hpp"
#include "shmjob/index_row.hpp"

namespace shmjob::h5 {

// A shard the master maps: per set, its dataset's first id and rows (count 0: no dataset).
struct ShardInfo {
  std::uint32_t number = 0;
  std::string file_name;                       // relative to the master's directory
  std::vector<std::uint64_t> first_id, count;  // per set
};

struct InputList {
  std::vector<std::string> files;
  std::vector<std::string> datasets;
};

// A 2-D array the master holds besides the sets (a reduction: "reduce/mean"). Groups on the way
// are created; `attributes` become string attributes of the dataset.
struct MasterArray {
  std::string path;
  std::uint32_t rows = 0, cols = 0;
  DType dtype = DType::float64;
  std::vector<std::byte> bytes;  // rows * cols values, row-major, native byte order
  std::map<std::string, std::string> attributes;
};

// Gives the next index row, in increasing id order; false after the last.
using RowSource = std::function<bool(IndexRow&)>;

// `rows` gives every set's rows, sorted by id, each once; every row's shard is in `shards`.
// Memory does not grow with the number of rows: they are read once and written in chunks.
// `before_publish` runs once the file is complete and closed, before it gets its name: a check
// that throws leaves no master.
void write_master(const std::filesystem::path& path, const std::vector<MatrixSet>& sets,
                  std::span<const ShardInfo> shards, const RowSource& rows, const InputList& inputs,
                  const std::map<std::string, std::string>& attributes,
                  const std::function<void()>& before_publish = {}, std::span<const MasterArray> arrays = {});
// The same from rows in memory.
void write_master(const std::filesystem::path& path, const std::vector<MatrixSet>& sets,
                  std::span<const ShardInfo> shards, std::span<const IndexRow> rows, const InputList& inputs,
                  const std::map<std::string, std::string>& attributes,
                  const std::function<void()>& before_publish = {});

}  // namespace shmjob::h5
