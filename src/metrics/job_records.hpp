#pragma once
// The JSON records of the metrics log and the plan/summary stored in the master file.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "metrics/bottleneck.hpp"
#include "metrics/compression_choices.hpp"
#include "metrics/latency_histogram.hpp"
#include "metrics/rank_counters.hpp"
#include "shmjob/index_row.hpp"
#include "topology/role_plan.hpp"

namespace shmjob::metrics {

// One rank's place in the job, gathered on rank 0 (fixed size: sent as bytes).
struct RankPlacement {
  std::int32_t world_rank, node, node_rank, role, role_index, lane, numa;
  std::int32_t bound;       // 1 if its CPU binding was applied
  std::int32_t current_pu;  // the PU it ran on after binding (-1: unknown)
  char host[64];
  char pus[128];      // cpulist of the PUs it is bound to ("" if not bound)
  char binding[160];  // what was bound, or why not
};

// One rank's totals at the end, gathered on rank 0 (fixed size: sent as bytes).
struct RankTotals {
  double cpu_s, busy_s, wait_input_s, wait_slot_s, wait_disk_s;
  std::uint64_t matrices, bytes_in, bytes_out;
  std::uint64_t max_rss_bytes;
  std::uint64_t blocks;   // producers on several nodes: blocks claimed
  LatencyCounts latency;  // writers only
  double latency_max_s;
  double transform_s;       // the part of compressing (own or helped) in the transform and the reductions
  std::uint64_t saturated;  // values the transform's casts clamped in the matrices it compressed
  HelpDone help;            // elastic stages: what it did for other stages
  CompressionChoices compression;
  // The transform's operands (zeros without): bytes of every copy on this rank's node, the bytes
  // of the copies this rank read (it holds them) and how long its reads took.
  std::uint64_t operand_bytes_on_node, operand_bytes_loaded;
  double operand_load_s;
};
// One writer's totals at the end, gathered on rank 0 (fixed size: sent as bytes; zeros for the
// other roles). The writer keeps these instead of its index rows, which are in its shard.
struct WriterTotals {
  std::uint64_t matrices = 0, raw_bytes = 0, compressed_bytes = 0;
  double ratio_min = 0, ratio_max = 0;  // raw / stored bytes over its matrices (0: none)
  void add(const IndexRow& row);
  void merge(const WriterTotals& other);  // the job's totals from the writers'

 private:
  void include_ratios(double lo, double hi);
};

// This rank's totals from its counters and its own resource usage.
RankTotals rank_totals(const RankCounters& counters);
// This process's peak resident set so far (getrusage).
std::uint64_t peak_rss_bytes();

nlohmann::json library_versions();
std::string iso_time_utc(double epoch_seconds);

// The plan as recorded: node 0's plan (lanes, stage counts, notes: plan_to_json) plus every
// rank's placement and binding.
nlohmann::json plan_json(const std::vector<RankPlacement>& ranks, const nlohmann::json& node0_plan);

// How the job was launched, from the environment: {"launcher": "mpirun" | "srun" | "unknown",
// "slurm_job_id": ... (if any), "slurm_step_id", "slurm_nodelist"}.
nlohmann::json launch_info();

inline constexpr int kSchemaVersion = 1;  // docs/metrics.md, analysis/metrics.schema.json

// `operands`: the "operands" list (a JSON array; omitted when null or empty).
nlohmann::json start_record(const Config& config, const nlohmann::json& plan, double start_epoch_s,
                            const nlohmann::json& topology, const nlohmann::json& operands = nullptr);
// {"type": "event", "t", "level": "info" | "warning" | "error", "kind", "rank" (or null), "node",
//  "message"}
nlohmann::json event_record(double t, const std::string& level, const std::string& kind, int rank, int node,
                            const std::string& message);

struct JobSummary {
  std::string status;
  std::uint64_t matrices = 0;
  std::uint64_t expected = 0;  // matrices the job was to write
  double seconds = 0;          // data flow: setup done to last shard closed
  double wall_seconds = 0;     // including setup and the master file
  std::uint64_t raw_bytes = 0, compressed_bytes = 0;
  double mb_per_s_in() const { return seconds > 0 ? static_cast<double>(raw_bytes) / seconds / 1e6 : 0; }
  double mb_per_s_out() const { return seconds > 0 ? static_cast<double>(compressed_bytes) / seconds / 1e6 : 0; }
  double ratio() const { return compressed_bytes > 0 ? double(raw_bytes) / double(compressed_bytes) : 0; }
  double matrices_per_s() const { return seconds > 0 ? static_cast<double>(matrices) / seconds : 0; }
};

// Per node (from the writers' totals): {"node", "host", "ranks", "matrices", "raw_bytes",
// "shards", "blocks"}: each node's share of the job; shards are its writers that wrote a matrix;
// blocks are those its producers claimed job-wide (0 on a single node, which splits its ids
// statically). With `operands` (the job has some), also "operand_bytes" (every copy on the node)
// and "operand_loads": [{"rank", "bytes", "seconds"}] of the ranks that read copies (the
// holders). The vectors are indexed by world rank.
nlohmann::json node_shares(const std::vector<RankPlacement>& ranks, const std::vector<RankTotals>& totals,
                           const std::vector<WriterTotals>& writers, bool operands = false);

// The compression ratios (raw / stored bytes) of a job's matrices, given one at a time, with
// their range known in advance (the writers' ratio_min/ratio_max): n, min, max, p10/p50/p90
// (from 4096 equal bins across the range, interpolated: within 1/4096 of the range of the exact
// quantile) and a 20-bin histogram. Fixed memory for any number of matrices.
class RatioDistribution {
 public:
  RatioDistribution(double min, double max);
  void add(const IndexRow& row);
  nlohmann::json json() const;

 private:
  static constexpr int kFineBins = 4096, kShownBins = 20;
  double min_, max_;
  std::uint64_t n_ = 0;
  std::vector<std::uint64_t> fine_;   // for the quantiles
  std::vector<std::uint64_t> shown_;  // the histogram (one bin when all ratios are equal)
};

// Totals, rates, per-stage utilisation, latency and compression-ratio distributions and the
// bottleneck verdict.
nlohmann::json end_record(const JobSummary& summary, const std::vector<RankPlacement>& ranks,
                          const std::vector<RankTotals>& totals, const std::vector<WriterTotals>& writers,
                          const nlohmann::json& compression_ratios, const DiagnosisContext& diagnosis,
                          const std::string& error, bool operands = false);

}  // namespace shmjob::metrics
