#pragma once
// Per-matrix facts recorded in the index: a CRC-32 of the raw bytes (zlib's crc32, the same value
// Python's zlib.crc32(array.tobytes()) gives; computed with ISA-L) and min/max/mean of the
// values as float64.
#include <cstddef>
#include <cstdint>

#include "shmjob/dtype.hpp"
#include "util/simd_level.hpp"

namespace shmjob::codec {

struct MatrixStats {
  std::uint32_t crc32 = 0;
  // NaN values are skipped; all-NaN (or zero elements) gives NaN. The mean is a sum in double
  // (8 interleaved partial sums, added at the end) divided by the count of non-NaN values.
  double min = 0, max = 0, mean = 0;
};

MatrixStats compute_stats(const void* data, std::size_t elements, DType dtype) noexcept;

// float32/float64 values are scanned 8 at a time with SSE2 or AVX-512 (compute_stats above takes
// widest_simd_level()). Both give the same bits; this overload is for the tests that check that.
MatrixStats compute_stats(const void* data, std::size_t elements, DType dtype, SimdLevel level) noexcept;
std::uint32_t crc32_of(const void* data, std::size_t bytes) noexcept;

}  // namespace shmjob::codec
