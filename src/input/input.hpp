#pragma once
// HDF5 ingest: matrices read from HDF5 files instead of generated. InputConfig (in
// config/input_config.hpp) says which files and which object in them; InputCatalog::scan() opens
// and validates everything once (rank 0) and lists every matrix; the catalog travels to the other
// ranks as bytes; Hdf5MatrixReader reads one matrix straight into a slot. See docs/ingest.md.
#include <compare>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "config/input_config.hpp"
#include "shmjob/dtype.hpp"
#include "shmjob/matrix_shape.hpp"

namespace shmjob {

// One matrix of the input.
struct InputMatrix {
  std::uint32_t file = 0;     // index into InputCatalog::files()
  std::uint32_t dataset = 0;  // index into InputCatalog::datasets()
  std::uint64_t index = 0;    // slice within a 3-D dataset, 0 for a 2-D one
  friend bool operator==(const InputMatrix&, const InputMatrix&) = default;
};

// What an input file looked like when it was scanned; a read that finds it otherwise fails
// (HDF5 reads past the end of a truncated contiguous dataset as zeros, without an error).
struct FileStamp {
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  friend bool operator==(const FileStamp&, const FileStamp&) = default;
};

// One HDF5 dataset that holds matrices.
struct InputDataset {
  std::uint32_t file = 0;
  std::string path;            // absolute path inside the file
  MatrixShape shape;           // dtype in native byte order
  std::uint64_t matrices = 0;  // slices of a 3-D dataset, 1 for a 2-D one
  bool big_endian = false;     // byte order in the file (reads convert to native)
  bool sliced = false;         // 3-D [N, rows, cols] (true) or 2-D (false)
  friend bool operator==(const InputDataset&, const InputDataset&) = default;
};

class InputCatalog {
 public:
  InputCatalog() = default;

  // Opens every file read-only, resolves config.dataset, validates, and lists every matrix in
  // order: files in order, then datasets (name order), then slices. Throws InputError with one
  // line "input: <file>:<object>: <problem>" (see docs/ingest.md for the list). Registers the
  // in-process zstd filter (32015) first. Call h5::silence_hdf5_errors() before, or HDF5 prints
  // its error stack for some rejected inputs on top of the InputError.
  // When config.dataset is unset and the object was found rather than named, `notes` (if given)
  // receives one line saying which object is read, for the user.
  static InputCatalog scan(const InputConfig& config, std::vector<std::string>* notes = nullptr);

  const std::vector<std::string>& files() const noexcept { return files_; }
  const std::vector<FileStamp>& stamps() const noexcept { return stamps_; }  // per file
  const std::vector<InputDataset>& datasets() const noexcept { return datasets_; }
  std::uint64_t size() const noexcept;  // number of matrices
  // Matrix `id` (0 <= id < size(), input order) without listing them all: a binary search over
  // the datasets. Throws std::out_of_range past the end.
  InputMatrix matrix(std::uint64_t id) const;
  // Every matrix in input order, built on each call (16 bytes a matrix): for tests and small
  // inputs; producers should use matrix(id).
  std::vector<InputMatrix> matrices() const;
  std::vector<MatrixShape> shapes() const;  // distinct shapes, first-seen order
  // The matrices of one shape, in input order (an output set per shape): how many there are,
  // and the k-th of them (0 <= k < count(shape); binary search, else std::out_of_range).
  std::uint64_t count(const MatrixShape& shape) const noexcept;
  InputMatrix matrix(const MatrixShape& shape, std::uint64_t k) const;
  std::uint64_t total_bytes() const;       // sum of every matrix's bytes (saturates at 2^64-1)
  std::uint64_t max_matrix_bytes() const;  // largest single matrix (slot size)

  // "file.h5:/frames[12]", as error messages name a matrix.
  std::string describe(const InputMatrix& matrix) const;

  // Compact bytes (files and datasets; the matrix list is rebuilt) so rank 0 can scan once and
  // broadcast. deserialize() validates everything and throws Error on malformed bytes.
  std::vector<std::byte> serialize() const;
  static InputCatalog deserialize(std::span<const std::byte> bytes);

  friend bool operator==(const InputCatalog&, const InputCatalog&) = default;

 private:
  // The datasets of one shape and the shape-local number of each one's first matrix.
  struct ShapeIndex {
    MatrixShape shape;
    std::vector<std::uint32_t> datasets;
    std::vector<std::uint64_t> first;  // then the count
    friend bool operator==(const ShapeIndex&, const ShapeIndex&) = default;
  };

  // Fills first_ and by_shape_ from datasets_.
  void index_matrices();
  InputMatrix locate(const std::vector<std::uint64_t>& first, std::uint64_t k,
                     const std::vector<std::uint32_t>* datasets) const;

  std::vector<std::string> files_;
  std::vector<FileStamp> stamps_;
  std::vector<InputDataset> datasets_;
  std::vector<std::uint64_t> first_{0};  // id of each dataset's first matrix, then the total
  std::vector<ShapeIndex> by_shape_;     // first-seen order
};

// Reads matrices with hyperslab selections straight into caller memory (a slot), converting to
// native byte order through the native memory type: shmjob makes no copy of its own. Keeps the
// most recently used files (up to 8) and datasets (up to 4 per file) open. Not thread-safe; one
// per producer rank.
class Hdf5MatrixReader {
 public:
  static constexpr std::size_t kOpenFiles = 8;
  static constexpr std::size_t kOpenDatasetsPerFile = 4;

  // Keeps a reference: the catalog must outlive the reader.
  explicit Hdf5MatrixReader(const InputCatalog& catalog);
  ~Hdf5MatrixReader();
  Hdf5MatrixReader(Hdf5MatrixReader&&) noexcept;
  Hdf5MatrixReader& operator=(Hdf5MatrixReader&&) noexcept;
  Hdf5MatrixReader(const Hdf5MatrixReader&) = delete;
  Hdf5MatrixReader& operator=(const Hdf5MatrixReader&) = delete;

  // Reads `matrix` (rows x cols, row-major, native byte order) into destination. Throws
  // InputError (exit code 3, a runtime I/O failure: the job is running) naming
  // "file:/dataset[index]" on failure: a capacity below the matrix's bytes, a chunk that fails
  // its checksum or filter, an unreadable data region, a file changed since the scan (its size
  // or modification time differs from the catalog's stamp, checked after every read). A matrix
  // not in the catalog is a programming error: std::out_of_range.
  void read(const InputMatrix& matrix, void* destination, std::size_t capacity);
  // Rows [first_row, first_row + rows) of `matrix` (rows x cols values at destination), with the
  // same checks (the chunks of the whole matrix are size-checked): for reading one matrix in
  // parts, each by another process.
  void read_rows(const InputMatrix& matrix, std::uint32_t first_row, std::uint32_t rows, void* destination,
                 std::size_t capacity);

  std::size_t open_files() const noexcept;  // for tests of the cache

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace shmjob
