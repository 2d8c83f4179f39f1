// The transform chain next to the memory-bandwidth bound, on one core (bench/transform_bench.py
// drives it; see bench/README.md "Transform").
//
//   transform_bench [--rows 1000] [--cols 1000] [--buffers 16] [--rounds 7]
//
// Chain: subtract dark (float64 [rows, cols]), multiply gain (float32 [rows, cols]), clip min 0,
// cast float32, on float64 matrices, by transform::apply as a compressor runs it in its raw slot.
// Per matrix it reads 8 + 8 + 4 bytes and writes 4 bytes per element: 24 bytes.
// Bound: a STREAM triad a = b + s * c over the same element count, also 24 bytes per element
// (read b and c, write a). Each round refills `buffers` matrices (untimed; 16 x 8 MB is far more
// than the caches), times the chain over all of them, then times the triad over as many distinct
// (a, b, c) arrays. The operands are the same for every matrix, as in a job, and so may stay in
// cache; the triad's arrays do not. Prints one JSON object: per-round seconds and the medians.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "transform/chain.hpp"

namespace {

using namespace shmjob;

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// Keeps the compiler from dropping the triad's stores.
volatile double g_sink = 0;

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::uint64_t> opt{{"rows", 1000}, {"cols", 1000}, {"buffers", 16}, {"rounds", 7}};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i];
    if (key.rfind("--", 0) != 0 || !opt.count(key.substr(2))) {
      std::fprintf(stderr, "usage: transform_bench [--rows R] [--cols C] [--buffers K] [--rounds N]\n");
      return 2;
    }
    opt[key.substr(2)] = std::stoull(argv[i + 1]);
  }
  const auto rows = static_cast<std::uint32_t>(opt["rows"]), cols = static_cast<std::uint32_t>(opt["cols"]);
  const std::size_t n = std::size_t{rows} * cols, buffers = opt["buffers"], rounds = opt["rounds"];

  std::mt19937_64 rng(42);
  std::normal_distribution<double> noise(0.0, 1.0);
  std::vector<double> input(n), dark(n);
  std::vector<float> gain(n);
  for (std::size_t i = 0; i < n; ++i) {
    input[i] = 100.0 + 20.0 * noise(rng);
    dark[i] = 100.0 + 3.0 * noise(rng);
    gain[i] = static_cast<float>(1.0 + 0.03 * noise(rng));
  }
  using transform::Step;
  using transform::StepOp;
  std::vector<Step> steps(4);
  steps[0].op = StepOp::subtract, steps[0].operand = "dark";
  steps[1].op = StepOp::multiply, steps[1].operand = "gain";
  steps[2].op = StepOp::clip, steps[2].min = 0.0;
  steps[3].op = StepOp::cast, steps[3].dtype = DType::float32;
  const transform::OperandShapes shapes{{"dark", MatrixShape{rows, cols, DType::float64}},
                                        {"gain", MatrixShape{rows, cols, DType::float32}}};
  const transform::ChainPlan plan = transform::plan_chain(steps, rows, cols, DType::float64, shapes);
  const transform::OperandLookup lookup = [&](std::string_view name) {
    return name == "dark" ? transform::OperandView{dark.data(), DType::float64, rows, cols}
                          : transform::OperandView{gain.data(), DType::float32, rows, cols};
  };
  const std::size_t words = (plan.work_bytes() + 7) / 8;
  std::vector<std::vector<double>> slots(buffers, std::vector<double>(words));
  std::vector<double> scratch((plan.scratch_bytes() + 7) / 8);  // one per rank, as a compressor has
  std::vector<std::vector<double>> a(buffers, std::vector<double>(n)), b(buffers, input), c(buffers, dark);

  std::vector<double> chain_s, triad_s, ratio;
  for (std::size_t r = 0; r < rounds; ++r) {
    for (auto& s : slots) std::memcpy(s.data(), input.data(), n * sizeof(double));
    double t0 = now();
    for (auto& s : slots)
      transform::apply(plan, std::as_writable_bytes(std::span(s)), std::as_writable_bytes(std::span(scratch)), lookup);
    const double chain = now() - t0;
    const double scalar = 0.5 + static_cast<double>(r);
    t0 = now();
    for (std::size_t k = 0; k < buffers; ++k) {
      double* __restrict pa = a[k].data();
      const double* __restrict pb = b[k].data();
      const double* __restrict pc = c[k].data();
      for (std::size_t i = 0; i < n; ++i) pa[i] = pb[i] + scalar * pc[i];
    }
    const double triad = now() - t0;
    g_sink = g_sink + a[r % buffers][n / 2];
    chain_s.push_back(chain);
    triad_s.push_back(triad);
    ratio.push_back(triad / chain);  // chain throughput over triad throughput
  }
  const double bytes = 24.0 * static_cast<double>(n) * static_cast<double>(buffers);
  auto list = [](const std::vector<double>& v) {
    std::string s = "[";
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
    return s + "]";
  };
  std::printf(
      "{\"rows\": %u, \"cols\": %u, \"buffers\": %zu, \"bytes_per_round\": %.0f, \"chain_s\": %s, \"triad_s\": %s, "
      "\"ratio\": %s, \"chain_gb_s\": %.3f, \"triad_gb_s\": %.3f, \"ratio_median\": %.4f, "
      "\"ratio_min\": %.4f, \"ratio_max\": %.4f, \"chain_ms_per_matrix\": %.3f}\n",
      rows, cols, buffers, bytes, list(chain_s).c_str(), list(triad_s).c_str(), list(ratio).c_str(),
      bytes / median(chain_s) / 1e9, bytes / median(triad_s) / 1e9, median(ratio),
      *std::min_element(ratio.begin(), ratio.end()), *std::max_element(ratio.begin(), ratio.end()),
      1e3 * median(chain_s) / static_cast<double>(buffers));
  return 0;
}
