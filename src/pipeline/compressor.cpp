// Compressor: takes whichever raw slot is ready next (any producer's: pulling balances the load),
// compresses it into one of its own compressed slots (compression_work.hpp), frees the raw slot
// and hands the frame to the writer the producer chose. With no matrix ready it may produce one
// (elastic.hpp).
#include <algorithm>
#include <span>
#include <stdexcept>
#include <vector>

#include "pipeline/adaptive_level.hpp"
#include "pipeline/stages.hpp"

namespace shmjob::stages {

namespace {
// Takes the next raw slot for a compressor: from its own lane first and from the others only
// when its lane has none (lane_local), or from every lane in turn (shared).
class RawSlotSource {
 public:
  RawSlotSource(const StageContext& ctx, Helper& helper)
      : ctx_(ctx),
        helper_(helper),
        lane_(ctx.me().lane),
        shared_(ctx.config().placement.work_sharing == WorkSharing::shared),
        producers_(static_cast<std::uint32_t>(ctx.plan().layout.producers)) {}

  // Sleeps until a raw slot is ready (true) or there will be none: all producers are done, no
  // helper is producing and every lane's queue is empty, or the node aborted (false). Produces
  // matrices itself meanwhile while that helps (elastic.hpp). Time asleep goes to `waited`.
  bool next(shm::SlotHandle& raw, std::atomic<std::uint64_t>& waited) {
    shm::NodeControl& control = ctx_.control();
    HelpPacer pacer;
    while (true) {
      bool got = false, help = false;
      {
        ScopedTimer waiting(waited);
        const Activity::Asleep asleep(helper_.activity());
        control.ready.wait_until([&] {
          if (ctx_.aborted()) return true;
          if ((got = try_take(raw))) return true;
          if ((help = pacer.may_look() && helper_.can_produce())) return true;
          // Every push happened before its producer counted itself done (or its helper uncounted
          // itself): once all are done, one more look at the queues is final.
          if (control.producers_done.load() != producers_ || control.helping_producers.load() != 0) return false;
          got = try_take(raw);
          return true;
        });
      }
      if (!help || got) return got;
      if (!helper_.produce_one()) pacer.missed();
    }
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
  Helper& helper_;
  int lane_;
  bool shared_;
  std::uint32_t producers_;
  int next_start_ = 0;
};
}  // namespace

void run_compressor(const StageContext& ctx, Helper& helper, CompressionWork& work) {
  const NodeLayout& layout = ctx.plan().layout;
  shm::NodeControl& control = ctx.control();
  shm::SharedQueue& free_slots = ctx.queue(ctx.node_rank());
  metrics::RankCounters& me = ctx.my_counters();
  const auto aborted = [&] { return ctx.aborted(); };
  RawSlotSource raw_slots(ctx, helper);
  AdaptiveLevel level(ctx);  // compression.level "auto"

  while (true) {
    shm::SlotHandle out = 0, raw = 0;
    // Take an output slot before a raw one: a raw slot held while waiting would stall a producer.
    if (!free_slots.try_pop(out)) {
      ScopedTimer waiting(me.wait_slot_ns);  // writers hold every compressed slot
      const Activity::Asleep asleep(helper.activity());
      // Writers sleep until a few frames have gathered (set_wake_batch): ours are all there.
      for (int w = 0; w < layout.writers; ++w) ctx.queue(ctx.plan().node_rank_of(Role::writer, w)).wake_all();
      if (!free_slots.pop_wait(out, aborted)) break;
    }
    if (!raw_slots.next(raw, me.wait_input_ns)) {  // no raw slot ready: producers are behind
      free_slots.try_push(out);
      break;
    }
    {
      ScopedTimer busy(me.busy_ns);
      const CompressionWork::Done done = work.compress(raw, out);
      me.add(me.bytes_in, done.stored_bytes);
      me.add(me.bytes_out, done.frame_bytes);
    }
    me.add(me.matrices, 1);
    work.hand_on(raw, out);
    level.after_matrix();
  }

  const auto compressors = static_cast<std::uint32_t>(layout.compressors);
  if (control.compressors_done.fetch_add(1) + 1 == compressors) {
    // The last compressor: once no helper is still compressing (their frames go first), the
    // writers' end of stream.
    {
      const Activity::Asleep asleep(helper.activity());
      control.ready.wait_until([&] { return ctx.aborted() || control.helping_compressors.load() == 0; });
    }
    for (int w = 0; w < layout.writers; ++w) {
      shm::SharedQueue& inbox = ctx.queue(ctx.plan().node_rank_of(Role::writer, w));
      if (!inbox.try_push(shm::kEndOfStream)) throw std::logic_error("writer inbox overflow");
      inbox.wake_all();  // below the writer's wake batch, the push alone may not wake it
    }
  }
}

}  // namespace shmjob::stages
