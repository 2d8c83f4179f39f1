#pragma once
// Reading back a shard (or a master) an earlier run left, to find what is intact: a shard's
// attributes, its datasets' extents, its own index, and whether one matrix's stored chunk is
// there, decompresses and matches the crc32 its index row records. Read-only; for --resume.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "config/matrix_set.hpp"
#include "config/tile_grid.hpp"
#include "h5/h5_handle.hpp"
#include "shmjob/index_row.hpp"

namespace shmjob::h5 {

// A string attribute of `object`, or nullopt if it has none (or it is not a string).
std::optional<std::string> read_string_attribute_if_any(hid_t object, const char* name);

class ShardReader {
 public:
  // Opens `path` read-only; throws H5Error if it is not a readable HDF5 file.
  explicit ShardReader(const std::filesystem::path& path);
  hid_t file() const noexcept { return file_; }

  struct Extent {
    std::uint64_t first_id = 0, count = 0;  // count 0: no dataset for this set
  };
  // The dataset of `set`: its first_id attribute and number of rows.
  Extent extent(const MatrixSet& set) const;
  // Empty when `row`'s matrix is stored intact in this file: every chunk (tile) of row
  // `row.row` of the dataset of `set` exists, their sizes add up to row.compressed_bytes, each
  // decompresses (zstd, then unshuffle when the dataset declares shuffle) to a full tile, and
  // the assembled set.bytes() bytes have the crc32 row.crc32; and row.row == row.id - first_id.
  // Otherwise what is wrong.
  std::string problem_with(const IndexRow& row, const MatrixSet& set) const;

 private:
  struct Part {
    Dataset data;
    Extent extent;
    TileGrid grid;
    bool shuffled = false;
  };
  const Part* part(const MatrixSet& set) const;

  std::filesystem::path path_;
  File file_;
  mutable std::vector<std::pair<std::string, Part>> parts_;  // opened on first use
  mutable std::vector<std::byte> frame_, tile_, matrix_, scratch_;
};

}  // namespace shmjob::h5
