#include "transform/step.hpp"

#include <array>
#include <cstddef>

namespace shmjob::transform {
namespace {

// Index = enumerator value; the static_asserts keep the tables in step with the enums.
constexpr std::array<std::string_view, static_cast<std::size_t>(kLastStepOp) + 1> kOpNames{
    "add", "subtract", "multiply", "divide", "scale", "clip",
    "threshold", "mask", "cast", "bin", "transpose", "matmul"};
static_assert(!kOpNames.back().empty(), "a StepOp without a name");
constexpr std::array<std::string_view, 2> kRoundingNames{"nearest", "truncate"};
constexpr std::array<std::string_view, 2> kBinHowNames{"sum", "mean"};
constexpr std::array<std::string_view, 2> kSideNames{"left", "right"};

template <class E, std::size_t N>
std::optional<E> parse(const std::array<std::string_view, N>& names, std::string_view name) noexcept {
  for (std::size_t i = 0; i < N; ++i)
    if (names[i] == name) return static_cast<E>(i);
  return std::nullopt;
}

}  // namespace

std::string_view step_op_name(StepOp op) noexcept { return kOpNames[static_cast<std::size_t>(op)]; }
std::optional<StepOp> parse_step_op(std::string_view name) noexcept { return parse<StepOp>(kOpNames, name); }
std::string_view rounding_name(Rounding r) noexcept { return kRoundingNames[static_cast<std::size_t>(r)]; }
std::optional<Rounding> parse_rounding(std::string_view name) noexcept {
  return parse<Rounding>(kRoundingNames, name);
}
std::string_view bin_how_name(BinHow how) noexcept { return kBinHowNames[static_cast<std::size_t>(how)]; }
std::optional<BinHow> parse_bin_how(std::string_view name) noexcept { return parse<BinHow>(kBinHowNames, name); }
std::string_view matmul_side_name(MatmulSide side) noexcept {
  return kSideNames[static_cast<std::size_t>(side)];
}
std::optional<MatmulSide> parse_matmul_side(std::string_view name) noexcept {
  return parse<MatmulSide>(kSideNames, name);
}

bool step_op_takes_operand(StepOp op) noexcept {
  switch (op) {
    case StepOp::add:
    case StepOp::subtract:
    case StepOp::multiply:
    case StepOp::divide:
    case StepOp::mask:
    case StepOp::matmul:
      return true;
    default:
      return false;
  }
}

}  // namespace shmjob::transform
