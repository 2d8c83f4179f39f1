// shmjob inspect OUT [--index]: what a job's output holds, from the master file and the shards'
// sizes on disk (no data is decoded).
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "app/commands.hpp"
#include "shmjob/reader.hpp"
#include "util/printable.hpp"

namespace shmjob::app {
namespace {

struct InspectArgs {
  std::string out_dir;
  bool index = false;
};

std::string megabytes(double bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MB", bytes / 1e6);
  return text;
}

void print_plan(const std::string& plan_text) {
  nlohmann::json plan;
  try {
    plan = nlohmann::json::parse(plan_text);
  } catch (const nlohmann::json::exception&) {
    std::printf("plan:     (unreadable)\n");
    return;
  }
  std::map<std::string, int> roles;
  std::map<std::string, int> hosts;
  for (const auto& r : plan.value("ranks", nlohmann::json::array())) {
    ++roles[r.value("role", "?")];
    ++hosts[r.value("host", "?")];
  }
  std::string role_text;
  for (const auto& [role, n] : roles) role_text += (role_text.empty() ? "" : ", ") + std::to_string(n) + " " + role;
  std::printf("plan:     %zu ranks on %zu host(s): %s\n", plan.value("ranks", nlohmann::json::array()).size(),
              hosts.size(), printable(role_text).c_str());
  for (const auto& r : plan.value("ranks", nlohmann::json::array()))
    std::printf("  rank %3d  %-10s lane %d  host %s  %s\n", r.value("rank", -1),
                printable(r.value("role", "?")).c_str(), r.value("lane", -1), printable(r.value("host", "?")).c_str(),
                printable(r.value("binding", "")).c_str());
}

void print_index(const Reader& reader) {
  std::printf("%8s %6s %8s %12s %12s %10s %14s %14s %14s %9s %9s %9s\n", "id", "shard", "row", "raw_bytes",
              "compressed", "crc32", "min", "max", "mean", "t_prod", "t_comp", "t_write");
  for (const IndexRow& r : reader.index())
    std::printf("%8llu %6u %8llu %12llu %12llu %10u %14.6g %14.6g %14.6g %9.3f %9.3f %9.3f\n",
                static_cast<unsigned long long>(r.id), r.shard, static_cast<unsigned long long>(r.row),
                static_cast<unsigned long long>(r.raw_bytes), static_cast<unsigned long long>(r.compressed_bytes),
                r.crc32, r.min, r.max, r.mean, r.t_produced, r.t_compressed, r.t_written);
}

int run_inspect(const InspectArgs& a) {
  const Reader reader(a.out_dir, ReaderOptions{0, false});
  if (a.index) {
    print_index(reader);
    return kExitOk;
  }
  std::printf("master:   %s\n", printable(reader.master_path().string()).c_str());
  std::printf("job:      %s, status %s, shmjob %s\n", printable(reader.attribute("job")).c_str(),
              printable(reader.status()).c_str(), printable(reader.attribute("shmjob_version")).c_str());
  std::printf("source:   %s%s\n", printable(reader.attribute("source")).c_str(),
              reader.attribute("kind").empty() ? "" : printable(" (" + reader.attribute("kind") + ")").c_str());
  std::printf("time:     %s to %s\n", printable(reader.attribute("start_time")).c_str(),
              printable(reader.attribute("end_time")).c_str());
  std::printf("matrices: %llu ids, %zu in the index\n", static_cast<unsigned long long>(reader.count()),
              reader.index().size());
  for (const MatrixSetInfo& s : reader.sets())
    std::printf("  dataset %-28s %llu x [%u, %u] %s, ids %llu..%llu, chunks [%u, %u]\n", printable(s.name).c_str(),
                static_cast<unsigned long long>(s.count), s.shape.rows, s.shape.cols,
                std::string(dtype_name(s.shape.dtype)).c_str(), static_cast<unsigned long long>(s.first_id),
                static_cast<unsigned long long>(s.first_id + s.count - (s.count > 0 ? 1 : 0)), s.tile_rows,
                s.tile_cols);

  struct ShardSummary {
    std::uint64_t matrices = 0, first = ~0ull, last = 0, compressed = 0;
  };
  std::map<std::uint32_t, ShardSummary> shards;
  double raw = 0, compressed = 0;
  for (const IndexRow& r : reader.index()) {
    ShardSummary& s = shards[r.shard];
    ++s.matrices;
    s.first = std::min(s.first, r.id);
    s.last = std::max(s.last, r.id);
    s.compressed += r.compressed_bytes;
    raw += static_cast<double>(r.raw_bytes);
    compressed += static_cast<double>(r.compressed_bytes);
  }
  std::printf("shards:   %zu\n", shards.size());
  for (const auto& [number, s] : shards) {
    const std::filesystem::path path = reader.shard_path(number);
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    std::printf("  %-32s %8llu matrices, ids %llu..%llu, %s on disk\n", printable(path.filename().string()).c_str(),
                static_cast<unsigned long long>(s.matrices), static_cast<unsigned long long>(s.first),
                static_cast<unsigned long long>(s.last), ec ? "MISSING" : megabytes(static_cast<double>(size)).c_str());
  }
  std::printf("bytes:    raw %s, compressed %s, ratio %.2f\n", megabytes(raw).c_str(), megabytes(compressed).c_str(),
              compressed > 0 ? raw / compressed : 0.0);
  try {
    std::printf("config:   %s\n", nlohmann::json::parse(reader.attribute("config")).dump(2).c_str());
  } catch (const nlohmann::json::exception&) {
    std::printf("config:   %s\n", printable(reader.attribute("config")).c_str());
  }
  print_plan(reader.attribute("plan"));
  return kExitOk;
}

}  // namespace

Subcommand add_inspect_command(CLI::App& app) {
  auto args = std::make_shared<InspectArgs>();
  CLI::App* cmd =
      app.add_subcommand("inspect", "summarise a job's output: matrices, shards, ratio, status, config, plan");
  cmd->add_option("output", args->out_dir, "output directory or master file (<job>.h5)")->required();
  cmd->add_flag("--index", args->index, "print the index rows instead");
  return {cmd, [args] { return run_inspect(*args); }};
}

}  // namespace shmjob::app
