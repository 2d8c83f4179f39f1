#include "pipeline/sampler_watch.hpp"

#include <cstdio>
#include <exception>
#include <utility>

#include "metrics/job_records.hpp"
#include "pipeline/stage_context.hpp"
#include "util/printable.hpp"

namespace shmjob::metrics {

namespace {
double with_interval(double threshold_s, double interval_s) { return threshold_s > 0 ? threshold_s + interval_s : 0; }
}  // namespace

SamplerWatch::SamplerWatch(const stages::StageContext& ctx, int node_index, std::filesystem::path log_path,
                           double interval_s, double stall_s, double abort_s)
    : ctx_(ctx),
      node_index_(node_index),
      log_path_(std::move(log_path)),
      watch_(with_interval(stall_s, interval_s), with_interval(abort_s, interval_s)) {}

void SamplerWatch::tick() {
  const RankPlan& sampler = ctx_.plan().ranks.at(0);
  const RankProgress progress{ctx_.world_rank(0),
                              std::string(role_name(sampler.role)) + " " + std::to_string(sampler.role_index) +
                                  ", which samples node " + std::to_string(node_index_),
                              ctx_.control().sampler_ticks.load(std::memory_order_relaxed),
                              1,
                              "has not run",
                              ""};
  const std::string abort = report_stall_notes(watch_.observe(ctx_.now(), {&progress, 1}),
                                               [&](const char* level, const StallNote& note) { record(level, note); });
  if (abort_reason_.empty()) abort_reason_ = abort;  // the caller ends the job and says why
}

// The log is rank 0's; a line appended here is one write(2) to a file opened O_APPEND, so it
// never tears rank 0's lines. A log that cannot be opened leaves stderr as the only record.
void SamplerWatch::record(const std::string& level, const StallNote& note) {
  try {
    if (!log_) log_.emplace(log_path_, MetricsLog::Open::append);
    log_->append(event_record(ctx_.now(), level, "stall", note.rank, node_index_, note.message));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shmjob: warning: %s\n", printable(e.what()).c_str());
  }
}

}  // namespace shmjob::metrics
