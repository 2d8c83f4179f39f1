// Compressor: takes whichever raw slot is ready next (any producer's: pulling balances the load),
// computes checksum and statistics, optionally shuffles, compresses into one of its own
// compressed slots, frees the raw slot and hands the frame to the writer that owns the id.
#include <stdexcept>
#include <vector>

#include "codec/matrix_stats.hpp"
#include "codec/shuffle.hpp"
#include "codec/zstd_codec.hpp"
#include "stages/stages.hpp"

namespace shmjob::stages {

void run_compressor(const StageContext& ctx) {
  const Config& config = ctx.config();
  const NodeLayout& layout = ctx.plan().layout;
  shm::NodeControl& control = ctx.control();
  shm::SharedQueue& ready = ctx.ready_queue();
  shm::SharedQueue& free_slots = ctx.queue(ctx.node_rank());
  metrics::RankCounters& me = ctx.my_counters();
  const auto aborted = [&] { return ctx.aborted(); };

  codec::ZstdCompressor zstd(config.compression.level);
  std::vector<std::byte> shuffled(config.compression.shuffle ? layout.raw_slot_bytes : 0);

  while (true) {
    shm::SlotHandle out = 0, raw = 0;
    {
      // Take an output slot before a raw one: a raw slot held while waiting would stall a producer.
      ScopedTimer waiting(me.wait_ns);
      if (!free_slots.pop_wait(out, aborted)) break;
      if (!ready.pop_wait(raw, aborted)) break;
    }
    if (raw == shm::kEndOfStream) {
      free_slots.try_push(out);
      break;
    }
    {
      ScopedTimer busy(me.busy_ns);
      const shm::RawSlotHeader h = ctx.raw_header(raw);
      const MatrixSet& set = ctx.set_of(h.matrix_id);
      const std::byte* data = ctx.slot_data(raw);
      const codec::MatrixStats stats = codec::compute_stats(data, set.elements(), set.dtype);
      const void* input = data;
      if (config.compression.shuffle) {
        codec::shuffle(data, shuffled.data(), set.bytes(), dtype_size(set.dtype));
        input = shuffled.data();
      }
      const std::size_t frame_bytes =
          zstd.compress(input, set.bytes(), ctx.slot_data(out), layout.compressed_slot_bytes);
      ctx.compressed_header(out) = {h.matrix_id,    frame_bytes,      stats.crc32,
                                    stats.min,      stats.max,        stats.mean,
                                    h.t_produced,   ctx.now(),        h.producer,
                                    ctx.world_rank(), h.source_file,  h.source_dataset,
                                    h.source_index};
      me.add(me.bytes_in, set.bytes());
      me.add(me.bytes_out, frame_bytes);
    }
    me.add(me.matrices, 1);
    if (!ctx.queue(shm::handle_owner(raw)).try_push(raw)) throw std::logic_error("free queue overflow");
    const int writer = ctx.order().writer_of(ctx.compressed_header(out).matrix_id);
    if (!ctx.queue(ctx.plan().node_rank_of(Role::writer, writer)).try_push(out))
      throw std::logic_error("writer inbox overflow");
  }

  const auto compressors = static_cast<std::uint32_t>(layout.compressors);
  if (control.compressors_done.fetch_add(1) + 1 == compressors)
    for (int w = 0; w < layout.writers; ++w)
      if (!ctx.queue(ctx.plan().node_rank_of(Role::writer, w)).try_push(shm::kEndOfStream))
        throw std::logic_error("writer inbox overflow");
}

}  // namespace shmjob::stages
