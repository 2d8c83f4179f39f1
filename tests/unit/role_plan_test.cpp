// The topology view, compute_role_plan() and the binding helpers. Plans are checked on hwloc
// synthetic topologies, on XML files exported with lstopo (tests/unit/topologies/) and on
// hand-built views, for many node sizes and launcher bindings, against the invariants of
// docs/placement.md.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "shmjob/error.hpp"
#include "topology/binding.hpp"
#include "topology/role_plan.hpp"
#include "topology/topology.hpp"

#ifndef SHMJOB_TOPOLOGY_DIR
#error "SHMJOB_TOPOLOGY_DIR must name tests/unit/topologies"
#endif

namespace shmjob {
namespace {

using nlohmann::json;

std::filesystem::path topology_file(const std::string& name) {
  return std::filesystem::path(SHMJOB_TOPOLOGY_DIR) / name;
}

Config config_with(json stages = json::object(), json placement = json::object()) {
  json doc = {{"matrices", {{"count", 10}, {"rows", 100}, {"cols", 100}}}};
  if (!stages.empty()) doc["stages"] = stages;
  if (!placement.empty()) doc["placement"] = placement;
  return parse_config(doc);
}

// A view built by hand: domains with the given core counts, `smt` PUs per core numbered
// core-major (core k has PUs k*smt .. k*smt+smt-1).
TopologyView uniform_view(const std::vector<int>& cores_per_domain, int smt = 1) {
  TopologyView view;
  int core = 0;
  for (std::size_t d = 0; d < cores_per_domain.size(); ++d) {
    NumaDomain domain;
    domain.os_index = static_cast<int>(d);
    for (int c = 0; c < cores_per_domain[d]; ++c, ++core) {
      Core k;
      k.logical_index = core;
      k.os_index = core;
      for (int p = 0; p < smt; ++p) k.pus.push_back(core * smt + p);
      domain.cores.push_back(k);
    }
    view.numa.push_back(domain);
  }
  return view;
}

std::vector<const Core*> cores_of(const TopologyView& view) {
  std::vector<const Core*> cores;
  for (const NumaDomain& d : view.numa)
    for (const Core& c : d.cores) cores.push_back(&c);
  return cores;
}

// --- launcher bindings ---------------------------------------------------------------------

enum class Launch {
  anywhere,  // mpirun --bind-to none, or srun in a cgroup: every rank may use every PU
  core,      // mpirun --map-by core --bind-to core(:overload-allowed): rank i on core i mod C
  numa,      // mpirun --map-by numa --bind-to numa: rank i on domain i mod D
  half,      // --map-by socket --bind-to socket on a 2-socket machine: ranks alternate halves
};

const char* launch_name(Launch l) {
  switch (l) {
    case Launch::anywhere:
      return "anywhere";
    case Launch::core:
      return "core";
    case Launch::numa:
      return "numa";
    case Launch::half:
      return "half";
  }
  return "?";
}

CpuSet pus_of_domains(const TopologyView& view, std::size_t first, std::size_t last) {
  CpuSet set;
  for (std::size_t d = first; d < last; ++d)
    for (const Core& c : view.numa[d].cores) set.insert(set.end(), c.pus.begin(), c.pus.end());
  std::sort(set.begin(), set.end());
  return set;
}

std::vector<CpuSet> launcher(const TopologyView& view, int n, Launch how) {
  std::vector<CpuSet> allowed;
  const auto cores = cores_of(view);
  const std::size_t domains = view.numa.size();
  for (int r = 0; r < n; ++r) {
    const auto i = static_cast<std::size_t>(r);
    switch (how) {
      case Launch::anywhere:
        allowed.push_back(view.all_pus());
        break;
      case Launch::core:
        allowed.push_back(cores[i % cores.size()]->pus);
        break;
      case Launch::numa:
        allowed.push_back(pus_of_domains(view, i % domains, i % domains + 1));
        break;
      case Launch::half: {
        const std::size_t half = std::max<std::size_t>(1, domains / 2);
        allowed.push_back(i % 2 == 0 || domains == 1 ? pus_of_domains(view, 0, half)
                                                     : pus_of_domains(view, half, domains));
        break;
      }
    }
  }
  return allowed;
}

// --- invariants ----------------------------------------------------------------------------

struct PuPlace {
  int domain_os;
  std::size_t domain;  // index in view.numa
  int core;            // logical index
};

std::map<int, PuPlace> pu_places(const TopologyView& view) {
  std::map<int, PuPlace> places;
  for (std::size_t d = 0; d < view.numa.size(); ++d)
    for (const Core& c : view.numa[d].cores)
      for (int pu : c.pus) places[pu] = {view.numa[d].os_index, d, c.logical_index};
  return places;
}

std::set<std::size_t> domains_of(const CpuSet& set, const std::map<int, PuPlace>& places) {
  std::set<std::size_t> domains;
  for (int pu : set) domains.insert(places.at(pu).domain);
  return domains;
}

void expect_invariants(const TopologyView& view, const std::vector<CpuSet>& allowed, const Config& config,
                       const RolePlan& plan) {
  const int n = static_cast<int>(allowed.size());
  const auto places = pu_places(view);
  ASSERT_EQ(plan.ranks.size(), allowed.size());
  ASSERT_FALSE(plan.lanes.empty());
  const NodeLayout& l = plan.layout;
  EXPECT_EQ(l.producers + l.compressors + l.writers + l.idle, n);

  // Every rank has exactly one role; role_index runs 0..count-1, lane by lane.
  std::map<Role, std::vector<const RankPlan*>> by_role;
  for (int r = 0; r < n; ++r) {
    const RankPlan& rp = plan.ranks[static_cast<std::size_t>(r)];
    EXPECT_EQ(rp.node_rank, r);
    by_role[rp.role].push_back(&rp);
  }
  const std::map<Role, int> totals{{Role::producer, l.producers},
                                   {Role::compressor, l.compressors},
                                   {Role::writer, l.writers},
                                   {Role::idle, l.idle}};
  for (const auto& [role, count] : totals) {
    auto ranks = by_role[role];
    ASSERT_EQ(static_cast<int>(ranks.size()), count) << role_name(role);
    std::sort(ranks.begin(), ranks.end(),
              [](const RankPlan* a, const RankPlan* b) { return a->role_index < b->role_index; });
    for (std::size_t i = 0; i < ranks.size(); ++i) {
      EXPECT_EQ(ranks[i]->role_index, static_cast<int>(i)) << role_name(role);
      if (i > 0) {
        EXPECT_LE(ranks[i - 1]->lane, ranks[i]->lane) << "role_index goes lane by lane";
      }
      EXPECT_EQ(plan.node_rank_of(role, ranks[i]->role_index), ranks[i]->node_rank);
    }
  }

  // Lanes: at least one of each stage, counts agree with the ranks, totals with the layout.
  int lane_ranks = 0, p = 0, c = 0, w = 0;
  for (std::size_t g = 0; g < plan.lanes.size(); ++g) {
    const LanePlan& lane = plan.lanes[g];
    const int gi = static_cast<int>(g);
    EXPECT_EQ(lane.index, gi);
    EXPECT_GE(lane.producers, 1) << "lane " << g;
    EXPECT_GE(lane.compressors, 1) << "lane " << g;
    EXPECT_GE(lane.writers, 1) << "lane " << g;
    EXPECT_GE(lane.idle, 0);
    EXPECT_EQ(lane.producers + lane.compressors + lane.writers + lane.idle, lane.ranks);
    EXPECT_EQ(plan.count(gi, Role::producer), lane.producers);
    EXPECT_EQ(plan.count(gi, Role::compressor), lane.compressors);
    EXPECT_EQ(plan.count(gi, Role::writer), lane.writers);
    for (Role role : {Role::producer, Role::compressor, Role::writer, Role::idle}) {
      const std::vector<int> members = plan.lane_ranks(gi, role);
      for (std::size_t i = 0; i < members.size(); ++i) {
        const RankPlan& rp = plan.ranks.at(static_cast<std::size_t>(members[i]));
        EXPECT_EQ(rp.lane, gi);
        EXPECT_EQ(rp.lane_role_index, static_cast<int>(i));
        EXPECT_EQ(plan.node_rank_in_lane(gi, role, static_cast<int>(i)), members[i]);
      }
    }
    EXPECT_FALSE(lane.numa_domains.empty());
    EXPECT_NE(std::find(lane.numa_domains.begin(), lane.numa_domains.end(), lane.numa), lane.numa_domains.end());
    lane_ranks += lane.ranks;
    p += lane.producers;
    c += lane.compressors;
    w += lane.writers;
  }
  EXPECT_EQ(lane_ranks, n);
  EXPECT_EQ(p, l.producers);
  EXPECT_EQ(c, l.compressors);
  EXPECT_EQ(w, l.writers);
  EXPECT_LE(static_cast<int>(plan.lanes.size()), std::max(1, n / 3));

  // Explicit stage counts are node totals, kept as configured.
  if (config.stages.producers) {
    EXPECT_EQ(l.producers, *config.stages.producers);
  }
  if (config.stages.compressors) {
    EXPECT_EQ(l.compressors, *config.stages.compressors);
  }
  if (config.stages.writers) {
    EXPECT_EQ(l.writers, *config.stages.writers);
  }

  // Binding: one core per rank, PUs of that core inside the allowed set, NUMA of that core.
  std::map<int, int> on_core;
  for (const RankPlan& rp : plan.ranks) {
    SCOPED_TRACE("rank " + std::to_string(rp.node_rank));
    ASSERT_EQ(rp.cores.size(), 1U);
    ASSERT_FALSE(rp.pus.empty());
    const CpuSet& mine = allowed[static_cast<std::size_t>(rp.node_rank)];
    for (int pu : rp.pus) {
      EXPECT_TRUE(std::binary_search(mine.begin(), mine.end(), pu)) << "PU " << pu << " not allowed";
      EXPECT_EQ(places.at(pu).core, rp.cores.front());
      EXPECT_EQ(places.at(pu).domain_os, rp.numa);
    }
    const LanePlan& lane = plan.lanes.at(static_cast<std::size_t>(rp.lane));
    EXPECT_NE(std::find(lane.numa_domains.begin(), lane.numa_domains.end(), rp.numa), lane.numa_domains.end());
    EXPECT_NE(std::find(lane.cores.begin(), lane.cores.end(), rp.cores.front()), lane.cores.end());
    // Ranks confined to one domain by the launcher stay there.
    const auto domains = domains_of(mine, places);
    if (domains.size() == 1) {
      EXPECT_EQ(view.numa[*domains.begin()].os_index, rp.numa);
    }
    ++on_core[rp.cores.front()];
  }
  // No core given to two ranks unless oversubscribed; shares_core says so.
  int busiest = 0;
  for (const auto& [core, count] : on_core) busiest = std::max(busiest, count);
  EXPECT_EQ(plan.oversubscribed, busiest > 1);
  for (const RankPlan& rp : plan.ranks)
    EXPECT_EQ(rp.shares_core, on_core[rp.cores.front()] > 1) << "rank " << rp.node_rank;
  // Ranks sharing a core that has a PU for each of them, and allowed on all of its PUs, get
  // one distinct PU each.
  std::map<int, const Core*> core_by_index;
  for (const auto* core : cores_of(view)) core_by_index[core->logical_index] = core;
  std::map<int, bool> whole_core_allowed;
  for (const RankPlan& rp : plan.ranks) {
    const Core& core = *core_by_index.at(rp.cores.front());
    const CpuSet& mine = allowed[static_cast<std::size_t>(rp.node_rank)];
    const bool all = std::includes(mine.begin(), mine.end(), core.pus.begin(), core.pus.end());
    auto [it, fresh] = whole_core_allowed.emplace(core.logical_index, all);
    if (!fresh) it->second = it->second && all;
  }
  std::map<int, std::set<int>> pus_on_core;
  for (const RankPlan& rp : plan.ranks) {
    const Core& core = *core_by_index.at(rp.cores.front());
    if (rp.shares_core && whole_core_allowed[core.logical_index] &&
        static_cast<std::size_t>(on_core[core.logical_index]) <= core.pus.size()) {
      EXPECT_EQ(rp.pus.size(), 1U);
      EXPECT_TRUE(pus_on_core[core.logical_index].insert(rp.pus.front()).second) << "PU given twice";
    }
  }

  // Lanes straddle domains only when none of the domains they use could hold them all: a
  // domain every rank of the lane may use entirely, with a core for each of them.
  for (const LanePlan& lane : plan.lanes) {
    if (lane.numa_domains.size() <= 1) continue;
    bool one_domain_fits = false;
    for (const NumaDomain& domain : view.numa) {
      if (std::find(lane.numa_domains.begin(), lane.numa_domains.end(), domain.os_index) == lane.numa_domains.end())
        continue;
      CpuSet pus;
      for (const Core& core : domain.cores) pus.insert(pus.end(), core.pus.begin(), core.pus.end());
      std::sort(pus.begin(), pus.end());
      bool everyone = true;
      for (const RankPlan& rp : plan.ranks) {
        const CpuSet& mine = allowed[static_cast<std::size_t>(rp.node_rank)];
        if (rp.lane == lane.index)
          everyone = everyone && std::includes(mine.begin(), mine.end(), pus.begin(), pus.end());
      }
      one_domain_fits |= everyone && lane.ranks <= static_cast<int>(domain.cores.size());
    }
    EXPECT_FALSE(one_domain_fits) << "lane " << lane.index << " straddles needlessly";
  }
}

// When every rank may run anywhere: cores shared evenly and lanes in proportion to cores.
void expect_even_spread(const TopologyView& view, const RolePlan& plan) {
  const int n = static_cast<int>(plan.ranks.size());
  const int total = view.core_count();
  std::map<int, int> load;
  for (const RankPlan& rp : plan.ranks) ++load[rp.cores.front()];
  if (n <= total) {
    EXPECT_FALSE(plan.oversubscribed);
  }
  for (const LanePlan& lane : plan.lanes) {
    int low = n, high = 0;
    for (int core : lane.cores) {
      low = std::min(low, load[core]);
      high = std::max(high, load[core]);
    }
    EXPECT_LE(high - low, 1) << "lane " << lane.index << " shares cores unevenly";
  }
  if (plan.lanes.size() == view.numa.size()) {
    // One lane per domain: ranks within one of the domain's share of the cores, unless the
    // minimum of 3 ranks per lane decides.
    bool quota_above_minimum = true;
    for (const NumaDomain& d : view.numa)
      quota_above_minimum &= 1.0 * n * static_cast<double>(d.cores.size()) / total >= 3.0;
    if (quota_above_minimum)
      for (std::size_t g = 0; g < plan.lanes.size(); ++g) {
        const LanePlan& lane = plan.lanes[g];
        ASSERT_EQ(lane.numa_domains.size(), 1U);
        const auto& domain = *std::find_if(view.numa.begin(), view.numa.end(),
                                           [&](const NumaDomain& d) { return d.os_index == lane.numa; });
        const double quota = 1.0 * n * static_cast<double>(domain.cores.size()) / total;
        EXPECT_LT(std::abs(lane.ranks - quota), 1.0) << "lane " << g;
      }
  }
}

// --- the topologies ------------------------------------------------------------------------

struct Machine {
  std::string name;
  std::string synthetic;  // or
  std::string xml;
};

const std::vector<Machine>& machines() {
  static const std::vector<Machine> list{
      {"this_machine_xml", "", "this_machine_1numa_2core.xml"},
      {"two_pack_8core_xml", "", "2pack_1numa_8core.xml"},
      {"two_pack_4numa_16core_smt_xml", "", "2pack_4numa_16core_smt.xml"},
      {"eight_numa_8core_xml", "", "8numa_8core.xml"},
      {"two_numa_4core", "pack:2 [numa] core:4 pu:1", ""},
      {"hbm_memory_only_numa", "pack:2 [numa] [numa] core:4 pu:2", ""},
      {"three_numa_3core", "pack:3 [numa] core:3 pu:1", ""},
  };
  return list;
}

Topology load(const Machine& m) {
  return m.xml.empty() ? Topology::synthetic(m.synthetic) : Topology::from_xml(topology_file(m.xml));
}

const TopologyView& view_of(const Machine& m) {
  static std::map<std::string, TopologyView> cache;
  auto it = cache.find(m.name);
  if (it == cache.end()) it = cache.emplace(m.name, load(m).view()).first;
  return it->second;
}

enum class Stages { automatic, explicit_counts };

// Explicit counts that fit n ranks and leave some idle: about n/5 producers, n/10 writers.
json explicit_stages(int n) {
  const int producers = std::max(1, n / 5), writers = std::max(1, n / 10);
  const int compressors = std::max(1, n - producers - writers - (n >= 10 ? 2 : 0));
  return {{"producers", producers}, {"compressors", compressors}, {"writers", writers}};
}

struct Case {
  std::size_t machine;
  int ranks;
  Launch launch;
  Stages stages;
};

std::string case_name(const testing::TestParamInfo<Case>& info) {
  const Case& c = info.param;
  return machines()[c.machine].name + "_" + std::to_string(c.ranks) + "_ranks_" + launch_name(c.launch) +
         (c.stages == Stages::automatic ? "_auto" : "_explicit");
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (std::size_t m = 0; m < machines().size(); ++m)
    for (int n : {3, 4, 5, 7, 10, 16, 23, 64, 128})
      for (Launch launch : {Launch::anywhere, Launch::core, Launch::numa, Launch::half})
        for (Stages stages : {Stages::automatic, Stages::explicit_counts}) cases.push_back({m, n, launch, stages});
  return cases;
}

class PlanInvariants : public testing::TestWithParam<Case> {};

TEST_P(PlanInvariants, Hold) {
  const Case& c = GetParam();
  const TopologyView& view = view_of(machines()[c.machine]);
  EXPECT_FALSE(view.this_system);
  const std::vector<CpuSet> allowed = launcher(view, c.ranks, c.launch);
  const Config config = c.stages == Stages::automatic ? config_with() : config_with(explicit_stages(c.ranks));
  const RolePlan plan = compute_role_plan(view, allowed, config);
  expect_invariants(view, allowed, config, plan);
  if (c.launch == Launch::anywhere) expect_even_spread(view, plan);
  // Synthetic and XML topologies are never bound.
  EXPECT_EQ(plan.pinning, PinningMode::none);
  EXPECT_NE(plan.pinning_reason.find("not this system"), std::string::npos);
  // Deterministic: every rank of the node computes the same plan.
  EXPECT_EQ(plan_to_json(compute_role_plan(view, allowed, config)), plan_to_json(plan));
}

INSTANTIATE_TEST_SUITE_P(Topologies, PlanInvariants, testing::ValuesIn(all_cases()), case_name);

// --- specific plans ------------------------------------------------------------------------

const TopologyView& this_machine() { return view_of(machines()[0]); }
const TopologyView& two_pack_8core() { return view_of(machines()[1]); }
const TopologyView& smt_machine() { return view_of(machines()[2]); }
const TopologyView& eight_numa() { return view_of(machines()[3]); }

bool has_note(const RolePlan& plan, const std::string& text) {
  return std::any_of(plan.notes.begin(), plan.notes.end(),
                     [&](const std::string& note) { return note.find(text) != std::string::npos; });
}

std::string notes_of(const RolePlan& plan) {
  std::string all;
  for (const auto& note : plan.notes) all += note + "\n";
  return all;
}

// The plan for n ranks that the launcher left free to run anywhere.
RolePlan plan_anywhere(const TopologyView& view, int n, const Config& config) {
  return compute_role_plan(view, launcher(view, n, Launch::anywhere), config);
}

TEST(RolePlan, OneLaneFollowsResolveLayoutsRuleWhileEachRankHasACore) {
  // uniform_view({16}): one NUMA domain of 16 cores.
  const TopologyView one_domain = uniform_view({16});
  for (int n : {3, 4, 5, 8, 13, 16}) {
    const RolePlan plan = plan_anywhere(one_domain, n, config_with());
    const NodeLayout want = resolve_layout(config_with(), n);
    ASSERT_EQ(plan.lanes.size(), 1U);
    EXPECT_EQ(plan.layout.producers, want.producers) << n;
    EXPECT_EQ(plan.layout.compressors, want.compressors) << n;
    EXPECT_EQ(plan.layout.writers, want.writers) << n;
    EXPECT_EQ(plan.layout.idle, want.idle) << n;
    EXPECT_EQ(plan.layout.raw_slot_bytes, want.raw_slot_bytes);
    EXPECT_EQ(plan.layout.compressed_slot_bytes, want.compressed_slot_bytes);
  }
}

TEST(RolePlan, SixteenRanksOnThisMachineShareTwoCores) {
  const RolePlan plan = plan_anywhere(this_machine(), 16, config_with());
  EXPECT_TRUE(plan.oversubscribed);
  EXPECT_TRUE(has_note(plan, "16 ranks on 2 cores: cores shared, 8 ranks per core")) << notes_of(plan);
  std::map<int, int> load;
  for (const RankPlan& rp : plan.ranks) {
    ++load[rp.cores.front()];
    EXPECT_TRUE(rp.shares_core);
    EXPECT_EQ(rp.numa, 0);
  }
  EXPECT_EQ(load, (std::map<int, int>{{0, 8}, {1, 8}}));
  // Compressors are placed first: the first two compressors get different cores.
  EXPECT_NE(plan.ranks[static_cast<std::size_t>(plan.node_rank_of(Role::compressor, 0))].cores,
            plan.ranks[static_cast<std::size_t>(plan.node_rank_of(Role::compressor, 1))].cores);
}

TEST(RolePlan, CompressorsKeepWholeCoresWhenOthersCanShare) {
  // 5 ranks on 4 cores: 1 producer, 3 compressors, 1 writer; the producer and writer share.
  const TopologyView view = uniform_view({4});
  const RolePlan plan = plan_anywhere(view, 5, config_with());
  for (const RankPlan& rp : plan.ranks) EXPECT_EQ(rp.shares_core, rp.role != Role::compressor) << rp.node_rank;
  EXPECT_TRUE(has_note(plan, "5 ranks on 4 cores: cores shared, 1-2 ranks per core")) << notes_of(plan);
}

TEST(RolePlan, TwoPackagesSixteenRanksTwoLanesEightCoresEach) {
  const RolePlan plan = plan_anywhere(two_pack_8core(), 16, config_with());
  ASSERT_EQ(plan.lanes.size(), 2U);
  for (const LanePlan& lane : plan.lanes) {
    EXPECT_EQ(lane.ranks, 8);
    EXPECT_EQ(lane.producers, 2);
    EXPECT_EQ(lane.compressors, 5);
    EXPECT_EQ(lane.writers, 1);
    EXPECT_EQ(lane.numa_domains, std::vector<int>{lane.index});
    EXPECT_EQ(lane.cores.size(), 8U);
  }
  EXPECT_FALSE(plan.oversubscribed);
  EXPECT_TRUE(plan.notes.empty()) << notes_of(plan);
  // Free ranks fill lanes in node-rank order: 0-7 in lane 0, 8-15 in lane 1.
  for (const RankPlan& rp : plan.ranks) EXPECT_EQ(rp.lane, rp.node_rank / 8);
  // Not oversubscribed: every rank has a whole core, in machine order.
  for (const RankPlan& rp : plan.ranks) {
    EXPECT_FALSE(rp.shares_core);
    EXPECT_EQ(rp.cores, std::vector<int>{rp.node_rank});
  }
}

TEST(RolePlan, SmtMachineSixtyFourRanksOneLanePerDomainWholeCores) {
  const RolePlan plan = plan_anywhere(smt_machine(), 64, config_with());
  ASSERT_EQ(plan.lanes.size(), 8U);
  for (const LanePlan& lane : plan.lanes) {
    EXPECT_EQ(lane.ranks, 8);
    EXPECT_EQ(lane.numa_domains.size(), 1U);
  }
  for (const RankPlan& rp : plan.ranks) {
    ASSERT_EQ(rp.pus.size(), 2U) << "alone on its core: both hardware threads";
    EXPECT_EQ(rp.pus[1], rp.pus[0] + 128) << "Linux-style sibling numbering from the XML";
  }
}

TEST(RolePlan, SmtMachineTwoRanksPerCoreGetOnePuEach) {
  const RolePlan plan = plan_anywhere(smt_machine(), 256, config_with());
  EXPECT_TRUE(plan.oversubscribed);
  std::set<int> pus;
  for (const RankPlan& rp : plan.ranks) {
    ASSERT_EQ(rp.pus.size(), 1U);
    EXPECT_TRUE(pus.insert(rp.pus.front()).second);
  }
  EXPECT_EQ(pus.size(), 256U);
}

TEST(RolePlan, SmtMachineThreeRanksPerCoreShareTheWholeCore) {
  const RolePlan plan = plan_anywhere(smt_machine(), 384, config_with());
  for (const RankPlan& rp : plan.ranks) EXPECT_EQ(rp.pus.size(), 2U);
  EXPECT_TRUE(has_note(plan, "384 ranks on 128 cores: cores shared, 3 ranks per core")) << notes_of(plan);
}

TEST(RolePlan, FewRanksOnManyDomainsPackLanesIntoOneDomainEach) {
  // 8 domains of 8 cores, 16 ranks: at most 5 lanes; each lane's ranks fit one domain.
  const RolePlan plan = plan_anywhere(eight_numa(), 16, config_with());
  EXPECT_EQ(plan.lanes.size(), 5U);
  std::set<int> domains;
  for (const LanePlan& lane : plan.lanes) {
    EXPECT_EQ(lane.numa_domains.size(), 1U) << notes_of(plan);
    EXPECT_TRUE(domains.insert(lane.numa).second) << "two lanes in one domain";
  }
  EXPECT_TRUE(has_note(plan, "5 lanes for 8 NUMA domains: 16 ranks allow at most 5 lanes")) << notes_of(plan);
}

TEST(RolePlan, SixRanksOnTwoPackagesSpreadLanesOverPackages) {
  // 2 lanes of 3 over 8 domains: one lane per package.
  const RolePlan plan = plan_anywhere(smt_machine(), 6, config_with());
  ASSERT_EQ(plan.lanes.size(), 2U);
  EXPECT_EQ(plan.lanes[0].numa_domains, std::vector<int>{0});
  EXPECT_EQ(plan.lanes[1].numa_domains, std::vector<int>{4});
}

TEST(RolePlan, LauncherCoreBindingIsKept) {
  const auto allowed = launcher(two_pack_8core(), 16, Launch::core);
  const RolePlan plan = compute_role_plan(two_pack_8core(), allowed, config_with());
  for (const RankPlan& rp : plan.ranks) EXPECT_EQ(rp.pus, allowed[static_cast<std::size_t>(rp.node_rank)]);
  ASSERT_EQ(plan.lanes.size(), 2U);
}

TEST(RolePlan, LauncherSpreadingTooFewRanksMergesDomains) {
  // --bind-to core with 10 ranks: 8 on package 0, 2 on package 1. Two ranks cannot form a lane.
  const auto allowed = launcher(two_pack_8core(), 10, Launch::core);
  const RolePlan plan = compute_role_plan(two_pack_8core(), allowed, config_with());
  ASSERT_EQ(plan.lanes.size(), 1U);
  EXPECT_EQ(plan.lanes[0].numa_domains, (std::vector<int>{0, 1}));
  EXPECT_TRUE(has_note(plan, "lane 0 spans NUMA 0,1: the launcher bound its ranks in several domains"))
      << notes_of(plan);
  EXPECT_TRUE(has_note(plan, "1 lane for 2 NUMA domains")) << notes_of(plan);
}

TEST(RolePlan, UnequalDomainsGetRanksInProportionToCores) {
  const TopologyView view = uniform_view({12, 4});
  const RolePlan plan = plan_anywhere(view, 32, config_with());
  ASSERT_EQ(plan.lanes.size(), 2U);
  EXPECT_EQ(plan.lanes[0].ranks, 24);
  EXPECT_EQ(plan.lanes[1].ranks, 8);
}

TEST(RolePlan, SmallDomainsAreMergedWithNeighbours) {
  // 6 domains of 2 cores, 12 ranks: a lane needs 3 ranks, a domain holds 2 without sharing.
  // Four lanes would crowd 3 ranks onto some domain's 2 cores: three lanes of two domains.
  const TopologyView view = uniform_view({2, 2, 2, 2, 2, 2});
  const auto allowed = launcher(view, 12, Launch::anywhere);
  const RolePlan plan = compute_role_plan(view, allowed, config_with());
  expect_invariants(view, allowed, config_with(), plan);
  ASSERT_EQ(plan.lanes.size(), 3U);
  for (const LanePlan& lane : plan.lanes) {
    EXPECT_EQ(lane.ranks, 4);
    EXPECT_EQ(lane.numa_domains.size(), 2U);
  }
  EXPECT_FALSE(plan.oversubscribed);
  EXPECT_TRUE(has_note(plan, "lane 0 spans NUMA 0,1: its 4 ranks need more cores than one domain has"))
      << notes_of(plan);
  EXPECT_TRUE(has_note(plan,
                       "3 lanes for 6 NUMA domains: 12 ranks allow at most 4 lanes of 3+ ranks; "
                       "with 4 some lane would get fewer than 3 ranks"))
      << notes_of(plan);
}

TEST(RolePlan, EmptyAllowedSetMeansAnywhere) {
  const TopologyView view = uniform_view({4, 4});
  const RolePlan plan = compute_role_plan(view, std::vector<CpuSet>(8), config_with());
  EXPECT_EQ(plan.lanes.size(), 2U);
  EXPECT_TRUE(plan.notes.empty()) << notes_of(plan);
}

TEST(RolePlan, AllowedPusOutsideTheTopologyAreNoted) {
  const TopologyView view = uniform_view({4});
  std::vector<CpuSet> allowed(4, CpuSet{0, 1, 2, 3});
  allowed[2] = {100, 101};
  const RolePlan plan = compute_role_plan(view, allowed, config_with());
  EXPECT_TRUE(has_note(plan, "ranks 2: allowed PUs are not in the topology")) << notes_of(plan);
  EXPECT_EQ(plan.ranks[2].pus.size(), 1U);
}

TEST(RolePlan, HandBuiltViewEqualsHwlocsSynthetic) {
  EXPECT_EQ(Topology::synthetic("pack:2 [numa] core:4 pu:2").view(), uniform_view({4, 4}, 2));
}

TEST(RolePlan, RandomNodesKeepTheInvariants) {
  // Uneven domains, random launcher sets (a random run of PUs, or anywhere) and random stage
  // counts; a plan is either valid or a ConfigError from the node-level rule.
  std::mt19937 random(12345);
  const auto pick = [&](int low, int high) { return std::uniform_int_distribution<int>(low, high)(random); };
  int plans = 0;
  for (int round = 0; round < 1000; ++round) {
    std::vector<int> cores(static_cast<std::size_t>(pick(1, 6)));
    for (int& c : cores) c = pick(1, 9);
    const TopologyView view = uniform_view(cores, pick(1, 2));
    const CpuSet all = view.all_pus();
    const int n = pick(1, 40);
    std::vector<CpuSet> allowed;
    for (int r = 0; r < n; ++r) {
      if (pick(0, 2) == 0) {
        allowed.push_back(all);
        continue;
      }
      const int first = pick(0, static_cast<int>(all.size()) - 1);
      const int last = pick(first, static_cast<int>(all.size()) - 1);
      allowed.push_back(CpuSet(all.begin() + first, all.begin() + last + 1));
    }
    json stages = json::object();
    for (const char* key : {"producers", "compressors", "writers"})
      if (pick(0, 2) == 0) stages[key] = pick(1, std::max(1, n / 3));
    SCOPED_TRACE("round " + std::to_string(round) + ": " + std::to_string(n) + " ranks, stages " + stages.dump());
    const Config config = config_with(stages);
    try {
      const RolePlan plan = compute_role_plan(view, allowed, config);
      expect_invariants(view, allowed, config, plan);
      if (HasFailure()) {
        std::string sets;
        for (std::size_t r = 0; r < allowed.size(); ++r)
          sets += "rank " + std::to_string(r) + " allowed " + cpu_list(allowed[r]) + "\n";
        ADD_FAILURE() << "cores per domain " << json(cores).dump() << ", PUs per core "
                      << view.numa[0].cores[0].pus.size() << "\n"
                      << sets << plan_table(plan, true);
      }
      ++plans;
    } catch (const ConfigError&) {
      EXPECT_THROW(resolve_layout(config, n), ConfigError);
    }
    if (HasFailure()) break;
  }
  EXPECT_GT(plans, 500);
}

// --- stage counts --------------------------------------------------------------------------

TEST(RolePlanStages, ExplicitCountsSplitInProportionToLanes) {
  const Config config = config_with({{"producers", 3}, {"compressors", 9}, {"writers", 2}});
  const RolePlan plan = plan_anywhere(two_pack_8core(), 16, config);
  ASSERT_EQ(plan.lanes.size(), 2U);
  EXPECT_EQ(plan.lanes[0].producers + plan.lanes[1].producers, 3);
  EXPECT_EQ(plan.lanes[0].compressors + plan.lanes[1].compressors, 9);
  EXPECT_EQ(plan.lanes[0].writers, 1);
  EXPECT_EQ(plan.lanes[1].writers, 1);
  for (const LanePlan& lane : plan.lanes) {
    EXPECT_LE(std::abs(lane.producers * 2 - 3), 1);
    EXPECT_LE(std::abs(lane.compressors * 2 - 9), 1);
  }
  EXPECT_EQ(plan.layout.idle, 2);
}

TEST(RolePlanStages, ExplicitCountBelowDomainsReducesLanes) {
  const Config config = config_with({{"writers", 1}});
  const RolePlan plan = plan_anywhere(two_pack_8core(), 16, config);
  ASSERT_EQ(plan.lanes.size(), 1U);
  EXPECT_EQ(plan.layout.writers, 1);
  EXPECT_TRUE(has_note(plan, "stages.writers = 1 allows at most 1 lane")) << notes_of(plan);
  // The single lane needs both domains' cores for its 16 ranks.
  EXPECT_EQ(plan.lanes[0].numa_domains, (std::vector<int>{0, 1}));
}

TEST(RolePlanStages, AutoRulePerLane) {
  // Two lanes of 8 ranks on 8 cores each: producers 8/4 = 2, writers 8/8 = 1, compressors 5.
  const RolePlan plan = plan_anywhere(two_pack_8core(), 16, config_with());
  ASSERT_EQ(plan.lanes.size(), 2U);
  for (const LanePlan& lane : plan.lanes) {
    EXPECT_EQ(lane.producers, 2);
    EXPECT_EQ(lane.compressors, 5);
    EXPECT_EQ(lane.writers, 1);
    EXPECT_EQ(lane.idle, 0);
  }
}

TEST(RolePlanStages, IngestNeedsHalfAsManyProducers) {
  // One lane of 16 ranks on 16 cores: producers 16/8 = 2 for an ingest (16/4 = 4 generating).
  const TopologyView one_domain = uniform_view({16});
  const Config ingest = parse_config(json{{"input", {{"files", {"in.h5"}}, {"dataset", "/data"}}}});
  const RolePlan plan = plan_anywhere(one_domain, 16, ingest);
  EXPECT_EQ(plan.layout.producers, 2);
  EXPECT_EQ(plan.layout.compressors, 12);
  EXPECT_EQ(plan.layout.writers, 2);
  EXPECT_EQ(plan.layout.producers, resolve_layout(ingest, 16).producers);
}

TEST(RolePlanStages, AutoFollowsTheCoresOnceRanksOutnumberThem) {
  // Two lanes of 12 ranks on 8 cores each: the counts of 8 ranks, one compressor per core
  // (2/8/1), the 12th rank idle.
  const RolePlan two_lanes = plan_anywhere(two_pack_8core(), 24, config_with());
  ASSERT_EQ(two_lanes.lanes.size(), 2U);
  for (const LanePlan& lane : two_lanes.lanes) {
    EXPECT_EQ(lane.producers, 2);
    EXPECT_EQ(lane.compressors, 8);
    EXPECT_EQ(lane.writers, 1);
    EXPECT_EQ(lane.idle, 1);
  }
  // 2 cores: 1/1/1 for 3 ranks, then 1/2/1 and the rest idle, however many ranks.
  for (int n : {3, 4, 5, 8, 16, 64}) {
    const RolePlan plan = plan_anywhere(this_machine(), n, config_with());
    ASSERT_EQ(plan.lanes.size(), 1U);
    EXPECT_EQ(plan.layout.producers, 1) << n;
    EXPECT_EQ(plan.layout.compressors, n == 3 ? 1 : 2) << n;
    EXPECT_EQ(plan.layout.writers, 1) << n;
    EXPECT_EQ(plan.layout.idle, n == 3 ? 0 : n - 4) << n;
  }
  // Explicit counts are kept; only the auto ones follow the cores.
  const RolePlan explicit_producers = plan_anywhere(this_machine(), 16, config_with({{"producers", 3}}));
  EXPECT_EQ(explicit_producers.layout.producers, 3);
  EXPECT_EQ(explicit_producers.layout.compressors, 2);
  EXPECT_EQ(explicit_producers.layout.writers, 1);
}

TEST(RolePlanStages, ConfigErrorsMatchResolveLayout) {
  const auto message = [](const Config& config, int n) {
    try {
      plan_anywhere(two_pack_8core(), n, config);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no ConfigError");
  };
  EXPECT_EQ(message(config_with(), 2),
            "config: stages: the job needs at least 3 ranks per node (one per stage), got 2");
  EXPECT_EQ(message(config_with({{"producers", 3}, {"compressors", 2}}), 4),
            "config: stages: producers + compressors + writers = 6 exceeds the 4 ranks on this node");
}

TEST(RolePlanStages, MemoryBudgetUsesThePlansCounts) {
  json doc = {{"matrices", {{"count", 10}, {"rows", 1000}, {"cols", 1000}}}, {"slots", {{"memory_budget_mb", 1024}}}};
  const Config config = parse_config(doc);
  const RolePlan plan = plan_anywhere(two_pack_8core(), 16, config);
  const NodeLayout want = resolve_layout(config, 16);  // same totals here: 4, 10, 2
  EXPECT_EQ(plan.layout.raw_slots_per_producer, want.raw_slots_per_producer);
  EXPECT_EQ(plan.layout.compressed_slots_per_compressor, want.compressed_slots_per_compressor);
}

// --- pinning decision ----------------------------------------------------------------------

TEST(RolePlanPinning, Modes) {
  TopologyView view = uniform_view({2, 2});
  view.this_system = true;  // as if this machine: the decision is pure data
  const auto anywhere = launcher(view, 4, Launch::anywhere);
  const auto per_core = launcher(view, 4, Launch::core);
  const auto plan = [&](const std::vector<CpuSet>& allowed, const char* mode) {
    return compute_role_plan(view, allowed, config_with({}, {{"pinning", mode}}));
  };
  EXPECT_EQ(plan(anywhere, "auto").pinning, PinningMode::cores);
  EXPECT_EQ(plan(per_core, "auto").pinning, PinningMode::none);
  EXPECT_NE(plan(per_core, "auto").pinning_reason.find("launcher bound every rank to one core"), std::string::npos);
  EXPECT_EQ(plan(per_core, "cores").pinning, PinningMode::cores);
  EXPECT_EQ(plan(anywhere, "none").pinning, PinningMode::none);
  view.this_system = false;
  EXPECT_EQ(plan(anywhere, "cores").pinning, PinningMode::none);
}

// --- formatting ----------------------------------------------------------------------------

TEST(PlanFormat, TableHasLanesNotesAndOneRowPerRank) {
  const RolePlan plan = plan_anywhere(this_machine(), 16, config_with());
  const std::string with = plan_table(plan, true);
  const std::string without = plan_table(plan, false);
  EXPECT_NE(with.find("rank  role        index  lane  NUMA  cores  PUs  shared"), std::string::npos) << with;
  EXPECT_NE(with.find("note: 16 ranks on 2 cores: cores shared, 8 ranks per core"), std::string::npos);
  EXPECT_NE(with.find("stages: 1 producer, 2 compressors, 1 writer, 12 idle"), std::string::npos) << with;
  EXPECT_NE(with.find("note: auto stages follow the 2 cores (one compressor per core): 12 ranks idle"),
            std::string::npos)
      << with;
  EXPECT_EQ(without.find("shared\n"), std::string::npos) << without;
  EXPECT_EQ(std::count(with.begin(), with.end(), '\n'), std::count(without.begin(), without.end(), '\n'));
  EXPECT_NE(with.find("  0  producer        0     0  0     0      0    yes\n"), std::string::npos) << with;
  // Fixed width: every rank row is as long as the header row.
  const auto rows_from = with.find("rank  role");
  std::size_t width = 0;
  for (std::size_t at = rows_from; at < with.size();) {
    const std::size_t end = with.find('\n', at);
    const std::string line = with.substr(at, end - at);
    if (width == 0) width = line.size();
    EXPECT_LE(line.size(), width) << line;
    at = end + 1;
  }
}

TEST(PlanFormat, Json) {
  const RolePlan plan = plan_anywhere(two_pack_8core(), 16, config_with());
  const json j = plan_to_json(plan);
  EXPECT_EQ(j.at("lanes").size(), 2U);
  EXPECT_EQ(j.at("ranks").size(), 16U);
  EXPECT_EQ(j.at("layout").at("compressors"), 10);
  EXPECT_EQ(j.at("pinning").at("mode"), "none");
  EXPECT_EQ(j.at("oversubscribed"), false);
  const json& r9 = j.at("ranks").at(9);
  EXPECT_EQ(r9.at("lane"), 1);
  EXPECT_EQ(r9.at("numa"), 1);
  EXPECT_EQ(r9.at("cores").size(), 1U);
  EXPECT_EQ(r9.at("pus"), r9.at("cores"));  // pu:1, core L# == PU P# here
  EXPECT_EQ(j.at("topology"), "2 NUMA domains, 16 cores, 16 PUs (synthetic/XML)");
}

TEST(PlanFormat, CpuLists) {
  EXPECT_EQ(cpu_list({}), "");
  EXPECT_EQ(cpu_list({0, 1, 2, 3, 8}), "0-3,8");
  EXPECT_EQ(cpu_list({0, 1, 5, 7, 8, 9}), "0-1,5,7-9");
  EXPECT_EQ(parse_cpu_list("0-3,8"), (CpuSet{0, 1, 2, 3, 8}));
  EXPECT_EQ(parse_cpu_list("9,1-2,1"), (CpuSet{1, 2, 9}));
  EXPECT_EQ(parse_cpu_list(""), CpuSet{});
  for (const char* bad : {"a", "1-", "3-1", "1,,2", "1,", "-1"})
    EXPECT_THROW(parse_cpu_list(bad), std::invalid_argument) << bad;
}

TEST(PlanFormat, Masks) {
  EXPECT_EQ(this_machine().mask_words(), 1);
  EXPECT_EQ(smt_machine().mask_words(), 4);  // PUs 0-255
  const CpuSet set{0, 63, 64, 128, 255};
  const auto mask = to_mask(set, 4);
  ASSERT_EQ(mask.size(), 4U);
  EXPECT_EQ(mask[0], (std::uint64_t{1} << 63) | 1U);
  EXPECT_EQ(from_mask(mask.data(), 4), set);
  EXPECT_EQ(from_mask(to_mask(set, 2).data(), 2), (CpuSet{0, 63, 64}));
}

TEST(PlanFormat, TopologyFreePlanKeepsTheOldOrder) {
  NodeLayout layout;
  layout.producers = 2;
  layout.compressors = 3;
  layout.writers = 1;
  layout.idle = 1;
  const RolePlan plan = make_node_plan(layout);
  const std::vector<Role> want{Role::producer,   Role::producer, Role::compressor, Role::compressor,
                               Role::compressor, Role::writer,   Role::idle};
  ASSERT_EQ(plan.ranks.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_EQ(plan.ranks[i].role, want[i]);
  EXPECT_EQ(plan.node_rank_of(Role::compressor, 2), 4);
  EXPECT_EQ(plan.lanes.size(), 1U);
  EXPECT_NE(plan_table(plan, true).find("NUMA  cores  PUs  shared"), std::string::npos);
}

// --- Topology ------------------------------------------------------------------------------

TEST(Topology, SyntheticAndXmlAreNotThisSystem) {
  EXPECT_FALSE(Topology::synthetic("pack:2 [numa] core:2 pu:1").is_this_system());
  EXPECT_FALSE(Topology::from_xml(topology_file("2pack_1numa_8core.xml")).is_this_system());
}

TEST(Topology, XmlRoundTripsTheSyntheticDescription) {
  EXPECT_EQ(Topology::from_xml(topology_file("2pack_1numa_8core.xml")).view(),
            Topology::synthetic("pack:2 [numa] core:8 pu:1").view());
}

TEST(Topology, ShapesOfTheCommittedTopologies) {
  struct Shape {
    std::size_t machine;
    int numa, cores, pus;
  };
  for (const Shape& s : {Shape{0, 1, 2, 2}, Shape{1, 2, 16, 16}, Shape{2, 8, 128, 256}, Shape{3, 8, 64, 64}}) {
    const TopologyView& view = view_of(machines()[s.machine]);
    EXPECT_EQ(static_cast<int>(view.numa.size()), s.numa) << machines()[s.machine].name;
    EXPECT_EQ(view.core_count(), s.cores) << machines()[s.machine].name;
    EXPECT_EQ(view.pu_count(), s.pus) << machines()[s.machine].name;
  }
}

TEST(Topology, MemoryOnlyNumaNodesAreLeftOut) {
  const TopologyView view = Topology::synthetic("pack:2 [numa] [numa] core:4 pu:2").view();
  ASSERT_EQ(view.numa.size(), 2U);
  EXPECT_EQ(view.numa[0].os_index, 0);
  EXPECT_EQ(view.numa[1].os_index, 2);
  EXPECT_EQ(view.core_count(), 8);
}

TEST(Topology, Errors) {
  EXPECT_THROW(Topology::synthetic("pack:2 bogus:3"), TopologyError);
  EXPECT_THROW(Topology::from_xml(topology_file("no_such_file.xml")), TopologyError);
  try {
    Topology::from_xml("/nonexistent/topology.xml");
  } catch (const TopologyError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("topology: cannot read XML topology", 0), 0U) << e.what();
    EXPECT_EQ(e.exit_code(), kExitInternal);
  }
  EXPECT_THROW(compute_role_plan(TopologyView{}, std::vector<CpuSet>(3), config_with()), TopologyError);
}

TEST(Topology, MoveOnly) {
  Topology a = Topology::synthetic("pack:1 [numa] core:3 pu:1");
  Topology b = std::move(a);
  EXPECT_EQ(b.view().core_count(), 3);
  a = std::move(b);
  EXPECT_EQ(a.view().core_count(), 3);
  EXPECT_EQ(a.source(), "synthetic \"pack:1 [numa] core:3 pu:1\"");
}

bool hwloc_redirected() {
  for (const char* name : {"HWLOC_SYNTHETIC", "HWLOC_XMLFILE", "HWLOC_FSROOT"})
    if (const char* v = std::getenv(name); v != nullptr && *v != '\0') return true;
  return false;
}

TEST(Topology, ThisSystemHonoursHwlocSynthetic) {
  if (hwloc_redirected()) GTEST_SKIP() << "HWLOC_SYNTHETIC/HWLOC_XMLFILE already set";
  ASSERT_EQ(setenv("HWLOC_SYNTHETIC", "pack:2 [numa] core:4 pu:1", 1), 0);
  const Topology topology = Topology::this_system();
  unsetenv("HWLOC_SYNTHETIC");
  EXPECT_FALSE(topology.is_this_system());
  EXPECT_EQ(topology.source(), "HWLOC_SYNTHETIC=\"pack:2 [numa] core:4 pu:1\"");
  EXPECT_EQ(topology.view(), uniform_view({4, 4}));
  // Such a topology is planned like any other, and never bound.
  const RolePlan plan = compute_role_plan(topology.view(), std::vector<CpuSet>(8, allowed_cpuset(topology)),
                                          config_with({}, {{"pinning", "cores"}}));
  EXPECT_EQ(plan.lanes.size(), 2U);
  EXPECT_EQ(plan.pinning, PinningMode::none);
  EXPECT_FALSE(bind_current_process(topology, plan.ranks[0], PinningMode::cores).bound);
}

TEST(Topology, ThisMachineIsOneNumaTwoCores) {
  if (hwloc_redirected()) GTEST_SKIP() << "HWLOC_SYNTHETIC/HWLOC_XMLFILE set: not this machine";
  const Topology topology = Topology::this_system();
  // 2 vCPUs are often one core with two hyperthreads, or two NUMA nodes: only a machine shaped
  // like the one the XML was exported from (1 NUMA node, 2 cores, a PU each) is compared.
  const TopologyView shape = topology.view();
  if (shape.numa.size() != 1 || shape.core_count() != 2 || shape.pu_count() != 2)
    GTEST_SKIP() << "not shaped like the 1 NUMA x 2 core machine this test describes";
  EXPECT_TRUE(topology.is_this_system());
  EXPECT_EQ(topology.source(), "this system");
  const TopologyView view = topology.view();
  EXPECT_TRUE(view.this_system);
  EXPECT_EQ(view.numa.size(), 1U);
  EXPECT_EQ(view.core_count(), 2);
  // And it matches the XML exported from it (minus the this-system flag).
  TopologyView exported = this_machine();
  exported.this_system = true;
  EXPECT_EQ(view, exported);
}

// --- binding -------------------------------------------------------------------------------

TEST(Binding, SyntheticTopologyIsNeverBound) {
  const Topology topology = Topology::synthetic("pack:2 [numa] core:2 pu:1");
  const TopologyView view = topology.view();
  const RolePlan plan = plan_anywhere(view, 4, config_with());
  const BindResult result = bind_current_process(topology, plan.ranks[0], PinningMode::cores);
  EXPECT_FALSE(result.bound);
  EXPECT_FALSE(result.memory_bound);
  EXPECT_EQ(result.reason, "topology is not this system (synthetic/XML): not bound");
  EXPECT_EQ(current_pu(topology), -1);
  EXPECT_EQ(allowed_cpuset(topology), view.all_pus());
}

TEST(Binding, BindsThisProcessToItsPlannedCore) {
  if (hwloc_redirected()) GTEST_SKIP() << "HWLOC_SYNTHETIC/HWLOC_XMLFILE set";
  const Topology topology = Topology::this_system();
  const CpuSet before = allowed_cpuset(topology);
  ASSERT_FALSE(before.empty());
  const TopologyView view = topology.view();
  const RolePlan plan =
      compute_role_plan(view, std::vector<CpuSet>(4, before), config_with({}, {{"pinning", "cores"}}));
  ASSERT_EQ(plan.pinning, PinningMode::cores);
  const RankPlan& me = plan.ranks.back();

  const BindResult none = bind_current_process(topology, me, PinningMode::none);
  EXPECT_FALSE(none.bound);
  EXPECT_EQ(allowed_cpuset(topology), before);

  const BindResult result = bind_current_process(topology, me, plan.pinning);
  EXPECT_TRUE(result.bound) << result.reason;
  EXPECT_TRUE(result.memory_bound) << result.reason;
  EXPECT_EQ(result.pus, me.pus);
  EXPECT_EQ(allowed_cpuset(topology), me.pus);
  volatile double sink = 0;
  for (int i = 0; i < 1000000; ++i) sink = sink + i;
  const int pu = current_pu(topology);
  EXPECT_TRUE(std::binary_search(me.pus.begin(), me.pus.end(), pu)) << pu;

  // Now bound to one core: `auto` keeps that binding.
  const BindResult kept = bind_current_process(topology, plan.ranks.front(), PinningMode::automatic);
  EXPECT_FALSE(kept.bound);
  EXPECT_NE(kept.reason.find("launcher bound this rank to one core"), std::string::npos) << kept.reason;

  // Restore the binding the test started with.
  RankPlan restore;
  restore.pus = before;
  EXPECT_TRUE(bind_current_process(topology, restore, PinningMode::cores).bound);
  EXPECT_EQ(allowed_cpuset(topology), before);
}

}  // namespace
}  // namespace shmjob
