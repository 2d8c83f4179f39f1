#pragma once
// The compound HDF5 type of IndexRow, writing a table of rows, growing one as a job runs (a
// shard's index, flushed periodically) and reading one back (resume).
#include <cstdint>
#include <span>
#include <vector>

#include "h5/h5_handle.hpp"
#include "shmjob/index_row.hpp"

namespace shmjob::h5 {

Datatype index_row_type();
// Writes `rows` as dataset `name` in `location` (1-D, chunked and deflated: it compresses well).
void write_index(hid_t location, const char* name, std::span<const IndexRow> rows);
// Reads a table written by write_index or GrowingIndex (any compound with IndexRow's member
// names). Throws H5Error.
std::vector<IndexRow> read_index(hid_t location, const char* name);

// An index table that grows: rows are appended at each flush and the whole table can be
// rewritten in place at the end (sorted). Unfiltered fixed-size chunks, so a rewrite never moves
// a chunk: what an earlier flush put on disk stays where the file's metadata says it is.
class GrowingIndex {
 public:
  GrowingIndex() = default;
  GrowingIndex(hid_t location, const char* name, const std::string& where);
  // The table `name` this class created earlier in `location`, holding `rows` rows.
  static GrowingIndex open(hid_t location, const char* name, const std::string& where, std::uint64_t rows);
  void append(std::span<const IndexRow> rows);
  // Replaces the whole table by `rows` (as many as were appended).
  void rewrite(std::span<const IndexRow> rows);
  std::uint64_t size() const noexcept { return size_; }
  void close(const std::string& what) { dataset_.close(what); }

 private:
  void write_at(std::uint64_t first, std::span<const IndexRow> rows);
  Dataset dataset_;
  Datatype memory_type_;
  std::uint64_t size_ = 0;
  std::string where_;
};

}  // namespace shmjob::h5
