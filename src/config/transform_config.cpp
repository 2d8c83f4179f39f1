#include "config/transform_config.hpp"

#include <algorithm>
#include <array>
#include <cstddef>

#include <nlohmann/json.hpp>

#include "config/json_fields.hpp"
#include "shmjob/error.hpp"

namespace shmjob::transform {
namespace {

// Index = enumerator value; the static_asserts keep the tables in step with the enums.
constexpr std::array<std::string_view, static_cast<std::size_t>(kLastStepOp) + 1> kOpNames{
    "add",       "subtract", "multiply", "divide", "scale",     "clip",
    "threshold", "mask",     "cast",     "bin",    "transpose", "matmul"};
static_assert(!kOpNames.back().empty(), "a StepOp without a name");
constexpr std::array<std::string_view, 2> kRoundingNames{"nearest", "truncate"};
constexpr std::array<std::string_view, 2> kBinHowNames{"sum", "mean"};
constexpr std::array<std::string_view, 2> kSideNames{"left", "right"};
constexpr std::array<std::string_view, static_cast<std::size_t>(kLastReduction) + 1> kReductionNames{
    "sum", "mean", "min", "max", "count_nonzero"};

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
std::optional<Rounding> parse_rounding(std::string_view name) noexcept { return parse<Rounding>(kRoundingNames, name); }
std::string_view bin_how_name(BinHow how) noexcept { return kBinHowNames[static_cast<std::size_t>(how)]; }
std::optional<BinHow> parse_bin_how(std::string_view name) noexcept { return parse<BinHow>(kBinHowNames, name); }
std::string_view matmul_side_name(MatmulSide side) noexcept { return kSideNames[static_cast<std::size_t>(side)]; }
std::optional<MatmulSide> parse_matmul_side(std::string_view name) noexcept {
  return parse<MatmulSide>(kSideNames, name);
}

std::string_view reduction_name(Reduction r) noexcept { return kReductionNames[static_cast<std::size_t>(r)]; }
std::optional<Reduction> parse_reduction(std::string_view name) noexcept {
  return parse<Reduction>(kReductionNames, name);
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

// --- the config sections ---------------------------------------------------------------------

namespace shmjob::transform {
namespace {

using nlohmann::json;
using namespace json_fields;

constexpr std::size_t kMaxSteps = 64;
constexpr std::size_t kMaxOperands = 64;
constexpr std::size_t kMaxOperandName = 64;
constexpr std::uint64_t kMaxBinFactor = std::uint64_t{1} << 20;

constexpr NameTable<Replicate, 2> kReplicates{{{Replicate::numa, "numa"}, {Replicate::node, "node"}}};

template <class E, std::size_t N>
NameTable<E, N> table_of(const std::array<std::string_view, N>& names) {
  NameTable<E, N> table{};
  for (std::size_t i = 0; i < N; ++i) table[i] = {static_cast<E>(i), names[i]};
  return table;
}

// Operand names are recorded in the master file and named in messages: the job name's rule.
bool valid_operand_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxOperandName || name.front() == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
  });
}

std::map<std::string, OperandConfig, std::less<>> parse_operands(const json& value) {
  if (!value.is_object()) fail_got("operands", "an object {\"name\": {\"file\": ..., \"dataset\": ...}}", value);
  if (value.size() > kMaxOperands) fail("operands", "more than " + std::to_string(kMaxOperands) + " operands");
  std::map<std::string, OperandConfig, std::less<>> operands;
  for (const auto& item : value.items()) {
    if (!valid_operand_name(item.key()))
      fail("operands",
           "the name " + show(item.key()) + " must be 1 to 64 characters of A-Z a-z 0-9 _ . - not starting with '.'");
    const Section s(&item.value(), join_path("operands", item.key()), {"file", "dataset", "replicate"});
    OperandConfig operand;
    operand.file = read_text(s.require("file"), s.path("file"));
    std::string dataset = read_text(s.require("dataset"), s.path("dataset"), "an HDF5 dataset path such as \"/dark\"");
    if (dataset.front() != '/') dataset.insert(dataset.begin(), '/');
    operand.dataset = dataset;
    read_choice_into(s, "replicate", kReplicates, operand.replicate);
    operands.emplace(item.key(), std::move(operand));
  }
  return operands;
}

// The keys each op takes.
std::vector<std::string_view> keys_of(StepOp op) {
  switch (op) {
    case StepOp::add:
    case StepOp::subtract:
    case StepOp::multiply:
    case StepOp::divide:
      return {"op", "operand", "value"};
    case StepOp::scale:
      return {"op", "factor", "offset"};
    case StepOp::clip:
      return {"op", "min", "max"};
    case StepOp::threshold:
      return {"op", "below", "value"};
    case StepOp::mask:
      return {"op", "operand", "value"};
    case StepOp::cast:
      return {"op", "dtype", "rounding"};
    case StepOp::bin:
      return {"op", "factor", "how"};
    case StepOp::transpose:
      return {"op"};
    case StepOp::matmul:
      return {"op", "operand", "side"};
  }
  return {"op"};
}

std::optional<double> optional_number(const Section& s, std::string_view key) {
  if (const json* value = s.find(key)) return read_finite(*value, s.path(key));
  return std::nullopt;
}

double required_number(const Section& s, std::string_view key) { return read_finite(s.require(key), s.path(key)); }

// The operand a step names, which must be one of `operands`.
std::string operand_name(const Section& s, const std::map<std::string, OperandConfig, std::less<>>& operands) {
  const std::string& name = read_text(s.require("operand"), s.path("operand"), "the name of an operand");
  if (!operands.contains(name)) {
    std::string known;
    for (const auto& [n, o] : operands) known += (known.empty() ? "" : ", ") + n;
    fail(s.path("operand"), show(name) + " is not defined in \"operands\"" +
                                (known.empty() ? std::string(" (there are none)") : " (defined: " + known + ")"));
  }
  return name;
}

Step parse_step(const json& value, const std::string& path,
                const std::map<std::string, OperandConfig, std::less<>>& operands) {
  if (!value.is_object()) fail_got(path, "an object such as {\"op\": \"subtract\", \"operand\": \"dark\"}", value);
  const auto op_value = value.find("op");
  if (op_value == value.end()) fail(path, "required key \"op\" is missing");
  static const auto kOps = table_of<StepOp>(kOpNames);
  Step step;
  if (!op_value->is_string() || !parse_step_op(op_value->get_ref<const std::string&>()))
    fail_got(join_path(path, "op"), one_of(kOps), *op_value);
  step.op = *parse_step_op(op_value->get_ref<const std::string&>());
  const Section s(&value, path, keys_of(step.op));

  switch (step.op) {
    case StepOp::add:
    case StepOp::subtract:
    case StepOp::multiply:
    case StepOp::divide:
      if ((s.find("operand") != nullptr) == (s.find("value") != nullptr))
        fail(path, std::string(step_op_name(step.op)) + " needs either \"operand\" (a name) or \"value\" (a number)");
      if (s.find("operand")) step.operand = operand_name(s, operands);
      step.value = optional_number(s, "value");
      break;
    case StepOp::scale:
      if (auto f = optional_number(s, "factor")) step.factor = *f;
      if (auto o = optional_number(s, "offset")) step.offset = *o;
      break;
    case StepOp::clip:
      step.min = optional_number(s, "min");
      step.max = optional_number(s, "max");
      if (!step.min && !step.max) fail(path, "clip needs \"min\", \"max\" or both");
      if (step.min && step.max && *step.min > *step.max)
        fail(path, "clip's min " + show(*s.find("min")) + " is greater than its max " + show(*s.find("max")));
      break;
    case StepOp::threshold:
      step.below = required_number(s, "below");
      step.value = required_number(s, "value");
      break;
    case StepOp::mask:
      step.operand = operand_name(s, operands);
      step.value = optional_number(s, "value").value_or(0.0);
      break;
    case StepOp::cast: {
      step.dtype = read_dtype(s.require("dtype"), s.path("dtype"));
      static const auto kRoundings = table_of<Rounding>(kRoundingNames);
      read_choice_into(s, "rounding", kRoundings, step.rounding);
      break;
    }
    case StepOp::bin: {
      step.bin_factor =
          static_cast<std::uint32_t>(read_integer(s.require("factor"), s.path("factor"), {2, kMaxBinFactor, true}));
      static const auto kHows = table_of<BinHow>(kBinHowNames);
      read_choice_into(s, "how", kHows, step.how);
      break;
    }
    case StepOp::transpose:
      break;
    case StepOp::matmul: {
      step.operand = operand_name(s, operands);
      static const auto kSides = table_of<MatmulSide>(kSideNames);
      read_choice_into(s, "side", kSides, step.side);
      break;
    }
  }
  return step;
}

ReductionSet parse_reduce(const json& value) {
  static const auto kReductions = table_of<Reduction>(kReductionNames);
  if (!value.is_array()) fail_got("reduce", "a list of reductions such as [\"sum\", \"mean\"]", value);
  ReductionSet set;
  for (std::size_t i = 0; i < value.size(); ++i) {
    std::optional<Reduction> r;
    if (value[i].is_string()) r = parse_reduction(value[i].get_ref<const std::string&>());
    if (!r) fail_got(item_path("reduce", i), one_of(kReductions), value[i]);
    if (set.contains(*r)) fail(item_path("reduce", i), show(value[i]) + " is listed twice");
    set.add(*r);
  }
  return set;
}

}  // namespace

std::string_view replicate_name(Replicate replicate) noexcept { return name_in(kReplicates, replicate, "unknown"); }

TransformConfig parse_transform_config(const json* operands, const json* steps, const json* reduce) {
  TransformConfig config;
  if (operands && !operands->is_null()) config.operands = parse_operands(*operands);
  if (steps && !steps->is_null()) {
    if (!steps->is_array()) fail_got("transform", "a list of steps such as [{\"op\": \"subtract\", ...}]", *steps);
    if (steps->size() > kMaxSteps) fail("transform", "more than " + std::to_string(kMaxSteps) + " steps");
    for (std::size_t i = 0; i < steps->size(); ++i)
      config.steps.push_back(parse_step((*steps)[i], item_path("transform", i), config.operands));
  }
  if (reduce && !reduce->is_null()) config.reduce = parse_reduce(*reduce);
  return config;
}

void write_transform_config(const TransformConfig& config, json& document) {
  json operands = json::object();
  for (const auto& [name, o] : config.operands)
    operands[name] = {{"file", o.file}, {"dataset", o.dataset}, {"replicate", replicate_name(o.replicate)}};
  json steps = json::array();
  for (const Step& step : config.steps) {
    json s = {{"op", step_op_name(step.op)}};
    if (!step.operand.empty()) s["operand"] = step.operand;
    switch (step.op) {
      case StepOp::add:
      case StepOp::subtract:
      case StepOp::multiply:
      case StepOp::divide:
      case StepOp::threshold:
      case StepOp::mask:
        if (step.value) s["value"] = *step.value;
        if (step.op == StepOp::threshold) s["below"] = step.below;
        break;
      case StepOp::scale:
        s["factor"] = step.factor, s["offset"] = step.offset;
        break;
      case StepOp::clip:
        if (step.min) s["min"] = *step.min;
        if (step.max) s["max"] = *step.max;
        break;
      case StepOp::cast:
        s["dtype"] = dtype_name(step.dtype), s["rounding"] = rounding_name(step.rounding);
        break;
      case StepOp::bin:
        s["factor"] = step.bin_factor, s["how"] = bin_how_name(step.how);
        break;
      case StepOp::transpose:
        break;
      case StepOp::matmul:
        s["side"] = matmul_side_name(step.side);
        break;
    }
    steps.push_back(std::move(s));
  }
  json reduce = json::array();
  for (int r = 0; r <= static_cast<int>(kLastReduction); ++r)
    if (config.reduce.contains(static_cast<Reduction>(r))) reduce.push_back(reduction_name(static_cast<Reduction>(r)));
  document["operands"] = std::move(operands);
  document["transform"] = std::move(steps);
  document["reduce"] = std::move(reduce);
}

}  // namespace shmjob::transform
