#include "pipeline/memory_check.hpp"

#include <sys/statvfs.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <limits>
#include <string>

#include "pipeline/segment_layout.hpp"
#include "shmjob/error.hpp"

namespace shmjob::shm {
namespace {

std::string gib(std::uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f GiB", static_cast<double>(bytes) / double(1ull << 30));
  return text;
}

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) {
  std::uint64_t sum = 0;
  return __builtin_add_overflow(a, b, &sum) ? std::numeric_limits<std::uint64_t>::max() : sum;
}

}  // namespace

std::uint64_t node_window_bytes(const RolePlan& plan) {
  std::uint64_t total = 0;
  for (std::size_t r = 0; r < plan.ranks.size(); ++r)
    total = saturating_add(total, segment_layout(plan, static_cast<int>(r)).total);
  return total;
}

void check_node_memory(const RolePlan& plan, std::uint64_t available_bytes, const TransformMemory& transform) {
  const NodeLayout& l = plan.layout;
  const std::uint64_t slots = node_window_bytes(plan);
  std::uint64_t scratch = 0;
  if (__builtin_mul_overflow(transform.scratch_bytes_per_compressor, static_cast<std::uint64_t>(l.compressors),
                             &scratch))
    scratch = std::numeric_limits<std::uint64_t>::max();
  const std::uint64_t needed = saturating_add(saturating_add(slots, transform.operand_bytes), scratch);
  if (needed <= available_bytes) return;
  const std::string scratch_text =
      scratch == 0 ? std::string()
                   : gib(scratch) + " for the compressors' transform scratch (" + std::to_string(l.compressors) +
                         " x " + std::to_string(transform.scratch_bytes_per_compressor) + " bytes), ";
  if (transform.operand_bytes > 0)
    throw ConfigError("operands: this node needs " + gib(needed) + " of shared memory, " +
                      gib(transform.operand_bytes) + " for the transform's operands (" + transform.operands + "), " +
                      scratch_text + gib(slots) + " for the slots, but only " + gib(available_bytes) +
                      " are available (MemAvailable, /dev/shm): use smaller operands, \"replicate\": \"node\" "
                      "(one copy per node instead of one per NUMA domain), or fewer or smaller slots");
  if (scratch > 0)
    throw ConfigError("transform: this node needs " + gib(needed) + " of memory, " + scratch_text + gib(slots) +
                      " for the slots, but only " + gib(available_bytes) +
                      " are available (MemAvailable, /dev/shm): use fewer compressors or smaller matrices, or "
                      "fewer or smaller slots");
  throw ConfigError("slots: this node's slots need " + gib(needed) + " of shared memory (" +
                    std::to_string(l.producers) + " producers x " + std::to_string(l.raw_slots_per_producer) +
                    " slots x " + std::to_string(l.raw_slot_bytes) + " bytes, " + std::to_string(l.compressors) +
                    " compressors x " + std::to_string(l.compressed_slots_per_compressor) + " slots x " +
                    std::to_string(l.compressed_slot_bytes) + " bytes) but only " + gib(available_bytes) +
                    " are available (MemAvailable, /dev/shm): lower slots.per_producer / per_compressor or set "
                    "slots.memory_budget_mb");
}

void check_id_bookkeeping(std::uint64_t matrices, int writers, std::uint64_t available_bytes) {
  // Two 64-bit words per 64 ids and writer part (rounded up per writer).
  const std::uint64_t words = matrices / 64 + static_cast<std::uint64_t>(std::max(writers, 1));
  const std::uint64_t needed = words * 16;
  if (needed <= available_bytes) return;
  throw ConfigError("matrices: the writers' record of which of the " + std::to_string(matrices) +
                    " matrices arrived needs " + gib(needed) + " of memory (2 bits per matrix) but only " +
                    gib(available_bytes) + " are available (MemAvailable): split the job into smaller ones");
}

std::uint64_t available_memory() {
  std::uint64_t available = std::numeric_limits<std::uint64_t>::max();
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  std::uint64_t kib = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit)
    if (key == "MemAvailable:") available = std::min(available, kib * 1024);
  return available;
}

std::uint64_t available_shared_memory() {
  std::uint64_t available = available_memory();
  struct statvfs shm {};
  if (::statvfs("/dev/shm", &shm) == 0) available = std::min(available, std::uint64_t{shm.f_bavail} * shm.f_frsize);
  return available;
}

}  // namespace shmjob::shm
