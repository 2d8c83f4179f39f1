#include "shm/futex_event.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <ctime>

namespace shmjob::shm {
namespace {
// Not FUTEX_PRIVATE_FLAG: the word is in memory mapped by several processes.
long futex(std::atomic<std::uint32_t>* word, int op, std::uint32_t value, const timespec* timeout) noexcept {
  return syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), op, value, timeout, nullptr, 0);
}
}  // namespace

void FutexEvent::notify_all() noexcept {
  sequence_.fetch_add(1, std::memory_order_seq_cst);
  if (waiters_.load(std::memory_order_seq_cst) > 0) futex(&sequence_, FUTEX_WAKE, INT_MAX, nullptr);
}

void FutexEvent::sleep(std::uint32_t seen, std::chrono::milliseconds timeout) noexcept {
  const auto ms = timeout.count();
  const timespec ts{static_cast<time_t>(ms / 1000), static_cast<long>((ms % 1000) * 1000000)};
  // EAGAIN (sequence moved), EINTR and ETIMEDOUT all just mean "check again".
  futex(&sequence_, FUTEX_WAIT, seen, &ts);
}

}  // namespace shmjob::shm
