#pragma once
// The node's window must fit in its memory. Window pages are backed by /dev/shm (tmpfs, i.e.
// RAM): a plan that asks for more would not fail at MPI_Win_allocate_shared but later, when the
// pages are first touched, with SIGBUS or the OOM killer. So it is refused before anything is
// allocated, with a ConfigError (exit code 2) that names the slot settings.
#include <cstdint>
#include <string>

#include "topology/role_plan.hpp"

namespace shmjob::shm {

// Bytes the node's window needs for `plan` (every rank's segment).
std::uint64_t node_window_bytes(const RolePlan& plan);

// The transform's share of a node's memory.
struct TransformMemory {
  // The operands on the node, every copy (in a window of their own, also in /dev/shm), and their
  // description for the message ("dark 1.2 MB x 2, ...").
  std::uint64_t operand_bytes = 0;
  std::string operands;
  // Each compressor's private scratch buffer (transform::ChainPlan::scratch_bytes, the largest
  // over the sets); private memory, counted against MemAvailable with the rest.
  std::uint64_t scratch_bytes_per_compressor = 0;
};

// Throws ConfigError if the node's window, the operands and the compressors' scratch buffers
// need more than available_bytes.
void check_node_memory(const RolePlan& plan, std::uint64_t available_bytes, const TransformMemory& transform = {});

// What this node can give the window now: the smaller of MemAvailable (/proc/meminfo) and the
// free space of /dev/shm; the maximum uint64 if neither can be read.
std::uint64_t available_shared_memory();
std::uint64_t available_memory();  // MemAvailable

// The writers keep two bits per matrix id of their shards (stages/ReceivedIds: what arrived,
// and a running count for the index sort). Throws ConfigError (exit 2) with the figures when a
// job of `matrices` ids would need more than `available_bytes` for that on one node.
void check_id_bookkeeping(std::uint64_t matrices, int writers, std::uint64_t available_bytes);

}  // namespace shmjob::shm
