#include "h5/shard_scan.hpp"

#include <array>

#include <cstring>

#include "codec/matrix_stats.hpp"
#include "codec/tile_codec.hpp"
#include "h5/shard_writer.hpp"
#include "h5/zstd_filter.hpp"
#include "shmjob/error.hpp"

namespace shmjob::h5 {

std::optional<std::string> read_string_attribute_if_any(hid_t object, const char* name) {
  // An error is not "absent": a damaged header must be reported as damaged.
  if (check(H5Aexists(object, name), std::string("look for attribute ") + name) == 0) return std::nullopt;
  const Attribute attr(H5Aopen(object, name, H5P_DEFAULT), std::string("open attribute ") + name);
  const Datatype type(H5Aget_type(attr), "H5Aget_type");
  if (H5Tget_class(type) != H5T_STRING || H5Tis_variable_str(type) > 0) return std::nullopt;
  const std::size_t size = H5Tget_size(type);
  std::string value(size, '\0');
  const Datatype memory(H5Tcopy(type), "H5Tcopy");
  check(H5Aread(attr, memory, value.data()), std::string("read attribute ") + name);
  while (!value.empty() && value.back() == '\0') value.pop_back();
  return value;
}

ShardReader::ShardReader(const std::filesystem::path& path) : path_(path) {
  register_zstd_filter();
  file_ = File(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "open " + path.string());
}

const ShardReader::Part* ShardReader::part(const MatrixSet& set) const {
  for (const auto& [name, p] : parts_)
    if (name == set.name) return &p;
  Part p;
  const std::string where = path_.string() + ":/" + set.name;
  if (H5Lexists(file_, set.name.c_str(), H5P_DEFAULT) > 0) {
    p.data = Dataset(H5Dopen2(file_, set.name.c_str(), H5P_DEFAULT), "open " + where);
    const Dataspace space(H5Dget_space(p.data), "H5Dget_space");
    std::array<hsize_t, 3> dims{};
    if (H5Sget_simple_extent_ndims(space) != 3) throw H5Error("HDF5: " + where + ": not 3-D");
    check(H5Sget_simple_extent_dims(space, dims.data(), nullptr), "H5Sget_simple_extent_dims");
    if (dims[1] != set.shape.rows || dims[2] != set.shape.cols)
      throw H5Error("HDF5: " + where + ": another matrix shape");
    unsigned long long first = 0;
    if (H5Aexists(p.data, "first_id") <= 0) throw H5Error("HDF5: " + where + ": no first_id attribute");
    const Attribute attr(H5Aopen(p.data, "first_id", H5P_DEFAULT), "open first_id of " + where);
    check(H5Aread(attr, H5T_NATIVE_ULLONG, &first), "read first_id of " + where);
    p.extent = {first, dims[0]};
    const PropList dcpl(H5Dget_create_plist(p.data), "H5Dget_create_plist");
    std::array<hsize_t, 3> chunk{};
    if (H5Pget_chunk(dcpl, 3, chunk.data()) != 3 || chunk[0] != 1 || chunk[1] == 0 || chunk[2] == 0 ||
        chunk[1] > set.shape.rows || chunk[2] > set.shape.cols)
      throw H5Error("HDF5: " + where + ": not chunked by matrix or tile");
    p.grid = {set.shape.rows, set.shape.cols, static_cast<std::uint32_t>(chunk[1]),
              static_cast<std::uint32_t>(chunk[2])};
    const int filters = check(H5Pget_nfilters(dcpl), "H5Pget_nfilters");
    for (int i = 0; i < filters; ++i) {
      unsigned flags = 0;
      std::size_t n = 0;
      unsigned config = 0;
      if (H5Pget_filter2(dcpl, static_cast<unsigned>(i), &flags, &n, nullptr, 0, nullptr, &config) ==
          H5Z_FILTER_SHUFFLE)
        p.shuffled = true;
    }
  }
  parts_.emplace_back(set.name, std::move(p));
  return &parts_.back().second;
}

ShardReader::Extent ShardReader::extent(const MatrixSet& set) const { return part(set)->extent; }

std::string ShardReader::problem_with(const IndexRow& row, const MatrixSet& set) const {
  const Part* p = part(set);
  if (p->extent.count == 0) return "no dataset " + set.name;
  if (row.id < p->extent.first_id || row.id - p->extent.first_id != row.row || row.row >= p->extent.count)
    return "row " + std::to_string(row.row) + " does not hold id " + std::to_string(row.id);
  if (row.raw_bytes != set.shape.bytes()) return "raw size differs";
  const TileGrid& grid = p->grid;
  const std::size_t element = dtype_size(set.shape.dtype);
  const std::size_t tile_bytes = grid.tile_elements() * element;
  tile_.resize(tile_bytes);
  matrix_.resize(set.shape.bytes());
  std::uint64_t stored_total = 0;
  for (std::uint64_t k = 0; k < grid.count(); ++k) {
    const std::array<hsize_t, 3> offset{row.row, grid.first_row(k), grid.first_col(k)};
    hsize_t stored = 0;
    if (H5Dget_chunk_storage_size(p->data, offset.data(), &stored) < 0 || stored == 0) {
      H5Eclear2(H5E_DEFAULT);
      return "chunk missing";
    }
    stored_total += stored;
    if (stored_total > row.compressed_bytes) return "chunks larger than the index says";
    frame_.resize(stored);
    std::uint32_t mask = 0;
    if (H5Dread_chunk(p->data, H5P_DEFAULT, offset.data(), &mask, frame_.data()) < 0) {
      H5Eclear2(H5E_DEFAULT);
      return "chunk unreadable";
    }
    // Only the shuffle (filter 0, when declared) may be skipped, and only as the index says.
    const std::uint32_t expected_mask = chunk_filter_mask(p->shuffled, row.shuffled != 0);
    if (row.shuffled != 0 && !p->shuffled) return "index says shuffled, the dataset has no shuffle filter";
    if (mask != expected_mask) return "chunk's filter mask differs from the index";
    try {
      codec::decode_chunk(frame_, {p->shuffled && row.shuffled != 0, true}, element, tile_.data(), tile_bytes,
                          scratch_);
    } catch (const std::exception& e) {
      return e.what();
    }
    // The tile's valid part into its place in the row-major matrix.
    const std::size_t row_bytes = std::size_t{grid.valid_cols(k)} * element;
    for (std::uint32_t r = 0; r < grid.valid_rows(k); ++r)
      std::memcpy(
          matrix_.data() + ((std::size_t{grid.first_row(k)} + r) * set.shape.cols + grid.first_col(k)) * element,
          tile_.data() + std::size_t{r} * grid.tile_cols * element, row_bytes);
  }
  if (stored_total != row.compressed_bytes) return "chunk sizes differ from the index";
  if (codec::crc32_of(matrix_.data(), set.shape.bytes()) != row.crc32) return "crc32 differs from the index";
  return "";
}

}  // namespace shmjob::h5
