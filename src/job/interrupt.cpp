#include "job/interrupt.hpp"

#include <time.h>
#include <unistd.h>

#include "shmjob/error.hpp"

namespace shmjob {
namespace {
constexpr int kSignals[3] = {SIGTERM, SIGINT, SIGUSR1};

// The one piece of process-global state: a signal handler can reach nothing else. Storing to a
// lock-free atomic is async-signal-safe, and so are clock_gettime, write and _exit.
std::atomic<std::atomic<std::uint32_t>*> g_interrupt_flag{nullptr};
static_assert(std::atomic<std::atomic<std::uint32_t>*>::is_always_lock_free);
// Where this rank notes which signal came when (its metrics counters), for the metrics events.
std::atomic<metrics::SignalNote*> g_signal_note{nullptr};
static_assert(std::atomic<metrics::SignalNote*>::is_always_lock_free);
// Signals this process received (not the node's flag: every rank of a node may get its own
// first signal, e.g. SIGTERM to all ranks, and that is still a first signal), and the first
// one's number and time, for a job that binds after it came.
std::atomic<int> g_signals_received{0};
static_assert(std::atomic<int>::is_always_lock_free);
std::atomic<int> g_first_signal{0};
std::atomic<std::int64_t> g_first_signal_epoch_ns{0};
static_assert(std::atomic<std::int64_t>::is_always_lock_free);

std::int64_t now_epoch_ns() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);  // async-signal-safe
  return std::int64_t{now.tv_sec} * 1000000000 + now.tv_nsec;
}

void note_signal(metrics::SignalNote& note, int signal_number, std::int64_t epoch_ns) {
  note.epoch_ns.store(epoch_ns);
  note.number.store(static_cast<std::uint32_t>(signal_number));
  note.count.store(1);
}

extern "C" void on_interrupt(int signal_number) {
  if (g_signals_received.fetch_add(1) > 0) {
    static constexpr char kMessage[] = "shmjob: second signal: aborting now (flushed shards are kept for --resume)\n";
    [[maybe_unused]] const auto ignored = write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
    _exit(kExitAbortedBySignal + signal_number);
  }
  const std::int64_t epoch_ns = now_epoch_ns();
  g_first_signal_epoch_ns.store(epoch_ns);
  g_first_signal.store(signal_number);
  if (auto* note = g_signal_note.load()) note_signal(*note, signal_number, epoch_ns);
  if (auto* flag = g_interrupt_flag.load()) flag->store(1);
}

void install(struct sigaction (&previous)[3]) {
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (int i = 0; i < 3; ++i) sigaction(kSignals[i], &action, &previous[i]);
}
}  // namespace

InterruptHandler::InterruptHandler() { install(previous_); }

InterruptHandler::InterruptHandler(std::atomic<std::uint32_t>& flag, metrics::SignalNote* note)
    : previous_flag_(g_interrupt_flag.load()), previous_note_(g_signal_note.load()) {
  g_signal_note.store(note);
  g_interrupt_flag.store(&flag);
  install(previous_);
  // A first signal before the pipeline existed (start-up) stops it now. If one lands between
  // the stores above and this check, both paths store the same values.
  if (g_signals_received.load() > 0) {
    if (note) note_signal(*note, g_first_signal.load(), g_first_signal_epoch_ns.load());
    flag.store(1);
  }
}

InterruptHandler::~InterruptHandler() {
  for (int i = 0; i < 3; ++i) {
    // SIGUSR1 asks to drain: once the job is over there is nothing to drain, and its default
    // action (terminate) would turn a finished job into a failed one (e.g. Slurm's time-limit
    // warning arriving while the ranks finalize). TERM and INT keep their meaning.
    if (kSignals[i] == SIGUSR1 && previous_[i].sa_handler == SIG_DFL) {
      struct sigaction ignore {};
      ignore.sa_handler = SIG_IGN;
      sigemptyset(&ignore.sa_mask);
      sigaction(SIGUSR1, &ignore, nullptr);
      continue;
    }
    sigaction(kSignals[i], &previous_[i], nullptr);
  }
  g_interrupt_flag.store(previous_flag_);
  g_signal_note.store(previous_note_);
}

}  // namespace shmjob
