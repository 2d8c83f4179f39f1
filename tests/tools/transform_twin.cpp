// transform_twin DESCRIPTION.json
//
// Runs transform chains and reductions (src/transform/) on raw matrices described in a JSON file,
// for tests/python/transform_kernels_test.py, which computes the same with numpy and compares.
//
//   {"cases": [{"input": "x.raw", "rows": 6, "cols": 10, "dtype": "int8",
//               "steps": [{"op": "multiply", "operand": "g"}, {"op": "cast", "dtype": "int16"}],
//               "operands": {"g": {"file": "g.raw", "rows": 1, "cols": 10, "dtype": "float32"}},
//               "output": "y.raw"}, ...],
//    "reductions": [{"input": "stack.raw", "rows": 7, "cols": 9, "dtype": "float64",
//                    "reductions": ["sum", "min"], "groups": [[3, 0], [1, 2]],
//                    "output": "prefix"}, ...]}
//
// Step keys as in Step (step.hpp): op, operand, value, factor, offset, min, max, below, dtype,
// rounding, factor (bin: "factor"), how, side. A number may also be given as "nan", "inf", "-inf".
// Operands that a matmul reads are converted to float64 first, as the job's loader does.
// A case runs in place in a buffer of plan.work_bytes() (plus scratch), as in a job; it prints one
// JSON line: {"rows", "cols", "dtype", "saturated", "in_scratch"}, or {"error": message} when
// plan_chain rejects it. A reduction accumulates each group (matrix indices into the stack, in
// that order) separately, passes each through to_bytes/from_bytes, merges them in group order and
// writes prefix.<reduction> (float64, count_nonzero uint64); it prints {"count": n}.
//
// Exit status: 0 when every case ran (rejected plans included), 1 otherwise.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "shmjob/dtype.hpp"
#include "shmjob/error.hpp"
#include "transform/chain.hpp"
#include "transform/convert.hpp"
#include "transform/reduction.hpp"

namespace {

using nlohmann::json;
using namespace shmjob;
using namespace shmjob::transform;

std::vector<std::byte> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  const std::vector<char> chars{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  std::vector<std::byte> bytes(chars.size());
  std::memcpy(bytes.data(), chars.data(), chars.size());
  return bytes;
}

void write_file(const std::string& path, const void* data, std::size_t bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  if (!out) throw std::runtime_error("cannot write " + path);
}

double number(const json& value) {
  if (value.is_string()) {
    const auto text = value.get<std::string>();
    if (text == "nan") return std::numeric_limits<double>::quiet_NaN();
    if (text == "inf") return std::numeric_limits<double>::infinity();
    if (text == "-inf") return -std::numeric_limits<double>::infinity();
    throw std::runtime_error("not a number: " + text);
  }
  return value.get<double>();
}

DType dtype_of(const json& value) {
  const auto dtype = parse_dtype(value.get<std::string>());
  if (!dtype) throw std::runtime_error("unknown dtype " + value.dump());
  return *dtype;
}

template <class T>
T parsed(std::optional<T> value, const json& source) {
  if (!value) throw std::runtime_error("unknown name " + source.dump());
  return *value;
}

Step step_of(const json& j) {
  Step step;
  step.op = parsed(parse_step_op(j.at("op").get<std::string>()), j.at("op"));
  if (j.contains("operand")) step.operand = j["operand"].get<std::string>();
  if (j.contains("value")) step.value = number(j["value"]);
  if (j.contains("min")) step.min = number(j["min"]);
  if (j.contains("max")) step.max = number(j["max"]);
  if (j.contains("below")) step.below = number(j["below"]);
  if (j.contains("offset")) step.offset = number(j["offset"]);
  if (j.contains("dtype")) step.dtype = dtype_of(j["dtype"]);
  if (j.contains("rounding")) step.rounding = parsed(parse_rounding(j["rounding"].get<std::string>()), j["rounding"]);
  if (j.contains("how")) step.how = parsed(parse_bin_how(j["how"].get<std::string>()), j["how"]);
  if (j.contains("side")) step.side = parsed(parse_matmul_side(j["side"].get<std::string>()), j["side"]);
  if (j.contains("factor")) {
    if (step.op == StepOp::bin)
      step.bin_factor = j["factor"].get<std::uint32_t>();
    else
      step.factor = number(j["factor"]);
  }
  return step;
}

struct LoadedOperand {
  std::vector<std::byte> bytes;  // as stored, or float64 for matmul operands
  OperandView view;
};

json run_case(const json& c) {
  const auto rows = c.at("rows").get<std::uint32_t>(), cols = c.at("cols").get<std::uint32_t>();
  const DType dtype = dtype_of(c.at("dtype"));
  std::vector<Step> steps;
  for (const auto& s : c.at("steps")) steps.push_back(step_of(s));

  OperandShapes shapes;
  std::map<std::string, LoadedOperand, std::less<>> loaded;
  if (c.contains("operands"))
    for (const auto& [name, o] : c["operands"].items()) {
      LoadedOperand& op = loaded[name];
      op.view.rows = o.at("rows").get<std::uint32_t>();
      op.view.cols = o.at("cols").get<std::uint32_t>();
      op.view.dtype = dtype_of(o.at("dtype"));
      op.bytes = read_file(o.at("file").get<std::string>());
      if (op.bytes.size() != std::size_t{op.view.rows} * op.view.cols * dtype_size(op.view.dtype))
        throw std::runtime_error("operand " + name + ": file size does not match its shape");
      shapes[name] = {op.view.rows, op.view.cols, op.view.dtype};
    }

  ChainPlan plan;
  try {
    plan = plan_chain(steps, rows, cols, dtype, shapes);
  } catch (const TransformError& e) {
    return {{"error", e.what()}};
  }
  // The loader's one conversion: matmul operands to float64.
  for (const auto& name : plan.float64_operands()) {
    LoadedOperand& op = loaded.at(name);
    std::vector<std::byte> wide(std::size_t{op.view.rows} * op.view.cols * sizeof(double));
    to_float64(op.bytes.data(), op.view.dtype, std::size_t{op.view.rows} * op.view.cols,
               reinterpret_cast<double*>(wide.data()));
    op.bytes = std::move(wide);
    op.view.dtype = DType::float64;
  }
  for (auto& [name, op] : loaded) op.view.data = op.bytes.data();

  const auto input = read_file(c.at("input").get<std::string>());
  if (input.size() != plan.input_bytes()) throw std::runtime_error("input file size does not match its shape");
  // Doubles, so both buffers are 8-byte aligned; poisoned so a kernel reading past what it wrote shows.
  const std::size_t words = plan.work_bytes() / 8 + 1;
  std::vector<double> buffer(words, std::numeric_limits<double>::quiet_NaN());
  std::vector<double> scratch((plan.scratch_bytes() + 7) / 8, std::numeric_limits<double>::quiet_NaN());
  std::memcpy(buffer.data(), input.data(), input.size());
  const auto result = apply(plan, std::as_writable_bytes(std::span(buffer)).first(plan.work_bytes()),
                            std::as_writable_bytes(std::span(scratch)).first(plan.scratch_bytes()),
                            [&](std::string_view name) { return loaded.at(std::string(name)).view; });
  write_file(c.at("output").get<std::string>(), result.output.data(), result.output.size());
  return {{"rows", plan.rows()},
          {"cols", plan.cols()},
          {"dtype", std::string(dtype_name(plan.dtype()))},
          {"saturated", result.saturated},
          {"in_scratch", result.in_scratch}};
}

json run_reduction(const json& r) {
  const auto rows = r.at("rows").get<std::uint32_t>(), cols = r.at("cols").get<std::uint32_t>();
  const DType dtype = dtype_of(r.at("dtype"));
  ReductionSet set;
  for (const auto& name : r.at("reductions")) set.add(parsed(parse_reduction(name.get<std::string>()), name));
  const auto stack = read_file(r.at("input").get<std::string>());
  const std::size_t matrix_bytes = std::size_t{rows} * cols * dtype_size(dtype);

  std::vector<std::vector<std::byte>> images;
  for (const auto& group : r.at("groups")) {
    Accumulator acc(rows, cols, set);
    for (const auto& index : group) {
      const std::size_t i = index.get<std::size_t>();
      if ((i + 1) * matrix_bytes > stack.size()) throw std::runtime_error("matrix index past the stack");
      acc.add(stack.data() + i * matrix_bytes, dtype);
    }
    images.push_back(acc.to_bytes());  // as a rank would send it
  }
  Accumulator total(rows, cols, set);
  for (const auto& image : images) total.merge(Accumulator::from_bytes(image));

  const std::string prefix = r.at("output").get<std::string>();
  const auto write_doubles = [&](const char* name, const std::vector<double>& v) {
    write_file(prefix + "." + name, v.data(), v.size() * sizeof(double));
  };
  if (set.contains(Reduction::sum)) write_doubles("sum", total.sum());
  if (set.contains(Reduction::mean)) write_doubles("mean", total.mean());
  if (set.contains(Reduction::min)) write_doubles("min", total.min());
  if (set.contains(Reduction::max)) write_doubles("max", total.max());
  if (set.contains(Reduction::count_nonzero)) {
    const auto v = total.count_nonzero();
    write_file(prefix + ".count_nonzero", v.data(), v.size() * sizeof(std::uint64_t));
  }
  return {{"count", total.count()}};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fputs("usage: transform_twin DESCRIPTION.json\n", stderr);
    return 2;
  }
  try {
    std::ifstream in(argv[1]);
    const json description = json::parse(in);
    if (description.contains("cases"))
      for (const auto& c : description["cases"]) std::cout << run_case(c).dump() << '\n';
    if (description.contains("reductions"))
      for (const auto& r : description["reductions"]) std::cout << run_reduction(r).dump() << '\n';
  } catch (const std::exception& e) {
    std::fprintf(stderr, "transform_twin: %s\n", e.what());
    return 1;
  }
  return 0;
}
