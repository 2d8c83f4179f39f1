// compute_role_plan(): lanes, stage counts, roles and cores from plain data. The rules are in
// docs/placement.md; the steps here follow them in order:
//   1. normalise every rank's allowed PUs and find the domains each may run in;
//   2. choose the number of lanes and which neighbouring domains each lane may use;
//   3. give every rank a lane (launcher-confined ranks stay in their domain, free ranks go to
//      lanes in proportion to the lanes' cores, at least 3 per lane);
//   4. split the stage counts over the lanes and give roles;
//   5. give every rank a core of its lane (distinct cores while they last, then shared evenly).
// Everything is deterministic, so every rank of a node computes the same plan.
#include <algorithm>
#include <cstddef>
#include <functional>
#include <limits>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "config/auto_stages.hpp"
#include "shmjob/error.hpp"
#include "topology/role_plan.hpp"

namespace shmjob {
namespace {

using Size = std::size_t;

Size sz(int value) { return static_cast<Size>(value); }
int num(Size value) { return static_cast<int>(value); }

constexpr int kMinLaneRanks = 3;  // one producer, one compressor, one writer

struct CoreRef {
  int domain = 0;  // index into view.numa
  int core = 0;    // index into view.numa[domain].cores
  friend auto operator<=>(const CoreRef&, const CoreRef&) = default;
};

// Step 1 ------------------------------------------------------------------------------------

struct RankInput {
  CpuSet allowed;            // PUs of the view it may use, sorted
  std::vector<int> domains;  // view domain indexes holding some of them, ascending
};

struct Inputs {
  std::map<int, CoreRef> home_of_pu;
  std::vector<RankInput> ranks;
  std::vector<std::vector<bool>> usable;  // [domain][core]: some rank may run there
  std::vector<int> usable_cores;          // per domain
  int total_usable_cores = 0;
};

Inputs normalise(const TopologyView& view, const std::vector<CpuSet>& allowed, std::vector<std::string>& notes) {
  Inputs in;
  for (Size d = 0; d < view.numa.size(); ++d)
    for (Size c = 0; c < view.numa[d].cores.size(); ++c)
      for (int pu : view.numa[d].cores[c].pus) in.home_of_pu.emplace(pu, CoreRef{num(d), num(c)});
  const CpuSet everything = view.all_pus();

  std::vector<int> outside;  // ranks whose non-empty allowed set misses the view entirely
  in.ranks.resize(allowed.size());
  for (Size r = 0; r < allowed.size(); ++r) {
    CpuSet& mine = in.ranks[r].allowed;
    for (int pu : allowed[r])
      if (in.home_of_pu.contains(pu)) mine.push_back(pu);
    std::sort(mine.begin(), mine.end());
    mine.erase(std::unique(mine.begin(), mine.end()), mine.end());
    if (mine.empty()) {
      if (!allowed[r].empty()) outside.push_back(num(r));
      mine = everything;
    }
  }
  if (!outside.empty())
    notes.push_back("ranks " + cpu_list(outside) +
                    ": allowed PUs are not in the topology; placed as if allowed anywhere");

  in.usable.resize(view.numa.size());
  in.usable_cores.assign(view.numa.size(), 0);
  for (Size d = 0; d < view.numa.size(); ++d) in.usable[d].assign(view.numa[d].cores.size(), false);
  for (RankInput& rank : in.ranks) {
    for (int pu : rank.allowed) {
      const CoreRef at = in.home_of_pu.at(pu);
      in.usable[sz(at.domain)][sz(at.core)] = true;
      rank.domains.push_back(at.domain);
    }
    std::sort(rank.domains.begin(), rank.domains.end());
    rank.domains.erase(std::unique(rank.domains.begin(), rank.domains.end()), rank.domains.end());
  }
  for (Size d = 0; d < view.numa.size(); ++d) {
    in.usable_cores[d] = num(static_cast<Size>(std::count(in.usable[d].begin(), in.usable[d].end(), true)));
    in.total_usable_cores += in.usable_cores[d];
  }
  return in;
}

// Step 2 ------------------------------------------------------------------------------------

// Splits positions 0..weights.size()-1 into `lanes` contiguous groups, maximising the smallest
// group weight, then minimising the largest. Returns the group of every position.
std::vector<int> partition(const std::vector<double>& weights, int lanes) {
  const Size n = weights.size();
  const Size k_max = sz(lanes);
  constexpr double kEps = 1e-9;
  struct Best {
    bool valid = false;
    double low = 0, high = 0;
    Size from = 0;
  };
  std::vector<double> prefix(n + 1, 0.0);
  for (Size i = 0; i < n; ++i) prefix[i + 1] = prefix[i] + weights[i];
  std::vector<std::vector<Best>> best(k_max + 1, std::vector<Best>(n + 1));
  best[0][0] = {true, std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(), 0};
  for (Size k = 1; k <= k_max; ++k)
    for (Size i = k; i <= n; ++i)
      for (Size j = k - 1; j < i; ++j) {
        const Best& before = best[k - 1][j];
        if (!before.valid) continue;
        const double w = prefix[i] - prefix[j];
        const double low = std::min(before.low, w), high = std::max(before.high, w);
        Best& b = best[k][i];
        if (!b.valid || low > b.low + kEps || (low > b.low - kEps && high < b.high - kEps)) b = {true, low, high, j};
      }
  std::vector<int> group(n, 0);
  Size end = n;
  for (Size k = k_max; k >= 1; --k) {
    const Size from = best[k][end].from;
    for (Size i = from; i < end; ++i) group[i] = num(k - 1);
    end = from;
  }
  return group;
}

// Step 3 ------------------------------------------------------------------------------------

// Gives every rank a lane, or nullopt when some lane cannot get kMinLaneRanks ranks.
std::optional<std::vector<int>> distribute(const Inputs& in, const std::vector<int>& lane_of_domain,
                                           const std::vector<int>& lane_cores, int lanes) {
  const Size n = in.ranks.size();
  std::vector<int> lane_of_rank(n, -1);
  std::vector<int> load(sz(lanes), 0);
  // Free ranks grouped by the set of lanes they may join; classes in order of (fewest lanes,
  // first rank), so the most constrained ranks are placed first.
  std::map<std::vector<int>, std::vector<int>> by_lanes;
  for (Size r = 0; r < n; ++r) {
    std::vector<int> eligible;
    for (int d : in.ranks[r].domains) eligible.push_back(lane_of_domain[sz(d)]);
    std::sort(eligible.begin(), eligible.end());
    eligible.erase(std::unique(eligible.begin(), eligible.end()), eligible.end());
    if (eligible.size() == 1) {
      lane_of_rank[r] = eligible.front();
      ++load[sz(eligible.front())];
    } else {
      by_lanes[eligible].push_back(num(r));
    }
  }
  struct Class {
    std::vector<int> lanes, ranks;
    std::vector<int> per_lane;  // how many of its ranks go to each lane
    int left = 0;
  };
  std::vector<Class> classes;
  for (auto& [eligible, ranks] : by_lanes)
    classes.push_back({eligible, ranks, std::vector<int>(sz(lanes), 0), num(ranks.size())});
  std::stable_sort(classes.begin(), classes.end(), [](const Class& a, const Class& b) {
    return a.lanes.size() != b.lanes.size() ? a.lanes.size() < b.lanes.size() : a.ranks.front() < b.ranks.front();
  });
  const auto holds = [](const Class& c, int lane) { return std::binary_search(c.lanes.begin(), c.lanes.end(), lane); };
  // Every lane first gets its minimum, then the rest go where ranks per core is lowest.
  for (int g = 0; g < lanes; ++g)
    while (load[sz(g)] < kMinLaneRanks) {
      auto it = std::find_if(classes.begin(), classes.end(), [&](const Class& c) { return c.left > 0 && holds(c, g); });
      if (it == classes.end()) return std::nullopt;
      ++it->per_lane[sz(g)];
      --it->left;
      ++load[sz(g)];
    }
  for (Class& c : classes)
    for (; c.left > 0; --c.left) {
      int pick = c.lanes.front();
      for (int g : c.lanes) {
        // (load+1)/cores lower, by cross-multiplication; ties: fewer ranks, then lower lane.
        const long long a = static_cast<long long>(load[sz(g)] + 1) * lane_cores[sz(pick)];
        const long long b = static_cast<long long>(load[sz(pick)] + 1) * lane_cores[sz(g)];
        if (a < b || (a == b && load[sz(g)] < load[sz(pick)])) pick = g;
      }
      ++c.per_lane[sz(pick)];
      ++load[sz(pick)];
    }
  // Each class's ranks go to its lanes in node-rank order, so lanes hold contiguous ranks.
  for (const Class& c : classes) {
    Size next = 0;
    for (int g = 0; g < lanes; ++g)
      for (int i = 0; i < c.per_lane[sz(g)]; ++i) lane_of_rank[sz(c.ranks[next++])] = g;
  }
  return lane_of_rank;
}

// Step 4 ------------------------------------------------------------------------------------

struct LaneStages {
  int producers = 0, compressors = 0, writers = 0;
};

// `total` over lanes in proportion to `sizes` (largest remainder), at least 1 each; the
// caller guarantees total >= sizes.size().
std::vector<int> apportion(int total, const std::vector<int>& sizes, std::vector<double>& quota) {
  const int all = std::accumulate(sizes.begin(), sizes.end(), 0);
  const Size lanes = sizes.size();
  std::vector<int> share(lanes);
  quota.assign(lanes, 0.0);
  int given = 0;
  for (Size g = 0; g < lanes; ++g) {
    quota[g] = static_cast<double>(total) * sizes[g] / all;
    share[g] = std::max(1, static_cast<int>(quota[g]));
    given += share[g];
  }
  // Add to the largest remainders, or take from the lanes furthest above their quota.
  while (given != total) {
    Size pick = lanes;
    for (Size g = 0; g < lanes; ++g) {
      const double excess = share[g] - quota[g];
      if (given < total ? (pick == lanes || excess < share[pick] - quota[pick])
                        : (share[g] > 1 && (pick == lanes || excess > share[pick] - quota[pick])))
        pick = g;
    }
    share[pick] += given < total ? 1 : -1;
    given += given < total ? 1 : -1;
  }
  return share;
}

// Per-lane stage counts, or nullopt when explicit counts cannot be split so every lane fits.
// `auto` counts follow the lane's ranks while it has a core for each, and its cores once it has
// more ranks than cores: then one compressor per core (compressing is the work), producers and
// writers by the same rule over the cores, sharing them (they need a few percent of a core
// each), and the other ranks idle. On 2 cores, 16 ranks: 1/2/1 + 12 idle; the rank-based split
// (4/10/2) ran W-large at 0.81 and W-small at 0.73 of 1/2/1's throughput (bench/README.md):
// compressors beyond the cores only add context switches and cache misses. The rule itself:
// auto_stages.hpp.
std::optional<std::vector<LaneStages>> split_stages(const StageCounts& stages, const std::vector<int>& sizes,
                                                    const std::vector<int>& cores, bool reads_input) {
  const Size lanes = sizes.size();
  std::vector<LaneStages> out(lanes);
  struct Explicit {
    int LaneStages::*field;
    std::vector<double> quota;
  };
  std::vector<Explicit> fixed;
  // `auto_count`: the auto rule for a lane of that many ranks (or cores); none for compressors,
  // which get what is left.
  const auto stage = [&](const std::optional<int>& count, int LaneStages::*field,
                         const std::function<int(int)>& auto_count) {
    if (count) {
      if (*count < num(lanes)) return false;
      Explicit e{field, {}};
      const std::vector<int> share = apportion(*count, sizes, e.quota);
      for (Size g = 0; g < lanes; ++g) out[g].*field = share[g];
      fixed.push_back(std::move(e));
    } else if (auto_count) {
      for (Size g = 0; g < lanes; ++g) out[g].*field = auto_count(std::min(sizes[g], cores[g]));
    }
    return true;
  };
  if (!stage(stages.producers, &LaneStages::producers, [&](int n) { return auto_producers(n, reads_input); }) ||
      !stage(stages.writers, &LaneStages::writers, auto_writers) ||
      !stage(stages.compressors, &LaneStages::compressors, nullptr))
    return std::nullopt;
  const bool auto_compressors = !stages.compressors;
  const auto need = [&](Size g) {
    return out[g].producers + out[g].writers + (auto_compressors ? 1 : out[g].compressors);
  };
  // Move explicit units from lanes that overflow to lanes with room; each move lowers the
  // total overflow, so this ends.
  for (;;) {
    Size over = lanes;
    for (Size g = 0; g < lanes && over == lanes; ++g)
      if (need(g) > sizes[g]) over = g;
    if (over == lanes) break;
    Explicit* from = nullptr;
    for (Explicit& e : fixed)
      if (out[over].*e.field > 1 &&
          (from == nullptr || out[over].*e.field - e.quota[over] > out[over].*from->field - from->quota[over]))
        from = &e;
    Size to = lanes;
    for (Size h = 0; h < lanes; ++h)
      if (need(h) < sizes[h] && (to == lanes || sizes[h] - need(h) > sizes[to] - need(to))) to = h;
    if (from == nullptr || to == lanes) return std::nullopt;
    --(out[over].*from->field);
    ++(out[to].*from->field);
  }
  if (auto_compressors)
    for (Size g = 0; g < lanes; ++g) {
      out[g].compressors = sizes[g] - out[g].producers - out[g].writers;
      if (sizes[g] > cores[g]) out[g].compressors = std::min(out[g].compressors, std::max(1, cores[g]));
    }
  return out;
}

// Step 5 ------------------------------------------------------------------------------------

int role_priority(Role role) {
  switch (role) {
    case Role::compressor:
      return 0;  // compressors get whole cores first
    case Role::producer:
      return 1;
    case Role::writer:
      return 2;
    case Role::idle:
      break;
  }
  return 3;
}

std::string rank_range(int first, int last) {
  return first == last ? std::to_string(first) : std::to_string(first) + "-" + std::to_string(last);
}

std::string per_core(int ranks, int cores) {
  return rank_range(ranks / cores, (ranks + cores - 1) / cores) + " ranks per core";
}

std::string numa_list(const std::vector<int>& domains) {
  std::string text;
  for (int d : domains) text += (text.empty() ? "" : ",") + std::to_string(d);
  return text;
}

// A maximum matching of `ranks` to distinct free cores of `domain` (Kuhn's augmenting paths;
// ranks earlier in the list are matched first, each tries its cores in machine order).
std::map<int, CoreRef> match_free_cores(const std::vector<int>& ranks, int domain,
                                        std::map<int, std::vector<CoreRef>>& candidates,
                                        std::map<CoreRef, std::vector<int>>& on_core) {
  std::map<CoreRef, int> owner;
  std::set<CoreRef> visited;
  const auto usable = [&](const CoreRef& c) { return c.domain == domain && on_core[c].empty(); };
  std::function<bool(int)> augment = [&](int r) {
    // A core nobody holds yet first, so ranks keep machine order when cores are plentiful.
    for (const CoreRef& c : candidates[r])
      if (usable(c) && !owner.contains(c)) {
        owner[c] = r;
        return true;
      }
    for (const CoreRef& c : candidates[r])
      if (usable(c) && visited.insert(c).second && augment(owner.at(c))) {
        owner[c] = r;
        return true;
      }
    return false;
  };
  for (int r : ranks) {
    visited.clear();
    augment(r);
  }
  std::map<int, CoreRef> core_of;
  for (const auto& [c, r] : owner) core_of.emplace(r, c);
  return core_of;
}

// Places the ranks of one lane on cores of its domains; fills plan.ranks[r].cores/pus/numa.
void place_lane(const TopologyView& view, const Inputs& in, const std::vector<int>& domains,
                const std::vector<int>& members, RolePlan& plan, std::map<CoreRef, std::vector<int>>& on_core) {
  // Candidate cores of each member, and the cores any member may use.
  std::map<int, std::vector<CoreRef>> candidates;
  std::set<CoreRef> lane_cores;
  std::map<int, int> eligible_in_domain;  // members that may run in each domain
  for (int r : members) {
    const RankInput& rank = in.ranks[sz(r)];
    std::set<CoreRef> mine;
    for (int pu : rank.allowed) {
      const CoreRef at = in.home_of_pu.at(pu);
      if (std::find(domains.begin(), domains.end(), at.domain) != domains.end()) mine.insert(at);
    }
    candidates[r].assign(mine.begin(), mine.end());
    lane_cores.insert(mine.begin(), mine.end());
    std::set<int> mine_domains;
    for (const CoreRef& c : mine) mine_domains.insert(c.domain);
    for (int d : mine_domains) ++eligible_in_domain[d];
  }
  // Domains in order of preference: where most members may run, then most usable cores, then
  // machine order. Ranks fill one domain before spilling into the next.
  std::vector<int> preferred = domains;
  std::stable_sort(preferred.begin(), preferred.end(), [&](int a, int b) {
    if (eligible_in_domain[a] != eligible_in_domain[b]) return eligible_in_domain[a] > eligible_in_domain[b];
    return in.usable_cores[sz(a)] > in.usable_cores[sz(b)];
  });
  std::map<int, int> preference;
  for (Size i = 0; i < preferred.size(); ++i) preference[preferred[i]] = num(i);

  // Ranks restricted to part of the lane first; when cores must be shared, compressors before
  // producers, writers and idle ranks; then by node rank.
  const bool crowded = members.size() > lane_cores.size();
  std::vector<int> order = members;
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    const bool ra = candidates[a].size() < lane_cores.size();
    const bool rb = candidates[b].size() < lane_cores.size();
    if (ra != rb) return ra;
    return crowded && role_priority(plan.ranks[sz(a)].role) < role_priority(plan.ranks[sz(b)].role);
  });
  const auto put = [&](int r, const CoreRef& c) {
    on_core[c].push_back(r);
    RankPlan& rp = plan.ranks[sz(r)];
    rp.numa = view.numa[sz(c.domain)].os_index;
    rp.cores = {view.numa[sz(c.domain)].cores[sz(c.core)].logical_index};
  };

  std::vector<int> left = order;
  if (!crowded) {
    // A core for every rank: take domains one at a time, each time the one where the most of
    // the remaining ranks get a free core of their own (ties: preference), so a lane whose
    // ranks fit one domain stays in it.
    std::vector<int> unused = preferred;
    while (!left.empty() && !unused.empty()) {
      std::map<int, CoreRef> best;
      std::size_t best_at = unused.size();
      for (std::size_t i = 0; i < unused.size(); ++i) {
        std::map<int, CoreRef> got = match_free_cores(left, unused[i], candidates, on_core);
        if (got.size() > best.size()) {
          best = std::move(got);
          best_at = i;
        }
      }
      if (best.empty()) break;
      std::vector<int> unmatched;
      for (int r : left) {
        auto it = best.find(r);
        if (it == best.end())
          unmatched.push_back(r);
        else
          put(r, it->second);
      }
      left = std::move(unmatched);
      unused.erase(unused.begin() + static_cast<std::ptrdiff_t>(best_at));
    }
  }
  for (int r : left) {
    // Sharing: the least loaded core; among equals the one with fewest compressors (sharing
    // falls on the other roles first), then the preferred domain, then machine order.
    const CoreRef* pick = nullptr;
    auto key = [&](const CoreRef& c) {
      const std::vector<int>& there = on_core[c];
      const auto compressors = std::count_if(there.begin(), there.end(),
                                             [&](int other) { return plan.ranks[sz(other)].role == Role::compressor; });
      return std::make_tuple(there.size(), compressors, preference[c.domain], c);
    };
    for (const CoreRef& c : candidates[r])
      if (pick == nullptr || key(c) < key(*pick)) pick = &c;
    put(r, *pick);
  }
}

// PUs of every rank once all cores are known: a rank alone on its core gets the whole core;
// ranks sharing a core get one PU each while the core has PUs for all, else the whole core.
void choose_pus(const TopologyView& view, const Inputs& in, const std::map<CoreRef, std::vector<int>>& on_core,
                RolePlan& plan) {
  for (const auto& [at, placed] : on_core) {
    const CpuSet& pus = view.numa[sz(at.domain)].cores[sz(at.core)].pus;
    // Each rank's allowed PUs on this core; ranks with fewer choices pick first.
    std::vector<std::pair<int, CpuSet>> ranks;
    for (int r : placed) {
      const CpuSet& allowed = in.ranks[sz(r)].allowed;
      CpuSet mine;
      for (int pu : pus)
        if (std::binary_search(allowed.begin(), allowed.end(), pu)) mine.push_back(pu);
      ranks.emplace_back(r, std::move(mine));
    }
    std::stable_sort(ranks.begin(), ranks.end(),
                     [](const auto& a, const auto& b) { return a.second.size() < b.second.size(); });
    std::set<int> taken;
    for (auto& [r, mine] : ranks) {
      RankPlan& rp = plan.ranks[sz(r)];
      rp.shares_core = ranks.size() > 1;
      if (rp.shares_core && ranks.size() <= pus.size()) {
        auto free = std::find_if(mine.begin(), mine.end(), [&](int pu) { return !taken.contains(pu); });
        if (free != mine.end()) {
          taken.insert(*free);
          mine = {*free};
        }
      }
      rp.pus = std::move(mine);
    }
  }
}

// placement.pinning resolved for this node.
void decide_pinning(const TopologyView& view, const Inputs& in, const Config& config, RolePlan& plan) {
  plan.pinning = PinningMode::none;
  if (config.placement.pinning == PinningMode::none) {
    plan.pinning_reason = "placement.pinning = none: not bound";
    return;
  }
  if (!view.this_system) {
    plan.pinning_reason = "topology is not this system (synthetic/XML): not bound";
    return;
  }
  if (config.placement.pinning == PinningMode::cores) {
    plan.pinning = PinningMode::cores;
    plan.pinning_reason = "placement.pinning = cores: each rank bound to its cores";
    return;
  }
  const bool launcher_pinned = std::all_of(in.ranks.begin(), in.ranks.end(), [&](const RankInput& r) {
    const CoreRef first = in.home_of_pu.at(r.allowed.front());
    return std::all_of(r.allowed.begin(), r.allowed.end(), [&](int pu) { return in.home_of_pu.at(pu) == first; });
  });
  if (launcher_pinned) {
    plan.pinning_reason = "auto: the launcher bound every rank to one core; kept, not re-bound";
  } else {
    plan.pinning = PinningMode::cores;
    plan.pinning_reason = "auto: each rank bound to its cores";
  }
}

std::string stage_key(int which) {
  static const char* const kKeys[] = {"stages.producers", "stages.compressors", "stages.writers"};
  return kKeys[which];
}

// compute_role_plan()'s steps ------------------------------------------------------------

// View domains with usable cores, machine order.
std::vector<int> used_domains(const Inputs& in) {
  std::vector<int> used;
  for (Size d = 0; d < in.usable_cores.size(); ++d)
    if (in.usable_cores[d] > 0) used.push_back(num(d));
  return used;
}

struct LaneLimit {
  int max_lanes = 0;
  std::string why_fewer;  // why fewer lanes than domains; "" when not
};

// The most lanes the rank count and the explicit stage counts allow.
LaneLimit lane_limit(int n, int domains, const StageCounts& stages) {
  LaneLimit limit;
  limit.max_lanes = std::min(domains, n / kMinLaneRanks);
  if (limit.max_lanes < domains)
    limit.why_fewer = std::to_string(n) + " ranks allow at most " + std::to_string(limit.max_lanes) + " lane" +
                      (limit.max_lanes == 1 ? "" : "s") + " of " + std::to_string(kMinLaneRanks) + "+ ranks";
  const std::optional<int> explicit_counts[] = {stages.producers, stages.compressors, stages.writers};
  for (int s = 0; s < 3; ++s)
    if (explicit_counts[s] && *explicit_counts[s] < limit.max_lanes) {
      limit.max_lanes = *explicit_counts[s];
      limit.why_fewer = stage_key(s) + " = " + std::to_string(limit.max_lanes) + " allows at most " +
                        std::to_string(limit.max_lanes) + " lane" + (limit.max_lanes == 1 ? "" : "s");
    }
  return limit;
}

// Expected ranks per used domain: confined ranks count fully, free ranks by the domain's share of
// the cores they may use.
std::vector<double> domain_weights(const Inputs& in, const std::vector<int>& used) {
  std::vector<double> weight(used.size(), 0.0);
  std::vector<int> position(in.usable_cores.size(), -1);
  for (Size u = 0; u < used.size(); ++u) position[sz(used[u])] = num(u);
  for (const RankInput& r : in.ranks) {
    int cores = 0;
    for (int d : r.domains) cores += in.usable_cores[sz(d)];
    for (int d : r.domains) weight[sz(position[sz(d)])] += static_cast<double>(in.usable_cores[sz(d)]) / cores;
  }
  return weight;
}

struct Lanes {
  int count = 0;
  std::vector<int> lane_of_domain;  // per view domain; -1: no usable core
  std::vector<int> lane_of_rank;    // per node rank
  std::vector<LaneStages> stages;   // per lane
};

// Steps 2 and 3: the most lanes, at most `max_lanes`, that work: each lane gets kMinLaneRanks
// ranks, a core per rank while the node has one for each, and a share of the stage counts.
Lanes choose_lanes(const Inputs& in, const std::vector<int>& used, int max_lanes, int n, const Config& config) {
  const std::vector<double> weight = domain_weights(in, used);
  Lanes chosen;
  chosen.lane_of_domain.assign(in.usable_cores.size(), -1);
  int lanes = max_lanes;
  for (; lanes >= 1; --lanes) {
    const std::vector<int> group = partition(weight, lanes);
    std::fill(chosen.lane_of_domain.begin(), chosen.lane_of_domain.end(), -1);
    std::vector<int> lane_cores(sz(lanes), 0);
    for (Size u = 0; u < used.size(); ++u) {
      chosen.lane_of_domain[sz(used[u])] = group[u];
      lane_cores[sz(group[u])] += in.usable_cores[sz(used[u])];
    }
    auto assigned = distribute(in, chosen.lane_of_domain, lane_cores, lanes);
    if (!assigned) continue;
    std::vector<int> sizes(sz(lanes), 0);
    for (int g : *assigned) ++sizes[sz(g)];
    // While the node has a core per rank, no lane may have to share cores.
    bool crowded = false;
    for (int g = 0; g < lanes; ++g)
      crowded = crowded || (n <= in.total_usable_cores && sizes[sz(g)] > lane_cores[sz(g)]);
    if (crowded) continue;
    auto split = split_stages(config.stages, sizes, lane_cores, config.input.has_value());
    if (!split) continue;
    chosen.lane_of_rank = std::move(*assigned);
    chosen.stages = std::move(*split);
    break;
  }
  // One lane always works: resolve_layout() accepted the node.
  if (lanes < 1) throw std::logic_error("compute_role_plan: no lane fits although the node does");
  chosen.count = lanes;
  return chosen;
}

// The note on a node with fewer lanes than NUMA domains, saying why.
void note_fewer_lanes(int lanes, const LaneLimit& limit, int domains, std::vector<std::string>& notes) {
  std::string why_fewer = limit.why_fewer;
  if (lanes < limit.max_lanes)
    why_fewer = (why_fewer.empty() ? "" : why_fewer + "; ") + "with " + std::to_string(limit.max_lanes) +
                " some lane would get fewer than 3 ranks, more ranks than cores, or too few ranks "
                "for its stage counts";
  if (lanes < domains)
    notes.push_back(std::to_string(lanes) + " lane" + (lanes == 1 ? "" : "s") + " for " + std::to_string(domains) +
                    " NUMA domains: " + why_fewer);
}

// The node's totals of the lanes' stage counts, laid out (slots) by resolve_layout().
NodeLayout node_layout(const Config& config, const std::vector<LaneStages>& stages, int n) {
  Config totals = config;
  totals.stages = {0, 0, 0};
  for (const LaneStages& s : stages) {
    *totals.stages.producers += s.producers;
    *totals.stages.compressors += s.compressors;
    *totals.stages.writers += s.writers;
  }
  return resolve_layout(totals, n);
}

// Node ranks of every lane, ascending.
std::vector<std::vector<int>> lane_members(const std::vector<int>& lane_of_rank, int lanes) {
  std::vector<std::vector<int>> members(sz(lanes));
  for (Size r = 0; r < lane_of_rank.size(); ++r) members[sz(lane_of_rank[r])].push_back(num(r));
  return members;
}

// Step 4: roles, lane by lane in node-rank order (producers, compressors, writers, then idle
// ranks); fills plan.lanes and the roles of plan.ranks.
void give_roles(const std::vector<LaneStages>& stages, const std::vector<std::vector<int>>& members, RolePlan& plan) {
  int offset[4] = {0, 0, 0, 0};  // node-wide role_index of each role's next rank
  for (int g = 0; g < num(members.size()); ++g) {
    const LaneStages& s = stages[sz(g)];
    LanePlan lane;
    lane.index = g;
    lane.ranks = num(members[sz(g)].size());
    lane.producers = s.producers;
    lane.compressors = s.compressors;
    lane.writers = s.writers;
    lane.idle = lane.ranks - s.producers - s.compressors - s.writers;
    int in_lane[4] = {0, 0, 0, 0};
    for (Size i = 0; i < members[sz(g)].size(); ++i) {
      const int at = num(i);
      const Role role = at < s.producers                               ? Role::producer
                        : at < s.producers + s.compressors             ? Role::compressor
                        : at < s.producers + s.compressors + s.writers ? Role::writer
                                                                       : Role::idle;
      const Size k = static_cast<Size>(role);
      RankPlan& rp = plan.ranks[sz(members[sz(g)][i])];
      rp.node_rank = members[sz(g)][i];
      rp.role = role;
      rp.lane = g;
      rp.lane_role_index = in_lane[k]++;
      rp.role_index = offset[k] + rp.lane_role_index;
    }
    for (Size k = 0; k < 4; ++k) offset[k] += in_lane[k];
    plan.lanes.push_back(std::move(lane));
  }
}

// Step 5: every rank's cores, lane by lane, then its PUs. Returns the ranks on each core.
std::map<CoreRef, std::vector<int>> place_ranks(const TopologyView& view, const Inputs& in,
                                                const std::vector<int>& used, const std::vector<int>& lane_of_domain,
                                                const std::vector<std::vector<int>>& members, RolePlan& plan) {
  std::map<CoreRef, std::vector<int>> on_core;
  for (int g = 0; g < num(members.size()); ++g) {
    std::vector<int> lane_domains;
    for (int d : used)
      if (lane_of_domain[sz(d)] == g) lane_domains.push_back(d);
    place_lane(view, in, lane_domains, members[sz(g)], plan, on_core);
  }
  choose_pus(view, in, on_core, plan);
  return on_core;
}

// plan.oversubscribed, and the notes on a node with fewer cores than ranks.
void note_node_sharing(const Inputs& in, const Config& config, const std::map<CoreRef, std::vector<int>>& on_core,
                       int n, RolePlan& plan) {
  int busiest = 0;
  for (const auto& [at, ranks] : on_core) busiest = std::max(busiest, num(ranks.size()));
  plan.oversubscribed = busiest > 1;
  if (n > in.total_usable_cores)
    plan.notes.push_back(std::to_string(n) + " ranks on " + std::to_string(in.total_usable_cores) +
                         " cores: cores shared, " + per_core(n, in.total_usable_cores));
  if (n > in.total_usable_cores && !config.stages.compressors && plan.layout.idle > 0)
    plan.notes.push_back("auto stages follow the " + std::to_string(in.total_usable_cores) +
                         " cores (one compressor per core): " + std::to_string(plan.layout.idle) +
                         " ranks idle; set stages.compressors to use them");
}

// Each lane's domains, main domain and cores, with notes on lanes that straddle domains or share
// cores although the node has enough.
void summarise_lanes(const TopologyView& view, const Inputs& in, const std::vector<std::vector<int>>& members, int n,
                     RolePlan& plan) {
  std::map<int, int> domain_order;  // NUMA os index -> machine order
  for (Size d = 0; d < view.numa.size(); ++d) domain_order[view.numa[d].os_index] = num(d);
  for (LanePlan& lane : plan.lanes) {
    std::map<int, int> ranks_in;  // NUMA os index -> ranks
    std::set<int> cores;
    std::set<int> confined_domains;
    for (int r : members[sz(lane.index)]) {
      const RankPlan& rp = plan.ranks[sz(r)];
      ++ranks_in[rp.numa];
      cores.insert(rp.cores.begin(), rp.cores.end());
      if (in.ranks[sz(r)].domains.size() == 1) confined_domains.insert(in.ranks[sz(r)].domains.front());
    }
    for (const auto& [numa, count] : ranks_in) lane.numa_domains.push_back(numa);
    std::sort(lane.numa_domains.begin(), lane.numa_domains.end(),
              [&](int a, int b) { return domain_order[a] < domain_order[b]; });
    lane.numa = lane.numa_domains.front();
    for (int numa : lane.numa_domains)
      if (ranks_in[numa] > ranks_in[lane.numa]) lane.numa = numa;
    lane.cores.assign(cores.begin(), cores.end());
    const std::string name = "lane " + std::to_string(lane.index);
    if (lane.numa_domains.size() > 1)
      plan.notes.push_back(name + " spans NUMA " + numa_list(lane.numa_domains) + ": " +
                           (confined_domains.size() > 1
                                ? "the launcher bound its ranks in several domains"
                                : "its " + std::to_string(lane.ranks) + " ranks need more cores than one domain has"));
    const int lane_core_count = num(cores.size());
    if (n <= in.total_usable_cores && lane.ranks > lane_core_count)
      plan.notes.push_back(name + ": " + std::to_string(lane.ranks) + " ranks on " + std::to_string(lane_core_count) +
                           " cores: cores shared, " + per_core(lane.ranks, lane_core_count));
  }
}

// Ranks that share a core on a node with enough cores, when no lane is short of cores: only the
// launcher's binding can have put them there.
void note_launcher_sharing(const Inputs& in, int n, RolePlan& plan) {
  if (plan.oversubscribed && n <= in.total_usable_cores) {
    bool lane_note = false;
    for (const LanePlan& lane : plan.lanes) lane_note = lane_note || lane.ranks > num(lane.cores.size());
    if (!lane_note) plan.notes.push_back("some ranks share a core: the launcher allows them no other");
  }
}

}  // namespace

RolePlan compute_role_plan(const TopologyView& view, const std::vector<CpuSet>& allowed, const Config& config) {
  const int n = num(allowed.size());
  resolve_layout(config, n);  // the node-level checks and messages (too few ranks, ...)
  if (view.core_count() == 0) throw TopologyError("the topology has no cores");

  RolePlan plan;
  plan.topology = view.summary();
  const Inputs in = normalise(view, allowed, plan.notes);

  // Steps 2 and 3: how many lanes, over which domains, and every rank's lane.
  const std::vector<int> used = used_domains(in);
  const LaneLimit limit = lane_limit(n, num(used.size()), config.stages);
  const Lanes lanes = choose_lanes(in, used, limit.max_lanes, n, config);
  note_fewer_lanes(lanes.count, limit, num(used.size()), plan.notes);

  // Step 4: stage totals and roles.
  plan.layout = node_layout(config, lanes.stages, n);
  plan.ranks.resize(sz(n));
  const std::vector<std::vector<int>> members = lane_members(lanes.lane_of_rank, lanes.count);
  give_roles(lanes.stages, members, plan);

  // Step 5: cores and PUs.
  const std::map<CoreRef, std::vector<int>> on_core = place_ranks(view, in, used, lanes.lane_of_domain, members, plan);

  // Lane summaries and notes.
  note_node_sharing(in, config, on_core, n, plan);
  summarise_lanes(view, in, members, n, plan);
  note_launcher_sharing(in, n, plan);
  decide_pinning(view, in, config, plan);
  return plan;
}

}  // namespace shmjob
