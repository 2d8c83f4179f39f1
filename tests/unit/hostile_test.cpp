// Bounds that protect shmjob from hostile configs and chunks (issue 7): the zstd filter refuses
// a frame whose header claims more than the frame could hold before allocating anything, and
// the config reader rejects duplicate keys, deep nesting, empty and oversized files.
#include <gtest/gtest.h>
#include <zstd.h>

#include <unistd.h>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "h5/zstd_filter.hpp"
#include "shmjob/error.hpp"

namespace {

using shmjob::h5::zstd_filter_class;
using shmjob::h5::zstd_max_content_size;

// A zstd frame: magic, a header with an 8-byte content size, one empty raw block (last).
std::vector<std::uint8_t> frame_claiming(std::uint64_t content_size) {
  std::vector<std::uint8_t> f{0x28, 0xB5, 0x2F, 0xFD, 0xE0};  // FCS 8 bytes, single segment
  for (int i = 0; i < 8; ++i) f.push_back(static_cast<std::uint8_t>(content_size >> (8 * i)));
  f.insert(f.end(), {0x01, 0x00, 0x00});  // last block, raw, 0 bytes
  return f;
}

// Calls the filter the way HDF5 does (a malloc'd buffer it may replace); returns its result.
std::size_t decode(const std::vector<std::uint8_t>& chunk, std::vector<std::uint8_t>* out = nullptr) {
  std::size_t buf_size = chunk.size();
  void* buf = std::malloc(buf_size);
  std::memcpy(buf, chunk.data(), chunk.size());
  const std::size_t n = zstd_filter_class()->filter(H5Z_FLAG_REVERSE, 0, nullptr, chunk.size(), &buf_size, &buf);
  if (out != nullptr && n > 0) out->assign(static_cast<std::uint8_t*>(buf), static_cast<std::uint8_t*>(buf) + n);
  std::free(buf);
  return n;
}

TEST(ZstdFilterBound, HeaderClaimingTerabytesIsRefusedBeforeAllocating) {
  const auto frame = frame_claiming(std::uint64_t{1} << 40);
  ASSERT_EQ(ZSTD_getFrameContentSize(frame.data(), frame.size()), std::uint64_t{1} << 40);
  EXPECT_EQ(decode(frame), 0u);
}

TEST(ZstdFilterBound, HeaderClaimingMoreThanTheBlocksHoldIsRefused) {
  // 16 bytes of frame can hold at most 5 blocks of 128 KiB.
  EXPECT_EQ(zstd_max_content_size(16), 5u * ZSTD_BLOCKSIZE_MAX);
  EXPECT_EQ(decode(frame_claiming(5u * ZSTD_BLOCKSIZE_MAX + 1)), 0u);
  // Within the bound but a lie all the same: zstd itself finds the block short.
  EXPECT_EQ(decode(frame_claiming(1000)), 0u);
}

TEST(ZstdFilterBound, NeverAboveHdf5ChunkLimit) {
  EXPECT_EQ(zstd_max_content_size(std::size_t{1} << 30), shmjob::kMaxChunkBytes);
}

TEST(ZstdFilterBound, HighlyCompressibleChunksStillDecode) {
  // All zeros compress about as well as zstd can (RLE blocks): the bound must admit them.
  for (const std::size_t bytes : {std::size_t{1}, std::size_t{4096}, std::size_t{8} << 20}) {
    const std::vector<std::uint8_t> zeros(bytes, 0);
    std::vector<std::uint8_t> frame(ZSTD_compressBound(bytes));
    const std::size_t n = ZSTD_compress(frame.data(), frame.size(), zeros.data(), bytes, 19);
    ASSERT_FALSE(ZSTD_isError(n));
    frame.resize(n);
    EXPECT_LE(bytes, zstd_max_content_size(frame.size())) << bytes << " bytes in " << n;
    std::vector<std::uint8_t> out;
    EXPECT_EQ(decode(frame, &out), bytes);
    EXPECT_EQ(out, zeros);
  }
}

class ConfigFile : public ::testing::Test {
 protected:
  std::filesystem::path write(const std::string& text) {
    std::ofstream(path_, std::ios::binary) << text;
    return path_;
  }
  std::string error_of(const std::string& text) {
    try {
      shmjob::load_config(write(text));
    } catch (const shmjob::ConfigError& e) {
      EXPECT_EQ(e.exit_code(), shmjob::kExitBadInput);
      return e.what();
    }
    return "(accepted)";
  }
  void TearDown() override { std::filesystem::remove(path_); }
  std::filesystem::path path_ =
      std::filesystem::temp_directory_path() / ("shmjob-hostile-" + std::to_string(::getpid()) + ".json");
};

TEST_F(ConfigFile, DuplicateKeyNamed) {
  const std::string e = error_of(R"({"matrices": {"count": 10, "rows": 4, "cols": 4, "count": -1}})");
  EXPECT_NE(e.find("duplicate key \"matrices.count\""), std::string::npos) << e;
}

TEST_F(ConfigFile, DuplicateTopLevelKeyNamed) {
  const std::string e = error_of(R"({"job": "a", "matrices": {"count": 1, "rows": 4, "cols": 4}, "job": "b"})");
  EXPECT_NE(e.find("duplicate key \"job\""), std::string::npos) << e;
}

TEST_F(ConfigFile, SameKeyInDifferentObjectsIsFine) {
  EXPECT_EQ(error_of(R"({"matrices": {"count": 1, "rows": 4, "cols": 4},
                         "slots": {"per_producer": 1}, "stages": {"producers": 1}})"),
            "(accepted)");
}

TEST_F(ConfigFile, DeepNestingRejectedWithoutRecursion) {
  // Deep enough that printing the value recursively would overflow the stack.
  const std::size_t depth = 200000;
  const std::string e =
      error_of(R"({"matrices": {"count": )" + std::string(depth, '[') + std::string(depth, ']') + "}}");
  EXPECT_NE(e.find("nested deeper than 32 levels"), std::string::npos) << e;
  EXPECT_NE(e.find("matrices.count"), std::string::npos) << e;
}

TEST_F(ConfigFile, EmptyAndBlankFiles) {
  EXPECT_NE(error_of("").find("is empty"), std::string::npos);
  EXPECT_NE(error_of(" \n\t ").find("is empty"), std::string::npos);
}

TEST_F(ConfigFile, OversizedFileRejected) {
  const std::string e = error_of(std::string(17 << 20, ' ') + "{}");
  EXPECT_NE(e.find("larger than 16 MiB"), std::string::npos) << e;
}

TEST_F(ConfigFile, NanInfinityAndHugeNumbersAreNotJsonNumbers) {
  for (const char* bad : {"NaN", "Infinity", "-Infinity", "1e400"}) {
    const std::string e = error_of(
        std::string(R"({"matrices": {"count": 1, "rows": 4, "cols": 4}, "metrics": {"interval_s": )") + bad + "}}");
    EXPECT_NE(e.find("not valid JSON"), std::string::npos) << bad << ": " << e;
  }
}

TEST_F(ConfigFile, IntegersBeyond64BitsAreNotIntegers) {
  const std::string e = error_of(R"({"matrices": {"count": 99999999999999999999999, "rows": 4, "cols": 4}})");
  EXPECT_NE(e.find("matrices.count"), std::string::npos) << e;
}

}  // namespace
