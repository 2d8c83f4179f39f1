#include "h5/shard_writer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "codec/tile_codec.hpp"
#include "h5/index_table.hpp"
#include "h5/zstd_filter.hpp"
#include "shmjob/error.hpp"

namespace shmjob::h5 {
namespace {
Dataset create_matrix_dataset(hid_t file, const MatrixSet& set, std::uint64_t count,
                              const CompressionConfig& compression, const std::string& where) {
  const std::array<hsize_t, 3> dims{count, set.shape.rows, set.shape.cols};
  const TileGrid grid = tile_grid(set.shape.rows, set.shape.cols, compression.chunk);
  const std::array<hsize_t, 3> chunk{1, grid.tile_rows, grid.tile_cols};
  Dataspace space(H5Screate_simple(3, dims.data(), nullptr), "H5Screate_simple");
  PropList dcpl(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate");
  check(H5Pset_chunk(dcpl, 3, chunk.data()), "H5Pset_chunk");
  // Every chunk is written; filling them first would double the I/O.
  check(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER), "H5Pset_fill_time");
  check(H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_INCR), "H5Pset_alloc_time");
  if (compression.shuffle) check(H5Pset_shuffle(dcpl), "H5Pset_shuffle");
  const unsigned level = static_cast<unsigned>(compression.level);
  check(H5Pset_filter(dcpl, kZstdFilterId, H5Z_FLAG_OPTIONAL, 1, &level), "H5Pset_filter(zstd)");
  return Dataset(
      H5Dcreate2(file, set.name.c_str(), native_type(set.shape.dtype), space, H5P_DEFAULT, dcpl, H5P_DEFAULT),
      "create dataset " + set.name + " in " + where);
}

// Metadata reaches the file only when we flush: no evictions (they would write half-updated
// structures between flushes), and no automatic resizing (required with evictions off).
void keep_metadata_until_flush(hid_t fapl) {
  H5AC_cache_config_t mdc{};
  mdc.version = H5AC__CURR_CACHE_CONFIG_VERSION;
  check(H5Pget_mdc_config(fapl, &mdc), "H5Pget_mdc_config");
  mdc.evictions_enabled = false;
  mdc.incr_mode = H5C_incr__off;
  mdc.flash_incr_mode = H5C_flash_incr__off;
  mdc.decr_mode = H5C_decr__off;
  check(H5Pset_mdc_config(fapl, &mdc), "H5Pset_mdc_config");
}

PropList shard_access_properties() {
  PropList fapl(H5Pcreate(H5P_FILE_ACCESS), "H5Pcreate");
  // 1.8 format: HDF5 1.10's superblock v3 marks a file "open for write" until it is closed, and
  // a shard whose writer was killed could then only be opened after h5clear.
  check(H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST), "H5Pset_libver_bounds");
  keep_metadata_until_flush(fapl);
  // No HDF5 file lock: a reader holding the shard open (h5py, h5dump, a monitoring loop) would
  // make the writer's reopen fail ("driver lock request failed") and with it the job. That no
  // second writer touches the shard is the job lock's business (util/job_lock.hpp).
  check(H5Pset_file_locking(fapl, false, true), "H5Pset_file_locking");
  return fapl;
}
}  // namespace

std::string shard_file_name(const std::string& job, std::uint32_t shard) {
  char suffix[32];
  std::snprintf(suffix, sizeof suffix, ".shard-%05u.h5", shard);
  return job + suffix;
}

ShardWriter::ShardWriter(std::filesystem::path path, const std::vector<ShardPart>& parts,
                         const CompressionConfig& compression, const std::map<std::string, std::string>& attributes)
    : path_(std::move(path)), shuffle_declared_(compression.shuffle) {
  register_zstd_filter();
  const std::string where = path_.string();
  const PropList fapl = shard_access_properties();
  PropList fcpl(H5Pcreate(H5P_FILE_CREATE), "H5Pcreate");
  // Freed space (e.g. an index chunk's old copy) is never handed out again in this session.
  check(H5Pset_file_space_strategy(fcpl, H5F_FSPACE_STRATEGY_NONE, false, 1), "H5Pset_file_space_strategy");
  file_ = File(H5Fcreate(where.c_str(), H5F_ACC_EXCL, fcpl, fapl), "create " + where);
  hold_identity();
  for (const auto& [name, value] : attributes) write_string_attribute(file_, name.c_str(), value);
  for (const ShardPart& part : parts) {
    names_.push_back(part.count > 0 ? part.set->name : std::string());
    data_.emplace_back();
    grids_.push_back(tile_grid(part.set->shape.rows, part.set->shape.cols, compression.chunk));
    if (part.count == 0) continue;
    data_.back() = create_matrix_dataset(file_, *part.set, part.count, compression, where);
    write_u64_attribute(data_.back(), "first_id", part.first_id);
  }
  index_ = GrowingIndex(file_, "index", where);
  flush({});
}

void ShardWriter::write_matrix(std::size_t part, std::uint64_t row, const std::byte* packed, std::uint64_t frame_bytes,
                               bool shuffled) {
  const TileGrid& grid = grids_.at(part);
  const hid_t data = data_.at(part);
  if (shuffled && !shuffle_declared_) throw std::logic_error("a shuffled matrix for a dataset without shuffle");
  const std::uint32_t mask = chunk_filter_mask(shuffle_declared_, shuffled);
  codec::PackedTiles(packed, grid.count(), frame_bytes)
      .for_each([&](std::uint64_t k, const std::byte* frame, std::uint64_t bytes) {
        const std::array<hsize_t, 3> offset{row, grid.first_row(k), grid.first_col(k)};
        check(H5Dwrite_chunk(data, H5P_DEFAULT, mask, offset.data(), static_cast<std::size_t>(bytes), frame),
              "write row " + std::to_string(row) + " of " + path_.string());
      });
}

void ShardWriter::flush(std::span<const IndexRow> new_rows, FlushTo to) {
  index_.append(new_rows);
  check(H5Fflush(file_, H5F_SCOPE_LOCAL), "flush " + path_.string());
  if (to == FlushTo::disk) start_sync();
  if (metadata_cache_full()) reopen();
}

namespace {
std::string proc_fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }
}  // namespace

void ShardWriter::hold_identity() {
  void* handle = nullptr;
  check(H5Fget_vfd_handle(file_, H5P_DEFAULT, &handle), "H5Fget_vfd_handle of " + path_.string());
  // An open of HDF5's descriptor's /proc link reaches its inode, not whatever the name means now.
  identity_ = fs::UniqueFd(::open(proc_fd_path(*static_cast<const int*>(handle)).c_str(), O_RDONLY | O_CLOEXEC));
  if (identity_.get() < 0)
    throw H5Error("HDF5: cannot hold " + path_.string() + " open through /proc/self/fd: " + std::strerror(errno));
}

void ShardWriter::start_sync() {
  end_sync();
  // A descriptor of its own on the shard's inode: the shard may be closed and reopened
  // (reopen()) while it syncs. fsync of any descriptor syncs the file's data.
  const int fd = ::dup(identity_.get());
  if (fd < 0) throw H5Error("HDF5: fsync " + path_.string() + ": " + std::strerror(errno));
  try {
    sync_ = std::async(std::launch::async, [fd] {
      const int error = ::fsync(fd) == 0 ? 0 : errno;
      ::close(fd);
      return error;
    });
  } catch (...) {
    ::close(fd);
    throw;
  }
}

void ShardWriter::end_sync() {
  if (!sync_.valid()) return;
  if (const int error = sync_.get(); error != 0)
    throw H5Error("HDF5: fsync " + path_.string() + ": " + std::strerror(error));
}

std::size_t ShardWriter::metadata_cache_bytes() const {
  std::size_t max_size = 0, min_clean = 0, current = 0;
  int entries = 0;
  check(H5Fget_mdc_size(file_, &max_size, &min_clean, &current, &entries), "H5Fget_mdc_size");
  return current;
}

// Everything is on disk (flush() just ran): closing writes nothing new, and the reopened file
// starts with an empty cache. Free space is not tracked (H5F_FSPACE_STRATEGY_NONE), so the new
// session does not reuse space the flushed metadata points at either.
void ShardWriter::reopen() {
  const std::string where = path_.string();
  const std::uint64_t index_rows = index_.size();
  index_.close("close the index of " + where);
  for (Dataset& d : data_) d.close("close a dataset of " + where);
  file_.close("close " + where);
  const PropList fapl = shard_access_properties();
  // Through the held descriptor: a link or another file renamed onto the shard's name since it
  // was created is never opened (let alone written).
  file_ = File(H5Fopen(proc_fd_path(identity_.get()).c_str(), H5F_ACC_RDWR, fapl), "reopen " + where);
  for (std::size_t i = 0; i < data_.size(); ++i)
    if (!names_[i].empty())
      data_[i] =
          Dataset(H5Dopen2(file_, names_[i].c_str(), H5P_DEFAULT), "reopen dataset " + names_[i] + " in " + where);
  index_ = GrowingIndex::open(file_, "index", where, index_rows);
}

void ShardWriter::finish(const std::function<std::uint64_t(const IndexRow&)>& position_of) {
  index_.permute(file_, position_of);
  index_.close("close the index of " + path_.string());
  for (Dataset& d : data_) d.close("close a dataset of " + path_.string());
  check(H5Fflush(file_, H5F_SCOPE_GLOBAL), "flush " + path_.string());
  file_.close("close " + path_.string());
  end_sync();
}

}  // namespace shmjob::h5
