// Per-stage costs of the data path on one core (Google Benchmark):
//   generate/<kind>/<shape>         generate_matrix (what a producer does per matrix)
//   stats/<kind>/<shape>            compute_stats: CRC-32 + min/max/mean (compressor, per matrix)
//   shuffle/<shape>                 byte shuffle (compressor, when compression.shuffle is on)
//   zstd/<kind>/<shape>/L<n>[/shuffle]
//                                   ZSTD_compress2 at level n; with /shuffle the shuffle is
//                                   included in the timed work, as a compressor does it
//   compressor/<kind>/<shape>/L<n>[/shuffle]
//                                   the whole per-matrix work of a compressor rank:
//                                   stats + (shuffle) + zstd
// Rates: bytes_per_second is raw (input) bytes per CPU second, items_per_second is matrices per
// CPU second; counter "ratio" = raw bytes / compressed bytes over every iteration.
//
//   build-bench/bench/codec_bench                               all cases
//   build-bench/bench/codec_bench --benchmark_filter='zstd/smooth'
//   build-bench/bench/codec_bench --levels=1,3,19               other zstd levels
//   build-bench/bench/codec_bench --benchmark_format=json > codec.json
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "codec/matrix_stats.hpp"
#include "codec/shuffle.hpp"
#include "codec/zstd_codec.hpp"
#include "shmjob/config.hpp"
#include "shmjob/synthetic.hpp"

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

MatrixSpec spec_of(DataKind kind, Shape shape) {
  MatrixSpec spec;
  spec.count = 1;
  spec.rows = shape.rows;
  spec.cols = shape.cols;
  spec.dtype = DType::float64;
  spec.kind = kind;
  spec.seed = 0;
  return spec;
}

// Distinct matrices the compression cases cycle through, so the ratio is not one matrix's luck
// (smooth matrices differ per id). Large: 4 matrices (32 MB); small: 64 (2 MB, stays in cache like
// a real slot would not, which is the honest best case for per-matrix overhead).
std::size_t pool_size(Shape shape) { return shape.rows * shape.cols >= 100000 ? 4 : 64; }

const std::vector<std::vector<std::byte>>& matrices(DataKind kind, Shape shape) {
  static std::map<std::tuple<int, std::uint32_t, std::uint32_t>, std::vector<std::vector<std::byte>>> cache;
  auto& pool = cache[{static_cast<int>(kind), shape.rows, shape.cols}];
  if (pool.empty()) {
    const MatrixSpec spec = spec_of(kind, shape);
    for (std::size_t id = 0; id < pool_size(shape); ++id) {
      pool.emplace_back(spec.bytes());
      shmjob::generate_matrix(spec, id, pool.back().data());
    }
  }
  return pool;
}

void set_rates(benchmark::State& state, std::uint64_t bytes_per_item) {
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bytes_per_item));
}

void bm_generate(benchmark::State& state, DataKind kind, Shape shape) {
  const MatrixSpec spec = spec_of(kind, shape);
  std::vector<std::byte> out(spec.bytes());
  std::uint64_t id = 0;
  for (auto _ : state) {
    shmjob::generate_matrix(spec, id++, out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_rates(state, spec.bytes());
}

void bm_stats(benchmark::State& state, DataKind kind, Shape shape) {
  const MatrixSpec spec = spec_of(kind, shape);
  const auto& pool = matrices(kind, shape);
  std::size_t i = 0;
  for (auto _ : state) {
    auto stats = shmjob::codec::compute_stats(pool[i].data(), spec.elements(), spec.dtype);
    benchmark::DoNotOptimize(stats);
    i = (i + 1) % pool.size();
  }
  set_rates(state, spec.bytes());
}

void bm_shuffle(benchmark::State& state, Shape shape) {
  const MatrixSpec spec = spec_of(DataKind::smooth, shape);
  const auto& pool = matrices(DataKind::smooth, shape);
  std::vector<std::byte> out(spec.bytes());
  std::size_t i = 0;
  for (auto _ : state) {
    shmjob::codec::shuffle(pool[i].data(), out.data(), spec.bytes(), sizeof(double));
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
    i = (i + 1) % pool.size();
  }
  set_rates(state, spec.bytes());
}

// with_stats = false: shuffle? + zstd (the codec alone); true: the full compressor-rank work.
void bm_compress(benchmark::State& state, DataKind kind, Shape shape, int level, bool shuffle,
                 bool with_stats) {
  const MatrixSpec spec = spec_of(kind, shape);
  const auto& pool = matrices(kind, shape);
  shmjob::codec::ZstdCompressor zstd(level);
  std::vector<std::byte> shuffled(shuffle ? spec.bytes() : 0);
  std::vector<std::byte> frame(shmjob::codec::compressed_bound(spec.bytes()));
  std::uint64_t raw_total = 0, compressed_total = 0;
  std::size_t i = 0;
  for (auto _ : state) {
    const std::byte* input = pool[i].data();
    if (with_stats) {
      auto stats = shmjob::codec::compute_stats(input, spec.elements(), spec.dtype);
      benchmark::DoNotOptimize(stats);
    }
    if (shuffle) {
      shmjob::codec::shuffle(input, shuffled.data(), spec.bytes(), sizeof(double));
      input = shuffled.data();
    }
    const std::size_t n = zstd.compress(input, spec.bytes(), frame.data(), frame.size());
    benchmark::DoNotOptimize(frame.data());
    raw_total += spec.bytes();
    compressed_total += n;
    i = (i + 1) % pool.size();
  }
  set_rates(state, spec.bytes());
  state.counters["ratio"] = compressed_total ? double(raw_total) / double(compressed_total) : 0.0;
}

std::string kind_name(DataKind kind) { return std::string(shmjob::data_kind_name(kind)); }

std::vector<int> parse_levels(int& argc, char** argv) {
  std::vector<int> levels = {1, 3};
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--levels=", 9) != 0) continue;
    levels.clear();
    std::string list = argv[i] + 9;
    std::size_t start = 0;
    while (start <= list.size()) {
      const std::size_t comma = list.find(',', start);
      const std::string item = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!item.empty()) levels.push_back(std::stoi(item));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    for (int j = i; j + 1 < argc; ++j) argv[j] = argv[j + 1];
    --argc;
    --i;
  }
  return levels;
}

void register_all(const std::vector<int>& levels) {
  for (const Shape& shape : kShapes)
    for (DataKind kind : kKinds)
      benchmark::RegisterBenchmark(("generate/" + kind_name(kind) + "/" + shape.name()).c_str(),
                                   bm_generate, kind, shape);
  for (const Shape& shape : kShapes)
    for (DataKind kind : kKinds)
      benchmark::RegisterBenchmark(("stats/" + kind_name(kind) + "/" + shape.name()).c_str(),
                                   bm_stats, kind, shape);
  for (const Shape& shape : kShapes)
    benchmark::RegisterBenchmark(("shuffle/" + shape.name()).c_str(), bm_shuffle, shape);
  for (const bool with_stats : {false, true})
    for (const Shape& shape : kShapes)
      for (DataKind kind : kKinds)
        for (int level : levels)
          for (const bool shuffle : {false, true}) {
            const std::string name = std::string(with_stats ? "compressor/" : "zstd/") + kind_name(kind) +
                                     "/" + shape.name() + "/L" + std::to_string(level) +
                                     (shuffle ? "/shuffle" : "");
            benchmark::RegisterBenchmark(name.c_str(), bm_compress, kind, shape, level, shuffle, with_stats);
          }
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<int> levels = parse_levels(argc, argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("data", "float64, seed 0; zstd via shmjob::codec::ZstdCompressor");
  register_all(levels);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
