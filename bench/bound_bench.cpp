// The physical bounds a pipeline run is compared with (driven by bench/run, one JSON line out):
//
//   bound_bench compress --rows R --cols C --dtype T --kind K --seed S --count N --level L
//                        [--shuffle] --threads P [--batch-bytes B]
//       The compression bound: the job's own matrices (same generator, seed and ids, so the same
//       bytes) compressed in one process by P threads with the compressor's code path
//       (shuffle? + zstd, TileCompressor), same level and shuffle. Matrices are generated in
//       batches of about B bytes OUTSIDE the timed part; only the compression of each batch is
//       timed (P threads pull ids from a shared counter, as compressor ranks pull slots). No
//       checksum, no statistics, no hand-off, no I/O. cpu_seconds: the compressing threads' CPU.
//
//   bound_bench disk --bytes N --dir D [--block B]
//       The disk bound: N bytes written sequentially to a new file in D in blocks of B bytes,
//       then fdatasync; timed from open to the end of fdatasync. The file is removed.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "codec/tile_codec.hpp"
#include "codec/zstd_codec.hpp"
#include "config/config.hpp"
#include "config/tile_grid.hpp"
#include "shmjob/dtype.hpp"
#include "synthetic/synthetic.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct Args {
  std::map<std::string, std::string> values;
  bool has(const std::string& k) const { return values.count(k) != 0; }
  std::string get(const std::string& k, const std::string& fallback = "") const {
    auto it = values.find(k);
    if (it != values.end()) return it->second;
    if (fallback.empty()) throw std::runtime_error("missing --" + k);
    return fallback;
  }
  std::uint64_t num(const std::string& k, const std::string& fallback = "") const {
    return std::stoull(get(k, fallback));
  }
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 2; i < argc; ++i) {
    std::string k = argv[i];
    if (k.rfind("--", 0) != 0) throw std::runtime_error("unexpected argument " + k);
    k = k.substr(2);
    if (k == "shuffle") {
      a.values[k] = "1";
      continue;
    }
    if (i + 1 >= argc) throw std::runtime_error("--" + k + " needs a value");
    a.values[k] = argv[++i];
  }
  return a;
}

int compress_bound(const Args& a) {
  shmjob::MatrixSpec spec;
  spec.shape.rows = static_cast<std::uint32_t>(a.num("rows"));
  spec.shape.cols = static_cast<std::uint32_t>(a.num("cols"));
  spec.count = a.num("count");
  spec.seed = a.num("seed", "0");
  const auto dtype = shmjob::parse_dtype(a.get("dtype", "float64"));
  if (!dtype) throw std::runtime_error("unknown dtype " + a.get("dtype"));
  spec.shape.dtype = *dtype;
  const std::string kind = a.get("kind", "smooth");
  spec.kind = kind == "random"    ? shmjob::DataKind::random
              : kind == "poisson" ? shmjob::DataKind::poisson
              : kind == "smooth"  ? shmjob::DataKind::smooth
                                  : throw std::runtime_error("unknown kind " + kind);
  const int level = static_cast<int>(std::stol(a.get("level")));
  const bool shuffle = a.has("shuffle");
  const int threads = static_cast<int>(a.num("threads"));
  const std::uint64_t batch_bytes = a.num("batch-bytes", std::to_string(std::uint64_t{256} << 20));
  if (threads < 1 || spec.count == 0 || spec.shape.elements() == 0) throw std::runtime_error("bad arguments");

  const std::size_t raw = static_cast<std::size_t>(spec.shape.bytes());
  const std::uint64_t batch = std::clamp<std::uint64_t>(batch_bytes / raw, std::uint64_t(threads), spec.count);
  const shmjob::TileGrid grid = shmjob::tile_grid(spec.shape.rows, spec.shape.cols, std::nullopt);
  const std::size_t element = shmjob::dtype_size(spec.shape.dtype);
  const std::size_t capacity = shmjob::codec::compressed_bound(raw);

  // Raw matrices of one batch; one output buffer per thread (the frame itself is not kept:
  // a compressor rank's frame goes to the writer, here it is overwritten).
  std::vector<std::byte> matrices(static_cast<std::size_t>(batch) * raw);
  std::vector<std::vector<std::byte>> outs(static_cast<std::size_t>(threads), std::vector<std::byte>(capacity));
  std::vector<std::uint64_t> compressed(static_cast<std::size_t>(threads), 0);
  std::atomic<std::uint64_t> next{0};
  std::uint64_t batch_first = 0, batch_count = 0;
  // Batch hand-over with a mutex and condition variable: every waiting thread sleeps. (A
  // std::barrier spins in libstdc++: the waiting main thread then burnt a core that the
  // compressing threads needed, and its CPU counted as theirs.)
  std::mutex mutex;
  std::condition_variable start_cv, done_cv;
  std::uint64_t generation = 0;  // batches started
  int running = 0;               // threads still working on the current batch
  bool done = false;
  std::vector<double> thread_cpu(static_cast<std::size_t>(threads), 0.0);

  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      shmjob::codec::TileCompressor compressor(level, shuffle);
      std::byte* out = outs[static_cast<std::size_t>(t)].data();
      std::fill(out, out + capacity, std::byte{0});  // touched before the timed part
      std::uint64_t seen = 0;
      while (true) {
        {
          std::unique_lock lock(mutex);
          start_cv.wait(lock, [&] { return done || generation != seen; });
          if (done) return;
          seen = generation;
        }
        const double cpu0 = thread_cpu_seconds();
        for (std::uint64_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < batch_count;)
          compressed[static_cast<std::size_t>(t)] +=
              compressor.compress(matrices.data() + i * raw, grid, element, out, capacity);
        thread_cpu[static_cast<std::size_t>(t)] += thread_cpu_seconds() - cpu0;
        std::lock_guard lock(mutex);
        if (--running == 0) done_cv.notify_one();
      }
    });

  double timed = 0, generating = 0;
  while (batch_first < spec.count) {
    batch_count = std::min(batch, spec.count - batch_first);
    const Clock::time_point g = Clock::now();
    for (std::uint64_t i = 0; i < batch_count; ++i)
      shmjob::generate_matrix(spec, batch_first + i, matrices.data() + i * raw);
    generating += seconds_since(g);
    next.store(0);
    const Clock::time_point t0 = Clock::now();
    {
      std::unique_lock lock(mutex);
      running = threads;
      ++generation;
      start_cv.notify_all();
      done_cv.wait(lock, [&] { return running == 0; });
    }
    timed += seconds_since(t0);
    batch_first += batch_count;
  }
  {
    std::lock_guard lock(mutex);
    done = true;
  }
  start_cv.notify_all();
  for (auto& th : pool) th.join();
  double cpu_timed = 0;
  for (double c : thread_cpu) cpu_timed += c;

  std::uint64_t out_bytes = 0;
  for (std::uint64_t c : compressed) out_bytes += c;
  const double raw_total = static_cast<double>(raw) * static_cast<double>(spec.count);
  std::printf(
      "{\"bound\": \"compression\", \"threads\": %d, \"level\": %d, \"shuffle\": %s, \"matrices\": %llu, "
      "\"raw_bytes\": %.0f, \"compressed_bytes\": %llu, \"seconds\": %.6f, \"cpu_seconds\": %.6f, "
      "\"generate_seconds\": %.6f, \"batch\": %llu, \"matrices_per_s\": %.3f, \"mb_per_s_in\": %.3f, "
      "\"mb_per_s_out\": %.3f}\n",
      threads, level, shuffle ? "true" : "false", static_cast<unsigned long long>(spec.count), raw_total,
      static_cast<unsigned long long>(out_bytes), timed, cpu_timed, generating, static_cast<unsigned long long>(batch),
      static_cast<double>(spec.count) / timed, raw_total / timed / 1e6, static_cast<double>(out_bytes) / timed / 1e6);
  return 0;
}

int disk_bound(const Args& a) {
  const std::uint64_t bytes = a.num("bytes");
  const std::size_t block = static_cast<std::size_t>(a.num("block", std::to_string(1 << 20)));
  const std::string path = a.get("dir") + "/bound_bench.disk." + std::to_string(getpid());
  // Incompressible-looking content (the file system does not compress, but be safe anyway).
  std::vector<unsigned char> data(block);
  std::uint64_t x = 0x9E3779B97F4A7C15ULL;
  for (auto& b : data) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    b = static_cast<unsigned char>(x);
  }
  const Clock::time_point t0 = Clock::now();
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (fd < 0) throw std::runtime_error("open " + path + ": " + std::strerror(errno));
  std::uint64_t left = bytes;
  while (left > 0) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, block));
    const ssize_t w = ::write(fd, data.data(), n);
    if (w <= 0) {
      const int e = errno;
      ::close(fd);
      ::unlink(path.c_str());
      throw std::runtime_error("write " + path + ": " + std::strerror(e));
    }
    left -= static_cast<std::uint64_t>(w);
  }
  const int synced = ::fdatasync(fd);
  const int e = errno;
  ::close(fd);
  const double seconds = seconds_since(t0);
  ::unlink(path.c_str());
  if (synced != 0) throw std::runtime_error("fdatasync " + path + ": " + std::strerror(e));
  std::printf("{\"bound\": \"disk\", \"bytes\": %llu, \"block\": %zu, \"seconds\": %.6f, \"mb_per_s\": %.3f}\n",
              static_cast<unsigned long long>(bytes), block, seconds, static_cast<double>(bytes) / seconds / 1e6);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "compress") return compress_bound(parse(argc, argv));
    if (mode == "disk") return disk_bound(parse(argc, argv));
    std::fprintf(stderr, "usage: bound_bench compress|disk --options (see bound_bench.cpp)\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bound_bench: %s\n", e.what());
    return 1;
  }
}
