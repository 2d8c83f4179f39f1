#include "transform/arithmetic.hpp"

#include "transform/element.hpp"

namespace shmjob::transform {
namespace {

// The operation as a type, so each loop below is compiled (and vectorised) per operation.
template <BinaryOp Op>
inline double combine(double x, double v) noexcept {
  if constexpr (Op == BinaryOp::add)
    return x + v;
  else if constexpr (Op == BinaryOp::subtract)
    return x - v;
  else if constexpr (Op == BinaryOp::multiply)
    return x * v;
  else
    return x / v;
}

template <class F>
decltype(auto) visit_op(BinaryOp op, F&& f) {
  switch (op) {
    case BinaryOp::add:
      return f.template operator()<BinaryOp::add>();
    case BinaryOp::subtract:
      return f.template operator()<BinaryOp::subtract>();
    case BinaryOp::multiply:
      return f.template operator()<BinaryOp::multiply>();
    case BinaryOp::divide:
      break;
  }
  return f.template operator()<BinaryOp::divide>();
}

template <BinaryOp Op, class T>
void with_operand(double* x, std::uint32_t rows, std::uint32_t cols, const std::byte* v, Broadcast how) noexcept {
  const std::size_t c = cols;
  switch (how) {
    case Broadcast::same:
      for (std::size_t i = 0; i < std::size_t{rows} * c; ++i) x[i] = combine<Op>(x[i], detail::load_as_double<T>(v, i));
      return;
    case Broadcast::row:
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t j = 0; j < c; ++j) x[r * c + j] = combine<Op>(x[r * c + j], detail::load_as_double<T>(v, j));
      return;
    case Broadcast::column:
      for (std::size_t r = 0; r < rows; ++r) {
        const double value = detail::load_as_double<T>(v, r);
        for (std::size_t j = 0; j < c; ++j) x[r * c + j] = combine<Op>(x[r * c + j], value);
      }
      return;
  }
}

}  // namespace

void apply_scalar(double* x, std::size_t n, BinaryOp op, double value) noexcept {
  visit_op(op, [&]<BinaryOp Op>() {
    for (std::size_t i = 0; i < n; ++i) x[i] = combine<Op>(x[i], value);
  });
}

void apply_operand(double* x, std::uint32_t rows, std::uint32_t cols, BinaryOp op,
                   const OperandView& operand) noexcept {
  const auto how = broadcast_of(rows, cols, operand.rows, operand.cols);
  if (!how) return;  // the plan rejects such operands
  const auto* v = static_cast<const std::byte*>(operand.data);
  visit_op(op, [&]<BinaryOp Op>() {
    visit_dtype(operand.dtype, [&](auto zero) { with_operand<Op, decltype(zero)>(x, rows, cols, v, *how); });
  });
}

void scale(double* x, std::size_t n, double factor, double offset) noexcept {
  for (std::size_t i = 0; i < n; ++i) x[i] = x[i] * factor + offset;
}

}  // namespace shmjob::transform
