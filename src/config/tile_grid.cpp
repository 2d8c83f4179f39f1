#include "config/tile_grid.hpp"

#include <algorithm>

#include <zstd.h>

namespace shmjob {

std::uint32_t TileGrid::valid_rows(std::uint64_t k) const noexcept { return std::min(tile_rows, rows - first_row(k)); }

std::uint32_t TileGrid::valid_cols(std::uint64_t k) const noexcept { return std::min(tile_cols, cols - first_col(k)); }

TileGrid tile_grid(std::uint32_t rows, std::uint32_t cols, const std::optional<ChunkShape>& chunk) noexcept {
  if (!chunk) return {rows, cols, rows, cols};
  return {rows, cols, std::max(1u, std::min(chunk->rows, rows)), std::max(1u, std::min(chunk->cols, cols))};
}

std::uint64_t packed_tiles_capacity(const TileGrid& grid, std::size_t element_size) noexcept {
  const std::size_t tile_bytes = static_cast<std::size_t>(grid.tile_elements() * element_size);
  return packed_table_bytes(grid.count()) + grid.count() * ZSTD_compressBound(tile_bytes);
}

}  // namespace shmjob
