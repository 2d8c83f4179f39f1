// Writer: stores each compressed frame it receives as one chunk of its own shard file, records
// the index row and frees the compressed slot. At the end it checks it got every id of its range.
#include <algorithm>
#include <optional>
#include <stdexcept>

#include "h5/shard_writer.hpp"
#include "shmjob/error.hpp"
#include "stages/stages.hpp"

namespace shmjob::stages {

std::vector<IndexRow> run_writer(const StageContext& ctx) {
  const Config& config = ctx.config();
  const int writer = ctx.me().role_index;
  const IdRange range = ctx.order().writer_range(writer);
  const std::uint32_t shard_number = ctx.first_shard() + static_cast<std::uint32_t>(writer);
  shm::SharedQueue& inbox = ctx.queue(ctx.node_rank());
  metrics::RankCounters& me = ctx.my_counters();
  const auto aborted = [&] { return ctx.aborted(); };

  std::optional<h5::ShardWriter> shard;
  if (range.count > 0)
    shard.emplace(config.output_dir / h5::shard_file_name(config.job, shard_number), range.first,
                  range.count, config.matrices, config.compression);

  std::vector<IndexRow> rows;
  rows.reserve(range.count);
  while (true) {
    shm::SlotHandle frame = 0;
    {
      ScopedTimer waiting(me.wait_ns);
      if (!inbox.pop_wait(frame, aborted)) return rows;
    }
    if (frame == shm::kEndOfStream) break;
    {
      ScopedTimer busy(me.busy_ns);
      const shm::CompressedSlotHeader h = ctx.compressed_header(frame);
      if (!range.contains(h.matrix_id) || !shard)
        throw std::logic_error("writer got matrix " + std::to_string(h.matrix_id) + " outside its range");
      const std::uint64_t row = h.matrix_id - range.first;
      shard->write_chunk(row, ctx.slot_data(frame), h.compressed_bytes);
      rows.push_back({h.matrix_id, shard_number, row, config.matrices.bytes(), h.compressed_bytes,
                      h.crc32, h.min, h.max, h.mean, h.producer, h.compressor, ctx.world_rank(),
                      h.t_produced, h.t_compressed, ctx.now()});
      me.add(me.bytes_in, h.compressed_bytes);
      me.add(me.bytes_out, h.compressed_bytes);
    }
    me.add(me.matrices, 1);
    if (!ctx.queue(shm::handle_owner(frame)).try_push(frame)) throw std::logic_error("free queue overflow");
  }

  std::sort(rows.begin(), rows.end(), [](const IndexRow& a, const IndexRow& b) { return a.id < b.id; });
  bool complete = rows.size() == range.count;
  for (std::size_t i = 0; complete && i < rows.size(); ++i) complete = rows[i].id == range.first + i;
  if (!complete)
    throw Error("writer " + std::to_string(writer) + " received " + std::to_string(rows.size()) +
                " matrices for its " + std::to_string(range.count) + " ids (lost or duplicated)");
  if (shard) {
    ScopedTimer busy(me.busy_ns);
    shard->finish(rows);
  }
  return rows;
}

}  // namespace shmjob::stages
