#include "metrics/job_records.hpp"

#include <hdf5.h>
#include <hwloc.h>
#include <mpi.h>
#include <zstd.h>

#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <map>
#include <optional>
#include <set>

#include "shmjob/version.hpp"

namespace shmjob::metrics {

nlohmann::json library_versions() {
  unsigned major = 0, minor = 0, release = 0;
  H5get_libversion(&major, &minor, &release);
  char mpi[MPI_MAX_LIBRARY_VERSION_STRING];
  int length = 0;
  MPI_Get_library_version(mpi, &length);
  std::string mpi_version(mpi, static_cast<std::size_t>(length));
  mpi_version = mpi_version.substr(0, mpi_version.find_first_of(",\n"));
  const unsigned hw = hwloc_get_api_version();
  return {{"shmjob", version()},
          {"zstd", ZSTD_versionString()},
          {"hdf5", std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(release)},
          {"mpi", mpi_version},
#ifdef SHMJOB_HWLOC_BUILD_VERSION
          {"hwloc", SHMJOB_HWLOC_BUILD_VERSION},
#endif
          {"hwloc_api",
           std::to_string(hw >> 16) + "." + std::to_string((hw >> 8) & 0xff) + "." + std::to_string(hw & 0xff)}};
}

std::string iso_time_utc(double epoch_seconds) {
  const auto t = static_cast<std::time_t>(epoch_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

nlohmann::json plan_json(const std::vector<RankPlacement>& ranks, const nlohmann::json& node0_plan) {
  nlohmann::json list = nlohmann::json::array();
  int nodes = 0;
  for (const auto& r : ranks) {
    list.push_back({{"rank", r.world_rank},
                    {"host", r.host},
                    {"node", r.node},
                    {"node_rank", r.node_rank},
                    {"role", role_name(static_cast<Role>(r.role))},
                    {"role_index", r.role_index},
                    {"lane", r.lane},
                    {"numa", r.numa},
                    {"bound", r.bound != 0},
                    {"pus", r.pus},
                    {"current_pu", r.current_pu},
                    {"binding", r.binding}});
    nodes = std::max(nodes, r.node + 1);
  }
  return {{"nodes", nodes}, {"ranks", list}, {"node0", node0_plan}};
}

nlohmann::json launch_info() {
  const auto env = [](const char* name) -> const char* { return std::getenv(name); };
  // Open MPI's mpirun (ORTE) gives its ranks the contact URI of the mpirun process; srun gives
  // each task its step id and process id, and no mpirun variables.
  std::string launcher = "unknown";
  if (env("OMPI_MCA_orte_hnp_uri") || env("OMPI_MCA_orte_local_daemon_uri") || env("PRTE_MCA_prte_hnp_uri"))
    launcher = "mpirun";
  else if (env("SLURM_STEP_ID") && env("SLURM_PROCID"))
    launcher = "srun";
  nlohmann::json info = {{"launcher", launcher}};
  for (const auto& [key, name] :
       {std::pair{"slurm_job_id", "SLURM_JOB_ID"}, std::pair{"slurm_step_id", "SLURM_STEP_ID"},
        std::pair{"slurm_nodelist", "SLURM_JOB_NODELIST"}, std::pair{"slurm_cluster", "SLURM_CLUSTER_NAME"}})
    if (const char* value = env(name)) info[key] = value;
  return info;
}

nlohmann::json start_record(const Config& config, const nlohmann::json& plan, double start_epoch_s,
                            const nlohmann::json& topology, const nlohmann::json& operands) {
  nlohmann::json hosts = nlohmann::json::array();
  std::set<std::string> seen;
  std::size_t ranks = 0;
  if (plan.contains("ranks"))
    for (const auto& r : plan["ranks"]) {
      ++ranks;
      const std::string host = r.value("host", "");
      if (seen.insert(host).second) hosts.push_back(host);
    }
  nlohmann::json record = {{"type", "job_start"},
                           {"schema_version", kSchemaVersion},
                           {"time", iso_time_utc(start_epoch_s)},
                           {"epoch_s", start_epoch_s},
                           {"job", config.job},
                           {"world_size", ranks},
                           {"hosts", hosts},
                           {"launch", launch_info()},
                           {"topology", topology},
                           {"config", to_json(config)},
                           {"plan", plan},
                           {"versions", library_versions()}};
  if (operands.is_array() && !operands.empty()) record["operands"] = operands;
  return record;
}

nlohmann::json event_record(double t, const std::string& level, const std::string& kind, int rank, int node,
                            const std::string& message) {
  return {{"type", "event"},
          {"t", t},
          {"level", level},
          {"kind", kind},
          {"rank", rank >= 0 ? nlohmann::json(rank) : nlohmann::json(nullptr)},
          {"node", node},
          {"message", message}};
}

std::uint64_t peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<std::uint64_t>(usage.ru_maxrss) * 1024;  // Linux: KiB
}

RankTotals rank_totals(const RankCounters& c) {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto tv = [](const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) * 1e-6; };
  const auto s = [](const std::atomic<std::uint64_t>& ns) { return static_cast<double>(ns.load()) * 1e-9; };
  RankTotals t{};
  t.cpu_s = tv(usage.ru_utime) + tv(usage.ru_stime);
  t.busy_s = s(c.busy_ns);
  t.wait_input_s = s(c.wait_input_ns);
  t.wait_slot_s = s(c.wait_slot_ns);
  t.wait_disk_s = s(c.wait_disk_ns);
  t.matrices = c.matrices.load();
  t.bytes_in = c.bytes_in.load();
  t.bytes_out = c.bytes_out.load();
  t.blocks = c.blocks.load();
  t.max_rss_bytes = static_cast<std::uint64_t>(usage.ru_maxrss) * 1024;  // Linux: KiB
  for (int b = 0; b < kLatencyBuckets; ++b) t.latency[static_cast<std::size_t>(b)] = c.latency[b].load();
  t.latency_max_s = s(c.latency_max_ns);
  t.transform_s = s(c.transform_ns);
  t.saturated = c.saturated.load();
  t.help = {c.helped_compressed.load(), c.helped_produced.load(), s(c.help_compress_ns), s(c.help_produce_ns)};
  t.compression = CompressionChoices::of(c);
  return t;
}

namespace {

// The writers' latency histograms merged: percentiles and the non-empty buckets.
nlohmann::json latency_record(const std::vector<RankPlacement>& ranks, const std::vector<RankTotals>& totals) {
  LatencyCounts merged{};
  double max_s = 0;
  for (std::size_t i = 0; i < ranks.size() && i < totals.size(); ++i) {
    if (static_cast<Role>(ranks[i].role) != Role::writer) continue;
    for (std::size_t b = 0; b < merged.size(); ++b) merged[b] += totals[i].latency[b];
    max_s = std::max(max_s, totals[i].latency_max_s);
  }
  nlohmann::json record = latency_summary(merged, max_s);
  nlohmann::json buckets = nlohmann::json::array();
  for (int b = 0; b < kLatencyBuckets; ++b) {
    if (merged[static_cast<std::size_t>(b)] == 0) continue;
    const double upper = latency_bucket_upper_s(b);
    buckets.push_back({latency_bucket_lower_s(b),
                       std::isfinite(upper) ? nlohmann::json(upper) : nlohmann::json(nullptr),
                       merged[static_cast<std::size_t>(b)]});
  }
  record["buckets"] = buckets;  // [lower_s, upper_s (null: unbounded), matrices]
  return record;
}

}  // namespace

namespace {
// A matrix's raw / stored bytes; none for a matrix stored in 0 bytes (not counted).
std::optional<double> compression_ratio(const IndexRow& row) {
  if (row.compressed_bytes == 0) return std::nullopt;
  return double(row.raw_bytes) / double(row.compressed_bytes);
}
}  // namespace

void WriterTotals::include_ratios(double lo, double hi) {
  const bool first = ratio_max == 0;
  ratio_min = first ? lo : std::min(ratio_min, lo);
  ratio_max = first ? hi : std::max(ratio_max, hi);
}

void WriterTotals::add(const IndexRow& row) {
  ++matrices;
  raw_bytes += row.raw_bytes;
  compressed_bytes += row.compressed_bytes;
  if (const std::optional<double> ratio = compression_ratio(row)) include_ratios(*ratio, *ratio);
}

void WriterTotals::merge(const WriterTotals& other) {
  matrices += other.matrices;
  raw_bytes += other.raw_bytes;
  compressed_bytes += other.compressed_bytes;
  if (other.ratio_max != 0) include_ratios(other.ratio_min, other.ratio_max);
}

nlohmann::json node_shares(const std::vector<RankPlacement>& ranks, const std::vector<RankTotals>& totals,
                           const std::vector<WriterTotals>& writers, bool operands) {
  struct Share {
    std::string host;
    int ranks = 0;
    std::uint64_t matrices = 0, raw_bytes = 0, blocks = 0, shards = 0, operand_bytes = 0;
    nlohmann::json loads = nlohmann::json::array();
  };
  std::map<int, Share> by_node;
  for (std::size_t i = 0; i < ranks.size(); ++i) {
    Share& share = by_node[ranks[i].node];
    if (share.host.empty()) share.host = ranks[i].host;
    ++share.ranks;
    if (i < totals.size()) {
      share.blocks += totals[i].blocks;
      share.operand_bytes = std::max(share.operand_bytes, totals[i].operand_bytes_on_node);
      if (totals[i].operand_bytes_loaded > 0)
        share.loads.push_back({{"rank", ranks[i].world_rank},
                               {"bytes", totals[i].operand_bytes_loaded},
                               {"seconds", totals[i].operand_load_s}});
    }
    if (i < writers.size() && writers[i].matrices > 0) {
      share.matrices += writers[i].matrices;
      share.raw_bytes += writers[i].raw_bytes;
      ++share.shards;
    }
  }
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [node, share] : by_node) {
    nlohmann::json n = {{"node", node},
                        {"host", share.host},
                        {"ranks", share.ranks},
                        {"matrices", share.matrices},
                        {"raw_bytes", share.raw_bytes},
                        {"shards", share.shards},
                        {"blocks", share.blocks}};
    if (operands) {
      n["operand_bytes"] = share.operand_bytes;
      n["operand_loads"] = share.loads;
    }
    out.push_back(std::move(n));
  }
  return out;
}

RatioDistribution::RatioDistribution(double min, double max)
    : min_(min),
      max_(std::max(min, max)),
      fine_(static_cast<std::size_t>(kFineBins), 0),
      shown_(static_cast<std::size_t>(max_ > min_ ? kShownBins : 1), 0) {}

void RatioDistribution::add(const IndexRow& row) {
  const std::optional<double> r = compression_ratio(row);
  if (!r) return;
  const auto bin = [&](std::size_t bins) {
    const int b = max_ > min_ ? static_cast<int>((*r - min_) / (max_ - min_) * double(bins)) : 0;
    return static_cast<std::size_t>(std::clamp(b, 0, static_cast<int>(bins) - 1));
  };
  ++fine_[bin(fine_.size())];
  ++shown_[bin(shown_.size())];
  ++n_;
}

nlohmann::json RatioDistribution::json() const {
  nlohmann::json d = {{"n", n_}};
  if (n_ == 0) return d;
  const double width = (max_ - min_) / kFineBins;
  // The value of fractional rank `position` (0 .. n-1), spreading each bin's ratios evenly
  // across it: what the exact quantile's linear interpolation gives, to within one bin.
  const auto quantile = [&](double q) {
    const double position = q * static_cast<double>(n_ - 1);
    double before = 0;
    for (int b = 0; b < kFineBins; ++b) {
      const auto count = static_cast<double>(fine_[static_cast<std::size_t>(b)]);
      if (count > 0 && position < before + count)
        return std::clamp(min_ + width * (b + (position - before + 0.5) / count), min_, max_);
      before += count;
    }
    return max_;
  };
  const int bins = static_cast<int>(shown_.size());
  std::vector<double> edges;
  for (int b = 0; b <= bins; ++b) edges.push_back(max_ > min_ ? min_ + (max_ - min_) * b / bins : min_);
  d.update({{"min", min_},
            {"p10", quantile(0.1)},
            {"p50", quantile(0.5)},
            {"p90", quantile(0.9)},
            {"max", max_},
            {"edges", edges},
            {"counts", shown_}});
  return d;
}

nlohmann::json end_record(const JobSummary& s, const std::vector<RankPlacement>& ranks,
                          const std::vector<RankTotals>& totals, const std::vector<WriterTotals>& writers,
                          const nlohmann::json& compression_ratios, const DiagnosisContext& diagnosis,
                          const std::string& error, bool operands) {
  nlohmann::json per_rank = nlohmann::json::array();
  std::map<std::string, double> cpu_by_role;
  StageTimes stages{};
  for (std::size_t i = 0; i < ranks.size() && i < totals.size(); ++i) {
    const std::string role(role_name(static_cast<Role>(ranks[i].role)));
    const RankTotals& t = totals[i];
    per_rank.push_back({{"rank", ranks[i].world_rank},
                        {"role", role},
                        {"node", ranks[i].node},
                        {"cpu_s", t.cpu_s},
                        {"busy_s", t.busy_s},
                        {"wait_s", t.wait_input_s + t.wait_slot_s + t.wait_disk_s},
                        {"wait_input_s", t.wait_input_s},
                        {"wait_slot_s", t.wait_slot_s},
                        {"wait_disk_s", t.wait_disk_s},
                        {"max_rss_bytes", t.max_rss_bytes},
                        {"matrices", t.matrices},
                        {"bytes_in", t.bytes_in},
                        {"bytes_out", t.bytes_out}});
    add_compression_share(per_rank.back(), stages, diagnosis.transform, role == "compressor", t.transform_s,
                          t.saturated, t.help, t.compression);
    cpu_by_role[role] += t.cpu_s;
    if (const int stage = stage_index(role); stage >= 0) {
      StageTime& st = stages[static_cast<std::size_t>(stage)];
      ++st.ranks;
      st.busy_s += t.busy_s;
      st.wait_input_s += t.wait_input_s;
      st.wait_slot_s += t.wait_slot_s;
      st.wait_disk_s += t.wait_disk_s;
      st.cpu_s += t.cpu_s;
      st.matrices += t.matrices;
    }
  }
  DiagnosisContext context = diagnosis;
  context.seconds = s.seconds;
  nlohmann::json record = {{"type", "job_end"},
                           {"status", s.status},
                           {"matrices", s.matrices},
                           {"expected", s.expected},
                           {"seconds", s.seconds},
                           {"wall_seconds", s.wall_seconds},
                           {"raw_bytes", s.raw_bytes},
                           {"compressed_bytes", s.compressed_bytes},
                           {"mb_per_s_in", s.mb_per_s_in()},
                           {"mb_per_s_out", s.mb_per_s_out()},
                           {"matrices_per_s", s.matrices_per_s()},
                           {"ratio", s.ratio()},
                           {"cpu_s_by_role", cpu_by_role},
                           {"stages", stage_utilisation(stages, s.seconds, context.transform)},
                           {"bottleneck", diagnose(stages, context)},
                           {"latency", latency_record(ranks, totals)},
                           {"compression_ratios", compression_ratios},
                           {"ranks", per_rank},
                           {"nodes", node_shares(ranks, totals, writers, operands)}};
  if (!error.empty()) record["error"] = error;
  return record;
}

}  // namespace shmjob::metrics
