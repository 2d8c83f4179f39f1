#pragma once
// The compound HDF5 type of IndexRow, writing a table of rows in one pass (the master's index),
// growing one as a job runs (a shard's index, flushed periodically) and reading one back (the
// master's merge, resume).
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "h5/h5_handle.hpp"
#include "shmjob/index_row.hpp"

namespace shmjob::h5 {

Datatype index_row_type();
// Rows first .. first + rows.size() - 1 of the 1-D table `table` (which must be that long), in
// `memory_type` (index_row_type()). `what` names the table in errors.
void write_rows(hid_t table, hid_t memory_type, std::uint64_t first, std::span<const IndexRow> rows,
                const std::string& what);
void read_rows(hid_t table, hid_t memory_type, std::uint64_t first, std::span<IndexRow> rows, const std::string& what);
// Writes a table row by row in one pass (the master's index): dataset `name` in `location`,
// 1-D, chunked and deflated (it compresses well), growing by a chunk of buffered rows at a time.
class IndexWriter {
 public:
  static constexpr std::size_t kChunkRows = 16384;
  IndexWriter(hid_t location, const char* name);
  void add(const IndexRow& row);
  // Writes the buffered rows and closes the table; throws H5Error.
  void close();

 private:
  void write_buffered();
  Dataset dataset_;
  Datatype memory_type_;
  std::string name_;
  std::vector<IndexRow> buffer_;
  std::uint64_t size_ = 0;
};
// An index table opened for reading: the dataset and its number of rows.
struct Table {
  Dataset data;
  std::uint64_t rows = 0;
};
// Opens table `name` of `location`; throws H5Error (naming `what`) if it is missing or not 1-D.
Table open_table(hid_t location, const char* name, const std::string& what);
// Reads a table written by IndexWriter or GrowingIndex (any compound with IndexRow's member
// names). Throws H5Error.
std::vector<IndexRow> read_index(hid_t location, const char* name);

// An index table that grows: rows are appended at each flush (in the order they come) and the
// table can be put in another order at the end (sorted by id). Unfiltered fixed-size chunks, so
// appending never moves a chunk: what an earlier flush put on disk stays where the file's
// metadata says it is.
class GrowingIndex {
 public:
  GrowingIndex() = default;
  GrowingIndex(hid_t location, const char* name, const std::string& where);
  // The table `name` this class created earlier in `location`, holding `rows` rows.
  static GrowingIndex open(hid_t location, const char* name, const std::string& where, std::uint64_t rows);
  void append(std::span<const IndexRow> rows);
  // Rows first .. first + out.size() - 1.
  void read_at(std::uint64_t first, std::span<IndexRow> out) const;
  // Reorders the table: row r goes to position_of(r), a permutation of 0 .. size() - 1. The rows
  // are copied in blocks into a new table that takes this one's name once it is complete, so
  // memory does not grow with the table and the file's metadata (written only at a flush) names
  // either the old table or the complete new one.
  void permute(hid_t location, const std::function<std::uint64_t(const IndexRow&)>& position_of);
  std::uint64_t size() const noexcept { return size_; }
  void close(const std::string& what) { dataset_.close(what); }

 private:
  Dataset dataset_;
  std::string name_;
  Datatype memory_type_;
  std::uint64_t size_ = 0;
  std::string where_;
};

}  // namespace shmjob::h5
