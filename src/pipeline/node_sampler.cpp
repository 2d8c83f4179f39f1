#include "pipeline/node_sampler.hpp"

#include <signal.h>
#include <string.h>

#include <cstdio>
#include <string>
#include <vector>

#include "metrics/job_records.hpp"
#include "metrics/proc_stats.hpp"
#include "pipeline/adaptive_level.hpp"
#include "pipeline/stage_context.hpp"

namespace shmjob::metrics {
namespace {

std::uint64_t load(const std::atomic<std::uint64_t>& v) { return v.load(std::memory_order_relaxed); }
double seconds(const std::atomic<std::uint64_t>& ns) { return static_cast<double>(load(ns)) * 1e-9; }

std::string signal_name(std::uint32_t number) {
  if (const char* abbrev = sigabbrev_np(static_cast<int>(number))) return std::string("SIG") + abbrev;
  return "signal " + std::to_string(number);
}

}  // namespace

NodeSampler::NodeSampler(const stages::StageContext& ctx, int node_index, MetricsLog& log, DiagnosisContext diagnosis,
                         double stall_s, double abort_s)
    : ctx_(ctx),
      node_index_(node_index),
      log_(log),
      diagnosis_(diagnosis),
      signals_seen_(ctx.plan().ranks.size(), 0),
      error_seen_(ctx.plan().ranks.size(), false),
      stalls_(stall_s, abort_s) {}

nlohmann::json NodeSampler::tick() {
  ctx_.control().sampler_ticks.fetch_add(1, std::memory_order_relaxed);
  append_events();
  watch_for_stalls();
  nlohmann::json record = sample();
  log_.append(record);
  return record;
}

void NodeSampler::append_events() {
  // Seconds since the job started of a CLOCK_REALTIME stamp.
  const double start_epoch = stages::wall_clock_seconds() - ctx_.now();
  const auto t_of = [&](std::int64_t epoch_ns) { return static_cast<double>(epoch_ns) * 1e-9 - start_epoch; };
  for (const auto& r : ctx_.plan().ranks) {
    const RankCounters& c = ctx_.counters(r.node_rank);
    const auto i = static_cast<std::size_t>(r.node_rank);
    const int rank = ctx_.world_rank(r.node_rank);
    const std::uint32_t signals = c.signal.count.load();
    if (signals != signals_seen_[i]) {
      const std::string name = signal_name(c.signal.number.load());
      const std::uint32_t n = signals - signals_seen_[i];
      log_.append(event_record(t_of(c.signal.epoch_ns.load()), "warning", "signal", rank, node_index_,
                               "rank " + std::to_string(rank) + " received " + name +
                                   (n > 1 ? " (" + std::to_string(n) + " signals since the last sample)" : "") +
                                   ": production stops, matrices in flight are finished"));
      signals_seen_[i] = signals;
    }
    if (!error_seen_[i] && c.error_set.load(std::memory_order_acquire) != 0) {
      log_.append(event_record(t_of(c.error_epoch_ns.load()), "error", "error", rank, node_index_,
                               std::string(c.error, strnlen(c.error, sizeof c.error))));
      error_seen_[i] = true;
    }
  }
}

// Writers with matrices in their inbox, compressors with matrices ready and a free slot of
// their own, and producers with work left and enough free slots to wake for must finish
// something now and then.
void NodeSampler::watch_for_stalls() {
  std::vector<RankProgress> ranks;
  for (const auto& r : ctx_.plan().ranks) {
    if (r.role == Role::idle) continue;
    const RankCounters& c = ctx_.counters(r.node_rank);
    RankProgress p;
    p.rank = ctx_.world_rank(r.node_rank);
    p.name = std::string(role_name(r.role)) + " " + std::to_string(r.role_index);
    p.done = load(c.matrices);
    const bool finished = c.stage_done.load(std::memory_order_acquire) != 0;
    const shm::SharedQueue& queue = ctx_.queue(r.node_rank);
    if (r.role == Role::writer) {
      p.waiting = finished ? 0 : queue.approx_size();
      p.idle = "has written nothing";
      p.waits = "matrices wait in its inbox";
    } else if (r.role == Role::compressor) {
      const bool free_slot = queue.approx_size() > 0;
      p.waiting = free_slot && !finished ? ctx_.ready_queue(r.lane).approx_size() : 0;
      p.idle = "has compressed nothing";
      p.waits = "matrices wait ready to compress";
    } else {
      // A producer sleeps until half of its slots are free (Production's wake batch).
      const std::uint64_t free_slots = queue.approx_size();
      const std::uint64_t wakes_at = std::max<std::uint64_t>(1, queue.capacity() / 2);
      p.waiting = !finished && free_slots >= wakes_at ? free_slots : 0;
      p.idle = "has produced nothing";
      p.waits = "of its raw slots are free";
    }
    ranks.push_back(std::move(p));
  }
  const std::string abort =
      report_stall_notes(stalls_.observe(ctx_.now(), ranks), [&](const char* level, const StallNote& note) {
        log_.append(event_record(ctx_.now(), level, "stall", note.rank, node_index_, note.message));
      });
  if (abort_reason_.empty()) abort_reason_ = abort;  // the caller ends the job and says why
}

nlohmann::json NodeSampler::compression_now(const CompressionChoices& node_choices) const {
  nlohmann::json out = node_choices.json();
  out["level"] = stages::current_level(ctx_);
  return out;
}

nlohmann::json NodeSampler::sample() {
  const double t = ctx_.now();
  nlohmann::json ranks = nlohmann::json::array();
  std::uint64_t written = 0;
  StageTimes stages{};
  LatencyCounts latency{};
  double latency_max = 0;
  std::uint64_t raw_in_use = 0, raw_total = 0, compressed_in_use = 0, compressed_total = 0;
  nlohmann::json inboxes = nlohmann::json::array();
  CompressionChoices node_choices;
  for (const auto& r : ctx_.plan().ranks) {
    const RankCounters& c = ctx_.counters(r.node_rank);
    const std::string role(role_name(r.role));
    nlohmann::json entry = {{"rank", ctx_.world_rank(r.node_rank)},
                            {"role", role},
                            {"matrices", load(c.matrices)},
                            {"bytes_in", load(c.bytes_in)},
                            {"bytes_out", load(c.bytes_out)},
                            {"busy_s", seconds(c.busy_ns)},
                            {"wait_s", static_cast<double>(c.wait_ns()) * 1e-9},
                            {"wait_input_s", seconds(c.wait_input_ns)},
                            {"wait_slot_s", seconds(c.wait_slot_ns)},
                            {"wait_disk_s", seconds(c.wait_disk_ns)}};
    const HelpDone help{load(c.helped_compressed), load(c.helped_produced), seconds(c.help_compress_ns),
                        seconds(c.help_produce_ns)};
    const CompressionChoices chosen = CompressionChoices::of(c);
    add_compression_share(entry, stages, diagnosis_.transform, r.role == Role::compressor, seconds(c.transform_ns),
                          load(c.saturated), help, chosen);
    node_choices.add(chosen);
    double cpu = 0;
    if (const auto pid = load(c.pid); pid != 0)
      if (const auto proc = read_proc_stats(static_cast<pid_t>(pid))) {
        entry["cpu_s"] = cpu = proc->cpu_s;
        entry["rss_bytes"] = proc->rss_bytes;
      }
    const shm::SegmentLayout& layout = ctx_.layout(r.node_rank);
    if (r.role == Role::producer || r.role == Role::compressor) {
      const std::uint64_t free_slots = ctx_.queue(r.node_rank).approx_size();
      const std::uint64_t in_use = layout.slot_count > free_slots ? layout.slot_count - free_slots : 0;
      entry["slots_in_use"] = in_use;
      entry["slots"] = layout.slot_count;
      (r.role == Role::producer ? raw_in_use : compressed_in_use) += in_use;
      (r.role == Role::producer ? raw_total : compressed_total) += layout.slot_count;
    }
    if (r.role == Role::writer) {
      written += load(c.matrices);
      const std::uint64_t depth = ctx_.queue(r.node_rank).approx_size();
      entry["queue"] = depth;
      inboxes.push_back(depth);
      for (int b = 0; b < kLatencyBuckets; ++b) latency[static_cast<std::size_t>(b)] += load(c.latency[b]);
      latency_max = std::max(latency_max, seconds(c.latency_max_ns));
    }
    if (const int s = stage_index(role); s >= 0) {
      StageTime& st = stages[static_cast<std::size_t>(s)];
      ++st.ranks;
      st.busy_s += seconds(c.busy_ns);
      st.wait_input_s += seconds(c.wait_input_ns);
      st.wait_slot_s += seconds(c.wait_slot_ns);
      st.wait_disk_s += seconds(c.wait_disk_ns);
      st.cpu_s += cpu;
      st.matrices += load(c.matrices);
    }
    ranks.push_back(std::move(entry));
  }
  nlohmann::json ready = nlohmann::json::array();
  for (int lane = 0; lane < ctx_.lanes(); ++lane) ready.push_back(ctx_.ready_queue(lane).approx_size());

  LatencyCounts interval{};
  for (std::size_t b = 0; b < interval.size(); ++b)
    interval[b] = latency[b] >= previous_latency_[b] ? latency[b] - previous_latency_[b] : 0;
  previous_latency_ = latency;

  std::uint64_t expected = 0;
  for (int w = 0; w < ctx_.order().writers(); ++w) expected += ctx_.order().writer_total(w);
  // Several nodes: how many this node writes is decided as it goes; expected is the job's.
  if (ctx_.handout() != nullptr) expected = ctx_.handout()->ids.size();
  DiagnosisContext diagnosis = diagnosis_;
  diagnosis.seconds = t;
  return {{"type", "sample"},
          {"t", t},
          {"node", node_index_},
          {"written", written},
          {"expected", expected},
          {"queues", {{"ready", ready}, {"writer_inbox", inboxes}}},
          {"slots",
           {{"raw_in_use", raw_in_use},
            {"raw_total", raw_total},
            {"compressed_in_use", compressed_in_use},
            {"compressed_total", compressed_total}}},
          {"compression", compression_now(node_choices)},
          {"latency", latency_summary(interval, 0)},
          {"latency_total", latency_summary(latency, latency_max)},
          {"stages", stage_utilisation(stages, t, diagnosis.transform)},
          {"bottleneck", diagnose(stages, diagnosis)},
          {"ranks", ranks}};
}

}  // namespace shmjob::metrics
