// The generator's code paths give the same bytes (simd_level.hpp); the numpy twin test
// checks the default path against analysis/shmjob_synthetic.py.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "shmjob/dtype.hpp"
#include "synthetic/synthetic.hpp"
#include "synthetic/synthetic_path.hpp"

namespace shmjob {
namespace {

MatrixSpec spec_of(DataKind kind, DType dtype, std::uint32_t rows, std::uint32_t cols) {
  MatrixSpec spec;
  spec.kind = kind;
  spec.shape.dtype = dtype;
  spec.shape.rows = rows;
  spec.shape.cols = cols;
  spec.seed = 12345;
  return spec;
}

std::vector<unsigned char> generated(const MatrixSpec& spec, std::uint64_t id, SimdLevel level) {
  std::vector<unsigned char> bytes(spec.shape.bytes() + 1, 0xA5);  // one guard byte past the end
  generate_matrix(spec, id, bytes.data(), level);
  return bytes;
}

TEST(Synthetic, Avx512PathGivesThePortableBytes) {
  if (!simd_level_available(SimdLevel::avx512)) GTEST_SKIP() << "no AVX-512F/DQ on this CPU";
  const DType dtypes[] = {DType::int8,   DType::int16,  DType::int32,   DType::int64,   DType::uint8,  DType::uint16,
                          DType::uint32, DType::uint64, DType::float32, DType::float64, DType::float16};
  const std::uint32_t shapes[][2] = {{1, 1}, {1, 7}, {1, 8}, {3, 5}, {64, 64}, {17, 33}};
  for (DataKind kind : {DataKind::poisson, DataKind::smooth, DataKind::random})
    for (DType dtype : dtypes)
      for (const auto& shape : shapes)
        for (std::uint64_t id : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{987654321}}) {
          const MatrixSpec spec = spec_of(kind, dtype, shape[0], shape[1]);
          const auto portable = generated(spec, id, SimdLevel::baseline);
          const auto fast = generated(spec, id, SimdLevel::avx512);
          ASSERT_EQ(portable, fast) << data_kind_name(kind) << " " << dtype_name(dtype) << " " << shape[0] << "x"
                                    << shape[1] << " id " << id;
          EXPECT_EQ(fast.back(), 0xA5) << "wrote past the matrix";
        }
}

// Values of 15 and more (m beyond cdf[14]) are rare and go through the scalar fallback for their
// group of 8: a 1000x1000 matrix has some, and they come out the same.
TEST(Synthetic, Avx512PoissonFallbackForLargeValues) {
  if (!simd_level_available(SimdLevel::avx512)) GTEST_SKIP() << "no AVX-512F/DQ on this CPU";
  const MatrixSpec spec = spec_of(DataKind::poisson, DType::float64, 1000, 1000);
  const auto portable = generated(spec, 7, SimdLevel::baseline);
  const auto fast = generated(spec, 7, SimdLevel::avx512);
  EXPECT_EQ(portable, fast);
  std::size_t large = 0;
  double largest = 0;
  for (std::size_t i = 0; i < spec.shape.elements(); ++i) {
    double v;
    std::memcpy(&v, fast.data() + i * sizeof v, sizeof v);
    large += v >= 15.0 ? 1 : 0;
    largest = v > largest ? v : largest;
  }
  EXPECT_GT(large, 0u) << "no value took the fallback; largest " << largest;
}

}  // namespace
}  // namespace shmjob

namespace shmjob {
namespace {
// The portable runs of the suite (ctest -L portable) set SHMJOB_SIMD=baseline: the paths a CPU
// without AVX-512 takes must then be the ones taken, on any CPU.
TEST(SimdLevelChoice, HonoursForcedBaseline) {
  const char* forced = std::getenv("SHMJOB_SIMD");
  if (forced == nullptr || std::string(forced) != "baseline") GTEST_SKIP() << "SHMJOB_SIMD is not baseline";
  EXPECT_EQ(widest_simd_level(), SimdLevel::baseline);
}
}  // namespace
}  // namespace shmjob
