#include "pipeline/stage_context.hpp"

#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

namespace shmjob::stages {

double wall_clock_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

StageContext::StageContext(const Config& config, const std::vector<MatrixSet>& sets, const RolePlan& plan,
                           const mpi::NodeWindow& window, const WorkOrder& order, int node_rank,
                           std::vector<int> world_ranks, std::uint32_t first_shard, double start_epoch_s,
                           int node_index, const Handout* handout)
    : config_(config),
      sets_(sets),
      plan_(plan),
      window_(window),
      order_(order),
      node_rank_(node_rank),
      world_ranks_(std::move(world_ranks)),
      first_shard_(first_shard),
      start_epoch_s_(start_epoch_s),
      node_index_(node_index),
      handout_(handout) {
  if (lanes() > shm::kMaxLanes)
    throw std::logic_error("the plan has more than " + std::to_string(shm::kMaxLanes) + " lanes");
  for (const auto& r : plan_.ranks) layouts_.push_back(shm::segment_layout(plan_, r.node_rank));
  for (int lane = 0; lane < lanes(); ++lane) ready_owner_.push_back(plan_.node_rank_in_lane(lane, Role::producer, 0));
  for (int r = 0; r < window_.size(); ++r)
    if (window_.segment_bytes(r) < layout(r).total)
      throw std::logic_error("window segment of node rank " + std::to_string(r) + " is too small");
}

void StageContext::initialise_own_segment() {
  const shm::SegmentLayout& s = layout(node_rank_);
  new (at(node_rank_, s.counters)) metrics::RankCounters();
  if (s.control != shm::SegmentLayout::npos) new (at(node_rank_, s.control)) shm::NodeControl();
  if (s.ready_queue != shm::SegmentLayout::npos)
    shm::SharedQueue::create(at(node_rank_, s.ready_queue), s.ready_capacity);
  if (s.queue == shm::SegmentLayout::npos) return;
  shm::SharedQueue* q = shm::SharedQueue::create(at(node_rank_, s.queue), s.queue_capacity);
  if (s.slot_count == 0) return;
  // Every slot starts free. The slot data is NOT touched here: the owner (producer: raw slot,
  // compressor: compressed slot) is the first to write each slot, so first touch still places
  // its pages on the owner's NUMA domain; the faults happen during the first pass through the
  // slots, overlapped with the other ranks' work, instead of delaying the start of every rank
  // (16 ranks of the default job touched 450 MB, 0.65 s of the start-up here). A compressed slot
  // is sized for the worst case (compressBound) and only its used part is ever touched.
  std::memset(at(node_rank_, s.slot_headers), 0, s.slot_data - s.slot_headers);
  for (std::uint32_t i = 0; i < s.slot_count; ++i) q->try_push(shm::make_handle(node_rank_, i));
}

std::byte* StageContext::at(int node_rank, std::size_t offset) const {
  if (offset == shm::SegmentLayout::npos)
    throw std::logic_error("node rank " + std::to_string(node_rank) + " has no such region");
  return window_.segment(node_rank) + offset;
}

shm::NodeControl& StageContext::control() const {
  return *std::launder(reinterpret_cast<shm::NodeControl*>(at(0, layout(0).control)));
}
shm::SharedQueue& StageContext::ready_queue(int lane) const {
  const int owner = ready_owner_.at(static_cast<std::size_t>(lane));
  return *shm::SharedQueue::attach(at(owner, layout(owner).ready_queue));
}
shm::SharedQueue& StageContext::queue(int node_rank) const {
  return *shm::SharedQueue::attach(at(node_rank, layout(node_rank).queue));
}
metrics::RankCounters& StageContext::counters(int node_rank) const {
  return *std::launder(reinterpret_cast<metrics::RankCounters*>(at(node_rank, layout(node_rank).counters)));
}

std::byte* StageContext::slot_data(shm::SlotHandle h) const {
  const shm::SegmentLayout& s = layout(shm::handle_owner(h));
  return at(shm::handle_owner(h), s.slot_data) + s.slot_stride * shm::handle_slot(h);
}
shm::RawSlotHeader& StageContext::raw_header(shm::SlotHandle h) const {
  auto* headers =
      reinterpret_cast<shm::RawSlotHeader*>(at(shm::handle_owner(h), layout(shm::handle_owner(h)).slot_headers));
  return headers[shm::handle_slot(h)];
}
shm::CompressedSlotHeader& StageContext::compressed_header(shm::SlotHandle h) const {
  auto* headers =
      reinterpret_cast<shm::CompressedSlotHeader*>(at(shm::handle_owner(h), layout(shm::handle_owner(h)).slot_headers));
  return headers[shm::handle_slot(h)];
}

StageContext::WriterSpan StageContext::lane_writers(int lane) const {
  const std::vector<int> ranks = plan_.lane_ranks(lane, Role::writer);
  if (ranks.empty()) return {};
  return {plan_.ranks.at(static_cast<std::size_t>(ranks.front())).role_index, static_cast<int>(ranks.size())};
}

int StageContext::set_index_of(std::uint64_t id) const {
  for (std::size_t s = 0; s < sets_.size(); ++s)
    if (id >= sets_[s].first_id && id - sets_[s].first_id < sets_[s].count) return static_cast<int>(s);
  throw std::out_of_range("matrix id " + std::to_string(id) + " belongs to no set of the job");
}

const MatrixSet& StageContext::set_of(std::uint64_t id) const {
  return sets_[static_cast<std::size_t>(set_index_of(id))];
}

double StageContext::now() const { return wall_clock_seconds() - start_epoch_s_; }

bool StageContext::aborted() const { return control().abort.load(std::memory_order_acquire) != 0; }

void StageContext::abort_node() const {
  control().abort.store(1, std::memory_order_release);
  control().ready.notify_all();
  for (int r = 0; r < window_.size(); ++r)
    if (layout(r).queue != shm::SegmentLayout::npos) queue(r).wake_all();
  control().finished.notify_all();
}

}  // namespace shmjob::stages
