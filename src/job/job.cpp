// The life of one job after its setup (see job.hpp).
#include "job/job.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>

#include "h5/h5_handle.hpp"
#include "h5/index_merge.hpp"
#include "h5/master_writer.hpp"
#include "h5/shard_scan.hpp"
#include "h5/shard_writer.hpp"
#include "job/interrupt.hpp"
#include "mpi/claim_counter.hpp"
#include "mpi/gather.hpp"
#include "mpi/mpi_error.hpp"
#include "mpi/node_window.hpp"
#include "mpi/tree_reduce.hpp"
#include "pipeline/node_sampler.hpp"
#include "pipeline/sampler_watch.hpp"
#include "pipeline/stages.hpp"
#include "resume/job_identity.hpp"
#include "shmjob/error.hpp"
#include "shmjob/reader.hpp"
#include "shmjob/version.hpp"
#include "topology/binding.hpp"
#include "util/printable.hpp"

namespace shmjob {
namespace {

using metrics::RankPlacement;
using metrics::RankTotals;
using mpi::agree;
using mpi::as_failure;
using mpi::gather_to_root;
using mpi::gatherv_to_root;

std::string host_name() {
  char name[64] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "unknown";
  return name;
}

struct NodeInfo {
  int index = 0;
  int count = 1;
};

NodeInfo node_info(MPI_Comm world, const mpi::Communicator& node) {
  const bool leader = node.rank() == 0;
  int world_rank = 0;
  mpi::check(MPI_Comm_rank(world, &world_rank), "MPI_Comm_rank");
  MPI_Comm raw = MPI_COMM_NULL;
  mpi::check(MPI_Comm_split(world, leader ? 0 : MPI_UNDEFINED, world_rank, &raw), "MPI_Comm_split");
  const mpi::Communicator leaders(raw);
  int info[2] = {0, 1};
  if (leader) info[0] = leaders.rank(), info[1] = leaders.size();
  mpi::check(MPI_Bcast(info, 2, MPI_INT, 0, node.get()), "MPI_Bcast");
  return {info[0], info[1]};
}

// Number of this node's first shard: writers on lower-numbered nodes come first.
std::uint32_t first_shard_of_node(MPI_Comm world, const mpi::Communicator& node, int writers) {
  int node_rank = node.rank();
  int before = 0;
  const int contribution = node_rank == 0 ? writers : 0;
  // Exclusive scan over world ranks counts writers of every node whose leader has a lower rank;
  // ranks of one node are split so non-leaders contribute zero.
  mpi::check(MPI_Exscan(&contribution, &before, 1, MPI_INT, MPI_SUM, world), "MPI_Exscan");
  int rank = 0;
  mpi::check(MPI_Comm_rank(world, &rank), "MPI_Comm_rank");
  if (rank == 0) before = 0;  // MPI_Exscan leaves rank 0's result undefined
  mpi::check(MPI_Bcast(&before, 1, MPI_INT, 0, node.get()), "MPI_Bcast");
  return static_cast<std::uint32_t>(before);
}

// Producers of all nodes: each node's rank 0 adds its node's.
std::uint64_t job_producers(MPI_Comm world, int node_rank, int node_producers) {
  const int my_producers = node_rank == 0 ? node_producers : 0;
  int producers = 0;
  mpi::check(MPI_Allreduce(&my_producers, &producers, 1, MPI_INT, MPI_SUM, world), "MPI_Allreduce");
  return static_cast<std::uint64_t>(producers);
}

// The world rank of every rank of the node, by node rank.
std::vector<int> node_world_ranks(const mpi::Communicator& node, int world_rank) {
  std::vector<int> world_ranks(static_cast<std::size_t>(node.size()));
  mpi::check(MPI_Allgather(&world_rank, 1, MPI_INT, world_ranks.data(), 1, MPI_INT, node.get()), "MPI_Allgather");
  return world_ranks;
}

// This rank's row of the plan record.
RankPlacement placement_of(int world_rank, const NodeInfo& node, int node_rank, const RankPlan& me,
                           const BindResult& binding, int pu) {
  RankPlacement placement{world_rank,
                          node.index,
                          node_rank,
                          static_cast<int>(me.role),
                          me.role_index,
                          me.lane,
                          me.numa,
                          binding.bound ? 1 : 0,
                          pu,
                          {},
                          {},
                          {}};
  std::snprintf(placement.host, sizeof placement.host, "%s", host_name().c_str());
  std::snprintf(placement.pus, sizeof placement.pus, "%s", cpu_list(binding.pus).c_str());
  std::snprintf(placement.binding, sizeof placement.binding, "%s", binding.reason.c_str());
  return placement;
}

// Node barrier in the window: finished ranks sleep instead of spinning in MPI_Barrier.
void wait_for_node(const stages::StageContext& ctx, int node_size) {
  shm::NodeControl& control = ctx.control();
  control.ranks_finished.fetch_add(1);
  control.finished.notify_all();
  const auto everyone = static_cast<std::uint32_t>(node_size);
  control.finished.wait_until([&] { return control.ranks_finished.load() == everyone; });
}

void print_progress(const nlohmann::json& sample) {
  const double t = sample["t"].get<double>();
  const auto done = sample["written"].get<std::uint64_t>();
  const auto expected = sample["expected"].get<std::uint64_t>();
  std::uint64_t raw = 0;
  for (const auto& r : sample["ranks"])
    if (r["role"] == "compressor") raw += r["bytes_in"].get<std::uint64_t>();
  const double elapsed = t;
  const double rate = elapsed > 0 ? static_cast<double>(raw) / elapsed / 1e6 : 0;
  char eta[32] = "ETA --";  // unknown until the first matrix is written
  if (done > 0 && expected >= done)
    std::snprintf(eta, sizeof eta, "ETA %.0f s", elapsed * double(expected - done) / double(done));
  std::fprintf(stderr, "\r[shmjob] %llu/%llu matrices  %.0f MB  %.0f MB/s  %s   ",
               static_cast<unsigned long long>(done), static_cast<unsigned long long>(expected),
               static_cast<double>(raw) / 1e6, rate, eta);
  std::fflush(stderr);
}

std::vector<h5::ShardInfo> shard_infos(const std::string& job, std::size_t sets,
                                       const std::vector<ShardPartRecord>& parts) {
  std::map<std::uint32_t, h5::ShardInfo> by_shard;
  for (const ShardPartRecord& p : parts) {
    h5::ShardInfo& info = by_shard[p.shard];
    if (info.file_name.empty()) {
      info.number = p.shard;
      info.file_name = h5::shard_file_name(job, p.shard);
      info.first_id.assign(sets, 0);
      info.count.assign(sets, 0);
    }
    info.first_id.at(p.set) = p.first;
    info.count.at(p.set) = p.count;
  }
  std::vector<h5::ShardInfo> out;
  for (auto& [number, info] : by_shard)
    if (std::any_of(info.count.begin(), info.count.end(), [](std::uint64_t c) { return c > 0; }))
      out.push_back(std::move(info));
  return out;
}

// Rank 0's totals were taken before it wrote the master; its peak RSS is taken again after.
std::vector<RankTotals> with_root_peak(std::vector<RankTotals> totals) {
  if (!totals.empty()) totals.front().max_rss_bytes = metrics::peak_rss_bytes();
  return totals;
}

// The outcome and this run's totals; `expected`: the matrices this run had to write.
metrics::JobSummary job_summary(int code, const metrics::WriterTotals& all, double flow_seconds,
                                std::uint64_t expected) {
  metrics::JobSummary summary;
  summary.status = code == kExitOk ? "complete" : code == kExitInterrupted ? "interrupted" : "failed";
  summary.seconds = flow_seconds;
  summary.matrices = all.matrices;
  summary.raw_bytes = all.raw_bytes;
  summary.compressed_bytes = all.compressed_bytes;
  summary.expected = expected;
  return summary;
}

// The inputs the master lists: none for synthetic data.
h5::InputList master_inputs(const Config& config, const InputCatalog& catalog) {
  h5::InputList inputs;
  if (config.input) {
    // Absolute paths: the master outlives the working directory the job ran in.
    for (const std::string& f : catalog.files())
      inputs.files.push_back(std::filesystem::absolute(f).lexically_normal().string());
    for (const InputDataset& d : catalog.datasets()) inputs.datasets.push_back(d.path);
  }
  return inputs;
}

// How far an interrupted job got, and how to write the rest.
void print_interrupted(std::uint64_t in_master, const std::vector<MatrixSet>& sets,
                       const std::filesystem::path& master) {
  std::uint64_t expected = 0;
  for (const MatrixSet& set : sets) expected += set.count;
  std::fprintf(stderr,
               "shmjob: interrupted: %llu of %llu matrices written; %s is marked \"interrupted\" "
               "and its index lists them\n",
               static_cast<unsigned long long>(in_master), static_cast<unsigned long long>(expected),
               printable(master.string()).c_str());
  std::fprintf(stderr, "shmjob: run the same config with --resume to write the rest\n");
}

// The summary's words for the matrices: each set's shape and dtype, then their source.
std::string describe_matrices(const std::vector<MatrixSet>& sets, const Config& config, const InputCatalog& catalog) {
  std::string what;
  for (const MatrixSet& set : sets)
    what += (what.empty() ? "" : ", ") + std::to_string(set.shape.rows) + "x" + std::to_string(set.shape.cols) + " " +
            std::string(dtype_name(set.shape.dtype));
  what += config.input ? ", from " + std::to_string(catalog.files().size()) + " input file(s)"
                       : ", " + std::string(data_kind_name(config.matrices.kind));
  return what;
}

// "node 0 <matrices> (<blocks> blocks), node 1 ...": what each node wrote.
std::string node_shares_text(const nlohmann::json& nodes) {
  std::string shares;
  for (const auto& n : nodes) {
    const auto blocks = n["blocks"].get<std::uint64_t>();
    shares += (shares.empty() ? "" : ", ") + std::string("node ") + std::to_string(n["node"].get<int>()) + " " +
              std::to_string(n["matrices"].get<std::uint64_t>()) + " (" + std::to_string(blocks) +
              (blocks == 1 ? " block)" : " blocks)");
  }
  return shares;
}

}  // namespace

namespace {
// watchdog.abort_s: the stalled rank cannot take part in an orderly end (it may be stopped, or
// stuck in the kernel), so this process leaves with the I/O exit code and mpirun ends the job
// with it. Shards keep what they flushed; no master is written.
void leave_if_stalled(const std::string& why) {
  if (why.empty()) return;
  std::fprintf(stderr, "shmjob: error: %s\n", printable(why).c_str());
  std::fflush(stderr);
  std::_Exit(kExitIo);
}

// Node 0 writes the job's metrics log; node N > 0 its own, next to it (".nodeN").
std::filesystem::path node_log_path(const Config& config, int node) {
  return node == 0 ? config.metrics_path()
                   : std::filesystem::path(config.metrics_path().string() + ".node" + std::to_string(node));
}
}  // namespace

int Job::run() {
  mpi::check(MPI_Comm_rank(world_, &world_rank_), "MPI_Comm_rank");
  const int node_rank = node_.rank();
  const NodeInfo node = node_info(world_, node_);
  const RolePlan& plan = plan_;
  const RankPlan& me = plan.ranks.at(static_cast<std::size_t>(node_rank));
  // One node: the ids are split among its writers up front (one block per shard). Several
  // nodes: producers claim blocks job-wide (pipeline/handout.hpp); the static order is empty.
  const bool multinode = node.count > 1;
  const stages::WorkOrder order(multinode ? std::vector<std::vector<stages::IdRange>>(work_.todo.size()) : work_.todo,
                                layout_.writers);
  std::optional<mpi::ClaimCounter> claims;
  std::optional<stages::Handout> handout;
  if (multinode) {
    claims.emplace(world_);
    const std::uint64_t producers = job_producers(world_, node_rank, layout_.producers);
    handout.emplace(stages::Handout{stages::IdList(work_.todo), producers, config_.multinode.min_block, &*claims});
  }
  const std::uint32_t first_shard = work_.first_shard + first_shard_of_node(world_, node_, layout_.writers);
  std::vector<int> world_ranks = node_world_ranks(node_, world_rank_);

  // Bind before the segment is allocated and touched: first touch places its pages on the
  // rank's NUMA domain.
  BindResult binding = bind_current_process(topology_, me, plan.pinning);
  if (plan.pinning == PinningMode::none) binding.reason = plan.pinning_reason;  // the node's why
  const mpi::NodeWindow window(node_.get(), shm::segment_layout(plan, node_rank).total);
  stages::StageContext ctx(config_, sets_, plan, window, order, node_rank, world_ranks, first_shard, 0, node.index,
                           handout ? &*handout : nullptr);
  ctx.initialise_own_segment();
  ctx.my_counters().pid.store(static_cast<std::uint64_t>(getpid()));  // for the node's sampler
  window.sync_barrier();
  std::optional<stages::NodeOperands> operands;
  if (const int code = load_operands(operands, ctx)) return code;

  const std::vector<RankPlacement> placements =
      gather_to_root(placement_of(world_rank_, node, node_rank, me, binding, current_pu(topology_)), world_);
  const nlohmann::json plan_record =
      world_rank_ == 0 ? metrics::plan_json(placements, plan_to_json(plan)) : nlohmann::json();

  // From here to the end: a first signal drains the pipeline, a second aborts at once.
  const InterruptHandler interrupt_handler(ctx.control().interrupted, &ctx.my_counters().signal);
  start_clock(ctx);
  open_log(ctx, plan_record);
  const bool show_progress = world_rank_ == 0 && !options_.quiet && (options_.progress || isatty(STDERR_FILENO));
  run_watched_stage(ctx, show_progress);
  if (show_progress) std::fputc('\n', stderr);
  // The window and the claim counter outlive conclude(): their frees are collectives too.
  return conclude(ctx, placements);
}

int Job::load_operands(std::optional<stages::NodeOperands>& operands, stages::StageContext& ctx) {
  if (!transform_.active()) return kExitOk;
  std::vector<stages::OperandSource> sources;
  for (std::size_t i = 0; i < transform_.operand_names.size(); ++i) {
    const std::string& name = transform_.operand_names[i];
    sources.push_back({name, &transform_.operand_catalogs[i], transform_.as_float64(name),
                       config_.transform.operands.at(name).replicate});
  }
  operands.emplace(node_.get(), plan_, node_.rank(), std::move(sources));
  mpi::Failure failure;
  try {
    operands->load();
  } catch (const std::exception& e) {
    failure = mpi::as_failure(e);
  }
  if (const int code = mpi::agree(world_, failure)) return code;
  operands->sync();
  // Every node knows its copies' CRCs after sync(); node 0's (world rank 0's) are the job's: they
  // go to the master and, through the writers, into every shard, so that a resume can tell
  // whether an operand changed.
  operand_crc32_ = operands->crc32();
  mpi::check(MPI_Bcast(operand_crc32_.data(), static_cast<int>(operand_crc32_.size()), MPI_UINT32_T, 0, world_),
             "MPI_Bcast");
  try {
    if (world_rank_ == 0 && work_.resuming) require_same_operands();
  } catch (const std::exception& e) {
    failure = mpi::as_failure(e);
  }
  if (const int code = mpi::agree(world_, failure)) return code;
  ctx.set_transform(&transform_.plans, &*operands);
  ctx.set_operands_record(operands_attribute());
  operand_bytes_on_node_ = operands->bytes_on_node();
  operand_bytes_loaded_ = operands->bytes_loaded();
  operand_load_s_ = operands->load_seconds();
  return kExitOk;
}

void Job::require_same_operands() const {
  // The earlier runs' record: the master's, else a kept shard's (a crash leaves no master).
  std::optional<std::string> stored;
  const auto read_from = [&](const std::filesystem::path& path) {
    if (stored || !std::filesystem::exists(path)) return;
    try {
      const h5::File file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "open " + path.string());
      stored = h5::read_string_attribute_if_any(file, "operands");
    } catch (const H5Error&) {  // a damaged file: resume's own checks deal with it
    }
  };
  read_from(config_.master_path());
  for (const h5::ShardInfo& shard : work_.prior.shards) read_from(config_.output_dir / shard.file_name);
  if (!stored) return;  // nothing kept, or written before operands were recorded
  const nlohmann::json earlier = nlohmann::json::parse(*stored, nullptr, false);
  if (!earlier.is_array()) return;
  for (std::size_t i = 0; i < transform_.operand_names.size(); ++i)
    for (const nlohmann::json& e : earlier)
      if (e.is_object() && e.value("name", "") == transform_.operand_names[i] && e.contains("crc32") &&
          e["crc32"] != operand_crc32_[i]) {
        const transform::OperandConfig& o = config_.transform.operands.at(transform_.operand_names[i]);
        throw TransformError("operands." + transform_.operand_names[i] + ": " + o.file + ":" + o.dataset +
                             " changed since the earlier run (CRC-32 " + e["crc32"].dump() + " then, " +
                             std::to_string(operand_crc32_[i]) +
                             " now): resuming would mix matrices transformed with both; restore it, or start "
                             "again with \"overwrite\": true");
      }
}

void Job::combine_reductions() {
  reduced_.resize(sets_.size());
  for (std::size_t s = 0; s < sets_.size(); ++s) {
    std::vector<std::byte> mine = reduced_[s] ? reduced_[s]->to_bytes() : std::vector<std::byte>();
    std::vector<std::byte> all = mpi::tree_reduce_to_root(
        std::move(mine),
        [](std::vector<std::byte> a, std::vector<std::byte> b) {
          transform::Accumulator merged = transform::Accumulator::from_bytes(a);
          merged.merge(transform::Accumulator::from_bytes(b));
          return merged.to_bytes();
        },
        world_);
    reduced_[s].reset();
    if (!all.empty()) reduced_[s].emplace(transform::Accumulator::from_bytes(all));
  }
}

void Job::add_kept_matrices() {
  if (work_.prior.kept.empty()) return;
  // In the output directory, so that its virtual datasets' relative shard names resolve; the job
  // lock keeps other runs away, and the name is replaced (never followed) if a crash left it.
  const std::filesystem::path temporary = config_.output_dir / ("." + config_.job + ".reduce-kept.h5");
  nlohmann::json shard_names = nlohmann::json::array();
  for (const h5::ShardInfo& s : work_.prior.shards) shard_names.push_back(s.file_name);
  h5::write_master(temporary, sets_, work_.prior.shards, std::span<const IndexRow>(work_.prior.kept), {},
                   {{"status", "interrupted"},
                    {"shards", shard_names.dump()},
                    {"datasets", resume::sets_to_json(sets_).dump()},
                    {"config", to_json(config_).dump()}});
  try {
    const Reader kept(temporary);
    for (const IndexRow& row : work_.prior.kept) {
      const std::size_t s = static_cast<std::size_t>(&kept.set_of(row.id) - kept.sets().data());
      const MatrixSet& set = sets_.at(s);
      if (!reduced_[s]) reduced_[s].emplace(set.shape.rows, set.shape.cols, config_.transform.reduce);
      reduced_[s]->add(kept.read(row.id).bytes.data(), set.shape.dtype);
    }
  } catch (...) {
    std::filesystem::remove(temporary);
    throw;
  }
  std::filesystem::remove(temporary);
}

std::vector<h5::MasterArray> Job::reduction_arrays() {
  if (config_.transform.reduce.empty()) return {};
  add_kept_matrices();
  std::vector<h5::MasterArray> arrays;
  for (std::size_t s = 0; s < sets_.size(); ++s) {
    const MatrixSet& set = sets_[s];
    const transform::Accumulator accumulator =
        reduced_[s] ? *reduced_[s] : transform::Accumulator(set.shape.rows, set.shape.cols, config_.transform.reduce);
    const std::string where = sets_.size() == 1 ? "reduce/" : "reduce/" + set.name + "/";
    for (int r = 0; r <= static_cast<int>(transform::kLastReduction); ++r) {
      const auto reduction = static_cast<transform::Reduction>(r);
      if (!config_.transform.reduce.contains(reduction)) continue;
      h5::MasterArray array{
          where + std::string(transform::reduction_name(reduction)), set.shape.rows, set.shape.cols, DType::float64, {},
          {{"matrices", std::to_string(accumulator.count())}}};
      const auto bytes_of = [](const auto& values) {
        const auto* p = reinterpret_cast<const std::byte*>(values.data());
        return std::vector<std::byte>(p, p + values.size() * sizeof(values[0]));
      };
      switch (reduction) {
        case transform::Reduction::sum:
          array.bytes = bytes_of(accumulator.sum());
          break;
        case transform::Reduction::mean:
          array.bytes = bytes_of(accumulator.mean());
          break;
        case transform::Reduction::min:
          array.bytes = bytes_of(accumulator.min());
          break;
        case transform::Reduction::max:
          array.bytes = bytes_of(accumulator.max());
          break;
        case transform::Reduction::count_nonzero:
          array.dtype = DType::uint64;
          array.bytes = bytes_of(accumulator.count_nonzero());
          break;
      }
      arrays.push_back(std::move(array));
    }
  }
  return arrays;
}

std::string Job::operands_attribute() const {
  nlohmann::json list = nlohmann::json::array();
  for (std::size_t i = 0; i < transform_.operand_names.size(); ++i) {
    const std::string& name = transform_.operand_names[i];
    const transform::OperandConfig& o = config_.transform.operands.at(name);
    const MatrixShape shape = transform_.operand_shape(i);
    list.push_back({{"name", name},
                    {"file", o.file},
                    {"dataset", o.dataset},
                    {"rows", shape.rows},
                    {"cols", shape.cols},
                    {"dtype", dtype_name(shape.dtype)},
                    {"crc32", i < operand_crc32_.size() ? operand_crc32_[i] : 0}});
  }
  return list.dump();
}

// Rank 0's clock starts the job: every rank's times count from it.
void Job::start_clock(stages::StageContext& ctx) {
  start_epoch_ = stages::wall_clock_seconds();
  mpi::check(MPI_Bcast(&start_epoch_, 1, MPI_DOUBLE, 0, world_), "MPI_Bcast");
  ctx.set_start(start_epoch_);
}

// Node rank 0 opens its node's metrics log; rank 0 starts the job's record with the plan and its
// notes. A failure aborts the node's pipeline; the ranks agree on it at the end.
void Job::open_log(const stages::StageContext& ctx, const nlohmann::json& plan_record) {
  const int node_index = ctx.node_index();
  try {
    if (ctx.node_rank() == 0) {
      const std::filesystem::path path = node_log_path(config_, node_index);
      // A resumed job's run follows the earlier runs' in node 0's log (after its own job_start);
      // the other nodes' logs hold samples only, so they start afresh.
      using Open = metrics::MetricsLog::Open;
      log_ = std::make_unique<metrics::MetricsLog>(path, !work_.resuming   ? Open::create
                                                         : node_index == 0 ? Open::append
                                                                           : Open::replace);
    }
    if (world_rank_ == 0) {
      log_->append(metrics::start_record(
          config_, plan_record, start_epoch_, topology_json(),
          operands_json(operand_footprint(transform_, config_.transform, plan_), config_.transform)));
      for (const std::string& note : plan_.notes)
        log_->append(metrics::event_record(ctx.now(), "warning", "plan", -1, node_index, note));
    }
  } catch (const std::exception& e) {
    failure_ = as_failure(e);
    ctx.abort_node();
  }
}

// This rank's stage (unless the setup failed) under the node's samplers, then the wait for the
// node's other ranks. The samplers take their last sample on the way out.
void Job::run_watched_stage(const stages::StageContext& ctx, bool show_progress) {
  const int node_index = ctx.node_index();
  std::optional<metrics::NodeSampler> node_sampler;
  std::optional<metrics::PeriodicSampler> sampler;
  if (log_) {
    node_sampler.emplace(ctx, node_index, *log_, diagnosis_context(), config_.watchdog.stall_s,
                         config_.watchdog.abort_s);
    sampler.emplace(config_.metrics.interval_s, [&] {
      const nlohmann::json sample = node_sampler->tick();
      if (show_progress) print_progress(sample);
      leave_if_stalled(node_sampler->abort_reason());
    });
  }
  // Node rank 1 watches that rank 0's sampler still runs (a stopped rank 0 silences it).
  std::optional<metrics::SamplerWatch> sampler_watch;
  std::optional<metrics::PeriodicSampler> sampler_watch_thread;
  if (ctx.node_rank() == 1 && config_.watchdog.stall_s + config_.watchdog.abort_s > 0) {
    sampler_watch.emplace(ctx, node_index, node_log_path(config_, node_index), config_.metrics.interval_s,
                          config_.watchdog.stall_s, config_.watchdog.abort_s);
    sampler_watch_thread.emplace(config_.metrics.interval_s, [&] {
      sampler_watch->tick();
      leave_if_stalled(sampler_watch->abort_reason());
    });
  }
  if (failure_.code == kExitOk) run_my_stage(ctx);
  wait_for_node(ctx, node_.size());
}

// The end on every rank: the flow time, the totals, the agreed exit code and the shards' parts
// reach rank 0, which writes the master and the summary (finish_on_root); its code is the job's.
int Job::conclude(const stages::StageContext& ctx, const std::vector<RankPlacement>& placements) {
  const double my_flow_end = ctx.now();
  double flow_seconds = 0;
  mpi::check(MPI_Reduce(&my_flow_end, &flow_seconds, 1, MPI_DOUBLE, MPI_MAX, 0, world_), "MPI_Reduce");

  RankTotals mine = metrics::rank_totals(ctx.my_counters());
  mine.operand_bytes_on_node = operand_bytes_on_node_;
  mine.operand_bytes_loaded = operand_bytes_loaded_;
  mine.operand_load_s = operand_load_s_;
  const std::vector<RankTotals> totals = gather_to_root(mine, world_);
  int code = agreed_code(ctx);
  if (code == kExitOk && !config_.transform.reduce.empty()) combine_reductions();
  const std::vector<ShardPartRecord> shards = gatherv_to_root(my_shard_parts(ctx), world_);
  const std::vector<metrics::WriterTotals> writers = gather_to_root(writer_totals_, world_);
  if (world_rank_ == 0) {
    try {
      finish_on_root(code, placements, totals, writers, shards, flow_seconds);
    } catch (const std::exception& e) {
      const mpi::Failure f = as_failure(e);
      std::fprintf(stderr, "shmjob: error: %s\n", printable(f.message).c_str());
      code = f.code;
    }
  }
  mpi::check(MPI_Bcast(&code, 1, MPI_INT, 0, world_), "MPI_Bcast");
  return code;
}

// The exit code every rank agrees on (before rank 0's own end).
int Job::agreed_code(const stages::StageContext& ctx) {
  int code = agree(world_, failure_);
  // A signal on any node makes the job "interrupted" (unless it failed).
  const int interrupted_here = static_cast<int>(ctx.control().interrupted.load());
  int interrupted = 0;
  mpi::check(MPI_Allreduce(&interrupted_here, &interrupted, 1, MPI_INT, MPI_MAX, world_), "MPI_Allreduce");
  if (code == kExitOk && interrupted != 0) code = kExitInterrupted;
  return code;
}

// A writer's part of each set in its shard; none for other ranks.
std::vector<ShardPartRecord> Job::my_shard_parts(const stages::StageContext& ctx) const {
  const RankPlan& me = ctx.me();
  std::vector<ShardPartRecord> my_parts;
  const auto shard = ctx.first_shard() + static_cast<std::uint32_t>(me.role_index);
  // Several nodes: a writer's shard exists only if it got a matrix.
  if (me.role == Role::writer && (ctx.handout() == nullptr || writer_totals_.matrices > 0))
    for (int s = 0; s < static_cast<int>(sets_.size()); ++s) {
      const stages::IdRange r = ctx.shard_span(me.role_index, s);
      my_parts.push_back({shard, static_cast<std::uint32_t>(s), r.first, r.count});
    }
  return my_parts;
}

nlohmann::json Job::topology_json() const {
  const TopologyView view = topology_.view();
  return {{"summary", view.summary()},
          {"source", topology_.source()},
          {"this_system", view.this_system},
          {"numa_domains", view.numa.size()},
          {"cores", view.core_count()},
          {"pus", view.pu_count()},
          {"oversubscribed", plan_.oversubscribed},
          {"lanes", plan_.lanes.size()}};
}

metrics::DiagnosisContext Job::diagnosis_context() const {
  metrics::DiagnosisContext c;
  c.cores = topology_.view().core_count();
  c.busy_ranks = layout_.producers + layout_.compressors + layout_.writers;
  c.ranks_per_node = {layout_.producers, layout_.compressors, layout_.writers};
  c.level = config_.compression.level;
  c.level_auto = config_.compression.level_auto;
  c.level_min = config_.compression.level_min;
  c.level_max = config_.compression.level_max;
  c.ingest = config_.input.has_value();
  c.transform = !config_.transform.steps.empty() || !config_.transform.reduce.empty();
  c.matmul = std::any_of(config_.transform.steps.begin(), config_.transform.steps.end(),
                         [](const transform::Step& s) { return s.op == transform::StepOp::matmul; });
  return c;
}

void Job::run_my_stage(const stages::StageContext& ctx) {
  const RankPlan& me = ctx.me();
  try {
    const auto make_source = [this] {
      return config_.input ? stages::make_hdf5_source(catalog_, sets_)
                           : stages::make_synthetic_source(config_.matrices);
    };
    if (me.role != Role::idle) {
      // Every stage may compress (its own stage, or helping: pipeline/elastic.hpp), so every rank
      // has its share of the reductions.
      stages::CompressionWork work(ctx);
      stages::Helper helper(ctx, work, make_source);
      switch (me.role) {
        case Role::producer:
          stages::run_producer(ctx, *make_source(), helper);
          break;
        case Role::compressor:
          stages::run_compressor(ctx, helper, work);
          break;
        default:
          writer_totals_ = stages::run_writer(ctx, helper);
          break;
      }
      reduced_ = work.take_reductions();
    }
  } catch (const std::exception& e) {
    failure_ = as_failure(e);
    failure_.message = "rank " + std::to_string(world_rank_) + " (" + std::string(role_name(me.role)) + " " +
                       std::to_string(me.role_index) + "): " + failure_.message;
    ctx.my_counters().record_error(failure_.message.c_str());  // the node's sampler logs it
    ctx.abort_node();
  }
  ctx.my_counters().stage_done.store(1, std::memory_order_release);  // the watchdog stops watching it
}

void Job::finish_on_root(int code, const std::vector<RankPlacement>& placements, const std::vector<RankTotals>& totals,
                         const std::vector<metrics::WriterTotals>& writers, const std::vector<ShardPartRecord>& parts,
                         double flow_seconds) {
  const bool written = code == kExitOk || code == kExitInterrupted;
  metrics::WriterTotals all;
  for (const metrics::WriterTotals& w : writers) all.merge(w);
  // This run's share: with resume, what was missing.
  metrics::JobSummary summary = job_summary(code, all, flow_seconds, work_.todo_count());
  const std::vector<h5::ShardInfo> new_shards = shard_infos(config_.job, sets_.size(), parts);
  metrics::RatioDistribution ratios(all.ratio_min, all.ratio_max);
  std::uint64_t in_master = 0;  // earlier runs' matrices and this run's

  if (written) {
    if (code == kExitOk && summary.matrices != summary.expected)
      throw Error(std::to_string(summary.matrices) + " matrices were written for the " +
                  std::to_string(summary.expected) + " this run had to write (lost matrices)");
    in_master = write_master_file(summary, placements, new_shards, ratios);
  }
  summary.wall_seconds = stages::wall_clock_seconds() - start_epoch_;
  try {
    if (log_)
      log_->append(metrics::end_record(summary, placements, with_root_peak(totals), writers, ratios.json(),
                                       diagnosis_context(), written ? "" : "see stderr",
                                       !transform_.operand_names.empty()));
  } catch (const std::exception&) {
    if (written) throw;  // else the job's own error (e.g. the disk is full) is the one to report
  }
  if (code == kExitInterrupted) print_interrupted(in_master, sets_, config_.master_path());
  if (code != kExitOk || options_.quiet) return;
  print_summary(summary, in_master, placements, totals, writers);
}

// The master covers the earlier runs' intact matrices (resume) and this run's, in `new_shards`.
// Adds this run's matrices to `ratios`; returns how many matrices the master's index lists.
std::uint64_t Job::write_master_file(const metrics::JobSummary& summary, const std::vector<RankPlacement>& placements,
                                     const std::vector<h5::ShardInfo>& new_shards, metrics::RatioDistribution& ratios) {
  std::vector<h5::ShardInfo> shards = work_.prior.shards;
  shards.insert(shards.end(), new_shards.begin(), new_shards.end());
  const std::map<std::string, std::string> attributes = master_attributes(summary.status, shards, placements);
  const h5::InputList inputs = master_inputs(config_, catalog_);
  // The master's index: the rows of this run's shards (each shard's own index, sorted by id)
  // and the rows kept from earlier runs, merged by id. Every id at most once, and all of them
  // in a complete job: what the writers of all nodes wrote must add up (with several nodes no
  // writer knows its ids in advance).
  h5::IndexMerge merge;
  merge.add_rows(work_.prior.kept);  // input 0; sorted by id (resume::combine)
  for (const h5::ShardInfo& s : new_shards) merge.add_shard(config_.output_dir / s.file_name);
  std::uint64_t in_master = 0;
  std::uint64_t this_run = 0;
  IndexRow last{};
  const auto next_row = [&](IndexRow& row) {
    std::size_t input = 0;
    if (!merge.next(row, input)) return false;
    if (in_master > 0 && row.id == last.id)
      throw Error("matrix " + std::to_string(row.id) + " was written twice (shards " + std::to_string(last.shard) +
                  " and " + std::to_string(row.shard) + ")");
    last = row;
    ++in_master;
    if (input > 0) {
      ++this_run;
      ratios.add(row);
    }
    return true;
  };
  // Reductions only over a complete job's matrices (an interrupted one's would be partial).
  const std::vector<h5::MasterArray> arrays =
      summary.status == "complete" ? reduction_arrays() : std::vector<h5::MasterArray>();
  h5::write_master(
      config_.master_path(), sets_, shards, next_row, inputs, attributes,
      [&] {
        if (this_run != summary.matrices)
          throw Error("the shards' indexes list " + std::to_string(this_run) + " matrices, their writers wrote " +
                      std::to_string(summary.matrices));
      },
      arrays);
  return in_master;
}

// The master's root attributes: what the job was, how it ran and where its matrices are.
std::map<std::string, std::string> Job::master_attributes(const std::string& status,
                                                          const std::vector<h5::ShardInfo>& shards,
                                                          const std::vector<RankPlacement>& placements) const {
  nlohmann::json shard_names = nlohmann::json::array();
  for (const auto& s : shards) shard_names.push_back(s.file_name);
  const double end = stages::wall_clock_seconds();
  std::map<std::string, std::string> attributes{{"status", status},
                                                {"job", config_.job},
                                                {"shmjob_version", version()},
                                                {"versions", metrics::library_versions().dump()},
                                                {"config", to_json(config_).dump()},
                                                {"plan", metrics::plan_json(placements, plan_to_json(plan_)).dump()},
                                                {"shards", shard_names.dump()},
                                                {"datasets", resume::sets_to_json(sets_).dump()},
                                                {"start_time", metrics::iso_time_utc(start_epoch_)},
                                                {"end_time", metrics::iso_time_utc(end)},
                                                {"source", config_.input ? "hdf5" : "synthetic"}};
  if (sets_.size() == 1) attributes["dtype"] = dtype_name(sets_.front().shape.dtype);
  if (transform_.active() || !transform_.operand_names.empty()) attributes["operands"] = operands_attribute();
  if (!config_.input) attributes["kind"] = data_kind_name(config_.matrices.kind);
  return attributes;
}

// The summary on stdout of a job that completed.
void Job::print_summary(const metrics::JobSummary& summary, std::uint64_t in_master,
                        const std::vector<RankPlacement>& placements, const std::vector<RankTotals>& totals,
                        const std::vector<metrics::WriterTotals>& writers) const {
  const std::string what = describe_matrices(sets_, config_, catalog_);
  std::printf(
      "shmjob: job \"%s\" complete: %llu matrices (%s) in %.2f s\n"
      "  %.1f matrices/s, %.1f MB/s in, %.1f MB/s out, compression ratio %.2f\n"
      "  ranks: %d producers, %d compressors, %d writers, %d idle (node 0)\n"
      "  output: %s\n  metrics: %s\n",
      config_.job.c_str(), static_cast<unsigned long long>(summary.matrices), what.c_str(), summary.seconds,
      summary.matrices_per_s(), summary.mb_per_s_in(), summary.mb_per_s_out(), summary.ratio(), layout_.producers,
      layout_.compressors, layout_.writers, layout_.idle, printable(config_.master_path().string()).c_str(),
      printable(config_.metrics_path().string()).c_str());
  if (!work_.prior.kept.empty())
    std::printf("  resumed: %zu matrices kept from earlier runs, %llu written now; the master covers %llu\n",
                work_.prior.kept.size(), static_cast<unsigned long long>(summary.matrices),
                static_cast<unsigned long long>(in_master));
  if (const nlohmann::json nodes = metrics::node_shares(placements, totals, writers); nodes.size() > 1)
    std::printf("  %zu nodes, matrices written per node: %s\n", nodes.size(), node_shares_text(nodes).c_str());
  std::printf("  placement: %zu lane(s), pinning %s (%s)\n", plan_.lanes.size(),
              std::string(pinning_mode_name(plan_.pinning)).c_str(), plan_.pinning_reason.c_str());
  for (const std::string& note : plan_.notes) std::printf("  note: %s\n", note.c_str());
  std::fflush(stdout);
}

}  // namespace shmjob
