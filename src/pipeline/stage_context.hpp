#pragma once
// What a stage loop needs to reach on its node: the window's control block, queues, slots and
// counters, all addressed through this process's mapping of each rank's segment.
#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/matrix_set.hpp"
#include "metrics/rank_counters.hpp"
#include "mpi/node_window.hpp"
#include "pipeline/handout.hpp"
#include "pipeline/node_operands.hpp"
#include "pipeline/segment_layout.hpp"
#include "pipeline/work_order.hpp"
#include "shm/shared_queue.hpp"
#include "shm/slots.hpp"
#include "topology/role_plan.hpp"
#include "transform/chain.hpp"

namespace shmjob::stages {

class StageContext {
 public:
  StageContext(const Config& config, const std::vector<MatrixSet>& sets, const RolePlan& plan,
               const mpi::NodeWindow& window, const WorkOrder& order, int node_rank, std::vector<int> world_ranks,
               std::uint32_t first_shard, double start_epoch_s, int node_index = 0, const Handout* handout = nullptr);

  // Constructs this rank's own control structures in its segment and queues its slots as free
  // (their pages are first touched by this rank when it fills them: NUMA-local, see the .cpp).
  // Call once per rank before the setup barrier.
  void initialise_own_segment();

  const Config& config() const noexcept { return config_; }
  const std::vector<MatrixSet>& sets() const noexcept { return sets_; }
  const MatrixSet& set_of(std::uint64_t id) const;  // the job's set holding `id`
  int set_index_of(std::uint64_t id) const;
  const RolePlan& plan() const noexcept { return plan_; }
  const WorkOrder& order() const noexcept { return order_; }  // single node: the static split
  // Several nodes: blocks claimed job-wide (nullptr on a single node).
  const Handout* handout() const noexcept { return handout_; }
  int node_index() const noexcept { return node_index_; }
  // The ids node-local writer w's shard dataset of set s covers (row = id - first). One node:
  // the writer's span of the set. Several nodes: the whole span of the set's ids to write, since
  // any of them may come; only the rows written get chunks, and the master maps each run.
  IdRange shard_span(int writer, int set) const {
    return handout_ ? handout_->ids.set_span(set) : order_.writer_range(writer, set);
  }
  int node_rank() const noexcept { return node_rank_; }
  int world_rank(int node_rank) const { return world_ranks_.at(static_cast<std::size_t>(node_rank)); }
  int world_rank() const { return world_rank(node_rank_); }
  const RankPlan& me() const { return plan_.ranks.at(static_cast<std::size_t>(node_rank_)); }
  std::uint32_t first_shard() const noexcept { return first_shard_; }
  const shm::SegmentLayout& layout(int node_rank) const { return layouts_.at(static_cast<std::size_t>(node_rank)); }

  shm::NodeControl& control() const;
  // Raw slots of `lane`'s producers waiting for a compressor (wait on control().ready).
  shm::SharedQueue& ready_queue(int lane) const;
  int lanes() const noexcept { return static_cast<int>(plan_.lanes.size()); }
  // The writers of `lane`: node-wide writer indexes first .. first + count - 1 (the plan numbers
  // writers lane by lane).
  struct WriterSpan {
    int first = 0, count = 0;
  };
  WriterSpan lane_writers(int lane) const;
  shm::SharedQueue& queue(int node_rank) const;  // free-slot queue or writer inbox
  metrics::RankCounters& counters(int node_rank) const;
  metrics::RankCounters& my_counters() const { return counters(node_rank_); }

  std::byte* slot_data(shm::SlotHandle h) const;
  shm::RawSlotHeader& raw_header(shm::SlotHandle h) const;
  shm::CompressedSlotHeader& compressed_header(shm::SlotHandle h) const;

  // Seconds since the job started (wall clock, comparable across ranks and nodes).
  double now() const;
  void set_start(double start_epoch_s) noexcept { start_epoch_s_ = start_epoch_s; }

  // The transform (none unless set): each set's planned chain, in set order, and the node's
  // operands. Both must outlive the stages.
  void set_transform(const std::vector<transform::ChainPlan>* chains, const NodeOperands* operands) noexcept {
    chains_ = chains;
    operands_ = operands;
  }
  // Set `set`'s chain, or nullptr when the job has no transform.
  const transform::ChainPlan* chain_of(int set) const {
    return chains_ == nullptr || chains_->empty() ? nullptr : &chains_->at(static_cast<std::size_t>(set));
  }
  const NodeOperands* operands() const noexcept { return operands_; }
  // The "operands" record (JSON) shards carry for resume; empty without operands.
  void set_operands_record(std::string record) { operands_record_ = std::move(record); }
  const std::string& operands_record() const noexcept { return operands_record_; }

  bool aborted() const;
  // Marks the node's job as failed and wakes every sleeping rank so it can leave its loop.
  void abort_node() const;

 private:
  std::byte* at(int node_rank, std::size_t offset) const;

  const Config& config_;
  const std::vector<MatrixSet>& sets_;
  const RolePlan& plan_;
  const mpi::NodeWindow& window_;
  const WorkOrder& order_;
  int node_rank_;
  std::vector<int> world_ranks_;
  std::uint32_t first_shard_;
  double start_epoch_s_;
  int node_index_;
  const Handout* handout_;
  std::vector<shm::SegmentLayout> layouts_;
  std::vector<int> ready_owner_;  // per lane: the node rank holding its ready queue
  const std::vector<transform::ChainPlan>* chains_ = nullptr;
  const NodeOperands* operands_ = nullptr;
  std::string operands_record_;
};

// Adds the time the scope took to a counter (busy or waiting nanoseconds).
class ScopedTimer {
 public:
  explicit ScopedTimer(std::atomic<std::uint64_t>& counter) noexcept
      : counter_(counter), start_(std::chrono::steady_clock::now()) {}
  ~ScopedTimer() {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start_);
    counter_.fetch_add(static_cast<std::uint64_t>(ns.count()), std::memory_order_relaxed);
  }
  ScopedTimer(const ScopedTimer&) = delete;
  ScopedTimer& operator=(const ScopedTimer&) = delete;

 private:
  std::atomic<std::uint64_t>& counter_;
  std::chrono::steady_clock::time_point start_;
};

double wall_clock_seconds();

}  // namespace shmjob::stages
