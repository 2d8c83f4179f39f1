// Micro-benchmarks of the hand-off between stages and of the writer's chunk writes (Google Benchmark):
//   slot/acquire_release/slots:<n>   one try_pop + try_push on a SharedQueue holding n slot handles:
//                                    taking a free slot and giving it back, one process, uncontended
//   slot/acquire_release_wait/slots:<n>
//                                    the same with pop_wait (its fast path: the queue is never empty)
//   handoff/pingpong                 two processes, two SharedQueues in a MAP_SHARED mapping: the
//                                    parent pushes to q1, the child pop_waits it and pushes it to
//                                    q2, the parent pop_waits q2. Real time per round trip = two
//                                    hand-offs, each with the futex wake (and sleep) of a waiter
//   handoff/stream/cap:<c>/batch:<b> one way: the parent pushes 4096 values per iteration into a
//                                    queue of capacity c (yielding while it is full), the child
//                                    pop_waits them; wake batch b (set_wake_batch). items/s in real time
//   h5/write_chunk/<size>            one H5Dwrite_chunk of a <size> zstd frame (h5::ShardWriter::
//                                    write_matrix, a matrix of one chunk) into a shard file under
//                                    $TMPDIR; time per chunk and bytes/s, real time
// Counters: parent_vcsw_per_item (voluntary context switches of the timing process per item:
// how often it slept), child_cpu_ns_per_item (the consumer's CPU per item, from wait4).
//
//   build-bench/bench/handoff_bench
//   build-bench/bench/handoff_bench --benchmark_filter='handoff/'
//   build-bench/bench/handoff_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <map>
#include <memory>
#include <new>
#include <random>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "codec/zstd_codec.hpp"
#include "config/config.hpp"
#include "config/matrix_set.hpp"
#include "h5/shard_writer.hpp"
#include "shm/shared_queue.hpp"
#include "shm/slots.hpp"

namespace {

using shmjob::shm::SharedQueue;
using shmjob::shm::SlotHandle;
using Clock = std::chrono::steady_clock;

// How long any one wait may last before the benchmark gives up instead of hanging.
constexpr auto kWaitLimit = std::chrono::seconds(10);
constexpr std::uint64_t kEnd = shmjob::shm::kEndOfStream;

// 64-byte aligned heap memory (what SharedQueue::create needs).
class AlignedBuffer {
 public:
  explicit AlignedBuffer(std::size_t bytes) : data_(::operator new (bytes, std::align_val_t{64})) {}
  ~AlignedBuffer() { ::operator delete (data_, std::align_val_t{64}); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  void* data() const noexcept { return data_; }

 private:
  void* data_;
};

template <class Pop>
void bm_slot_cycle(benchmark::State& state, std::uint64_t slots, Pop pop) {
  AlignedBuffer memory(SharedQueue::bytes_for(slots));
  SharedQueue* q = SharedQueue::create(memory.data(), slots);
  for (std::uint32_t i = 0; i < slots; ++i) q->try_push(shmjob::shm::make_handle(0, i));
  for (auto _ : state) {
    SlotHandle h = 0;
    if (!pop(*q, h)) {
      state.SkipWithError("the free-slot queue was empty");
      break;
    }
    benchmark::DoNotOptimize(h);
    if (!q->try_push(h)) {
      state.SkipWithError("the free-slot queue was full");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

// --- two processes -----------------------------------------------------------------------

// A MAP_SHARED | MAP_ANONYMOUS mapping: the same memory in the parent and a forked child.
class SharedMapping {
 public:
  explicit SharedMapping(std::size_t bytes) : bytes_(bytes) {
    data_ = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (data_ == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "mmap");
  }
  ~SharedMapping() { ::munmap(data_, bytes_); }
  SharedMapping(const SharedMapping&) = delete;
  SharedMapping& operator=(const SharedMapping&) = delete;
  std::byte* data() const noexcept { return static_cast<std::byte*>(data_); }

 private:
  void* data_;
  std::size_t bytes_;
};

struct alignas(64) Control {
  std::atomic<bool> stop{false};
};

constexpr std::size_t round_up64(std::size_t n) { return (n + 63) / 64 * 64; }

// A control block and two queues (q1: parent -> child, q2: child -> parent) in one shared mapping
// (page aligned, so every part is 64-byte aligned).
class QueuePair {
 public:
  QueuePair(std::uint64_t capacity1, std::uint64_t capacity2)
      : mapping_(round_up64(sizeof(Control)) + round_up64(SharedQueue::bytes_for(capacity1)) +
                 SharedQueue::bytes_for(capacity2)) {
    std::byte* p = mapping_.data();
    control = new (p) Control;
    p += round_up64(sizeof(Control));
    q1 = SharedQueue::create(p, capacity1);
    p += round_up64(SharedQueue::bytes_for(capacity1));
    q2 = SharedQueue::create(p, capacity2);
  }

  Control* control;
  SharedQueue* q1;
  SharedQueue* q2;

 private:
  SharedMapping mapping_;
};

// A pop_wait that gives up after kWaitLimit without a value, or once `stop` is set. The clock is
// read only when the queue was found empty.
bool pop_bounded(SharedQueue& q, std::uint64_t& value, const std::atomic<bool>* stop = nullptr) {
  bool started = false;
  Clock::time_point limit;
  return q.pop_wait(value, [&] {
    if (stop != nullptr && stop->load(std::memory_order_relaxed)) return true;
    const auto now = Clock::now();
    if (!started) {
      started = true;
      limit = now + kWaitLimit;
    }
    return now > limit;
  });
}

// Exit codes of the child.
enum ChildExit : int {
  kChildOk = 0,
  kChildTimedOut = 2,
  kChildQueueFull = 3,
  kChildWrongValue = 4,
  kChildException = 5
};

// Forks a child that runs body() (returning its exit code) and leaves with _exit: it never returns
// into Google Benchmark. The child dies with the parent (PR_SET_PDEATHSIG).
template <class Body>
pid_t spawn(Body body) {
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (pid == 0) {
    int rc = kChildException;
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) == 0 && ::getppid() == parent) {
      try {
        rc = body();
      } catch (...) {
        rc = kChildException;
      }
    }
    ::_exit(rc);
  }
  return pid;
}

struct ChildResult {
  int exit_code = -1;  // -1: killed or died of a signal
  double cpu_s = 0;
};

// Waits up to `grace` for the child to exit, then SIGKILLs it; always reaps it.
ChildResult reap(pid_t pid, std::chrono::milliseconds grace) {
  int status = 0;
  rusage usage{};
  const auto limit = Clock::now() + grace;
  pid_t done = 0;
  while ((done = ::wait4(pid, &status, WNOHANG, &usage)) == 0 && Clock::now() < limit)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (done == 0) {
    ::kill(pid, SIGKILL);
    done = ::wait4(pid, &status, 0, &usage);
  }
  ChildResult r;
  if (done == pid) {
    if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    r.cpu_s = double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
              double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
  }
  return r;
}

long voluntary_switches() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return u.ru_nvcsw;
}

// Stops the child (end value, stop flag, wake), reaps it, and reports what went wrong, if anything.
void finish_child(benchmark::State& state, QueuePair& pair, pid_t child, std::uint64_t items, bool failed) {
  pair.q1->try_push(kEnd);  // may be full; the stop flag covers that
  pair.control->stop.store(true);
  pair.q1->wake_all();
  const ChildResult r = reap(child, std::chrono::milliseconds(5000));
  if (!failed && r.exit_code != kChildOk) {
    const std::string what = "the child process exited with " + std::to_string(r.exit_code) +
                             " (2 timed out, 3 queue full, 4 wrong value, 5 exception, -1 killed)";
    state.SkipWithError(what.c_str());
  }
  if (items > 0) state.counters["child_cpu_ns_per_item"] = r.cpu_s * 1e9 / double(items);
}

void bm_pingpong(benchmark::State& state) {
  QueuePair pair(4, 4);
  Control* control = pair.control;
  SharedQueue* q1 = pair.q1;
  SharedQueue* q2 = pair.q2;
  const pid_t child = spawn([=] {
    std::uint64_t v = 0;
    while (true) {
      if (!pop_bounded(*q1, v, &control->stop)) return control->stop.load() ? kChildOk : kChildTimedOut;
      if (v == kEnd) return kChildOk;
      if (!q2->try_push(v)) return kChildQueueFull;
    }
  });
  bool failed = false;
  std::uint64_t i = 0;
  const long vcsw = voluntary_switches();
  for (auto _ : state) {
    std::uint64_t back = 0;
    if (!q1->try_push(i) || !pop_bounded(*q2, back) || back != i) {
      state.SkipWithError("ping-pong: no (or a wrong) answer from the child within 10 s");
      failed = true;
      break;
    }
    ++i;
  }
  const long switches = voluntary_switches() - vcsw;
  finish_child(state, pair, child, i, failed);
  state.SetItemsProcessed(state.iterations());  // round trips
  if (i > 0) state.counters["parent_vcsw_per_item"] = double(switches) / double(i);
}

constexpr std::uint64_t kStreamItems = 4096;  // pushed per iteration

void bm_stream(benchmark::State& state, std::uint64_t capacity, std::uint64_t batch) {
  QueuePair pair(capacity, 1);
  Control* control = pair.control;
  SharedQueue* q1 = pair.q1;
  SharedQueue* q2 = pair.q2;
  q1->set_wake_batch(batch);
  // The child checks the values arrive in order and acknowledges every kStreamItems.
  const pid_t child = spawn([=] {
    std::uint64_t v = 0, expected = 0;
    while (true) {
      if (!pop_bounded(*q1, v, &control->stop)) return control->stop.load() ? kChildOk : kChildTimedOut;
      if (v == kEnd) return kChildOk;
      if (v != expected++) return kChildWrongValue;
      if (expected % kStreamItems == 0 && !q2->try_push(expected)) return kChildQueueFull;
    }
  });
  bool failed = false;
  std::uint64_t next = 0;
  const long vcsw = voluntary_switches();
  for (auto _ : state) {
    const std::uint64_t end = next + kStreamItems;
    Clock::time_point limit{};
    while (next < end && !failed) {
      if (q1->try_push(next)) {
        ++next;
        continue;
      }
      // Full: the child has to make room (it was woken by the push that reached the batch).
      const auto now = Clock::now();
      if (limit == Clock::time_point{}) limit = now + kWaitLimit;
      if (now > limit) failed = true;
      std::this_thread::yield();
    }
    // The tail below the wake batch would otherwise wait for the child's periodic recheck.
    q1->wake_all();
    std::uint64_t ack = 0;
    if (failed || !pop_bounded(*q2, ack) || ack != end) {
      state.SkipWithError("stream: the child did not take or acknowledge the values within 10 s");
      failed = true;
      break;
    }
  }
  const long switches = voluntary_switches() - vcsw;
  finish_child(state, pair, child, next, failed);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kStreamItems));
  if (next > 0) state.counters["parent_vcsw_per_item"] = double(switches) / double(next);
}

// --- H5Dwrite_chunk ----------------------------------------------------------------------

// A new directory under temp_directory_path() ($TMPDIR, else /tmp), removed with its contents.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix) {
    std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr)
      throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
};

// A zstd frame of `raw_bytes` random bytes (stored by zstd as raw blocks: about raw_bytes + 3 bytes
// per 128 KiB block + a header), a valid chunk of a [count, 64, raw_bytes / 64] uint8 dataset.
std::vector<std::byte> random_frame(std::size_t raw_bytes) {
  std::vector<std::byte> raw(raw_bytes);
  std::mt19937_64 rng(raw_bytes);
  for (std::size_t i = 0; i + 8 <= raw_bytes; i += 8) {
    const std::uint64_t r = rng();
    std::memcpy(raw.data() + i, &r, 8);
  }
  std::vector<std::byte> frame(shmjob::codec::compressed_bound(raw_bytes));
  shmjob::codec::ZstdCompressor zstd(1);
  frame.resize(zstd.compress(raw.data(), raw.size(), frame.data(), frame.size()));
  return frame;
}

void bm_write_chunk(benchmark::State& state, std::size_t chunk_bytes) {
  try {
    const std::vector<std::byte> frame = random_frame(chunk_bytes);
    TempDir dir("shmjob-handoff-bench-");
    shmjob::MatrixSpec spec;
    spec.count = std::clamp<std::uint64_t>((std::uint64_t{64} << 20) / chunk_bytes, 16, 16384);  // rows per file
    spec.shape.rows = 64;
    spec.shape.cols = static_cast<std::uint32_t>(chunk_bytes / 64);
    spec.shape.dtype = shmjob::DType::uint8;
    const std::vector<shmjob::MatrixSet> sets = shmjob::synthetic_matrix_sets(spec);
    shmjob::CompressionConfig compression;
    compression.level = 1;
    // A shard of `count` rows; filled, it is finished and deleted and the next one started (not timed).
    std::uint64_t files = 0, row = 0;
    auto open_shard = [&] {
      const auto path = dir.path() / ("bench-" + std::to_string(files++) + ".h5");
      return std::make_unique<shmjob::h5::ShardWriter>(path,
                                                       std::vector<shmjob::h5::ShardPart>{{&sets[0], 0, spec.count}},
                                                       compression, std::map<std::string, std::string>{});
    };
    auto close_shard = [&](std::unique_ptr<shmjob::h5::ShardWriter>& shard) {
      shard->finish({});
      std::filesystem::remove(shard->path());
      shard.reset();
    };
    auto shard = open_shard();
    for (auto _ : state) {
      if (row == spec.count) {
        state.PauseTiming();
        close_shard(shard);
        shard = open_shard();
        row = 0;
        state.ResumeTiming();
      }
      shard->write_matrix(0, row++, frame.data(), frame.size(), false);
    }
    close_shard(shard);
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(frame.size()));
    state.counters["frame_bytes"] = double(frame.size());
    state.counters["rows_per_file"] = double(spec.count);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

std::string size_name(std::size_t bytes) {
  return bytes >= (1u << 20) ? std::to_string(bytes >> 20) + "MiB" : std::to_string(bytes >> 10) + "KiB";
}

// Exceptions (mmap, fork) become a skipped benchmark with the message, not a crash.
template <class F>
void guarded(benchmark::State& state, F f) {
  try {
    f(state);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

void register_all() {
  for (const std::uint64_t slots : {4, 64}) {
    benchmark::RegisterBenchmark(("slot/acquire_release/slots:" + std::to_string(slots)).c_str(),
                                 [slots](benchmark::State& s) {
                                   bm_slot_cycle(s, slots, [](SharedQueue& q, SlotHandle& h) { return q.try_pop(h); });
                                 });
    benchmark::RegisterBenchmark(
        ("slot/acquire_release_wait/slots:" + std::to_string(slots)).c_str(), [slots](benchmark::State& s) {
          bm_slot_cycle(s, slots, [](SharedQueue& q, SlotHandle& h) { return q.pop_wait(h, [] { return true; }); });
        });
  }
  benchmark::RegisterBenchmark("handoff/pingpong", [](benchmark::State& s) { guarded(s, bm_pingpong); })->UseRealTime();
  for (const std::uint64_t batch : {1, 32})
    benchmark::RegisterBenchmark(
        ("handoff/stream/cap:64/batch:" + std::to_string(batch)).c_str(),
        [batch](benchmark::State& s) { guarded(s, [batch](benchmark::State& st) { bm_stream(st, 64, batch); }); })
        ->UseRealTime();
  for (const std::size_t kib : {4, 32, 256, 1024, 8192})
    benchmark::RegisterBenchmark(("h5/write_chunk/" + size_name(kib << 10)).c_str(), bm_write_chunk, kib << 10)
        ->UseRealTime();
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  shmjob::h5::silence_hdf5_errors();  // errors arrive as H5Error messages (SkipWithError)
  benchmark::AddCustomContext("handoff",
                              "SharedQueue in one process / between a parent and a forked child; "
                              "h5/write_chunk: h5::ShardWriter under $TMPDIR");
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
