#include "transform/chain.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "shmjob/error.hpp"
#include "transform/arithmetic.hpp"
#include "transform/bin.hpp"
#include "transform/cast.hpp"
#include "transform/convert.hpp"
#include "transform/matmul.hpp"
#include "transform/select.hpp"
#include "transform/transpose.hpp"
#include "util/printable.hpp"

namespace shmjob::transform {
namespace {

// cblas_dgemm takes its dimensions as int (OpenBLAS without 64-bit integers).
constexpr std::uint32_t kMaxBlasDimension = std::numeric_limits<int>::max();

std::string shape(std::uint32_t rows, std::uint32_t cols) { return std::to_string(rows) + "x" + std::to_string(cols); }

std::string quoted(std::string_view name) {
  std::string out(1, '"');  // appended, not "\"" + ... (GCC 12 -O3 warns -Wrestrict on that)
  out += printable(name);
  out += '"';
  return out;
}

std::string number(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

// Builds the "transform[i] (op): " messages of one step.
class StepCheck {
 public:
  StepCheck(std::size_t index, StepOp op) : index_(index), op_(op) {}
  [[noreturn]] void fail(const std::string& problem) const {
    throw TransformError("transform[" + std::to_string(index_) + "] (" + std::string(step_op_name(op_)) +
                         "): " + problem);
  }
  void require(bool condition, const std::string& problem) const {
    if (!condition) fail(problem);
  }

 private:
  std::size_t index_;
  StepOp op_;
};

// Steps that work element by element (a cast in the middle too: it rounds in place).
bool is_elementwise(StepOp op) { return op != StepOp::bin && op != StepOp::transpose && op != StepOp::matmul; }

// rows * cols * element_size, or nullopt when it does not fit in size_t.
std::optional<std::size_t> bytes_of(std::uint32_t rows, std::uint32_t cols, std::size_t element_size) {
  std::size_t elements = 0, bytes = 0;
  if (__builtin_mul_overflow(std::size_t{rows}, std::size_t{cols}, &elements) ||
      __builtin_mul_overflow(elements, element_size, &bytes))
    return std::nullopt;
  return bytes;
}

const MatrixShape& find_operand(const StepCheck& check, const OperandShapes& operands, const std::string& name) {
  const auto it = operands.find(name);
  if (it != operands.end()) return it->second;
  std::string known;
  for (const auto& [other, unused] : operands) known += (known.empty() ? "" : ", ") + quoted(other);
  check.fail("operand " + quoted(name) + " is not defined (" +
             (known.empty() ? std::string("no operands are") : "defined: " + known) + ")");
}

void check_broadcast(const StepCheck& check, const std::string& name, const MatrixShape& operand, std::uint32_t rows,
                     std::uint32_t cols) {
  if (broadcast_of(rows, cols, operand.rows, operand.cols)) return;
  check.fail("operand " + quoted(name) + " is " + shape(operand.rows, operand.cols) + ", the matrix at this step is " +
             shape(rows, cols) + " (same shape, [1, " + std::to_string(cols) + "] or [" + std::to_string(rows) +
             ", 1] expected)");
}

BinaryOp binary_op(StepOp op) noexcept {
  switch (op) {
    case StepOp::subtract:
      return BinaryOp::subtract;
    case StepOp::multiply:
      return BinaryOp::multiply;
    case StepOp::divide:
      return BinaryOp::divide;
    default:
      return BinaryOp::add;
  }
}

// Rows of at most this many elements form a block of the fused elementwise steps: 1 MiB of
// doubles, about one core's L2. Measured with bench/transform_bench (chain / triad, medians of
// three runs): 4096 elements 0.55, 32768 0.70, 131072 0.77, 1048576 0.65.
constexpr std::size_t kBlockElements = 131072;

// Where the block starts in the scratch buffer: after the matrix, on a cache line.
constexpr std::size_t block_offset(std::size_t work_bytes) noexcept { return (work_bytes + 63) / 64 * 64; }

[[noreturn]] void contract_broken(const std::string& problem) {
  throw TransformError("transform: " + problem, kExitInternal);
}

}  // namespace

std::vector<std::string> ChainPlan::float64_operands() const {
  std::set<std::string> names;
  for (const auto& planned : steps_)
    if (planned.step.op == StepOp::matmul) names.insert(planned.step.operand);
  return {names.begin(), names.end()};
}

ChainPlan plan_chain(std::span<const Step> steps, std::uint32_t rows, std::uint32_t cols, DType dtype,
                     const OperandShapes& operands) {
  ChainPlan plan;
  plan.input_rows_ = rows;
  plan.input_cols_ = cols;
  plan.input_dtype_ = dtype;
  const auto input_bytes = bytes_of(rows, cols, dtype_size(dtype));
  const auto loaded_bytes = bytes_of(rows, cols, sizeof(double));
  if (!input_bytes || !loaded_bytes)
    throw TransformError("transform: a " + shape(rows, cols) + " matrix is too large to transform");
  plan.input_bytes_ = *input_bytes;
  std::size_t work = *loaded_bytes;
  DType out_dtype = DType::float64;
  bool needs_scratch = false;  // a transpose or matmul writes into the second buffer

  for (std::size_t i = 0; i < steps.size(); ++i) {
    const Step& step = steps[i];
    const StepCheck check(i, step.op);
    PlannedStep planned{step, rows, cols, rows, cols, {}};
    switch (step.op) {
      case StepOp::add:
      case StepOp::subtract:
      case StepOp::multiply:
      case StepOp::divide:
        check.require(step.operand.empty() || !step.value, "give an operand or a value, not both");
        check.require(!step.operand.empty() || step.value, "needs an operand or a value");
        if (!step.operand.empty()) {
          planned.operand = find_operand(check, operands, step.operand);
          check_broadcast(check, step.operand, planned.operand, rows, cols);
        }
        break;
      case StepOp::scale:
        break;
      case StepOp::clip:
        check.require(step.min || step.max, "needs min, max or both");
        check.require(!(step.min && std::isnan(*step.min)) && !(step.max && std::isnan(*step.max)), "a bound is NaN");
        check.require(!(step.min && step.max && *step.min > *step.max),
                      "min " + number(step.min.value_or(0)) + " is above max " + number(step.max.value_or(0)));
        break;
      case StepOp::threshold:
        check.require(step.value.has_value(), "needs the value to write where x < below");
        break;
      case StepOp::mask:
        check.require(!step.operand.empty(), "needs an operand (where it is not 0, x = value)");
        check.require(step.value.has_value(), "needs the value to write where the operand is not 0");
        planned.operand = find_operand(check, operands, step.operand);
        check_broadcast(check, step.operand, planned.operand, rows, cols);
        break;
      case StepOp::cast:
        check.require(step.dtype <= kLastDType, "unknown dtype");
        break;
      case StepOp::bin: {
        const std::uint32_t k = step.bin_factor;
        check.require(k >= 1, "the bin factor must be at least 1");
        check.require(
            rows % k == 0 && cols % k == 0,
            "bin factor " + std::to_string(k) + " does not divide the matrix at this step, " + shape(rows, cols));
        planned.rows_out = rows / k;
        planned.cols_out = cols / k;
        break;
      }
      case StepOp::transpose:
        planned.rows_out = cols;
        planned.cols_out = rows;
        needs_scratch = true;
        break;
      case StepOp::matmul: {
        check.require(!step.operand.empty(), "needs an operand");
        planned.operand = find_operand(check, operands, step.operand);
        const MatrixShape& p = planned.operand;
        const std::string named = "operand " + quoted(step.operand) + " is " + shape(p.rows, p.cols);
        if (step.side == MatmulSide::right) {
          check.require(p.rows == cols, named + ", the matrix at this step is " + shape(rows, cols) +
                                            " (side right, X * P: P needs " + std::to_string(cols) + " rows)");
          planned.cols_out = p.cols;
        } else {
          check.require(p.cols == rows, named + ", the matrix at this step is " + shape(rows, cols) +
                                            " (side left, P * X: P needs " + std::to_string(rows) + " columns)");
          planned.rows_out = p.rows;
        }
        for (const std::uint32_t d : {rows, cols, p.rows, p.cols})
          check.require(d <= kMaxBlasDimension, "dimension " + std::to_string(d) + " exceeds what BLAS takes (" +
                                                    std::to_string(kMaxBlasDimension) + ")");
        needs_scratch = true;
        break;
      }
      default:
        check.fail("unknown step");
    }
    rows = planned.rows_out;
    cols = planned.cols_out;
    const auto step_bytes = bytes_of(rows, cols, sizeof(double));
    check.require(step_bytes.has_value(), "the result, " + shape(rows, cols) + ", is too large");
    work = std::max(work, *step_bytes);
    plan.steps_.push_back(std::move(planned));
  }

  if (!steps.empty() && steps.back().op == StepOp::cast) out_dtype = steps.back().dtype;
  plan.rows_ = rows;
  plan.cols_ = cols;
  plan.dtype_ = out_dtype;
  plan.output_bytes_ = std::size_t{rows} * cols * dtype_size(out_dtype);  // <= the float64 size checked above
  plan.work_bytes_ = std::max(work, plan.input_bytes_);
  if (needs_scratch) plan.scratch_bytes_ = plan.work_bytes_;
  // A chain that starts with elementwise steps runs them fused, block by block, into the scratch
  // buffer (apply()); the block follows the matrix there, at a cache-line boundary.
  if (!steps.empty() && is_elementwise(steps.front().op)) {
    const std::uint32_t cols_in = std::max(plan.input_cols_, 1u);
    plan.block_rows_ = std::min<std::size_t>(plan.input_rows_, std::max<std::size_t>(1, kBlockElements / cols_in));
    plan.scratch_bytes_ = block_offset(plan.work_bytes_) + plan.block_rows_ * cols_in * sizeof(double);
  }
  return plan;
}

namespace {

// Rows [row0, row0 + rows) of an operand that lines up with a rows_total x cols matrix (same
// shape: those rows; a row [1, cols]: itself; a column [rows_total, 1]: those elements).
OperandView rows_of(const OperandView& view, std::uint32_t rows_total, std::uint32_t row0, std::uint32_t rows) {
  if (view.rows != rows_total || rows == rows_total) return view;  // a row operand, or all of it
  OperandView part = view;
  part.data = static_cast<const std::byte*>(view.data) + std::size_t{row0} * view.cols * dtype_size(view.dtype);
  part.rows = rows;
  return part;
}

}  // namespace

ChainResult apply(const ChainPlan& plan, std::span<std::byte> buffer, std::span<std::byte> scratch,
                  const OperandLookup& operands) {
  const auto aligned = [](std::span<std::byte> s) {
    return reinterpret_cast<std::uintptr_t>(s.data()) % alignof(double) == 0;
  };
  if (buffer.size() < plan.work_bytes() || !aligned(buffer))
    contract_broken("buffer of " + std::to_string(buffer.size()) + " bytes (or not 8-byte aligned), the plan needs " +
                    std::to_string(plan.work_bytes()));
  if (plan.scratch_bytes() > 0 && (scratch.size() < plan.scratch_bytes() || !aligned(scratch)))
    contract_broken("scratch of " + std::to_string(scratch.size()) + " bytes (or not 8-byte aligned), the plan needs " +
                    std::to_string(plan.scratch_bytes()));

  std::byte* current = buffer.data();
  std::byte* other = scratch.data();
  bool in_scratch = false;
  std::uint64_t saturated = 0;
  const auto& steps = plan.steps();

  // The operand of step i, checked against what the plan saw.
  const auto operand_of = [&](std::size_t i, bool float64_only) {
    const PlannedStep& planned = steps[i];
    const Step& step = planned.step;
    const std::size_t n = std::size_t{planned.rows_in} * planned.cols_in;
    const OperandView view = operands(step.operand);
    const MatrixShape& want = planned.operand;
    const bool dtype_ok = view.dtype == DType::float64 || (!float64_only && view.dtype == want.dtype);
    if (view.rows != want.rows || view.cols != want.cols || !dtype_ok || (view.data == nullptr && n > 0))
      contract_broken("operand " + quoted(step.operand) + " of step " + std::to_string(i) + " is a " +
                      shape(view.rows, view.cols) + " " + std::string(dtype_name(view.dtype)) + " view, the plan has " +
                      shape(want.rows, want.cols) + " " +
                      std::string(dtype_name(float64_only ? DType::float64 : want.dtype)));
    return view;
  };
  // Elementwise step i on rows [row0, row0 + rows) of its matrix: float64 values read at `in`,
  // written at `out` (the same place, or apart). A final cast narrows them in place (the output
  // values at the start of out).
  const auto elementwise = [&](std::size_t i, const OperandView* view, const double* in, double* out,
                               std::uint32_t row0, std::uint32_t rows) {
    const PlannedStep& planned = steps[i];
    const Step& step = planned.step;
    const std::uint32_t cols = planned.cols_in;
    const std::size_t n = std::size_t{rows} * cols;
    switch (step.op) {
      case StepOp::add:
      case StepOp::subtract:
      case StepOp::multiply:
      case StepOp::divide:
        if (step.operand.empty())
          apply_scalar(in, out, n, binary_op(step.op), *step.value);
        else
          apply_operand(in, out, rows, cols, binary_op(step.op), rows_of(*view, planned.rows_in, row0, rows));
        break;
      case StepOp::scale:
        scale(in, out, n, step.factor, step.offset);
        break;
      case StepOp::clip:
        clip(in, out, n, step.min, step.max);
        break;
      case StepOp::threshold:
        threshold(in, out, n, step.below, *step.value);
        break;
      case StepOp::mask:
        mask(in, out, rows, cols, rows_of(*view, planned.rows_in, row0, rows), *step.value);
        break;
      case StepOp::cast:
        if (i + 1 < steps.size()) {
          saturated += quantize(in, out, n, step.dtype, step.rounding);
        } else {
          // Only in place here: the fused blocks narrow their final cast apart, into its place.
          if (out != in) contract_broken("a final cast applied out of place");
          saturated += narrow_from_float64(reinterpret_cast<std::byte*>(out), n, step.dtype, step.rounding);
        }
        break;
      default:
        contract_broken("step " + std::to_string(i) + " is not elementwise");
    }
  };

  // The leading elementwise steps, fused: each block of rows goes through all of them while it is
  // in cache and is stored into the scratch buffer (one pass over the matrix instead of one per
  // step; the same operations per element, in the same order). The first step reads float64 input
  // where it lies; other dtypes are converted into the block first. A final cast writes its values
  // straight to their place in the scratch buffer.
  std::size_t first = 0;
  while (first < steps.size() && is_elementwise(steps[first].step.op)) ++first;
  if (first > 0) {
    const std::uint32_t rows = plan.input_rows(), cols = plan.input_cols();
    const bool narrows = first == steps.size() && steps.back().step.op == StepOp::cast;
    const std::size_t out_size = narrows ? dtype_size(plan.dtype()) : sizeof(double);
    const std::size_t in_size = dtype_size(plan.input_dtype());
    const std::size_t last_in_block = narrows ? first - 1 : first;
    std::vector<OperandView> views(first);
    for (std::size_t i = 0; i < first; ++i)
      if (!steps[i].step.operand.empty()) views[i] = operand_of(i, false);
    auto* block = reinterpret_cast<double*>(other + block_offset(plan.work_bytes()));
    const auto block_rows = static_cast<std::uint32_t>(plan.block_rows());
    for (std::uint32_t row0 = 0; row0 < rows; row0 += block_rows) {
      const std::uint32_t n_rows = std::min(block_rows, rows - row0);
      const std::size_t n = std::size_t{n_rows} * cols;
      const std::byte* source = current + std::size_t{row0} * cols * in_size;
      std::byte* out = other + std::size_t{row0} * cols * out_size;
      const double* in = block;
      if (plan.input_dtype() != DType::float64 || last_in_block == 0)
        to_float64(source, plan.input_dtype(), n, block);
      else
        in = reinterpret_cast<const double*>(source);  // 8-byte aligned: buffer is, and rows are whole
      for (std::size_t i = 0; i < last_in_block; ++i, in = block) elementwise(i, &views[i], in, block, row0, n_rows);
      if (narrows)
        saturated += narrow_from_float64(block, n, steps.back().step.dtype, steps.back().step.rounding, out);
      else
        std::memcpy(out, block, n * out_size);
    }
    std::swap(current, other);
    in_scratch = true;
  } else {
    widen_to_float64(current, std::size_t{plan.input_rows()} * plan.input_cols(), plan.input_dtype());
  }

  for (std::size_t i = first; i < steps.size(); ++i) {
    const PlannedStep& planned = steps[i];
    const Step& step = planned.step;
    const std::uint32_t rows = planned.rows_in, cols = planned.cols_in;
    auto* x = reinterpret_cast<double*>(current);
    const auto operand = [&](bool float64_only) { return operand_of(i, float64_only); };
    if (is_elementwise(step.op)) {
      const OperandView view = step.operand.empty() ? OperandView{} : operand(false);
      elementwise(i, &view, x, x, 0, rows);
      continue;
    }
    // Only bin, transpose and matmul are left.
    switch (step.op) {
      case StepOp::bin:
        bin(x, rows, cols, step.bin_factor, step.how);
        break;
      case StepOp::transpose:
        transpose(x, rows, cols, reinterpret_cast<double*>(other));
        std::swap(current, other);
        in_scratch = !in_scratch;
        break;
      default: {  // matmul
        const auto* p = static_cast<const double*>(operand(true).data);
        auto* out = reinterpret_cast<double*>(other);
        if (step.side == MatmulSide::right)
          matmul_right(x, rows, cols, p, planned.operand.cols, out);
        else
          matmul_left(p, planned.operand.rows, x, rows, cols, out);
        std::swap(current, other);
        in_scratch = !in_scratch;
        break;
      }
    }
  }
  return {std::span<std::byte>(current, plan.output_bytes()), in_scratch, saturated};
}

}  // namespace shmjob::transform
