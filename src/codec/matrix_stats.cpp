#include "codec/matrix_stats.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include <zlib.h>

namespace shmjob::codec {
namespace {

// zlib's length parameter is a 32-bit uInt; 1 GiB blocks stay well inside it.
constexpr std::size_t kCrcBlock = std::size_t{1} << 30;

template <class T>
MatrixStats value_stats(const unsigned char* bytes, std::size_t elements) noexcept {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  double sum = 0;
  std::size_t counted = 0;
  for (std::size_t i = 0; i < elements; ++i) {
    T raw;
    std::memcpy(&raw, bytes + i * sizeof(T), sizeof(T));  // matrices need not be aligned
    const auto value = static_cast<double>(raw);
    if constexpr (std::is_floating_point_v<T>)
      if (std::isnan(value)) continue;
    lo = std::min(lo, value);
    hi = std::max(hi, value);
    sum += value;
    ++counted;
  }
  MatrixStats stats;
  if (counted == 0) {
    stats.min = stats.max = stats.mean = std::numeric_limits<double>::quiet_NaN();
  } else {
    stats.min = lo;
    stats.max = hi;
    stats.mean = sum / static_cast<double>(counted);
  }
  return stats;
}

}  // namespace

std::uint32_t crc32_of(const void* data, std::size_t bytes) noexcept {
  const auto* p = static_cast<const Bytef*>(data);
  uLong crc = crc32(0L, Z_NULL, 0);
  while (bytes > 0) {
    const std::size_t block = std::min(bytes, kCrcBlock);
    crc = crc32(crc, p, static_cast<uInt>(block));
    p += block;
    bytes -= block;
  }
  return static_cast<std::uint32_t>(crc);
}

MatrixStats compute_stats(const void* data, std::size_t elements, DType dtype) noexcept {
  const auto* bytes = static_cast<const unsigned char*>(data);
  MatrixStats stats = visit_dtype(dtype, [&](auto zero) {
    return value_stats<decltype(zero)>(bytes, elements);
  });
  stats.crc32 = crc32_of(data, elements * dtype_size(dtype));
  return stats;
}

}  // namespace shmjob::codec
