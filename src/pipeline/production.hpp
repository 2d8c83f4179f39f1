#pragma once
// Producing one matrix, for a producer and for a rank that helps the producers (elastic.hpp):
// the next id of a lane's work order (one node), and a matrix written into a raw slot with its
// header. The caller times it, counts it and queues the slot.
#include <cstdint>
#include <optional>

#include "pipeline/matrix_source.hpp"
#include "pipeline/stage_context.hpp"
#include "shm/slots.hpp"

namespace shmjob::stages {

// Takes the next id of `lane`'s work order (its writers' tickets, shared by every rank that
// produces); nullopt once the lane has none left.
std::optional<std::uint64_t> take_work_order_id(const StageContext& ctx, int lane);
// Whether `lane`'s work order has tickets left (a snapshot).
bool work_order_ids_left(const StageContext& ctx, int lane);

// Writes matrix `id` into raw slot `slot` from `source` (then sleeps testing.producer_delay_ms)
// and fills the slot's header: produced now by this rank, for node-local writer `writer`.
void fill_raw_slot(const StageContext& ctx, MatrixSource& source, std::uint64_t id, int writer, shm::SlotHandle slot);

}  // namespace shmjob::stages
