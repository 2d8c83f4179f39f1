#pragma once
// A transform chain: the steps every matrix goes through before compression, planned once (all
// that can be checked without data: operands, shapes, bin factors, sizes) and then applied to
// each matrix in its slot, in place where the kernels allow.
//
// Semantics (the numpy twins are in the kernel headers):
// - The matrix is first loaded into float64 (convert.hpp); every step works on float64.
// - The output is float64, unless the last step is a cast: then it is the cast's dtype. An empty
//   chain gives the input as float64.
// - A cast in the middle of a chain quantises: later steps see double(cast(x)) (the cast values
//   promoted back to float64, exactly), and its saturated values count like a final cast's.
// - transpose and matmul write into the other buffer (buffer -> scratch or scratch -> buffer):
//   the result is where the last of them left it, with no copy back (ChainResult::in_scratch).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/transform_config.hpp"
#include "shmjob/dtype.hpp"
#include "shmjob/matrix_shape.hpp"
#include "transform/operand.hpp"

namespace shmjob::transform {

// What the plan needs to know of each operand: its stored shape and dtype, by name.
using OperandShapes = std::map<std::string, MatrixShape, std::less<>>;

// One step with the matrix shape it reads and writes.
struct PlannedStep {
  Step step;
  std::uint32_t rows_in = 0, cols_in = 0, rows_out = 0, cols_out = 0;
  MatrixShape operand;  // when step.operand is not empty
};

class ChainPlan {
 public:
  std::uint32_t input_rows() const noexcept { return input_rows_; }
  std::uint32_t input_cols() const noexcept { return input_cols_; }
  DType input_dtype() const noexcept { return input_dtype_; }
  // The output matrix.
  std::uint32_t rows() const noexcept { return rows_; }
  std::uint32_t cols() const noexcept { return cols_; }
  DType dtype() const noexcept { return dtype_; }
  std::size_t input_bytes() const noexcept { return input_bytes_; }
  std::size_t output_bytes() const noexcept { return output_bytes_; }
  // The largest size the matrix takes on the way (input, float64 intermediates, output): the least
  // size of `buffer`.
  std::size_t work_bytes() const noexcept { return work_bytes_; }
  // The least size of `scratch` (0: none needed): the second buffer of a transpose or matmul, and
  // where fused elementwise steps write, plus their cache-sized block of rows.
  std::size_t scratch_bytes() const noexcept { return scratch_bytes_; }
  // Rows per block of the fused leading elementwise steps (0: the chain does not start with one).
  std::size_t block_rows() const noexcept { return block_rows_; }
  const std::vector<PlannedStep>& steps() const noexcept { return steps_; }
  // Operands that a matmul reads: the loader converts these to float64 once (and may hand the
  // float64 copy to the other steps that use the same operand). Sorted, no repeats.
  std::vector<std::string> float64_operands() const;

 private:
  friend ChainPlan plan_chain(std::span<const Step>, std::uint32_t, std::uint32_t, DType, const OperandShapes&);
  std::uint32_t input_rows_ = 0, input_cols_ = 0, rows_ = 0, cols_ = 0;
  DType input_dtype_ = DType::float64, dtype_ = DType::float64;
  std::size_t input_bytes_ = 0, output_bytes_ = 0, work_bytes_ = 0, scratch_bytes_ = 0;
  std::size_t block_rows_ = 0;  // rows per block of the fused leading elementwise steps (0: none)
  std::vector<PlannedStep> steps_;
};

// Checks the chain on a rows x cols matrix of `dtype` with these operands. Throws TransformError
// (exit code 2) naming the first problem and its step:
//   transform[2] (multiply): operand "gain" is 512x256, the matrix at this step is 512x512
//   (same shape, [1, 512] or [512, 1] expected)
ChainPlan plan_chain(std::span<const Step> steps, std::uint32_t rows, std::uint32_t cols, DType dtype,
                     const OperandShapes& operands);

// The operand called `name`, as the plan saw it: same shape, and its stored dtype or float64
// (float64 required for matmul operands). Called during apply(), once per step that reads one.
using OperandLookup = std::function<OperandView(std::string_view name)>;

struct ChainResult {
  std::span<std::byte> output;  // plan.output_bytes() bytes at the start of buffer or scratch
  bool in_scratch = false;      // true: the output is in `scratch` (an odd number of transpose/matmul)
  std::uint64_t saturated = 0;  // values clamped or NaN -> 0 by the casts (cast.hpp)
};

// Runs the plan on one matrix. `buffer` holds the input matrix at its start (plan.input_bytes())
// and is at least plan.work_bytes() long; `scratch` at least plan.scratch_bytes() (it may be empty
// when that is 0); both 8-byte aligned, not overlapping. Both are overwritten. Throws TransformError
// (kExitInternal) when these or the operands do not match the plan.
ChainResult apply(const ChainPlan& plan, std::span<std::byte> buffer, std::span<std::byte> scratch,
                  const OperandLookup& operands);

}  // namespace shmjob::transform
