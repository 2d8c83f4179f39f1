#include "h5/shard_writer.hpp"

#include <array>
#include <cstdio>

#include "h5/index_table.hpp"
#include "h5/zstd_filter.hpp"

namespace shmjob::h5 {

std::string shard_file_name(const std::string& job, std::uint32_t shard) {
  char suffix[32];
  std::snprintf(suffix, sizeof suffix, ".shard-%05u.h5", shard);
  return job + suffix;
}

ShardWriter::ShardWriter(std::filesystem::path path, std::uint64_t first_id, std::uint64_t count,
                         const MatrixSpec& spec, const CompressionConfig& compression)
    : path_(std::move(path)) {
  register_zstd_filter();
  const std::string where = path_.string();
  PropList fapl(H5Pcreate(H5P_FILE_ACCESS), "H5Pcreate");
  check(H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST), "H5Pset_libver_bounds");
  file_ = File(H5Fcreate(where.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl), "create " + where);

  const std::array<hsize_t, 3> dims{count, spec.rows, spec.cols};
  const std::array<hsize_t, 3> chunk{1, spec.rows, spec.cols};
  Dataspace space(H5Screate_simple(3, dims.data(), nullptr), "H5Screate_simple");
  PropList dcpl(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate");
  check(H5Pset_chunk(dcpl, 3, chunk.data()), "H5Pset_chunk");
  // Every chunk is written; filling them first would double the I/O.
  check(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER), "H5Pset_fill_time");
  check(H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_INCR), "H5Pset_alloc_time");
  if (compression.shuffle) check(H5Pset_shuffle(dcpl), "H5Pset_shuffle");
  const unsigned level = static_cast<unsigned>(compression.level);
  check(H5Pset_filter(dcpl, kZstdFilterId, H5Z_FLAG_OPTIONAL, 1, &level), "H5Pset_filter(zstd)");
  data_ = Dataset(H5Dcreate2(file_, "data", native_type(spec.dtype), space, H5P_DEFAULT, dcpl,
                             H5P_DEFAULT),
                  "create dataset data in " + where);
  write_u64_attribute(data_, "first_id", first_id);
}

void ShardWriter::write_chunk(std::uint64_t row, const void* frame, std::size_t frame_bytes) {
  const std::array<hsize_t, 3> offset{row, 0, 0};
  check(H5Dwrite_chunk(data_, H5P_DEFAULT, 0, offset.data(), frame_bytes, frame),
        "write row " + std::to_string(row) + " of " + path_.string());
}

void ShardWriter::finish(std::span<const IndexRow> rows) {
  write_index(file_, "index", rows);
  data_.close("close dataset data in " + path_.string());
  check(H5Fflush(file_, H5F_SCOPE_GLOBAL), "flush " + path_.string());
  file_.close("close " + path_.string());
}

}  // namespace shmjob::h5
