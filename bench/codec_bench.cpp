// Per-stage costs of the data path on one core (Google Benchmark), per element type <dtype>
// (float64, float32, int32, uint8 by default; --dtypes picks others):
//   generate/<kind>/<dtype>/<shape> generate_matrix (what a producer does per matrix)
//   stats/<kind>/<dtype>/<shape>    compute_stats: CRC-32 + min/max/mean (compressor, per matrix)
//   shuffle/<dtype>/<shape>         byte shuffle (compressor, when compression.shuffle is on);
//                                   a plain copy for 1-byte types
//   zstd/<kind>/<dtype>/<shape>/L<n>[/shuffle]
//                                   ZSTD_compress2 at level n; with /shuffle the shuffle is
//                                   included in the timed work, as a compressor does it
//   compressor/<kind>/<dtype>/<shape>/L<n>[/shuffle]
//                                   the whole per-matrix work of a compressor rank:
//                                   stats + (shuffle) + zstd
// Rates: bytes_per_second is raw (input) bytes per CPU second, items_per_second is matrices per
// CPU second; counter "ratio" = raw bytes / compressed bytes over every iteration.
//
//   build-bench/bench/codec_bench                               all cases
//   build-bench/bench/codec_bench --benchmark_filter='zstd/smooth'
//   build-bench/bench/codec_bench --levels=1,3,19               other zstd levels
//   build-bench/bench/codec_bench --dtypes=float64,int16        other element types
//   build-bench/bench/codec_bench --benchmark_format=json > codec.json
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "codec/matrix_stats.hpp"
#include "codec/shuffle.hpp"
#include "codec/zstd_codec.hpp"
#include "config/config.hpp"
#include "shmjob/dtype.hpp"
#include "synthetic/synthetic.hpp"

namespace {

using shmjob::DataKind;
using shmjob::DType;
using shmjob::MatrixSpec;

struct Shape {
  std::uint32_t rows, cols;
  std::string name() const { return std::to_string(rows) + "x" + std::to_string(cols); }
};

constexpr DataKind kKinds[] = {DataKind::random, DataKind::smooth, DataKind::poisson};
const std::vector<Shape> kShapes = {{1000, 1000}, {64, 64}};

MatrixSpec spec_of(DataKind kind, DType dtype, Shape shape) {
  MatrixSpec spec;
  spec.count = 1;
  spec.shape.rows = shape.rows;
  spec.shape.cols = shape.cols;
  spec.shape.dtype = dtype;
  spec.kind = kind;
  spec.seed = 0;
  return spec;
}

// Distinct matrices the compression cases cycle through, so the ratio is not one matrix's luck
// (smooth matrices differ per id). Large: 4 matrices (32 MB as float64); small: 64 (2 MB as float64,
// stays in cache like a real slot would not, which is the honest best case for per-matrix overhead).
std::size_t pool_size(Shape shape) { return shape.rows * shape.cols >= 100000 ? 4 : 64; }

const std::vector<std::vector<std::byte>>& matrices(DataKind kind, DType dtype, Shape shape) {
  static std::map<std::tuple<int, int, std::uint32_t, std::uint32_t>, std::vector<std::vector<std::byte>>> cache;
  auto& pool = cache[{static_cast<int>(kind), static_cast<int>(dtype), shape.rows, shape.cols}];
  if (pool.empty()) {
    const MatrixSpec spec = spec_of(kind, dtype, shape);
    for (std::size_t id = 0; id < pool_size(shape); ++id) {
      pool.emplace_back(spec.shape.bytes());
      shmjob::generate_matrix(spec, id, pool.back().data());
    }
  }
  return pool;
}

void set_rates(benchmark::State& state, std::uint64_t bytes_per_item) {
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bytes_per_item));
}

void bm_generate(benchmark::State& state, DataKind kind, DType dtype, Shape shape) {
  const MatrixSpec spec = spec_of(kind, dtype, shape);
  std::vector<std::byte> out(spec.shape.bytes());
  std::uint64_t id = 0;
  for (auto _ : state) {
    shmjob::generate_matrix(spec, id++, out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_rates(state, spec.shape.bytes());
}

void bm_stats(benchmark::State& state, DataKind kind, DType dtype, Shape shape) {
  const MatrixSpec spec = spec_of(kind, dtype, shape);
  const auto& pool = matrices(kind, dtype, shape);
  std::size_t i = 0;
  for (auto _ : state) {
    auto stats = shmjob::codec::compute_stats(pool[i].data(), spec.shape.elements(), spec.shape.dtype);
    benchmark::DoNotOptimize(stats);
    i = (i + 1) % pool.size();
  }
  set_rates(state, spec.shape.bytes());
}

void bm_shuffle(benchmark::State& state, DType dtype, Shape shape) {
  const MatrixSpec spec = spec_of(DataKind::smooth, dtype, shape);
  const auto& pool = matrices(DataKind::smooth, dtype, shape);
  std::vector<std::byte> out(spec.shape.bytes());
  std::size_t i = 0;
  for (auto _ : state) {
    shmjob::codec::shuffle(pool[i].data(), out.data(), spec.shape.bytes(), shmjob::dtype_size(dtype));
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
    i = (i + 1) % pool.size();
  }
  set_rates(state, spec.shape.bytes());
}

// with_stats = false: shuffle? + zstd (the codec alone); true: the full compressor-rank work.
void bm_compress(benchmark::State& state, DataKind kind, DType dtype, Shape shape, int level, bool shuffle,
                 bool with_stats) {
  const MatrixSpec spec = spec_of(kind, dtype, shape);
  const auto& pool = matrices(kind, dtype, shape);
  shmjob::codec::ZstdCompressor zstd(level);
  std::vector<std::byte> shuffled(shuffle ? spec.shape.bytes() : 0);
  std::vector<std::byte> frame(shmjob::codec::compressed_bound(spec.shape.bytes()));
  std::uint64_t raw_total = 0, compressed_total = 0;
  std::size_t i = 0;
  for (auto _ : state) {
    const std::byte* input = pool[i].data();
    if (with_stats) {
      auto stats = shmjob::codec::compute_stats(input, spec.shape.elements(), spec.shape.dtype);
      benchmark::DoNotOptimize(stats);
    }
    if (shuffle) {
      shmjob::codec::shuffle(input, shuffled.data(), spec.shape.bytes(), shmjob::dtype_size(dtype));
      input = shuffled.data();
    }
    const std::size_t n = zstd.compress(input, spec.shape.bytes(), frame.data(), frame.size());
    benchmark::DoNotOptimize(frame.data());
    raw_total += spec.shape.bytes();
    compressed_total += n;
    i = (i + 1) % pool.size();
  }
  set_rates(state, spec.shape.bytes());
  state.counters["ratio"] = compressed_total ? double(raw_total) / double(compressed_total) : 0.0;
}

std::string kind_name(DataKind kind) { return std::string(shmjob::data_kind_name(kind)); }
std::string dtype_str(DType dtype) { return std::string(shmjob::dtype_name(dtype)); }

// Removes every --<flag>=a,b,c from argv (before Google Benchmark sees it) and returns the items
// of the last one, or nullopt if there is none.
std::optional<std::vector<std::string>> take_list_flag(int& argc, char** argv, const std::string& flag) {
  std::optional<std::vector<std::string>> items;
  const std::string prefix = "--" + flag + "=";
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) != 0) continue;
    items.emplace();
    const std::string list = argv[i] + prefix.size();
    std::size_t start = 0;
    while (start <= list.size()) {
      const std::size_t comma = list.find(',', start);
      const std::string item = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!item.empty()) items->push_back(item);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    for (int j = i; j + 1 < argc; ++j) argv[j] = argv[j + 1];
    --argc;
    --i;
  }
  return items;
}

void register_all(const std::vector<int>& levels, const std::vector<DType>& dtypes) {
  for (DType dtype : dtypes)
    for (const Shape& shape : kShapes)
      for (DataKind kind : kKinds)
        benchmark::RegisterBenchmark(
            ("generate/" + kind_name(kind) + "/" + dtype_str(dtype) + "/" + shape.name()).c_str(), bm_generate, kind,
            dtype, shape);
  for (DType dtype : dtypes)
    for (const Shape& shape : kShapes)
      for (DataKind kind : kKinds)
        benchmark::RegisterBenchmark(("stats/" + kind_name(kind) + "/" + dtype_str(dtype) + "/" + shape.name()).c_str(),
                                     bm_stats, kind, dtype, shape);
  for (DType dtype : dtypes)
    for (const Shape& shape : kShapes)
      benchmark::RegisterBenchmark(("shuffle/" + dtype_str(dtype) + "/" + shape.name()).c_str(), bm_shuffle, dtype,
                                   shape);
  for (const bool with_stats : {false, true})
    for (DType dtype : dtypes)
      for (const Shape& shape : kShapes)
        for (DataKind kind : kKinds)
          for (int level : levels)
            for (const bool shuffle : {false, true}) {
              const std::string name = std::string(with_stats ? "compressor/" : "zstd/") + kind_name(kind) + "/" +
                                       dtype_str(dtype) + "/" + shape.name() + "/L" + std::to_string(level) +
                                       (shuffle ? "/shuffle" : "");
              benchmark::RegisterBenchmark(name.c_str(), bm_compress, kind, dtype, shape, level, shuffle, with_stats);
            }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> levels = {1, 3};
  if (auto items = take_list_flag(argc, argv, "levels")) {
    levels.clear();
    for (const std::string& item : *items) {
      try {
        levels.push_back(std::stoi(item));
      } catch (const std::exception&) {
        std::fprintf(stderr, "codec_bench: --levels: '%s' is not a number\n", item.c_str());
        return 1;
      }
    }
  }
  std::vector<DType> dtypes = {DType::float64, DType::float32, DType::int32, DType::uint8};
  if (auto items = take_list_flag(argc, argv, "dtypes")) {
    dtypes.clear();
    for (const std::string& item : *items) {
      const auto dtype = shmjob::parse_dtype(item);
      if (!dtype) {
        std::fprintf(stderr,
                     "codec_bench: --dtypes: unknown dtype '%s' (int8..int64, uint8..uint64, float32, float64)\n",
                     item.c_str());
        return 1;
      }
      dtypes.push_back(*dtype);
    }
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("data", "seed 0, dtype in the name; zstd via shmjob::codec::ZstdCompressor");
  register_all(levels, dtypes);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
