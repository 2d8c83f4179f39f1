// The signal handlers' two scopes (src/job/interrupt.hpp). Each case runs in a forked child (death
// tests): the handlers and what they counted are process-wide.
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdint>

#include "job/interrupt.hpp"

namespace shmjob {
namespace {

// _exit codes of a child whose check failed, told apart from the expected exit.
constexpr int kFlagNotSet = 10;
constexpr int kNoteWrong = 11;
constexpr int kFlagSetLate = 12;

TEST(InterruptHandlerDeathTest, AFirstSignalDuringTheJobSetsTheFlagAndASecondAborts) {
  EXPECT_EXIT(
      {
        std::atomic<std::uint32_t> flag{0};
        metrics::SignalNote note;
        const InterruptHandler job(flag, &note);
        std::raise(SIGUSR1);
        if (flag.load() != 1) _exit(kFlagNotSet);
        if (note.number.load() != SIGUSR1 || note.count.load() != 1 || note.epoch_ns.load() <= 0) _exit(kNoteWrong);
        std::raise(SIGTERM);
        _exit(0);
      },
      testing::ExitedWithCode(128 + SIGTERM), "second signal: aborting now");
}

TEST(InterruptHandlerDeathTest, ASignalBeforeTheJobMakesItDrainOnceBound) {
  EXPECT_EXIT(
      {
        const InterruptHandler process;
        std::raise(SIGTERM);  // start-up: counted, not fatal
        std::atomic<std::uint32_t> flag{0};
        metrics::SignalNote note;
        {
          const InterruptHandler job(flag, &note);
          if (flag.load() != 1) _exit(kFlagNotSet);
          if (note.number.load() != SIGTERM || note.count.load() != 1) _exit(kNoteWrong);
        }
        std::raise(SIGINT);  // still the process's second signal
        _exit(0);
      },
      testing::ExitedWithCode(128 + SIGINT), "second signal");
}

TEST(InterruptHandlerDeathTest, ASignalAfterTheJobIsCountedNotFatal) {
  EXPECT_EXIT(
      {
        const InterruptHandler process;
        std::atomic<std::uint32_t> flag{0};
        { const InterruptHandler job(flag); }
        std::raise(SIGTERM);  // the job's work is done: nothing to drain, nothing to kill
        if (flag.load() != 0) _exit(kFlagSetLate);
        _exit(0);
      },
      testing::ExitedWithCode(0), "");
}

TEST(InterruptHandlerDeathTest, TheProcessScopeRestoresTheDefaultsButIgnoresALateDrain) {
  EXPECT_EXIT(
      {
        { const InterruptHandler process; }
        std::raise(SIGUSR1);  // a drain request after the job: ignored
        std::raise(SIGTERM);  // the default action again
        _exit(0);
      },
      testing::KilledBySignal(SIGTERM), "");
}

}  // namespace
}  // namespace shmjob
