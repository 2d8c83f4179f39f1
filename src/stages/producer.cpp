// Producer: takes the next id of its lane's work order (then, once its lane has none left, of
// the other lanes', so a slow lane does not hold the job up), waits for one of its own free raw
// slots (backpressure), has its source write the matrix straight into the slot and queues it on
// its lane's ready queue.
#include <stdexcept>

#include "stages/stages.hpp"

namespace shmjob::stages {

void run_producer(const StageContext& ctx, MatrixSource& source) {
  shm::NodeControl& control = ctx.control();
  shm::SharedQueue& free_slots = ctx.queue(ctx.node_rank());
  // With no free slot, sleep until half of them are back rather than waking for each one the
  // compressors return (a futex wake and two context switches per matrix); producing is fast
  // next to compressing, so the other half keeps the compressors fed meanwhile.
  free_slots.set_wake_batch(free_slots.capacity() / 2);
  const int my_lane = ctx.me().lane;
  shm::SharedQueue& ready = ctx.ready_queue(my_lane);
  metrics::RankCounters& me = ctx.my_counters();
  const std::size_t capacity = ctx.plan().layout.raw_slot_bytes;
  const auto aborted = [&] { return ctx.aborted(); };

  for (int step = 0; step < ctx.lanes() && !ctx.aborted(); ++step) {
    const int lane = (my_lane + step) % ctx.lanes();
    const StageContext::WriterSpan writers = ctx.lane_writers(lane);
    const std::uint64_t tickets = ctx.order().ticket_count(writers.first, writers.count);
    std::atomic<std::uint64_t>& next = control.lane_ticket[lane].next;
    // An interrupt stops taking new ids; ids already taken are finished (drain).
    while (!ctx.aborted() && control.interrupted.load(std::memory_order_relaxed) == 0) {
      const std::uint64_t ticket = next.fetch_add(1, std::memory_order_relaxed);
      if (ticket >= tickets) break;
      const auto id = ctx.order().id_for_ticket(ticket, writers.first, writers.count);
      if (!id) continue;
      const MatrixSet& set = ctx.set_of(*id);

      shm::SlotHandle slot = 0;
      {
        ScopedTimer waiting(me.wait_slot_ns);  // compressors hold every raw slot
        if (!free_slots.pop_wait(slot, aborted)) break;
      }
      {
        ScopedTimer busy(me.busy_ns);
        source.fill(*id, set, ctx.slot_data(slot), capacity);
      }
      const Provenance from = source.provenance(*id);
      ctx.raw_header(slot) = {*id, ctx.now(), ctx.world_rank(), from.file, from.dataset, from.index};
      me.add(me.matrices, 1);
      me.add(me.bytes_out, set.bytes());
      if (!ready.try_push(slot)) throw std::logic_error("ready queue overflow");
      control.ready.notify_all();
    }
  }
  // Compressors stop once every producer is done and the ready queues are empty.
  control.producers_done.fetch_add(1);
  control.ready.notify_all();
}

}  // namespace shmjob::stages
