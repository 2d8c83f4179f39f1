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
#include "pipeline/elastic.hpp"
#include "pipeline/received_ids.hpp"
#include "pipeline/stages.hpp"
#include "resume/job_identity.hpp"
#include "shmjob/error.hpp"

namespace shmjob::stages {
namespace {
// Whether `id` is one this writer owns (one node: its runs of the set; after a resume they skip
// the ids earlier runs kept).
bool owned(const std::vector<IdRange>& runs, std::uint64_t id) {
  const auto after =
      std::upper_bound(runs.begin(), runs.end(), id, [](std::uint64_t i, const IdRange& r) { return i < r.first; });
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
    return unflushed > 0 &&
           ((every_ > 0 && unflushed >= every_) || std::chrono::steady_clock::now() - last_ >= interval_);
  }
  void flushed() { last_ = std::chrono::steady_clock::now(); }

 private:
  std::uint64_t every_;
  std::chrono::steady_clock::duration interval_;
  std::chrono::steady_clock::time_point last_;
};

// Writing a chunk is cheap next to compressing it: wake for a few frames at a time, not for
// each (compressors wake us when they run out of slots, and at the end of the stream).
void set_wake_batch(shm::SharedQueue& inbox, const NodeLayout& layout) {
  inbox.set_wake_batch(std::uint64_t(layout.compressors) * std::uint64_t(layout.compressed_slots_per_compressor) /
                       (2 * std::uint64_t(std::max(layout.writers, 1))));
}

// The ids each set's dataset in writer `writer`'s shard covers.
std::vector<IdRange> shard_spans(const StageContext& ctx, int writer) {
  std::vector<IdRange> spans;
  for (int s = 0; s < static_cast<int>(ctx.sets().size()); ++s) spans.push_back(ctx.shard_span(writer, s));
  return spans;
}

// The shard's datasets: one per set, over its span.
std::vector<h5::ShardPart> shard_parts(const StageContext& ctx, const std::vector<IdRange>& spans) {
  std::vector<h5::ShardPart> parts;
  for (std::size_t s = 0; s < spans.size(); ++s) parts.push_back({&ctx.sets()[s], spans[s].first, spans[s].count});
  return parts;
}

// testing.writer_delay_ms on the slow node (on every node when none is named).
std::chrono::milliseconds write_delay(const Config& config, int node_index) {
  const bool slow = !config.testing.slow_node || *config.testing.slow_node == node_index;
  return std::chrono::milliseconds(slow ? config.testing.writer_delay_ms : 0);
}

// One writer's shard and its bookkeeping: the rows written since the last flush, the ids
// received, the totals.
class WriterShard {
 public:
  explicit WriterShard(const StageContext& ctx);
  // Flushes at a flush point, a full batch of rows or a full metadata cache; not before the shard
  // exists.
  void flush_if_due();
  // Writes the matrix of compressed frame `frame` and records its index row.
  void write(shm::SlotHandle frame);
  // The job failed elsewhere: keeps what this shard holds for --resume if the disk lets us.
  void keep_for_resume();
  // The end of the stream: checks the ids received, then flushes and closes the shard.
  void finish();
  const metrics::WriterTotals& totals() const noexcept { return totals_; }

 private:
  void open();

  const StageContext& ctx_;
  const Config& config_;
  const WorkOrder& order_;
  const Handout* handout_;
  const int writer_;
  const std::uint32_t shard_number_;
  metrics::RankCounters& me_;
  const std::chrono::milliseconds delay_;  // testing: a slow disk
  std::vector<IdRange> spans_;
  std::vector<h5::ShardPart> parts_;
  ReceivedIds received_;
  std::optional<h5::ShardWriter> shard_;
  metrics::WriterTotals totals_{};
  std::vector<IndexRow> pending_;  // rows written since the last flush
  FlushSchedule flush_;
  std::uint64_t synced_rows_ = 0;  // rows synced to the disk (a node crash keeps them too)
};

WriterShard::WriterShard(const StageContext& ctx)
    : ctx_(ctx),
      config_(ctx.config()),
      order_(ctx.order()),
      handout_(ctx.handout()),
      writer_(ctx.me().role_index),
      shard_number_(ctx.first_shard() + static_cast<std::uint32_t>(writer_)),
      me_(ctx.my_counters()),
      delay_(write_delay(config_, ctx.node_index())),
      spans_(shard_spans(ctx, writer_)),
      parts_(shard_parts(ctx, spans_)),
      received_(spans_),
      flush_(config_.flush) {
  // Several nodes: a writer that gets no matrix leaves no file, so the shard is made on the
  // first one.
  if (!handout_ && order_.writer_total(writer_) > 0) open();
  pending_.reserve(kMaxPendingRows);
  flush_.flushed();  // the first interval counts from here, once the shard (if any) is open
}

void WriterShard::open() {
  std::map<std::string, std::string> attributes{{"config", to_json(config_).dump()},
                                                {"datasets", resume::sets_to_json(ctx_.sets()).dump()}};
  if (!ctx_.operands_record().empty()) attributes["operands"] = ctx_.operands_record();
  shard_.emplace(config_.output_dir / h5::shard_file_name(config_.job, shard_number_), parts_, config_.compression,
                 attributes);
}

// The configured flush points sync to the disk (an fsync in the background). Between them,
// a flush to the page cache moves a full batch of rows to the shard's index, or lets the
// shard drop HDF5's metadata cache once it has grown past its limit (looked at every
// kCacheCheckEvery matrices, ShardWriter::flush), so a writer's memory does not depend on
// how many matrices arrive per flush interval; it adds no fsync, so the user's flush
// settings alone decide how often the file system syncs.
void WriterShard::flush_if_due() {
  const std::uint64_t unflushed = pending_.size();
  const bool due = shard_ && flush_.due(received_.size() - synced_rows_);
  const bool batch_full = shard_ && !due && unflushed >= kMaxPendingRows;
  const bool cache_full = shard_ && !due && !batch_full && unflushed > 0 && unflushed % kCacheCheckEvery == 0 &&
                          shard_->metadata_cache_full();
  if (due || batch_full || cache_full) {
    ScopedTimer disk(me_.wait_disk_ns);
    shard_->flush(pending_, due ? h5::FlushTo::disk : h5::FlushTo::page_cache);
    pending_.clear();
    if (due) {
      synced_rows_ = received_.size();
      flush_.flushed();
    }
  }
}

void WriterShard::write(shm::SlotHandle frame) {
  // Busy is the bookkeeping around the write; the write itself is time spent on the disk.
  using Clock = std::chrono::steady_clock;
  const Clock::time_point started = Clock::now();
  Clock::duration on_disk{};
  const shm::CompressedSlotHeader h = ctx_.compressed_header(frame);
  const auto set = static_cast<std::size_t>(ctx_.set_index_of(h.matrix_id));
  const h5::ShardPart& part = parts_[set];
  if (handout_ && !shard_) open();
  if (!shard_ || !spans_[set].contains(h.matrix_id) ||
      (!handout_ && !owned(order_.writer_runs(writer_, static_cast<int>(set)), h.matrix_id)))
    throw std::logic_error("writer got matrix " + std::to_string(h.matrix_id) + " outside its range");
  if (!received_.insert(set, h.matrix_id))
    throw Error("writer " + std::to_string(writer_) + " received matrix " + std::to_string(h.matrix_id) +
                " twice (duplicated)");
  const std::uint64_t row = h.matrix_id - part.first_id;
  const Clock::time_point write_start = Clock::now();
  shard_->write_matrix(set, row, ctx_.slot_data(frame), h.compressed_bytes, h.shuffled != 0);
  if (delay_.count() > 0) std::this_thread::sleep_for(delay_);  // testing: a slow disk
  on_disk = Clock::now() - write_start;
  const IndexRow& written = pending_.emplace_back(IndexRow{h.matrix_id,
                                                           shard_number_,
                                                           row,
                                                           part.set->shape.bytes(),
                                                           h.compressed_bytes,
                                                           h.crc32,
                                                           h.min,
                                                           h.max,
                                                           h.mean,
                                                           h.producer,
                                                           h.compressor,
                                                           ctx_.world_rank(),
                                                           h.t_produced,
                                                           h.t_compressed,
                                                           ctx_.now(),
                                                           h.source_file,
                                                           h.source_dataset,
                                                           h.source_index,
                                                           h.level,
                                                           h.shuffled});
  totals_.add(written);
  me_.add(me_.bytes_in, h.compressed_bytes);
  me_.add(me_.bytes_out, h.compressed_bytes);
  me_.record_latency(written.t_written - h.t_produced);
  const auto ns = [](Clock::duration d) {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
  };
  me_.add(me_.wait_disk_ns, ns(on_disk));
  me_.add(me_.busy_ns, ns(Clock::now() - started - on_disk));
}

void WriterShard::keep_for_resume() {
  try {
    if (shard_) shard_->flush(pending_);
  } catch (const std::exception&) {
  }
}

void WriterShard::finish() {
  // Every id it received was its own and came once (checked as they came); one node: all of
  // them came, unless the job was interrupted. Several nodes: which ids come is decided at run
  // time; rank 0 checks the whole (job.cpp).
  if (!handout_ && ctx_.control().interrupted.load() == 0 && received_.size() != order_.writer_total(writer_)) {
    throw Error("writer " + std::to_string(writer_) + " received " + std::to_string(received_.size()) +
                " matrices for its " + std::to_string(order_.writer_total(writer_)) + " ids (lost)");
  }
  if (shard_) {
    ScopedTimer disk(me_.wait_disk_ns);
    shard_->flush(pending_, h5::FlushTo::page_cache);
    pending_.clear();
    shard_->finish(
        [&](const IndexRow& r) { return received_.position(static_cast<std::size_t>(ctx_.set_index_of(r.id)), r.id); });
  }
}

}  // namespace

metrics::WriterTotals run_writer(const StageContext& ctx, Helper& helper) {
  shm::SharedQueue& inbox = ctx.queue(ctx.node_rank());
  set_wake_batch(inbox, ctx.plan().layout);
  metrics::RankCounters& me = ctx.my_counters();
  // With an empty inbox, help the stage that is behind (elastic.hpp): compress what is ready,
  // else produce what is not.
  HelpPacer pacer;
  const auto help = [&] { return pacer.may_look() && (helper.can_compress() || helper.can_produce()); };
  WriterShard shard(ctx);
  while (true) {
    shard.flush_if_due();
    shm::SlotHandle frame = 0;
    if (!inbox.try_pop(frame)) {
      bool popped = false;
      {
        ScopedTimer waiting(me.wait_input_ns);  // compressors are behind
        const Activity::Asleep asleep(helper.activity());
        popped = inbox.pop_wait(frame, [&] { return ctx.aborted() || help(); });
      }
      if (!popped && ctx.aborted()) {
        shard.keep_for_resume();
        return shard.totals();
      }
      if (!popped) {
        if (!helper.compress_one() && !helper.produce_one()) pacer.missed();
        continue;
      }
    }
    if (frame == shm::kEndOfStream) break;
    shard.write(frame);
    me.add(me.matrices, 1);
    if (!ctx.queue(shm::handle_owner(frame)).try_push(frame)) throw std::logic_error("free queue overflow");
  }
  shard.finish();
  return shard.totals();
}

}  // namespace shmjob::stages
