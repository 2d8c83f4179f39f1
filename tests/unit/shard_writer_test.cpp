// ShardWriter's metadata cache stays bounded over many small matrices (it reopens the file
// after a flush once the cache passes kMetadataCacheLimit), and a shard whose writer dies after
// such a reopen still reads back every matrix up to its last flush. A link renamed onto the
// shard's name mid-run is never written through: the reopen and the fsync reach the file created.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "codec/tile_codec.hpp"
#include "config/matrix_set.hpp"
#include "config/tile_grid.hpp"
#include "h5/h5_handle.hpp"
#include "h5/index_table.hpp"
#include "h5/shard_writer.hpp"

namespace shmjob {
namespace {

namespace fs = std::filesystem;

constexpr std::uint32_t kSide = 4;          // 4x4 float64: 128 bytes, one chunk per matrix
constexpr std::uint64_t kMatrices = 60000;  // a cache of ~3.4 MB (file images), ~25 MB of memory
constexpr std::uint64_t kFlushEvery = 5000;
constexpr std::uint64_t kUnflushed = 700;  // written after the last flush, then the writer dies

fs::path temp_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  fs::path dir = fs::temp_directory_path() / ("shmjob_shard_" + std::to_string(::getpid()) + "_" + info->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// The compressed frame of matrix `id` (values that differ per matrix).
std::vector<std::byte> frame_of(codec::TileCompressor& compressor, const TileGrid& grid, std::uint64_t id) {
  std::vector<double> m(kSide * kSide);
  for (std::size_t i = 0; i < m.size(); ++i) m[i] = static_cast<double>(id) * 1000.0 + static_cast<double>(i);
  std::vector<std::byte> packed(packed_tiles_capacity(grid, sizeof(double)));
  const std::size_t bytes = compressor.compress(reinterpret_cast<const std::byte*>(m.data()), grid, sizeof(double),
                                                packed.data(), packed.size());
  packed.resize(bytes);
  return packed;
}

IndexRow row_of(std::uint64_t id, std::uint64_t compressed) {
  return {id, 0, id, kSide * kSide * sizeof(double), compressed, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, kNoSource, kNoSource,
          id, 3, 0};
}

// Child process: writes every matrix, flushing every kFlushEvery, then kUnflushed more, and
// exits without closing the file (as a SIGKILL would). Exit code 0: after every flush the cache
// was within the limit, and before some flush it was above it (the reopen ran).
[[noreturn]] void write_and_die(const fs::path& shard) {
  int code = 0;
  try {
    MatrixSet set = matrix_set({kSide, kSide, DType::float64}, kMatrices + kUnflushed);
    set.name = "data", set.index_name = "index";
    CompressionConfig compression;
    compression.level = 1;
    const TileGrid grid = tile_grid(kSide, kSide, std::nullopt);
    codec::TileCompressor compressor(compression.level, false);
    h5::ShardWriter writer(shard, {h5::ShardPart{&set, 0, set.count}}, compression, {});
    std::vector<IndexRow> unflushed;
    std::size_t largest_before_flush = 0;
    for (std::uint64_t id = 0; id < kMatrices + kUnflushed; ++id) {
      const std::vector<std::byte> frame = frame_of(compressor, grid, id);
      writer.write_matrix(0, id, frame.data(), frame.size(), false);
      unflushed.push_back(row_of(id, frame.size()));
      if (unflushed.size() == kFlushEvery && id < kMatrices) {
        largest_before_flush = std::max(largest_before_flush, writer.metadata_cache_bytes());
        writer.flush(unflushed);
        unflushed.clear();
        if (writer.metadata_cache_bytes() > h5::ShardWriter::kMetadataCacheLimit) code = 3;
      }
    }
    if (largest_before_flush <= h5::ShardWriter::kMetadataCacheLimit) code = 4;  // never reopened
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    code = 5;
  }
  ::_exit(code);
}

TEST(ShardWriterCache, StaysBoundedAndAKilledWriterKeepsEveryFlushedMatrix) {
  const fs::path dir = temp_dir();
  const fs::path shard = dir / "job.shard-00000.h5";
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) write_and_die(shard);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_NE(WEXITSTATUS(status), 3) << "the metadata cache stayed above the limit after a flush";
  ASSERT_NE(WEXITSTATUS(status), 4) << "the cache never passed the limit: the test did not reach a reopen";
  ASSERT_EQ(WEXITSTATUS(status), 0);

  // An independent read of the dead writer's file: the index holds the flushed rows, and each
  // row's chunk is the frame written for it.
  h5::File f(H5Fopen(shard.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "open the killed writer's shard");
  // The file-space strategy (no reuse of freed space) is stored in the file, so it held for
  // the sessions after each reopen too.
  h5::PropList fcpl(H5Fget_create_plist(f), "H5Fget_create_plist");
  H5F_fspace_strategy_t strategy{};
  hbool_t persist = false;
  hsize_t threshold = 0;
  ASSERT_GE(H5Pget_file_space_strategy(fcpl, &strategy, &persist, &threshold), 0);
  EXPECT_EQ(strategy, H5F_FSPACE_STRATEGY_NONE);
  const std::vector<IndexRow> index = h5::read_index(f, "index");
  ASSERT_EQ(index.size(), kMatrices);
  h5::Dataset data(H5Dopen2(f, "data", H5P_DEFAULT), "open data");
  const TileGrid grid = tile_grid(kSide, kSide, std::nullopt);
  codec::TileCompressor compressor(1, false);
  for (std::uint64_t id = 0; id < kMatrices; id += 997) {
    ASSERT_EQ(index[id].id, id);
    const std::vector<std::byte> want = frame_of(compressor, grid, id);
    const hsize_t offset[3] = {id, 0, 0};
    hsize_t stored = 0;
    ASSERT_GE(H5Dget_chunk_storage_size(data, offset, &stored), 0);
    ASSERT_EQ(stored, want.size()) << id;
    std::vector<std::byte> got(stored);
    std::uint32_t filters = 0;
    ASSERT_GE(H5Dread_chunk(data, H5P_DEFAULT, offset, &filters, got.data()), 0) << id;
    EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size()), 0) << id;
  }
  std::error_code ignored;
  fs::remove_all(dir, ignored);
}

// Someone renames the shard away after the first flush and links a file of theirs at its name;
// the writer goes on past a reopen and finishes: the linked file is unchanged and the renamed
// shard holds every matrix.
TEST(ShardWriterIdentity, ALinkRenamedOntoTheShardNameIsNeverWritten) {
  const fs::path dir = temp_dir();
  const fs::path shard = dir / "job.shard-00000.h5", moved = dir / "moved.h5", victim = dir / "victim.h5";
  {  // an HDF5 file: a reopen through the link would open it read-write without complaint
    h5::File v(H5Fcreate(victim.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT), "create the victim");
  }
  const auto contents = [](const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string before = contents(victim);
  const std::uint64_t count = 30000;
  MatrixSet set = matrix_set({kSide, kSide, DType::float64}, count);
  set.name = "data", set.index_name = "index";
  CompressionConfig compression;
  compression.level = 1;
  const TileGrid grid = tile_grid(kSide, kSide, std::nullopt);
  codec::TileCompressor compressor(compression.level, false);
  std::size_t largest_before_flush = 0;
  {
    h5::ShardWriter writer(shard, {h5::ShardPart{&set, 0, count}}, compression, {});
    std::vector<IndexRow> unflushed;
    for (std::uint64_t id = 0; id < count; ++id) {
      const std::vector<std::byte> frame = frame_of(compressor, grid, id);
      writer.write_matrix(0, id, frame.data(), frame.size(), false);
      unflushed.push_back(row_of(id, frame.size()));
      if (unflushed.size() == kFlushEvery) {
        largest_before_flush = std::max(largest_before_flush, writer.metadata_cache_bytes());
        writer.flush(unflushed, h5::FlushTo::disk);
        unflushed.clear();
        if (id + 1 == kFlushEvery) {
          fs::rename(shard, moved);
          fs::create_symlink(victim, shard);
        }
      }
    }
    writer.flush(unflushed, h5::FlushTo::disk);
    writer.finish([](const IndexRow& r) { return r.id; });
  }
  ASSERT_GT(largest_before_flush, h5::ShardWriter::kMetadataCacheLimit) << "the test did not reach a reopen";
  EXPECT_TRUE(fs::is_symlink(shard));
  EXPECT_EQ(contents(victim), before) << "the linked file was written";
  h5::File f(H5Fopen(moved.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "open the renamed shard");
  EXPECT_EQ(h5::read_index(f, "index").size(), count);
  std::error_code ignored;
  fs::remove_all(dir, ignored);
}

}  // namespace
}  // namespace shmjob
