#include "metrics/stall_watch.hpp"

#include <cmath>
#include <cstdio>

#include "util/printable.hpp"

namespace shmjob::metrics {

std::vector<StallNote> StallWatch::observe(double t, std::span<const RankProgress> ranks) {
  std::vector<StallNote> notes;
  if (stall_s_ <= 0 && abort_s_ <= 0) return notes;
  if (seen_.size() != ranks.size()) seen_.assign(ranks.size(), Seen{0, t, false, false});
  // The watcher itself did not run for longer than a threshold (its process was stopped): the
  // others' silence over that gap says nothing about them, so their clocks restart.
  const double threshold = stall_s_ > 0 ? stall_s_ : abort_s_;
  if (observed_ && t - last_t_ > threshold)
    for (Seen& s : seen_)
      if (!s.warned) s.since = t;
  observed_ = true;
  last_t_ = t;
  for (std::size_t i = 0; i < ranks.size(); ++i) {
    const RankProgress& r = ranks[i];
    Seen& s = seen_[i];
    const std::string who = "rank " + std::to_string(r.rank) + " (" + r.name + ")";
    if (r.done != s.done || r.waiting == 0) {
      if (s.warned)
        notes.push_back(
            {false, false, r.rank, who + " moves again after " + std::to_string(std::lround(t - s.since)) + " s"});
      s = {r.done, t, false, false};
      continue;
    }
    std::string stalled = who + " " + r.idle + " for " + std::to_string(std::lround(t - s.since)) + " s";
    if (!r.waits.empty()) stalled += " while " + std::to_string(r.waiting) + " " + r.waits;
    if (stall_s_ > 0 && !s.warned && t - s.since >= stall_s_) {
      s.warned = true;
      notes.push_back({true, false, r.rank,
                       stalled + ": is the process stopped, or does its file system hang? (watchdog.stall_s)"});
    }
    if (abort_s_ > 0 && !s.aborted && t - s.since >= abort_s_) {
      s.aborted = s.warned = true;
      notes.push_back(
          {true, true, r.rank,
           "watchdog: " + stalled + ": ending the job (watchdog.abort_s); what was flushed is kept for --resume"});
    }
  }
  return notes;
}

std::string report_stall_notes(std::span<const StallNote> notes,
                               const std::function<void(const char* level, const StallNote&)>& record) {
  std::string abort;
  for (const StallNote& note : notes) {
    if (note.abort) {
      record("error", note);
      if (abort.empty()) abort = note.message;
      continue;
    }
    record(note.stalled ? "warning" : "info", note);
    std::fprintf(stderr, "shmjob: %s: %s\n", note.stalled ? "warning" : "note", printable(note.message).c_str());
  }
  return abort;
}

}  // namespace shmjob::metrics
