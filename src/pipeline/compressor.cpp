// Compressor: takes whichever raw slot is ready next (any producer's: pulling balances the load),
// computes checksum and statistics, optionally shuffles, compresses into one of its own
// compressed slots, frees the raw slot and hands the frame to the writer the producer chose.
#include <algorithm>
#include <span>
#include <stdexcept>
#include <vector>

#include "codec/matrix_stats.hpp"
#include "codec/tile_codec.hpp"
#include "pipeline/stages.hpp"

namespace shmjob::stages {

namespace {
// Takes the next raw slot for a compressor: from its own lane first and from the others only
// when its lane has none (lane_local), or from every lane in turn (shared).
class RawSlotSource {
 public:
  explicit RawSlotSource(const StageContext& ctx)
      : ctx_(ctx),
        lane_(ctx.me().lane),
        shared_(ctx.config().placement.work_sharing == WorkSharing::shared),
        producers_(static_cast<std::uint32_t>(ctx.plan().layout.producers)) {}

  // Sleeps until a raw slot is ready (true) or there will be none: all producers are done and
  // every lane's queue is empty, or the node aborted (false).
  bool next(shm::SlotHandle& raw) {
    shm::NodeControl& control = ctx_.control();
    bool got = false;
    control.ready.wait_until([&] {
      if (ctx_.aborted()) return true;
      if ((got = try_take(raw))) return true;
      // Every push happened before its producer counted itself done: once all are done, one
      // more look at the queues is final.
      if (control.producers_done.load() != producers_) return false;
      got = try_take(raw);
      return true;
    });
    return got;
  }

 private:
  bool try_take(shm::SlotHandle& raw) {
    const int lanes = ctx_.lanes();
    const int start = shared_ ? (next_start_++ % lanes) : lane_;
    for (int step = 0; step < lanes; ++step)
      if (ctx_.ready_queue((start + step) % lanes).try_pop(raw)) return true;
    return false;
  }

  const StageContext& ctx_;
  int lane_;
  bool shared_;
  std::uint32_t producers_;
  int next_start_ = 0;
};
// Runs each set's chain on a raw slot; fused elementwise steps, transpose and matmul write into a
// second buffer, this rank's private scratch (about one matrix's work bytes).
class Transformer {
 public:
  explicit Transformer(const StageContext& ctx) : ctx_(ctx) {
    std::size_t scratch = 0;
    for (int s = 0; s < static_cast<int>(ctx.sets().size()); ++s)
      if (const transform::ChainPlan* chain = ctx.chain_of(s)) scratch = std::max(scratch, chain->scratch_bytes());
    scratch_.resize((scratch + sizeof(double) - 1) / sizeof(double));
  }

  const std::byte* apply(int set, shm::SlotHandle raw) {
    std::byte* slot = ctx_.slot_data(raw);
    const transform::ChainPlan* chain = ctx_.chain_of(set);
    if (chain == nullptr) return slot;
    metrics::RankCounters& me = ctx_.my_counters();
    ScopedTimer timer(me.transform_ns);
    const NodeOperands* operands = ctx_.operands();
    const transform::ChainResult result =
        transform::apply(*chain, {slot, static_cast<std::size_t>(ctx_.plan().layout.raw_slot_bytes)},
                         std::as_writable_bytes(std::span(scratch_)),
                         [operands](std::string_view name) { return operands->view(name); });
    me.add(me.saturated, result.saturated);
    return result.output.data();
  }

 private:
  const StageContext& ctx_;
  std::vector<double> scratch_;  // doubles: 8-byte aligned, as apply() needs
};
}  // namespace

std::vector<std::optional<transform::Accumulator>> run_compressor(const StageContext& ctx) {
  const Config& config = ctx.config();
  const NodeLayout& layout = ctx.plan().layout;
  shm::NodeControl& control = ctx.control();
  shm::SharedQueue& free_slots = ctx.queue(ctx.node_rank());
  metrics::RankCounters& me = ctx.my_counters();
  const auto aborted = [&] { return ctx.aborted(); };
  RawSlotSource raw_slots(ctx);

  codec::TileCompressor tiles(config.compression.level, config.compression.shuffle);
  Transformer transformer(ctx);
  // "reduce": one accumulator per set, made when the set's first matrix comes.
  const transform::ReductionSet reductions = config.transform.reduce;
  std::vector<std::optional<transform::Accumulator>> reduced(reductions.empty() ? 0 : ctx.sets().size());

  while (true) {
    shm::SlotHandle out = 0, raw = 0;
    // Take an output slot before a raw one: a raw slot held while waiting would stall a producer.
    if (!free_slots.try_pop(out)) {
      ScopedTimer waiting(me.wait_slot_ns);  // writers hold every compressed slot
      // Writers sleep until a few frames have gathered (set_wake_batch): ours are all there.
      for (int w = 0; w < layout.writers; ++w) ctx.queue(ctx.plan().node_rank_of(Role::writer, w)).wake_all();
      if (!free_slots.pop_wait(out, aborted)) break;
    }
    {
      ScopedTimer waiting(me.wait_input_ns);  // no raw slot ready: producers are behind
      if (!raw_slots.next(raw)) {
        free_slots.try_push(out);
        break;
      }
    }
    {
      ScopedTimer busy(me.busy_ns);
      const shm::RawSlotHeader h = ctx.raw_header(raw);
      const int set_index = ctx.set_index_of(h.matrix_id);
      const MatrixSet& set = ctx.sets()[static_cast<std::size_t>(set_index)];
      // The stored matrix: the raw one, or what the transform made of it (in the raw slot or in
      // this rank's scratch buffer).
      const std::byte* data = transformer.apply(set_index, raw);
      const codec::MatrixStats stats = codec::compute_stats(data, set.shape.elements(), set.shape.dtype);
      // One frame per tile (one tile unless compression.chunk is set), see tile_codec.hpp.
      const TileGrid grid = tile_grid(set.shape.rows, set.shape.cols, config.compression.chunk);
      const std::size_t frame_bytes =
          tiles.compress(data, grid, dtype_size(set.shape.dtype), ctx.slot_data(out), layout.compressed_slot_bytes);
      ctx.compressed_header(out) = {h.matrix_id,   frame_bytes,      stats.crc32,    stats.min,  stats.max,
                                    stats.mean,    h.t_produced,     ctx.now(),      h.producer, ctx.world_rank(),
                                    h.source_file, h.source_dataset, h.source_index, h.writer};
      if (!reduced.empty()) {
        ScopedTimer reducing(me.transform_ns);  // elementwise work on the stored matrix: the transform's
        auto& accumulator = reduced[static_cast<std::size_t>(set_index)];
        if (!accumulator) accumulator.emplace(set.shape.rows, set.shape.cols, reductions);
        accumulator->add(data, set.shape.dtype);
      }
      me.add(me.bytes_in, set.shape.bytes());
      me.add(me.bytes_out, frame_bytes);
    }
    me.add(me.matrices, 1);
    if (!ctx.queue(shm::handle_owner(raw)).try_push(raw)) throw std::logic_error("free queue overflow");
    const int writer = ctx.compressed_header(out).writer;
    if (!ctx.queue(ctx.plan().node_rank_of(Role::writer, writer)).try_push(out))
      throw std::logic_error("writer inbox overflow");
  }

  const auto compressors = static_cast<std::uint32_t>(layout.compressors);
  if (control.compressors_done.fetch_add(1) + 1 == compressors)
    for (int w = 0; w < layout.writers; ++w) {
      shm::SharedQueue& inbox = ctx.queue(ctx.plan().node_rank_of(Role::writer, w));
      if (!inbox.try_push(shm::kEndOfStream)) throw std::logic_error("writer inbox overflow");
      inbox.wake_all();  // below the writer's wake batch, the push alone may not wake it
    }
  return reduced;
}

}  // namespace shmjob::stages
