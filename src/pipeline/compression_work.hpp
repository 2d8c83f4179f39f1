#pragma once
// Compressing one matrix: what a compressor does with a raw slot and one of the compressed slots,
// and what an elastic helper does in its place (pipeline/elastic.hpp). Runs the set's transform
// (if any), computes checksum and statistics, compresses (tile by tile) into the compressed
// slot, fills its header and adds the stored matrix to the reductions.
#include <cstddef>
#include <optional>
#include <vector>

#include "codec/shuffle_choice.hpp"
#include "codec/tile_codec.hpp"
#include "pipeline/stage_context.hpp"
#include "shm/slots.hpp"
#include "transform/reduction.hpp"

namespace shmjob::stages {

class CompressionWork {
 public:
  explicit CompressionWork(const StageContext& ctx);

  struct Done {
    std::size_t stored_bytes = 0;  // the matrix as stored (after the transform)
    std::size_t frame_bytes = 0;   // what compression made of it
  };
  // Compresses the matrix in raw slot `raw` into compressed slot `out` (any rank's: the header
  // names this rank as the compressor). The transform's time goes to this rank's transform_ns.
  Done compress(shm::SlotHandle raw, shm::SlotHandle out);
  // Frees `raw` to its producer and hands `out` to the writer the producer chose.
  void hand_on(shm::SlotHandle raw, shm::SlotHandle out) const;
  // Per set, what "reduce" accumulated over the matrices this rank compressed (empty without
  // reduce); moved out.
  std::vector<std::optional<transform::Accumulator>> take_reductions() { return std::move(reduced_); }

 private:
  const std::byte* transform(int set, shm::SlotHandle raw);
  // Compresses `data` into compressed slot `out` at the node's level, shuffled as the config or
  // the set's ShuffleChoice says (both ways on a probe). Returns the frame bytes.
  std::size_t compress_tiles(const std::byte* data, int set_index, shm::SlotHandle out);

  const StageContext& ctx_;
  codec::TileCompressor tiles_;
  codec::ShuffleChoice shuffle_choice_;  // compression.shuffle "auto"
  std::vector<std::byte> probe_;         // a probe's second frames (made on the first probe)
  std::vector<double> scratch_;          // the transform's second buffer; doubles: 8-byte aligned
  transform::ReductionSet reductions_;
  std::vector<std::optional<transform::Accumulator>> reduced_;  // one per set, made on its first matrix
};

}  // namespace shmjob::stages
