// Deterministic synthetic matrices. Keep in lock-step with analysis/shmjob_synthetic.py: the
// arithmetic below is mirrored there operation by operation (this file is built with
// -ffp-contract=off so no fused multiply-add changes a rounding).
#include "shmjob/synthetic.hpp"

#include <cmath>
#include <limits>
#include <type_traits>

namespace shmjob {
namespace {

constexpr std::uint64_t kGolden = 0x9E3779B97F4A7C15ULL;
constexpr double kTwoPowMinus53 = 0x1.0p-53;
constexpr double kTwoPowMinus24 = 0x1.0p-24;
constexpr double kExpMinus4 = 0.018315638888734179;  // exp(-4), the Poisson lambda is 4
constexpr int kMaxPoissonDraws = 64;

constexpr std::uint64_t mix(std::uint64_t z) noexcept {
  z += kGolden;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

struct Stream {
  std::uint64_t key;
  std::uint64_t bits(std::uint64_t k) const noexcept { return mix(key + k * kGolden); }
  double u53(std::uint64_t k) const noexcept {
    return static_cast<double>(bits(k) >> 11) * kTwoPowMinus53;
  }
};

template <class T>
void fill_random(const MatrixSpec& spec, const Stream& s, T* out) noexcept {
  const std::uint64_t n = spec.elements();
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

template <class T>
void fill_smooth(const MatrixSpec& spec, const Stream& s, T* out) noexcept {
  double a[6];
  for (int k = 0; k < 6; ++k) a[k] = 2.0 * s.u53(static_cast<std::uint64_t>(k)) - 1.0;
  const double rows = spec.rows, cols = spec.cols;
  for (std::uint32_t r = 0; r < spec.rows; ++r) {
    const double x = static_cast<double>(r) / rows;
    T* row = out + std::uint64_t{r} * spec.cols;
    for (std::uint32_t c = 0; c < spec.cols; ++c) {
      const double y = static_cast<double>(c) / cols;
      const double v = (a[0] * x + a[1] * y + a[2] * x * y + a[3] * x * x + a[4] * y * y + a[5]) / 6.0;
      row[c] = smooth_value<T>(v);
    }
  }
}

template <class T>
void fill_poisson(const MatrixSpec& spec, const Stream& s, T* out) noexcept {
  const std::uint64_t n = spec.elements();
  for (std::uint64_t e = 0; e < n; ++e) {
    double p = 1.0;
    int count = 0;
    for (; count < kMaxPoissonDraws - 1; ++count) {
      p *= s.u53(e * kMaxPoissonDraws + static_cast<std::uint64_t>(count));
      if (p <= kExpMinus4) break;
    }
    out[e] = static_cast<T>(count);
  }
}

}  // namespace

void generate_matrix(const MatrixSpec& spec, std::uint64_t id, void* out) noexcept {
  const Stream stream{mix(spec.seed ^ mix(id))};
  visit_dtype(spec.dtype, [&](auto tag) {
    using T = decltype(tag);
    T* typed = static_cast<T*>(out);
    switch (spec.kind) {
      case DataKind::random: fill_random(spec, stream, typed); break;
      case DataKind::smooth: fill_smooth(spec, stream, typed); break;
      case DataKind::poisson: fill_poisson(spec, stream, typed); break;
    }
  });
}

}  // namespace shmjob
