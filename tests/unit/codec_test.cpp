// Shuffle, zstd and matrix statistics without HDF5 (shuffle_hdf5_test.cpp checks the byte order
// against HDF5 itself).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "codec/matrix_stats.hpp"
#include "codec/shuffle.hpp"
#include "codec/zstd_codec.hpp"
#include "shmjob/dtype.hpp"
#include "shmjob/error.hpp"

namespace shmjob::codec {
namespace {

using Bytes = std::vector<unsigned char>;

// Deterministic bytes with no structure (splitmix64).
Bytes noise(std::size_t bytes, std::uint64_t seed) {
  Bytes out(bytes);
  for (auto& b : out) {
    seed += 0x9E3779B97F4A7C15ull;
    std::uint64_t z = seed;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    b = static_cast<unsigned char>(z ^ (z >> 31));
  }
  return out;
}

// The definition from shuffle.hpp, byte by byte.
Bytes reference_shuffle(const Bytes& in, std::size_t w) {
  if (w <= 1 || in.size() < w) return in;
  Bytes out(in);
  const std::size_t n = in.size() / w;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < w; ++j) out[j * n + i] = in[i * w + j];
  return out;  // the trailing in.size() % w bytes stay where they were
}

Bytes shuffled(const Bytes& in, std::size_t w) {
  Bytes out(in.size());
  shuffle(in.data(), out.data(), in.size(), w);
  return out;
}

Bytes unshuffled(const Bytes& in, std::size_t w) {
  Bytes out(in.size());
  unshuffle(in.data(), out.data(), in.size(), w);
  return out;
}

// ---- shuffle -----------------------------------------------------------------------------------

TEST(Shuffle, HandCheckedFourByteElementsWithLeftover) {
  const Bytes in{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13};
  const Bytes expected{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11, 12, 13};
  EXPECT_EQ(shuffled(in, 4), expected);
  EXPECT_EQ(unshuffled(expected, 4), in);
}

TEST(Shuffle, HandCheckedLittleEndianInt16) {
  const std::int16_t values[3] = {0x0102, 0x0304, 0x0506};
  Bytes in(sizeof values);
  std::memcpy(in.data(), values, sizeof values);
  // Low bytes first, then high bytes (x86 and every target shmjob runs on are little-endian).
  EXPECT_EQ(shuffled(in, 2), (Bytes{0x02, 0x04, 0x06, 0x01, 0x03, 0x05}));
}

TEST(Shuffle, OneByteElementsAndShortBuffersAreCopied) {
  const Bytes in = noise(37, 1);
  EXPECT_EQ(shuffled(in, 1), in);
  EXPECT_EQ(shuffled(in, 0), in);
  EXPECT_EQ(shuffled(Bytes(in.begin(), in.begin() + 7), 8), Bytes(in.begin(), in.begin() + 7));
  EXPECT_EQ(unshuffled(Bytes(in.begin(), in.begin() + 3), 4), Bytes(in.begin(), in.begin() + 3));
}

TEST(Shuffle, EmptyBufferIsANoOp) {
  shuffle(nullptr, nullptr, 0, 8);
  unshuffle(nullptr, nullptr, 0, 8);
}

// Element sizes with dedicated kernels (2, 4, 8) and generic ones (1, 3, 16); byte counts around
// the 8-element blocks of the fast kernels and with leftover bytes.
TEST(Shuffle, MatchesReferenceAndRoundTrips) {
  for (std::size_t w : {1, 2, 3, 4, 8, 16}) {
    for (std::size_t bytes :
         {0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 63, 64, 65, 71, 72, 73, 127, 128, 129, 1000, 1003, 4101, 65536, 65543}) {
      SCOPED_TRACE("element size " + std::to_string(w) + ", bytes " + std::to_string(bytes));
      const Bytes in = noise(bytes, w * 1000 + bytes);
      const Bytes out = shuffled(in, w);
      ASSERT_EQ(out, reference_shuffle(in, w));
      ASSERT_EQ(unshuffled(out, w), in);
    }
  }
}

TEST(Shuffle, EightMegabyteFloat64RoundTrips) {
  const Bytes in = noise(8u << 20, 42);
  const Bytes out = shuffled(in, 8);
  EXPECT_EQ(out, reference_shuffle(in, 8));
  EXPECT_EQ(unshuffled(out, 8), in);
}

// ---- zstd --------------------------------------------------------------------------------------

Bytes compress_all(ZstdCompressor& z, const Bytes& raw) {
  Bytes frame(compressed_bound(raw.size()));
  frame.resize(z.compress(raw.data(), raw.size(), frame.data(), frame.size()));
  return frame;
}

Bytes decompress_all(const Bytes& frame, std::size_t raw_bytes) {
  Bytes raw(raw_bytes);
  decompress(frame.data(), frame.size(), raw.data(), raw.size());
  return raw;
}

// A smooth-ish matrix of `elements` values of each dtype (compresses well, unlike noise()).
Bytes structured(DType dtype, std::size_t elements) {
  return visit_dtype(dtype, [&](auto zero) {
    using T = decltype(zero);
    Bytes out(elements * sizeof(T));
    for (std::size_t i = 0; i < elements; ++i) {
      const double x = static_cast<double>(i % 97) * 1.25 - 40.0;
      // Through int64 for integer types: a negative double cast straight to an unsigned type
      // is undefined behaviour (UBSan's float-cast-overflow); int64 -> unsigned wraps.
      T value{};
      if constexpr (kIsFloatElement<T>)
        value = static_cast<T>(x);
      else
        value = static_cast<T>(static_cast<std::int64_t>(x));
      std::memcpy(out.data() + i * sizeof(T), &value, sizeof(T));
    }
    return out;
  });
}

constexpr DType kAllDTypes[] = {DType::int8,    DType::int16,   DType::int32,  DType::int64,
                                DType::uint8,   DType::uint16,  DType::uint32, DType::uint64,
                                DType::float32, DType::float64, DType::float16};

TEST(Zstd, RoundTripsEveryDTypeStructuredAndNoisy) {
  ZstdCompressor z(3);
  for (DType dtype : kAllDTypes) {
    SCOPED_TRACE(std::string(dtype_name(dtype)));
    const std::size_t elements = 3001;
    const std::size_t w = dtype_size(dtype);
    for (const Bytes& raw : {structured(dtype, elements), noise(elements * w, w)}) {
      for (const Bytes& input : {raw, shuffled(raw, w)}) {
        const Bytes frame = compress_all(z, input);
        EXPECT_EQ(ZSTD_getFrameContentSize(frame.data(), frame.size()), input.size());
        EXPECT_EQ(decompress_all(frame, input.size()), input);
      }
    }
    // The structured matrix must actually compress, or the test proves little.
    EXPECT_LT(compress_all(z, structured(dtype, elements)).size(), elements * w / 4);
  }
}

TEST(Zstd, EmptyInputRoundTrips) {
  ZstdCompressor z(1);
  const Bytes frame = compress_all(z, {});
  EXPECT_EQ(ZSTD_getFrameContentSize(frame.data(), frame.size()), 0u);
  decompress(frame.data(), frame.size(), nullptr, 0);
}

TEST(Zstd, CompressorIsReusable) {
  ZstdCompressor z(5);
  const Bytes a = structured(DType::float64, 10000);
  const Bytes b = structured(DType::int32, 777);
  const Bytes fa = compress_all(z, a);
  EXPECT_EQ(decompress_all(compress_all(z, b), b.size()), b);
  EXPECT_EQ(compress_all(z, a), fa);  // same input, same level: identical frame
}

TEST(Zstd, AcceptsEveryLevelZstdAccepts) {
  for (int level : {ZSTD_minCLevel(), -5, -1, 0, 1, 3, 19, ZSTD_maxCLevel()}) {
    SCOPED_TRACE(level);
    ZstdCompressor z(level);
    const Bytes raw = structured(DType::int16, 500);
    EXPECT_EQ(decompress_all(compress_all(z, raw), raw.size()), raw);
  }
}

TEST(Zstd, RejectsLevelsOutsideZstdBounds) {
  EXPECT_THROW(ZstdCompressor(ZSTD_maxCLevel() + 1), CodecError);
  EXPECT_THROW(ZstdCompressor(ZSTD_minCLevel() - 1), CodecError);
  EXPECT_THROW(ZstdCompressor(1000), CodecError);
}

TEST(Zstd, TooSmallOutputThrowsWithZstdErrorName) {
  ZstdCompressor z(3);
  const Bytes raw = noise(4096, 9);
  Bytes out(100);
  try {
    z.compress(raw.data(), raw.size(), out.data(), out.size());
    FAIL() << "expected CodecError";
  } catch (const CodecError& e) {
    EXPECT_NE(std::string(e.what()).find("Destination buffer is too small"), std::string::npos) << e.what();
  }
}

TEST(Zstd, CompressedBoundCoversIncompressibleData) {
  ZstdCompressor z(19);
  for (std::size_t bytes : {0, 1, 100, 1 << 20}) {
    const Bytes raw = noise(bytes, bytes);
    EXPECT_GE(compressed_bound(bytes), bytes);
    EXPECT_LE(compress_all(z, raw).size(), compressed_bound(bytes));
  }
}

class ZstdCorrupt : public ::testing::Test {
 protected:
  Bytes raw = structured(DType::float64, 4096);
  Bytes frame = [this] {
    ZstdCompressor z(3);
    return compress_all(z, raw);
  }();
};

TEST_F(ZstdCorrupt, BadMagicThrows) {
  frame[0] ^= 0xFF;
  EXPECT_THROW(decompress_all(frame, raw.size()), CodecError);
}

TEST_F(ZstdCorrupt, TruncatedFrameThrows) {
  frame.resize(frame.size() - 3);
  EXPECT_THROW(decompress_all(frame, raw.size()), CodecError);
}

TEST_F(ZstdCorrupt, HeaderOnlyThrows) {
  frame.resize(6);
  EXPECT_THROW(decompress_all(frame, raw.size()), CodecError);
}

TEST_F(ZstdCorrupt, TrailingGarbageThrows) {
  frame.push_back(0x42);
  frame.push_back(0x42);
  EXPECT_THROW(decompress_all(frame, raw.size()), CodecError);
}

TEST_F(ZstdCorrupt, WrongExpectedSizeThrows) {
  EXPECT_THROW(decompress_all(frame, raw.size() - 8), CodecError);
  EXPECT_THROW(decompress_all(frame, raw.size() + 8), CodecError);
}

// Size of a zstd frame header (RFC 8878 section 3.1.1.1), read from its descriptor byte.
std::size_t frame_header_size(const Bytes& frame) {
  const unsigned descriptor = frame.at(4);
  const bool single_segment = (descriptor >> 5) & 1u;
  const std::size_t dict_id[] = {0, 1, 2, 4};
  const std::size_t content_size[] = {single_segment ? 1u : 0u, 2, 4, 8};
  return 4 + 1 + (single_segment ? 0 : 1) + dict_id[descriptor & 3u] + content_size[descriptor >> 6];
}

TEST_F(ZstdCorrupt, ReservedBlockTypeThrowsWithZstdErrorName) {
  // First block header (3 bytes, little-endian): bit 0 last-block, bits 1-2 type; 3 is reserved.
  frame.at(frame_header_size(frame)) = 0x06;
  try {
    decompress_all(frame, raw.size());
    FAIL() << "expected CodecError";
  } catch (const CodecError& e) {
    const std::string zstd_name = ZSTD_getErrorString(ZSTD_error_corruption_detected);
    EXPECT_NE(std::string(e.what()).find(zstd_name), std::string::npos) << e.what();
  }
}

TEST(Zstd, GarbageThrows) {
  const Bytes garbage = noise(300, 77);
  EXPECT_THROW(decompress_all(garbage, 300), CodecError);
  EXPECT_THROW(decompress_all({}, 0), CodecError);
}

// ---- statistics --------------------------------------------------------------------------------

std::uint32_t crc_of_string(const std::string& s) { return crc32_of(s.data(), s.size()); }

TEST(Crc32, KnownValues) {
  EXPECT_EQ(crc_of_string("123456789"), 0xCBF43926u);
  EXPECT_EQ(crc_of_string(""), 0u);
  EXPECT_EQ(crc32_of(nullptr, 0), 0u);
  // Python: zlib.crc32(b"The quick brown fox jumps over the lazy dog") == 0x414FA339
  EXPECT_EQ(crc_of_string("The quick brown fox jumps over the lazy dog"), 0x414FA339u);
}

template <class T>
MatrixStats stats_of(const std::vector<T>& values, DType dtype) {
  return compute_stats(values.data(), values.size(), dtype);
}

TEST(Stats, Int16HandComputed) {
  const std::vector<std::int16_t> v{-5, 7, 1, 3};
  const MatrixStats s = stats_of(v, DType::int16);
  EXPECT_EQ(s.min, -5.0);
  EXPECT_EQ(s.max, 7.0);
  EXPECT_EQ(s.mean, 1.5);
  EXPECT_EQ(s.crc32, crc32_of(v.data(), v.size() * sizeof(std::int16_t)));
}

TEST(Stats, UnsignedAndWideIntegers) {
  const std::vector<std::uint8_t> u8{255, 0, 128};
  const MatrixStats a = stats_of(u8, DType::uint8);
  EXPECT_EQ(a.min, 0.0);
  EXPECT_EQ(a.max, 255.0);
  EXPECT_EQ(a.mean, 383.0 / 3.0);

  const std::vector<std::uint64_t> u64{std::uint64_t{1} << 63, 1};
  const MatrixStats b = stats_of(u64, DType::uint64);
  EXPECT_EQ(b.max, 9223372036854775808.0);
  EXPECT_EQ(b.min, 1.0);

  const std::vector<std::int8_t> i8{-128, 127};
  EXPECT_EQ(stats_of(i8, DType::int8).mean, -0.5);
}

TEST(Stats, Float64SkipsNaN) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<double> v{1.0, nan, 3.0, -2.0, nan};
  const MatrixStats s = stats_of(v, DType::float64);
  EXPECT_EQ(s.min, -2.0);
  EXPECT_EQ(s.max, 3.0);
  EXPECT_DOUBLE_EQ(s.mean, 2.0 / 3.0);
  EXPECT_EQ(s.crc32, crc32_of(v.data(), v.size() * sizeof(double)));  // NaNs still in the CRC
}

TEST(Stats, Float32NaNFirstAndInfinity) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> v{nan, 0.5f, inf, -1.5f};
  const MatrixStats s = stats_of(v, DType::float32);
  EXPECT_EQ(s.min, -1.5);
  EXPECT_EQ(s.max, std::numeric_limits<double>::infinity());
  EXPECT_EQ(s.mean, std::numeric_limits<double>::infinity());
}

TEST(Stats, AllNaNAndEmptyGiveNaN) {
  const std::vector<float> v(5, std::numeric_limits<float>::quiet_NaN());
  const MatrixStats s = stats_of(v, DType::float32);
  EXPECT_TRUE(std::isnan(s.min));
  EXPECT_TRUE(std::isnan(s.max));
  EXPECT_TRUE(std::isnan(s.mean));

  const MatrixStats e = compute_stats(nullptr, 0, DType::float64);
  EXPECT_TRUE(std::isnan(e.min) && std::isnan(e.max) && std::isnan(e.mean));
  EXPECT_EQ(e.crc32, 0u);
}

TEST(Stats, UnalignedInput) {
  const std::vector<double> v{2.5, -4.0, 10.0};
  Bytes buffer(1 + v.size() * sizeof(double));
  std::memcpy(buffer.data() + 1, v.data(), v.size() * sizeof(double));
  const MatrixStats s = compute_stats(buffer.data() + 1, v.size(), DType::float64);
  EXPECT_EQ(s.min, -4.0);
  EXPECT_EQ(s.max, 10.0);
  EXPECT_EQ(s.mean, 8.5 / 3.0);
  EXPECT_EQ(s.crc32, crc32_of(v.data(), v.size() * sizeof(double)));
}

TEST(Stats, MeanOfIntegersIsExact) {
  std::vector<std::int32_t> v(1000);
  double sum = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    v[i] = static_cast<std::int32_t>(i * i) - 300000;
    sum += static_cast<double>(v[i]);
  }
  const MatrixStats s = stats_of(v, DType::int32);
  EXPECT_EQ(s.mean, sum / 1000.0);
  EXPECT_EQ(s.min, -300000.0);
  EXPECT_EQ(s.max, 999.0 * 999.0 - 300000.0);
}

// The vector path (blocks of 128 KiB, 8 values per step, a scalar tail) against a plain
// one-value-at-a-time reference and zlib's crc32, over several blocks, an odd length, NaNs and
// infinities at block edges, for both float types.
template <class T>
void check_against_reference(DType dtype) {
  std::vector<T> v(300007);
  std::uint64_t x = 88172645463325252ULL;
  for (auto& e : v) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    e = static_cast<T>(static_cast<double>(x >> 11) * 0x1.0p-53 * 2000.0 - 1000.0);
  }
  const T nan = std::numeric_limits<T>::quiet_NaN();
  for (std::size_t i : {std::size_t{0}, std::size_t{16383}, std::size_t{16384}, std::size_t{32768}, v.size() - 1})
    v[i] = nan;
  v[7] = T(-5000);
  v[v.size() - 2] = T(4000);
  double lo = std::numeric_limits<double>::infinity(), hi = -lo, sum = 0;
  std::size_t n = 0;
  for (T e : v) {
    if (std::isnan(e)) continue;
    lo = std::min(lo, static_cast<double>(e));
    hi = std::max(hi, static_cast<double>(e));
    sum += static_cast<double>(e);
    ++n;
  }
  const MatrixStats s = compute_stats(v.data(), v.size(), dtype);
  EXPECT_EQ(s.min, -5000.0);
  EXPECT_EQ(s.max, 4000.0);
  EXPECT_EQ(s.min, lo);
  EXPECT_EQ(s.max, hi);
  EXPECT_NEAR(s.mean, sum / static_cast<double>(n), 1e-9 * 5000.0);
  const uLong zlib =
      crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(v.data()), static_cast<uInt>(v.size() * sizeof(T)));
  EXPECT_EQ(s.crc32, static_cast<std::uint32_t>(zlib));
  EXPECT_EQ(crc32_of(v.data(), v.size() * sizeof(T)), static_cast<std::uint32_t>(zlib));
}

TEST(Stats, VectorPathEqualsReferenceFloat64) { check_against_reference<double>(DType::float64); }
TEST(Stats, VectorPathEqualsReferenceFloat32) { check_against_reference<float>(DType::float32); }

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// The AVX-512 scan gives the SSE2 scan's bits (same lanes, same order of additions, the same
// operand order for NaN), for lengths around the 8-value step and the 128 KiB block; skipped
// where the CPU has no AVX-512 (compute_stats then never takes that path).
template <class T>
void check_scans_agree(DType dtype) {
  if (!simd_level_available(SimdLevel::avx512)) GTEST_SKIP() << "no AVX-512 on this CPU";
  std::uint64_t x = 0x9E3779B97F4A7C15ULL;
  for (std::size_t n :
       {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{8}, std::size_t{9}, std::size_t{4096},
        std::size_t{16383}, std::size_t{16384}, std::size_t{16391}, std::size_t{32768 + 5}, std::size_t{100003}}) {
    std::vector<T> v(n);
    for (auto& e : v) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      e = static_cast<T>(static_cast<double>(x >> 11) * 0x1.0p-53 * 1e6 - 3e5);
    }
    for (std::size_t i = 0; i < n; i += 97) v[i] = std::numeric_limits<T>::quiet_NaN();
    if (n > 3) v[3] = std::numeric_limits<T>::infinity();
    const MatrixStats a = compute_stats(v.data(), n, dtype, SimdLevel::baseline);
    const MatrixStats b = compute_stats(v.data(), n, dtype, SimdLevel::avx512);
    EXPECT_EQ(a.crc32, b.crc32) << n;
    EXPECT_TRUE(same_bits(a.min, b.min)) << n;
    EXPECT_TRUE(same_bits(a.max, b.max)) << n;
    EXPECT_TRUE(same_bits(a.mean, b.mean)) << n << ": " << a.mean << " vs " << b.mean;
  }
  // Negative zeros, with and without a NaN among them: the same min, max and mean bits.
  std::vector<T> zeros(64, T(-0.0));
  for (int with_nan = 0; with_nan < 2; ++with_nan) {
    if (with_nan) zeros[5] = std::numeric_limits<T>::quiet_NaN();
    const MatrixStats a = compute_stats(zeros.data(), zeros.size(), dtype, SimdLevel::baseline);
    const MatrixStats b = compute_stats(zeros.data(), zeros.size(), dtype, SimdLevel::avx512);
    EXPECT_TRUE(same_bits(a.min, b.min) && same_bits(a.max, b.max) && same_bits(a.mean, b.mean)) << with_nan;
  }
}

TEST(Stats, Avx512ScanGivesTheSse2BitsFloat64) { check_scans_agree<double>(DType::float64); }
TEST(Stats, Avx512ScanGivesTheSse2BitsFloat32) { check_scans_agree<float>(DType::float32); }

// The CRC of a matrix is computed block by block (128 KiB): chaining must give zlib's value for
// the whole, at every split point, including inside a 64-byte fold.
TEST(Crc32, ChainedBlocksGiveZlibsValue) {
  std::vector<unsigned char> bytes(300000);
  std::uint64_t x = 1;
  for (auto& b : bytes)
    x = x * 6364136223846793005ULL + 1442695040888963407ULL, b = static_cast<unsigned char>(x >> 56);
  const auto zlib = static_cast<std::uint32_t>(crc32(0L, bytes.data(), static_cast<uInt>(bytes.size())));
  EXPECT_EQ(crc32_of(bytes.data(), bytes.size()), zlib);
  for (std::size_t n :
       {std::size_t{1}, std::size_t{63}, std::size_t{64}, std::size_t{131072}, std::size_t{131073}, bytes.size() - 1}) {
    EXPECT_EQ(crc32_of(bytes.data(), n), static_cast<std::uint32_t>(crc32(0L, bytes.data(), static_cast<uInt>(n))))
        << n;
  }
  // compute_stats over uint8 chains the CRC over 128 KiB blocks.
  EXPECT_EQ(compute_stats(bytes.data(), bytes.size(), DType::uint8).crc32, zlib);
}

}  // namespace
}  // namespace shmjob::codec
