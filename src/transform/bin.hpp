#pragma once
// Binning: each k x k block of the float64 working matrix becomes one value, so a rows x cols
// matrix becomes rows/k x cols/k (k divides both: the plan checks it).
//
// Order (it decides the bits): the block's values are added in row-major order, starting from the
// first one (not from 0.0, so a block of -0.0 sums to -0.0):
//   s = x[k*I][k*J]; then s += x[k*I + a][k*J + b] for a = 0..k-1, b = 0..k-1, (a, b) != (0, 0)
//   mean = s / (k*k)   (one division)
// numpy twin, bit for bit:
//   v = x.reshape(rows // k, k, cols // k, k)
//   s = v[:, 0, :, 0].copy()
//   for a in range(k): for b in range(k): if (a, b) != (0, 0): s = s + v[:, a, :, b]
//   mean: s / float(k * k)
#include <cstdint>

#include "config/transform_config.hpp"

namespace shmjob::transform {

// In place: the binned matrix is written to the front of `x`. Output (I, J) goes to index
// I * (cols/k) + J, before every input value not read yet (the rest of block row I lies beyond
// column k*(J+1) of row k*I), so one forward sweep needs no second buffer.
void bin(double* x, std::uint32_t rows, std::uint32_t cols, std::uint32_t k, BinHow how) noexcept;

}  // namespace shmjob::transform
