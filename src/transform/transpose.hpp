#pragma once
// Transposing the float64 working matrix into a second buffer (an in-place transpose of a
// non-square matrix would cost a cycle walk per element). Data movement only: no rounding.
#include <cstdint>

namespace shmjob::transform {

// out (cols x rows) = in (rows x cols) transposed; the two must not overlap.
void transpose(const double* in, std::uint32_t rows, std::uint32_t cols, double* out) noexcept;

}  // namespace shmjob::transform
