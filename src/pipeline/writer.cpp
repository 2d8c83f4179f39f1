// Writer: stores each compressed matrix it receives as the chunk(s) of its own shard file, records
// the index row and frees the compressed slot. At the end it checks it got every id it owns (one
// node; with several nodes rank 0 checks the whole).
#include <algorithm>
#include <chrono>
#include <iterator>
#include <map>
#include <optional>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>

#include "h5/shard_writer.hpp"
#include "pipeline/received_ids.hpp"
#include "pipeline/stages.hpp"
#include "resume/job_identity.hpp"
#include "shmjob/error.hpp"

namespace shmjob::stages {
namespace {
// Whether `id` is one this writer owns (one node: its runs of the set; after a resume they skip
// the ids earlier runs kept).
bool owned(const std::vector<IdRange>& runs, std::uint64_t id) {
  const auto after = std::upper_bound(runs.begin(), runs.end(), id,
                                      [](std::uint64_t i, const IdRange& r) { return i < r.first; });
  return after != runs.begin() && std::prev(after)->contains(id);
}

// Index rows waiting for the next flush at most (1.1 MB): at a full batch they go to the shard's
// index through the page cache, so the writer's memory does not grow with the matrix count
// (W-small writes 25,000 matrices per second, 250,000 per default 10 s flush interval).
constexpr std::size_t kMaxPendingRows = 8192;

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

metrics::WriterTotals run_writer(const StageContext& ctx) {
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
  std::vector<IdRange> spans;
  for (int s = 0; s < static_cast<int>(ctx.sets().size()); ++s) {
    spans.push_back(ctx.shard_span(writer, s));
    parts.push_back({&ctx.sets()[static_cast<std::size_t>(s)], spans.back().first, spans.back().count});
  }
  ReceivedIds received(spans);
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

  metrics::WriterTotals totals{};
  std::vector<IndexRow> pending;  // rows written since the last flush
  pending.reserve(kMaxPendingRows);
  FlushSchedule flush(config.flush);
  std::uint64_t synced_rows = 0;  // rows synced to the disk (a node crash keeps them too)
  while (true) {
    // The configured flush points sync to the disk (an fsync in the background). Between them,
    // a flush to the page cache moves a full batch of rows to the shard's index, or lets the
    // shard drop HDF5's metadata cache once it has grown past its limit (looked at every
    // kCacheCheckEvery matrices, ShardWriter::flush), so a writer's memory does not depend on
    // how many matrices arrive per flush interval; it adds no fsync, so the user's flush
    // settings alone decide how often the file system syncs.
    const std::uint64_t unflushed = pending.size();
    const bool due = shard && flush.due(received.size() - synced_rows);
    const bool batch_full = shard && !due && unflushed >= kMaxPendingRows;
    const bool cache_full = shard && !due && !batch_full && unflushed > 0 &&
                            unflushed % kCacheCheckEvery == 0 && shard->metadata_cache_full();
    if (due || batch_full || cache_full) {
      ScopedTimer disk(me.wait_disk_ns);
      shard->flush(pending, due ? h5::FlushTo::disk : h5::FlushTo::page_cache);
      pending.clear();
      if (due) {
        synced_rows = received.size();
        flush.flushed();
      }
    }
    shm::SlotHandle frame = 0;
    {
      ScopedTimer waiting(me.wait_input_ns);  // compressors are behind
      if (!inbox.pop_wait(frame, aborted)) {
        // The job failed elsewhere: keep what this shard holds for --resume if the disk lets us.
        try {
          if (shard) shard->flush(pending);
        } catch (const std::exception&) {}
        return totals;
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
      if (!shard || !spans[set].contains(h.matrix_id) ||
          (!handout && !owned(order.writer_runs(writer, static_cast<int>(set)), h.matrix_id)))
        throw std::logic_error("writer got matrix " + std::to_string(h.matrix_id) + " outside its range");
      if (!received.insert(set, h.matrix_id))
        throw Error("writer " + std::to_string(writer) + " received matrix " + std::to_string(h.matrix_id) +
                    " twice (duplicated)");
      const std::uint64_t row = h.matrix_id - part.first_id;
      const Clock::time_point write_start = Clock::now();
      shard->write_matrix(set, row, ctx.slot_data(frame), h.compressed_bytes);
      if (delay.count() > 0) std::this_thread::sleep_for(delay);  // testing: a slow disk
      on_disk = Clock::now() - write_start;
      const IndexRow& written = pending.emplace_back(IndexRow{
          h.matrix_id, shard_number, row, part.set->shape.bytes(), h.compressed_bytes, h.crc32, h.min, h.max,
          h.mean, h.producer, h.compressor, ctx.world_rank(), h.t_produced, h.t_compressed, ctx.now(),
          h.source_file, h.source_dataset, h.source_index});
      totals.add(written);
      me.add(me.bytes_in, h.compressed_bytes);
      me.add(me.bytes_out, h.compressed_bytes);
      me.record_latency(written.t_written - h.t_produced);
      const auto ns = [](Clock::duration d) {
        return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
      };
      me.add(me.wait_disk_ns, ns(on_disk));
      me.add(me.busy_ns, ns(Clock::now() - started - on_disk));
    }
    me.add(me.matrices, 1);
    if (!ctx.queue(shm::handle_owner(frame)).try_push(frame)) throw std::logic_error("free queue overflow");
  }

  // Every id it received was its own and came once (checked as they came); one node: all of
  // them came, unless the job was interrupted. Several nodes: which ids come is decided at run
  // time; rank 0 checks the whole (job.cpp).
  if (!handout && ctx.control().interrupted.load() == 0 && received.size() != order.writer_total(writer)) {
    throw Error("writer " + std::to_string(writer) + " received " + std::to_string(received.size()) +
                " matrices for its " + std::to_string(order.writer_total(writer)) + " ids (lost)");
  }
  if (shard) {
    ScopedTimer disk(me.wait_disk_ns);
    shard->flush(pending, h5::FlushTo::page_cache);
    pending.clear();
    shard->finish([&](const IndexRow& r) { return received.position(static_cast<std::size_t>(ctx.set_index_of(r.id)), r.id); });
  }
  return totals;
}

}  // namespace shmjob::stages
