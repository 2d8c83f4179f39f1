#include "transform/transpose.hpp"

#include <algorithm>
#include <cstddef>

namespace shmjob::transform {

void transpose(const double* in, std::uint32_t rows, std::uint32_t cols, double* out) noexcept {
  // Tiles of 32 x 32 doubles (8 KiB read, 8 KiB written): both fit in L1, so the strided side of
  // the copy hits cache lines that the tile has loaded already instead of one line per element.
  constexpr std::size_t kTile = 32;
  const std::size_t r = rows, c = cols;
  for (std::size_t i0 = 0; i0 < r; i0 += kTile) {
    const std::size_t i1 = std::min(r, i0 + kTile);
    for (std::size_t j0 = 0; j0 < c; j0 += kTile) {
      const std::size_t j1 = std::min(c, j0 + kTile);
      for (std::size_t i = i0; i < i1; ++i)
        for (std::size_t j = j0; j < j1; ++j) out[j * r + i] = in[i * c + j];
    }
  }
}

}  // namespace shmjob::transform
