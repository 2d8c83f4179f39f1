// Deterministic synthetic matrices. Keep in lock-step with analysis/shmjob_synthetic.py: the
// arithmetic below is mirrored there operation by operation (this file is built with
// -ffp-contract=off so no fused multiply-add changes a rounding).
#include "synthetic/synthetic.hpp"
#include "synthetic/synthetic_path.hpp"

#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

// GCC 12's AVX-512 intrinsics initialise their pass-through operand from itself
// (_mm512_undefined_*) and warn about it when inlined (GCC bug 105593, fixed in 13).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace shmjob {
namespace {

constexpr std::uint64_t kGolden = 0x9E3779B97F4A7C15ULL;
constexpr double kTwoPowMinus53 = 0x1.0p-53;
constexpr double kTwoPowMinus24 = 0x1.0p-24;
constexpr double kExpMinus4 = 0.018315638888734179;  // exp(-4), the Poisson lambda is 4
constexpr int kMaxPoissonValue = 63;

// splitmix64's finaliser multipliers (also used by the AVX-512 poisson path).
constexpr std::uint64_t kMix1 = 0xBF58476D1CE4E5B9ULL;
constexpr std::uint64_t kMix2 = 0x94D049BB133111EBULL;

constexpr std::uint64_t mix(std::uint64_t z) noexcept {
  z += kGolden;
  z = (z ^ (z >> 30)) * kMix1;
  z = (z ^ (z >> 27)) * kMix2;
  return z ^ (z >> 31);
}

struct Stream {
  std::uint64_t key;
  std::uint64_t bits(std::uint64_t k) const noexcept { return mix(key + k * kGolden); }
  double u53(std::uint64_t k) const noexcept { return static_cast<double>(bits(k) >> 11) * kTwoPowMinus53; }
};

template <class T>
void fill_random(const MatrixSpec& spec, const Stream& s, T* out) noexcept {
  const std::uint64_t n = spec.shape.elements();
  for (std::uint64_t e = 0; e < n; ++e) {
    if constexpr (std::is_same_v<T, double>) {
      out[e] = s.u53(e);
    } else if constexpr (std::is_same_v<T, float>) {
      out[e] = static_cast<float>(static_cast<double>(s.bits(e) >> 40) * kTwoPowMinus24);
    } else {
      using U = std::make_unsigned_t<T>;
      out[e] = static_cast<T>(static_cast<U>(s.bits(e) >> (64 - 8 * sizeof(T))));
    }
  }
}

template <class T>
T smooth_value(double v) noexcept {
  if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(std::rint(v * 100000.0) / 1000.0);
  } else {
    constexpr double max = static_cast<double>(std::numeric_limits<T>::max());
    if constexpr (std::is_signed_v<T>)
      return static_cast<T>(std::rint(v * 0.25 * max));
    else
      return static_cast<T>(std::rint((v + 1.0) * 0.25 * max));
  }
}

// One row of a smooth matrix, the terms that depend on the column precomputed (a1*y, y, a4*y*y)
// and those that depend on the row passed in (a0*x, a2*x, a3*x*x): the same operations in the
// same order as the formula, so the same bits. The float64 row is compiled for AVX2 and SSE4.1
// as well (division and rint vectorise bit-exactly; no FMA: -ffp-contract=off) and picked at
// load time; the other dtypes use the template.
template <class T>
void smooth_row(const double* a1y, const double* y, const double* a4yy, double a0x, double a2x, double a3xx, double a5,
                T* row, std::uint32_t cols) noexcept {
  for (std::uint32_t c = 0; c < cols; ++c) {
    const double v = ((((a0x + a1y[c]) + a2x * y[c]) + a3xx) + a4yy[c]) + a5;
    row[c] = smooth_value<T>(v / 6.0);
  }
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "sse4.1", "default")))
#endif
void smooth_row_f64(const double* a1y, const double* y, const double* a4yy, double a0x, double a2x,
                    double a3xx, double a5, double* row, std::uint32_t cols) noexcept {
  for (std::uint32_t c = 0; c < cols; ++c) {
    const double v = ((((a0x + a1y[c]) + a2x * y[c]) + a3xx) + a4yy[c]) + a5;
    row[c] = std::rint((v / 6.0) * 100000.0) / 1000.0;
  }
}

template <class T>
void fill_smooth(const MatrixSpec& spec, const Stream& s, T* out) {
  double a[6];
  for (int k = 0; k < 6; ++k) a[k] = 2.0 * s.u53(static_cast<std::uint64_t>(k)) - 1.0;
  const double rows = spec.shape.rows, cols = spec.shape.cols;
  std::vector<double> y(spec.shape.cols), a1y(spec.shape.cols), a4yy(spec.shape.cols);
  for (std::uint32_t c = 0; c < spec.shape.cols; ++c) {
    y[c] = static_cast<double>(c) / cols;
    a1y[c] = a[1] * y[c];
    a4yy[c] = a[4] * y[c] * y[c];
  }
  for (std::uint32_t r = 0; r < spec.shape.rows; ++r) {
    const double x = static_cast<double>(r) / rows;
    T* row = out + std::uint64_t{r} * spec.shape.cols;
    if constexpr (std::is_same_v<T, double>)
      smooth_row_f64(a1y.data(), y.data(), a4yy.data(), a[0] * x, a[2] * x, a[3] * x * x, a[5], row, spec.shape.cols);
    else
      smooth_row<T>(a1y.data(), y.data(), a4yy.data(), a[0] * x, a[2] * x, a[3] * x * x, a[5], row, spec.shape.cols);
  }
}

// Poisson(lambda 4) by inversion of its CDF, one uniform per element: value = the number of
// k in 0..62 with cdf[k] <= u53(e), where p_0 = exp(-4) (the literal), p_k = p_(k-1) * 4.0 / k
// and cdf[k] = cdf[k-1] + p_k, all in double in that order (numpy's searchsorted(side="right")
// gives the same count). A guide table on the top 8 bits of u starts the search near the answer,
// so an element costs one splitmix64 and about one comparison (Knuth's product method, used
// before, drew five uniforms per element on average and made a producer as slow as a compressor).
// The comparisons are made on the 53-bit integer m = u * 2^53 instead of u: cdf[k] <= m / 2^53
// exactly when ceil(cdf[k] * 2^53) <= m (scaling by 2^53 is exact), so the values are the same
// and the element skips two conversions to and from double.
struct PoissonTable {
  static constexpr int kEntries = kMaxPoissonValue;  // cdf[0..62]; values 0..63
  std::uint64_t threshold[kEntries];                 // ceil(cdf[k] * 2^53)
  std::uint8_t guide[256];                           // values below the bucket's lowest m
  PoissonTable() noexcept {
    double cdf[kEntries];
    double p = kExpMinus4, sum = kExpMinus4;
    cdf[0] = sum;
    for (int k = 1; k < kEntries; ++k) {
      p = p * 4.0 / static_cast<double>(k);
      sum = sum + p;
      cdf[k] = sum;
    }
    for (int k = 0; k < kEntries; ++k) threshold[k] = static_cast<std::uint64_t>(std::ceil(cdf[k] * 0x1.0p53));
    for (int g = 0; g < 256; ++g) {
      const std::uint64_t lowest = std::uint64_t(g) << 45;  // the bucket's smallest m
      int n = 0;
      while (n < kEntries && threshold[n] <= lowest) ++n;
      guide[g] = static_cast<std::uint8_t>(n);
    }
  }
  int value(std::uint64_t m) const noexcept {  // m < 2^53
    int n = guide[m >> 45];
    while (n < kEntries && threshold[n] <= m) ++n;
    return n;
  }
};

const PoissonTable& poisson_table() noexcept {
  static const PoissonTable table;
  return table;
}

template <class T>
void fill_poisson(const Stream& s, std::uint64_t first, std::uint64_t end, T* out) noexcept {
  const PoissonTable& table = poisson_table();
  for (std::uint64_t e = first; e < end; ++e) out[e] = static_cast<T>(table.value(s.bits(e) >> 11));
}

#if defined(__x86_64__) && defined(__GNUC__)
#define SHMJOB_POISSON_AVX512 1
// The same values, 8 elements at a time: splitmix64 with AVX-512DQ's 64-bit multiply, then the
// number of thresholds <= m among the first 15 by a branch-free binary search over the first 16
// thresholds held in two registers (no gather). Where a lane reaches 15 (m beyond cdf[14], about
// 1 element in 100,000 for lambda 4) the 8 elements are done by the scalar code instead.
template <class T>
__attribute__((target("avx512f,avx512dq"))) void fill_poisson_avx512(const Stream& s, std::uint64_t n,
                                                                     T* out) noexcept {
  const PoissonTable& table = poisson_table();
  const __m512i golden = _mm512_set1_epi64(static_cast<long long>(kGolden));
  const __m512i c1 = _mm512_set1_epi64(static_cast<long long>(kMix1));
  const __m512i c2 = _mm512_set1_epi64(static_cast<long long>(kMix2));
  const __m512i low = _mm512_loadu_si512(table.threshold);       // thresholds 0..7
  const __m512i high = _mm512_loadu_si512(table.threshold + 8);  // thresholds 8..15
  const __m512i fifteen = _mm512_set1_epi64(15);
  // key + k * G for the 8 lanes, advanced by 8 * G per step (wrapping, like Stream::bits).
  __m512i at = _mm512_add_epi64(_mm512_set1_epi64(static_cast<long long>(s.key)),
                                _mm512_mullo_epi64(_mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7), golden));
  const __m512i step = _mm512_set1_epi64(static_cast<long long>(8 * kGolden));
  std::uint64_t e = 0;
  for (; e + 8 <= n; e += 8, at = _mm512_add_epi64(at, step)) {
    __m512i z = _mm512_add_epi64(at, golden);
    z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 30)), c1);
    z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 27)), c2);
    z = _mm512_xor_si512(z, _mm512_srli_epi64(z, 31));
    const __m512i m = _mm512_srli_epi64(z, 11);
    __m512i count = _mm512_setzero_si512();
    for (long long half = 8; half >= 1; half /= 2) {
      const __m512i probe = _mm512_add_epi64(count, _mm512_set1_epi64(half - 1));
      const __m512i threshold = _mm512_permutex2var_epi64(low, probe, high);
      const __mmask8 at_or_above = _mm512_cmple_epu64_mask(threshold, m);
      count = _mm512_mask_add_epi64(count, at_or_above, count, _mm512_set1_epi64(half));
    }
    if (_mm512_cmpeq_epi64_mask(count, fifteen) != 0) {
      fill_poisson(s, e, e + 8, out);
    } else if constexpr (std::is_same_v<T, double>) {
      _mm512_storeu_pd(out + e, _mm512_cvtepi64_pd(count));
    } else if constexpr (std::is_same_v<T, float>) {
      _mm256_storeu_ps(out + e, _mm512_cvtepi64_ps(count));
    } else {
      alignas(64) std::uint64_t values[8];
      _mm512_store_si512(values, count);
      for (int j = 0; j < 8; ++j) out[e + static_cast<std::uint64_t>(j)] = static_cast<T>(values[j]);
    }
  }
  fill_poisson(s, e, n, out);
}
#endif

template <class T>
void fill_matrix(const MatrixSpec& spec, const Stream& stream, T* out, [[maybe_unused]] SimdLevel level) {
  switch (spec.kind) {
    case DataKind::random:
      fill_random(spec, stream, out);
      break;
    case DataKind::smooth:
      fill_smooth(spec, stream, out);
      break;
    case DataKind::poisson:
#ifdef SHMJOB_POISSON_AVX512
      if (level == SimdLevel::avx512) {
        fill_poisson_avx512(stream, spec.shape.elements(), out);
        break;
      }
#endif
      fill_poisson(stream, 0, spec.shape.elements(), out);
      break;
  }
}

}  // namespace

void generate_matrix(const MatrixSpec& spec, std::uint64_t id, void* out, SimdLevel level) noexcept {
  if (spec.shape.dtype == DType::float16) {
    // The float64 matrix rounded to nearest float16 (numpy's astype), so every kind keeps one
    // formula. A matrix-sized buffer: float16 matrices are generated for tests and benchmarks.
    MatrixSpec wide = spec;
    wide.shape.dtype = DType::float64;
    std::vector<double> values(spec.shape.elements());
    generate_matrix(wide, id, values.data(), level);
    auto* half = static_cast<Float16*>(out);
    for (std::size_t i = 0; i < values.size(); ++i) half[i] = Float16(values[i]);
    return;
  }
  const Stream stream{mix(spec.seed ^ mix(id))};
  visit_dtype(spec.shape.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_same_v<T, Float16>) fill_matrix(spec, stream, static_cast<T*>(out), level);
  });
}

void generate_matrix(const MatrixSpec& spec, std::uint64_t id, void* out) noexcept {
  generate_matrix(spec, id, out, widest_simd_level());
}

}  // namespace shmjob
