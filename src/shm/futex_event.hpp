#pragma once
// A wake-up point shared by processes. It lives in MPI window memory (a shared file mapping), so
// waiters can sleep in the kernel with a non-private futex instead of spinning: 16 ranks share 2
// cores here and a spinning idle rank steals a core from a working one.
#include <atomic>
#include <chrono>
#include <cstdint>

namespace shmjob::shm {

class FutexEvent {
 public:
  FutexEvent() = default;
  FutexEvent(const FutexEvent&) = delete;
  FutexEvent& operator=(const FutexEvent&) = delete;

  // Returns once ready() is true. Sleeps between checks; wakes on notify_all() and at least every
  // `recheck` as a safety net, so a condition changed without a notify is still seen.
  // Returns as soon as ready() has returned true and never calls it again after that, so ready()
  // may have side effects (SharedQueue::pop_wait pops inside it).
  template <class Ready>
  void wait_until(Ready ready, std::chrono::milliseconds recheck = std::chrono::milliseconds(50)) {
    while (true) {
      const std::uint32_t seen = sequence_.load(std::memory_order_seq_cst);
      if (ready()) return;
      waiters_.fetch_add(1, std::memory_order_seq_cst);
      const bool now_ready = ready();
      if (!now_ready) sleep(seen, recheck);
      waiters_.fetch_sub(1, std::memory_order_seq_cst);
      if (now_ready) return;
    }
  }

  // Call after making the condition true.
  void notify_all() noexcept;

 private:
  void sleep(std::uint32_t seen, std::chrono::milliseconds timeout) noexcept;

  std::atomic<std::uint32_t> sequence_{0};
  std::atomic<std::uint32_t> waiters_{0};
};

static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));

}  // namespace shmjob::shm
