#include "codec/matrix_stats.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include <immintrin.h>
#include <isa-l/crc.h>

// GCC 12's AVX-512 intrinsics initialise their pass-through operand from itself
// (_mm512_undefined_pd) and warn about it when inlined (GCC bug 105593, fixed in 13).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace shmjob::codec {
namespace {

std::uint32_t crc32_update(std::uint32_t crc, const unsigned char* data, std::size_t bytes) noexcept {
  return crc32_gzip_refl(crc, data, bytes);
}

// Statistics and CRC run block by block, so the CRC reads a block from memory and the value scan
// finds it in cache: one pass over the matrix instead of two (a 1000x1000 float64 matrix does not
// fit in L2). Measured with codec_bench stats/*: see bench/README.md.
constexpr std::size_t kBlockBytes = 128 * 1024;

// Lanes of independent minimum, maximum, sum and count: the loop vectorises without
// reassociating a single sum (no -ffast-math), and NaN is skipped without a branch.
constexpr std::size_t kLanes = 8;

template <class T>
struct Accumulator {
  double lo[kLanes], hi[kLanes], sum[kLanes];
  std::uint64_t counted[kLanes];
  // Folds one lane of a vector accumulator (same meaning: min, max, sum, count) into `lane`.
  void merge(std::size_t lane, double l, double h, double s, double c) noexcept {
    lo[lane] = std::min(lo[lane], l);
    hi[lane] = std::max(hi[lane], h);
    sum[lane] += s;
    counted[lane] += static_cast<std::uint64_t>(c);
  }
  Accumulator() {
    for (std::size_t j = 0; j < kLanes; ++j) {
      lo[j] = std::numeric_limits<double>::infinity();
      hi[j] = -std::numeric_limits<double>::infinity();
      sum[j] = 0;
      counted[j] = 0;
    }
  }
  static double load(const unsigned char* p) noexcept {
    T raw;
    std::memcpy(&raw, p, sizeof(T));  // matrices need not be aligned
    return static_cast<double>(raw);
  }
  void add(std::size_t j, double v) noexcept {
    if constexpr (kIsFloatElement<T>) {
      const bool number = v == v;  // false for NaN, which every comparison below also ignores
      lo[j] = v < lo[j] ? v : lo[j];
      hi[j] = v > hi[j] ? v : hi[j];
      sum[j] += number ? v : 0.0;
      counted[j] += number ? 1 : 0;
    } else {
      lo[j] = v < lo[j] ? v : lo[j];
      hi[j] = v > hi[j] ? v : hi[j];
      sum[j] += v;
      counted[j] += 1;
    }
  }
  void scan(const unsigned char* bytes, std::size_t elements) noexcept {
    std::size_t i = 0;
    for (; i + kLanes <= elements; i += kLanes)
      for (std::size_t j = 0; j < kLanes; ++j) add(j, load(bytes + (i + j) * sizeof(T)));
    for (std::size_t j = 0; i < elements; ++i, ++j) add(j, load(bytes + i * sizeof(T)));
  }
  MatrixStats result() const noexcept {
    double l = lo[0], h = hi[0], s = 0;
    std::uint64_t n = 0;
    for (std::size_t j = 0; j < kLanes; ++j) {
      l = std::min(l, lo[j]);
      h = std::max(h, hi[j]);
      s += sum[j];
      n += counted[j];
    }
    MatrixStats stats;
    if (n == 0) {
      stats.min = stats.max = stats.mean = std::numeric_limits<double>::quiet_NaN();
    } else {
      stats.min = l;
      stats.max = h;
      stats.mean = s / static_cast<double>(n);
    }
    return stats;
  }
};

// float64 and float32, two doubles per SSE2 register (x86-64's baseline), four registers of
// each accumulator. minpd/maxpd return their second operand when the first is NaN, and the
// cmpeq mask zeroes NaNs out of the sum and the count.
template <class T>
struct FloatAccumulator {
  static_assert(std::is_same_v<T, double> || std::is_same_v<T, float>);
  __m128d lo[4], hi[4], sum[4], counted[4];
  FloatAccumulator() {
    for (int j = 0; j < 4; ++j) {
      lo[j] = _mm_set1_pd(std::numeric_limits<double>::infinity());
      hi[j] = _mm_set1_pd(-std::numeric_limits<double>::infinity());
      sum[j] = counted[j] = _mm_setzero_pd();
    }
  }
  static __m128d load2(const unsigned char* p) noexcept {
    if constexpr (std::is_same_v<T, double>) {
      return _mm_loadu_pd(reinterpret_cast<const double*>(p));
    } else {
      return _mm_cvtps_pd(_mm_castsi128_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
    }
  }
  void add(int j, __m128d v) noexcept {
    const __m128d number = _mm_cmpeq_pd(v, v);
    lo[j] = _mm_min_pd(v, lo[j]);
    hi[j] = _mm_max_pd(v, hi[j]);
    sum[j] = _mm_add_pd(sum[j], _mm_and_pd(v, number));
    counted[j] = _mm_add_pd(counted[j], _mm_and_pd(_mm_set1_pd(1.0), number));
  }
  void scan(const unsigned char* bytes, std::size_t elements, Accumulator<T>& rest) noexcept {
    std::size_t i = 0;
    for (; i + 8 <= elements; i += 8)
      for (int j = 0; j < 4; ++j) add(j, load2(bytes + (i + 2 * static_cast<std::size_t>(j)) * sizeof(T)));
    for (std::size_t j = 0; i < elements; ++i, ++j) rest.add(j, Accumulator<T>::load(bytes + i * sizeof(T)));
  }
  // Folds the registers into `rest`'s lanes (same meaning: min, max, sum, count).
  void fold_into(Accumulator<T>& rest) const noexcept {
    for (int j = 0; j < 4; ++j) {
      double l[2], h[2], s[2], c[2];
      _mm_storeu_pd(l, lo[j]);
      _mm_storeu_pd(h, hi[j]);
      _mm_storeu_pd(s, sum[j]);
      _mm_storeu_pd(c, counted[j]);
      for (int k = 0; k < 2; ++k) rest.merge(static_cast<std::size_t>(2 * j + k), l[k], h[k], s[k], c[k]);
    }
  }
};

// The same eight lanes in one AVX-512 register each: lane L holds elements i + L, as in the SSE2
// version (register j, half k is lane 2j + k), each lane adds its values in the same order and
// min/max take the value as first operand (a NaN value leaves the lane as it was), so both give
// the same bits. Fewer instructions per value, not more partial sums: the sum's rounding stays.
template <class T>
struct Avx512Accumulator {
  static_assert(std::is_same_v<T, double> || std::is_same_v<T, float>);
  __m512d lo, hi, sum, counted;
  __attribute__((target("avx512f"))) Avx512Accumulator()
      : lo(_mm512_set1_pd(std::numeric_limits<double>::infinity())),
        hi(_mm512_set1_pd(-std::numeric_limits<double>::infinity())),
        sum(_mm512_setzero_pd()),
        counted(_mm512_setzero_pd()) {}
  __attribute__((target("avx512f"))) void scan(const unsigned char* bytes, std::size_t elements,
                                               Accumulator<T>& rest) noexcept {
    std::size_t i = 0;
    for (; i + 8 <= elements; i += 8) {
      __m512d v;
      if constexpr (std::is_same_v<T, double>)
        v = _mm512_loadu_pd(bytes + i * sizeof(T));
      else
        v = _mm512_cvtps_pd(_mm256_loadu_ps(reinterpret_cast<const float*>(bytes + i * sizeof(T))));
      const __mmask8 number = _mm512_cmp_pd_mask(v, v, _CMP_EQ_OQ);
      lo = _mm512_min_pd(v, lo);
      hi = _mm512_max_pd(v, hi);
      sum = _mm512_add_pd(sum, _mm512_maskz_mov_pd(number, v));
      counted = _mm512_add_pd(counted, _mm512_maskz_mov_pd(number, _mm512_set1_pd(1.0)));
    }
    for (std::size_t j = 0; i < elements; ++i, ++j) rest.add(j, Accumulator<T>::load(bytes + i * sizeof(T)));
  }
  __attribute__((target("avx512f"))) void fold_into(Accumulator<T>& rest) const noexcept {
    double l[8], h[8], s[8], c[8];
    _mm512_storeu_pd(l, lo);
    _mm512_storeu_pd(h, hi);
    _mm512_storeu_pd(s, sum);
    _mm512_storeu_pd(c, counted);
    for (std::size_t lane = 0; lane < kLanes; ++lane) rest.merge(lane, l[lane], h[lane], s[lane], c[lane]);
  }
};

// Adds each block of the matrix to the CRC, then hands it to `scan` while it is in cache.
template <class T, class Scan>
std::uint32_t crc_then_scan_blocks(const unsigned char* bytes, std::size_t elements, Scan scan) noexcept {
  std::uint32_t crc = 0;
  const std::size_t per_block = kBlockBytes / sizeof(T);
  for (std::size_t first = 0; first < elements; first += per_block) {
    const std::size_t n = std::min(per_block, elements - first);
    const unsigned char* block = bytes + first * sizeof(T);
    crc = crc32_update(crc, block, n * sizeof(T));
    scan(block, n);
  }
  return crc;
}

template <class T>
MatrixStats stats_and_crc(const unsigned char* bytes, std::size_t elements, SimdLevel level) noexcept {
  Accumulator<T> acc;
  std::uint32_t crc = 0;
  if constexpr (std::is_floating_point_v<T>) {  // float16 takes the scalar loop
    const auto vector_scan = [&](auto& fast) {
      // The tail (elements % 8 of the last block) goes to acc.
      crc = crc_then_scan_blocks<T>(bytes, elements,
                                    [&](const unsigned char* block, std::size_t n) { fast.scan(block, n, acc); });
      fast.fold_into(acc);
    };
    if (level == SimdLevel::avx512) {
      Avx512Accumulator<T> fast;
      vector_scan(fast);
    } else {
      FloatAccumulator<T> fast;
      vector_scan(fast);
    }
  } else {
    crc = crc_then_scan_blocks<T>(bytes, elements,
                                  [&](const unsigned char* block, std::size_t n) { acc.scan(block, n); });
  }
  MatrixStats stats = acc.result();
  stats.crc32 = crc;
  return stats;
}

}  // namespace

// ISA-L's crc32_gzip_refl is zlib's CRC-32 (reflected gzip polynomial, same initial value and
// final xor, chainable the same way), folded with carry-less multiplication, 512 bits at a time
// where the CPU has VPCLMULQDQ: 64 GB/s here against libdeflate 1.14's 16 and zlib 1.2's ~1.6.
std::uint32_t crc32_of(const void* data, std::size_t bytes) noexcept {
  return bytes == 0 ? 0 : crc32_update(0, static_cast<const unsigned char*>(data), bytes);
}

MatrixStats compute_stats(const void* data, std::size_t elements, DType dtype, SimdLevel level) noexcept {
  const auto* bytes = static_cast<const unsigned char*>(data);
  return visit_dtype(dtype, [&](auto zero) { return stats_and_crc<decltype(zero)>(bytes, elements, level); });
}

MatrixStats compute_stats(const void* data, std::size_t elements, DType dtype) noexcept {
  return compute_stats(data, elements, dtype, widest_simd_level());
}

}  // namespace shmjob::codec
