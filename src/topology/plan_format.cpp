// The plan as a fixed-width table (printed at start and by --plan) and as JSON (recorded in the
// metrics log and the master file).
#include <algorithm>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "topology/role_plan.hpp"

namespace shmjob {
namespace {

// Columns padded to their widest cell; numeric columns right-aligned.
class Table {
 public:
  Table(std::vector<std::string> header, std::vector<bool> right) : right_(std::move(right)) {
    rows_.push_back(std::move(header));
  }
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }

  std::string str() const {
    std::vector<std::size_t> width(rows_.front().size(), 0);
    for (const auto& row : rows_)
      for (std::size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
    std::string out;
    for (const auto& row : rows_) {
      std::string line;
      for (std::size_t c = 0; c < row.size(); ++c) {
        const std::string pad(width[c] - row[c].size(), ' ');
        if (c > 0) line += "  ";
        line += right_[c] ? pad + row[c] : row[c] + pad;
      }
      while (!line.empty() && line.back() == ' ') line.pop_back();
      out += line + "\n";
    }
    return out;
  }

 private:
  std::vector<bool> right_;
  std::vector<std::vector<std::string>> rows_;
};

std::string numa_text(int numa) { return numa < 0 ? "-" : std::to_string(numa); }

std::string numa_text(const std::vector<int>& domains) {
  if (domains.empty()) return "-";
  std::string text;
  for (int d : domains) text += (text.empty() ? "" : ",") + std::to_string(d);
  return text;
}

std::string list_text(const std::vector<int>& items) { return items.empty() ? "-" : cpu_list(items); }

std::string plural(int n, const char* what) { return std::to_string(n) + " " + what + (n == 1 ? "" : "s"); }

}  // namespace

std::string plan_table(const RolePlan& plan, bool with_binding) {
  const NodeLayout& l = plan.layout;
  std::string out = "plan: " + plural(static_cast<int>(plan.ranks.size()), "rank");
  if (!plan.topology.empty()) out += " on " + plan.topology;
  out += "; " + plural(static_cast<int>(plan.lanes.size()), "lane") + "\n";
  out += "stages: " + plural(l.producers, "producer") + ", " + plural(l.compressors, "compressor") + ", " +
         plural(l.writers, "writer") + ", " + std::to_string(l.idle) + " idle\n";
  out += "pinning: " + std::string(pinning_mode_name(plan.pinning)) + " (" + plan.pinning_reason + ")\n\n";

  Table lanes({"lane", "NUMA", "ranks", "producers", "compressors", "writers", "idle", "cores"},
              {true, false, true, true, true, true, true, false});
  for (const LanePlan& lane : plan.lanes)
    lanes.add({std::to_string(lane.index), numa_text(lane.numa_domains), std::to_string(lane.ranks),
               std::to_string(lane.producers), std::to_string(lane.compressors), std::to_string(lane.writers),
               std::to_string(lane.idle), list_text(lane.cores)});
  out += lanes.str();
  if (!plan.notes.empty()) {
    out += "\n";
    for (const std::string& note : plan.notes) out += "note: " + note + "\n";
  }
  out += "\n";

  std::vector<std::string> header{"rank", "role", "index", "lane", "NUMA"};
  std::vector<bool> right{true, false, true, true, false};
  if (with_binding) {
    header.insert(header.end(), {"cores", "PUs", "shared"});
    right.insert(right.end(), {false, false, false});
  }
  Table ranks(header, right);
  for (const RankPlan& r : plan.ranks) {
    std::vector<std::string> row{std::to_string(r.node_rank), std::string(role_name(r.role)),
                                 std::to_string(r.role_index), std::to_string(r.lane), numa_text(r.numa)};
    if (with_binding) row.insert(row.end(), {list_text(r.cores), list_text(r.pus), r.shares_core ? "yes" : "no"});
    ranks.add(std::move(row));
  }
  out += ranks.str();
  return out;
}

nlohmann::json plan_to_json(const RolePlan& plan) {
  using nlohmann::json;
  const auto numa = [](int d) { return d < 0 ? json(nullptr) : json(d); };
  const NodeLayout& l = plan.layout;
  json lanes = json::array();
  for (const LanePlan& lane : plan.lanes)
    lanes.push_back({{"lane", lane.index},
                     {"numa", numa(lane.numa)},
                     {"numa_domains", lane.numa_domains},
                     {"ranks", lane.ranks},
                     {"producers", lane.producers},
                     {"compressors", lane.compressors},
                     {"writers", lane.writers},
                     {"idle", lane.idle},
                     {"cores", lane.cores}});
  json ranks = json::array();
  for (const RankPlan& r : plan.ranks)
    ranks.push_back({{"node_rank", r.node_rank},
                     {"role", role_name(r.role)},
                     {"role_index", r.role_index},
                     {"lane", r.lane},
                     {"lane_role_index", r.lane_role_index},
                     {"numa", numa(r.numa)},
                     {"cores", r.cores},
                     {"pus", r.pus},
                     {"shares_core", r.shares_core}});
  return {{"topology", plan.topology},
          {"pinning", {{"mode", pinning_mode_name(plan.pinning)}, {"reason", plan.pinning_reason}}},
          {"oversubscribed", plan.oversubscribed},
          {"layout",
           {{"producers", l.producers},
            {"compressors", l.compressors},
            {"writers", l.writers},
            {"idle", l.idle},
            {"raw_slots_per_producer", l.raw_slots_per_producer},
            {"compressed_slots_per_compressor", l.compressed_slots_per_compressor},
            {"raw_slot_bytes", l.raw_slot_bytes},
            {"compressed_slot_bytes", l.compressed_slot_bytes}}},
          {"lanes", lanes},
          {"ranks", ranks},
          {"notes", plan.notes}};
}

}  // namespace shmjob
