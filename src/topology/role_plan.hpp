#pragma once
// Which rank does what, and where. A plan is a pure function of (topology view, every node
// rank's allowed PUs, config), so every rank of a node computes the same plan itself and ranks
// never exchange it; rank 0 gathers the per-node plans only to record them.
//
// A lane is a producer/compressor/writer group kept on one NUMA domain (or, only when it must,
// on neighbouring domains). Rules: docs/placement.md.
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "config/config.hpp"
#include "topology/topology.hpp"

namespace shmjob {

enum class Role { producer, compressor, writer, idle };
std::string_view role_name(Role role) noexcept;

// One node rank's part in the plan.
struct RankPlan {
  int node_rank = 0;
  Role role = Role::idle;
  int role_index = 0;  // index among the node's ranks of the same role (lane by lane)
  int lane = 0;
  int lane_role_index = 0;   // index among the lane's ranks of the same role
  int numa = -1;             // OS index of the NUMA domain of its cores; -1: no topology
  std::vector<int> cores;    // logical (L#) indexes of the cores it runs on; empty: no topology
  CpuSet pus;                // OS indexes of the PUs it is bound to; a subset of its allowed set
  bool shares_core = false;  // another rank of the node runs on the same core
};

struct LanePlan {
  int index = 0;
  int numa = -1;                  // the domain holding most of its ranks; -1: no topology
  std::vector<int> numa_domains;  // every domain its ranks are bound in (>1: the lane straddles)
  int ranks = 0;
  int producers = 0, compressors = 0, writers = 0, idle = 0;
  std::vector<int> cores;  // logical indexes of the cores its ranks use
};

struct RolePlan {
  NodeLayout layout;            // node totals of every stage, and the slots
  std::vector<RankPlan> ranks;  // indexed by node rank
  std::vector<LanePlan> lanes;  // at least one
  std::string topology;         // TopologyView::summary(), "" without topology
  bool oversubscribed = false;  // some core runs more than one rank
  // Resolved from placement.pinning: cores (bind) or none, and why.
  PinningMode pinning = PinningMode::none;
  std::string pinning_reason;
  std::vector<std::string> notes;  // one line each: sharing, straddling lanes, fewer lanes, ...

  // The node rank of the i-th rank with `role` (node-wide role_index).
  int node_rank_of(Role role, int role_index) const;
  // The node rank of the i-th rank with `role` in `lane`.
  int node_rank_in_lane(int lane, Role role, int lane_role_index) const;
  // Node ranks of `lane` with `role`, by lane_role_index.
  std::vector<int> lane_ranks(int lane, Role role) const;
  // How many ranks of `lane` have `role`.
  int count(int lane, Role role) const;
};

// The plan for a node. `allowed[r]` holds the PUs (OS indexes) node rank r may run on: its
// launcher binding or cgroup (see allowed_cpuset() in topology/binding.hpp); PUs outside the
// view are ignored and an empty set means "anywhere". Stage counts follow resolve_layout()'s
// rule lane by lane. Throws ConfigError as resolve_layout() does (too few ranks, stage counts
// that do not fit, a memory budget that is too small) and TopologyError for a view without
// cores.
RolePlan compute_role_plan(const TopologyView& topology, const std::vector<CpuSet>& allowed, const Config& config);

// A plan without topology: one lane; producers take the first node ranks, then compressors,
// writers and idle ranks; no cores, nothing to bind.
RolePlan make_node_plan(const NodeLayout& layout);

// A fixed-width table: a header (topology, pinning), one row per lane, the notes, then one row
// per rank with rank, role, index, lane, NUMA and, when `with_binding`, cores, PUs and shared.
std::string plan_table(const RolePlan& plan, bool with_binding);
nlohmann::json plan_to_json(const RolePlan& plan);

}  // namespace shmjob
