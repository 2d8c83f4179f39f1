#pragma once
// Which rank does what. A plan is computed identically on every rank from the node layout, so
// ranks never need to exchange it; rank 0 gathers the per-node plans only to record them.
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "shmjob/config.hpp"

namespace shmjob {

enum class Role { producer, compressor, writer, idle };
std::string_view role_name(Role role) noexcept;

struct RankAssignment {
  int node_rank = 0;
  Role role = Role::idle;
  int role_index = 0;  // index among the node's ranks of the same role
};

struct NodePlan {
  NodeLayout layout;
  std::vector<RankAssignment> ranks;  // indexed by node rank

  // The node rank of the i-th rank with `role`.
  int node_rank_of(Role role, int role_index) const;
};

// Producers take the first node ranks, then compressors, writers, and idle ranks last.
NodePlan make_node_plan(const NodeLayout& layout);

}  // namespace shmjob
