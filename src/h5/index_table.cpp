#include "h5/index_table.hpp"

#include <algorithm>
#include <cstddef>

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

}  // namespace shmjob::h5
