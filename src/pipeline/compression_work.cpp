#include "pipeline/compression_work.hpp"

#include <algorithm>
#include <span>
#include <stdexcept>

#include "codec/matrix_stats.hpp"

namespace shmjob::stages {

CompressionWork::CompressionWork(const StageContext& ctx)
    : ctx_(ctx),
      tiles_(ctx.config().compression.level, ctx.config().compression.shuffle),
      reductions_(ctx.config().transform.reduce),
      reduced_(reductions_.empty() ? 0 : ctx.sets().size()) {}

// The stored matrix: the raw one, or what the set's chain made of it (in the raw slot or in
// this rank's scratch buffer).
const std::byte* CompressionWork::transform(int set, shm::SlotHandle raw) {
  std::byte* slot = ctx_.slot_data(raw);
  const transform::ChainPlan* chain = ctx_.chain_of(set);
  if (chain == nullptr) return slot;
  // Made on the first matrix this rank transforms: producers and writers that never help
  // compress keep no scratch buffer (a private copy of a matrix's work bytes).
  if (scratch_.size() * sizeof(double) < chain->scratch_bytes())
    scratch_.resize((chain->scratch_bytes() + sizeof(double) - 1) / sizeof(double));
  metrics::RankCounters& me = ctx_.my_counters();
  ScopedTimer timer(me.transform_ns);
  const NodeOperands* operands = ctx_.operands();
  const transform::ChainResult result = transform::apply(
      *chain, {slot, static_cast<std::size_t>(ctx_.plan().layout.raw_slot_bytes)},
      std::as_writable_bytes(std::span(scratch_)), [operands](std::string_view name) { return operands->view(name); });
  me.add(me.saturated, result.saturated);
  return result.output.data();
}

CompressionWork::Done CompressionWork::compress(shm::SlotHandle raw, shm::SlotHandle out) {
  const Config& config = ctx_.config();
  const shm::RawSlotHeader h = ctx_.raw_header(raw);
  const int set_index = ctx_.set_index_of(h.matrix_id);
  const MatrixSet& set = ctx_.sets()[static_cast<std::size_t>(set_index)];
  const std::byte* data = transform(set_index, raw);
  const codec::MatrixStats stats = codec::compute_stats(data, set.shape.elements(), set.shape.dtype);
  // One frame per tile (one tile unless compression.chunk is set), see tile_codec.hpp.
  const TileGrid grid = tile_grid(set.shape.rows, set.shape.cols, config.compression.chunk);
  const std::size_t frame_bytes = tiles_.compress(data, grid, dtype_size(set.shape.dtype), ctx_.slot_data(out),
                                                  ctx_.plan().layout.compressed_slot_bytes);
  ctx_.compressed_header(out) = {h.matrix_id,   frame_bytes,      stats.crc32,    stats.min,  stats.max,
                                 stats.mean,    h.t_produced,     ctx_.now(),     h.producer, ctx_.world_rank(),
                                 h.source_file, h.source_dataset, h.source_index, h.writer};
  if (!reduced_.empty()) {
    // Elementwise work on the stored matrix: the transform's time.
    ScopedTimer reducing(ctx_.my_counters().transform_ns);
    auto& accumulator = reduced_[static_cast<std::size_t>(set_index)];
    if (!accumulator) accumulator.emplace(set.shape.rows, set.shape.cols, reductions_);
    accumulator->add(data, set.shape.dtype);
  }
  return {static_cast<std::size_t>(set.shape.bytes()), frame_bytes};
}

void CompressionWork::hand_on(shm::SlotHandle raw, shm::SlotHandle out) const {
  if (!ctx_.queue(shm::handle_owner(raw)).try_push(raw)) throw std::logic_error("free queue overflow");
  const int writer = ctx_.compressed_header(out).writer;
  if (!ctx_.queue(ctx_.plan().node_rank_of(Role::writer, writer)).try_push(out))
    throw std::logic_error("writer inbox overflow");
}

}  // namespace shmjob::stages
