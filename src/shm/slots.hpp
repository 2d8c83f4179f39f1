#pragma once
// Slots: fixed-size blocks in a rank's window segment that hold one matrix (raw, owned by a
// producer) or one zstd frame (compressed, owned by a compressor). Queues carry handles
// (owner node rank, slot index), never pointers: every process maps the window elsewhere.
#include <cstdint>

namespace shmjob::shm {

using SlotHandle = std::uint64_t;
inline constexpr SlotHandle kEndOfStream = ~SlotHandle{0};

constexpr SlotHandle make_handle(int owner_node_rank, std::uint32_t slot) noexcept {
  return (static_cast<std::uint64_t>(owner_node_rank) << 32) | slot;
}
constexpr int handle_owner(SlotHandle h) noexcept { return static_cast<int>(h >> 32); }
constexpr std::uint32_t handle_slot(SlotHandle h) noexcept { return static_cast<std::uint32_t>(h); }

// Written by the producer that filled the slot.
struct alignas(64) RawSlotHeader {
  std::uint64_t matrix_id;
  double t_produced;      // seconds since job start
  std::int32_t producer;  // world rank
  std::uint32_t source_file, source_dataset;
  std::uint64_t source_index;
  std::int32_t writer;  // node-local writer index the matrix goes to (the producer decides)
};

// Written by the compressor; read by the writer for the index row.
struct alignas(64) CompressedSlotHeader {
  std::uint64_t matrix_id;
  std::uint64_t compressed_bytes;
  std::uint32_t crc32;
  double min, max, mean;
  double t_produced, t_compressed;
  std::int32_t producer, compressor;  // world ranks
  std::uint32_t source_file, source_dataset;
  std::uint64_t source_index;
  std::int32_t writer;     // node-local writer index, from the raw slot
  std::int32_t level;      // zstd level of its frames
  std::uint32_t shuffled;  // 1: its tiles were byte-shuffled before zstd
};

}  // namespace shmjob::shm
