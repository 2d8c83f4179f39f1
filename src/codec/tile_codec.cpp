#include "codec/tile_codec.hpp"

#include <cstring>
#include <string>

#include "codec/shuffle.hpp"
#include "shmjob/error.hpp"

namespace shmjob::codec {

void gather_tile(const std::byte* matrix, const TileGrid& grid, std::size_t element_size, std::uint64_t k,
                 std::byte* tile) noexcept {
  const std::size_t row_bytes = std::size_t{grid.cols} * element_size;
  const std::size_t tile_row_bytes = std::size_t{grid.tile_cols} * element_size;
  const std::size_t valid_bytes = std::size_t{grid.valid_cols(k)} * element_size;
  const std::uint32_t valid_rows = grid.valid_rows(k);
  const std::byte* src =
      matrix + std::size_t{grid.first_row(k)} * row_bytes + std::size_t{grid.first_col(k)} * element_size;
  for (std::uint32_t r = 0; r < grid.tile_rows; ++r) {
    std::byte* dst = tile + std::size_t{r} * tile_row_bytes;
    if (r < valid_rows) {
      std::memcpy(dst, src + std::size_t{r} * row_bytes, valid_bytes);
      std::memset(dst + valid_bytes, 0, tile_row_bytes - valid_bytes);
    } else {
      std::memset(dst, 0, tile_row_bytes);
    }
  }
}

TileCompressor::TileCompressor(int level, bool shuffle) : zstd_(level), shuffle_(shuffle) {}

std::size_t TileCompressor::compress(const std::byte* matrix, const TileGrid& grid, std::size_t element_size,
                                     std::byte* out, std::size_t capacity) {
  const std::uint64_t tiles = grid.count();
  const std::size_t tile_bytes = static_cast<std::size_t>(grid.tile_elements() * element_size);
  const auto table_bytes = static_cast<std::size_t>(packed_table_bytes(tiles));
  if (capacity < table_bytes) throw CodecError("compressed slot too small for the tile table");
  const bool whole = tiles == 1;  // the matrix is its own tile: no gathering copy
  if (!whole && tile_.size() < tile_bytes) tile_.resize(tile_bytes);
  if (shuffle_ && shuffled_.size() < tile_bytes) shuffled_.resize(tile_bytes);

  std::size_t used = table_bytes, frames = 0;
  for (std::uint64_t k = 0; k < tiles; ++k) {
    const std::byte* input = matrix;
    if (!whole) {
      gather_tile(matrix, grid, element_size, k, tile_.data());
      input = tile_.data();
    }
    if (shuffle_) {
      shuffle(input, shuffled_.data(), tile_bytes, element_size);
      input = shuffled_.data();
    }
    const std::size_t frame = zstd_.compress(input, tile_bytes, out + used, capacity - used);
    const std::uint64_t size = frame;
    if (tiles > 1) std::memcpy(out + k * sizeof(std::uint64_t), &size, sizeof size);
    used += frame;
    frames += frame;
  }
  return frames;
}

std::uint64_t PackedTiles::size(std::uint64_t k) const noexcept {
  if (tiles_ == 1) return frame_bytes_;
  std::uint64_t bytes = 0;
  std::memcpy(&bytes, packed_ + k * sizeof(std::uint64_t), sizeof bytes);
  return bytes;
}

void decode_chunk(std::span<const std::byte> stored, ChunkEncoding encoding, std::size_t element_size, std::byte* tile,
                  std::size_t tile_bytes, std::vector<std::byte>& scratch) {
  if (!encoding.zstd) {
    if (stored.size() != tile_bytes)
      throw CodecError("stored chunk holds " + std::to_string(stored.size()) + " bytes, expected " +
                       std::to_string(tile_bytes));
    if (encoding.shuffled)
      unshuffle(stored.data(), tile, tile_bytes, element_size);
    else
      std::memcpy(tile, stored.data(), tile_bytes);
    return;
  }
  if (!encoding.shuffled) {
    decompress(stored.data(), stored.size(), tile, tile_bytes);
    return;
  }
  if (scratch.size() < tile_bytes) scratch.resize(tile_bytes);
  decompress(stored.data(), stored.size(), scratch.data(), tile_bytes);
  unshuffle(scratch.data(), tile, tile_bytes, element_size);
}

}  // namespace shmjob::codec
