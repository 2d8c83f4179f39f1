#pragma once
// Steps that replace values by a condition, on the float64 working matrix. numpy twins:
//   clip(lo?, hi?)           np.clip(x, lo, hi): NaN stays NaN; a value equal to a bound becomes
//                            the bound (so -0.0 clipped below at 0.0 gives 0.0, as numpy 1.24);
//                            lo > hi gives hi everywhere (np.minimum(np.maximum(x, lo), hi))
//   threshold(below, value)  np.where(x < below, value, x)     (NaN is not below anything)
//   mask(operand, value)     np.where(operand != 0, value, x)  (operand broadcast as in
//                            arithmetic.hpp; a NaN in the operand is != 0, so it masks)
#include <cstddef>
#include <cstdint>
#include <optional>

#include "transform/operand.hpp"

namespace shmjob::transform {

// In place (out == in) or from `in` into an `out` that does not overlap it, as in arithmetic.hpp.
void clip(const double* in, double* out, std::size_t n, std::optional<double> lo, std::optional<double> hi) noexcept;
void threshold(const double* in, double* out, std::size_t n, double below, double value) noexcept;
void mask(const double* in, double* out, std::uint32_t rows, std::uint32_t cols, const OperandView& operand,
          double value) noexcept;

}  // namespace shmjob::transform
