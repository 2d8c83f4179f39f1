#pragma once
// Element types of the matrices shmjob moves. Stored in native (little-endian) byte order.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>

namespace shmjob {

// float16 came last: the enumerators are stored (catalog bytes), so new ones go at the end.
enum class DType : std::uint8_t { int8, int16, int32, int64, uint8, uint16, uint32, uint64, float32, float64, float16 };
inline constexpr DType kLastDType = DType::float16;

// An IEEE 754 binary16 value (numpy's float16) as its bits. C++20 has no portable half type,
// and shmjob moves these bytes unchanged: only statistics and printing need the value.
struct Float16 {
  std::uint16_t bits = 0;

  // Exact (every binary16 value is a double); NaN payloads are kept.
  explicit constexpr operator double() const noexcept {
    const std::uint64_t sign = static_cast<std::uint64_t>(bits >> 15) << 63;
    const unsigned exponent = (bits >> 10) & 0x1F;
    const std::uint64_t mantissa = bits & 0x3FF;
    if (exponent == 0) {  // zero or subnormal: mantissa x 2^-24
      const double magnitude = static_cast<double>(mantissa) * 0x1p-24;
      return sign ? -magnitude : magnitude;
    }
    const std::uint64_t double_exponent = exponent == 0x1F ? 0x7FF : exponent - 15 + 1023;
    return std::bit_cast<double>(sign | double_exponent << 52 | mantissa << 42);
  }
  // Rounded to nearest, ties to even, as numpy's astype(float16); NaN stays a (quiet) NaN.
  static constexpr Float16 from(double value) noexcept {
    const std::uint64_t x = std::bit_cast<std::uint64_t>(value);
    const auto sign = static_cast<std::uint16_t>((x >> 48) & 0x8000);
    const int exponent = static_cast<int>((x >> 52) & 0x7FF);
    const std::uint64_t mantissa = x & ((std::uint64_t{1} << 52) - 1);
    if (exponent == 0x7FF)
      return from_bits(static_cast<std::uint16_t>(sign | 0x7C00 | (mantissa ? 0x200 | (mantissa >> 42) : 0)));
    const int biased = exponent - 1023 + 15;
    if (biased >= 31) return from_bits(static_cast<std::uint16_t>(sign | 0x7C00));
    // Normal results keep the exponent in the bits above the mantissa, so a carry out of the
    // rounded mantissa moves to the next exponent (or to infinity) by itself.
    std::uint64_t bits_in = 0;
    int shift = 42;
    if (biased > 0) {
      bits_in = std::uint64_t(biased) << 52 | mantissa;
    } else {
      bits_in = exponent == 0 ? mantissa : mantissa | std::uint64_t{1} << 52;
      shift = 43 - biased;
      if (shift > 62) return from_bits(sign);
    }
    std::uint64_t rounded = bits_in >> shift;
    const std::uint64_t rest = bits_in & ((std::uint64_t{1} << shift) - 1);
    const std::uint64_t half = std::uint64_t{1} << (shift - 1);
    if (rest > half || (rest == half && (rounded & 1))) ++rounded;
    return from_bits(static_cast<std::uint16_t>(sign | rounded));
  }
  static constexpr Float16 from_bits(std::uint16_t raw) noexcept {
    Float16 h;
    h.bits = raw;
    return h;
  }
  constexpr Float16() noexcept = default;
  explicit constexpr Float16(double value) noexcept : bits(from(value).bits) {}
};
static_assert(sizeof(Float16) == 2 && std::is_trivially_copyable_v<Float16>);

// Element types with a floating-point value (NaN possible).
template <class T>
inline constexpr bool kIsFloatElement = std::is_floating_point_v<T> || std::is_same_v<T, Float16>;

std::size_t dtype_size(DType type) noexcept;
std::string_view dtype_name(DType type) noexcept;  // "float64", as numpy spells it
bool dtype_is_float(DType type) noexcept;
bool dtype_is_signed(DType type) noexcept;
std::optional<DType> parse_dtype(std::string_view name) noexcept;

// Calls f(T{}) with the C++ type behind `type`.
template <class F>
decltype(auto) visit_dtype(DType type, F&& f) {
  switch (type) {
    case DType::int8:
      return f(std::int8_t{});
    case DType::int16:
      return f(std::int16_t{});
    case DType::int32:
      return f(std::int32_t{});
    case DType::int64:
      return f(std::int64_t{});
    case DType::uint8:
      return f(std::uint8_t{});
    case DType::uint16:
      return f(std::uint16_t{});
    case DType::uint32:
      return f(std::uint32_t{});
    case DType::uint64:
      return f(std::uint64_t{});
    case DType::float32:
      return f(float{});
    case DType::float16:
      return f(Float16{});
    case DType::float64:
      break;
  }
  return f(double{});
}

}  // namespace shmjob
