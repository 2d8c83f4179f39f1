// The "operands", "transform" and "reduce" keys of a config: what parse_config accepts, what it
// refuses (one line naming the key), and the round trip through to_json.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "shmjob/error.hpp"

namespace shmjob {
namespace {

using nlohmann::json;
using transform::StepOp;

json document(const json& operands, const json& steps, const json& reduce = nullptr) {
  json doc = json::parse(R"({"matrices": {"count": 4, "rows": 8, "cols": 6}})");
  if (!operands.is_null()) doc["operands"] = operands;
  if (!steps.is_null()) doc["transform"] = steps;
  if (!reduce.is_null()) doc["reduce"] = reduce;
  return doc;
}

const json kDark = {{"dark", {{"file", "calib.h5"}, {"dataset", "/dark"}}}};

std::string error_of(const json& doc) {
  try {
    parse_config(doc);
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.exit_code(), kExitBadInput);
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    return e.what();
  }
  ADD_FAILURE() << "accepted: " << doc.dump();
  return "";
}

TEST(TransformConfig, AbsentMeansNoTransform) {
  const Config c = parse_config(document(nullptr, nullptr));
  EXPECT_TRUE(c.transform.empty());
  EXPECT_FALSE(to_json(c).contains("transform"));  // configs without one read as before
}

TEST(TransformConfig, TheIssueExampleParses) {
  const json operands = {{"dark", {{"file", "calib.h5"}, {"dataset", "/dark"}}},
                         {"gain", {{"file", "calib.h5"}, {"dataset", "gain"}, {"replicate", "node"}}},
                         {"proj", {{"file", "basis.h5"}, {"dataset", "/P"}}}};
  const json steps = json::parse(R"([
      {"op": "subtract", "operand": "dark"}, {"op": "multiply", "operand": "gain"},
      {"op": "clip", "min": 0.0}, {"op": "matmul", "operand": "proj", "side": "left"},
      {"op": "cast", "dtype": "float32"}])");
  const Config c = parse_config(document(operands, steps, {"sum", "mean", "min", "max"}));
  ASSERT_EQ(c.transform.steps.size(), 5u);
  EXPECT_EQ(c.transform.steps[0].op, StepOp::subtract);
  EXPECT_EQ(c.transform.steps[0].operand, "dark");
  EXPECT_FALSE(c.transform.steps[0].value);
  EXPECT_EQ(c.transform.steps[2].min, 0.0);
  EXPECT_FALSE(c.transform.steps[2].max);
  EXPECT_EQ(c.transform.steps[3].side, transform::MatmulSide::left);
  EXPECT_EQ(c.transform.steps[4].dtype, DType::float32);
  EXPECT_EQ(c.transform.steps[4].rounding, transform::Rounding::nearest);
  EXPECT_EQ(c.transform.operands.at("gain").dataset, "/gain");  // normalised
  EXPECT_EQ(c.transform.operands.at("gain").replicate, transform::Replicate::node);
  EXPECT_EQ(c.transform.operands.at("dark").replicate, transform::Replicate::numa);
  EXPECT_TRUE(c.transform.reduce.contains(transform::Reduction::mean));
  EXPECT_FALSE(c.transform.reduce.contains(transform::Reduction::count_nonzero));
  // Every field written out, and read back equal.
  EXPECT_EQ(parse_config(to_json(c)), c);
  EXPECT_EQ(parse_config(json::parse(to_json(c).dump())), c);
}

TEST(TransformConfig, AnUnusedOperandIsAllowed) {
  const Config c = parse_config(document(kDark, json::array()));
  EXPECT_EQ(c.transform.operands.size(), 1u);
  EXPECT_TRUE(c.transform.steps.empty());
}

TEST(TransformConfig, EveryOpRoundTrips) {
  const json operands = {{"m", {{"file", "m.h5"}, {"dataset", "/m"}}}};
  const json steps = json::parse(R"([
      {"op": "add", "value": 1.5}, {"op": "divide", "operand": "m"}, {"op": "scale", "factor": 2, "offset": -1},
      {"op": "clip", "max": 9}, {"op": "threshold", "below": 0.5, "value": 0}, {"op": "mask", "operand": "m"},
      {"op": "cast", "dtype": "uint16", "rounding": "truncate"}, {"op": "bin", "factor": 2, "how": "mean"},
      {"op": "transpose"}, {"op": "matmul", "operand": "m"}])");
  const Config c = parse_config(document(operands, steps, {"count_nonzero"}));
  ASSERT_EQ(c.transform.steps.size(), 10u);
  EXPECT_EQ(c.transform.steps[5].value, 0.0);  // mask's default value
  EXPECT_EQ(c.transform.steps[7].bin_factor, 2u);
  EXPECT_EQ(c.transform.steps[7].how, transform::BinHow::mean);
  EXPECT_EQ(parse_config(to_json(c)), c);
}

struct Rejection {
  json operands, steps, reduce;
  std::string message;
};

TEST(TransformConfig, RejectionsNameTheKey) {
  const std::vector<Rejection> cases = {
      {nullptr,
       {{{"op", "mul"}, {"value", 2}}},
       nullptr,
       "config: transform[0].op: must be one of add, subtract, multiply, divide, scale, clip, threshold, mask, "
       "cast, bin, transpose, matmul, got \"mul\""},
      {nullptr, {{{"value", 2}}}, nullptr, "config: transform[0]: required key \"op\" is missing"},
      {nullptr, json::object(), nullptr, "config: transform: must be a list of steps"},
      {nullptr, {3}, nullptr, "config: transform[0]: must be an object"},
      {nullptr,
       {{{"op", "add"}, {"value", 1}, {"factor", 2}}},
       nullptr,
       "config: unknown key \"transform[0].factor\" (known keys: op, operand, value)"},
      {nullptr,
       {{{"op", "add"}}},
       nullptr,
       "config: transform[0]: add needs either \"operand\" (a name) or \"value\" (a number)"},
      {kDark, {{{"op", "add"}, {"operand", "dark"}, {"value", 1}}}, nullptr, "config: transform[0]: add needs either"},
      {kDark,
       {{{"op", "subtract"}, {"operand", "drak"}}},
       nullptr,
       "config: transform[0].operand: \"drak\" is not defined in \"operands\" (defined: dark)"},
      {nullptr,
       {{{"op", "mask"}, {"operand", "bad"}}},
       nullptr,
       "config: transform[0].operand: \"bad\" is not defined in \"operands\" (there are none)"},
      {nullptr, {{{"op", "matmul"}}}, nullptr, "config: transform[0]: required key \"operand\" is missing"},
      {{{"dark", {{"file", "c.h5"}}}},
       {{{"op", "subtract"}, {"operand", "dark"}}},
       nullptr,
       "config: operands.dark: required key \"dataset\" is missing"},
      {{{"../x", {{"file", "c.h5"}, {"dataset", "/d"}}}}, nullptr, nullptr, "config: operands: the name \"../x\""},
      {{{"dark", {{"file", "c.h5"}, {"dataset", "/d"}, {"replicate", "socket"}}}},
       nullptr,
       nullptr,
       "config: operands.dark.replicate: must be one of numa, node, got \"socket\""},
      {nullptr, {{{"op", "clip"}}}, nullptr, "config: transform[0]: clip needs \"min\", \"max\" or both"},
      {nullptr,
       {{{"op", "clip"}, {"min", 2}, {"max", 1}}},
       nullptr,
       "config: transform[0]: clip's min 2 is greater than its max 1"},
      {nullptr,
       {{{"op", "scale"}, {"factor", "2"}}},
       nullptr,
       "config: transform[0].factor: must be a finite number, got \"2\""},
      {nullptr,
       {{{"op", "threshold"}, {"below", 1}}},
       nullptr,
       "config: transform[0]: required key \"value\" is missing"},
      {nullptr, {{{"op", "cast"}, {"dtype", "float128"}}}, nullptr, "config: transform[0].dtype: must be one of int8"},
      {nullptr,
       {{{"op", "cast"}, {"dtype", "int8"}, {"rounding", "up"}}},
       nullptr,
       "config: transform[0].rounding: must be one of nearest, truncate, got \"up\""},
      {nullptr, {{{"op", "bin"}, {"factor", 1}}}, nullptr, "config: transform[0].factor: must be at least 2, got 1"},
      {nullptr, {{{"op", "bin"}, {"factor", 2.0}}}, nullptr, "config: transform[0].factor: must be an integer >= 2"},
      {nullptr,
       {{{"op", "transpose"}, {"side", "left"}}},
       nullptr,
       "config: unknown key \"transform[0].side\" (known keys: op)"},
      {nullptr, nullptr, {"sum", "median"}, "config: reduce[1]: must be one of sum, mean, min, max, count_nonzero"},
      {nullptr, nullptr, {"sum", "sum"}, "config: reduce[1]: \"sum\" is listed twice"},
      {nullptr, nullptr, "sum", "config: reduce: must be a list of reductions"},
  };
  for (const Rejection& c : cases) {
    const std::string message = error_of(document(c.operands, c.steps, c.reduce));
    EXPECT_TRUE(message.starts_with(c.message)) << "got:      " << message << "\nexpected: " << c.message;
  }
}

}  // namespace
}  // namespace shmjob
