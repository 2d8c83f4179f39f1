// libFuzzer target: arbitrary bytes as an HDF5 file, read the two ways shmjob reads HDF5 that
// somebody else may have written or damaged:
//  1. as a shard: the "index" table read with the IndexRow compound type, and every chunk of
//     every 3-D dataset read raw (H5Dread_chunk), decompressed (codec::decompress) and
//     unshuffled, with the size the dataset's chunk shape implies;
//  2. as an ingest input: InputCatalog::scan() of "/data" and "/" (recursive), then
//     Hdf5MatrixReader::read() of every matrix.
// Errors (H5Error, InputError, CodecError) are expected; a crash, a hang or a sanitizer report
// is a bug. Inputs are capped (matrix and chunk bytes, counts) only where the harness itself
// allocates: shmjob's own caps are what is under test.
#include <hdf5.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "codec/shuffle.hpp"
#include "codec/zstd_codec.hpp"
#include "fuzz_common.hpp"
#include "h5/h5_handle.hpp"
#include "h5/index_table.hpp"
#include "h5/zstd_filter.hpp"
#include "input/input.hpp"
#include "shmjob/error.hpp"

namespace {

namespace h5 = shmjob::h5;
constexpr std::size_t kMaxHarnessBytes = std::size_t{1} << 22;  // what the harness allocates
constexpr hsize_t kMaxHarnessRows = 4096;

void read_index(hid_t file) {
  if (H5Lexists(file, "index", H5P_DEFAULT) <= 0) return;
  h5::Dataset index(H5Dopen2(file, "index", H5P_DEFAULT), "H5Dopen2 index");
  h5::Dataspace space(H5Dget_space(index), "H5Dget_space");
  if (h5::check(H5Sget_simple_extent_ndims(space), "ndims") != 1) return;
  hsize_t rows = 0;
  h5::check(H5Sget_simple_extent_dims(space, &rows, nullptr), "dims");
  if (rows > kMaxHarnessRows) return;
  std::vector<shmjob::IndexRow> table(rows);
  const h5::Datatype type = h5::index_row_type();
  h5::check(H5Dread(index, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, table.data()), "H5Dread index");
}

void read_chunks(hid_t file, const char* name) {
  h5::Dataset data(H5Dopen2(file, name, H5P_DEFAULT), "H5Dopen2");
  h5::Dataspace space(H5Dget_space(data), "H5Dget_space");
  h5::Datatype type(H5Dget_type(data), "H5Dget_type");
  h5::PropList dcpl(H5Dget_create_plist(data), "H5Dget_create_plist");
  if (H5Pget_layout(dcpl) != H5D_CHUNKED) return;
  hsize_t chunk[3] = {};
  if (h5::check(H5Pget_chunk(dcpl, 3, chunk), "H5Pget_chunk") != 3) return;
  const std::size_t element = H5Tget_size(type);
  if (element == 0 || element > 8 || chunk[1] > kMaxHarnessBytes || chunk[2] > kMaxHarnessBytes) return;
  const hsize_t raw_bytes = chunk[0] * chunk[1] * chunk[2] * element;
  if (raw_bytes == 0 || raw_bytes > kMaxHarnessBytes) return;
  bool shuffled = false;
  const int filters = h5::check(H5Pget_nfilters(dcpl), "H5Pget_nfilters");
  for (int i = 0; i < filters; ++i) {
    unsigned flags = 0, config = 0;
    std::size_t cd_count = 0;
    const H5Z_filter_t id =
        H5Pget_filter2(dcpl, static_cast<unsigned>(i), &flags, &cd_count, nullptr, 0, nullptr, &config);
    if (id == H5Z_FILTER_SHUFFLE) shuffled = true;
  }
  hsize_t chunks = 0;
  h5::check(H5Dget_num_chunks(data, space, &chunks), "H5Dget_num_chunks");
  std::vector<std::uint8_t> stored, raw(raw_bytes), unshuffled(raw_bytes);
  for (hsize_t i = 0; i < chunks && i < 64; ++i) {
    hsize_t offset[3] = {}, size = 0;
    unsigned mask = 0;
    haddr_t address = 0;
    h5::check(H5Dget_chunk_info(data, space, i, offset, &mask, &address, &size), "chunk info");
    // H5Dread_chunk writes what its own lookup by offset finds (a corrupt index may list an
    // offset twice): the buffer is sized by the same lookup.
    h5::check(H5Dget_chunk_storage_size(data, offset, &size), "H5Dget_chunk_storage_size");
    if (size == 0 || size > kMaxHarnessBytes) continue;
    stored.resize(size);
    std::uint32_t read_mask = 0;
    h5::check(H5Dread_chunk(data, H5P_DEFAULT, offset, &read_mask, stored.data()), "H5Dread_chunk");
    try {
      shmjob::codec::decompress(stored.data(), stored.size(), raw.data(), raw.size());
      if (shuffled) shmjob::codec::unshuffle(raw.data(), unshuffled.data(), raw.size(), element);
    } catch (const shmjob::CodecError&) {
    }
  }
}

// The shard reading: every link of the root group that is a 3-D dataset, and the index.
herr_t visit(hid_t group, const char* name, const H5L_info_t*, void*) noexcept {
  try {
    if (H5Oexists_by_name(group, name, H5P_DEFAULT) <= 0) return 0;
    H5O_info_t info{};
    if (H5Oget_info_by_name2(group, name, &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0) return 0;
    if (info.type == H5O_TYPE_DATASET) read_chunks(group, name);
  } catch (const shmjob::Error&) {
  }
  return 0;
}

void read_as_shard(const std::string& path) {
  try {
    h5::File file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "H5Fopen");
    read_index(file);
    hsize_t next = 0;
    H5Literate(file, H5_INDEX_NAME, H5_ITER_INC, &next, visit, nullptr);
  } catch (const shmjob::Error&) {
  }
}

void read_as_input(const std::string& path, const char* dataset, bool recursive) {
  shmjob::InputConfig config;
  config.files = {path};
  config.dataset = dataset;
  config.recursive = recursive;
  try {
    const shmjob::InputCatalog catalog = shmjob::InputCatalog::scan(config);
    if (catalog.max_matrix_bytes() > kMaxHarnessBytes) return;
    // The catalog travels to the other ranks as bytes: it must come back equal.
    if (shmjob::InputCatalog::deserialize(catalog.serialize()) != catalog)
      shmjob::fuzz::bug("catalog serialisation round trip", path);
    shmjob::Hdf5MatrixReader reader(catalog);
    std::vector<std::byte> slot(catalog.max_matrix_bytes());
    for (std::uint64_t id = 0; id < catalog.size() && id < 64; ++id)
      reader.read(catalog.matrix(id), slot.data(), slot.size());
  } catch (const shmjob::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool once = [] {
    h5::silence_hdf5_errors();
    h5::register_zstd_filter();
    return true;
  }();
  (void)once;
  const shmjob::fuzz::InputFile file(data, size);
  read_as_shard(file.path());
  read_as_input(file.path(), "/data", false);
  read_as_input(file.path(), "/", true);
  return 0;
}
