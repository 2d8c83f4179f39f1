// The plan's accessors and the topology-free plan. compute_role_plan() is in
// topology/role_plan_compute.cpp, the table and JSON in topology/plan_format.cpp.
#include "topology/role_plan.hpp"

#include <stdexcept>

namespace shmjob {

std::string_view role_name(Role role) noexcept {
  switch (role) {
    case Role::producer:
      return "producer";
    case Role::compressor:
      return "compressor";
    case Role::writer:
      return "writer";
    case Role::idle:
      break;
  }
  return "idle";
}

int RolePlan::node_rank_of(Role role, int role_index) const {
  for (const auto& r : ranks)
    if (r.role == role && r.role_index == role_index) return r.node_rank;
  throw std::logic_error("no " + std::string(role_name(role)) + " " + std::to_string(role_index));
}

int RolePlan::node_rank_in_lane(int lane, Role role, int lane_role_index) const {
  for (const auto& r : ranks)
    if (r.lane == lane && r.role == role && r.lane_role_index == lane_role_index) return r.node_rank;
  throw std::logic_error("no " + std::string(role_name(role)) + " " + std::to_string(lane_role_index) + " in lane " +
                         std::to_string(lane));
}

std::vector<int> RolePlan::lane_ranks(int lane, Role role) const {
  std::vector<int> found(static_cast<std::size_t>(count(lane, role)), -1);
  for (const auto& r : ranks)
    if (r.lane == lane && r.role == role) found.at(static_cast<std::size_t>(r.lane_role_index)) = r.node_rank;
  return found;
}

int RolePlan::count(int lane, Role role) const {
  int n = 0;
  for (const auto& r : ranks) n += (r.lane == lane && r.role == role) ? 1 : 0;
  return n;
}

RolePlan make_node_plan(const NodeLayout& layout) {
  RolePlan plan;
  plan.layout = layout;
  LanePlan lane;
  lane.producers = layout.producers;
  lane.compressors = layout.compressors;
  lane.writers = layout.writers;
  lane.idle = layout.idle;
  lane.ranks = layout.producers + layout.compressors + layout.writers + layout.idle;
  plan.lanes.push_back(lane);
  plan.pinning_reason = "no topology: not bound";
  auto add = [&](Role role, int count) {
    for (int i = 0; i < count; ++i) {
      RankPlan r;
      r.node_rank = static_cast<int>(plan.ranks.size());
      r.role = role;
      r.role_index = i;
      r.lane_role_index = i;
      plan.ranks.push_back(r);
    }
  };
  add(Role::producer, layout.producers);
  add(Role::compressor, layout.compressors);
  add(Role::writer, layout.writers);
  add(Role::idle, layout.idle);
  return plan;
}

}  // namespace shmjob
