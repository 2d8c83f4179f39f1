// Producer: takes the next id from the node's work order, waits for one of its own free raw
// slots (backpressure), has its source write the matrix straight into the slot and queues it.
#include <stdexcept>

#include "stages/stages.hpp"

namespace shmjob::stages {

void run_producer(const StageContext& ctx, MatrixSource& source) {
  shm::NodeControl& control = ctx.control();
  shm::SharedQueue& free_slots = ctx.queue(ctx.node_rank());
  shm::SharedQueue& ready = ctx.ready_queue();
  metrics::RankCounters& me = ctx.my_counters();
  const std::size_t capacity = ctx.plan().layout.raw_slot_bytes;
  const auto aborted = [&] { return ctx.aborted(); };

  while (!ctx.aborted()) {
    const std::uint64_t ticket = control.next_ticket.fetch_add(1, std::memory_order_relaxed);
    if (ticket >= ctx.order().ticket_count()) break;
    const auto id = ctx.order().id_for_ticket(ticket);
    if (!id) continue;
    const MatrixSet& set = ctx.set_of(*id);

    shm::SlotHandle slot = 0;
    {
      ScopedTimer waiting(me.wait_ns);
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
  }

  // The last producer out tells every compressor that no more raw slots will come.
  const auto producers = static_cast<std::uint32_t>(ctx.plan().layout.producers);
  if (control.producers_done.fetch_add(1) + 1 == producers)
    for (int c = 0; c < ctx.plan().layout.compressors; ++c)
      if (!ready.try_push(shm::kEndOfStream)) throw std::logic_error("ready queue overflow");
}

}  // namespace shmjob::stages
