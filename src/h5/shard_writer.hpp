#pragma once
// One writer rank's serial HDF5 file. Dataset "data" [count, rows, cols] holds the matrices with
// ids first .. first+count-1 at row id - first, one matrix per chunk, with the filter pipeline
// (optional shuffle, then zstd 32015) declared so any HDF5 reader with the plugin decodes it;
// the chunks arrive already compressed and are stored as they are with H5Dwrite_chunk.
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

#include "h5/h5_handle.hpp"
#include "shmjob/config.hpp"
#include "shmjob/index_row.hpp"

namespace shmjob::h5 {

std::string shard_file_name(const std::string& job, std::uint32_t shard);

class ShardWriter {
 public:
  ShardWriter(std::filesystem::path path, std::uint64_t first_id, std::uint64_t count,
              const MatrixSpec& spec, const CompressionConfig& compression);

  void write_chunk(std::uint64_t row, const void* frame, std::size_t frame_bytes);
  // Stores the shard's index table and closes the file, reporting any late write error.
  void finish(std::span<const IndexRow> rows);

  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
  File file_;
  Dataset data_;
};

}  // namespace shmjob::h5
