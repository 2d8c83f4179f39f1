#pragma once
// Binding the calling process to its place in the plan. Call before the rank touches its window
// segment (NUMA first touch). A failed bind is a warning: the job runs unbound.
#include <string>

#include "config/config.hpp"
#include "topology/role_plan.hpp"
#include "topology/topology.hpp"

namespace shmjob {

struct BindResult {
  bool bound = false;         // CPU binding applied (to `pus`)
  bool memory_bound = false;  // memory policy applied: prefer the NUMA domain of the rank's cores
  std::string reason;         // one line: what was bound, or why not
  CpuSet pus;                 // the PUs bound to; empty when not bound
};

// Binds the calling process to rank.pus (all its threads; HWLOC_CPUBIND_PROCESS, falling back to
// the calling thread) and the calling thread's memory to NUMA rank.numa (HWLOC_MEMBIND_BIND
// without STRICT, i.e. preferred: Linux falls back to other domains when it is full).
//   mode none: nothing; cores: bind; automatic: bind unless this process is already bound to one
//   core. Pass plan.pinning (already resolved for the node) to follow the node's decision.
// Never binds when !topology.is_this_system() (hwloc would report success and do nothing).
// Never throws for a failed bind: bound = false and `reason` says what hwloc said.
BindResult bind_current_process(const Topology& topology, const RankPlan& rank, PinningMode mode);

// The PU the calling thread ran on most recently (hwloc_get_last_cpu_location), or -1 when the
// topology is not this system. Throws TopologyError if hwloc fails.
int current_pu(const Topology& topology);

// The PUs the calling process may run on: its binding (hwloc_get_cpubind, whole process)
// intersected with the topology's allowed PUs. That is the launcher's binding or cgroup; pass it,
// gathered over the node, to compute_role_plan(). On a synthetic/XML topology the process runs
// elsewhere, so this returns all of the topology's allowed PUs. Throws TopologyError.
CpuSet allowed_cpuset(const Topology& topology);

}  // namespace shmjob
