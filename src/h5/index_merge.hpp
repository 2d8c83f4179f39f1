#pragma once
// The rows of several index tables, each sorted by id, in id order, with memory that does not
// grow with the tables: the job's shards' own indexes are read in blocks of kBlockRows (rank 0
// builds the master's index from them), rows already in memory (resume's kept rows) are one
// more input.
#include <cstdint>
#include <filesystem>
#include <queue>
#include <span>
#include <string>
#include <vector>

#include "h5/h5_handle.hpp"
#include "h5/index_table.hpp"
#include "shmjob/index_row.hpp"

namespace shmjob::h5 {

class IndexMerge {
 public:
  static constexpr std::size_t kBlockRows = 1024;  // 136 KB per shard

  // Rows sorted by id, kept alive by the caller.
  void add_rows(std::span<const IndexRow> sorted);
  // The table "index" of a shard file (opened read-only); throws H5Error.
  void add_shard(const std::filesystem::path& shard);

  // The row with the next smallest id (equal ids: in the order the inputs were added) and the
  // number of the input it came from (0, 1, ... in the order added); false when all are read.
  // Throws H5Error if a read fails or a shard's table is not sorted by id.
  bool next(IndexRow& row, std::size_t& input);

 private:
  struct Input {
    std::span<const IndexRow> rows;  // in memory, or the block read last
    std::size_t at = 0;              // next row in `rows`
    // A shard's table: read from `next_row` on.
    std::string where;
    File file;
    Table table;
    std::uint64_t next_row = 0;
    std::vector<IndexRow> block;
  };
  bool refill(Input& input);  // the next block of a shard's table; false at its end

  struct Head {
    std::uint64_t id;
    std::size_t input;
    bool operator>(const Head& o) const { return id != o.id ? id > o.id : input > o.input; }
  };
  std::vector<Input> inputs_;
  std::priority_queue<Head, std::vector<Head>, std::greater<Head>> heads_;
  Datatype memory_type_ = index_row_type();
};

}  // namespace shmjob::h5
