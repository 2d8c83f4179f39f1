// The transform layer (src/transform/): step names, plans and their messages, the kernels on
// known values, in-place conversions, chains that end in either buffer, reductions and their
// independence of order and split. transform_kernels_test.py compares every op with numpy.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "config/transform_config.hpp"
#include "shmjob/dtype.hpp"
#include "shmjob/error.hpp"
#include "transform/arithmetic.hpp"
#include "transform/bin.hpp"
#include "transform/cast.hpp"
#include "transform/chain.hpp"
#include "transform/convert.hpp"
#include "transform/matmul.hpp"
#include "transform/reduction.hpp"
#include "transform/select.hpp"
#include "transform/transpose.hpp"

namespace shmjob::transform {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

template <class T>
std::vector<std::byte> bytes_of(const std::vector<T>& values) {
  std::vector<std::byte> out(values.size() * sizeof(T));
  std::memcpy(out.data(), values.data(), out.size());
  return out;
}

template <class T>
std::vector<T> values_of(std::span<const std::byte> bytes) {
  std::vector<T> out(bytes.size() / sizeof(T));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(T));
  return out;
}

// Same bits, or both NaN.
bool same(double a, double b) { return (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, sizeof a) == 0; }
bool all_same(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), same);
}

std::string plan_error(const std::vector<Step>& steps, std::uint32_t rows, std::uint32_t cols,
                       const OperandShapes& operands = {}) {
  try {
    plan_chain(steps, rows, cols, DType::float64, operands);
  } catch (const TransformError& e) {
    EXPECT_EQ(e.exit_code(), kExitBadInput);
    return e.what();
  }
  return "";
}

Step operand_step(StepOp op, std::string name) {
  Step s;
  s.op = op;
  s.operand = std::move(name);
  return s;
}
Step value_step(StepOp op, double value) {
  Step s;
  s.op = op;
  s.value = value;
  return s;
}
Step cast_step(DType dtype, Rounding rounding = Rounding::nearest) {
  Step s;
  s.op = StepOp::cast;
  s.dtype = dtype;
  s.rounding = rounding;
  return s;
}
Step bin_step(std::uint32_t k, BinHow how = BinHow::sum) {
  Step s;
  s.op = StepOp::bin;
  s.bin_factor = k;
  s.how = how;
  return s;
}
Step matmul_step(std::string name, MatmulSide side) {
  Step s = operand_step(StepOp::matmul, std::move(name));
  s.side = side;
  return s;
}
Step transpose_step() {
  Step s;
  s.op = StepOp::transpose;
  return s;
}

// ---- names ---------------------------------------------------------------------------------

TEST(TransformStep, NamesRoundTrip) {
  for (int i = 0; i <= static_cast<int>(kLastStepOp); ++i) {
    const auto op = static_cast<StepOp>(i);
    EXPECT_EQ(parse_step_op(step_op_name(op)), op);
  }
  EXPECT_EQ(step_op_name(StepOp::threshold), "threshold");
  EXPECT_FALSE(parse_step_op("Add").has_value());
  EXPECT_FALSE(parse_step_op("").has_value());
  EXPECT_EQ(parse_rounding("truncate"), Rounding::truncate);
  EXPECT_EQ(parse_bin_how("mean"), BinHow::mean);
  EXPECT_EQ(parse_matmul_side("left"), MatmulSide::left);
  EXPECT_EQ(matmul_side_name(MatmulSide::right), "right");
  EXPECT_FALSE(parse_rounding("round").has_value());
  for (int i = 0; i <= static_cast<int>(kLastReduction); ++i) {
    const auto r = static_cast<Reduction>(i);
    EXPECT_EQ(parse_reduction(reduction_name(r)), r);
  }
}

// ---- plans ---------------------------------------------------------------------------------

TEST(TransformPlan, ShapesDtypeAndWorkBytes) {
  const OperandShapes operands{{"p", {512, 16, DType::float32}}, {"l", {512, 4, DType::int8}}};
  // int16 512x512 -> bin 2 -> 256x256 -> transpose -> cast: uint8 256x256.
  const std::vector<Step> steps{bin_step(2), transpose_step(), cast_step(DType::uint8)};
  const auto plan = plan_chain(steps, 512, 512, DType::int16, operands);
  EXPECT_EQ(plan.rows(), 256u);
  EXPECT_EQ(plan.cols(), 256u);
  EXPECT_EQ(plan.dtype(), DType::uint8);
  EXPECT_EQ(plan.input_bytes(), 512u * 512 * 2);
  EXPECT_EQ(plan.output_bytes(), 256u * 256);
  EXPECT_EQ(plan.work_bytes(), 512u * 512 * 8);        // the loaded float64 matrix
  EXPECT_EQ(plan.scratch_bytes(), plan.work_bytes());  // the transpose's second buffer
  ASSERT_EQ(plan.steps().size(), 3u);
  EXPECT_EQ(plan.steps()[1].rows_in, 256u);
  EXPECT_EQ(plan.steps()[1].cols_out, 256u);

  // A matmul that grows the matrix: the largest intermediate decides.
  const auto grown = plan_chain(std::vector<Step>{matmul_step("p", MatmulSide::right)}, 4, 512, DType::int8, operands);
  EXPECT_EQ(grown.rows(), 4u);
  EXPECT_EQ(grown.cols(), 16u);
  // 512x4 -> transpose -> 4x512 -> l[512x4] * X -> 512x512
  const auto left = plan_chain(std::vector<Step>{transpose_step(), matmul_step("l", MatmulSide::left)}, 512, 4,
                               DType::int8, operands);
  EXPECT_EQ(left.rows(), 512u);
  EXPECT_EQ(left.cols(), 512u);
  EXPECT_EQ(left.work_bytes(), 512u * 512 * 8);
  EXPECT_EQ(left.dtype(), DType::float64);
  EXPECT_EQ(left.float64_operands(), std::vector<std::string>{"l"});

  // A cast in the middle keeps float64; leading elementwise steps run fused into the scratch.
  const auto middle =
      plan_chain(std::vector<Step>{cast_step(DType::int8), value_step(StepOp::add, 1)}, 3, 5, DType::float32, operands);
  EXPECT_EQ(middle.dtype(), DType::float64);
  EXPECT_GT(middle.scratch_bytes(), middle.work_bytes());  // the matrix and a block of rows
  EXPECT_EQ(middle.block_rows(), 3u);
  EXPECT_EQ(middle.work_bytes(), 3u * 5 * 8);
  // Empty chain: the input loaded as float64.
  const auto none = plan_chain({}, 2, 3, DType::uint16, operands);
  EXPECT_EQ(none.dtype(), DType::float64);
  EXPECT_EQ(none.output_bytes(), 48u);
}

TEST(TransformPlan, Errors) {
  const OperandShapes operands{
      {"gain", {512, 256, DType::float32}}, {"row", {1, 512, DType::float32}}, {"p", {300, 40, DType::float64}}};
  EXPECT_EQ(plan_error({value_step(StepOp::add, 1), value_step(StepOp::add, 1), operand_step(StepOp::multiply, "gain")},
                       512, 512, operands),
            "transform[2] (multiply): operand \"gain\" is 512x256, the matrix at this step is 512x512 "
            "(same shape, [1, 512] or [512, 1] expected)");
  EXPECT_EQ(plan_error({operand_step(StepOp::add, "offsets")}, 4, 4, operands),
            "transform[0] (add): operand \"offsets\" is not defined (defined: \"gain\", \"p\", \"row\")");
  EXPECT_EQ(plan_error({operand_step(StepOp::add, "o\nx")}, 4, 4),
            "transform[0] (add): operand \"o\\x0Ax\" is not defined (no operands are)");
  EXPECT_EQ(plan_error({bin_step(3)}, 512, 510),
            "transform[0] (bin): bin factor 3 does not divide the matrix at this step, 512x510");
  EXPECT_EQ(plan_error({bin_step(3), bin_step(3)}, 12, 12),
            "transform[1] (bin): bin factor 3 does not divide the matrix at this step, 4x4");
  EXPECT_EQ(plan_error({bin_step(0)}, 4, 4), "transform[0] (bin): the bin factor must be at least 1");
  EXPECT_EQ(plan_error({matmul_step("p", MatmulSide::right)}, 8, 200, operands),
            "transform[0] (matmul): operand \"p\" is 300x40, the matrix at this step is 8x200 "
            "(side right, X * P: P needs 200 rows)");
  EXPECT_EQ(plan_error({matmul_step("p", MatmulSide::left)}, 8, 200, operands),
            "transform[0] (matmul): operand \"p\" is 300x40, the matrix at this step is 8x200 "
            "(side left, P * X: P needs 8 columns)");
  EXPECT_EQ(plan_error({matmul_step("", MatmulSide::left)}, 8, 200, operands),
            "transform[0] (matmul): needs an operand");
  Step both = operand_step(StepOp::divide, "row");
  both.value = 2;
  EXPECT_EQ(plan_error({both}, 4, 512, operands), "transform[0] (divide): give an operand or a value, not both");
  Step neither;
  neither.op = StepOp::subtract;
  EXPECT_EQ(plan_error({neither}, 4, 4), "transform[0] (subtract): needs an operand or a value");
  Step clip;
  clip.op = StepOp::clip;
  EXPECT_EQ(plan_error({clip}, 4, 4), "transform[0] (clip): needs min, max or both");
  clip.min = 5;
  clip.max = 3;
  EXPECT_EQ(plan_error({clip}, 4, 4), "transform[0] (clip): min 5 is above max 3");
  clip.min = kNaN;
  EXPECT_EQ(plan_error({clip}, 4, 4), "transform[0] (clip): a bound is NaN");
  Step threshold;
  threshold.op = StepOp::threshold;
  EXPECT_EQ(plan_error({threshold}, 4, 4), "transform[0] (threshold): needs the value to write where x < below");
  Step mask = operand_step(StepOp::mask, "row");
  EXPECT_EQ(plan_error({mask}, 4, 512, operands),
            "transform[0] (mask): needs the value to write where the operand is not 0");
  // The shape at the step, after a transpose: the row operand no longer fits.
  mask.value = 0;
  EXPECT_EQ(plan_error({transpose_step(), mask}, 4, 512, operands),
            "transform[1] (mask): operand \"row\" is 1x512, the matrix at this step is 512x4 "
            "(same shape, [1, 4] or [512, 1] expected)");
  EXPECT_EQ(plan_error({mask}, 4, 512, operands), "");
  // Sizes that do not fit in memory at all.
  EXPECT_NE(plan_error({}, 0xFFFFFFFFu, 0xFFFFFFFFu).find("too large"), std::string::npos);
}

TEST(TransformPlan, BroadcastShapes) {
  EXPECT_EQ(broadcast_of(3, 4, 3, 4), Broadcast::same);
  EXPECT_EQ(broadcast_of(3, 4, 1, 4), Broadcast::row);
  EXPECT_EQ(broadcast_of(3, 4, 3, 1), Broadcast::column);
  EXPECT_FALSE(broadcast_of(3, 4, 1, 1).has_value());
  EXPECT_FALSE(broadcast_of(3, 4, 4, 3).has_value());
  EXPECT_EQ(broadcast_of(1, 4, 1, 4), Broadcast::same);  // a row fits a one-row matrix as itself
}

// ---- in-place conversions --------------------------------------------------------------------

template <class T>
void check_widen(const std::vector<T>& values, DType dtype) {
  SCOPED_TRACE(std::string(dtype_name(dtype)) + " n=" + std::to_string(values.size()));
  std::vector<double> buffer(values.size() + 1, -1.0);  // one double past the end stays untouched
  const auto source = std::as_bytes(std::span(values));
  std::copy(source.begin(), source.end(), reinterpret_cast<std::byte*>(buffer.data()));
  widen_to_float64(reinterpret_cast<std::byte*>(buffer.data()), values.size(), dtype);
  std::vector<double> expected(values.size());
  to_float64(values.data(), dtype, values.size(), expected.data());
  for (std::size_t i = 0; i < values.size(); ++i) {
    ASSERT_TRUE(same(buffer[i], expected[i])) << i;
    ASSERT_TRUE(same(expected[i], static_cast<double>(values[i]))) << i;
  }
  EXPECT_EQ(buffer[values.size()], -1.0);
}

template <class T>
std::vector<T> distinct_values(std::size_t n) {
  // Distinct where T allows, so an element read from the wrong place shows.
  std::vector<T> v(n);
  std::mt19937_64 rng(n);
  for (std::size_t i = 0; i < n; ++i) {
    if constexpr (std::is_same_v<T, Float16>) {
      v[i] = Float16::from_bits(static_cast<std::uint16_t>(i * 7919u));
    } else if constexpr (std::is_floating_point_v<T>) {
      v[i] = static_cast<T>(static_cast<double>(i) * 1.25 - 100.0);
    } else {
      v[i] = static_cast<T>(rng());
    }
  }
  if constexpr (!std::is_same_v<T, Float16>) {
    if (n > 2) {
      v[0] = std::numeric_limits<T>::lowest();
      v[n - 1] = std::numeric_limits<T>::max();
    }
  }
  return v;
}

TEST(TransformConvert, WidenInPlaceEveryDtypeAndLength) {
  // Lengths around the 512-element block of the backward walk.
  for (const std::size_t n : {0u, 1u, 2u, 7u, 511u, 512u, 513u, 1024u, 1500u}) {
    check_widen(distinct_values<std::int8_t>(n), DType::int8);
    check_widen(distinct_values<std::int16_t>(n), DType::int16);
    check_widen(distinct_values<std::int32_t>(n), DType::int32);
    check_widen(distinct_values<std::int64_t>(n), DType::int64);
    check_widen(distinct_values<std::uint8_t>(n), DType::uint8);
    check_widen(distinct_values<std::uint16_t>(n), DType::uint16);
    check_widen(distinct_values<std::uint32_t>(n), DType::uint32);
    check_widen(distinct_values<std::uint64_t>(n), DType::uint64);
    check_widen(distinct_values<float>(n), DType::float32);
    check_widen(distinct_values<double>(n), DType::float64);
    check_widen(distinct_values<Float16>(n), DType::float16);
  }
}

TEST(TransformConvert, LargeIntegersRoundToNearestEven) {
  const std::vector<std::uint64_t> u{std::numeric_limits<std::uint64_t>::max(), (1ull << 53) + 1, (1ull << 53) + 3};
  std::vector<double> out(3);
  to_float64(u.data(), DType::uint64, 3, out.data());
  EXPECT_EQ(out[0], 0x1p64);
  EXPECT_EQ(out[1], 0x1p53);      // tie: to even
  EXPECT_EQ(out[2], 0x1p53 + 4);  // tie: to even
  const std::vector<std::int64_t> s{std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max()};
  to_float64(s.data(), DType::int64, 2, out.data());
  EXPECT_EQ(out[0], -0x1p63);
  EXPECT_EQ(out[1], 0x1p63);
}

template <class T>
void check_narrow_matches_quantize(DType dtype, Rounding rounding, const std::vector<double>& x) {
  std::vector<double> buffer = x, quantized = x;
  const auto sat = narrow_from_float64(reinterpret_cast<std::byte*>(buffer.data()), x.size(), dtype, rounding);
  const auto sat_q = quantize(quantized.data(), quantized.data(), x.size(), dtype, rounding);
  EXPECT_EQ(sat, sat_q);
  const auto narrowed = values_of<T>(std::as_bytes(std::span(buffer)).first(x.size() * sizeof(T)));
  for (std::size_t i = 0; i < x.size(); ++i)
    ASSERT_TRUE(same(static_cast<double>(narrowed[i]), quantized[i])) << dtype_name(dtype) << " " << i;
}

TEST(TransformCast, SaturationNearTheLimits) {
  struct Case {
    double x;
    std::int64_t want;
    bool saturated;
  };
  const auto run_int64 = [](const std::vector<Case>& cases, Rounding rounding) {
    std::vector<double> x;
    for (const auto& c : cases) x.push_back(c.x);
    const auto sat = narrow_from_float64(reinterpret_cast<std::byte*>(x.data()), x.size(), DType::int64, rounding);
    const auto out = values_of<std::int64_t>(std::as_bytes(std::span(x)));
    std::uint64_t want_sat = 0;
    for (std::size_t i = 0; i < cases.size(); ++i) {
      EXPECT_EQ(out[i], cases[i].want) << i;
      want_sat += cases[i].saturated;
    }
    EXPECT_EQ(sat, want_sat);
  };
  constexpr auto kMin = std::numeric_limits<std::int64_t>::min(), kMax = std::numeric_limits<std::int64_t>::max();
  run_int64({{0x1p63, kMax, true},                                        // 2^63: one past the limit, not representable
             {0x1p63 - 1024, (1ll << 62) + ((1ll << 62) - 1024), false},  // the largest double below it
             {-0x1p63, kMin, false},                                      // exact
             {-0x1p63 - 2048, kMin, true},
             {kInf, kMax, true},
             {-kInf, kMin, true},
             {kNaN, 0, true},
             {2.5, 2, false},
             {3.5, 4, false},
             {-2.5, -2, false},
             {-0.4, 0, false}},
            Rounding::nearest);
  run_int64({{2.9, 2, false}, {-2.9, -2, false}, {0x1p63, kMax, true}, {-0.9, 0, false}}, Rounding::truncate);

  std::vector<double> x{0x1p64, 0x1p64 - 2048, -0.4, -0.6, -1.0, kNaN, 255.5};
  const auto sat =
      narrow_from_float64(reinterpret_cast<std::byte*>(x.data()), x.size(), DType::uint64, Rounding::nearest);
  const auto u = values_of<std::uint64_t>(std::as_bytes(std::span(x)));
  EXPECT_EQ(u[0], std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(u[1], 0xFFFFFFFFFFFFF800ull);
  EXPECT_EQ(u[2], 0u);  // rint(-0.4) = -0.0: in range
  EXPECT_EQ(u[3], 0u);  // rint(-0.6) = -1: saturated
  EXPECT_EQ(u[4], 0u);
  EXPECT_EQ(u[5], 0u);
  EXPECT_EQ(u[6], 256u);
  EXPECT_EQ(sat, 4u);  // 2^64, -0.6, -1, NaN

  std::vector<double> small{127.4, 127.5, -128.5, -129.0, 300.0, -0.0};
  const auto sat8 =
      narrow_from_float64(reinterpret_cast<std::byte*>(small.data()), small.size(), DType::int8, Rounding::nearest);
  const auto i8 = values_of<std::int8_t>(std::as_bytes(std::span(small)).first(6));
  EXPECT_EQ(std::vector<int>(i8.begin(), i8.end()), (std::vector<int>{127, 127, -128, -128, 127, 0}));
  EXPECT_EQ(sat8, 3u);  // 127.5 -> 128, -129, 300 (-128.5 -> -128: half to even)
}

TEST(TransformCast, FloatTargetsDoNotSaturate) {
  std::vector<double> x{1e300, -1e300, kNaN, 0.1, -0.0, 65519.0, 65520.0};
  auto f = x;
  EXPECT_EQ(narrow_from_float64(reinterpret_cast<std::byte*>(f.data()), f.size(), DType::float32, Rounding::truncate),
            0u);
  const auto f32 = values_of<float>(std::as_bytes(std::span(f)).first(x.size() * 4));
  EXPECT_EQ(f32[0], std::numeric_limits<float>::infinity());
  EXPECT_EQ(f32[1], -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(f32[2]));
  EXPECT_EQ(f32[3], 0.1f);
  EXPECT_TRUE(std::signbit(f32[4]));
  auto h = x;
  EXPECT_EQ(narrow_from_float64(reinterpret_cast<std::byte*>(h.data()), h.size(), DType::float16, Rounding::nearest),
            0u);
  const auto f16 = values_of<Float16>(std::as_bytes(std::span(h)).first(x.size() * 2));
  EXPECT_EQ(static_cast<double>(f16[5]), 65504.0);
  EXPECT_EQ(static_cast<double>(f16[6]), kInf);  // rounds up past the largest half
  auto d = x;
  EXPECT_EQ(quantize(d.data(), d.data(), d.size(), DType::float64, Rounding::nearest), 0u);
  for (std::size_t i = 0; i < x.size(); ++i) EXPECT_TRUE(same(d[i], x[i]));
}

TEST(TransformCast, NarrowInPlaceEqualsQuantizeAcrossBlocks) {
  std::mt19937_64 rng(5);
  std::vector<double> x(1300);
  for (auto& v : x)
    v = std::ldexp(static_cast<double>(static_cast<std::int64_t>(rng())) / 0x1p63, static_cast<int>(rng() % 70));
  x[3] = kNaN;
  x[600] = -kInf;
  for (const auto r : {Rounding::nearest, Rounding::truncate}) {
    check_narrow_matches_quantize<std::int8_t>(DType::int8, r, x);
    check_narrow_matches_quantize<std::int16_t>(DType::int16, r, x);
    check_narrow_matches_quantize<std::int32_t>(DType::int32, r, x);
    check_narrow_matches_quantize<std::int64_t>(DType::int64, r, x);
    check_narrow_matches_quantize<std::uint8_t>(DType::uint8, r, x);
    check_narrow_matches_quantize<std::uint16_t>(DType::uint16, r, x);
    check_narrow_matches_quantize<std::uint32_t>(DType::uint32, r, x);
    check_narrow_matches_quantize<std::uint64_t>(DType::uint64, r, x);
    check_narrow_matches_quantize<float>(DType::float32, r, x);
    check_narrow_matches_quantize<Float16>(DType::float16, r, x);
  }
}

// ---- elementwise kernels ----------------------------------------------------------------------

TEST(TransformKernels, BroadcastOperandsInTheirOwnDtype) {
  std::vector<double> x{1, 2, 3, 4, 5, 6};  // 2 x 3
  const std::vector<std::int16_t> row{10, 20, 30};
  apply_operand(x.data(), x.data(), 2, 3, BinaryOp::add, {row.data(), DType::int16, 1, 3});
  EXPECT_EQ(x, (std::vector<double>{11, 22, 33, 14, 25, 36}));
  const std::vector<std::uint64_t> column{2, 0};
  apply_operand(x.data(), x.data(), 2, 3, BinaryOp::divide, {column.data(), DType::uint64, 2, 1});
  EXPECT_EQ(x[0], 5.5);
  EXPECT_EQ(x[3], kInf);
  const std::vector<float> same_shape{1, 1, 1, 1, 1, 1};
  apply_operand(x.data(), x.data(), 2, 3, BinaryOp::subtract, {same_shape.data(), DType::float32, 2, 3});
  EXPECT_EQ(x[1], 10.0);
  apply_scalar(x.data(), x.data(), 6, BinaryOp::multiply, -2);
  EXPECT_EQ(x[1], -20.0);
}

TEST(TransformKernels, ScaleIsTwoRoundings) {
  // a * b + c with one rounding (FMA) differs from two for these values: a*b = 1 - 2^-104 exactly.
  const double a = 1 + 0x1p-52, b = 1 - 0x1p-52;
  std::vector<double> x{a};
  scale(x.data(), x.data(), 1, b, -1.0);
  EXPECT_EQ(x[0], (a * b) - 1.0);
  EXPECT_EQ(x[0], 0.0);  // fl(a*b) = 1, then 1 - 1; an FMA gives -2^-104
  EXPECT_NE(std::fma(a, b, -1.0), 0.0);
}

TEST(TransformKernels, ClipLikeNumpy) {
  std::vector<double> x{-0.0, 0.0, kNaN, -5, 5, 0.5};
  clip(x.data(), x.data(), x.size(), 0.0, 1.0);
  EXPECT_FALSE(std::signbit(x[0]));  // a tie takes the bound: -0.0 becomes 0.0
  EXPECT_TRUE(std::isnan(x[2]));
  EXPECT_EQ(x[3], 0.0);
  EXPECT_EQ(x[4], 1.0);
  EXPECT_EQ(x[5], 0.5);
  std::vector<double> y{0.0, 2.0};
  clip(y.data(), y.data(), 2, std::nullopt, -0.0);
  EXPECT_TRUE(std::signbit(y[0]));
  EXPECT_TRUE(std::signbit(y[1]));
  std::vector<double> z{5, -5};
  clip(z.data(), z.data(), 2, 3.0, 1.0);  // min > max: max everywhere, as np.clip
  EXPECT_EQ(z, (std::vector<double>{1, 1}));
}

TEST(TransformKernels, ThresholdAndMask) {
  std::vector<double> x{-1, 0, 1, kNaN};
  threshold(x.data(), x.data(), 4, 0.5, 7);
  EXPECT_EQ(x[0], 7);
  EXPECT_EQ(x[1], 7);
  EXPECT_EQ(x[2], 1);
  EXPECT_TRUE(std::isnan(x[3]));
  std::vector<double> y{1, 2, 3, 4};  // 2 x 2
  const std::vector<float> m{0.0f, -0.0f, std::numeric_limits<float>::quiet_NaN(), 2.0f};
  mask(y.data(), y.data(), 2, 2, {m.data(), DType::float32, 2, 2}, -1);
  EXPECT_EQ(y, (std::vector<double>{1, 2, -1, -1}));  // -0.0 is 0; NaN != 0 masks
  std::vector<double> z{1, 2, 3, 4};
  const std::vector<std::uint8_t> col{0, 1};
  mask(z.data(), z.data(), 2, 2, {col.data(), DType::uint8, 2, 1}, 0);
  EXPECT_EQ(z, (std::vector<double>{1, 2, 0, 0}));
}

// Every elementwise kernel gives the same bits from `in` into a separate `out` as in place (the
// fused chain's first step reads the input where it lies).
TEST(TransformKernels, ApartEqualsInPlace) {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> noise(0.0, 10.0);
  const std::uint32_t rows = 7, cols = 9;
  const std::size_t n = std::size_t{rows} * cols;
  std::vector<double> input(n);
  for (auto& v : input) v = noise(rng);
  input[3] = kNaN;
  input[4] = -0.0;
  const std::vector<float> same(n, 1.5f);
  const std::vector<std::uint8_t> column{0, 1, 0, 0, 1, 1, 0};  // [rows, 1]: rows 0, 2, 3, 6 copied
  const std::vector<std::int16_t> row{1, -2, 3, -4, 5, -6, 7, -8, 9};
  using Kernel = std::function<void(const double*, double*)>;
  const std::vector<std::pair<std::string, Kernel>> kernels{
      {"operand same",
       [&](auto in, auto out) {
         apply_operand(in, out, rows, cols, BinaryOp::divide, {same.data(), DType::float32, rows, cols});
       }},
      {"operand row",
       [&](auto in, auto out) {
         apply_operand(in, out, rows, cols, BinaryOp::subtract, {row.data(), DType::int16, 1, cols});
       }},
      {"operand column",
       [&](auto in, auto out) {
         apply_operand(in, out, rows, cols, BinaryOp::add, {column.data(), DType::uint8, rows, 1});
       }},
      {"scalar", [&](auto in, auto out) { apply_scalar(in, out, n, BinaryOp::multiply, -3.0); }},
      {"scale", [&](auto in, auto out) { scale(in, out, n, 0.1, 7.0); }},
      {"clip both", [&](auto in, auto out) { clip(in, out, n, -5.0, 5.0); }},
      {"clip min", [&](auto in, auto out) { clip(in, out, n, 0.0, std::nullopt); }},
      {"clip max", [&](auto in, auto out) { clip(in, out, n, std::nullopt, 0.0); }},
      {"threshold", [&](auto in, auto out) { threshold(in, out, n, 1.0, -1.0); }},
      {"mask same",
       [&](auto in, auto out) {
         mask(in, out, rows, cols, {same.data(), DType::float32, rows, cols}, 0.0);
       }},
      {"mask row",
       [&](auto in, auto out) {
         mask(in, out, rows, cols, {row.data(), DType::int16, 1, cols}, 2.0);
       }},
      {"mask column",
       [&](auto in, auto out) {
         mask(in, out, rows, cols, {column.data(), DType::uint8, rows, 1}, 9.0);
       }},
      {"quantize", [&](auto in, auto out) { quantize(in, out, n, DType::int8, Rounding::nearest); }},
  };
  for (const auto& [name, kernel] : kernels) {
    std::vector<double> in_place = input, apart(n, 12345.0);
    kernel(in_place.data(), in_place.data());
    kernel(input.data(), apart.data());
    EXPECT_EQ(std::memcmp(in_place.data(), apart.data(), n * sizeof(double)), 0) << name;
  }
}

TEST(TransformKernels, BinOrderAndShapes) {
  // 4 x 6, k = 2 -> 2 x 3.
  std::vector<double> x(24);
  std::iota(x.begin(), x.end(), 0.0);
  bin(x.data(), 4, 6, 2, BinHow::sum);
  EXPECT_EQ(std::vector<double>(x.begin(), x.begin() + 6), (std::vector<double>{14, 22, 30, 62, 70, 78}));
  std::iota(x.begin(), x.end(), 0.0);
  bin(x.data(), 4, 6, 2, BinHow::mean);
  EXPECT_EQ(x[0], 3.5);
  // The order is row-major within the block: 1e16 + 1 + 1 - 1e16 (rounds) differs from any
  // order that adds the two 1s first.
  std::vector<double> y{1e16, 1, 1, -1e16};
  bin(y.data(), 2, 2, 2, BinHow::sum);
  EXPECT_EQ(y[0], ((1e16 + 1) + 1) - 1e16);
  // A block of -0.0 sums to -0.0 (the sum starts from the first value, not from 0.0).
  std::vector<double> z{-0.0, -0.0, -0.0, -0.0};
  bin(z.data(), 2, 2, 2, BinHow::sum);
  EXPECT_TRUE(std::signbit(z[0]));
  // Wide enough for several 256-column strips, k = 3.
  const std::uint32_t rows = 6, cols = 3 * 600;
  std::vector<double> w(std::size_t{rows} * cols), copy;
  std::mt19937_64 rng(1);
  for (auto& v : w) v = static_cast<double>(rng() % 1000) / 8;
  copy = w;
  bin(w.data(), rows, cols, 3, BinHow::sum);
  for (std::uint32_t I = 0; I < rows / 3; ++I)
    for (std::uint32_t J = 0; J < cols / 3; ++J) {
      double s = copy[(3 * I) * cols + 3 * J];
      for (std::uint32_t a = 0; a < 3; ++a)
        for (std::uint32_t b = 0; b < 3; ++b)
          if (a || b) s += copy[(3 * I + a) * cols + 3 * J + b];
      ASSERT_EQ(w[I * (cols / 3) + J], s) << I << "," << J;
    }
}

TEST(TransformKernels, TransposeAcrossTiles) {
  const std::vector<std::pair<std::uint32_t, std::uint32_t>> shapes{{1, 1},   {33, 70}, {64, 64},
                                                                    {1, 100}, {100, 1}, {0, 5}};
  for (const auto& [rows, cols] : shapes) {
    std::vector<double> in(std::size_t{rows} * cols), out(in.size(), kNaN);
    std::iota(in.begin(), in.end(), 0.0);
    transpose(in.data(), rows, cols, out.data());
    for (std::uint32_t r = 0; r < rows; ++r)
      for (std::uint32_t c = 0; c < cols; ++c) ASSERT_EQ(out[std::size_t{c} * rows + r], in[std::size_t{r} * cols + c]);
  }
}

TEST(TransformKernels, MatmulBothSides) {
  const std::vector<double> x{1, 2, 3, 4, 5, 6};  // 2 x 3
  const std::vector<double> p{1, 0, 0, 1, 1, 1};  // 3 x 2
  std::vector<double> out(4);
  matmul_right(x.data(), 2, 3, p.data(), 2, out.data());
  EXPECT_EQ(out, (std::vector<double>{4, 5, 10, 11}));
  const std::vector<double> q{1, 1};  // 1 x 2
  std::vector<double> left(3);
  matmul_left(q.data(), 1, x.data(), 2, 3, left.data());
  EXPECT_EQ(left, (std::vector<double>{5, 7, 9}));
  std::vector<double> empty(4, kNaN);  // inner dimension 0: zeros
  matmul_right(x.data(), 2, 0, p.data(), 2, empty.data());
  EXPECT_EQ(empty, (std::vector<double>(4, 0.0)));
}

// ---- chains ------------------------------------------------------------------------------------

struct Buffers {
  std::vector<double> buffer, scratch;
  explicit Buffers(const ChainPlan& plan)
      : buffer(plan.work_bytes() / 8 + 1, kNaN), scratch((plan.scratch_bytes() + 7) / 8, kNaN) {}
  std::span<std::byte> b() { return std::as_writable_bytes(std::span(buffer)); }
  std::span<std::byte> s() { return std::as_writable_bytes(std::span(scratch)); }
};

TEST(TransformChain, OutputEndsInEitherBuffer) {
  const std::vector<std::int32_t> input{1, 2, 3, 4, 5, 6};  // 2 x 3
  const std::vector<double> p{1, 0, 0, 1, 1, 1};            // 3 x 2
  const OperandShapes shapes{{"p", {3, 2, DType::float64}}};
  const auto lookup = [&](std::string_view) { return OperandView{p.data(), DType::float64, 3, 2}; };

  const std::vector<Step> one{transpose_step()};
  const auto plan1 = plan_chain(one, 2, 3, DType::int32, shapes);
  Buffers b1(plan1);
  std::memcpy(b1.buffer.data(), input.data(), 24);
  const auto r1 = apply(plan1, b1.b(), b1.s(), lookup);
  EXPECT_TRUE(r1.in_scratch);
  EXPECT_EQ(r1.output.data(), b1.s().data());
  EXPECT_EQ(values_of<double>(r1.output), (std::vector<double>{1, 4, 2, 5, 3, 6}));

  const std::vector<Step> two{matmul_step("p", MatmulSide::right), transpose_step(), cast_step(DType::int8)};
  const auto plan2 = plan_chain(two, 2, 3, DType::int32, shapes);
  Buffers b2(plan2);
  std::memcpy(b2.buffer.data(), input.data(), 24);
  const auto r2 = apply(plan2, b2.b(), b2.s(), lookup);
  EXPECT_FALSE(r2.in_scratch);
  EXPECT_EQ(r2.output.data(), b2.b().data());
  EXPECT_EQ(r2.output.size(), 4u);
  const auto out = values_of<std::int8_t>(r2.output);
  EXPECT_EQ(std::vector<int>(out.begin(), out.end()), (std::vector<int>{4, 10, 5, 11}));
}

TEST(TransformChain, CastInTheMiddleQuantises) {
  const std::vector<double> input{1.4, 2.6, 300.0, -7.5};
  const std::vector<Step> steps{cast_step(DType::uint8), value_step(StepOp::multiply, 0.5)};
  const auto plan = plan_chain(steps, 1, 4, DType::float64, {});
  Buffers b(plan);
  std::memcpy(b.buffer.data(), input.data(), 32);
  const auto r = apply(plan, b.b(), b.s(), nullptr);
  EXPECT_EQ(values_of<double>(r.output), (std::vector<double>{0.5, 1.5, 127.5, 0.0}));
  EXPECT_EQ(r.saturated, 2u);  // 300 and -8
  EXPECT_EQ(plan.dtype(), DType::float64);
}

// The fused leading steps run block by block (the last block short): the result equals the
// kernels run step by step over the whole matrix, for float64 input (the first step reads it where
// it lies) and for int16 input (converted into the block first).
TEST(TransformChain, FusedBlocksEqualStepByStep) {
  const std::uint32_t rows = 300, cols = 1000;
  const std::size_t n = std::size_t{rows} * cols;
  std::mt19937_64 rng(9);
  std::vector<double> column(rows);
  std::vector<float> gain(cols);
  std::vector<std::uint8_t> bad(n);
  for (auto& v : column) v = static_cast<double>(rng() % 200) - 100.0;
  for (auto& v : gain) v = 0.5f + static_cast<float>(rng() % 100) / 64.0f;
  for (auto& v : bad) v = rng() % 50 == 0;
  const OperandShapes shapes{
      {"dark", {rows, 1, DType::float64}}, {"gain", {1, cols, DType::float32}}, {"bad", {rows, cols, DType::uint8}}};
  const auto lookup = [&](std::string_view name) {
    if (name == "dark") return OperandView{column.data(), DType::float64, rows, 1};
    if (name == "gain") return OperandView{gain.data(), DType::float32, 1, cols};
    return OperandView{bad.data(), DType::uint8, rows, cols};
  };
  Step clip_low{};
  clip_low.op = StepOp::clip;
  clip_low.min = -50.0;
  std::vector<Step> steps{operand_step(StepOp::subtract, "dark"), operand_step(StepOp::multiply, "gain"), clip_low,
                          operand_step(StepOp::mask, "bad"), cast_step(DType::int16)};
  steps[3].value = -1.0;

  std::vector<std::int16_t> raw(n);
  for (auto& v : raw) v = static_cast<std::int16_t>(static_cast<int>(rng() % 4000) - 1000);
  for (const DType dtype : {DType::float64, DType::int16}) {
    const auto plan = plan_chain(steps, rows, cols, dtype, shapes);
    ASSERT_GT(plan.block_rows(), 0u);
    ASSERT_LT(plan.block_rows(), rows);
    ASSERT_NE(rows % plan.block_rows(), 0u);
    Buffers b(plan);
    std::vector<double> x(n);
    for (std::size_t i = 0; i < n; ++i) x[i] = raw[i] * 1.25;  // exact in float64
    if (dtype == DType::float64) {
      std::memcpy(b.buffer.data(), x.data(), n * 8);
    } else {
      std::memcpy(b.buffer.data(), raw.data(), n * 2);
      std::copy(raw.begin(), raw.end(), x.begin());
    }
    const auto r = apply(plan, b.b(), b.s(), lookup);

    apply_operand(x.data(), x.data(), rows, cols, BinaryOp::subtract, lookup("dark"));
    apply_operand(x.data(), x.data(), rows, cols, BinaryOp::multiply, lookup("gain"));
    clip(x.data(), x.data(), n, -50.0, std::nullopt);
    mask(x.data(), x.data(), rows, cols, lookup("bad"), -1.0);
    const auto saturated =
        narrow_from_float64(reinterpret_cast<std::byte*>(x.data()), n, DType::int16, Rounding::nearest);
    ASSERT_EQ(r.output.size(), n * 2);
    EXPECT_EQ(std::memcmp(r.output.data(), x.data(), n * 2), 0) << dtype_name(dtype);
    EXPECT_EQ(r.saturated, saturated);
  }
}

TEST(TransformChain, ContractChecks) {
  const std::vector<Step> steps{operand_step(StepOp::add, "g")};
  const auto plan = plan_chain(steps, 2, 2, DType::float64, {{"g", {2, 2, DType::int8}}});
  Buffers b(plan);
  const std::vector<std::int8_t> g{1, 2, 3, 4};
  const std::vector<double> g64{1, 2, 3, 4};
  // A float64 view of the operand is accepted too (what the loader makes for matmul operands).
  EXPECT_NO_THROW(apply(plan, b.b(), b.s(), [&](std::string_view) {
    return OperandView{g64.data(), DType::float64, 2, 2};
  }));
  try {
    apply(plan, b.b(), b.s(), [&](std::string_view) { return OperandView{g.data(), DType::int8, 1, 2}; });
    FAIL() << "a wrong operand shape was accepted";
  } catch (const TransformError& e) {
    EXPECT_EQ(e.exit_code(), kExitInternal);
  }
  EXPECT_THROW(apply(plan, b.b().first(16), {}, nullptr), TransformError);
  EXPECT_THROW(apply(plan, b.b().subspan(1, 32), {}, nullptr), TransformError);  // not aligned
}

// ---- reductions --------------------------------------------------------------------------------

std::vector<std::vector<double>> reduction_matrices(std::size_t count, std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::vector<double>> out(count, std::vector<double>(n));
  for (auto& m : out)
    for (auto& v : m) {
      // Mixed signs and magnitudes from 2^-30 to 2^30: rounding in every order.
      const double mantissa = static_cast<double>(static_cast<std::int64_t>(rng() >> 11) - (1ll << 52)) / 0x1p52;
      v = std::ldexp(mantissa, static_cast<int>(rng() % 61) - 30);
    }
  return out;
}

TEST(TransformReduction, MergeOrderAndSplitDoNotChangeTheBits) {
  const std::uint32_t rows = 5, cols = 7;
  const std::size_t n = rows * cols;
  auto matrices = reduction_matrices(200, n, 11);
  matrices[17][3] = kNaN;
  matrices[40][4] = kInf;
  matrices[41][5] = kInf;
  matrices[42][5] = -kInf;
  matrices[50][6] = -0.0;
  const ReductionSet all{Reduction::sum, Reduction::mean, Reduction::min, Reduction::max, Reduction::count_nonzero};

  Accumulator reference(rows, cols, all);
  for (const auto& m : matrices) reference.add(m.data(), DType::float64);
  std::mt19937_64 rng(3);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<std::size_t> order(matrices.size());
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    // Split into 1..8 accumulators, each through bytes, merged in a random order.
    const std::size_t parts = 1 + rng() % 8;
    std::vector<Accumulator> accs(parts, Accumulator(rows, cols, all));
    for (const std::size_t i : order) accs[rng() % parts].add(matrices[i].data(), DType::float64);
    std::shuffle(accs.begin(), accs.end(), rng);
    Accumulator total = Accumulator::from_bytes(accs[0].to_bytes());
    for (std::size_t k = 1; k < parts; ++k) total.merge(Accumulator::from_bytes(accs[k].to_bytes()));
    ASSERT_EQ(total.count(), matrices.size());
    const auto sum = total.sum(), ref = reference.sum();
    for (std::size_t i = 0; i < n; ++i) ASSERT_TRUE(same(sum[i], ref[i])) << "trial " << trial << " element " << i;
    EXPECT_TRUE(all_same(total.min(), reference.min()));
    EXPECT_TRUE(all_same(total.max(), reference.max()));
    EXPECT_TRUE(all_same(total.mean(), reference.mean()));
    EXPECT_EQ(total.count_nonzero(), reference.count_nonzero());
  }
}

TEST(TransformReduction, ValuesAgainstDirectComputation) {
  const ReductionSet all{Reduction::sum, Reduction::mean, Reduction::min, Reduction::max, Reduction::count_nonzero};
  Accumulator acc(1, 6, all);
  const std::vector<double> a{1e16, 1, kNaN, -0.0, 0.0, kInf};
  const std::vector<double> b{1, 1e16, 1, 0.0, -0.0, -kInf};
  const std::vector<double> c{-1e16, -1e16, 2, -0.0, -0.0, 1};
  acc.add(a.data(), DType::float64);
  acc.add(b.data(), DType::float64);
  acc.add(c.data(), DType::float64);
  const auto sum = acc.sum(), mean = acc.mean(), mn = acc.min(), mx = acc.max();
  EXPECT_EQ(sum[0], 1.0);  // exact: a float64 running sum gives 0
  EXPECT_EQ(sum[1], 1.0);
  EXPECT_TRUE(std::isnan(sum[2]));
  EXPECT_TRUE(std::isnan(sum[5]));  // inf + -inf
  EXPECT_EQ(mean[0], 1.0 / 3);
  EXPECT_TRUE(std::isnan(mn[2]));
  EXPECT_TRUE(std::isnan(mx[2]));
  EXPECT_TRUE(std::signbit(mn[3]));   // -0.0 beats 0.0 in min
  EXPECT_FALSE(std::signbit(mx[4]));  // 0.0 beats -0.0 in max
  EXPECT_EQ(mn[5], -kInf);
  EXPECT_EQ(acc.count_nonzero(), (std::vector<std::uint64_t>{3, 3, 3, 0, 0, 3}));

  // Integer matrices, converted on the way in.
  Accumulator ints(1, 2, {Reduction::sum, Reduction::max});
  const std::vector<std::uint64_t> u{std::numeric_limits<std::uint64_t>::max(), 3};
  ints.add(u.data(), DType::uint64);
  ints.add(u.data(), DType::uint64);
  EXPECT_EQ(ints.sum(), (std::vector<double>{0x1p65, 6}));
  EXPECT_EQ(ints.max()[0], 0x1p64);
  EXPECT_THROW(ints.min(), TransformError);
  EXPECT_THROW(ints.mean(), TransformError);
}

TEST(TransformReduction, OnlyTheAskedAccumulatorsAndBadImages) {
  Accumulator acc(3, 4, {Reduction::count_nonzero});
  EXPECT_EQ(acc.to_bytes().size(), 32u + 12 * 8);
  Accumulator sums(3, 4, {Reduction::mean});
  EXPECT_EQ(sums.to_bytes().size(), 32u + 12 * 16);
  auto image = sums.to_bytes();
  EXPECT_THROW(Accumulator::from_bytes(std::span(image).first(image.size() - 1)), TransformError);
  image[0] = std::byte{'X'};
  EXPECT_THROW(Accumulator::from_bytes(image), TransformError);
  auto huge = sums.to_bytes();
  const std::uint32_t big = 0xFFFFFFFFu;
  std::memcpy(huge.data() + 8, &big, 4);
  std::memcpy(huge.data() + 12, &big, 4);
  EXPECT_THROW(Accumulator::from_bytes(huge), TransformError);  // refused before allocating
  EXPECT_THROW(acc.merge(sums), TransformError);
  Accumulator empty(1, 1, {Reduction::mean, Reduction::min});
  EXPECT_TRUE(std::isnan(empty.mean()[0]));
  EXPECT_EQ(empty.min()[0], kInf);
}

}  // namespace
}  // namespace shmjob::transform
