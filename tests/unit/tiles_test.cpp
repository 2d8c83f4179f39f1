// Tiled chunks: the compression.chunk key, the tile grid, slot sizing for padded tiles, and the
// per-tile codec (gather with zero padding, compress into packed tiles, decode one chunk).
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include <nlohmann/json.hpp>

#include "codec/tile_codec.hpp"
#include "config/config.hpp"
#include "config/tile_grid.hpp"
#include "shmjob/error.hpp"

namespace shmjob {
namespace {

using nlohmann::json;

json doc_with_chunk(const json& chunk, std::uint32_t rows = 100, std::uint32_t cols = 70) {
  return {{"matrices", {{"count", 3}, {"rows", rows}, {"cols", cols}}}, {"compression", {{"chunk", chunk}}}};
}

std::string error_of(const json& doc) {
  try {
    parse_config(doc);
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.exit_code(), kExitBadInput);
    return e.what();
  }
  ADD_FAILURE() << "no ConfigError";
  return "";
}

TEST(ChunkConfig, ParsesTilesAndDefault) {
  EXPECT_FALSE(parse_config(doc_with_chunk("matrix")).compression.chunk.has_value());
  const Config c = parse_config(doc_with_chunk({32, 25}));
  ASSERT_TRUE(c.compression.chunk.has_value());
  EXPECT_EQ(*c.compression.chunk, (ChunkShape{32, 25}));
  EXPECT_EQ(to_json(c)["compression"]["chunk"], json({32, 25}));
  EXPECT_EQ(parse_config(to_json(c)), c);
  // Untiled configs are written without the key, as before tiles existed.
  EXPECT_FALSE(to_json(parse_config(doc_with_chunk("matrix")))["compression"].contains("chunk"));
  // The whole matrix as one tile is allowed.
  EXPECT_EQ(*parse_config(doc_with_chunk({100, 70})).compression.chunk, (ChunkShape{100, 70}));
}

TEST(ChunkConfig, RejectsBadShapes) {
  EXPECT_EQ(error_of(doc_with_chunk({0, 25})), "config: compression.chunk[0]: must be at least 1, got 0");
  EXPECT_NE(error_of(doc_with_chunk({32})).find("compression.chunk: must be [rows, cols] or \"matrix\", got [32]"),
            std::string::npos);
  EXPECT_NE(error_of(doc_with_chunk("tiles")).find("compression.chunk: must be [rows, cols]"), std::string::npos);
  EXPECT_NE(error_of(doc_with_chunk({32, 2.5})).find("compression.chunk[1]"), std::string::npos);
  EXPECT_EQ(error_of(doc_with_chunk({101, 70})),
            "config: compression.chunk: [101,70] is larger than the matrix (100 x 70 float64); at most [100, 70]");
  EXPECT_NE(error_of(doc_with_chunk({1, 1}, 2048, 1024)).find("tiles, more than 1048576"), std::string::npos);
}

TEST(ChunkConfig, CompressedSlotsHoldPaddedTiles) {
  // 100 x 70 float64 in 64 x 64 tiles: 4 tiles of 32 KiB (padded) for 56000 bytes of data.
  const Config c = parse_config(doc_with_chunk({64, 64}));
  const NodeLayout layout = resolve_layout(c, 3);
  const TileGrid grid = tile_grid(100, 70, c.compression.chunk);
  EXPECT_EQ(grid.count(), 4u);
  EXPECT_EQ(layout.compressed_slot_bytes, packed_tiles_capacity(grid, 8));
  EXPECT_GT(layout.compressed_slot_bytes, 4u * 64 * 64 * 8);
  EXPECT_EQ(layout.raw_slot_bytes, 100u * 70 * 8);
}

TEST(TileGrid, EdgeTilesAndClamping) {
  const TileGrid g = tile_grid(100, 70, ChunkShape{32, 25});
  EXPECT_EQ(g.grid_rows(), 4u);
  EXPECT_EQ(g.grid_cols(), 3u);
  EXPECT_EQ(g.count(), 12u);
  EXPECT_EQ(g.first_row(5), 32u);
  EXPECT_EQ(g.first_col(5), 50u);
  EXPECT_EQ(g.valid_rows(11), 4u);
  EXPECT_EQ(g.valid_cols(11), 20u);
  EXPECT_EQ(tile_grid(10, 20, ChunkShape{64, 8}), (TileGrid{10, 20, 10, 8}));
  EXPECT_EQ(tile_grid(10, 20, std::nullopt), (TileGrid{10, 20, 10, 20}));
}

TEST(TileCodec, PackedTilesRoundTripWithPadding) {
  const TileGrid g = tile_grid(7, 5, ChunkShape{3, 2});  // 3 x 3 tiles, edge tiles padded
  std::vector<std::uint16_t> m(35);
  for (std::size_t i = 0; i < m.size(); ++i) m[i] = static_cast<std::uint16_t>(1000 + i);
  const auto* bytes = reinterpret_cast<const std::byte*>(m.data());

  std::vector<std::byte> tile(3 * 2 * 2);
  codec::gather_tile(bytes, g, 2, 8, tile.data());  // last tile: row 6, column 4 only
  std::uint16_t t[6];
  std::memcpy(t, tile.data(), sizeof t);
  EXPECT_EQ(t[0], 1000 + 6 * 5 + 4);
  for (int i = 1; i < 6; ++i) EXPECT_EQ(t[i], 0) << i;

  for (const bool shuffle : {false, true}) {
    codec::TileCompressor compressor(3, shuffle);
    std::vector<std::byte> packed(packed_tiles_capacity(g, 2));
    const std::size_t frames = compressor.compress(bytes, g, 2, packed.data(), packed.size());
    const codec::PackedTiles tiles(packed.data(), g.count(), frames);
    std::size_t total = 0;
    std::vector<std::byte> scratch, decoded(12), expected(12);
    tiles.for_each([&](std::uint64_t k, const std::byte* frame, std::uint64_t size) {
      total += size;
      codec::decode_chunk({frame, size}, {shuffle, true}, 2, decoded.data(), decoded.size(), scratch);
      codec::gather_tile(bytes, g, 2, k, expected.data());
      EXPECT_EQ(decoded, expected) << "tile " << k << " shuffle " << shuffle;
    });
    EXPECT_EQ(total, frames);
  }
}

TEST(TileCodec, DecodeRejectsWrongSizes) {
  std::vector<std::byte> stored(10), out(12), scratch;
  EXPECT_THROW(codec::decode_chunk(stored, {false, false}, 2, out.data(), out.size(), scratch), CodecError);
  EXPECT_THROW(codec::decode_chunk(stored, {false, true}, 2, out.data(), out.size(), scratch), CodecError);
}

}  // namespace
}  // namespace shmjob
