#pragma once
// One writer rank's serial HDF5 file. For each matrix set the writer has ids of, a dataset of
// the set's name, [count, rows, cols], holds matrices first .. first+count-1 at row id - first,
// one matrix per chunk or tiles of compression.chunk, with the filter pipeline (optional shuffle, then zstd 32015)
// declared so any HDF5 reader with the plugin decodes it; the chunks arrive already compressed and are stored as they
// are with H5Dwrite_chunk. After a resume a writer's ids may have holes (ids an earlier run kept): those rows are never
// written and the master does not map them.
//
// Crash consistency: the file's root carries the job's config (attribute "config"), and
// flush() appends the rows written since the last flush to the shard's "index" and flushes HDF5,
// so a SIGKILL leaves a shard that reads back up to its last flush; flushed to the disk (fsync),
// a node crash does too.
// HDF5 1.10 promises nothing for a file whose writer died, because the metadata cache may write
// metadata between flushes; so the metadata cache never evicts (dirty metadata reaches the
// disk only in flush()) and freed file space is never reused (nothing the last flush's
// metadata points at is overwritten).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/matrix_set.hpp"
#include "config/tile_grid.hpp"
#include "h5/h5_handle.hpp"
#include "h5/index_table.hpp"
#include "shmjob/index_row.hpp"
#include "util/safe_file.hpp"

namespace shmjob::h5 {

// The filter mask of a stored chunk: bit i set when filter i of the dataset's pipeline was not
// applied. Shuffle, when the dataset declares it, is filter 0 (compression.shuffle "auto" skips
// it for the matrices it stores unshuffled).
constexpr std::uint32_t chunk_filter_mask(bool shuffle_declared, bool shuffled) noexcept {
  return shuffle_declared && !shuffled ? 1u : 0u;
}

std::string shard_file_name(const std::string& job, std::uint32_t shard);

struct ShardPart {
  const MatrixSet* set;
  std::uint64_t first_id, count;
};

// Where flush() leaves the file: written to the page cache (a killed process loses nothing
// flushed) or also synced to the disk (neither does a node crash). The fsync runs on a thread of
// its own while the writer goes on: it takes as long as the disk needs for everything written
// since the last one (0.11 to 0.17 s here for about 70 MB), and a writer blocked in it stalled
// the whole pipeline, whose compressed slots hold only milliseconds of work.
enum class FlushTo { page_cache, disk };

class ShardWriter {
 public:
  // One dataset per part with count > 0 (parts are indexed like the job's sets). `attributes`
  // become string attributes of the root ("config" and "datasets": resume compares them). The
  // file must not exist yet; the new file is flushed.
  ShardWriter(std::filesystem::path path, const std::vector<ShardPart>& parts, const CompressionConfig& compression,
              const std::map<std::string, std::string>& attributes);

  // Stores matrix `row` of a part from its packed tiles (a compressed slot, see tile_codec.hpp):
  // one H5Dwrite_chunk per tile at the tile's offset. `shuffled` false in a dataset that declares
  // shuffle (compression.shuffle "auto"): the chunks' filter mask says the shuffle was skipped.
  void write_matrix(std::size_t part, std::uint64_t row, const std::byte* packed, std::uint64_t frame_bytes,
                    bool shuffled);
  // Makes everything written so far readable after a crash: appends `new_rows` to the shard's
  // index, flushes HDF5's caches to the file and, for FlushTo::disk, starts an fsync of it (the
  // previous one must have ended: its error, e.g. a full disk, is thrown here). Then, if the
  // metadata cache holds more than kMetadataCacheLimit bytes, closes and reopens the file to
  // empty it (see below).
  void flush(std::span<const IndexRow> new_rows, FlushTo to = FlushTo::disk);
  // Sorts the shard's index table (every row flushed so far: row r goes to position_of(r), a
  // permutation of its rows) and closes the file, reporting any late write error (also of the
  // last fsync, which it waits for).
  void finish(const std::function<std::uint64_t(const IndexRow&)>& position_of);

  const std::filesystem::path& path() const noexcept { return path_; }
  // Bytes in the file's metadata cache now (H5Fget_mdc_size).
  std::size_t metadata_cache_bytes() const;
  // The cache has passed kMetadataCacheLimit: the next flush() will empty it (a writer may
  // flush early for that).
  bool metadata_cache_full() const { return metadata_cache_bytes() > kMetadataCacheLimit; }

  // With evictions off, the cache keeps every chunk-index node this session loaded: a writer
  // grew by ~0.5 KB per matrix (131 MB after 200,000 matrices), most of it v1 B-tree nodes,
  // ~18 KB in memory each for up to 64 chunks. HDF5 1.10 has no call that drops clean entries,
  // so once a flush has made them clean and the cache passes this size, the file is closed and
  // reopened. H5Fget_mdc_size counts the entries' file images (~56 bytes per chunk here), about
  // an eighth of the memory they take: 1 MiB is ~8 MB of memory.
  static constexpr std::size_t kMetadataCacheLimit = std::size_t{1} << 20;

 private:
  void start_sync();
  void end_sync();  // waits for the running fsync, if any; throws its error
  void reopen();
  void hold_identity();  // opens identity_ on the file just created

  std::filesystem::path path_;
  // The created file's inode, held open for the shard's life: reopen() and the fsync reach it
  // through /proc/self/fd, whatever is renamed or linked onto path_ meanwhile.
  fs::UniqueFd identity_;
  File file_;
  std::vector<std::string> names_;  // per part: its dataset's name; empty for empty parts
  std::vector<Dataset> data_;       // per part; invalid for empty parts
  std::vector<TileGrid> grids_;     // per part
  bool shuffle_declared_;           // the datasets' pipeline starts with HDF5's shuffle filter
  GrowingIndex index_;
  // The running fsync (on a descriptor of its own, see start_sync): its errno, 0 if it succeeded.
  // Declared last: destroyed first, its destructor waits for the thread.
  std::future<int> sync_;
};

}  // namespace shmjob::h5
