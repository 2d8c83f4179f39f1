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

// Throws ConfigError if node_window_bytes(plan) + operand_bytes > available_bytes.
// `operand_bytes`: the transform's operands on the node, every copy (they live in a window of
// their own, also in /dev/shm); `operands` describes them for the message ("dark 1.2 MB x 2").
void check_node_memory(const RolePlan& plan, std::uint64_t available_bytes, std::uint64_t operand_bytes = 0,
                       const std::string& operands = "");

// What this node can give the window now: the smaller of MemAvailable (/proc/meminfo) and the
// free space of /dev/shm; the maximum uint64 if neither can be read.
std::uint64_t available_shared_memory();
std::uint64_t available_memory();  // MemAvailable

// The writers keep two bits per matrix id of their shards (stages/ReceivedIds: what arrived,
// and a running count for the index sort). Throws ConfigError (exit 2) with the figures when a
// job of `matrices` ids would need more than `available_bytes` for that on one node.
void check_id_bookkeeping(std::uint64_t matrices, int writers, std::uint64_t available_bytes);

}  // namespace shmjob::shm
