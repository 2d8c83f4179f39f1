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
  return t;
}

void write_index(hid_t location, const char* name, std::span<const IndexRow> rows) {
  const Datatype type = index_row_type();
  // Stored packed: no struct padding (uninitialised bytes) reaches the file.
  Datatype packed(H5Tcopy(type), "H5Tcopy");
  check(H5Tpack(packed), "H5Tpack");
  const hsize_t n = rows.size();
  Dataspace space(H5Screate_simple(1, &n, nullptr), "H5Screate_simple");
  PropList dcpl(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate");
  if (n > 0) {
    const hsize_t chunk = std::min<hsize_t>(n, 16384);
    check(H5Pset_chunk(dcpl, 1, &chunk), "H5Pset_chunk");
    check(H5Pset_deflate(dcpl, 4), "H5Pset_deflate");
  }
  Dataset d(H5Dcreate2(location, name, packed, space, H5P_DEFAULT, dcpl, H5P_DEFAULT),
            std::string("create dataset ") + name);
  if (n > 0) check(H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows.data()), std::string("write ") + name);
}

std::vector<IndexRow> read_index(hid_t location, const char* name) {
  const std::string what = std::string("read dataset ") + name;
  const Dataset d(H5Dopen2(location, name, H5P_DEFAULT), what);
  const Dataspace space(H5Dget_space(d), what);
  if (H5Sget_simple_extent_ndims(space) != 1) throw H5Error("HDF5: " + what + ": not a 1-D table");
  hsize_t n = 0;
  check(H5Sget_simple_extent_dims(space, &n, nullptr), what);
  std::vector<IndexRow> rows(n);
  if (n > 0) check(H5Dread(d, index_row_type(), H5S_ALL, H5S_ALL, H5P_DEFAULT, rows.data()), what);
  return rows;
}

namespace {
constexpr hsize_t kGrowingChunkRows = 1024;
}

GrowingIndex::GrowingIndex(hid_t location, const char* name, const std::string& where)
    : memory_type_(index_row_type()), where_(where) {
  Datatype packed(H5Tcopy(memory_type_), "H5Tcopy");
  check(H5Tpack(packed), "H5Tpack");
  const hsize_t zero = 0, unlimited = H5S_UNLIMITED;
  Dataspace space(H5Screate_simple(1, &zero, &unlimited), "H5Screate_simple");
  PropList dcpl(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate");
  check(H5Pset_chunk(dcpl, 1, &kGrowingChunkRows), "H5Pset_chunk");
  dataset_ = Dataset(H5Dcreate2(location, name, packed, space, H5P_DEFAULT, dcpl, H5P_DEFAULT),
                     std::string("create dataset ") + name + " in " + where_);
}

GrowingIndex GrowingIndex::open(hid_t location, const char* name, const std::string& where, std::uint64_t rows) {
  GrowingIndex index;
  index.memory_type_ = index_row_type();
  index.where_ = where;
  index.dataset_ = Dataset(H5Dopen2(location, name, H5P_DEFAULT), std::string("reopen dataset ") + name + " in " + where);
  index.size_ = rows;
  return index;
}

void GrowingIndex::write_at(std::uint64_t first, std::span<const IndexRow> rows) {
  if (rows.empty()) return;
  const std::string what = "write the index of " + where_;
  const Dataspace file_space(H5Dget_space(dataset_), what);
  const hsize_t start = first, count = rows.size();
  check(H5Sselect_hyperslab(file_space, H5S_SELECT_SET, &start, nullptr, &count, nullptr), what);
  const Dataspace memory_space(H5Screate_simple(1, &count, nullptr), what);
  check(H5Dwrite(dataset_, memory_type_, memory_space, file_space, H5P_DEFAULT, rows.data()), what);
}

void GrowingIndex::append(std::span<const IndexRow> rows) {
  if (rows.empty()) return;
  const hsize_t grown = size_ + rows.size();
  check(H5Dset_extent(dataset_, &grown), "grow the index of " + where_);
  write_at(size_, rows);
  size_ = grown;
}

void GrowingIndex::rewrite(std::span<const IndexRow> rows) {
  if (rows.size() != size_) {
    const hsize_t n = rows.size();
    check(H5Dset_extent(dataset_, &n), "resize the index of " + where_);
    size_ = n;
  }
  write_at(0, rows);
}

}  // namespace shmjob::h5
