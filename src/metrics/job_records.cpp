#include "metrics/job_records.hpp"

#include <hdf5.h>
#include <hwloc.h>
#include <mpi.h>
#include <zstd.h>

#include <ctime>
#include <map>

#include "shmjob/version.hpp"
#include "stages/stage_context.hpp"

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
          {"hwloc_api", std::to_string(hw >> 16) + "." + std::to_string((hw >> 8) & 0xff) + "." +
                        std::to_string(hw & 0xff)}};
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
    list.push_back({{"rank", r.world_rank}, {"host", r.host}, {"node", r.node},
                    {"node_rank", r.node_rank}, {"role", role_name(static_cast<Role>(r.role))},
                    {"role_index", r.role_index}, {"lane", r.lane}, {"numa", r.numa},
                    {"bound", r.bound != 0}, {"pus", r.pus}, {"current_pu", r.current_pu},
                    {"binding", r.binding}});
    nodes = std::max(nodes, r.node + 1);
  }
  return {{"nodes", nodes}, {"ranks", list}, {"node0", node0_plan}};
}

nlohmann::json start_record(const Config& config, const nlohmann::json& plan, double start_epoch_s) {
  return {{"type", "job_start"}, {"time", iso_time_utc(start_epoch_s)}, {"job", config.job},
          {"config", to_json(config)}, {"plan", plan}, {"versions", library_versions()}};
}

nlohmann::json sample_record(const stages::StageContext& ctx, int node_index) {
  nlohmann::json ranks = nlohmann::json::array();
  std::uint64_t written = 0;
  for (const auto& r : ctx.plan().ranks) {
    const RankCounters& c = ctx.counters(r.node_rank);
    const auto load = [](const std::atomic<std::uint64_t>& v) { return v.load(std::memory_order_relaxed); };
    if (r.role == Role::writer) written += load(c.matrices);
    ranks.push_back({{"rank", ctx.world_rank(r.node_rank)}, {"role", role_name(r.role)},
                     {"matrices", load(c.matrices)}, {"bytes_in", load(c.bytes_in)},
                     {"bytes_out", load(c.bytes_out)}, {"busy_s", static_cast<double>(load(c.busy_ns)) * 1e-9},
                     {"wait_s", static_cast<double>(load(c.wait_ns)) * 1e-9}});
  }
  std::uint64_t expected = 0;
  for (int w = 0; w < ctx.order().writers(); ++w) expected += ctx.order().writer_total(w);
  return {{"type", "sample"}, {"t", ctx.now()}, {"node", node_index},
          {"written", written}, {"expected", expected}, {"ranks", ranks}};
}

nlohmann::json end_record(const JobSummary& s, const std::vector<RankPlacement>& ranks,
                          const std::vector<RankTotals>& totals, const std::string& error) {
  nlohmann::json per_rank = nlohmann::json::array();
  std::map<std::string, double> cpu_by_role;
  for (std::size_t i = 0; i < ranks.size() && i < totals.size(); ++i) {
    const std::string role(role_name(static_cast<Role>(ranks[i].role)));
    const RankTotals& t = totals[i];
    per_rank.push_back({{"rank", ranks[i].world_rank}, {"role", role}, {"cpu_s", t.cpu_s},
                        {"busy_s", t.busy_s}, {"wait_s", t.wait_s}, {"matrices", t.matrices},
                        {"bytes_in", t.bytes_in}, {"bytes_out", t.bytes_out}});
    cpu_by_role[role] += t.cpu_s;
  }
  nlohmann::json record = {{"type", "job_end"},
                           {"status", s.status},
                           {"matrices", s.matrices},
                           {"seconds", s.seconds},
                           {"wall_seconds", s.wall_seconds},
                           {"raw_bytes", s.raw_bytes},
                           {"compressed_bytes", s.compressed_bytes},
                           {"mb_per_s_in", s.mb_per_s_in()},
                           {"mb_per_s_out", s.mb_per_s_out()},
                           {"matrices_per_s", s.matrices_per_s()},
                           {"ratio", s.ratio()},
                           {"cpu_s_by_role", cpu_by_role},
                           {"ranks", per_rank}};
  if (!error.empty()) record["error"] = error;
  return record;
}

}  // namespace shmjob::metrics
