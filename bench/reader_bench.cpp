// The Reader's latency and decode work (Google Benchmark), on outputs written by a real job:
//   SHMJOB_BENCH_MASTER  a job of 1000x1000 float64 matrices, one chunk each
//   SHMJOB_BENCH_TILED   a job whose matrix 0 is 8192x8192, tiled (e.g. 256x256)
// bench/reader_bench.py writes both, runs this, times h5py on the same files and prints the
// table in bench/README.md.
//   read/open_first        open the master (index load) + first read of one matrix
//   read/cold              read a random matrix with the cache off (fetch + zstd + copy)
//   read/cached            read one matrix again and again from the tile cache
//   slice100/tiled         a random 100x100 slice of the tiled matrix, cache off
//   whole/tiled            the whole tiled matrix, cache off
// Counters: tiles_per_read, decoded_MB_per_read (raw bytes decoded per iteration).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <random>
#include <string>

#include "shmjob/reader.hpp"

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

void report_decoding(benchmark::State& state, const shmjob::Reader& reader, const shmjob::CacheStats& before) {
  const shmjob::CacheStats after = reader.cache_stats();
  const double n = static_cast<double>(state.iterations());
  state.counters["tiles_per_read"] = static_cast<double>(after.chunks_decoded - before.chunks_decoded) / n;
  state.counters["decoded_MB_per_read"] = static_cast<double>(after.bytes_decoded - before.bytes_decoded) / n / 1e6;
}

void open_first(benchmark::State& state) {
  const std::string master = env("SHMJOB_BENCH_MASTER");
  std::uint64_t id = 0;
  for (auto _ : state) {
    const shmjob::Reader reader(master, {0, false});
    benchmark::DoNotOptimize(reader.read(id++ % reader.count()).bytes.data());
  }
}

void cold(benchmark::State& state) {
  const shmjob::Reader reader(env("SHMJOB_BENCH_MASTER"), {0, false});
  reader.read(0);  // shard files open
  std::mt19937_64 rng(1);
  const shmjob::CacheStats before = reader.cache_stats();
  for (auto _ : state) benchmark::DoNotOptimize(reader.read(rng() % reader.count()).bytes.data());
  report_decoding(state, reader, before);
}

void cached(benchmark::State& state) {
  const shmjob::Reader reader(env("SHMJOB_BENCH_MASTER"), {std::size_t{64} << 20, false});
  reader.read(3);
  const shmjob::CacheStats before = reader.cache_stats();
  for (auto _ : state) benchmark::DoNotOptimize(reader.read(3).bytes.data());
  report_decoding(state, reader, before);
}

void slice100(benchmark::State& state) {
  const shmjob::Reader reader(env("SHMJOB_BENCH_TILED"), {0, false});
  const auto& set = reader.set_of(0);
  reader.read_slice(0, {0, 1}, {0, 1});
  std::mt19937_64 rng(2);
  const shmjob::CacheStats before = reader.cache_stats();
  for (auto _ : state) {
    const std::uint64_t r = rng() % (set.shape.rows - 100), c = rng() % (set.shape.cols - 100);
    benchmark::DoNotOptimize(reader.read_slice(0, {r, r + 100}, {c, c + 100}).bytes.data());
  }
  report_decoding(state, reader, before);
}

void whole(benchmark::State& state) {
  const shmjob::Reader reader(env("SHMJOB_BENCH_TILED"), {0, false});
  reader.read_slice(0, {0, 1}, {0, 1});
  const shmjob::CacheStats before = reader.cache_stats();
  for (auto _ : state) benchmark::DoNotOptimize(reader.read(0).bytes.data());
  report_decoding(state, reader, before);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (!env("SHMJOB_BENCH_MASTER").empty()) {
    benchmark::RegisterBenchmark("read/open_first", open_first)->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::RegisterBenchmark("read/cold", cold)->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::RegisterBenchmark("read/cached", cached)->Unit(benchmark::kMillisecond)->UseRealTime();
  }
  if (!env("SHMJOB_BENCH_TILED").empty()) {
    benchmark::RegisterBenchmark("slice100/tiled", slice100)->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::RegisterBenchmark("whole/tiled", whole)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
