// CPU and memory binding with hwloc. Facts measured on Linux (docs/architecture.md): binding a synthetic
// or XML topology returns 0 and does nothing, so it is never attempted; memory binding with
// HWLOC_MEMBIND_PROCESS fails with ENOSYS, so memory is bound per thread (the thread that
// first-touches the window segment).
#include "topology/binding.hpp"

#include <hwloc.h>

#include <algorithm>
#include <cerrno>
#include <iterator>

#include "shmjob/error.hpp"
#include "topology/hwloc_util.hpp"

namespace shmjob {
namespace {

// Whether every PU of `set` belongs to the same core (a PU without a core is its own core).
bool within_one_core(hwloc_topology_t topology, const CpuSet& set) {
  if (set.empty()) return false;
  hwloc_obj_t first = nullptr;
  for (int index : set) {
    hwloc_obj_t pu = hwloc_get_pu_obj_by_os_index(topology, static_cast<unsigned>(index));
    if (pu == nullptr) return false;
    hwloc_obj_t core = hwloc_get_ancestor_obj_by_type(topology, HWLOC_OBJ_CORE, pu);
    hwloc_obj_t owner = core != nullptr ? core : pu;
    if (first == nullptr) first = owner;
    if (owner != first) return false;
  }
  return true;
}

}  // namespace

BindResult bind_current_process(const Topology& topology, const RankPlan& rank, PinningMode mode) {
  BindResult result;
  if (mode == PinningMode::none) {
    result.reason = "placement.pinning = none: not bound";
    return result;
  }
  if (!topology.is_this_system()) {
    result.reason = "topology is not this system (synthetic/XML): not bound";
    return result;
  }
  if (rank.pus.empty()) {
    result.reason = "the plan gives this rank no PUs: not bound";
    return result;
  }
  hwloc_topology_t t = topology.handle();
  try {
    if (mode == PinningMode::automatic && within_one_core(t, allowed_cpuset(topology))) {
      result.reason = "auto: the launcher bound this rank to one core; kept, not re-bound";
      return result;
    }
    const hwloc::Bitmap cpus(rank.pus);
    if (hwloc_set_cpubind(t, cpus.get(), HWLOC_CPUBIND_PROCESS) != 0) {
      const int process_error = errno;
      if (hwloc_set_cpubind(t, cpus.get(), HWLOC_CPUBIND_THREAD) != 0) {
        result.reason =
            "hwloc_set_cpubind(PUs " + cpu_list(rank.pus) + "): " + hwloc::errno_text(process_error) + ": not bound";
        return result;
      }
    }
    result.bound = true;
    result.pus = rank.pus;
    result.reason = "bound to PUs " + cpu_list(rank.pus);
    if (rank.numa < 0) {
      result.reason += "; no NUMA domain in the plan: memory not bound";
      return result;
    }
    hwloc_obj_t node = hwloc_get_numanode_obj_by_os_index(t, static_cast<unsigned>(rank.numa));
    if (node == nullptr || node->nodeset == nullptr) {
      result.reason += "; NUMA " + std::to_string(rank.numa) + " not in the topology: memory not bound";
      return result;
    }
    if (hwloc_set_membind(t, node->nodeset, HWLOC_MEMBIND_BIND, HWLOC_MEMBIND_THREAD | HWLOC_MEMBIND_BYNODESET) != 0) {
      result.reason += "; hwloc_set_membind(NUMA " + std::to_string(rank.numa) + "): " + hwloc::errno_text(errno) +
                       ": memory not bound";
      return result;
    }
    result.memory_bound = true;
    result.reason += ", memory on NUMA " + std::to_string(rank.numa);
  } catch (const TopologyError& e) {
    result.reason = std::string(e.what()) + (result.bound ? "" : ": not bound");
  }
  return result;
}

int current_pu(const Topology& topology) {
  if (!topology.is_this_system()) return -1;
  const hwloc::Bitmap where;
  hwloc::check(hwloc_get_last_cpu_location(topology.handle(), where.get(), HWLOC_CPUBIND_THREAD),
               "hwloc_get_last_cpu_location");
  return hwloc_bitmap_first(where.get());
}

CpuSet allowed_cpuset(const Topology& topology) {
  const CpuSet allowed = topology.allowed_pus();
  if (!topology.is_this_system()) return allowed;
  const hwloc::Bitmap bound;
  hwloc::check(hwloc_get_cpubind(topology.handle(), bound.get(), HWLOC_CPUBIND_PROCESS), "hwloc_get_cpubind");
  const CpuSet mine = hwloc::to_set(bound.get());
  CpuSet both;
  std::set_intersection(mine.begin(), mine.end(), allowed.begin(), allowed.end(), std::back_inserter(both));
  return both;
}

}  // namespace shmjob
