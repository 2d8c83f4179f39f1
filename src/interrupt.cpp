#include "interrupt.hpp"

namespace shmjob {
namespace {
constexpr int kSignals[3] = {SIGTERM, SIGINT, SIGUSR1};

// The one piece of process-global state: a signal handler can reach nothing else. Storing to a
// lock-free atomic is async-signal-safe.
std::atomic<std::atomic<std::uint32_t>*> g_interrupt_flag{nullptr};
static_assert(std::atomic<std::atomic<std::uint32_t>*>::is_always_lock_free);

extern "C" void on_interrupt(int) {
  if (auto* flag = g_interrupt_flag.load()) flag->store(1);
}
}  // namespace

InterruptHandler::InterruptHandler(std::atomic<std::uint32_t>& flag) {
  g_interrupt_flag.store(&flag);
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (int i = 0; i < 3; ++i) sigaction(kSignals[i], &action, &previous_[i]);
}

InterruptHandler::~InterruptHandler() {
  for (int i = 0; i < 3; ++i) sigaction(kSignals[i], &previous_[i], nullptr);
  g_interrupt_flag.store(nullptr);
}

}  // namespace shmjob
