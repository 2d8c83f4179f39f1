// run_job: the life of one job on every rank.
//   config + layout (all ranks, agree) -> output dir (rank 0, agree) -> node window + plan ->
//   stages -> node barrier (futex, no spinning) -> agree on failure -> gather index and totals ->
//   master file + job_end record (rank 0).
#include "shmjob/pipeline.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <map>
#include <cstdio>
#include <cstring>
#include <functional>
#include <optional>

#include "h5/h5_handle.hpp"
#include "h5/master_writer.hpp"
#include "h5/shard_writer.hpp"
#include "metrics/job_records.hpp"
#include "metrics/metrics_log.hpp"
#include "mpi/communicator.hpp"
#include "mpi/mpi_error.hpp"
#include "mpi/node_window.hpp"
#include "interrupt.hpp"
#include "output_dir.hpp"
#include "shmjob/error.hpp"
#include "shmjob/input.hpp"
#include "shmjob/topology.hpp"
#include "topology/binding.hpp"
#include "shmjob/version.hpp"
#include "stages/stages.hpp"

namespace shmjob {
namespace {

using metrics::RankPlacement;
using metrics::RankTotals;

struct Failure {
  int code = kExitOk;
  std::string message;
};

// Every rank learns the worst exit code; the lowest failing rank prints its message, once.
int agree(MPI_Comm world, const Failure& local) {
  int code = 0;
  mpi::check(MPI_Allreduce(&local.code, &code, 1, MPI_INT, MPI_MAX, world), "MPI_Allreduce");
  if (code == kExitOk) return code;
  int me = 0, first = 0;
  mpi::check(MPI_Comm_rank(world, &me), "MPI_Comm_rank");
  const int candidate = local.code != kExitOk ? me : INT_MAX;
  mpi::check(MPI_Allreduce(&candidate, &first, 1, MPI_INT, MPI_MIN, world), "MPI_Allreduce");
  if (me == first) std::fprintf(stderr, "shmjob: error: %s\n", local.message.c_str());
  return code;
}

Failure as_failure(const std::exception& e) {
  if (const auto* error = dynamic_cast<const Error*>(&e)) return {error->exit_code(), error->what()};
  return {kExitRuntime, e.what()};
}

template <class T>
std::vector<T> gather_to_root(const T& mine, MPI_Comm comm) {
  int size = 0, rank = 0;
  mpi::check(MPI_Comm_size(comm, &size), "MPI_Comm_size");
  mpi::check(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  std::vector<T> all(rank == 0 ? static_cast<std::size_t>(size) : 0);
  mpi::check(MPI_Gather(&mine, sizeof(T), MPI_BYTE, all.data(), sizeof(T), MPI_BYTE, 0, comm), "MPI_Gather");
  return all;
}

template <class T>
std::vector<T> gatherv_to_root(const std::vector<T>& mine, MPI_Comm comm) {
  int size = 0, rank = 0;
  mpi::check(MPI_Comm_size(comm, &size), "MPI_Comm_size");
  mpi::check(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  const std::uint64_t my_bytes = mine.size() * sizeof(T);
  if (my_bytes > INT_MAX) throw MpiError("MPI: index of one writer exceeds 2 GiB");
  const int count = static_cast<int>(my_bytes);
  std::vector<int> counts(static_cast<std::size_t>(size)), offsets(static_cast<std::size_t>(size));
  mpi::check(MPI_Gather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, comm), "MPI_Gather");
  std::uint64_t total = 0;
  for (int i = 0; i < size; ++i) {
    offsets[static_cast<std::size_t>(i)] = static_cast<int>(total);
    total += static_cast<std::uint64_t>(counts[static_cast<std::size_t>(i)]);
  }
  if (rank == 0 && total > INT_MAX) throw MpiError("MPI: job index exceeds 2 GiB");
  std::vector<T> all(rank == 0 ? total / sizeof(T) : 0);
  mpi::check(MPI_Gatherv(mine.data(), count, MPI_BYTE, all.data(), counts.data(), offsets.data(),
                         MPI_BYTE, 0, comm),
             "MPI_Gatherv");
  return all;
}

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto tv = [](const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) * 1e-6; };
  return tv(usage.ru_utime) + tv(usage.ru_stime);
}

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

void print_progress(const nlohmann::json& sample) {
  const double t = sample["t"].get<double>();
  const auto done = sample["written"].get<std::uint64_t>();
  const auto expected = sample["expected"].get<std::uint64_t>();
  std::uint64_t raw = 0;
  for (const auto& r : sample["ranks"])
    if (r["role"] == "compressor") raw += r["bytes_in"].get<std::uint64_t>();
  const double elapsed = t;
  const double rate = elapsed > 0 ? static_cast<double>(raw) / elapsed / 1e6 : 0;
  const double eta = done > 0 ? elapsed * double(expected - done) / double(done) : 0;
  std::fprintf(stderr, "\r[shmjob] %llu/%llu matrices  %.0f MB  %.0f MB/s  ETA %.0f s   ",
               static_cast<unsigned long long>(done), static_cast<unsigned long long>(expected),
               static_cast<double>(raw) / 1e6, rate, eta);
  std::fflush(stderr);
}

// One writer's part of one matrix set, gathered on rank 0 for the master's virtual datasets.
struct ShardPartRecord {
  std::uint32_t shard, set;
  std::uint64_t first, count;
};

std::vector<h5::ShardInfo> shard_infos(const std::string& job, std::size_t sets,
                                       const std::vector<ShardPartRecord>& parts) {
  std::map<std::uint32_t, h5::ShardInfo> by_shard;
  for (const ShardPartRecord& p : parts) {
    h5::ShardInfo& info = by_shard[p.shard];
    if (info.file_name.empty()) {
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

nlohmann::json sets_json(const std::vector<MatrixSet>& sets) {
  nlohmann::json list = nlohmann::json::array();
  for (const MatrixSet& s : sets)
    list.push_back({{"name", s.name}, {"index", s.index_name}, {"rows", s.rows}, {"cols", s.cols},
                    {"dtype", dtype_name(s.dtype)}, {"first_id", s.first_id}, {"count", s.count}});
  return list;
}

class Job {
 public:
  Job(const Config& config, const std::vector<MatrixSet>& sets, const InputCatalog& catalog,
      const Topology& topology, const RolePlan& plan, const RunOptions& options, MPI_Comm world,
      const mpi::Communicator& node)
      : config_(config), sets_(sets), catalog_(catalog), topology_(topology), plan_(plan),
        layout_(plan.layout), options_(options), world_(world), node_(node) {}

  int run();

 private:
  void run_my_stage(const stages::StageContext& ctx);
  void finish_on_root(int code, const std::vector<RankPlacement>& placements,
                      const std::vector<RankTotals>& totals, const std::vector<IndexRow>& rows,
                      const std::vector<ShardPartRecord>& parts, double flow_seconds);

  const Config& config_;
  const std::vector<MatrixSet>& sets_;
  const InputCatalog& catalog_;
  const Topology& topology_;
  const RolePlan& plan_;
  const NodeLayout& layout_;
  const RunOptions& options_;
  MPI_Comm world_;
  const mpi::Communicator& node_;
  int world_rank_ = 0;
  double start_epoch_ = 0;
  std::unique_ptr<metrics::MetricsLog> log_;
  std::vector<IndexRow> rows_;
  Failure failure_;
};

int Job::run() {
  mpi::check(MPI_Comm_rank(world_, &world_rank_), "MPI_Comm_rank");
  const int node_rank = node_.rank();
  const NodeInfo node = node_info(world_, node_);
  const RolePlan& plan = plan_;
  const RankPlan& me = plan.ranks.at(static_cast<std::size_t>(node_rank));
  std::vector<stages::IdRange> node_sets;
  for (const MatrixSet& s : sets_)
    node_sets.push_back(stages::split_evenly({s.first_id, s.count}, node.count)[static_cast<std::size_t>(node.index)]);
  const stages::WorkOrder order(node_sets, layout_.writers);
  const std::uint32_t first_shard = first_shard_of_node(world_, node_, layout_.writers);
  std::vector<int> world_ranks(static_cast<std::size_t>(node_.size()));
  mpi::check(MPI_Allgather(&world_rank_, 1, MPI_INT, world_ranks.data(), 1, MPI_INT, node_.get()),
             "MPI_Allgather");

  // Bind before the segment is allocated and touched: first touch places its pages on the
  // rank's NUMA domain.
  BindResult binding = bind_current_process(topology_, me, plan.pinning);
  if (plan.pinning == PinningMode::none) binding.reason = plan.pinning_reason;  // the node's why
  const mpi::NodeWindow window(node_.get(), shm::segment_layout(plan, node_rank).total);
  stages::StageContext ctx(config_, sets_, plan, window, order, node_rank, world_ranks, first_shard, 0);
  ctx.initialise_own_segment();
  window.sync_barrier();

  RankPlacement placement{world_rank_, node.index, node_rank, static_cast<int>(me.role),
                          me.role_index, me.lane, me.numa, binding.bound ? 1 : 0,
                          current_pu(topology_), {}, {}, {}};
  std::snprintf(placement.host, sizeof placement.host, "%s", host_name().c_str());
  std::snprintf(placement.pus, sizeof placement.pus, "%s", cpu_list(binding.pus).c_str());
  std::snprintf(placement.binding, sizeof placement.binding, "%s", binding.reason.c_str());
  const std::vector<RankPlacement> placements = gather_to_root(placement, world_);
  const nlohmann::json plan_record =
      world_rank_ == 0 ? metrics::plan_json(placements, plan_to_json(plan)) : nlohmann::json();

  start_epoch_ = stages::wall_clock_seconds();
  mpi::check(MPI_Bcast(&start_epoch_, 1, MPI_DOUBLE, 0, world_), "MPI_Bcast");
  ctx.set_start(start_epoch_);
  try {
    if (node_rank == 0) {
      const auto path = node.index == 0 ? config_.metrics_path()
                                        : std::filesystem::path(config_.metrics_path().string() +
                                                                ".node" + std::to_string(node.index));
      log_ = std::make_unique<metrics::MetricsLog>(path);
    }
    if (world_rank_ == 0) log_->append(metrics::start_record(config_, plan_record, start_epoch_));
  } catch (const std::exception& e) {
    failure_ = as_failure(e);
    ctx.abort_node();
  }

  const bool show_progress =
      world_rank_ == 0 && !options_.quiet && (options_.progress || isatty(STDERR_FILENO));
  {
    const InterruptHandler interrupt_handler(ctx.control().interrupted);
    std::optional<metrics::PeriodicSampler> sampler;
    if (log_)
      sampler.emplace(config_.metrics.interval_s, [&] {
        const nlohmann::json sample = metrics::sample_record(ctx, node.index);
        log_->append(sample);
        if (show_progress) print_progress(sample);
      });
    if (failure_.code == kExitOk) run_my_stage(ctx);
    // Node barrier in the window: finished ranks sleep instead of spinning in MPI_Barrier.
    shm::NodeControl& control = ctx.control();
    control.ranks_finished.fetch_add(1);
    control.finished.notify_all();
    const auto everyone = static_cast<std::uint32_t>(node_.size());
    control.finished.wait_until([&] { return control.ranks_finished.load() == everyone; });
  }  // the sampler takes its last sample here
  if (show_progress) std::fputc('\n', stderr);
  const double my_flow_end = ctx.now();
  double flow_seconds = 0;
  mpi::check(MPI_Reduce(&my_flow_end, &flow_seconds, 1, MPI_DOUBLE, MPI_MAX, 0, world_), "MPI_Reduce");

  const metrics::RankCounters& c = ctx.my_counters();
  const RankTotals mine{cpu_seconds(), static_cast<double>(c.busy_ns.load()) * 1e-9,
                        static_cast<double>(c.wait_ns.load()) * 1e-9,
                        c.matrices.load(), c.bytes_in.load(), c.bytes_out.load()};
  const std::vector<RankTotals> totals = gather_to_root(mine, world_);
  int code = agree(world_, failure_);
  // A signal on any node makes the job "interrupted" (unless it failed).
  const int interrupted_here = static_cast<int>(ctx.control().interrupted.load());
  int interrupted = 0;
  mpi::check(MPI_Allreduce(&interrupted_here, &interrupted, 1, MPI_INT, MPI_MAX, world_), "MPI_Allreduce");
  if (code == kExitOk && interrupted != 0) code = kExitInterrupted;

  std::vector<ShardPartRecord> my_parts;
  if (me.role == Role::writer)
    for (int s = 0; s < order.sets(); ++s) {
      const stages::IdRange r = order.writer_range(me.role_index, s);
      my_parts.push_back({first_shard + static_cast<std::uint32_t>(me.role_index),
                          static_cast<std::uint32_t>(s), r.first, r.count});
    }
  const std::vector<ShardPartRecord> shards = gatherv_to_root(my_parts, world_);
  const std::vector<IndexRow> rows = gatherv_to_root(rows_, world_);
  if (world_rank_ == 0) {
    try {
      finish_on_root(code, placements, totals, rows, shards, flow_seconds);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "shmjob: error: %s\n", e.what());
      code = kExitRuntime;
    }
  }
  mpi::check(MPI_Bcast(&code, 1, MPI_INT, 0, world_), "MPI_Bcast");
  return code;
}

void Job::run_my_stage(const stages::StageContext& ctx) {
  const RankPlan& me = ctx.me();
  try {
    switch (me.role) {
      case Role::producer: {
        const auto source = config_.input ? stages::make_hdf5_source(catalog_, sets_)
                                          : stages::make_synthetic_source(config_.matrices);
        stages::run_producer(ctx, *source);
        break;
      }
      case Role::compressor: stages::run_compressor(ctx); break;
      case Role::writer: rows_ = stages::run_writer(ctx); break;
      case Role::idle: break;
    }
  } catch (const std::exception& e) {
    failure_ = as_failure(e);
    failure_.code = kExitRuntime;
    failure_.message = "rank " + std::to_string(world_rank_) + " (" + std::string(role_name(me.role)) +
                       " " + std::to_string(me.role_index) + "): " + failure_.message;
    ctx.abort_node();
  }
}

void Job::finish_on_root(int code, const std::vector<RankPlacement>& placements,
                         const std::vector<RankTotals>& totals, const std::vector<IndexRow>& rows,
                         const std::vector<ShardPartRecord>& parts, double flow_seconds) {
  metrics::JobSummary summary;
  const bool written = code == kExitOk || code == kExitInterrupted;
  summary.status = code == kExitOk ? "complete" : code == kExitInterrupted ? "interrupted" : "failed";
  summary.seconds = flow_seconds;
  for (const IndexRow& r : rows) {
    summary.raw_bytes += r.raw_bytes;
    summary.compressed_bytes += r.compressed_bytes;
  }
  summary.matrices = rows.size();
  const std::vector<h5::ShardInfo> shards = shard_infos(config_.job, sets_.size(), parts);

  if (written) {
    std::vector<IndexRow> sorted = rows;
    std::sort(sorted.begin(), sorted.end(), [](const IndexRow& a, const IndexRow& b) { return a.id < b.id; });
    nlohmann::json shard_names = nlohmann::json::array();
    for (const auto& s : shards) shard_names.push_back(s.file_name);
    const double end = stages::wall_clock_seconds();
    std::map<std::string, std::string> attributes{
        {"status", summary.status},
        {"job", config_.job},
        {"shmjob_version", version()},
        {"versions", metrics::library_versions().dump()},
        {"config", to_json(config_).dump()},
        {"plan", metrics::plan_json(placements, plan_to_json(plan_)).dump()},
        {"shards", shard_names.dump()},
        {"datasets", sets_json(sets_).dump()},
        {"start_time", metrics::iso_time_utc(start_epoch_)},
        {"end_time", metrics::iso_time_utc(end)},
        {"source", config_.input ? "hdf5" : "synthetic"}};
    if (sets_.size() == 1) attributes["dtype"] = dtype_name(sets_.front().dtype);
    if (!config_.input) attributes["kind"] = data_kind_name(config_.matrices.kind);
    h5::InputList inputs;
    if (config_.input) {
      // Absolute paths: the master outlives the working directory the job ran in.
      for (const std::string& f : catalog_.files())
        inputs.files.push_back(std::filesystem::absolute(f).lexically_normal().string());
      for (const InputDataset& d : catalog_.datasets()) inputs.datasets.push_back(d.path);
    }
    h5::write_master(config_.master_path(), sets_, shards, sorted, inputs, attributes);
  }
  summary.wall_seconds = stages::wall_clock_seconds() - start_epoch_;
  if (log_) log_->append(metrics::end_record(summary, placements, totals, written ? "" : "see stderr"));
  if (code == kExitInterrupted) {
    std::uint64_t expected = 0;
    for (const MatrixSet& set : sets_) expected += set.count;
    std::fprintf(stderr,
                 "shmjob: interrupted: %llu of %llu matrices written; %s is marked \"interrupted\" "
                 "and its index lists them\n",
                 static_cast<unsigned long long>(summary.matrices),
                 static_cast<unsigned long long>(expected), config_.master_path().c_str());
  }
  if (code != kExitOk || options_.quiet) return;
  std::string what;
  for (const MatrixSet& set : sets_)
    what += (what.empty() ? "" : ", ") + std::to_string(set.rows) + "x" + std::to_string(set.cols) +
            " " + std::string(dtype_name(set.dtype));
  what += config_.input ? ", from " + std::to_string(catalog_.files().size()) + " input file(s)"
                        : ", " + std::string(data_kind_name(config_.matrices.kind));
  std::printf(
      "shmjob: job \"%s\" complete: %llu matrices (%s) in %.2f s\n"
      "  %.1f matrices/s, %.1f MB/s in, %.1f MB/s out, compression ratio %.2f\n"
      "  ranks: %d producers, %d compressors, %d writers, %d idle (node 0)\n"
      "  output: %s\n  metrics: %s\n",
      config_.job.c_str(), static_cast<unsigned long long>(summary.matrices), what.c_str(),
      summary.seconds, summary.matrices_per_s(), summary.mb_per_s_in(), summary.mb_per_s_out(),
      summary.ratio(), layout_.producers, layout_.compressors, layout_.writers, layout_.idle,
      config_.master_path().c_str(), config_.metrics_path().c_str());
  std::printf("  placement: %zu lane(s), pinning %s (%s)\n", plan_.lanes.size(),
              std::string(pinning_mode_name(plan_.pinning)).c_str(), plan_.pinning_reason.c_str());
  for (const std::string& note : plan_.notes) std::printf("  note: %s\n", note.c_str());
  std::fflush(stdout);
}

}  // namespace

namespace {
// The input catalog: rank 0 scans the files once (opening each on every rank would multiply the
// metadata load on a parallel file system) and broadcasts it. Returns the agreed exit code.
int share_catalog(const InputConfig& input, MPI_Comm world, InputCatalog& catalog) {
  Failure failure;
  int rank = 0;
  mpi::check(MPI_Comm_rank(world, &rank), "MPI_Comm_rank");
  std::vector<std::byte> bytes;
  if (rank == 0) {
    try {
      bytes = InputCatalog::scan(input).serialize();
    } catch (const std::exception& e) {
      failure = as_failure(e);
    }
  }
  if (const int code = agree(world, failure)) return code;
  std::uint64_t size = bytes.size();
  mpi::check(MPI_Bcast(&size, 1, MPI_UINT64_T, 0, world), "MPI_Bcast");
  bytes.resize(size);
  for (std::uint64_t done = 0; done < size;) {  // MPI counts are ints
    const int n = static_cast<int>(std::min<std::uint64_t>(size - done, 1u << 30));
    mpi::check(MPI_Bcast(bytes.data() + done, n, MPI_BYTE, 0, world), "MPI_Bcast");
    done += static_cast<std::uint64_t>(n);
  }
  catalog = InputCatalog::deserialize(bytes);
  return kExitOk;
}

// An input matrix that does not fit the configured slot is an input error naming its file.
void check_input_fits(const InputCatalog& catalog, const SlotConfig& slots) {
  if (!slots.slot_bytes) return;
  for (const InputDataset& d : catalog.datasets())
    if (d.shape.bytes() > *slots.slot_bytes)
      throw InputError(catalog.files().at(d.file) + ":" + d.path + ": a matrix of " +
                       std::to_string(d.shape.bytes()) + " bytes does not fit in slots.slot_bytes = " +
                       std::to_string(*slots.slot_bytes));
}

// Every rank of the node computes the same plan from the same inputs: the topology and every
// rank's allowed PUs (gathered before anyone binds).
RolePlan plan_node(const Topology& topology, const mpi::Communicator& node, const Config& config,
                   std::uint64_t largest_matrix_bytes) {
  const TopologyView view = topology.view();
  const int words = view.mask_words();
  const std::vector<std::uint64_t> mine = to_mask(allowed_cpuset(topology), words);
  std::vector<std::uint64_t> all(static_cast<std::size_t>(words) * static_cast<std::size_t>(node.size()));
  mpi::check(MPI_Allgather(mine.data(), words, MPI_UINT64_T, all.data(), words, MPI_UINT64_T, node.get()),
             "MPI_Allgather");
  std::vector<CpuSet> allowed;
  for (int r = 0; r < node.size(); ++r)
    allowed.push_back(from_mask(all.data() + static_cast<std::size_t>(r) * static_cast<std::size_t>(words), words));
  // Slots hold the largest matrix (for an ingest the config itself names no shape).
  Config sizing = config;
  if (!sizing.slots.slot_bytes) sizing.slots.slot_bytes = largest_matrix_bytes;
  return compute_role_plan(view, allowed, sizing);
}

std::uint64_t largest_matrix(const std::vector<MatrixSet>& sets) {
  std::uint64_t bytes = 0;
  for (const MatrixSet& s : sets) bytes = std::max(bytes, s.bytes());
  return bytes;
}

// Everything decided before the job runs: the config, the inputs, the sets, the topology and
// the node's plan. Each step ends with all ranks agreeing; a failure returns its exit code.
struct JobSetup {
  std::optional<Config> config;
  InputCatalog catalog;
  std::vector<MatrixSet> sets;
  std::optional<Topology> topology;
  RolePlan plan;
};

int set_up(const std::function<Config()>& load, MPI_Comm world, const mpi::Communicator& node,
           bool create_output, JobSetup& setup) {
  int world_rank = 0;
  mpi::check(MPI_Comm_rank(world, &world_rank), "MPI_Comm_rank");
  Failure failure;
  try {
    setup.config = load();
  } catch (const std::exception& e) {
    failure = as_failure(e);
  }
  if (const int code = agree(world, failure)) return code;
  const Config& config = *setup.config;

  if (config.input) {
    if (const int code = share_catalog(*config.input, world, setup.catalog)) return code;
  }
  setup.sets = config.input ? stages::ingest_matrix_sets(setup.catalog) : synthetic_matrix_sets(config.matrices);
  try {
    if (config.input) check_input_fits(setup.catalog, config.slots);
    resolve_layout(config, node.size(), largest_matrix(setup.sets));  // size checks, with messages
    setup.topology.emplace(Topology::this_system());
  } catch (const std::exception& e) {
    failure = as_failure(e);
  }
  if (const int code = agree(world, failure)) return code;
  try {
    setup.plan = plan_node(*setup.topology, node, config, largest_matrix(setup.sets));
    if (create_output && world_rank == 0) prepare_output_dir(config);
  } catch (const std::exception& e) {
    failure = as_failure(e);
  }
  return agree(world, failure);
}

mpi::Communicator node_communicator(MPI_Comm world) {
  // Return codes instead of MPI aborting the job, so ranks can agree and exit cleanly.
  MPI_Comm_set_errhandler(world, MPI_ERRORS_RETURN);
  h5::silence_hdf5_errors();
  int world_rank = 0;
  mpi::check(MPI_Comm_rank(world, &world_rank), "MPI_Comm_rank");
  MPI_Comm raw_node = MPI_COMM_NULL;
  mpi::check(MPI_Comm_split_type(world, MPI_COMM_TYPE_SHARED, world_rank, MPI_INFO_NULL, &raw_node),
             "MPI_Comm_split_type");
  return mpi::Communicator(raw_node);
}

void print_plan_text(const RolePlan& plan) {
  std::printf("%s\n%s\n", plan_table(plan, true).c_str(),
              nlohmann::json{{"nodes", nlohmann::json::array({plan_to_json(plan)})}}.dump().c_str());
  std::fflush(stdout);
}

}  // namespace

int run_job(const std::function<Config()>& load, const RunOptions& options, MPI_Comm world) {
  const mpi::Communicator node = node_communicator(world);
  JobSetup setup;
  if (const int code = set_up(load, world, node, true, setup)) return code;
  mpi::check(MPI_Barrier(world), "MPI_Barrier");  // the directory exists before anyone writes
  return Job(*setup.config, setup.sets, setup.catalog, *setup.topology, setup.plan, options, world, node).run();
}

int print_plan(const std::filesystem::path& config_path, MPI_Comm world) {
  const mpi::Communicator node = node_communicator(world);
  JobSetup setup;
  if (const int code = set_up([&] { return load_config(config_path); }, world, node, false, setup)) return code;
  // Node leaders send their plans (one JSON line each) to rank 0: it prints node 0's table and
  // every node's plan as JSON.
  std::string mine;
  if (node.rank() == 0) mine = plan_to_json(setup.plan).dump() + "\n";
  const std::vector<char> all = gatherv_to_root(std::vector<char>(mine.begin(), mine.end()), world);
  int world_rank = 0;
  mpi::check(MPI_Comm_rank(world, &world_rank), "MPI_Comm_rank");
  if (world_rank == 0) {
    nlohmann::json nodes = nlohmann::json::array();
    std::string line;
    for (const char c : all) {
      if (c != '\n') { line += c; continue; }
      nodes.push_back(nlohmann::json::parse(line));
      line.clear();
    }
    std::printf("%s\n%s\n", plan_table(setup.plan, true).c_str(),
                nlohmann::json{{"nodes", nodes}}.dump().c_str());
    std::fflush(stdout);
  }
  return kExitOk;
}

int print_plan(const std::filesystem::path& config_path, int ranks, const std::string& topology_spec) {
  h5::silence_hdf5_errors();
  try {
    const Config config = load_config(config_path);
    std::vector<MatrixSet> sets;
    InputCatalog catalog;
    if (config.input) {
      catalog = InputCatalog::scan(*config.input);
      sets = stages::ingest_matrix_sets(catalog);
    } else {
      sets = synthetic_matrix_sets(config.matrices);
    }
    resolve_layout(config, ranks, largest_matrix(sets));
    const Topology topology = topology_spec.empty()            ? Topology::this_system()
                              : topology_spec.ends_with(".xml") ? Topology::from_xml(topology_spec)
                                                                : Topology::synthetic(topology_spec);
    Config sizing = config;
    if (!sizing.slots.slot_bytes) sizing.slots.slot_bytes = largest_matrix(sets);
    const std::vector<CpuSet> allowed(static_cast<std::size_t>(ranks), topology.allowed_pus());
    print_plan_text(compute_role_plan(topology.view(), allowed, sizing));
    return kExitOk;
  } catch (const std::exception& e) {
    const Failure f = as_failure(e);
    std::fprintf(stderr, "shmjob: error: %s\n", f.message.c_str());
    return f.code;
  }
}

int run_job(const std::filesystem::path& config_path, const RunOptions& options, MPI_Comm world) {
  return run_job([&] { return load_config(config_path); }, options, world);
}

int run_job(const nlohmann::json& document, const RunOptions& options, MPI_Comm world) {
  return run_job([&] { return parse_config(document); }, options, world);
}

}  // namespace shmjob
