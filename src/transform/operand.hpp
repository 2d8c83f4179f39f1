#pragma once
// A read-only view of an operand matrix (row-major) and how it lines up with the working matrix.
// Operands live once per node in shared memory, in their own dtype: kernels convert elements to
// double as they read them, so no float64 copy is made. matmul operands are the exception: the
// loader converts them to float64 once (BLAS needs doubles), and the other steps accept such a
// float64 view of any operand too (converting to double first gives the same values).
#include <cstdint>
#include <optional>

#include "shmjob/dtype.hpp"

namespace shmjob::transform {

struct OperandView {
  const void* data = nullptr;  // rows * cols elements of dtype; need not be aligned
  DType dtype = DType::float64;
  std::uint32_t rows = 0, cols = 0;
};

// The operand shapes elementwise steps accept on a rows x cols matrix (numpy broadcasting
// restricted to these three): the same shape, one row [1, cols] repeated down, or one column
// [rows, 1] repeated across. A [1, 1] operand fits only a matrix with one row or one column.
enum class Broadcast : std::uint8_t { same, row, column };

constexpr std::optional<Broadcast> broadcast_of(std::uint32_t rows, std::uint32_t cols, std::uint32_t operand_rows,
                                                std::uint32_t operand_cols) noexcept {
  if (operand_rows == rows && operand_cols == cols) return Broadcast::same;
  if (operand_rows == 1 && operand_cols == cols) return Broadcast::row;
  if (operand_rows == rows && operand_cols == 1) return Broadcast::column;
  return std::nullopt;
}

}  // namespace shmjob::transform
