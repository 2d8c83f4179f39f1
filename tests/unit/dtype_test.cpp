// Float16: the conversions shmjob's statistics, printing and float16 generation rely on.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "shmjob/dtype.hpp"

namespace shmjob {
namespace {

bool is_nan_bits(std::uint16_t b) { return (b & 0x7C00) == 0x7C00 && (b & 0x3FF) != 0; }

TEST(Float16, DTypeTable) {
  EXPECT_EQ(dtype_size(DType::float16), 2u);
  EXPECT_EQ(dtype_name(DType::float16), "float16");
  EXPECT_TRUE(dtype_is_float(DType::float16));
  EXPECT_EQ(parse_dtype("float16"), DType::float16);
}

TEST(Float16, KnownValues) {
  EXPECT_EQ(static_cast<double>(Float16::from_bits(0x3C00)), 1.0);
  EXPECT_EQ(static_cast<double>(Float16::from_bits(0xC000)), -2.0);
  EXPECT_EQ(static_cast<double>(Float16::from_bits(0x7BFF)), 65504.0);
  EXPECT_EQ(static_cast<double>(Float16::from_bits(0x0001)), std::ldexp(1.0, -24));  // smallest subnormal
  EXPECT_EQ(static_cast<double>(Float16::from_bits(0x0400)), std::ldexp(1.0, -14));  // smallest normal
  EXPECT_TRUE(std::signbit(static_cast<double>(Float16::from_bits(0x8000))));
  EXPECT_EQ(static_cast<double>(Float16::from_bits(0x7C00)), std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(static_cast<double>(Float16::from_bits(0x7E00))));
  EXPECT_EQ(Float16(0.1).bits, 0x2E66);      // numpy: np.float16(0.1).view(np.uint16) == 0x2e66
  EXPECT_EQ(Float16(65519.0).bits, 0x7BFF);  // below the midpoint to 2^16: stays finite
  EXPECT_EQ(Float16(65520.0).bits, 0x7C00);  // the midpoint rounds to even: infinity
  EXPECT_EQ(Float16(1e-9).bits, 0x0000);
  EXPECT_EQ(Float16(-1e300).bits, 0xFC00);
}

// Every one of the 65,536 values converts to double exactly and back to the same bits (NaN
// stays NaN), and every midpoint between neighbours rounds to the even one, as numpy does.
TEST(Float16, ExhaustiveRoundTripAndTiesToEven) {
  for (std::uint32_t b = 0; b <= 0xFFFF; ++b) {
    const auto h = Float16::from_bits(static_cast<std::uint16_t>(b));
    const double d = static_cast<double>(h);
    const std::uint16_t back = Float16(d).bits;
    if (is_nan_bits(h.bits)) {
      ASSERT_TRUE(std::isnan(d)) << std::hex << b;
      ASSERT_TRUE(is_nan_bits(back)) << std::hex << b;
      continue;
    }
    ASSERT_EQ(back, h.bits) << std::hex << b;
    // The next value away from zero (positive finite values; negatives mirror them).
    if (b >= 0x7BFF) continue;
    const auto next = Float16::from_bits(static_cast<std::uint16_t>(b + 1));
    const double mid = (d + static_cast<double>(next)) / 2;  // exact in double
    const std::uint16_t even = (b & 1) == 0 ? static_cast<std::uint16_t>(b) : next.bits;
    ASSERT_EQ(Float16(mid).bits, even) << std::hex << b;
    ASSERT_EQ(Float16(-mid).bits, even | 0x8000) << std::hex << b;
    ASSERT_EQ(Float16(std::nextafter(mid, 0.0)).bits, b) << std::hex << b;
    ASSERT_EQ(Float16(std::nextafter(mid, 1e9)).bits, next.bits) << std::hex << b;
  }
}

}  // namespace
}  // namespace shmjob
