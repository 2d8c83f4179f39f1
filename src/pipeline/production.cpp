#include "pipeline/production.hpp"

#include <chrono>
#include <thread>

namespace shmjob::stages {

std::optional<std::uint64_t> take_work_order_id(const StageContext& ctx, int lane) {
  const StageContext::WriterSpan writers = ctx.lane_writers(lane);
  const std::uint64_t tickets = ctx.order().ticket_count(writers.first, writers.count);
  std::atomic<std::uint64_t>& next = ctx.control().lane_ticket[lane].next;
  while (true) {
    const std::uint64_t ticket = next.fetch_add(1, std::memory_order_relaxed);
    if (ticket >= tickets) return std::nullopt;
    if (const auto id = ctx.order().id_for_ticket(ticket, writers.first, writers.count)) return id;
  }
}

bool work_order_ids_left(const StageContext& ctx, int lane) {
  const StageContext::WriterSpan writers = ctx.lane_writers(lane);
  return ctx.control().lane_ticket[lane].next.load(std::memory_order_relaxed) <
         ctx.order().ticket_count(writers.first, writers.count);
}

void fill_raw_slot(const StageContext& ctx, MatrixSource& source, std::uint64_t id, int writer, shm::SlotHandle slot) {
  source.fill(id, ctx.set_of(id), ctx.slot_data(slot), ctx.plan().layout.raw_slot_bytes);
  if (const int ms = ctx.config().testing.producer_delay_ms; ms > 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));  // testing: slow input
  const Provenance from = source.provenance(id);
  ctx.raw_header(slot) = {id, ctx.now(), ctx.world_rank(), from.file, from.dataset, from.index, writer};
}

}  // namespace shmjob::stages
