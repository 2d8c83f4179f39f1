// Writer: stores each compressed matrix it receives as the chunk(s) of its own shard file, records
// the index row and frees the compressed slot. At the end it checks it got every id it owns (one
// node; with several nodes rank 0 checks the whole).
#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>

#include "h5/shard_writer.hpp"
#include "resume/job_identity.hpp"
#include "shmjob/error.hpp"
#include "stages/stages.hpp"

namespace shmjob::stages {
namespace {
// Every id the writer owns arrived exactly once. After an interrupt, some of them: producers
// take ids in ticket order and every id taken is finished, but resume does not rely on that
// (after a crash the ids written need not be a prefix): it keeps whatever is intact.
bool complete(const std::vector<IndexRow>& sorted, const WorkOrder& order, int writer, bool interrupted) {
  for (std::size_t i = 1; i < sorted.size(); ++i)
    if (sorted[i].id == sorted[i - 1].id) return false;
  std::uint64_t mine = 0;
  for (int s = 0; s < order.sets(); ++s)
    for (const IdRange& r : order.writer_runs(writer, s))
      mine += static_cast<std::uint64_t>(
          std::lower_bound(sorted.begin(), sorted.end(), r.end(), [](const IndexRow& row, std::uint64_t id) { return row.id < id; }) -
          std::lower_bound(sorted.begin(), sorted.end(), r.first, [](const IndexRow& row, std::uint64_t id) { return row.id < id; }));
  if (mine != sorted.size()) return false;  // an id outside the writer's runs
  return interrupted || mine == order.writer_total(writer);
}

// How often the writer looks at the size of HDF5's metadata cache (in matrices written).
constexpr std::uint64_t kCacheCheckEvery = 4096;

// When a writer makes its shard durable (see FlushConfig).
class FlushSchedule {
 public:
  explicit FlushSchedule(const FlushConfig& config)
      : every_(config.every_matrices.value_or(0)),
        interval_(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            std::chrono::duration<double>(config.interval_s))),
        last_(std::chrono::steady_clock::now()) {}
  bool due(std::uint64_t unflushed) const {
    return unflushed > 0 && ((every_ > 0 && unflushed >= every_) ||
                             std::chrono::steady_clock::now() - last_ >= interval_);
  }
  void flushed() { last_ = std::chrono::steady_clock::now(); }

 private:
  std::uint64_t every_;
  std::chrono::steady_clock::duration interval_;
  std::chrono::steady_clock::time_point last_;
};
}  // namespace

std::vector<IndexRow> run_writer(const StageContext& ctx) {
  const Config& config = ctx.config();
  const WorkOrder& order = ctx.order();
  const Handout* handout = ctx.handout();
  const int writer = ctx.me().role_index;
  const std::uint32_t shard_number = ctx.first_shard() + static_cast<std::uint32_t>(writer);
  shm::SharedQueue& inbox = ctx.queue(ctx.node_rank());
  // Writing a chunk is cheap next to compressing it: wake for a few frames at a time, not for
  // each (compressors wake us when they run out of slots, and at the end of the stream).
  const NodeLayout& layout = ctx.plan().layout;
  inbox.set_wake_batch(std::uint64_t(layout.compressors) * std::uint64_t(layout.compressed_slots_per_compressor) /
                       (2 * std::uint64_t(std::max(layout.writers, 1))));
  metrics::RankCounters& me = ctx.my_counters();
  const auto aborted = [&] { return ctx.aborted(); };
  const bool slow = !config.testing.slow_node || *config.testing.slow_node == ctx.node_index();
  const std::chrono::milliseconds delay(slow ? config.testing.writer_delay_ms : 0);

  std::vector<h5::ShardPart> parts;
  for (int s = 0; s < static_cast<int>(ctx.sets().size()); ++s) {
    const IdRange r = ctx.shard_span(writer, s);
    parts.push_back({&ctx.sets()[static_cast<std::size_t>(s)], r.first, r.count});
  }
  std::optional<h5::ShardWriter> shard;
  const auto open_shard = [&] {
    shard.emplace(config.output_dir / h5::shard_file_name(config.job, shard_number), parts,
                  config.compression,
                  std::map<std::string, std::string>{{"config", to_json(config).dump()},
                                                     {"datasets", resume::sets_to_json(ctx.sets()).dump()}});
  };
  // Several nodes: a writer that gets no matrix leaves no file, so the shard is made on the
  // first one.
  if (!handout && order.writer_total(writer) > 0) open_shard();

  std::vector<IndexRow> rows;
  if (!handout) rows.reserve(order.writer_total(writer));
  FlushSchedule flush(config.flush);
  std::size_t flushed_rows = 0;  // rows in the shard's index (a killed process keeps them)
  std::size_t synced_rows = 0;   // of which synced to the disk (a node crash keeps them too)
  while (true) {
    // The configured flush points sync to the disk (an fsync in the background). Between them,
    // once HDF5's metadata cache has grown past its limit (looked at every kCacheCheckEvery
    // matrices), a flush to the page cache lets the shard drop it (ShardWriter::flush), so a
    // writer's memory does not depend on how many matrices arrive per flush interval; it adds
    // no fsync, so the user's flush settings alone decide how often the file system syncs.
    const std::uint64_t unflushed = rows.size() - flushed_rows;
    const bool due = shard && flush.due(rows.size() - synced_rows);
    const bool cache_full = shard && !due && unflushed > 0 && unflushed % kCacheCheckEvery == 0 &&
                            shard->metadata_cache_full();
    if (due || cache_full) {
      ScopedTimer disk(me.wait_disk_ns);
      shard->flush(std::span<const IndexRow>(rows).subspan(flushed_rows),
                   due ? h5::FlushTo::disk : h5::FlushTo::page_cache);
      flushed_rows = rows.size();
      if (due) {
        synced_rows = rows.size();
        flush.flushed();
      }
    }
    shm::SlotHandle frame = 0;
    {
      ScopedTimer waiting(me.wait_input_ns);  // compressors are behind
      if (!inbox.pop_wait(frame, aborted)) {
        // The job failed elsewhere: keep what this shard holds for --resume if the disk lets us.
        try {
          if (shard) shard->flush(std::span<const IndexRow>(rows).subspan(flushed_rows));
        } catch (const std::exception&) {}
        return rows;
      }
    }
    if (frame == shm::kEndOfStream) break;
    {
      // Busy is the bookkeeping around the write; the write itself is time spent on the disk.
      using Clock = std::chrono::steady_clock;
      const Clock::time_point started = Clock::now();
      Clock::duration on_disk{};
      const shm::CompressedSlotHeader h = ctx.compressed_header(frame);
      const auto set = static_cast<std::size_t>(ctx.set_index_of(h.matrix_id));
      const h5::ShardPart& part = parts[set];
      if (handout && !shard) open_shard();
      if (!shard || h.matrix_id < part.first_id || h.matrix_id - part.first_id >= part.count)
        throw std::logic_error("writer got matrix " + std::to_string(h.matrix_id) + " outside its range");
      const std::uint64_t row = h.matrix_id - part.first_id;
      const Clock::time_point write_start = Clock::now();
      shard->write_matrix(set, row, ctx.slot_data(frame), h.compressed_bytes);
      if (delay.count() > 0) std::this_thread::sleep_for(delay);  // testing: a slow disk
      on_disk = Clock::now() - write_start;
      rows.push_back({h.matrix_id, shard_number, row, part.set->bytes(), h.compressed_bytes,
                      h.crc32, h.min, h.max, h.mean, h.producer, h.compressor, ctx.world_rank(),
                      h.t_produced, h.t_compressed, ctx.now(), h.source_file, h.source_dataset,
                      h.source_index});
      me.add(me.bytes_in, h.compressed_bytes);
      me.add(me.bytes_out, h.compressed_bytes);
      me.record_latency(rows.back().t_written - h.t_produced);
      const auto ns = [](Clock::duration d) {
        return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
      };
      me.add(me.wait_disk_ns, ns(on_disk));
      me.add(me.busy_ns, ns(Clock::now() - started - on_disk));
    }
    me.add(me.matrices, 1);
    if (!ctx.queue(shm::handle_owner(frame)).try_push(frame)) throw std::logic_error("free queue overflow");
  }

  std::sort(rows.begin(), rows.end(), [](const IndexRow& a, const IndexRow& b) { return a.id < b.id; });
  // Several nodes: which ids come is decided at run time; rank 0 checks the whole (job.cpp).
  if (!handout && !complete(rows, order, writer, ctx.control().interrupted.load() != 0)) {
    throw Error("writer " + std::to_string(writer) + " received " + std::to_string(rows.size()) +
                " matrices for its " + std::to_string(order.writer_total(writer)) +
                " ids (lost or duplicated)");
  }
  if (shard) {
    ScopedTimer disk(me.wait_disk_ns);
    shard->finish(rows);
  }
  return rows;
}

}  // namespace shmjob::stages
