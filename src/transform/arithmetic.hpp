#pragma once
// Elementwise arithmetic on the float64 working matrix (row-major, rows x cols). Each element gets
// exactly one IEEE operation per step, in the order written (src/transform is compiled with
// -ffp-contract=off, so x * factor + offset is never fused), so numpy gives the same bits:
//   x + v, x - v, x * v, x / v   with v a scalar or operand.astype(np.float64), broadcast
//   x * factor + offset          (two roundings)
#include <cstddef>
#include <cstdint>

#include "transform/operand.hpp"

namespace shmjob::transform {

enum class BinaryOp : std::uint8_t { add, subtract, multiply, divide };

// Every step reads n doubles at `in` and writes the results to `out`: the same array (in place) or
// one that does not overlap it.
void apply_scalar(const double* in, double* out, std::size_t n, BinaryOp op, double value) noexcept;

// `operand` has a shape broadcast_of() accepts on rows x cols (checked by the plan; here it is a
// precondition). Its elements are converted to double as they are read.
void apply_operand(const double* in, double* out, std::uint32_t rows, std::uint32_t cols, BinaryOp op,
                   const OperandView& operand) noexcept;

void scale(const double* in, double* out, std::size_t n, double factor, double offset) noexcept;

}  // namespace shmjob::transform
