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
SHMJOB_VECTOR_KERNEL void with_operand(const double* in, double* out, std::uint32_t rows, std::uint32_t cols,
                                       const std::byte* v, Broadcast how) noexcept {
  const std::size_t c = cols;
  switch (how) {
    case Broadcast::same:
      for (std::size_t i = 0; i < std::size_t{rows} * c; ++i)
        out[i] = combine<Op>(in[i], detail::load_as_double<T>(v, i));
      return;
    case Broadcast::row:
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t j = 0; j < c; ++j)
          out[r * c + j] = combine<Op>(in[r * c + j], detail::load_as_double<T>(v, j));
      return;
    case Broadcast::column:
      for (std::size_t r = 0; r < rows; ++r) {
        const double value = detail::load_as_double<T>(v, r);
        for (std::size_t j = 0; j < c; ++j) out[r * c + j] = combine<Op>(in[r * c + j], value);
      }
      return;
  }
}

template <BinaryOp Op>
SHMJOB_VECTOR_KERNEL void with_scalar(const double* in, double* out, std::size_t n, double value) noexcept {
  for (std::size_t i = 0; i < n; ++i) out[i] = combine<Op>(in[i], value);
}

}  // namespace

void apply_scalar(const double* in, double* out, std::size_t n, BinaryOp op, double value) noexcept {
  visit_op(op, [&]<BinaryOp Op>() { with_scalar<Op>(in, out, n, value); });
}

void apply_operand(const double* in, double* out, std::uint32_t rows, std::uint32_t cols, BinaryOp op,
                   const OperandView& operand) noexcept {
  const auto how = broadcast_of(rows, cols, operand.rows, operand.cols);
  if (!how) return;  // the plan rejects such operands
  const auto* v = static_cast<const std::byte*>(operand.data);
  visit_op(op, [&]<BinaryOp Op>() {
    visit_dtype(operand.dtype, [&](auto zero) { with_operand<Op, decltype(zero)>(in, out, rows, cols, v, *how); });
  });
}

SHMJOB_VECTOR_KERNEL void scale(const double* in, double* out, std::size_t n, double factor, double offset) noexcept {
  for (std::size_t i = 0; i < n; ++i) out[i] = in[i] * factor + offset;
}

}  // namespace shmjob::transform
