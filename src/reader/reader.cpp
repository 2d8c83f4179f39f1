// Reader: index-first random access to a job's output (see include/shmjob/reader.hpp).
#include "shmjob/reader.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>

#include <nlohmann/json.hpp>

#include "codec/matrix_stats.hpp"
#include "codec/tile_codec.hpp"
#include "config/tile_grid.hpp"
#include "h5/h5_handle.hpp"
#include "h5/zstd_filter.hpp"
#include "reader/h5_read.hpp"
#include "reader/hdf5_lock.hpp"
#include "reader/tile_cache.hpp"

namespace shmjob {
namespace {

using reader::Tile;

std::string id_text(std::uint64_t id) { return "matrix " + std::to_string(id); }

// One set's dataset in one shard, opened on first use.
struct ShardDataset {
  h5::Dataset data;
  std::uint64_t rows_stored = 0;
  TileGrid grid;
  std::vector<H5Z_filter_t> filters;  // pipeline order
};

struct ShardFile {
  h5::File file;
  std::map<std::size_t, ShardDataset> sets;  // by set index
};

// A stored chunk as HDF5 keeps it.
struct StoredChunk {
  std::vector<std::byte> bytes;
  std::uint32_t filter_mask = 0;
};

codec::ChunkEncoding encoding_of(const std::vector<H5Z_filter_t>& filters, std::uint32_t mask) {
  codec::ChunkEncoding e;
  for (std::size_t i = 0; i < filters.size(); ++i) {
    const bool applied = (mask & (1u << i)) == 0;
    if (filters[i] == H5Z_FILTER_SHUFFLE) e.shuffled = applied;
    if (filters[i] == h5::kZstdFilterId) e.zstd = applied;
  }
  return e;
}

std::string range_text(Range r) { return std::to_string(r.begin) + ":" + std::to_string(r.end); }

}  // namespace

struct Reader::Impl {
  std::filesystem::path master;
  ReaderOptions options;
  std::map<std::string, std::string> attributes;
  std::vector<MatrixSetInfo> sets;
  std::vector<IndexRow> rows;  // sorted by id
  std::map<std::uint32_t, std::string> shard_names;
  std::uint64_t count = 0;
  mutable reader::TileCache cache;
  // Guarded by hdf5_mutex(): every HDF5 handle below.
  mutable std::map<std::uint32_t, ShardFile> shards;

  Impl(std::filesystem::path m, ReaderOptions o) : master(std::move(m)), options(o), cache(o.cache_bytes) {}
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  // Shard handles are HDF5 objects: close them under the lock.
  ~Impl() {
    const std::lock_guard lock(reader::hdf5_mutex());
    shards.clear();
  }

  std::filesystem::path shard_path(std::uint32_t shard) const {
    const auto it = shard_names.find(shard);
    if (it == shard_names.end())
      throw ReaderError(master.string() + " lists no file for shard " + std::to_string(shard));
    return master.parent_path() / it->second;
  }

  std::size_t set_index(std::uint64_t id) const {
    for (std::size_t s = 0; s < sets.size(); ++s)
      if (id >= sets[s].first_id && id - sets[s].first_id < sets[s].count) return s;
    throw ReaderError(id_text(id) + " is out of range: " + master.string() + " holds ids 0 to " +
                          std::to_string(count == 0 ? 0 : count - 1),
                      kExitBadInput);
  }

  const IndexRow* find(std::uint64_t id) const noexcept {
    const auto it =
        std::lower_bound(rows.begin(), rows.end(), id, [](const IndexRow& r, std::uint64_t v) { return r.id < v; });
    return it != rows.end() && it->id == id ? &*it : nullptr;
  }

  const IndexRow& row_of(std::uint64_t id) const {
    set_index(id);  // out of range: its own message
    if (const IndexRow* r = find(id)) return *r;
    const std::string& status = attributes.at("status");
    throw ReaderError(id_text(id) + " is not in the index of " + master.string() +
                          (status == "complete" ? std::string(" although its status is complete (run shmjob verify)")
                                                : " (status " + status + ": it was not written)"),
                      kExitBadInput);
  }

  // Opens (once) the dataset holding `row`; caller holds hdf5_mutex().
  ShardDataset& dataset_of(const IndexRow& row, std::size_t set) const {
    auto it = shards.find(row.shard);
    const std::filesystem::path path = shard_path(row.shard);
    if (it == shards.end()) {
      std::error_code ec;
      if (!std::filesystem::exists(path, ec))
        throw ReaderError(id_text(row.id) + ": shard " + path.string() + " is missing");
      ShardFile f;
      try {
        f.file = h5::File(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "open shard " + path.string());
      } catch (const H5Error& e) {
        throw ReaderError(id_text(row.id) + ": " + path.string() + " cannot be opened (truncated or not HDF5; " +
                          "run shmjob verify): " + e.what());
      }
      it = shards.emplace(row.shard, std::move(f)).first;
    }
    ShardFile& file = it->second;
    auto d = file.sets.find(set);
    if (d != file.sets.end()) return d->second;

    const MatrixSetInfo& info = sets[set];
    const std::string where = path.string() + ":/" + info.name;
    ShardDataset sd;
    sd.data = h5::Dataset(H5Dopen2(file.file, info.name.c_str(), H5P_DEFAULT), "open " + where);
    const h5::Dataspace space(H5Dget_space(sd.data), "H5Dget_space");
    std::array<hsize_t, 3> dims{};
    if (H5Sget_simple_extent_ndims(space) != 3 || H5Sget_simple_extent_dims(space, dims.data(), nullptr) < 0 ||
        dims[1] != info.shape.rows || dims[2] != info.shape.cols)
      throw ReaderError(where + " is not a [n, " + std::to_string(info.shape.rows) + ", " +
                        std::to_string(info.shape.cols) + "] dataset as the master says");
    const h5::Datatype type(H5Dget_type(sd.data), "H5Dget_type");
    if (h5::check(H5Tequal(type, h5::native_type(info.shape.dtype)), "H5Tequal") <= 0)
      throw ReaderError(where + " does not hold " + std::string(dtype_name(info.shape.dtype)) + " as the master says");
    const h5::PropList dcpl(H5Dget_create_plist(sd.data), "H5Dget_create_plist");
    std::array<hsize_t, 3> chunk{};
    if (H5Pget_layout(dcpl) != H5D_CHUNKED || H5Pget_chunk(dcpl, 3, chunk.data()) != 3 || chunk[0] != 1)
      throw ReaderError(where + " is not chunked by matrix (chunks [1, r, c] expected)");
    sd.rows_stored = dims[0];
    sd.grid = {info.shape.rows, info.shape.cols, static_cast<std::uint32_t>(chunk[1]),
               static_cast<std::uint32_t>(chunk[2])};
    sd.filters = reader::filter_ids(sd.data);
    const bool known = std::all_of(sd.filters.begin(), sd.filters.end(),
                                   [](H5Z_filter_t f) { return f == H5Z_FILTER_SHUFFLE || f == h5::kZstdFilterId; });
    const auto zstd_at = std::find(sd.filters.begin(), sd.filters.end(), h5::kZstdFilterId);
    const auto shuffle_at = std::find(sd.filters.begin(), sd.filters.end(), H5Z_FILTER_SHUFFLE);
    if (!known || (zstd_at != sd.filters.end() && shuffle_at != sd.filters.end() && shuffle_at > zstd_at))
      throw ReaderError(where + ": filter pipeline is not shmjob's (shuffle, zstd); read it with h5py");
    return file.sets.emplace(set, std::move(sd)).first->second;
  }

  // The stored bytes of tile k of `row`, read under the HDF5 lock; also returns the grid.
  StoredChunk fetch(const IndexRow& row, std::size_t set, std::uint64_t k, TileGrid& grid,
                    std::vector<H5Z_filter_t>& filters) const {
    const std::lock_guard lock(reader::hdf5_mutex());
    ShardDataset& d = dataset_of(row, set);
    grid = d.grid;
    filters = d.filters;
    const std::filesystem::path path = shard_path(row.shard);
    if (row.row >= d.rows_stored)
      throw ReaderError(id_text(row.id) + ": " + path.string() + " has " + std::to_string(d.rows_stored) +
                        " rows, the index says row " + std::to_string(row.row));
    const std::array<hsize_t, 3> offset{row.row, grid.first_row(k), grid.first_col(k)};
    hsize_t size = 0;
    if (H5Dget_chunk_storage_size(d.data, offset.data(), &size) < 0 || size == 0) {
      H5Eclear2(H5E_DEFAULT);
      throw ReaderError(id_text(row.id) + ": " + path.string() + ": chunk at [" + std::to_string(offset[0]) + ", " +
                        std::to_string(offset[1]) + ", " + std::to_string(offset[2]) + "] is not stored");
    }
    StoredChunk chunk;
    chunk.bytes.resize(size);
    h5::check(H5Dread_chunk(d.data, H5P_DEFAULT, offset.data(), &chunk.filter_mask, chunk.bytes.data()),
              id_text(row.id) + ": read a chunk of " + path.string());
    return chunk;
  }

  // Decodes tile k into `out` (tile_bytes); returns the grid through `grid`.
  void decode(const IndexRow& row, std::size_t set, std::uint64_t k, TileGrid& grid, std::byte* out,
              std::size_t* out_bytes = nullptr) const {
    std::vector<H5Z_filter_t> filters;
    const StoredChunk chunk = fetch(row, set, k, grid, filters);
    const std::size_t es = dtype_size(sets[set].shape.dtype);
    const std::size_t tile_bytes = static_cast<std::size_t>(grid.tile_elements() * es);
    if (out_bytes != nullptr) *out_bytes = tile_bytes;
    if (out == nullptr) return;
    thread_local std::vector<std::byte> scratch;
    try {
      codec::decode_chunk(chunk.bytes, encoding_of(filters, chunk.filter_mask), es, out, tile_bytes, scratch);
    } catch (const CodecError& e) {
      throw ReaderError(id_text(row.id) + ": " + shard_path(row.shard).string() + ": tile " + std::to_string(k) +
                        " does not decode (corrupt chunk): " + e.what());
    }
    cache.count_decoded(tile_bytes);
  }

  TileGrid grid_of(const IndexRow& row, std::size_t set) const {
    const std::lock_guard lock(reader::hdf5_mutex());
    return dataset_of(row, set).grid;
  }

  Tile tile(const IndexRow& row, std::size_t set, std::uint64_t k, const TileGrid& grid) const {
    if (Tile t = cache.find(row.id, k)) return t;
    TileGrid g = grid;
    auto data = std::make_shared<std::vector<std::byte>>(grid.tile_elements() * dtype_size(sets[set].shape.dtype));
    decode(row, set, k, g, data->data());
    cache.insert(row.id, k, data);
    return data;
  }

  Matrix read_slice(std::uint64_t id, Range r, Range c, bool whole) const {
    const IndexRow& row = row_of(id);
    const std::size_t set = set_index(id);
    const MatrixSetInfo& info = sets[set];
    if (r.begin > r.end || r.end > info.shape.rows)
      throw ReaderError(id_text(id) + ": rows " + range_text(r) + " are outside 0:" + std::to_string(info.shape.rows),
                        kExitBadInput);
    if (c.begin > c.end || c.end > info.shape.cols)
      throw ReaderError(
          id_text(id) + ": columns " + range_text(c) + " are outside 0:" + std::to_string(info.shape.cols),
          kExitBadInput);
    const std::size_t es = dtype_size(info.shape.dtype);
    Matrix m{id, r.size(), c.size(), info.shape.dtype, {}};
    const auto bytes = static_cast<std::size_t>(m.rows * m.cols * es);
    if (bytes == 0) return m;
    const TileGrid grid = grid_of(row, set);
    const std::size_t tile_bytes = static_cast<std::size_t>(grid.tile_elements() * es);
    if (whole && grid.count() == 1) {
      if (!cache.keeps(tile_bytes)) {  // the cache would not keep it: decode straight into the result
        m.bytes.resize(bytes);
        TileGrid g = grid;
        decode(row, set, 0, g, m.bytes.data());
      } else {
        const Tile t = tile(row, set, 0, grid);
        m.bytes.assign(t->begin(), t->end());  // one pass, no zero fill first
      }
      return m;
    }
    m.bytes.resize(bytes);
    for (std::uint64_t tr = r.begin / grid.tile_rows; tr <= (r.end - 1) / grid.tile_rows; ++tr)
      for (std::uint64_t tc = c.begin / grid.tile_cols; tc <= (c.end - 1) / grid.tile_cols; ++tc) {
        const std::uint64_t k = tr * grid.grid_cols() + tc;
        const Tile t = tile(row, set, k, grid);
        const std::uint64_t r0 = std::max<std::uint64_t>(r.begin, tr * grid.tile_rows);
        const std::uint64_t r1 = std::min<std::uint64_t>(r.end, (tr + 1) * grid.tile_rows);
        const std::uint64_t c0 = std::max<std::uint64_t>(c.begin, tc * grid.tile_cols);
        const std::uint64_t c1 = std::min<std::uint64_t>(c.end, (tc + 1) * grid.tile_cols);
        for (std::uint64_t i = r0; i < r1; ++i) {
          const std::byte* src =
              t->data() + ((i - tr * grid.tile_rows) * grid.tile_cols + (c0 - tc * grid.tile_cols)) * es;
          std::byte* dst = m.bytes.data() + ((i - r.begin) * m.cols + (c0 - c.begin)) * es;
          std::memcpy(dst, src, static_cast<std::size_t>((c1 - c0) * es));
        }
      }
    return m;
  }

  void load() {
    const std::lock_guard lock(reader::hdf5_mutex());
    h5::silence_hdf5_errors();
    h5::register_zstd_filter();
    const h5::File file(H5Fopen(master.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "open " + master.string());
    for (const char* name : {"status", "job", "shards", "datasets", "config", "plan", "versions", "shmjob_version",
                             "start_time", "end_time", "source", "kind", "dtype"})
      if (auto v = reader::string_attribute(file, name)) attributes[name] = *v;
    for (const char* required : {"status", "shards", "datasets"})
      if (attributes.count(required) == 0)
        throw ReaderError(master.string() + " has no '" + required + "' attribute: not a shmjob master file",
                          kExitBadInput);
    nlohmann::json chunk;
    try {
      const auto config = nlohmann::json::parse(attributes.count("config") ? attributes["config"] : "{}");
      if (config.contains("compression") && config["compression"].contains("chunk"))
        chunk = config["compression"]["chunk"];
      for (const auto& name : nlohmann::json::parse(attributes["shards"])) {
        const std::string n = name.get<std::string>();
        const auto at = n.rfind(".shard-");
        if (at != std::string::npos) shard_names[static_cast<std::uint32_t>(std::stoul(n.substr(at + 7)))] = n;
      }
      for (const auto& s : nlohmann::json::parse(attributes["datasets"])) {
        MatrixSetInfo info;
        info.name = s.at("name").get<std::string>();
        info.index_name = s.at("index").get<std::string>();
        info.shape.rows = s.at("rows").get<std::uint32_t>();
        info.shape.cols = s.at("cols").get<std::uint32_t>();
        const auto dtype = parse_dtype(s.at("dtype").get<std::string>());
        if (!dtype) throw ReaderError(master.string() + ": unknown dtype in the datasets attribute");
        info.shape.dtype = *dtype;
        info.first_id = s.at("first_id").get<std::uint64_t>();
        info.count = s.at("count").get<std::uint64_t>();
        std::optional<ChunkShape> shape;
        if (chunk.is_array()) shape = ChunkShape{chunk[0].get<std::uint32_t>(), chunk[1].get<std::uint32_t>()};
        const TileGrid g = tile_grid(info.shape.rows, info.shape.cols, shape);
        info.tile_rows = g.tile_rows;
        info.tile_cols = g.tile_cols;
        sets.push_back(info);
        count = std::max(count, info.first_id + info.count);
      }
    } catch (const nlohmann::json::exception& e) {
      throw ReaderError(master.string() + ": unreadable job attributes (" + e.what() + ")");
    }
    for (const MatrixSetInfo& s : sets) {
      std::vector<IndexRow> r = reader::read_index_table(file, s.index_name);
      rows.insert(rows.end(), r.begin(), r.end());
    }
    std::stable_sort(rows.begin(), rows.end(), [](const IndexRow& a, const IndexRow& b) { return a.id < b.id; });
  }
};

Reader::Reader(const std::filesystem::path& path, ReaderOptions options)
    : impl_(std::make_unique<Impl>(find_master(path), options)) {
  impl_->load();
}

Reader::~Reader() = default;
Reader::Reader(Reader&&) noexcept = default;
Reader& Reader::operator=(Reader&&) noexcept = default;

const std::filesystem::path& Reader::master_path() const noexcept { return impl_->master; }
std::string Reader::status() const { return impl_->attributes.at("status"); }
std::string Reader::attribute(const std::string& name) const {
  const auto it = impl_->attributes.find(name);
  return it == impl_->attributes.end() ? std::string() : it->second;
}
const std::vector<MatrixSetInfo>& Reader::sets() const noexcept { return impl_->sets; }
const std::vector<IndexRow>& Reader::index() const noexcept { return impl_->rows; }
std::uint64_t Reader::count() const noexcept { return impl_->count; }
std::filesystem::path Reader::shard_path(std::uint32_t shard) const { return impl_->shard_path(shard); }
bool Reader::has(std::uint64_t id) const noexcept { return impl_->find(id) != nullptr; }
const IndexRow& Reader::info(std::uint64_t id) const { return impl_->row_of(id); }
const MatrixSetInfo& Reader::set_of(std::uint64_t id) const { return impl_->sets[impl_->set_index(id)]; }

Matrix Reader::read(std::uint64_t id) const {
  const MatrixSetInfo& s = set_of(id);
  Matrix m = impl_->read_slice(id, {0, s.shape.rows}, {0, s.shape.cols}, true);
  if (impl_->options.verify_checksums) {
    const IndexRow& row = info(id);
    const std::uint32_t crc = codec::crc32_of(m.bytes.data(), m.bytes.size());
    if (crc != row.crc32)
      throw ReaderError(id_text(id) + ": " + impl_->shard_path(row.shard).string() + ": CRC-32 of the data is " +
                        std::to_string(crc) + ", the index says " + std::to_string(row.crc32) +
                        " (the stored data is corrupt)");
  }
  return m;
}

Matrix Reader::read_slice(std::uint64_t id, Range rows, Range cols) const {
  return impl_->read_slice(id, rows, cols, false);
}

std::uint64_t Reader::stored_bytes(std::uint64_t id) const {
  const IndexRow& row = info(id);
  const std::size_t set = impl_->set_index(id);
  const std::lock_guard lock(reader::hdf5_mutex());
  ShardDataset& d = impl_->dataset_of(row, set);
  std::uint64_t total = 0;
  for (std::uint64_t k = 0; k < d.grid.count(); ++k) {
    const std::array<hsize_t, 3> offset{row.row, d.grid.first_row(k), d.grid.first_col(k)};
    hsize_t size = 0;
    if (H5Dget_chunk_storage_size(d.data, offset.data(), &size) < 0 || size == 0) {
      H5Eclear2(H5E_DEFAULT);
      throw ReaderError(id_text(id) + ": " + impl_->shard_path(row.shard).string() + ": tile " + std::to_string(k) +
                        " is not stored");
    }
    total += size;
  }
  return total;
}

CacheStats Reader::cache_stats() const { return impl_->cache.stats(); }

}  // namespace shmjob
