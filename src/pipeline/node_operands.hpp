#pragma once
// A job's transform operands on one node: every operand in a shared-memory window of its own,
// read from its file once per copy and read-only afterwards, so that every rank of the node uses
// it without a private copy. "replicate": "numa" keeps one copy per NUMA domain of the node's
// ranks (in the segment of the domain's first rank; the domain's ranks each read, and so first
// touch, a block of its rows: its pages are local to the lanes there, and no rank maps more than
// its block until the others read it); "node" keeps one copy, read by node rank 0's domain.
// Operands a matmul reads are stored as float64 (BLAS needs doubles), the others in their own
// dtype.
#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/transform_config.hpp"
#include "input/input.hpp"
#include "mpi/node_window.hpp"
#include "topology/role_plan.hpp"
#include "transform/operand.hpp"

namespace shmjob::stages {

struct OperandSource {
  std::string name;
  const InputCatalog* catalog = nullptr;  // one 2-D matrix
  bool as_float64 = false;
  transform::Replicate replicate = transform::Replicate::numa;
};

// Copies of an operand a node keeps for `plan`'s ranks: one per NUMA domain among them with
// "replicate": "numa", one with "node". The same count NodeOperands allocates.
int operand_copies(const RolePlan& plan, transform::Replicate replicate);
// Bytes of one copy: float64 when converted (a matmul's operand), else the stored dtype.
std::uint64_t operand_copy_bytes(const MatrixShape& shape, bool as_float64);

class NodeOperands {
 public:
  // Collective over `node`: allocates the window (each copy in its holder's segment). Nothing is
  // read yet.
  NodeOperands(MPI_Comm node, const RolePlan& plan, int node_rank, std::vector<OperandSource> sources);

  // Reads the copies this rank holds (none for most ranks). Throws InputError (exit code 3)
  // naming the operand when a file changed or fails to read since it was checked.
  void load();
  // Collective: every copy is complete and visible to every rank afterwards, and crc32() known.
  void sync();

  // The operand as this rank reads it: its domain's copy, or the node's.
  transform::OperandView view(std::string_view name) const;

  std::uint64_t bytes_on_node() const noexcept { return bytes_on_node_; }  // every copy
  std::uint64_t bytes_loaded() const noexcept { return bytes_loaded_; }    // by this rank
  double load_seconds() const noexcept { return load_seconds_; }           // this rank's reads
  // CRC-32 of each operand's values as stored in its file's dtype (native byte order), combined
  // from the CRCs of its parts; after sync(), on every rank. In `sources` order.
  const std::vector<std::uint32_t>& crc32() const noexcept { return crc32_; }

 private:
  struct Copy {
    std::size_t source = 0;    // index into sources_
    int holder = 0;            // node rank whose segment holds it
    std::size_t offset = 0;    // in the holder's segment
    int numa = -1;             // the domain it serves
    std::vector<int> readers;  // node ranks reading a block of its rows each, in row order
  };
  std::uint32_t* crc_table() const;  // node rank 0's segment: [source][part] CRCs of the parts

  std::vector<OperandSource> sources_;
  std::vector<Copy> copies_;
  std::vector<int> numa_of_rank_;
  int node_rank_ = 0, node_size_ = 0;
  std::unique_ptr<mpi::NodeWindow> window_;
  std::uint64_t bytes_on_node_ = 0, bytes_loaded_ = 0;
  double load_seconds_ = 0;
  std::vector<std::uint32_t> crc32_;
};

}  // namespace shmjob::stages
