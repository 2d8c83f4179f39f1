#include "transform/cast.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "transform/element.hpp"

namespace shmjob::transform {
namespace {

template <class T>
struct IntegerLimits {
  // Both exact in float64: 0 or -2^(bits-1), and max + 1 = 2^(bits-1) or 2^bits.
  static constexpr double lowest = static_cast<double>(std::numeric_limits<T>::min());
  static constexpr double above_max = 2.0 * static_cast<double>(std::numeric_limits<T>::max() / 2 + 1);
};

inline double round_to_integer(double x, Rounding rounding) noexcept {
  // nearbyint rounds half to even in the default rounding mode (as np.rint), without raising
  // FE_INEXACT; both keep NaN and +-inf.
  return rounding == Rounding::nearest ? std::nearbyint(x) : std::trunc(x);
}

// One value cast to T; `saturated` counts the values that did not fit.
template <class T>
inline T cast_value(double x, Rounding rounding, std::uint64_t& saturated) noexcept {
  if constexpr (std::is_same_v<T, double>) {
    return x;
  } else if constexpr (kIsFloatElement<T>) {
    return static_cast<T>(x);  // float: IEEE round to nearest; Float16: Float16::from, the same
  } else {
    using L = IntegerLimits<T>;
    const double r = round_to_integer(x, rounding);
    if (r >= L::lowest && r < L::above_max) return static_cast<T>(r);  // NaN fails both tests
    ++saturated;
    if (r >= L::above_max) return std::numeric_limits<T>::max();
    if (r < L::lowest) return std::numeric_limits<T>::min();
    return T{0};  // NaN
  }
}

// Forward blocks: a block of casts is staged on the stack and then copied to its place, which
// covers only doubles of this block and earlier ones (all read by then).
constexpr std::size_t kBlock = 512;

template <class T>
SHMJOB_VECTOR_KERNEL std::uint64_t narrow_apart(const double* values, std::size_t n, Rounding rounding,
                                                std::byte* out) noexcept {
  std::uint64_t saturated = 0;
  for (std::size_t i = 0; i < n; ++i) detail::store_element(out, i, cast_value<T>(values[i], rounding, saturated));
  return saturated;
}

template <class T>
SHMJOB_VECTOR_KERNEL std::uint64_t narrow(std::byte* buffer, std::size_t n, Rounding rounding) noexcept {
  std::uint64_t saturated = 0;
  alignas(64) std::byte staged[kBlock * sizeof(T)];
  for (std::size_t begin = 0; begin < n; begin += kBlock) {
    const std::size_t count = std::min(kBlock, n - begin);
    const std::byte* in = buffer + begin * sizeof(double);
    for (std::size_t i = 0; i < count; ++i)
      detail::store_element(staged, i, cast_value<T>(detail::load_element<double>(in, i), rounding, saturated));
    std::memcpy(buffer + begin * sizeof(T), staged, count * sizeof(T));
  }
  return saturated;
}

template <class T>
SHMJOB_VECTOR_KERNEL std::uint64_t quantize_as(const double* in, double* out, std::size_t n,
                                               Rounding rounding) noexcept {
  std::uint64_t saturated = 0;
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<double>(cast_value<T>(in[i], rounding, saturated));
  return saturated;
}

}  // namespace

std::uint64_t narrow_from_float64(std::byte* buffer, std::size_t n, DType to, Rounding rounding) noexcept {
  if (to == DType::float64) return 0;
  return visit_dtype(to, [&](auto zero) { return narrow<decltype(zero)>(buffer, n, rounding); });
}

std::uint64_t narrow_from_float64(const double* values, std::size_t n, DType to, Rounding rounding,
                                  std::byte* out) noexcept {
  if (to == DType::float64) {
    std::memcpy(out, values, n * sizeof(double));
    return 0;
  }
  return visit_dtype(to, [&](auto zero) { return narrow_apart<decltype(zero)>(values, n, rounding, out); });
}

std::uint64_t quantize(const double* in, double* out, std::size_t n, DType to, Rounding rounding) noexcept {
  if (to == DType::float64) {
    if (out != in) std::copy(in, in + n, out);
    return 0;
  }
  return visit_dtype(to, [&](auto zero) { return quantize_as<decltype(zero)>(in, out, n, rounding); });
}

}  // namespace shmjob::transform
