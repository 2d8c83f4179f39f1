// Producer: takes the next matrix id, waits for one of its own free raw slots (backpressure),
// has its source write the matrix straight into the slot and queues it on its lane's ready
// queue, naming the writer it goes to. While it has no free slot it may compress instead
// (elastic.hpp).
//   One node: the next id of its lane's work order (then, once its lane has none left, of the
//   other lanes', so a slow lane does not hold the job up).
//   Several nodes: the ids of a block it claims job-wide (handout.hpp), cut among its lane's
//   writers; then the next block, until none is left: a slow node claims fewer blocks.
#include <optional>
#include <stdexcept>

#include "pipeline/elastic.hpp"
#include "pipeline/production.hpp"
#include "pipeline/stages.hpp"

namespace shmjob::stages {

namespace {
// Produces one matrix into a raw slot. False if the node aborted while it waited for a slot.
class Production {
 public:
  Production(const StageContext& ctx, MatrixSource& source, Helper& helper)
      : ctx_(ctx),
        source_(source),
        helper_(helper),
        free_slots_(ctx.queue(ctx.node_rank())),
        ready_(ctx.ready_queue(ctx.me().lane)),
        me_(ctx.my_counters()),
        capacity_(ctx.plan().layout.raw_slot_bytes) {
    // With no free slot, sleep until half of them are back rather than waking for each one the
    // compressors return (a futex wake and two context switches per matrix); producing is fast
    // next to compressing, so the other half keeps the compressors fed meanwhile.
    free_slots_.set_wake_batch(free_slots_.capacity() / 2);
  }

  bool produce(std::uint64_t id, int writer) {
    const MatrixSet& set = ctx_.set_of(id);
    shm::SlotHandle slot = 0;
    if (!next_free_slot(slot)) return false;
    {
      ScopedTimer busy(me_.busy_ns);
      fill_raw_slot(ctx_, source_, id, writer, slot);
    }
    me_.add(me_.matrices, 1);
    me_.add(me_.bytes_out, set.source.bytes());
    if (!ready_.try_push(slot)) throw std::logic_error("ready queue overflow");
    ctx_.control().ready.notify_all();
    return true;
  }

  // Waits for one of its free raw slots; with none, compresses ready matrices instead while a core
  // is idle (elastic). False if the node aborted.
  bool next_free_slot(shm::SlotHandle& slot) {
    while (!free_slots_.try_pop(slot)) {
      if (ctx_.aborted()) return false;
      if (pacer_.may_look() && helper_.can_compress()) {
        if (!helper_.compress_one()) pacer_.missed();
        continue;
      }
      bool popped = false;
      {
        ScopedTimer waiting(me_.wait_slot_ns);  // compressors hold every raw slot
        const Activity::Asleep asleep(helper_.activity());
        popped =
            free_slots_.pop_wait(slot, [&] { return ctx_.aborted() || (pacer_.may_look() && helper_.can_compress()); });
      }
      if (popped) return true;
    }
    return true;
  }

  // An interrupt stops taking new ids; ids already taken are finished (drain).
  bool stopping() const { return ctx_.aborted() || ctx_.control().interrupted.load(std::memory_order_relaxed) != 0; }

 private:
  const StageContext& ctx_;
  MatrixSource& source_;
  Helper& helper_;
  HelpPacer pacer_;
  shm::SharedQueue& free_slots_;
  shm::SharedQueue& ready_;
  metrics::RankCounters& me_;
  std::size_t capacity_;
};

void produce_work_order(const StageContext& ctx, Production& production) {
  const int my_lane = ctx.me().lane;
  for (int step = 0; step < ctx.lanes() && !ctx.aborted(); ++step) {
    const int lane = (my_lane + step) % ctx.lanes();
    while (!production.stopping()) {
      const std::optional<std::uint64_t> id = take_work_order_id(ctx, lane);
      if (!id) break;
      if (!production.produce(*id, ctx.order().writer_of(*id))) return;
    }
  }
}

void produce_claimed_blocks(const StageContext& ctx, Production& production) {
  const Handout& handout = *ctx.handout();
  BlockSchedule schedule = handout.schedule();
  StageContext::WriterSpan writers = ctx.lane_writers(ctx.me().lane);
  if (writers.count == 0) writers = {0, ctx.plan().layout.writers};  // a lane without writers
  metrics::RankCounters& me = ctx.my_counters();
  while (!production.stopping()) {
    const IdRange block = schedule.block(handout.counter->claim());
    if (block.count == 0) break;
    me.add(me.blocks, 1);
    // The block's positions as a one-node work order over the lane's writers: each writer gets
    // a contiguous piece (one run of its shard) and tickets interleave the writers.
    const WorkOrder pieces(block, writers.count);
    for (std::uint64_t t = 0; t < pieces.ticket_count(); ++t) {
      if (production.stopping()) return;
      const std::optional<std::uint64_t> position = pieces.id_for_ticket(t);
      if (!position) continue;
      const int writer = writers.first + static_cast<int>(t % static_cast<std::uint64_t>(writers.count));
      if (!production.produce(handout.ids.id_at(*position), writer)) return;
    }
  }
}
}  // namespace

void run_producer(const StageContext& ctx, MatrixSource& source, Helper& helper) {
  Production production(ctx, source, helper);
  if (ctx.handout() != nullptr)
    produce_claimed_blocks(ctx, production);
  else
    produce_work_order(ctx, production);
  // Compressors stop once every producer is done and the ready queues are empty.
  shm::NodeControl& control = ctx.control();
  control.producers_done.fetch_add(1);
  control.ready.notify_all();
}

}  // namespace shmjob::stages
