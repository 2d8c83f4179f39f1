#pragma once
// The transform part of a job config ("operands", "transform", "reduce"; see docs/transform.md):
// plain data that parse_transform_config() fills; transform::plan_chain (transform/chain.hpp)
// checks the steps against each matrix shape and the operands' shapes once they are read. The
// names below are the config's spellings, so the parser and the messages agree.
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "shmjob/dtype.hpp"

namespace shmjob::transform {

enum class StepOp : std::uint8_t {
  add,
  subtract,
  multiply,
  divide,     // x op operand (broadcast) or x op value
  scale,      // x * factor + offset
  clip,       // np.clip(x, min, max)
  threshold,  // where x < below: x = value
  mask,       // where operand != 0: x = value
  cast,       // to dtype (rounding), saturating integers
  bin,        // bin_factor x bin_factor blocks, sum or mean
  transpose,
  matmul  // X * P (side right) or P * X (side left)
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
  double factor = 1, offset = 0;          // scale
  std::optional<double> min, max;         // clip: at least one
  double below = 0;                       // threshold: where x < below, x = value
  DType dtype = DType::float64;           // cast target
  Rounding rounding = Rounding::nearest;  // cast
  std::uint32_t bin_factor = 2;           // bin: k, dividing rows and cols
  BinHow how = BinHow::sum;               // bin
  MatmulSide side = MatmulSide::right;    // matmul
  friend bool operator==(const Step&, const Step&) = default;
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

enum class Reduction : std::uint8_t { sum, mean, min, max, count_nonzero };
inline constexpr Reduction kLastReduction = Reduction::count_nonzero;

std::string_view reduction_name(Reduction r) noexcept;  // "sum", ..., "count_nonzero"
std::optional<Reduction> parse_reduction(std::string_view name) noexcept;

// A subset of the reductions.
class ReductionSet {
 public:
  constexpr ReductionSet() noexcept = default;
  constexpr ReductionSet(std::initializer_list<Reduction> reductions) noexcept {
    for (const Reduction r : reductions) bits_ |= bit(r);
  }
  constexpr ReductionSet& add(Reduction r) noexcept {
    bits_ |= bit(r);
    return *this;
  }
  constexpr bool contains(Reduction r) const noexcept { return (bits_ & bit(r)) != 0; }
  constexpr bool empty() const noexcept { return bits_ == 0; }
  constexpr std::uint8_t bits() const noexcept { return bits_; }
  static constexpr std::optional<ReductionSet> from_bits(std::uint8_t bits) noexcept {
    if (bits >> (static_cast<unsigned>(kLastReduction) + 1)) return std::nullopt;
    ReductionSet set;
    set.bits_ = bits;
    return set;
  }
  constexpr bool operator==(const ReductionSet&) const noexcept = default;

 private:
  static constexpr std::uint8_t bit(Reduction r) noexcept {
    return static_cast<std::uint8_t>(1u << static_cast<unsigned>(r));
  }
  std::uint8_t bits_ = 0;
};

// An operand: a 2-D dataset read once per node into shared memory, read-only afterwards.
// replicate: numa keeps one copy per NUMA domain of the node (first touched there, so every lane
// reads local memory), node one copy per node.
enum class Replicate : std::uint8_t { numa, node };
std::string_view replicate_name(Replicate replicate) noexcept;  // "numa", "node"

struct OperandConfig {
  std::string file;     // as written (relative: to the working directory)
  std::string dataset;  // absolute HDF5 path
  Replicate replicate = Replicate::numa;
  friend bool operator==(const OperandConfig&, const OperandConfig&) = default;
};

struct TransformConfig {
  std::map<std::string, OperandConfig, std::less<>> operands;  // by name
  std::vector<Step> steps;                                     // in order
  ReductionSet reduce;
  bool empty() const noexcept { return operands.empty() && steps.empty() && reduce.empty(); }
  friend bool operator==(const TransformConfig&, const TransformConfig&) = default;
};

// Parses the three top-level keys (each may be null: absent). Checks everything that does not
// need the operands' files: keys per op, values, operand names (every step's operand exists),
// reduce names. An operand no step uses is allowed (the job notes it and does not read it). Throws ConfigError naming
// the key:
//   config: transform[2].op: must be one of add, subtract, ..., got "mul"
TransformConfig parse_transform_config(const nlohmann::json* operands, const nlohmann::json* steps,
                                       const nlohmann::json* reduce);
// The three keys, every field written out (only those of each step's op); parse(to_json) == c.
// Sets document["operands"], ["transform"], ["reduce"].
void write_transform_config(const TransformConfig& config, nlohmann::json& document);

}  // namespace shmjob::transform
