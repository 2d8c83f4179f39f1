#pragma once
// One step of a transform chain, as plain data: the config parser fills it, plan_chain
// (chain.hpp) checks it against the matrix and the operands. No JSON here: the names below are
// the spellings the config uses, so the parser and the messages agree.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "shmjob/dtype.hpp"

namespace shmjob::transform {

enum class StepOp : std::uint8_t {
  add, subtract, multiply, divide,  // x op operand (broadcast) or x op value
  scale,                            // x * factor + offset
  clip,                             // np.clip(x, min, max)
  threshold,                        // where x < below: x = value
  mask,                             // where operand != 0: x = value
  cast,                             // to dtype (rounding), saturating integers
  bin,                              // bin_factor x bin_factor blocks, sum or mean
  transpose,
  matmul                            // X * P (side right) or P * X (side left)
};
inline constexpr StepOp kLastStepOp = StepOp::matmul;

// How a cast to an integer dtype rounds: nearest = half to even (np.rint), truncate = toward
// zero (astype). Float targets ignore it (IEEE round to nearest).
enum class Rounding : std::uint8_t { nearest, truncate };
enum class BinHow : std::uint8_t { sum, mean };
// Which side the operand P multiplies the matrix X from: right X*P, left P*X.
enum class MatmulSide : std::uint8_t { left, right };

// Only the fields of `op` are read; the others keep their defaults. plan_chain reports fields
// that are missing or contradict each other (an operand and a value, no clip bound, ...).
struct Step {
  StepOp op = StepOp::add;
  // add/subtract/multiply/divide: a named operand, or empty when the scalar `value` is used.
  // mask and matmul: the operand (required).
  std::string operand;
  // add/subtract/multiply/divide: the scalar (when no operand); threshold and mask: the value
  // written where the condition holds (required).
  std::optional<double> value;
  double factor = 1, offset = 0;        // scale
  std::optional<double> min, max;       // clip: at least one
  double below = 0;                     // threshold: where x < below, x = value
  DType dtype = DType::float64;         // cast target
  Rounding rounding = Rounding::nearest;  // cast
  std::uint32_t bin_factor = 2;         // bin: k, dividing rows and cols
  BinHow how = BinHow::sum;             // bin
  MatmulSide side = MatmulSide::right;  // matmul
};

std::string_view step_op_name(StepOp op) noexcept;  // "add", "clip", ... as in the config
std::optional<StepOp> parse_step_op(std::string_view name) noexcept;
std::string_view rounding_name(Rounding rounding) noexcept;  // "nearest", "truncate"
std::optional<Rounding> parse_rounding(std::string_view name) noexcept;
std::string_view bin_how_name(BinHow how) noexcept;  // "sum", "mean"
std::optional<BinHow> parse_bin_how(std::string_view name) noexcept;
std::string_view matmul_side_name(MatmulSide side) noexcept;  // "left", "right"
std::optional<MatmulSide> parse_matmul_side(std::string_view name) noexcept;

// Whether `op` reads a named operand: always (mask, matmul), or when one is given (add..divide).
bool step_op_takes_operand(StepOp op) noexcept;

}  // namespace shmjob::transform
