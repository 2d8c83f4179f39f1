#include "interrupt.hpp"

#include <unistd.h>

#include "shmjob/error.hpp"

namespace shmjob {
namespace {
constexpr int kSignals[3] = {SIGTERM, SIGINT, SIGUSR1};

// The one piece of process-global state: a signal handler can reach nothing else. Storing to a
// lock-free atomic is async-signal-safe, and so is _exit.
std::atomic<std::atomic<std::uint32_t>*> g_interrupt_flag{nullptr};
// Signals this process received (not the node's flag: every rank of a node may get its own
// first signal, e.g. SIGTERM to all ranks, and that is still a first signal).
std::atomic<int> g_signals_received{0};
static_assert(std::atomic<std::atomic<std::uint32_t>*>::is_always_lock_free);
static_assert(std::atomic<int>::is_always_lock_free);

extern "C" void on_interrupt(int signo) {
  if (g_signals_received.fetch_add(1) > 0) {
    static constexpr char kMessage[] = "shmjob: second signal: aborting now (flushed shards are kept for --resume)\n";
    [[maybe_unused]] const auto ignored = write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
    _exit(kExitAbortedBySignal + signo);
  }
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
