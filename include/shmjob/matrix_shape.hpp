#pragma once
// The shape of a matrix: rows, columns and element type. Every description of matrices (a
// synthetic job's, an input dataset's, an output set's) holds one of these.
#include <compare>
#include <cstdint>

#include "shmjob/dtype.hpp"

namespace shmjob {

struct MatrixShape {
  std::uint32_t rows = 0, cols = 0;
  DType dtype = DType::float64;

  std::uint64_t elements() const noexcept { return std::uint64_t{rows} * cols; }
  std::uint64_t bytes() const noexcept { return elements() * dtype_size(dtype); }
  auto operator<=>(const MatrixShape&) const = default;
};

// The largest chunk HDF5 (1.10) stores: chunk sizes are 32-bit. shmjob stores a matrix as one
// chunk (or as tiles no larger than it), so this also bounds one matrix.
inline constexpr std::uint64_t kMaxChunkBytes = (std::uint64_t{1} << 32) - 1;

}  // namespace shmjob
