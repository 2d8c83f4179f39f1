#pragma once
// One writer rank's serial HDF5 file. For each matrix set the writer has ids of, a dataset of
// the set's name, [count, rows, cols], holds matrices first .. first+count-1 at row id - first,
// one matrix per chunk or tiles of compression.chunk, with the filter pipeline (optional shuffle, then zstd 32015) declared so
// any HDF5 reader with the plugin decodes it; the chunks arrive already compressed and are
// stored as they are with H5Dwrite_chunk.
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "h5/h5_handle.hpp"
#include "shmjob/config.hpp"
#include "shmjob/index_row.hpp"
#include "shmjob/matrix_set.hpp"
#include "shmjob/tile_grid.hpp"

namespace shmjob::h5 {

std::string shard_file_name(const std::string& job, std::uint32_t shard);

struct ShardPart {
  const MatrixSet* set;
  std::uint64_t first_id, count;
};

class ShardWriter {
 public:
  // One dataset per part with count > 0 (parts are indexed like the job's sets).
  ShardWriter(std::filesystem::path path, const std::vector<ShardPart>& parts,
              const CompressionConfig& compression);

  // Stores matrix `row` of a part from its packed tiles (a compressed slot, see tile_codec.hpp):
  // one H5Dwrite_chunk per tile at the tile's offset.
  void write_matrix(std::size_t part, std::uint64_t row, const std::byte* packed, std::uint64_t frame_bytes);
  // Stores the shard's index table (all its rows, sorted by id) and closes the file, reporting
  // any late write error.
  void finish(std::span<const IndexRow> rows);

  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
  File file_;
  std::vector<Dataset> data_;  // per part; invalid for empty parts
  std::vector<TileGrid> grids_;  // per part
};

}  // namespace shmjob::h5
