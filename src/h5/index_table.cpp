#include "h5/index_table.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <string>

#include "shmjob/error.hpp"

namespace shmjob::h5 {

Datatype index_row_type() {
  Datatype t(H5Tcreate(H5T_COMPOUND, sizeof(IndexRow)), "create the index type");
  auto add = [&](const char* name, std::size_t offset, hid_t type) {
    check(H5Tinsert(t, name, offset, type), "H5Tinsert");
  };
  add("id", offsetof(IndexRow, id), H5T_NATIVE_UINT64);
  add("shard", offsetof(IndexRow, shard), H5T_NATIVE_UINT32);
  add("row", offsetof(IndexRow, row), H5T_NATIVE_UINT64);
  add("raw_bytes", offsetof(IndexRow, raw_bytes), H5T_NATIVE_UINT64);
  add("compressed_bytes", offsetof(IndexRow, compressed_bytes), H5T_NATIVE_UINT64);
  add("crc32", offsetof(IndexRow, crc32), H5T_NATIVE_UINT32);
  add("min", offsetof(IndexRow, min), H5T_NATIVE_DOUBLE);
  add("max", offsetof(IndexRow, max), H5T_NATIVE_DOUBLE);
  add("mean", offsetof(IndexRow, mean), H5T_NATIVE_DOUBLE);
  add("producer", offsetof(IndexRow, producer), H5T_NATIVE_INT32);
  add("compressor", offsetof(IndexRow, compressor), H5T_NATIVE_INT32);
  add("writer", offsetof(IndexRow, writer), H5T_NATIVE_INT32);
  add("t_produced", offsetof(IndexRow, t_produced), H5T_NATIVE_DOUBLE);
  add("t_compressed", offsetof(IndexRow, t_compressed), H5T_NATIVE_DOUBLE);
  add("t_written", offsetof(IndexRow, t_written), H5T_NATIVE_DOUBLE);
  add("source_file", offsetof(IndexRow, source_file), H5T_NATIVE_UINT32);
  add("source_dataset", offsetof(IndexRow, source_dataset), H5T_NATIVE_UINT32);
  add("source_index", offsetof(IndexRow, source_index), H5T_NATIVE_UINT64);
  add("level", offsetof(IndexRow, level), H5T_NATIVE_INT32);
  add("shuffled", offsetof(IndexRow, shuffled), H5T_NATIVE_UINT32);
  return t;
}

namespace {
// The selection of rows first .. first + count - 1 in `table` and a memory space of `count`.
struct RowSelection {
  Dataspace file, memory;
  RowSelection(hid_t table, std::uint64_t first, std::size_t count, const std::string& what)
      : file(H5Dget_space(table), what) {
    const hsize_t start = first, n = count;
    check(H5Sselect_hyperslab(file, H5S_SELECT_SET, &start, nullptr, &n, nullptr), what);
    memory = Dataspace(H5Screate_simple(1, &n, nullptr), what);
  }
};

constexpr hsize_t kGrowingChunkRows = 1024;
constexpr std::size_t kPermuteBlockRows = 16384;  // 2.2 MB of rows at a time

// A 1-D table of `rows` index rows that can grow: chunks of `chunk_rows`, deflated or not, the
// row type stored packed (no struct padding, i.e. no uninitialised bytes, reaches the file).
Dataset create_table(hid_t location, const std::string& name, hsize_t rows, hsize_t chunk_rows, bool deflate,
                     const std::string& where) {
  Datatype packed(H5Tcopy(index_row_type()), "H5Tcopy");
  check(H5Tpack(packed), "H5Tpack");
  const hsize_t unlimited = H5S_UNLIMITED;
  Dataspace space(H5Screate_simple(1, &rows, &unlimited), "H5Screate_simple");
  PropList dcpl(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate");
  check(H5Pset_chunk(dcpl, 1, &chunk_rows), "H5Pset_chunk");
  if (deflate) check(H5Pset_deflate(dcpl, 4), "H5Pset_deflate");
  return Dataset(H5Dcreate2(location, name.c_str(), packed, space, H5P_DEFAULT, dcpl, H5P_DEFAULT),
                 "create dataset " + name + where);
}
}  // namespace

void write_rows(hid_t table, hid_t memory_type, std::uint64_t first, std::span<const IndexRow> rows,
                const std::string& what) {
  if (rows.empty()) return;
  const RowSelection at(table, first, rows.size(), what);
  check(H5Dwrite(table, memory_type, at.memory, at.file, H5P_DEFAULT, rows.data()), what);
}

void read_rows(hid_t table, hid_t memory_type, std::uint64_t first, std::span<IndexRow> rows, const std::string& what) {
  if (rows.empty()) return;
  const RowSelection at(table, first, rows.size(), what);
  check(H5Dread(table, memory_type, at.memory, at.file, H5P_DEFAULT, rows.data()), what);
}

IndexWriter::IndexWriter(hid_t location, const char* name)
    : dataset_(create_table(location, name, 0, kChunkRows, true, "")), memory_type_(index_row_type()), name_(name) {
  buffer_.reserve(kChunkRows);
}

void IndexWriter::add(const IndexRow& row) {
  buffer_.push_back(row);
  if (buffer_.size() == kChunkRows) write_buffered();
}

void IndexWriter::write_buffered() {
  if (buffer_.empty()) return;
  const std::string what = "write " + name_;
  const hsize_t grown = size_ + buffer_.size();
  check(H5Dset_extent(dataset_, &grown), what);
  write_rows(dataset_, memory_type_, size_, buffer_, what);
  size_ = grown;
  buffer_.clear();
}

void IndexWriter::close() {
  write_buffered();
  dataset_.close("close " + name_);
}

Table open_table(hid_t location, const char* name, const std::string& what) {
  Table t{Dataset(H5Dopen2(location, name, H5P_DEFAULT), what), 0};
  const Dataspace space(H5Dget_space(t.data), what);
  if (H5Sget_simple_extent_ndims(space) != 1) throw H5Error("HDF5: " + what + ": not a 1-D table");
  hsize_t n = 0;
  check(H5Sget_simple_extent_dims(space, &n, nullptr), what);
  t.rows = n;
  return t;
}

std::vector<IndexRow> read_index(hid_t location, const char* name) {
  const Table table = open_table(location, name, std::string("read dataset ") + name);
  std::vector<IndexRow> rows(table.rows);
  read_rows(table.data, index_row_type(), 0, rows, std::string("read dataset ") + name);
  return rows;
}

GrowingIndex::GrowingIndex(hid_t location, const char* name, const std::string& where)
    : dataset_(create_table(location, name, 0, kGrowingChunkRows, false, " in " + where)),
      name_(name),
      memory_type_(index_row_type()),
      where_(where) {}

GrowingIndex GrowingIndex::open(hid_t location, const char* name, const std::string& where, std::uint64_t rows) {
  GrowingIndex index;
  index.memory_type_ = index_row_type();
  index.where_ = where;
  index.dataset_ =
      Dataset(H5Dopen2(location, name, H5P_DEFAULT), std::string("reopen dataset ") + name + " in " + where);
  index.name_ = name;
  index.size_ = rows;
  return index;
}

void GrowingIndex::append(std::span<const IndexRow> rows) {
  if (rows.empty()) return;
  const hsize_t grown = size_ + rows.size();
  check(H5Dset_extent(dataset_, &grown), "grow the index of " + where_);
  write_rows(dataset_, memory_type_, size_, rows, "write the index of " + where_);
  size_ = grown;
}

void GrowingIndex::read_at(std::uint64_t first, std::span<IndexRow> out) const {
  read_rows(dataset_, memory_type_, first, out, "read the index of " + where_);
}

void GrowingIndex::permute(hid_t location, const std::function<std::uint64_t(const IndexRow&)>& position_of) {
  const std::string what = "sort the index of " + where_;
  const std::string sorting = name_ + ".sorting";
  Dataset sorted = create_table(location, sorting, size_, kGrowingChunkRows, false, " in " + where_);
  const Dataspace file_space(H5Dget_space(sorted), what);
  std::vector<IndexRow> block(std::min<std::uint64_t>(size_, kPermuteBlockRows));
  std::vector<hsize_t> positions(block.size());
  for (std::uint64_t first = 0; first < size_; first += block.size()) {
    const std::span<IndexRow> rows(block.data(), std::min<std::uint64_t>(block.size(), size_ - first));
    read_at(first, rows);
    bool consecutive = true;  // the common case: the block's rows came in id order
    for (std::size_t i = 0; i < rows.size(); ++i) {
      positions[i] = position_of(rows[i]);
      if (positions[i] >= size_) throw H5Error("HDF5: " + what + ": position out of range", kExitInternal);
      consecutive = consecutive && (i == 0 || positions[i] == positions[i - 1] + 1);
    }
    if (consecutive) {
      write_rows(sorted, memory_type_, positions[0], rows, what);
      continue;
    }
    // A point selection is filled in the order its points are listed.
    const hsize_t count = rows.size();
    check(H5Sselect_elements(file_space, H5S_SELECT_SET, count, positions.data()), what);
    const Dataspace memory_space(H5Screate_simple(1, &count, nullptr), what);
    check(H5Dwrite(sorted, memory_type_, memory_space, file_space, H5P_DEFAULT, rows.data()), what);
  }
  sorted.close(what);
  dataset_.close(what);
  check(H5Ldelete(location, name_.c_str(), H5P_DEFAULT), what);
  check(H5Lmove(location, sorting.c_str(), location, name_.c_str(), H5P_DEFAULT, H5P_DEFAULT), what);
  dataset_ = Dataset(H5Dopen2(location, name_.c_str(), H5P_DEFAULT), what);
}

}  // namespace shmjob::h5
