// Reader against the matrices written and against HDF5's own read through its filter pipeline
// (the master's virtual dataset, decoded by HDF5 with the in-process zstd filter): every dtype,
// one chunk per matrix, tiles that divide the matrix and tiles that do not, slice edge cases,
// the cache bound and its counters, and several threads reading at once. Outputs are written
// with the real shard and master writers (tests/python/reader_cli_test.py reads real MPI runs
// and compares with h5py).
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "codec/matrix_stats.hpp"
#include "codec/tile_codec.hpp"
#include "config/tile_grid.hpp"
#include "h5/h5_handle.hpp"
#include "h5/master_writer.hpp"
#include "h5/shard_writer.hpp"
#include "h5/zstd_filter.hpp"
#include "shmjob/reader.hpp"

namespace shmjob {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string(info->test_suite_name()) + "_" + info->name();
    std::replace_if(
        name.begin(), name.end(), [](char c) { return !std::isalnum(c); }, '_');
    path_ = fs::temp_directory_path() / ("shmjob_reader_" + std::to_string(::getpid()) + "_" + name);
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Distinct, dtype-typed values: matrix `id`, element i.
std::vector<std::byte> make_matrix(DType dtype, std::uint32_t rows, std::uint32_t cols, std::uint64_t id) {
  std::vector<std::byte> bytes(std::size_t{rows} * cols * dtype_size(dtype));
  visit_dtype(dtype, [&](auto v) {
    using T = decltype(v);
    std::mt19937_64 rng(id * 7919 + 17);
    for (std::size_t i = 0; i < std::size_t{rows} * cols; ++i) {
      T x;
      if constexpr (kIsFloatElement<T>)
        x = static_cast<T>(static_cast<double>(rng() % 100000) / 7.0 - 5000.0);
      else
        x = static_cast<T>(rng());
      std::memcpy(bytes.data() + i * sizeof(T), &x, sizeof(T));
    }
  });
  return bytes;
}

// How the matrices of write_output are shuffled: none, all, or every odd id (compression.shuffle
// "auto": the dataset declares shuffle, even ids' chunks skip it through their filter mask).
enum class Shuffled { none, all, odd_ids };

struct Written {
  fs::path master;
  std::vector<std::vector<std::byte>> matrices;  // by id
};

// A job's output as the pipeline writes it: `writers` shards with contiguous id ranges, packed
// tiles stored with H5Dwrite_chunk, a master with the VDS and the index. Ids in `skip` are not
// written (an interrupted job).
Written write_output(const fs::path& dir, DType dtype, std::uint32_t rows, std::uint32_t cols, std::uint64_t count,
                     std::optional<ChunkShape> chunk, Shuffled shuffled, int writers = 2,
                     std::vector<std::uint64_t> skip = {}) {
  CompressionConfig compression;
  compression.level = 3;
  const bool shuffle = shuffled != Shuffled::none;
  compression.shuffle = shuffle;
  compression.shuffle_auto = shuffled == Shuffled::odd_ids;
  compression.chunk = chunk;
  MatrixSet set = matrix_set({rows, cols, dtype}, count);
  set.name = "data", set.index_name = "index";
  const TileGrid grid = tile_grid(rows, cols, chunk);
  codec::TileCompressor compressor(compression.level, shuffle);
  std::vector<std::byte> packed(packed_tiles_capacity(grid, dtype_size(dtype)));

  Written out;
  out.master = dir / "job.h5";
  std::vector<IndexRow> rows_all;
  std::vector<h5::ShardInfo> shards;
  const std::uint64_t per = (count + static_cast<std::uint64_t>(writers) - 1) / static_cast<std::uint64_t>(writers);
  for (std::uint64_t id = 0; id < count; ++id) out.matrices.push_back(make_matrix(dtype, rows, cols, id));
  for (int w = 0; w < writers; ++w) {
    const std::uint64_t first = per * static_cast<std::uint64_t>(w);
    const std::uint64_t n = std::min(count, first + per) - std::min(count, first);
    if (n == 0) continue;
    const std::string name = h5::shard_file_name("job", static_cast<std::uint32_t>(w));
    h5::ShardWriter shard(dir / name, {h5::ShardPart{&set, first, n}}, compression, {});
    std::vector<IndexRow> rows_w;
    for (std::uint64_t id = first; id < first + n; ++id) {
      if (std::find(skip.begin(), skip.end(), id) != skip.end()) continue;
      const auto& m = out.matrices[id];
      const bool this_shuffled = shuffled == Shuffled::all || (shuffled == Shuffled::odd_ids && id % 2 == 1);
      compressor.set_shuffle(this_shuffled);
      const std::size_t frames = compressor.compress(m.data(), grid, dtype_size(dtype), packed.data(), packed.size());
      shard.write_matrix(0, id - first, packed.data(), frames, this_shuffled);
      const codec::MatrixStats st = codec::compute_stats(m.data(), set.shape.elements(), dtype);
      rows_w.push_back({id,         static_cast<std::uint32_t>(w),
                        id - first, set.shape.bytes(),
                        frames,     st.crc32,
                        st.min,     st.max,
                        st.mean,    0,
                        1,          2,
                        0,          0,
                        0,          kNoSource,
                        kNoSource,  id,
                        3,          this_shuffled ? 1u : 0u});
    }
    shard.flush(rows_w, h5::FlushTo::page_cache);
    shard.finish([&](const IndexRow& r) {  // rows_w is in id order already
      return static_cast<std::uint64_t>(
          std::lower_bound(rows_w.begin(), rows_w.end(), r.id,
                           [](const IndexRow& a, std::uint64_t id) { return a.id < id; }) -
          rows_w.begin());
    });
    rows_all.insert(rows_all.end(), rows_w.begin(), rows_w.end());
    shards.push_back({static_cast<std::uint32_t>(w), name, {first}, {n}});
  }
  nlohmann::json config = {{"compression", {{"level", 3}, {"shuffle", shuffle}}}};
  if (chunk) config["compression"]["chunk"] = {chunk->rows, chunk->cols};
  nlohmann::json names = nlohmann::json::array();
  for (const auto& s : shards) names.push_back(s.file_name);
  nlohmann::json sets = nlohmann::json::array({{{"name", "data"},
                                                {"index", "index"},
                                                {"rows", rows},
                                                {"cols", cols},
                                                {"dtype", dtype_name(dtype)},
                                                {"first_id", 0},
                                                {"count", count}}});
  h5::write_master(out.master, {set}, shards, rows_all, {},
                   {{"status", skip.empty() ? "complete" : "interrupted"},
                    {"job", "job"},
                    {"config", config.dump()},
                    {"shards", names.dump()},
                    {"datasets", sets.dump()}});
  return out;
}

// The slice as HDF5 itself reads it through the master's VDS and the filter pipeline.
std::vector<std::byte> hdf5_slice(const fs::path& master, DType dtype, std::uint64_t id, Range r, Range c) {
  std::vector<std::byte> out(r.size() * c.size() * dtype_size(dtype));
  if (out.empty()) return out;
  h5::File f(H5Fopen(master.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "open");
  h5::Dataset d(H5Dopen2(f, "data", H5P_DEFAULT), "open data");
  h5::Dataspace fs(H5Dget_space(d), "space");
  const std::array<hsize_t, 3> start{id, r.begin, c.begin}, block{1, r.size(), c.size()};
  h5::check(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start.data(), nullptr, block.data(), nullptr), "select");
  h5::Dataspace ms(H5Screate_simple(3, block.data(), nullptr), "mem space");
  h5::check(H5Dread(d, h5::native_type(dtype), ms, fs, H5P_DEFAULT, out.data()), "H5Dread");
  return out;
}

std::vector<std::byte> expected_slice(const std::vector<std::byte>& m, std::uint32_t cols, std::size_t es, Range r,
                                      Range c) {
  std::vector<std::byte> out;
  for (std::uint64_t i = r.begin; i < r.end; ++i) {
    const std::byte* row = m.data() + (i * cols + c.begin) * es;
    out.insert(out.end(), row, row + c.size() * es);
  }
  return out;
}

int error_code_of(const std::function<void()>& f, std::string* message = nullptr) {
  try {
    f();
  } catch (const ReaderError& e) {
    if (message) *message = e.what();
    return e.exit_code();
  }
  return -1;
}

// ---- every dtype x chunk shape ----------------------------------------------------------------

struct ShapeCase {
  const char* name;
  std::optional<ChunkShape> chunk;
  Shuffled shuffle;
};

class ReaderDtypeChunkTest : public ::testing::TestWithParam<std::tuple<DType, ShapeCase>> {};

TEST_P(ReaderDtypeChunkTest, MatchesWrittenDataAndHdf5) {
  const auto [dtype, shape] = GetParam();
  TempDir dir;
  constexpr std::uint32_t kRows = 40, kCols = 36;
  const Written w = write_output(dir.path(), dtype, kRows, kCols, 5, shape.chunk, shape.shuffle);
  const Reader reader(dir.path(), ReaderOptions{1 << 20, true});
  ASSERT_EQ(reader.master_path(), w.master);
  ASSERT_EQ(reader.count(), 5u);
  const std::size_t es = dtype_size(dtype);
  const TileGrid grid = tile_grid(kRows, kCols, shape.chunk);
  EXPECT_EQ(reader.sets().at(0).tile_rows, grid.tile_rows);
  for (std::uint64_t id = 0; id < 5; ++id) {
    const Matrix m = reader.read(id);
    EXPECT_EQ(m.rows, kRows);
    EXPECT_EQ(m.cols, kCols);
    EXPECT_EQ(m.dtype, dtype);
    EXPECT_EQ(m.bytes, w.matrices[id]) << "matrix " << id;
    EXPECT_EQ(reader.info(id).id, id);
    EXPECT_EQ(reader.info(id).crc32, codec::crc32_of(w.matrices[id].data(), w.matrices[id].size()));
  }
  EXPECT_EQ(hdf5_slice(w.master, dtype, 3, {0, kRows}, {0, kCols}), w.matrices[3]);

  const std::vector<std::pair<Range, Range>> slices = {
      {{0, kRows}, {0, kCols}},                  // full range
      {{7, 7}, {0, kCols}},                      // empty rows
      {{0, kRows}, {20, 20}},                    // empty columns
      {{0, 1}, {0, 1}},                          // first element
      {{kRows - 1, kRows}, {kCols - 1, kCols}},  // last element (an edge tile)
      {{5, 33}, {3, 29}},                        // across tile borders
      {{16, 32}, {12, 24}},                      // aligned with 16x12 tiles
      {{39, 40}, {0, kCols}},                    // last row
  };
  for (const auto& [r, c] : slices) {
    const Matrix m = reader.read_slice(2, r, c);
    EXPECT_EQ(m.rows, r.size());
    EXPECT_EQ(m.cols, c.size());
    const auto want = expected_slice(w.matrices[2], kCols, es, r, c);
    EXPECT_EQ(m.bytes, want) << "rows " << r.begin << ":" << r.end << " cols " << c.begin << ":" << c.end;
    EXPECT_EQ(hdf5_slice(w.master, dtype, 2, r, c), want);
  }
}

INSTANTIATE_TEST_SUITE_P(
    EveryDtype, ReaderDtypeChunkTest,
    ::testing::Combine(::testing::Values(DType::int8, DType::int16, DType::int32, DType::int64, DType::uint8,
                                         DType::uint16, DType::uint32, DType::uint64, DType::float32, DType::float64,
                                         DType::float16),
                       ::testing::Values(ShapeCase{"one_chunk", std::nullopt, Shuffled::none},
                                         ShapeCase{"one_chunk_shuffle_auto", std::nullopt, Shuffled::odd_ids},
                                         ShapeCase{"tiles_divide", ChunkShape{20, 12}, Shuffled::all},
                                         ShapeCase{"tiles_do_not_divide", ChunkShape{16, 10}, Shuffled::none},
                                         ShapeCase{"tiles_do_not_divide_shuffled", ChunkShape{7, 36}, Shuffled::all},
                                         ShapeCase{"tiles_shuffle_auto", ChunkShape{7, 36}, Shuffled::odd_ids})),
    [](const auto& p) { return std::string(dtype_name(std::get<0>(p.param))) + "_" + std::get<1>(p.param).name; });

// ---- requests that cannot be served -----------------------------------------------------------

TEST(ReaderErrors, OutOfRangeRequestsAreClearErrors) {
  TempDir dir;
  write_output(dir.path(), DType::float64, 20, 10, 4, ChunkShape{8, 8}, Shuffled::none);
  const Reader reader(dir.path());
  std::string message;
  EXPECT_EQ(error_code_of([&] { reader.read(4); }, &message), kExitBadInput);
  EXPECT_NE(message.find("matrix 4 is out of range"), std::string::npos) << message;
  EXPECT_NE(message.find("ids 0 to 3"), std::string::npos) << message;
  EXPECT_EQ(error_code_of([&] { reader.read_slice(1, {0, 21}, {0, 10}); }, &message), kExitBadInput);
  EXPECT_NE(message.find("rows 0:21 are outside 0:20"), std::string::npos) << message;
  EXPECT_EQ(error_code_of([&] { reader.read_slice(1, {0, 20}, {5, 11}); }, &message), kExitBadInput);
  EXPECT_NE(message.find("columns 5:11 are outside 0:10"), std::string::npos) << message;
  EXPECT_EQ(error_code_of([&] { reader.read_slice(1, {6, 5}, {0, 10}); }, &message), kExitBadInput);
  EXPECT_EQ(error_code_of([&] { reader.info(99); }), kExitBadInput);
}

TEST(ReaderErrors, IdNotWrittenByAnInterruptedJob) {
  TempDir dir;
  write_output(dir.path(), DType::int32, 8, 8, 6, std::nullopt, Shuffled::none, 2, {2});
  const Reader reader(dir.path());
  EXPECT_EQ(reader.status(), "interrupted");
  EXPECT_FALSE(reader.has(2));
  EXPECT_TRUE(reader.has(1));
  std::string message;
  EXPECT_EQ(error_code_of([&] { reader.read(2); }, &message), kExitBadInput);
  EXPECT_NE(message.find("not in the index"), std::string::npos) << message;
}

TEST(ReaderErrors, MissingShardIsNamed) {
  TempDir dir;
  write_output(dir.path(), DType::uint16, 8, 8, 6, std::nullopt, Shuffled::none, 2);
  fs::remove(dir.path() / "job.shard-00001.h5");
  const Reader reader(dir.path() / "job.h5");
  EXPECT_EQ(reader.read(0).rows, 8u);
  std::string message;
  EXPECT_EQ(error_code_of([&] { reader.read(4); }, &message), kExitIo);
  EXPECT_NE(message.find("matrix 4"), std::string::npos) << message;
  EXPECT_NE(message.find("job.shard-00001.h5 is missing"), std::string::npos) << message;
}

TEST(ReaderErrors, TruncatedShardIsNamed) {
  TempDir dir;
  write_output(dir.path(), DType::float32, 16, 16, 4, ChunkShape{8, 8}, Shuffled::none, 2);
  const fs::path shard = dir.path() / "job.shard-00000.h5";
  fs::resize_file(shard, fs::file_size(shard) / 2);
  const Reader reader(dir.path());
  EXPECT_EQ(reader.read(3).rows, 16u);
  std::string message;
  EXPECT_EQ(error_code_of([&] { reader.read_slice(1, {0, 2}, {0, 2}); }, &message), kExitIo);
  EXPECT_NE(message.find("matrix 1: "), std::string::npos) << message;
  EXPECT_NE(message.find("job.shard-00000.h5 cannot be opened"), std::string::npos) << message;
}

TEST(ReaderErrors, FindMaster) {
  TempDir dir;
  std::string message;
  EXPECT_EQ(error_code_of([&] { find_master(dir.path()); }, &message), kExitBadInput);
  EXPECT_NE(message.find("holds no master file"), std::string::npos) << message;
  EXPECT_EQ(error_code_of([&] { find_master(dir.path() / "nope.h5"); }), kExitBadInput);
  write_output(dir.path(), DType::int8, 4, 4, 2, std::nullopt, Shuffled::none, 1);
  EXPECT_EQ(find_master(dir.path()), dir.path() / "job.h5");
  EXPECT_EQ(error_code_of([&] { find_master(dir.path() / "job.shard-00000.h5"); }, &message), kExitBadInput);
  EXPECT_NE(message.find("is a shard"), std::string::npos) << message;
}

// ---- cache ------------------------------------------------------------------------------------

TEST(ReaderCache, BoundedAndCountsHitsAndMisses) {
  TempDir dir;
  // 64 x 64 float64 in 16 x 16 tiles: 16 tiles of 2 KiB per matrix.
  const Written w = write_output(dir.path(), DType::float64, 64, 64, 4, ChunkShape{16, 16}, Shuffled::none);
  constexpr std::size_t kTile = 16 * 16 * 8;
  const Reader reader(dir.path(), ReaderOptions{5 * kTile, false});

  // A slice inside one tile: one miss, then hits.
  reader.read_slice(0, {1, 3}, {1, 3});
  CacheStats s = reader.cache_stats();
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.hits, 0u);
  EXPECT_EQ(s.chunks_decoded, 1u);
  EXPECT_EQ(s.bytes_decoded, kTile);
  reader.read_slice(0, {0, 16}, {0, 16});
  reader.read_slice(0, {4, 5}, {7, 9});
  s = reader.cache_stats();
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.hits, 2u);
  EXPECT_EQ(s.chunks_decoded, 1u);

  // A 2 x 2-tile slice decodes only those 4 tiles.
  reader.read_slice(1, {10, 30}, {10, 30});
  s = reader.cache_stats();
  EXPECT_EQ(s.chunks_decoded, 5u);

  // Whole matrices overflow the 5-tile budget: evictions, never more than the capacity.
  for (std::uint64_t id = 0; id < 4; ++id) {
    EXPECT_EQ(reader.read(id).bytes, w.matrices[id]);
    s = reader.cache_stats();
    EXPECT_LE(s.bytes, 5 * kTile);
    EXPECT_LE(s.entries, 5u);
  }
  EXPECT_GT(s.evictions, 0u);
  EXPECT_EQ(s.capacity, 5 * kTile);
  // The most recent tiles are still there: the last tile of matrix 3 is a hit.
  const std::uint64_t hits = s.hits;
  reader.read_slice(3, {63, 64}, {63, 64});
  EXPECT_EQ(reader.cache_stats().hits, hits + 1);
}

TEST(ReaderCache, ZeroCapacityKeepsNothing) {
  TempDir dir;
  const Written w = write_output(dir.path(), DType::int64, 30, 30, 2, std::nullopt, Shuffled::all);
  const Reader reader(dir.path(), ReaderOptions{0, true});
  EXPECT_EQ(reader.read(1).bytes, w.matrices[1]);
  EXPECT_EQ(reader.read(1).bytes, w.matrices[1]);
  const CacheStats s = reader.cache_stats();
  EXPECT_EQ(s.entries, 0u);
  EXPECT_EQ(s.bytes, 0u);
  EXPECT_EQ(s.hits, 0u);
  EXPECT_EQ(s.chunks_decoded, 2u);
}

TEST(ReaderThreads, ConcurrentReadersGetCorrectData) {
  TempDir dir;
  constexpr std::uint32_t kRows = 48, kCols = 40;
  const Written w = write_output(dir.path(), DType::float32, kRows, kCols, 8, ChunkShape{10, 9}, Shuffled::all, 3);
  // A small cache: threads evict each other's tiles while others copy from them.
  const Reader reader(dir.path(), ReaderOptions{6 * 10 * 9 * 4, true});
  std::atomic<int> wrong{0}, done{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      for (int i = 0; i < 150; ++i) {
        const std::uint64_t id = rng() % 8;
        std::uint64_t r0 = rng() % kRows, r1 = rng() % (kRows + 1), c0 = rng() % kCols, c1 = rng() % (kCols + 1);
        if (r0 > r1) std::swap(r0, r1);
        if (c0 > c1) std::swap(c0, c1);
        const Matrix m = i % 10 == 0 ? reader.read(id) : reader.read_slice(id, {r0, r1}, {c0, c1});
        const auto want = i % 10 == 0 ? w.matrices[id] : expected_slice(w.matrices[id], kCols, 4, {r0, r1}, {c0, c1});
        if (m.bytes != want) ++wrong;
        ++done;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(done.load(), 600);
  EXPECT_EQ(wrong.load(), 0);
  const CacheStats s = reader.cache_stats();
  EXPECT_GT(s.hits, 0u);
  EXPECT_GT(s.evictions, 0u);
  EXPECT_LE(s.bytes, s.capacity);
}

TEST(ReaderMatrix, ValuesAreTyped) {
  TempDir dir;
  const Written w = write_output(dir.path(), DType::uint32, 5, 6, 1, std::nullopt, Shuffled::none, 1);
  const Matrix m = Reader(dir.path()).read(0);
  const auto values = m.values<std::uint32_t>();
  ASSERT_EQ(values.size(), 30u);
  EXPECT_EQ(std::memcmp(values.data(), w.matrices[0].data(), 120), 0);
  EXPECT_THROW(m.values<float>(), ReaderError);
}

}  // namespace
}  // namespace shmjob
