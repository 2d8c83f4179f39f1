#pragma once
// How a matrix is cut into HDF5 chunks (tiles): a grid of tile_rows x tile_cols tiles in
// row-major order. Edge tiles of a matrix whose shape is not a multiple of the tile shape hold
// fewer valid rows/columns but are stored full size, zero padded (what HDF5 does for partial
// edge chunks, so any HDF5 reader decodes them).
#include <cstddef>
#include <cstdint>
#include <optional>

#include "config/config.hpp"

namespace shmjob {

// At most this many tiles per matrix (each costs an H5Dwrite_chunk and an entry in the slot's
// frame-size table).
inline constexpr std::uint64_t kMaxTilesPerMatrix = std::uint64_t{1} << 20;

struct TileGrid {
  std::uint32_t rows = 0, cols = 0;            // the matrix
  std::uint32_t tile_rows = 0, tile_cols = 0;  // one chunk, at most the matrix

  std::uint32_t grid_rows() const noexcept { return (rows + tile_rows - 1) / tile_rows; }
  std::uint32_t grid_cols() const noexcept { return (cols + tile_cols - 1) / tile_cols; }
  std::uint64_t count() const noexcept { return std::uint64_t{grid_rows()} * grid_cols(); }
  std::uint64_t tile_elements() const noexcept { return std::uint64_t{tile_rows} * tile_cols; }
  // First matrix row / column of tile `k` (row-major).
  std::uint32_t first_row(std::uint64_t k) const noexcept {
    return static_cast<std::uint32_t>(k / grid_cols()) * tile_rows;
  }
  std::uint32_t first_col(std::uint64_t k) const noexcept {
    return static_cast<std::uint32_t>(k % grid_cols()) * tile_cols;
  }
  // Rows / columns of tile `k` inside the matrix (less than the tile at the bottom/right edge).
  std::uint32_t valid_rows(std::uint64_t k) const noexcept;
  std::uint32_t valid_cols(std::uint64_t k) const noexcept;
  friend bool operator==(const TileGrid&, const TileGrid&) = default;
};

// The grid for a rows x cols matrix: one tile when `chunk` is nullopt, else the chunk shape
// clamped to the matrix.
TileGrid tile_grid(std::uint32_t rows, std::uint32_t cols, const std::optional<ChunkShape>& chunk) noexcept;

// Bytes of the frame-size table that starts a matrix's packed tiles: one uint64 per tile, none
// for a matrix of one tile (codec/tile_codec.hpp).
constexpr std::uint64_t packed_table_bytes(std::uint64_t tiles) noexcept {
  return tiles > 1 ? tiles * sizeof(std::uint64_t) : 0;
}

// Bytes a compressed slot needs for one matrix: zstd's bound for every (full-size) tile, plus
// its frame-size table.
std::uint64_t packed_tiles_capacity(const TileGrid& grid, std::size_t element_size) noexcept;

}  // namespace shmjob
