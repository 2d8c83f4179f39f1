// The RAII hwloc topology and its plain view. Every hwloc call is checked; failures throw
// TopologyError with what hwloc (errno) said.
#include "topology/topology.hpp"

#include <hwloc.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <map>
#include <memory>
#include <stdexcept>
#include <system_error>

#include "shmjob/error.hpp"
#include "topology/hwloc_util.hpp"

namespace shmjob {

// --- cpu lists -----------------------------------------------------------------------------

std::string cpu_list(const CpuSet& set) {
  std::string text;
  for (std::size_t i = 0; i < set.size();) {
    std::size_t j = i;
    while (j + 1 < set.size() && set[j + 1] == set[j] + 1) ++j;
    if (!text.empty()) text += ',';
    text += std::to_string(set[i]);
    if (j > i) text += "-" + std::to_string(set[j]);
    i = j + 1;
  }
  return text;
}

CpuSet parse_cpu_list(std::string_view text) {
  CpuSet set;
  const auto bad = [&] { throw std::invalid_argument("malformed cpu list \"" + std::string(text) + "\""); };
  const auto number = [&](std::string_view part) {
    int value = 0;
    const auto [end, error] = std::from_chars(part.data(), part.data() + part.size(), value);
    if (part.empty() || error != std::errc() || end != part.data() + part.size() || value < 0) bad();
    return value;
  };
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t comma = text.find(',', at);
    if (comma == std::string_view::npos) comma = text.size();
    const std::string_view part = text.substr(at, comma - at);
    const std::size_t dash = part.find('-');
    const int first = number(part.substr(0, dash));
    const int last = dash == std::string_view::npos ? first : number(part.substr(dash + 1));
    if (last < first) bad();
    for (int pu = first; pu <= last; ++pu) set.push_back(pu);
    at = comma + 1;
    if (comma + 1 == text.size()) bad();  // trailing comma
  }
  std::sort(set.begin(), set.end());
  set.erase(std::unique(set.begin(), set.end()), set.end());
  return set;
}

std::vector<std::uint64_t> to_mask(const CpuSet& set, int words) {
  std::vector<std::uint64_t> mask(static_cast<std::size_t>(std::max(words, 0)), 0);
  for (int pu : set)
    if (pu >= 0 && static_cast<std::size_t>(pu / 64) < mask.size())
      mask[static_cast<std::size_t>(pu / 64)] |= std::uint64_t{1} << (pu % 64);
  return mask;
}

CpuSet from_mask(const std::uint64_t* mask, int words) {
  CpuSet set;
  for (int w = 0; w < words; ++w)
    for (int bit = 0; bit < 64; ++bit)
      if ((mask[w] >> bit) & 1U) set.push_back(w * 64 + bit);
  return set;
}

// --- the view ------------------------------------------------------------------------------

int TopologyView::core_count() const noexcept {
  int n = 0;
  for (const NumaDomain& d : numa) n += static_cast<int>(d.cores.size());
  return n;
}

int TopologyView::pu_count() const noexcept {
  int n = 0;
  for (const NumaDomain& d : numa)
    for (const Core& c : d.cores) n += static_cast<int>(c.pus.size());
  return n;
}

CpuSet TopologyView::all_pus() const {
  CpuSet set;
  for (const NumaDomain& d : numa)
    for (const Core& c : d.cores) set.insert(set.end(), c.pus.begin(), c.pus.end());
  std::sort(set.begin(), set.end());
  return set;
}

int TopologyView::mask_words() const {
  const CpuSet pus = all_pus();
  return pus.empty() ? 1 : pus.back() / 64 + 1;
}

std::string TopologyView::summary() const {
  const auto count = [](std::size_t n, const char* what) {
    return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
  };
  std::string text = count(numa.size(), "NUMA domain") + ", " + count(static_cast<std::size_t>(core_count()), "core") +
                     ", " + count(static_cast<std::size_t>(pu_count()), "PU");
  if (!this_system) text += " (synthetic/XML)";
  return text;
}

// --- hwloc helpers -------------------------------------------------------------------------

namespace hwloc {

std::string errno_text(int error) { return std::error_code(error, std::generic_category()).message(); }

Bitmap::Bitmap() : bitmap_(hwloc_bitmap_alloc()) {
  if (bitmap_ == nullptr) throw TopologyError("hwloc_bitmap_alloc: out of memory");
}

Bitmap::Bitmap(const CpuSet& set) : Bitmap() {
  for (int index : set) {
    if (index < 0) throw TopologyError("negative index " + std::to_string(index) + " in a set");
    check(hwloc_bitmap_set(bitmap_, static_cast<unsigned>(index)), "hwloc_bitmap_set");
  }
}

Bitmap::~Bitmap() { hwloc_bitmap_free(bitmap_); }

CpuSet to_set(hwloc_const_bitmap_t bitmap) {
  if (hwloc_bitmap_weight(bitmap) < 0) throw TopologyError("unexpected infinite hwloc bitmap");
  CpuSet set;
  for (int i = hwloc_bitmap_first(bitmap); i != -1; i = hwloc_bitmap_next(bitmap, i)) set.push_back(i);
  return set;
}

void check(int rc, const char* what) {
  if (rc < 0) throw TopologyError(std::string(what) + ": " + errno_text(errno));
}

}  // namespace hwloc

// --- loading -------------------------------------------------------------------------------

namespace {

struct TopologyDeleter {
  void operator()(hwloc_topology* t) const noexcept { hwloc_topology_destroy(t); }
};
using TopologyPtr = std::unique_ptr<hwloc_topology, TopologyDeleter>;

// init, let `configure` pick the source, load. `what` names the source in error messages.
template <class Configure>
TopologyPtr load(const std::string& what, Configure configure) {
  hwloc_topology_t raw = nullptr;
  if (hwloc_topology_init(&raw) != 0) throw TopologyError("hwloc_topology_init: " + hwloc::errno_text(errno));
  TopologyPtr topology(raw);
  configure(raw);
  if (hwloc_topology_load(raw) != 0) throw TopologyError("cannot load " + what + ": " + hwloc::errno_text(errno));
  return topology;
}

std::string env_source() {
  // hwloc_topology_load() applies these itself when no source was set explicitly.
  for (const char* name : {"HWLOC_XMLFILE", "HWLOC_SYNTHETIC", "HWLOC_FSROOT"})
    if (const char* value = std::getenv(name); value != nullptr && *value != '\0')
      return std::string(name) + "=\"" + value + "\"";
  return "this system";
}

}  // namespace

Topology Topology::this_system() {
  std::string source = env_source();
  TopologyPtr t = load(source, [](hwloc_topology_t) {});
  return Topology(t.release(), std::move(source));
}

Topology Topology::synthetic(const std::string& description) {
  std::string source = "synthetic \"" + description + "\"";
  TopologyPtr t = load(source, [&](hwloc_topology_t raw) {
    if (hwloc_topology_set_synthetic(raw, description.c_str()) != 0)
      throw TopologyError("invalid synthetic description \"" + description + "\": " + hwloc::errno_text(errno));
  });
  return Topology(t.release(), std::move(source));
}

Topology Topology::from_xml(const std::filesystem::path& path) {
  std::string source = "XML " + path.string();
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error))
    throw TopologyError("cannot read XML topology \"" + path.string() +
                        "\": " + (error ? error.message() : "not a regular file"));
  TopologyPtr t = load(source, [&](hwloc_topology_t raw) {
    if (hwloc_topology_set_xml(raw, path.c_str()) != 0)
      throw TopologyError("hwloc_topology_set_xml(\"" + path.string() + "\"): " + hwloc::errno_text(errno));
  });
  return Topology(t.release(), std::move(source));
}

Topology::Topology(Topology&& other) noexcept
    : topology_(std::exchange(other.topology_, nullptr)), source_(std::move(other.source_)) {}

Topology& Topology::operator=(Topology&& other) noexcept {
  if (this != &other) {
    if (topology_ != nullptr) hwloc_topology_destroy(topology_);
    topology_ = std::exchange(other.topology_, nullptr);
    source_ = std::move(other.source_);
  }
  return *this;
}

Topology::~Topology() {
  if (topology_ != nullptr) hwloc_topology_destroy(topology_);
}

bool Topology::is_this_system() const { return hwloc_topology_is_thissystem(topology_) == 1; }

CpuSet Topology::allowed_pus() const {
  hwloc_const_cpuset_t allowed = hwloc_topology_get_allowed_cpuset(topology_);
  if (allowed == nullptr) throw TopologyError("hwloc_topology_get_allowed_cpuset returned null");
  return hwloc::to_set(allowed);
}

TopologyView Topology::view() const {
  TopologyView view;
  view.this_system = is_this_system();

  const int numa_count = hwloc_get_nbobjs_by_type(topology_, HWLOC_OBJ_NUMANODE);
  if (numa_count <= 0) throw TopologyError("the topology has no NUMA node");
  std::vector<hwloc_obj_t> numa_nodes;
  for (int i = 0; i < numa_count; ++i)
    numa_nodes.push_back(hwloc_get_obj_by_type(topology_, HWLOC_OBJ_NUMANODE, static_cast<unsigned>(i)));

  const int core_total = hwloc_get_nbobjs_by_type(topology_, HWLOC_OBJ_CORE);
  const int pu_total = hwloc_get_nbobjs_by_type(topology_, HWLOC_OBJ_PU);
  if (pu_total <= 0) throw TopologyError("the topology has no PU");

  // Cores in logical order; a PU outside any Core object (rare) becomes a core of its own.
  std::vector<std::vector<Core>> cores_of(numa_nodes.size());
  std::map<unsigned, std::pair<std::size_t, std::size_t>> core_slot;  // core L# -> (numa, index)
  for (int i = 0; i < pu_total; ++i) {
    hwloc_obj_t pu = hwloc_get_obj_by_type(topology_, HWLOC_OBJ_PU, static_cast<unsigned>(i));
    if (pu == nullptr || pu->cpuset == nullptr) throw TopologyError("hwloc returned no PU " + std::to_string(i));
    hwloc_obj_t core = hwloc_get_ancestor_obj_by_type(topology_, HWLOC_OBJ_CORE, pu);
    const unsigned key =
        core != nullptr ? core->logical_index : static_cast<unsigned>(std::max(core_total, 0)) + pu->logical_index;
    auto found = core_slot.find(key);
    if (found == core_slot.end()) {
      // The first NUMA node (logical order) whose cpuset holds this PU.
      std::size_t domain = numa_nodes.size();
      for (std::size_t d = 0; d < numa_nodes.size() && domain == numa_nodes.size(); ++d)
        if (numa_nodes[d] != nullptr && numa_nodes[d]->cpuset != nullptr &&
            hwloc_bitmap_isset(numa_nodes[d]->cpuset, pu->os_index) == 1)
          domain = d;
      if (domain == numa_nodes.size())
        throw TopologyError("PU P#" + std::to_string(pu->os_index) + " is in no NUMA node");
      Core c;
      c.logical_index = static_cast<int>(key);
      c.os_index = static_cast<int>(core != nullptr ? core->os_index : pu->os_index);
      cores_of[domain].push_back(c);
      found = core_slot.emplace(key, std::make_pair(domain, cores_of[domain].size() - 1)).first;
    }
    cores_of[found->second.first][found->second.second].pus.push_back(static_cast<int>(pu->os_index));
  }

  for (std::size_t d = 0; d < numa_nodes.size(); ++d) {
    if (cores_of[d].empty()) continue;  // memory-only NUMA node
    NumaDomain domain;
    domain.os_index = static_cast<int>(numa_nodes[d]->os_index);
    domain.cores = std::move(cores_of[d]);
    std::sort(domain.cores.begin(), domain.cores.end(),
              [](const Core& a, const Core& b) { return a.logical_index < b.logical_index; });
    for (Core& c : domain.cores) std::sort(c.pus.begin(), c.pus.end());
    view.numa.push_back(std::move(domain));
  }
  return view;
}

}  // namespace shmjob
