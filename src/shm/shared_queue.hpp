#pragma once
// Bounded multi-producer multi-consumer queue of 64-bit values (D. Vyukov's sequence-numbered
// ring) placed in shared memory. The header and its cells are one block created by the owner
// with placement new; every process reaches it through its own mapping (no pointers inside).
// The pipeline sizes each queue to hold every value that can exist at once, so a push never
// waits: backpressure comes from waiting for a free slot, not from a full queue.
//
// Cell sequence numbers: a cell is free for position p when its sequence is 2p and holds the
// value of position p when it is 2p + 1 (Vyukov's p / p + 1 cannot tell "free for p" from
// "full with p - 1" when the capacity is 1). try_push reports "full" only when the queue holds
// `capacity` values: if the cell it needs is still being emptied by a pop that has already
// claimed it (a popper preempted between its two steps), it waits for that pop to finish.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <new>
#include <thread>

#include "shm/futex_event.hpp"

namespace shmjob::shm {

class SharedQueue {
 public:
  static std::size_t bytes_for(std::uint64_t capacity) noexcept {
    return sizeof(SharedQueue) + capacity * sizeof(Cell);
  }
  // Constructs an empty queue at `memory` (bytes_for(capacity) bytes, 64-byte aligned).
  static SharedQueue* create(void* memory, std::uint64_t capacity) noexcept {
    auto* q = new (memory) SharedQueue(capacity);
    for (std::uint64_t i = 0; i < capacity; ++i) new (&q->cells()[i]) Cell{{2 * i}, 0};
    return q;
  }
  static SharedQueue* attach(void* memory) noexcept { return static_cast<SharedQueue*>(memory); }

  std::uint64_t capacity() const noexcept { return capacity_; }

  // Fails only if the queue holds `capacity` values.
  bool try_push(std::uint64_t value) noexcept {
    std::uint64_t pos = tail_.load(std::memory_order_relaxed);
    int waits = 0;
    while (true) {
      Cell& cell = cells()[pos % capacity_];
      const std::uint64_t seq = cell.sequence.load(std::memory_order_acquire);
      if (seq == 2 * pos) {
        if (tail_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          cell.value = value;
          cell.sequence.store(2 * pos + 1, std::memory_order_release);
          const std::uint64_t batch = wake_batch_.load(std::memory_order_relaxed);
          if (batch <= 1 || approx_size() >= batch) not_empty_.notify_all();
          return true;
        }
      } else if (seq < 2 * pos) {
        // The cell has not been emptied since position pos - capacity. Full, unless a pop has
        // already claimed that position and is about to release the cell.
        if (head_.load(std::memory_order_acquire) + capacity_ <= pos) return false;  // full
        // The popper may be preempted on this very core: yield a few times, then sleep, since a
        // sched_yield loop need not let it run (seen with ranks sharing cores: a pusher spun in
        // sched_yield for a minute while the ranks pinned to its core starved).
        if (++waits <= kYieldsBeforeSleep)
          std::this_thread::yield();
        else
          std::this_thread::sleep_for(std::chrono::microseconds(50));
        pos = tail_.load(std::memory_order_relaxed);
      } else {
        pos = tail_.load(std::memory_order_relaxed);
      }
    }
  }

  bool try_pop(std::uint64_t& value) noexcept {
    std::uint64_t pos = head_.load(std::memory_order_relaxed);
    while (true) {
      Cell& cell = cells()[pos % capacity_];
      const std::uint64_t seq = cell.sequence.load(std::memory_order_acquire);
      if (seq == 2 * pos + 1) {
        if (head_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          value = cell.value;
          cell.sequence.store(2 * (pos + capacity_), std::memory_order_release);
          return true;
        }
      } else if (seq < 2 * pos + 1) {
        return false;  // empty (or the push of this position has not finished: it will notify)
      } else {
        pos = head_.load(std::memory_order_relaxed);
      }
    }
  }

  // Pops, sleeping while the queue is empty. Returns false without a value once give_up() is true.
  template <class GiveUp>
  bool pop_wait(std::uint64_t& value, GiveUp give_up) {
    bool popped = false;
    not_empty_.wait_until([&] { return (popped = try_pop(value)) || give_up(); });
    return popped;
  }

  // How many values the queue holds, for monitoring only: a snapshot that may be stale by the
  // time it returns (two loads, no lock).
  std::uint64_t approx_size() const noexcept {
    const std::uint64_t head = head_.load(std::memory_order_relaxed);
    const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
    return tail > head ? std::min(tail - head, capacity_) : 0;
  }

  // Wakes every waiter so it re-checks its give_up condition (used on abort).
  void wake_all() noexcept { not_empty_.notify_all(); }

  // Lets a consumer with cheap work sleep until `batch` values have gathered instead of waking
  // (a futex wake, two context switches) for every value: a push wakes the waiters only once the
  // queue holds `batch` values. Waiters still wake on wake_all() and on their periodic recheck,
  // so whoever depends on the consumer draining a part-filled queue (the end of the stream, a
  // stage that cannot go on until its slots come back) must call wake_all(). Default 1: every push.
  void set_wake_batch(std::uint64_t batch) noexcept { wake_batch_.store(std::max<std::uint64_t>(batch, 1)); }

 private:
  struct Cell {
    std::atomic<std::uint64_t> sequence;
    std::uint64_t value;
  };
  explicit SharedQueue(std::uint64_t capacity) noexcept : capacity_(capacity) {}
  Cell* cells() noexcept { return reinterpret_cast<Cell*>(this + 1); }
  static constexpr int kYieldsBeforeSleep = 16;

  alignas(64) std::atomic<std::uint64_t> tail_{0};
  alignas(64) std::atomic<std::uint64_t> head_{0};
  alignas(64) FutexEvent not_empty_;
  std::uint64_t capacity_;
  std::atomic<std::uint64_t> wake_batch_{1};
};

static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(sizeof(SharedQueue) % 64 == 0);

}  // namespace shmjob::shm
