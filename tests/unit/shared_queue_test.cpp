// SharedQueue and FutexEvent: the queues that carry slot handles between ranks on a node and the
// futex waits that let blocked ranks sleep. The cross-process tests put the structures in an
// anonymous MAP_SHARED mapping and fork(), which is what an MPI shared window is to the kernel:
// the same pages mapped by several processes.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <limits>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "shm/futex_event.hpp"
#include "shm/shared_queue.hpp"
#include "shm/slots.hpp"

namespace shmjob::shm {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
const auto never = [] { return false; };

// --- helpers ---------------------------------------------------------------------------------

// A queue in ordinary (private, 64-byte aligned) memory.
class LocalQueue {
 public:
  explicit LocalQueue(std::uint64_t capacity)
      : memory_(std::aligned_alloc(64, round_up(SharedQueue::bytes_for(capacity))), &std::free) {
    if (!memory_) throw std::bad_alloc();
    queue_ = SharedQueue::create(memory_.get(), capacity);
  }
  SharedQueue& operator*() const { return *queue_; }
  SharedQueue* operator->() const { return queue_; }

 private:
  static std::size_t round_up(std::size_t n) { return (n + 63) / 64 * 64; }
  std::unique_ptr<void, decltype(&std::free)> memory_;
  SharedQueue* queue_ = nullptr;
};

// An anonymous shared mapping: fork()ed children see the same pages at the same address.
// Objects are carved out of it one after another, 64-byte aligned, like a window segment.
class SharedRegion {
 public:
  explicit SharedRegion(std::size_t bytes) : bytes_(bytes) {
    void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::runtime_error("mmap failed");
    base_ = static_cast<std::byte*>(p);
  }
  ~SharedRegion() { munmap(base_, bytes_); }
  SharedRegion(const SharedRegion&) = delete;
  SharedRegion& operator=(const SharedRegion&) = delete;

  void* take(std::size_t bytes) {
    const std::size_t start = (used_ + 63) / 64 * 64;
    if (start + bytes > bytes_) throw std::runtime_error("shared region too small");
    used_ = start + bytes;
    return base_ + start;
  }
  template <class T>
  T* make() {
    return new (take(sizeof(T))) T();
  }
  template <class T>
  T* make_array(std::size_t n) {
    T* first = static_cast<T*>(take(sizeof(T) * n));
    for (std::size_t i = 0; i < n; ++i) new (first + i) T();
    return first;
  }
  SharedQueue* make_queue(std::uint64_t capacity) {
    return SharedQueue::create(take(SharedQueue::bytes_for(capacity)), capacity);
  }

 private:
  std::byte* base_ = nullptr;
  std::size_t bytes_ = 0;
  std::size_t used_ = 0;
};

// Runs `body` in a child process that exits with its return value (0 = success). The child
// never returns into GoogleTest; an alarm kills it if it hangs, even if the parent is gone.
template <class Body>
pid_t spawn(Body body) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    alarm(60);
    int code = 97;
    try {
      code = body();
    } catch (...) {
      code = 98;
    }
    _exit(code);
  }
  return pid;
}

// What became of a child.
struct ChildResult {
  pid_t pid = 0;
  bool timed_out = false;  // still running at the deadline: killed
  int status = 0;
  bool ok() const { return !timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0; }
  std::string describe() const {
    if (timed_out) return "child " + std::to_string(pid) + " hung and was killed";
    if (WIFEXITED(status))
      return "child " + std::to_string(pid) + " exited with " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status))
      return "child " + std::to_string(pid) + " died of signal " + std::to_string(WTERMSIG(status));
    return "child " + std::to_string(pid) + " status " + std::to_string(status);
  }
};

// Reaps every child; kills those still running after `limit`, or once `progress()` has not
// changed for `stall` (a lost value leaves every child asleep: fail fast rather than at the limit).
template <class Progress>
std::vector<ChildResult> wait_for(const std::vector<pid_t>& pids, std::chrono::milliseconds limit, Progress progress,
                                  std::chrono::milliseconds stall) {
  std::vector<ChildResult> results(pids.size());
  std::vector<bool> done(pids.size(), false);
  std::size_t remaining = pids.size();
  auto deadline = Clock::now() + limit;
  auto last_progress = progress();
  auto last_change = Clock::now();
  while (remaining > 0) {
    const auto now_progress = progress();
    if (now_progress != last_progress) {
      last_progress = now_progress;
      last_change = Clock::now();
    } else if (Clock::now() - last_change > stall) {
      deadline = Clock::now();
    }
    for (std::size_t i = 0; i < pids.size(); ++i) {
      if (done[i]) continue;
      results[i].pid = pids[i];
      if (waitpid(pids[i], &results[i].status, WNOHANG) == pids[i]) {
        done[i] = true;
        --remaining;
      }
    }
    if (remaining == 0) break;
    if (Clock::now() > deadline) {
      for (std::size_t i = 0; i < pids.size(); ++i) {
        if (done[i]) continue;
        kill(pids[i], SIGKILL);
        waitpid(pids[i], &results[i].status, 0);
        results[i].timed_out = true;
      }
      break;
    }
    std::this_thread::sleep_for(2ms);
  }
  return results;
}

std::vector<ChildResult> wait_for(const std::vector<pid_t>& pids, std::chrono::milliseconds limit) {
  return wait_for(
      pids, limit, [] { return 0; }, limit);
}

void expect_all_ok(const std::vector<ChildResult>& results) {
  for (const auto& r : results) EXPECT_TRUE(r.ok()) << r.describe();
}

// Polls `condition` until true or `limit` passes.
template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  while (!condition()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// The scheduler state letter of a process ('S' = sleeping in the kernel, 'R' = running).
char process_state(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/stat";
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return '?';
  char buffer[512] = {};
  const std::size_t n = std::fread(buffer, 1, sizeof buffer - 1, f);
  std::fclose(f);
  const std::string stat(buffer, n);
  const auto paren = stat.rfind(')');  // the command name may contain spaces
  return paren != std::string::npos && paren + 2 < stat.size() ? stat[paren + 2] : '?';
}

std::int64_t clock_ns(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// A bijection on 64-bit values: spreads small counters over the whole range (0 stays 0), so the
// queues carry large values and the consumers can still recover the counter.
constexpr std::uint64_t kOdd = 0x9E3779B97F4A7C15ull;
constexpr std::uint64_t inverse_of(std::uint64_t odd) {
  std::uint64_t x = odd;  // Newton's iteration doubles the correct low bits each step
  for (int i = 0; i < 6; ++i) x *= 2 - odd * x;
  return x;
}
constexpr std::uint64_t kOddInverse = inverse_of(kOdd);
static_assert(kOdd * kOddInverse == 1);
constexpr std::uint64_t encode(std::uint64_t v) { return v * kOdd; }
constexpr std::uint64_t decode(std::uint64_t e) { return e * kOddInverse; }

// splitmix64's finaliser: a check word for a payload.
constexpr std::uint64_t mix(std::uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// --- single process --------------------------------------------------------------------------

TEST(SharedQueue, CreateGivesAnEmptyQueueOfTheRequestedCapacity) {
  for (std::uint64_t capacity : {1u, 2u, 3u, 4u, 64u, 1000u}) {
    LocalQueue q(capacity);
    EXPECT_EQ(q->capacity(), capacity);
    std::uint64_t v = 123;
    EXPECT_FALSE(q->try_pop(v));
    EXPECT_EQ(v, 123u) << "a failed pop leaves the output alone";
  }
  EXPECT_EQ(SharedQueue::bytes_for(0) % 64, 0u);
  EXPECT_GE(SharedQueue::bytes_for(10), SharedQueue::bytes_for(0) + 10 * 2 * sizeof(std::uint64_t));
}

TEST(SharedQueue, FifoOrder) {
  LocalQueue q(8);
  for (std::uint64_t v = 1; v <= 8; ++v) ASSERT_TRUE(q->try_push(v * 11));
  for (std::uint64_t v = 1; v <= 8; ++v) {
    std::uint64_t out = 0;
    ASSERT_TRUE(q->try_pop(out));
    EXPECT_EQ(out, v * 11);
  }
  std::uint64_t out = 0;
  EXPECT_FALSE(q->try_pop(out));
}

TEST(SharedQueue, FullAndEmpty) {
  for (std::uint64_t capacity : {1u, 2u, 3u, 4u, 5u, 7u, 16u}) {
    SCOPED_TRACE("capacity " + std::to_string(capacity));
    LocalQueue q(capacity);
    std::uint64_t out = 0;
    EXPECT_FALSE(q->try_pop(out));
    for (std::uint64_t i = 0; i < capacity; ++i) ASSERT_TRUE(q->try_push(100 + i));
    EXPECT_FALSE(q->try_push(999)) << "push into a full queue";
    EXPECT_FALSE(q->try_push(998)) << "second push into a full queue";
    // One out makes room for exactly one.
    ASSERT_TRUE(q->try_pop(out));
    EXPECT_EQ(out, 100u);
    EXPECT_TRUE(q->try_push(200));
    EXPECT_FALSE(q->try_push(997));
    // The rejected values never appear.
    for (std::uint64_t i = 1; i < capacity; ++i) {
      ASSERT_TRUE(q->try_pop(out));
      EXPECT_EQ(out, 100 + i);
    }
    ASSERT_TRUE(q->try_pop(out));
    EXPECT_EQ(out, 200u);
    EXPECT_FALSE(q->try_pop(out));
    EXPECT_FALSE(q->try_pop(out));
  }
}

TEST(SharedQueue, WrapAroundOverManyCycles) {
  for (std::uint64_t capacity : {1u, 2u, 3u, 4u, 5u}) {
    SCOPED_TRACE("capacity " + std::to_string(capacity));
    LocalQueue q(capacity);
    std::uint64_t next_in = 0, next_out = 0;
    // Fill levels 1..capacity in turn, 10 x capacity cycles, so every cell is reused many times
    // and the head and tail are at every offset relative to each other.
    for (std::uint64_t cycle = 0; cycle < 10 * capacity; ++cycle) {
      const std::uint64_t fill = 1 + cycle % capacity;
      for (std::uint64_t i = 0; i < fill; ++i) ASSERT_TRUE(q->try_push(encode(next_in++)));
      if (fill == capacity) {
        EXPECT_FALSE(q->try_push(1));
      }
      for (std::uint64_t i = 0; i < fill; ++i) {
        std::uint64_t out = 0;
        ASSERT_TRUE(q->try_pop(out));
        ASSERT_EQ(out, encode(next_out++));
      }
      std::uint64_t out = 0;
      ASSERT_FALSE(q->try_pop(out));
    }
    // Steady state one below full: push one, pop one.
    for (std::uint64_t i = 0; i + 1 < capacity; ++i) ASSERT_TRUE(q->try_push(encode(next_in++)));
    for (std::uint64_t i = 0; i < 10 * capacity; ++i) {
      ASSERT_TRUE(q->try_push(encode(next_in++)));
      EXPECT_FALSE(q->try_push(7));
      std::uint64_t out = 0;
      ASSERT_TRUE(q->try_pop(out));
      ASSERT_EQ(out, encode(next_out++));
    }
  }
}

TEST(SharedQueue, CarriesAnySixtyFourBitValue) {
  const std::vector<std::uint64_t> values = {0,
                                             1,
                                             kMax,
                                             kMax - 1,
                                             std::uint64_t{1} << 63,
                                             std::uint64_t{1} << 32,
                                             0xFFFF'FFFFull,
                                             kEndOfStream,
                                             make_handle(15, 1023),
                                             make_handle(0, 0),
                                             0xDEAD'BEEF'CAFE'F00Dull};
  LocalQueue q(3);
  // Through a small queue, so the values land in every cell.
  for (std::size_t i = 0; i < values.size(); ++i) {
    ASSERT_TRUE(q->try_push(values[i]));
    if (i % 2 == 1) {
      std::uint64_t out = 1234;
      ASSERT_TRUE(q->try_pop(out));
      EXPECT_EQ(out, values[i - 1]);
      ASSERT_TRUE(q->try_pop(out));
      EXPECT_EQ(out, values[i]);
    }
  }
  std::uint64_t out = 0;
  ASSERT_TRUE(q->try_pop(out));
  EXPECT_EQ(out, values.back());
}

TEST(SharedQueue, PopWaitReturnsQueuedValueAtOnce) {
  LocalQueue q(4);
  ASSERT_TRUE(q->try_push(0));
  ASSERT_TRUE(q->try_push(kMax));
  std::uint64_t out = 5;
  EXPECT_TRUE(q->pop_wait(out, never));
  EXPECT_EQ(out, 0u);
  EXPECT_TRUE(q->pop_wait(out, never));
  EXPECT_EQ(out, kMax);
}

TEST(SharedQueue, PopWaitGivesUpOnAnEmptyQueue) {
  LocalQueue q(4);
  std::uint64_t out = 77;
  int asked = 0;
  EXPECT_FALSE(q->pop_wait(out, [&] { return ++asked > 0; }));
  EXPECT_GE(asked, 1);
  EXPECT_FALSE(q->try_pop(out));
}

TEST(SharedQueue, PopWaitGivesUpWhenAskedWhileWaiting) {
  LocalQueue q(4);
  std::atomic<bool> give_up{false};
  std::atomic<int> result{-1};
  std::thread waiter([&] {
    std::uint64_t out = 0;
    result = q->pop_wait(out, [&] { return give_up.load(); }) ? 1 : 0;
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(result.load(), -1) << "pop_wait returned from an empty queue without giving up";
  give_up = true;
  q->wake_all();  // what abort_node does
  waiter.join();
  EXPECT_EQ(result.load(), 0);
  std::uint64_t out = 0;
  EXPECT_FALSE(q->try_pop(out));
}

TEST(SharedQueue, PopWaitReturnsValuePushedByAnotherThread) {
  LocalQueue q(2);
  std::atomic<int> stage{0};
  std::uint64_t got = 0;
  bool popped = false;
  std::thread waiter([&] {
    stage = 1;
    popped = q->pop_wait(got, never);
    stage = 2;
  });
  ASSERT_TRUE(eventually([&] { return stage.load() == 1; }, 5000ms));
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(stage.load(), 1) << "pop_wait returned from an empty queue";
  ASSERT_TRUE(q->try_push(kMax - 5));
  waiter.join();
  EXPECT_TRUE(popped);
  EXPECT_EQ(got, kMax - 5);
}

TEST(SharedQueue, ThreadsPassEveryValueExactlyOnce) {
  // 2 producers, 2 consumers on a queue of 3 (pushes retry when full).
  constexpr std::uint64_t kValues = 20'000;
  LocalQueue q(3);
  std::vector<std::atomic<std::uint32_t>> seen(kValues);
  std::atomic<std::uint64_t> consumed{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (std::uint64_t p = 0; p < 2; ++p)
    threads.emplace_back([&, p] {
      for (std::uint64_t v = p; v < kValues; v += 2)
        while (!q->try_push(encode(v))) std::this_thread::yield();
    });
  for (int c = 0; c < 2; ++c)
    threads.emplace_back([&] {
      std::uint64_t e = 0;
      while (q->pop_wait(e, [&] { return stop.load(); })) {
        const std::uint64_t v = decode(e);
        if (v < kValues) seen[v].fetch_add(1);
        consumed.fetch_add(1);
      }
    });
  ASSERT_TRUE(eventually([&] { return consumed.load() >= kValues; }, 20'000ms));
  stop = true;
  q->wake_all();
  for (auto& t : threads) t.join();
  EXPECT_EQ(consumed.load(), kValues);
  std::uint64_t wrong = 0;
  for (auto& s : seen) wrong += s.load() != 1;
  EXPECT_EQ(wrong, 0u);
}

// --- FutexEvent ------------------------------------------------------------------------------

TEST(FutexEvent, WaitUntilReturnsAtOnceWhenAlreadyTrue) {
  FutexEvent event;
  int calls = 0;
  const auto start = Clock::now();
  // A long recheck: if wait_until slept even once, this would take 10 s.
  event.wait_until([&] { return ++calls > 0; }, 10'000ms);
  EXPECT_LT(Clock::now() - start, 5s);
  EXPECT_GE(calls, 1);
}

TEST(FutexEvent, NotifyWithoutWaitersIsHarmless) {
  FutexEvent event;
  for (int i = 0; i < 1000; ++i) event.notify_all();
  bool ready = true;
  event.wait_until([&] { return ready; });
}

TEST(FutexEvent, RecheckSeesAConditionChangedWithoutNotify) {
  FutexEvent event;
  std::atomic<bool> flag{false};
  std::thread waiter([&] { event.wait_until([&] { return flag.load(); }, 10ms); });
  std::this_thread::sleep_for(30ms);
  flag = true;  // no notify_all: the periodic recheck must see it
  waiter.join();
}

TEST(FutexEvent, NotifyWakesWaitersInOtherProcesses) {
  struct alignas(64) Shared {
    FutexEvent event;
    std::atomic<std::uint32_t> flag{0};
    std::atomic<std::uint32_t> waiting{0};
    std::array<std::atomic<std::int64_t>, 3> woke_ns{};
  };
  SharedRegion region(4096);
  Shared* s = region.make<Shared>();

  std::vector<pid_t> pids;
  for (std::size_t i = 0; i < 3; ++i)
    pids.push_back(spawn([s, i] {
      s->waiting.fetch_add(1);
      // A 30 s recheck: within the test's limits only notify_all can wake the waiter.
      s->event.wait_until([s] { return s->flag.load() != 0; }, 30'000ms);
      s->woke_ns[i].store(clock_ns(CLOCK_MONOTONIC));
      return s->flag.load() == 1 ? 0 : 1;
    }));
  // Let every child get into its futex wait.
  ASSERT_TRUE(eventually([&] { return s->waiting.load() == 3; }, 10'000ms));
  for (pid_t pid : pids) EXPECT_TRUE(eventually([&] { return process_state(pid) == 'S'; }, 5000ms));

  const std::int64_t notified_ns = clock_ns(CLOCK_MONOTONIC);
  s->flag.store(1);
  s->event.notify_all();
  const auto results = wait_for(pids, 10'000ms);
  expect_all_ok(results);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_GE(s->woke_ns[i].load(), notified_ns);
    EXPECT_LT(s->woke_ns[i].load() - notified_ns, std::int64_t{10'000'000'000}) << "waiter " << i;
  }
}

// --- across processes ------------------------------------------------------------------------

// The pipeline's shape: each producer owns a few slots; it takes a free one (blocking when all
// are in flight: backpressure), fills it, and queues its handle on the node's ready queue; a
// consumer takes any ready handle, checks the payload and gives the slot back to its owner's
// free queue. The last producer out queues one end-of-stream marker per consumer.
TEST(SharedQueueAcrossProcesses, SlotPoolPipelineDeliversEveryValueOnce) {
  constexpr int kProducers = 3, kConsumers = 3;
  constexpr std::uint32_t kSlots = 2;  // few slots: producers block on them constantly
  constexpr std::uint64_t kValues = 60'000;

  struct alignas(64) Control {
    alignas(64) std::atomic<std::uint64_t> next_ticket{0};
    alignas(64) std::atomic<std::uint32_t> producers_done{0};
    std::array<std::atomic<std::uint64_t>, kConsumers> consumed_by{};
    std::array<std::atomic<std::uint64_t>, kProducers> produced_by{};
  };
  struct alignas(64) Payload {
    std::uint64_t value;  // encode(id)
    std::uint64_t check;  // mix(id)
    std::int32_t producer;
  };

  SharedRegion region(4u << 20);
  Control* control = region.make<Control>();
  auto* seen = region.make_array<std::atomic<std::uint32_t>>(kValues);
  SharedQueue* ready = region.make_queue(std::uint64_t{kProducers} * kSlots + kConsumers);
  std::array<SharedQueue*, kProducers> free_slots{};
  for (int p = 0; p < kProducers; ++p) {
    free_slots[static_cast<std::size_t>(p)] = region.make_queue(kSlots);
    for (std::uint32_t i = 0; i < kSlots; ++i)
      ASSERT_TRUE(free_slots[static_cast<std::size_t>(p)]->try_push(make_handle(p, i)));
  }
  auto* payloads = region.make_array<Payload>(std::size_t{kProducers} * kSlots);

  std::vector<pid_t> pids;
  for (int p = 0; p < kProducers; ++p)
    pids.push_back(spawn([=] {
      SharedQueue& mine = *SharedQueue::attach(free_slots[static_cast<std::size_t>(p)]);
      while (true) {
        const std::uint64_t id = control->next_ticket.fetch_add(1);
        if (id >= kValues) break;
        SlotHandle slot = 0;
        if (!mine.pop_wait(slot, never)) return 10;
        if (handle_owner(slot) != p || handle_slot(slot) >= kSlots) return 11;
        Payload& payload = payloads[std::size_t{kSlots} * static_cast<std::size_t>(p) + handle_slot(slot)];
        payload = {encode(id), mix(id), p};
        control->produced_by[static_cast<std::size_t>(p)].fetch_add(1);
        if (!ready->try_push(slot)) return 12;  // sized so that it can never be full
      }
      if (control->producers_done.fetch_add(1) + 1 == kProducers)
        for (int c = 0; c < kConsumers; ++c)
          if (!ready->try_push(kEndOfStream)) return 13;
      return 0;
    }));
  for (int c = 0; c < kConsumers; ++c)
    pids.push_back(spawn([=] {
      while (true) {
        SlotHandle slot = 0;
        if (!ready->pop_wait(slot, never)) return 20;
        if (slot == kEndOfStream) break;
        const int owner = handle_owner(slot);
        if (owner < 0 || owner >= kProducers || handle_slot(slot) >= kSlots) return 21;
        const Payload payload = payloads[std::size_t{kSlots} * static_cast<std::size_t>(owner) + handle_slot(slot)];
        const std::uint64_t id = decode(payload.value);
        if (id >= kValues || payload.check != mix(id) || payload.producer != owner) return 22;
        seen[id].fetch_add(1);
        control->consumed_by[static_cast<std::size_t>(c)].fetch_add(1);
        if (!free_slots[static_cast<std::size_t>(owner)]->try_push(slot)) return 23;
      }
      return 0;
    }));

  // Normally well under a second; a lost handle stops all progress.
  const auto consumed_so_far = [control] {
    std::uint64_t n = 0;
    for (const auto& c : control->consumed_by) n += c.load();
    return n;
  };
  expect_all_ok(wait_for(pids, 60'000ms, consumed_so_far, 3000ms));

  std::uint64_t missing = 0, duplicated = 0;
  for (std::uint64_t id = 0; id < kValues; ++id) {
    const std::uint32_t n = seen[id].load();
    missing += n == 0;
    duplicated += n > 1;
  }
  EXPECT_EQ(missing, 0u);
  EXPECT_EQ(duplicated, 0u);
  std::uint64_t produced = 0, consumed = 0;
  for (const auto& n : control->produced_by) produced += n.load();
  for (const auto& n : control->consumed_by) consumed += n.load();
  EXPECT_EQ(produced, kValues);
  EXPECT_EQ(consumed, kValues);

  // Afterwards every slot is back with its owner, once, and the ready queue is empty.
  std::uint64_t out = 0;
  EXPECT_FALSE(ready->try_pop(out));
  for (int p = 0; p < kProducers; ++p) {
    std::vector<int> slots(kSlots, 0);
    while (free_slots[static_cast<std::size_t>(p)]->try_pop(out)) {
      ASSERT_EQ(handle_owner(out), p);
      ASSERT_LT(handle_slot(out), kSlots);
      ++slots[handle_slot(out)];
    }
    for (std::uint32_t i = 0; i < kSlots; ++i) EXPECT_EQ(slots[i], 1) << "producer " << p << " slot " << i;
  }
}

// Large values straight through a small queue (capacity 3 + markers): producers take a token
// from a "free" queue of 3 before each push, consumers return it after each pop.
TEST(SharedQueueAcrossProcesses, ValuesThroughSmallQueuesUnderBackpressure) {
  constexpr int kProducers = 3, kConsumers = 3;
  constexpr std::uint64_t kTokens = 3;
  constexpr std::uint64_t kValues = 60'000;

  struct alignas(64) Control {
    alignas(64) std::atomic<std::uint32_t> producers_done{0};
    alignas(64) std::atomic<std::uint64_t> sum{0};
    std::atomic<std::uint64_t> xor_all{0};
  };
  SharedRegion region(1u << 20);
  Control* control = region.make<Control>();
  auto* seen = region.make_array<std::atomic<std::uint32_t>>(kValues);
  SharedQueue* tokens = region.make_queue(kTokens);
  SharedQueue* values = region.make_queue(kTokens + kConsumers);
  for (std::uint64_t t = 0; t < kTokens; ++t) ASSERT_TRUE(tokens->try_push(t));

  std::vector<pid_t> pids;
  for (int p = 0; p < kProducers; ++p)
    pids.push_back(spawn([=] {
      // Producer p sends p, p + 3, p + 6, ...: distinct across producers.
      for (std::uint64_t v = static_cast<std::uint64_t>(p); v < kValues; v += kProducers) {
        std::uint64_t token = 0;
        if (!tokens->pop_wait(token, never)) return 10;
        if (token >= kTokens) return 11;
        if (!values->try_push(encode(v))) return 12;
      }
      if (control->producers_done.fetch_add(1) + 1 == kProducers)
        for (int c = 0; c < kConsumers; ++c)
          if (!values->try_push(kEndOfStream)) return 13;
      return 0;
    }));
  for (int c = 0; c < kConsumers; ++c)
    pids.push_back(spawn([=] {
      std::uint64_t token = 0;
      while (true) {
        std::uint64_t e = 0;
        if (!values->pop_wait(e, never)) return 20;
        if (e == kEndOfStream) break;
        const std::uint64_t v = decode(e);
        if (v >= kValues) return 21;
        seen[v].fetch_add(1);
        control->sum.fetch_add(v);
        control->xor_all.fetch_xor(e);
        if (!tokens->try_push(token++ % kTokens)) return 22;
      }
      return 0;
    }));

  expect_all_ok(wait_for(
      pids, 60'000ms, [control] { return control->sum.load(); }, 3000ms));

  std::uint64_t wrong = 0, expected_xor = 0;
  for (std::uint64_t v = 0; v < kValues; ++v) {
    wrong += seen[v].load() != 1;
    expected_xor ^= encode(v);
  }
  EXPECT_EQ(wrong, 0u);
  EXPECT_EQ(control->sum.load(), kValues * (kValues - 1) / 2);
  EXPECT_EQ(control->xor_all.load(), expected_xor);
  std::uint64_t out = 0;
  EXPECT_FALSE(values->try_pop(out));
  std::uint64_t returned = 0;
  while (tokens->try_pop(out)) ++returned;
  EXPECT_EQ(returned, kTokens);
}

// A pop claims a position and then empties the cell: a popper preempted between the two keeps
// its cell busy. The queue never holds more than 2 of its 4 values here, so every push must
// succeed however the 4 busy processes (on fewer cores) are preempted: "full" may only mean full.
TEST(SharedQueueAcrossProcesses, PushNeverFailsWhenTheQueueIsNotFull) {
  constexpr int kProcesses = 4;
  constexpr std::uint64_t kCapacity = 4, kTokens = 2;
  struct alignas(64) Shared {
    std::atomic<std::uint32_t> stop{0};
    std::atomic<std::uint32_t> started{0};
    std::array<std::atomic<std::uint64_t>, kProcesses> cycles{};
  };
  SharedRegion region(1u << 16);
  Shared* s = region.make<Shared>();
  SharedQueue* q = region.make_queue(kCapacity);
  for (std::uint64_t t = 0; t < kTokens; ++t) ASSERT_TRUE(q->try_push(encode(t + 1)));

  std::vector<pid_t> pids;
  for (std::size_t i = 0; i < kProcesses; ++i)
    pids.push_back(spawn([=] {
      s->started.fetch_add(1);
      std::uint64_t n = 0;
      while (s->stop.load(std::memory_order_relaxed) == 0) {
        std::uint64_t v = 0;
        if (!q->try_pop(v)) continue;  // spin: keep every process busy so they get preempted
        if (v != encode(1) && v != encode(2)) return 1;
        if (!q->try_push(v)) return 2;  // spurious "full"
        ++n;
      }
      s->cycles[i].store(n);
      return 0;
    }));
  ASSERT_TRUE(eventually([&] { return s->started.load() == kProcesses; }, 10'000ms));
  std::this_thread::sleep_for(400ms);
  s->stop.store(1);
  const auto results = wait_for(pids, 20'000ms);
  for (const auto& r : results)
    EXPECT_TRUE(r.ok()) << r.describe()
                        << (r.ok() || r.timed_out || WEXITSTATUS(r.status) != 2
                                ? ""
                                : ": try_push failed on a queue holding 2 of 4");
  std::uint64_t cycles = 0;
  for (const auto& c : s->cycles) cycles += c.load();
  EXPECT_GT(cycles, 0u);
  // Both values are still there, once each.
  std::vector<std::uint64_t> left;
  std::uint64_t v = 0;
  while (q->try_pop(v)) left.push_back(v);
  std::sort(left.begin(), left.end());
  std::vector<std::uint64_t> expected = {encode(1), encode(2)};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(left, expected);
}

// Ranks blocked on an empty queue must sleep, not spin: 16 ranks share 2 cores. Two children
// block in pop_wait for about a second each; a spinning waiter would burn about that much CPU.
TEST(SharedQueueAcrossProcesses, BlockedWaitersUseLittleCpu) {
  constexpr int kWaiters = 2;
  struct alignas(64) Shared {
    std::atomic<std::uint32_t> waiting{0};
    std::array<std::atomic<std::int64_t>, kWaiters> cpu_ns{};
    std::array<std::atomic<std::int64_t>, kWaiters> blocked_ns{};
    std::array<std::atomic<std::uint64_t>, kWaiters> got{};
  };
  SharedRegion region(4096);
  Shared* s = region.make<Shared>();
  SharedQueue* q = region.make_queue(4);

  std::vector<pid_t> pids;
  for (std::size_t i = 0; i < kWaiters; ++i)
    pids.push_back(spawn([=] {
      const std::int64_t cpu0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
      const std::int64_t wall0 = clock_ns(CLOCK_MONOTONIC);
      s->waiting.fetch_add(1);
      std::uint64_t v = 0;
      if (!q->pop_wait(v, never)) return 1;
      s->cpu_ns[i].store(clock_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0);
      s->blocked_ns[i].store(clock_ns(CLOCK_MONOTONIC) - wall0);
      s->got[i].store(v);
      return 0;
    }));
  ASSERT_TRUE(eventually([&] { return s->waiting.load() == kWaiters; }, 10'000ms));
  std::this_thread::sleep_for(1000ms);
  ASSERT_TRUE(q->try_push(1000));
  ASSERT_TRUE(q->try_push(2000));
  expect_all_ok(wait_for(pids, 10'000ms));

  std::uint64_t got_sum = 0;
  for (std::size_t i = 0; i < kWaiters; ++i) {
    // The child really waited (the parent slept a second before pushing) ...
    EXPECT_GE(s->blocked_ns[i].load(), 900'000'000) << "waiter " << i;
    // ... and used a small fraction of that on a CPU.
    EXPECT_LT(s->cpu_ns[i].load(), 100'000'000)
        << "waiter " << i << " used " << static_cast<double>(s->cpu_ns[i].load()) / 1e6 << " ms of CPU while blocked";
    RecordProperty("waiter" + std::to_string(i) + "_cpu_us", std::to_string(s->cpu_ns[i].load() / 1000));
    got_sum += s->got[i].load();
  }
  EXPECT_EQ(got_sum, 3000u) << "each waiter got one of the two values";
}

// What abort_node does: a rank blocked in pop_wait in another process gives up once the shared
// abort flag is set and the queue's waiters are woken.
TEST(SharedQueueAcrossProcesses, WaiterGivesUpOnAbort) {
  struct alignas(64) Shared {
    std::atomic<std::uint32_t> abort{0};
    std::atomic<std::uint32_t> waiting{0};
  };
  SharedRegion region(4096);
  Shared* s = region.make<Shared>();
  SharedQueue* q = region.make_queue(2);
  const pid_t pid = spawn([=] {
    s->waiting.store(1);
    std::uint64_t v = 0;
    const bool popped = q->pop_wait(v, [s] { return s->abort.load() != 0; });
    return popped ? 1 : 0;
  });
  ASSERT_TRUE(eventually([&] { return s->waiting.load() == 1; }, 10'000ms));
  std::this_thread::sleep_for(50ms);
  s->abort.store(1);
  q->wake_all();
  expect_all_ok(wait_for({pid}, 10'000ms));
}

}  // namespace
}  // namespace shmjob::shm
