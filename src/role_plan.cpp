#include "shmjob/role_plan.hpp"

#include <stdexcept>

namespace shmjob {

std::string_view role_name(Role role) noexcept {
  switch (role) {
    case Role::producer: return "producer";
    case Role::compressor: return "compressor";
    case Role::writer: return "writer";
    case Role::idle: break;
  }
  return "idle";
}

int NodePlan::node_rank_of(Role role, int role_index) const {
  for (const auto& r : ranks)
    if (r.role == role && r.role_index == role_index) return r.node_rank;
  throw std::logic_error("no " + std::string(role_name(role)) + " " + std::to_string(role_index));
}

NodePlan make_node_plan(const NodeLayout& layout) {
  NodePlan plan{layout, {}};
  auto add = [&](Role role, int count) {
    for (int i = 0; i < count; ++i)
      plan.ranks.push_back({static_cast<int>(plan.ranks.size()), role, i});
  };
  add(Role::producer, layout.producers);
  add(Role::compressor, layout.compressors);
  add(Role::writer, layout.writers);
  add(Role::idle, layout.idle);
  return plan;
}

}  // namespace shmjob
