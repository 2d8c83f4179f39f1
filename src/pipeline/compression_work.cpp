#include "pipeline/compression_work.hpp"

#include <algorithm>
#include <cstring>
#include <span>
#include <stdexcept>

#include "codec/matrix_stats.hpp"
#include "pipeline/adaptive_level.hpp"

namespace shmjob::stages {

CompressionWork::CompressionWork(const StageContext& ctx)
    : ctx_(ctx),
      tiles_(ctx.config().compression.level, ctx.config().compression.shuffle),
      shuffle_choice_(ctx.sets().size()),
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
  const shm::RawSlotHeader h = ctx_.raw_header(raw);
  const int set_index = ctx_.set_index_of(h.matrix_id);
  const MatrixSet& set = ctx_.sets()[static_cast<std::size_t>(set_index)];
  const std::byte* data = transform(set_index, raw);
  const codec::MatrixStats stats = codec::compute_stats(data, set.shape.elements(), set.shape.dtype);
  const std::size_t frame_bytes = compress_tiles(data, set_index, out);
  metrics::RankCounters& me = ctx_.my_counters();
  me.add(me.compressed_matrices, 1);
  if (tiles_.shuffling()) me.add(me.shuffled, 1);
  me.add(me.level_sum, static_cast<std::uint64_t>(tiles_.level()));
  ctx_.compressed_header(out) = {h.matrix_id,    frame_bytes,       stats.crc32,    stats.min,
                                 stats.max,      stats.mean,        h.t_produced,   ctx_.now(),
                                 h.producer,     ctx_.world_rank(), h.source_file,  h.source_dataset,
                                 h.source_index, h.writer,          tiles_.level(), tiles_.shuffling() ? 1u : 0u};
  if (!reduced_.empty()) {
    // Elementwise work on the stored matrix: the transform's time.
    ScopedTimer reducing(ctx_.my_counters().transform_ns);
    auto& accumulator = reduced_[static_cast<std::size_t>(set_index)];
    if (!accumulator) accumulator.emplace(set.shape.rows, set.shape.cols, reductions_);
    accumulator->add(data, set.shape.dtype);
  }
  return {static_cast<std::size_t>(set.shape.bytes()), frame_bytes};
}

std::size_t CompressionWork::compress_tiles(const std::byte* data, int set_index, shm::SlotHandle out) {
  const CompressionConfig& c = ctx_.config().compression;
  if (c.level_auto) tiles_.set_level(current_level(ctx_));
  const MatrixSet& set = ctx_.sets()[static_cast<std::size_t>(set_index)];
  // One frame per tile (one tile unless compression.chunk is set), see tile_codec.hpp.
  const TileGrid grid = tile_grid(set.shape.rows, set.shape.cols, c.chunk);
  const std::size_t element = dtype_size(set.shape.dtype), stored = set.shape.bytes();
  const std::size_t capacity = ctx_.plan().layout.compressed_slot_bytes;
  std::byte* slot = ctx_.slot_data(out);
  if (!c.shuffle_auto) return tiles_.compress(data, grid, element, slot, capacity);
  const auto i = static_cast<std::size_t>(set_index);
  if (!shuffle_choice_.probe_due(i)) {
    tiles_.set_shuffle(shuffle_choice_.shuffle(i));
    const std::size_t frames = tiles_.compress(data, grid, element, slot, capacity);
    shuffle_choice_.compressed(i, stored, frames);
    return frames;
  }
  // A probe: plain into the slot, shuffled into probe_, the smaller kept in the slot.
  metrics::RankCounters& me = ctx_.my_counters();
  me.add(me.shuffle_probes, 1);
  if (probe_.size() < capacity) probe_.resize(capacity);
  tiles_.set_shuffle(false);
  const std::size_t plain = tiles_.compress(data, grid, element, slot, capacity);
  tiles_.set_shuffle(true);
  const std::size_t shuffled = tiles_.compress(data, grid, element, probe_.data(), capacity);
  if (!shuffle_choice_.probed(i, stored, plain, shuffled)) {
    tiles_.set_shuffle(false);
    return plain;
  }
  std::memcpy(slot, probe_.data(), static_cast<std::size_t>(packed_table_bytes(grid.count())) + shuffled);
  return shuffled;
}

void CompressionWork::hand_on(shm::SlotHandle raw, shm::SlotHandle out) const {
  if (!ctx_.queue(shm::handle_owner(raw)).try_push(raw)) throw std::logic_error("free queue overflow");
  const int writer = ctx_.compressed_header(out).writer;
  if (!ctx_.queue(ctx_.plan().node_rank_of(Role::writer, writer)).try_push(out))
    throw std::logic_error("writer inbox overflow");
}

}  // namespace shmjob::stages
