#pragma once
// Reading a job's output by matrix id. A Reader opens the master file once, loads every index
// table (index-first: no data is touched to find a matrix), then reads matrices or slices of
// them straight from the shards: it fetches the stored chunks (H5Dread_chunk) of only the tiles
// a request covers and decodes them itself (zstd, unshuffle), keeping decoded tiles in a bounded
// LRU cache. The zstd filter is registered in-process: no HDF5_PLUGIN_PATH is needed.
//
// Thread safety: every method may be called from several threads at once. HDF5 (serial build)
// is not thread-safe, so all HDF5 calls of all Readers in the process are serialised; decoding
// runs outside that lock, in the calling thread. Opening a Reader turns off HDF5's automatic
// error-stack printing for the process (errors reach the caller as exceptions instead).
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "shmjob/dtype.hpp"
#include "shmjob/error.hpp"
#include "shmjob/index_row.hpp"
#include "shmjob/matrix_shape.hpp"

namespace shmjob {

struct ReaderOptions {
  std::size_t cache_bytes = std::size_t{256} << 20;  // decoded tiles kept (LRU); 0: none
  bool verify_checksums = false;                     // read(): compare the matrix's CRC-32 with its index row
};

// Half-open range [begin, end) of rows or columns.
struct Range {
  std::uint64_t begin = 0, end = 0;
  std::uint64_t size() const noexcept { return end - begin; }
};

// One output dataset of the job (one per shape/dtype; a synthetic job has one, "data").
struct MatrixSetInfo {
  std::string name, index_name;
  MatrixShape shape;
  std::uint64_t first_id = 0, count = 0;
  std::uint32_t tile_rows = 0, tile_cols = 0;  // chunk shape (the whole matrix when untiled)
};

// A matrix or a slice of one, row-major, native byte order.
struct Matrix {
  std::uint64_t id = 0;
  std::uint64_t rows = 0, cols = 0;
  DType dtype = DType::float64;
  std::vector<std::byte> bytes;

  // The values as T; throws ReaderError if T is not the matrix's dtype.
  template <class T>
  std::span<const T> values() const {
    if (!holds<T>())
      throw ReaderError("matrix " + std::to_string(id) + " is " + std::string(dtype_name(dtype)) +
                        ", not the requested type");
    return {reinterpret_cast<const T*>(bytes.data()), bytes.size() / sizeof(T)};
  }
  template <class T>
  bool holds() const {
    return visit_dtype(dtype, [](auto v) { return std::is_same_v<decltype(v), T>; });
  }
};

struct CacheStats {
  std::uint64_t hits = 0, misses = 0, evictions = 0;
  std::uint64_t entries = 0, bytes = 0, capacity = 0;   // current content and its bound
  std::uint64_t chunks_decoded = 0, bytes_decoded = 0;  // decoded tiles (raw bytes) so far
};

class Reader {
 public:
  // `path`: a master file, or an output directory holding one. Loads the index; throws
  // ReaderError (exit code 2) when there is no master, H5Error when it cannot be read.
  explicit Reader(const std::filesystem::path& path, ReaderOptions options = {});
  ~Reader();
  Reader(Reader&&) noexcept;
  Reader& operator=(Reader&&) noexcept;

  const std::filesystem::path& master_path() const noexcept;
  std::string status() const;                            // "complete" or "interrupted"
  std::string attribute(const std::string& name) const;  // a string attribute; "" if absent
  const std::vector<MatrixSetInfo>& sets() const noexcept;
  const std::vector<IndexRow>& index() const noexcept;  // every set's rows, sorted by id
  std::uint64_t count() const noexcept;                 // ids the job was to write: 0 .. count-1
  // The shard file of a shard number, as listed by the master (relative to its directory).
  std::filesystem::path shard_path(std::uint32_t shard) const;

  bool has(std::uint64_t id) const noexcept;  // in the index
  const IndexRow& info(std::uint64_t id) const;
  const MatrixSetInfo& set_of(std::uint64_t id) const;

  Matrix read(std::uint64_t id) const;
  Matrix read_slice(std::uint64_t id, Range rows, Range cols) const;
  // Sum of the stored (compressed) sizes of every chunk of matrix `id`, from the shard's
  // chunk index; throws if a chunk is not stored.
  std::uint64_t stored_bytes(std::uint64_t id) const;

  CacheStats cache_stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The master file of `path` (a master file, or a directory holding exactly one).
// Throws ReaderError (exit code 2) naming what was found instead.
std::filesystem::path find_master(const std::filesystem::path& path);

}  // namespace shmjob
