#pragma once
// Bounded multi-producer multi-consumer queue of 64-bit values (D. Vyukov's sequence-numbered
// ring) placed in shared memory. The header and its cells are one block created by the owner
// with placement new; every process reaches it through its own mapping (no pointers inside).
// The pipeline sizes each queue to hold every value that can exist at once, so a push never
// waits: backpressure comes from waiting for a free slot, not from a full queue.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>

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
    for (std::uint64_t i = 0; i < capacity; ++i) new (&q->cells()[i]) Cell{{i}, 0};
    return q;
  }
  static SharedQueue* attach(void* memory) noexcept { return static_cast<SharedQueue*>(memory); }

  std::uint64_t capacity() const noexcept { return capacity_; }

  bool try_push(std::uint64_t value) noexcept {
    std::uint64_t pos = tail_.load(std::memory_order_relaxed);
    while (true) {
      Cell& cell = cells()[pos % capacity_];
      const std::uint64_t seq = cell.sequence.load(std::memory_order_acquire);
      if (seq == pos) {
        if (tail_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          cell.value = value;
          cell.sequence.store(pos + 1, std::memory_order_release);
          not_empty_.notify_all();
          return true;
        }
      } else if (seq < pos) {
        return false;  // full
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
      if (seq == pos + 1) {
        if (head_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          value = cell.value;
          cell.sequence.store(pos + capacity_, std::memory_order_release);
          return true;
        }
      } else if (seq < pos + 1) {
        return false;  // empty
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

  // Wakes every waiter so it re-checks its give_up condition (used on abort).
  void wake_all() noexcept { not_empty_.notify_all(); }

 private:
  struct Cell {
    std::atomic<std::uint64_t> sequence;
    std::uint64_t value;
  };
  explicit SharedQueue(std::uint64_t capacity) noexcept : capacity_(capacity) {}
  Cell* cells() noexcept { return reinterpret_cast<Cell*>(this + 1); }

  alignas(64) std::atomic<std::uint64_t> tail_{0};
  alignas(64) std::atomic<std::uint64_t> head_{0};
  alignas(64) FutexEvent not_empty_;
  std::uint64_t capacity_;
};

static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(sizeof(SharedQueue) % 64 == 0);

}  // namespace shmjob::shm
