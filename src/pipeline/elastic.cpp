#include "pipeline/elastic.hpp"

#include <algorithm>
#include <optional>
#include <set>
#include <stdexcept>
#include <thread>

#include "pipeline/production.hpp"

namespace shmjob::stages {
namespace {

int cores_of_node(const RolePlan& plan) {
  std::set<int> cores;
  for (const LanePlan& lane : plan.lanes) cores.insert(lane.cores.begin(), lane.cores.end());
  if (!cores.empty()) return static_cast<int>(cores.size());
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

// A pinned rank is tracked per core it is bound to; one bound beyond the tracked range, or not
// bound at all, is tracked node-wide.
std::vector<int> tracked_cores(const StageContext& ctx) {
  const std::vector<int>& cores = ctx.me().cores;
  if (ctx.plan().pinning != PinningMode::cores || cores.empty()) return {};
  for (const int c : cores)
    if (c < 0 || c >= shm::kMaxTrackedCores) return {};
  return cores;
}

// The node ranks of `role`, those of `lane` first.
std::vector<int> ranks_lane_first(const RolePlan& plan, Role role, int lane) {
  std::vector<int> mine, others;
  for (const RankPlan& r : plan.ranks)
    if (r.role == role) (r.lane == lane ? mine : others).push_back(r.node_rank);
  mine.insert(mine.end(), others.begin(), others.end());
  return mine;
}

// Decrements a helping count when the help ends, and wakes whoever waits for it to reach 0.
class HelpingMark {
 public:
  HelpingMark(std::atomic<std::uint32_t>& count, shm::FutexEvent& wake) : count_(count), wake_(wake) {
    count_.fetch_add(1, std::memory_order_seq_cst);
  }
  ~HelpingMark() {
    count_.fetch_sub(1, std::memory_order_seq_cst);
    wake_.notify_all();
  }
  HelpingMark(const HelpingMark&) = delete;
  HelpingMark& operator=(const HelpingMark&) = delete;

 private:
  std::atomic<std::uint32_t>& count_;
  shm::FutexEvent& wake_;
};

}  // namespace

Activity::Activity(const StageContext& ctx)
    : control_(ctx.control()), cores_(tracked_cores(ctx)), node_cores_(cores_of_node(ctx.plan())) {
  mark(+1);
}

Activity::~Activity() { mark(-1); }

void Activity::mark(int delta) const {
  working_ += delta;
  control_.active_ranks.fetch_add(delta, std::memory_order_seq_cst);
  for (const int c : cores_) control_.active_on_core[c].fetch_add(delta, std::memory_order_seq_cst);
}

bool Activity::core_idle() const {
  // Asleep or awake, the same answer: the rank looks before it sleeps and after it wakes, and a
  // check that counted itself only when awake would wake it for help it then refuses (a spin).
  if (cores_.empty()) return control_.active_ranks.load(std::memory_order_seq_cst) - working_ < node_cores_;
  return std::any_of(cores_.begin(), cores_.end(),
                     [&](int c) { return control_.active_on_core[c].load(std::memory_order_seq_cst) - working_ <= 0; });
}

Helper::Helper(const StageContext& ctx, CompressionWork& work, SourceFactory make_source)
    : ctx_(ctx),
      work_(work),
      make_source_(std::move(make_source)),
      activity_(ctx),
      elastic_(ctx.config().stages.elastic),
      producers_(ranks_lane_first(ctx.plan(), Role::producer, ctx.me().lane)),
      compressors_(ranks_lane_first(ctx.plan(), Role::compressor, ctx.me().lane)) {
  for (int step = 0; step < ctx.lanes(); ++step) lanes_.push_back((ctx.me().lane + step) % ctx.lanes());
}

bool Helper::stopping() const {
  return ctx_.aborted() || ctx_.control().interrupted.load(std::memory_order_seq_cst) != 0;
}

bool Helper::borrow(const std::vector<int>& owners, shm::SlotHandle& slot) const {
  return std::any_of(owners.begin(), owners.end(), [&](int owner) { return ctx_.queue(owner).try_pop(slot); });
}

bool Helper::take_ready(shm::SlotHandle& raw) const {
  for (const int lane : lanes_)
    if (ctx_.ready_queue(lane).try_pop(raw)) return true;
  return false;
}

bool Helper::can_compress() const {
  if (!elastic_ || ctx_.aborted() || !activity_.core_idle()) return false;
  const bool ready =
      std::any_of(lanes_.begin(), lanes_.end(), [&](int lane) { return ctx_.ready_queue(lane).approx_size() > 0; });
  return ready &&
         std::any_of(compressors_.begin(), compressors_.end(), [&](int c) { return ctx_.queue(c).approx_size() > 0; });
}

bool Helper::can_produce() const {
  if (!elastic_ || ctx_.handout() != nullptr || stopping() || !activity_.core_idle()) return false;
  const bool ids_left =
      std::any_of(lanes_.begin(), lanes_.end(), [&](int lane) { return work_order_ids_left(ctx_, lane); });
  return ids_left &&
         std::any_of(producers_.begin(), producers_.end(), [&](int p) { return ctx_.queue(p).approx_size() > 0; });
}

bool Helper::compress_one() {
  shm::NodeControl& control = ctx_.control();
  // Counted before anything is taken: the last compressor's end of stream waits for it.
  const HelpingMark helping(control.helping_compressors, control.ready);
  if (!elastic_ || ctx_.aborted()) return false;
  shm::SlotHandle out = 0, raw = 0;
  if (!borrow(compressors_, out)) return false;
  if (!take_ready(raw)) {
    if (!ctx_.queue(shm::handle_owner(out)).try_push(out)) throw std::logic_error("free queue overflow");
    return false;
  }
  metrics::RankCounters& me = ctx_.my_counters();
  {
    ScopedTimer working(me.help_compress_ns);
    work_.compress(raw, out);
  }
  work_.hand_on(raw, out);
  me.add(me.helped_compressed, 1);
  return true;
}

bool Helper::produce_one() {
  shm::NodeControl& control = ctx_.control();
  // Counted before an id is taken: the compressors end only once no helper is producing, and
  // an interrupt seen by the producers is seen here too (the check comes after the mark).
  const HelpingMark helping(control.helping_producers, control.ready);
  if (!elastic_ || ctx_.handout() != nullptr || stopping()) return false;
  shm::SlotHandle slot = 0;
  if (!borrow(producers_, slot)) return false;
  for (const int lane : lanes_) {
    const std::optional<std::uint64_t> id = take_work_order_id(ctx_, lane);
    if (!id) continue;
    metrics::RankCounters& me = ctx_.my_counters();
    {
      ScopedTimer working(me.help_produce_ns);
      if (!source_) source_ = make_source_();
      fill_raw_slot(ctx_, *source_, *id, ctx_.order().writer_of(*id), slot);
    }
    me.add(me.helped_produced, 1);
    // Into the ready queue of the slot's lane, as its producer would (its memory is there).
    const int slot_lane = ctx_.plan().ranks.at(static_cast<std::size_t>(shm::handle_owner(slot))).lane;
    if (!ctx_.ready_queue(slot_lane).try_push(slot)) throw std::logic_error("ready queue overflow");
    control.ready.notify_all();
    return true;
  }
  if (!ctx_.queue(shm::handle_owner(slot)).try_push(slot)) throw std::logic_error("free queue overflow");
  return false;
}

}  // namespace shmjob::stages
