#pragma once
// The machine as the role plan sees it: NUMA domains, their cores and the PUs (hardware threads)
// of each core. `Topology` owns an hwloc topology (this machine, a synthetic description or an
// XML file); `TopologyView` is a plain copy of what the plan needs, so compute_role_plan() is a
// pure function of plain data and can be tested without hwloc.
//
// Numbering: NUMA domains and PUs use the OS ("physical", P#) indexes that taskset, numactl and
// /proc/cpuinfo use; cores use hwloc's logical index (L#), because core OS indexes repeat in
// every package on Linux.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct hwloc_topology;  // hwloc's handle type (hwloc_topology_t is `struct hwloc_topology*`)

namespace shmjob {

// A set of PUs by OS index, sorted ascending, without duplicates.
using CpuSet = std::vector<int>;

// "0-3,8,10-11" (the Linux cpulist format); "" for an empty set. The input must be sorted.
std::string cpu_list(const CpuSet& set);
// The inverse of cpu_list(); throws std::invalid_argument on malformed text.
CpuSet parse_cpu_list(std::string_view text);

// Fixed-size bit masks, for gathering every node rank's allowed set with one MPI_Allgather of
// `words` uint64 values per rank: bit i % 64 of word i / 64 is PU i.
std::vector<std::uint64_t> to_mask(const CpuSet& set, int words);  // PUs beyond it are dropped
CpuSet from_mask(const std::uint64_t* mask, int words);

struct Core {
  int logical_index = 0;  // hwloc L#, unique on the machine
  int os_index = 0;       // hwloc P#, may repeat across packages
  CpuSet pus;             // OS indexes of its PUs, sorted
  friend bool operator==(const Core&, const Core&) = default;
};

struct NumaDomain {
  int os_index = 0;
  std::vector<Core> cores;  // by logical index
  friend bool operator==(const NumaDomain&, const NumaDomain&) = default;
};

struct TopologyView {
  bool this_system = false;  // false for synthetic and XML topologies: nothing can be bound
  // Domains that hold cores, in hwloc's logical order (neighbours in the machine's tree are
  // adjacent); memory-only domains (no cores) are omitted.
  std::vector<NumaDomain> numa;

  int core_count() const noexcept;
  int pu_count() const noexcept;
  CpuSet all_pus() const;
  // Mask words that hold every PU of the view (the same on every rank of a node).
  int mask_words() const;
  // "2 NUMA domains, 16 cores, 32 PUs" (+ " (synthetic/XML)" when not this system).
  std::string summary() const;
  friend bool operator==(const TopologyView&, const TopologyView&) = default;
};

// Owns a loaded hwloc topology. Move-only; every hwloc failure throws TopologyError.
class Topology {
 public:
  // The machine this process runs on. hwloc itself honours HWLOC_SYNTHETIC and HWLOC_XMLFILE
  // here (then is_this_system() is false, unless HWLOC_THISSYSTEM=1 says otherwise).
  static Topology this_system();
  // A synthetic machine, e.g. "pack:2 [numa] core:8 pu:2" (see hwloc's synthetic topologies).
  static Topology synthetic(const std::string& description);
  // A topology exported with `lstopo --of xml file.xml`.
  static Topology from_xml(const std::filesystem::path& path);

  Topology(Topology&& other) noexcept;
  Topology& operator=(Topology&& other) noexcept;
  Topology(const Topology&) = delete;
  Topology& operator=(const Topology&) = delete;
  ~Topology();

  // Whether the topology describes the machine this process runs on, so binding means
  // something (hwloc_topology_is_thissystem). hwloc's bind calls on synthetic/XML topologies
  // return success and do nothing.
  bool is_this_system() const;
  // Where the topology came from: "this system", "synthetic \"...\"", "XML <path>", or which
  // environment variable redirected this_system().
  const std::string& source() const noexcept { return source_; }
  // The PUs the topology allows (a Slurm cgroup shrinks this on this system).
  CpuSet allowed_pus() const;
  TopologyView view() const;

  // For the binding helpers; never null.
  hwloc_topology* handle() const noexcept { return topology_; }

 private:
  Topology(hwloc_topology* topology, std::string source) noexcept : topology_(topology), source_(std::move(source)) {}

  hwloc_topology* topology_ = nullptr;
  std::string source_;
};

}  // namespace shmjob
