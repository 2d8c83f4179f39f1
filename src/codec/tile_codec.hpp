#pragma once
// Compressing a matrix tile by tile, and decoding one stored tile. A compressed slot holds a
// matrix as "packed tiles": a table of frame sizes (one uint64 per tile, row-major tile order)
// followed by the frames back to back; a matrix of one tile is just its frame (its size is the
// slot header's compressed_bytes), as before tiles existed. Each frame is one HDF5 chunk: the full-size tile
// (edge tiles zero padded), optionally byte-shuffled, zstd-compressed with its content size.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "codec/zstd_codec.hpp"
#include "config/tile_grid.hpp"

namespace shmjob::codec {

// Copies tile `k` of a row-major matrix into `tile` (tile_rows x tile_cols, zero padded).
void gather_tile(const std::byte* matrix, const TileGrid& grid, std::size_t element_size, std::uint64_t k,
                 std::byte* tile) noexcept;

class TileCompressor {
 public:
  TileCompressor(int level, bool shuffle);
  // For the matrices from now on (compression.level / shuffle "auto").
  void set_level(int level) { zstd_.set_level(level); }
  void set_shuffle(bool shuffle) noexcept { shuffle_ = shuffle; }
  int level() const noexcept { return zstd_.level(); }
  bool shuffling() const noexcept { return shuffle_; }
  // Writes the packed tiles of `matrix` to `out` (at most `capacity` bytes, see
  // packed_tiles_capacity). Returns the total frame bytes (what HDF5 stores), without the table.
  std::size_t compress(const std::byte* matrix, const TileGrid& grid, std::size_t element_size, std::byte* out,
                       std::size_t capacity);

 private:
  ZstdCompressor zstd_;
  bool shuffle_;
  std::vector<std::byte> tile_, shuffled_;  // scratch, reused
};

// The frames of packed tiles, read back from a slot.
class PackedTiles {
 public:
  // `frame_bytes`: the total of the frames (what compress() returned).
  PackedTiles(const std::byte* packed, std::uint64_t tiles, std::uint64_t frame_bytes) noexcept
      : packed_(packed), tiles_(tiles), frame_bytes_(frame_bytes) {}
  std::uint64_t size(std::uint64_t k) const noexcept;
  // Calls f(k, frame, frame_bytes) for every tile in order.
  template <class F>
  void for_each(F&& f) const {
    const std::byte* frame = packed_ + table_bytes();
    for (std::uint64_t k = 0; k < tiles_; ++k) {
      const std::uint64_t bytes = size(k);
      f(k, frame, bytes);
      frame += bytes;
    }
  }

 private:
  std::uint64_t table_bytes() const noexcept { return packed_table_bytes(tiles_); }

  const std::byte* packed_;
  std::uint64_t tiles_, frame_bytes_;
};

// How a stored chunk was encoded: the filters that were applied (HDF5's pipeline minus the
// ones its filter mask says were skipped).
struct ChunkEncoding {
  bool shuffled = false;
  bool zstd = false;
};

// Decodes one stored chunk into `tile` (exactly tile_bytes). `scratch` is reused between calls.
// Throws CodecError when the chunk does not decode to tile_bytes.
void decode_chunk(std::span<const std::byte> stored, ChunkEncoding encoding, std::size_t element_size, std::byte* tile,
                  std::size_t tile_bytes, std::vector<std::byte>& scratch);

}  // namespace shmjob::codec
