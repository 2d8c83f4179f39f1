#pragma once
// The stall watchdog: a rank that has work waiting for it but finishes nothing for stall_s
// seconds is named (a stopped process, a hung file system), once per stall, and again when it
// moves. Pure logic over what the node's sampler reads from the counters, so it is tested
// without MPI.
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace shmjob::metrics {

struct RankProgress {
  int rank = 0;               // global rank
  std::string name;           // "writer 0", "compressor 2"
  std::uint64_t done = 0;     // progress so far (matrices finished, samples taken)
  std::uint64_t waiting = 0;  // work waiting for it (0: it has nothing to do)
  std::string idle;           // what no progress means: "has written nothing"
  std::string waits;          // follows "while <waiting> ": "matrices wait in its inbox"; empty: no such clause
};

struct StallNote {
  bool stalled = true;  // false: it moves again
  bool abort = false;   // stalled for abort_s: the job should end
  int rank = 0;
  std::string message;
};

class StallWatch {
 public:
  // 0 turns either threshold off.
  explicit StallWatch(double stall_s, double abort_s = 0) : stall_s_(stall_s), abort_s_(abort_s) {}
  // The ranks as of time `t` (seconds), always in the same order; returns what to report now.
  // A gap since the previous call longer than the threshold (the watcher was not running)
  // restarts every clock.
  std::vector<StallNote> observe(double t, std::span<const RankProgress> ranks);

 private:
  struct Seen {
    std::uint64_t done = 0;
    double since = 0;  // last progress, or the last time it had nothing to do
    bool warned = false;
    bool aborted = false;
  };
  double stall_s_, abort_s_;
  std::vector<Seen> seen_;
  bool observed_ = false;
  double last_t_ = 0;  // the previous observe()
};

// Hands each note to `record` with its level ("error" for an abort, "warning" for a stall,
// "info" when the rank moves again) and prints stalls and recoveries on stderr; an abort is left
// to the caller, which ends the job: returns the first abort's message, or "".
std::string report_stall_notes(std::span<const StallNote> notes,
                               const std::function<void(const char* level, const StallNote&)>& record);

}  // namespace shmjob::metrics
