#include "transform/select.hpp"

#include <algorithm>

#include "transform/element.hpp"

namespace shmjob::transform {
namespace {

// numpy's clip keeps x only when it is strictly inside (or NaN): ties take the bound, which
// decides the sign of a zero.
inline double at_least(double x, double lo) noexcept { return (x > lo || x != x) ? x : lo; }
inline double at_most(double x, double hi) noexcept { return (x < hi || x != x) ? x : hi; }

template <class T>
SHMJOB_VECTOR_KERNEL void mask_with(const double* in, double* out, std::uint32_t rows, std::uint32_t cols,
                                    const std::byte* m, Broadcast how, double value) noexcept {
  const std::size_t c = cols;
  switch (how) {
    case Broadcast::same:
      for (std::size_t i = 0; i < std::size_t{rows} * c; ++i)
        out[i] = detail::load_as_double<T>(m, i) != 0 ? value : in[i];
      return;
    case Broadcast::row:
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t j = 0; j < c; ++j)
          out[r * c + j] = detail::load_as_double<T>(m, j) != 0 ? value : in[r * c + j];
      return;
    case Broadcast::column:
      for (std::size_t r = 0; r < rows; ++r)
        if (detail::load_as_double<T>(m, r) != 0)
          std::fill(out + r * c, out + (r + 1) * c, value);
        else if (out != in)
          std::copy(in + r * c, in + (r + 1) * c, out + r * c);
      return;
  }
}

}  // namespace

SHMJOB_VECTOR_KERNEL void clip(const double* in, double* out, std::size_t n, std::optional<double> lo,
                               std::optional<double> hi) noexcept {
  if (lo && hi) {
    const double l = *lo, h = *hi;
    for (std::size_t i = 0; i < n; ++i) out[i] = at_most(at_least(in[i], l), h);
  } else if (lo) {
    const double l = *lo;
    for (std::size_t i = 0; i < n; ++i) out[i] = at_least(in[i], l);
  } else if (hi) {
    const double h = *hi;
    for (std::size_t i = 0; i < n; ++i) out[i] = at_most(in[i], h);
  } else if (out != in) {
    std::copy(in, in + n, out);
  }
}

SHMJOB_VECTOR_KERNEL void threshold(const double* in, double* out, std::size_t n, double below, double value) noexcept {
  for (std::size_t i = 0; i < n; ++i) out[i] = in[i] < below ? value : in[i];
}

void mask(const double* in, double* out, std::uint32_t rows, std::uint32_t cols, const OperandView& operand,
          double value) noexcept {
  const auto how = broadcast_of(rows, cols, operand.rows, operand.cols);
  if (!how) return;  // the plan rejects such operands
  const auto* m = static_cast<const std::byte*>(operand.data);
  visit_dtype(operand.dtype, [&](auto zero) { mask_with<decltype(zero)>(in, out, rows, cols, m, *how, value); });
}

}  // namespace shmjob::transform
