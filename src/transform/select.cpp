#include "transform/select.hpp"

#include "transform/element.hpp"

namespace shmjob::transform {
namespace {

// numpy's clip keeps x only when it is strictly inside (or NaN): ties take the bound, which
// decides the sign of a zero.
inline double at_least(double x, double lo) noexcept { return (x > lo || x != x) ? x : lo; }
inline double at_most(double x, double hi) noexcept { return (x < hi || x != x) ? x : hi; }

template <class T>
void mask_with(double* x, std::uint32_t rows, std::uint32_t cols, const std::byte* m, Broadcast how,
               double value) noexcept {
  const std::size_t c = cols;
  switch (how) {
    case Broadcast::same:
      for (std::size_t i = 0; i < std::size_t{rows} * c; ++i)
        x[i] = detail::load_as_double<T>(m, i) != 0 ? value : x[i];
      return;
    case Broadcast::row:
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t j = 0; j < c; ++j) x[r * c + j] = detail::load_as_double<T>(m, j) != 0 ? value : x[r * c + j];
      return;
    case Broadcast::column:
      for (std::size_t r = 0; r < rows; ++r)
        if (detail::load_as_double<T>(m, r) != 0)
          for (std::size_t j = 0; j < c; ++j) x[r * c + j] = value;
      return;
  }
}

}  // namespace

void clip(double* x, std::size_t n, std::optional<double> lo, std::optional<double> hi) noexcept {
  if (lo && hi) {
    const double l = *lo, h = *hi;
    for (std::size_t i = 0; i < n; ++i) x[i] = at_most(at_least(x[i], l), h);
  } else if (lo) {
    const double l = *lo;
    for (std::size_t i = 0; i < n; ++i) x[i] = at_least(x[i], l);
  } else if (hi) {
    const double h = *hi;
    for (std::size_t i = 0; i < n; ++i) x[i] = at_most(x[i], h);
  }
}

void threshold(double* x, std::size_t n, double below, double value) noexcept {
  for (std::size_t i = 0; i < n; ++i) x[i] = x[i] < below ? value : x[i];
}

void mask(double* x, std::uint32_t rows, std::uint32_t cols, const OperandView& operand, double value) noexcept {
  const auto how = broadcast_of(rows, cols, operand.rows, operand.cols);
  if (!how) return;  // the plan rejects such operands
  const auto* m = static_cast<const std::byte*>(operand.data);
  visit_dtype(operand.dtype, [&](auto zero) { mask_with<decltype(zero)>(x, rows, cols, m, *how, value); });
}

}  // namespace shmjob::transform
