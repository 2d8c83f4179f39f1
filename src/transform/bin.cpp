#include "transform/bin.hpp"

#include <algorithm>
#include <cstddef>

namespace shmjob::transform {

void bin(double* x, std::uint32_t rows, std::uint32_t cols, std::uint32_t k, BinHow how) noexcept {
  if (k <= 1 || rows % k != 0 || cols % k != 0) return;  // k = 1 is the identity; the rest the plan rejects
  const std::size_t c = cols, out_rows = rows / k, out_cols = cols / k;
  const double divisor = static_cast<double>(std::size_t{k} * k);
  // A strip of output columns is summed on the stack, term by term across the strip (the same
  // order per output value as one block at a time, but the inner loop runs over many blocks).
  constexpr std::size_t kStrip = 256;
  double sums[kStrip];
  for (std::size_t I = 0; I < out_rows; ++I) {
    const double* block_row = x + I * k * c;
    for (std::size_t J0 = 0; J0 < out_cols; J0 += kStrip) {
      const std::size_t width = std::min(kStrip, out_cols - J0);
      const double* first = block_row + J0 * k;
      for (std::size_t j = 0; j < width; ++j) sums[j] = first[j * k];
      for (std::size_t a = 0; a < k; ++a)
        for (std::size_t b = a == 0 ? 1 : 0; b < k; ++b) {
          const double* term = first + a * c + b;
          for (std::size_t j = 0; j < width; ++j) sums[j] += term[j * k];
        }
      // Every input of this strip has been read; its outputs land before any input not read yet.
      double* out = x + I * out_cols + J0;
      if (how == BinHow::mean)
        for (std::size_t j = 0; j < width; ++j) out[j] = sums[j] / divisor;
      else
        std::copy(sums, sums + width, out);
    }
  }
}

}  // namespace shmjob::transform
