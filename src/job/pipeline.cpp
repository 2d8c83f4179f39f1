// run_job: the life of one job on every rank.
//   config (all ranks, agree) -> inputs (rank 0 scans, broadcast) -> sizes, topology, node plan
//   (agree) -> output dir (rank 0, agree) -> Job::run (job.cpp).
// print_plan: the same setup, then the plan is printed instead of run.
#include "shmjob/pipeline.hpp"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <optional>

#include "config/tile_grid.hpp"
#include "h5/h5_handle.hpp"
#include "input/input.hpp"
#include "job/job.hpp"
#include "job/output_dir.hpp"
#include "job/share_catalog.hpp"
#include "job/transform_setup.hpp"
#include "mpi/agreement.hpp"
#include "mpi/communicator.hpp"
#include "mpi/gather.hpp"
#include "mpi/mpi_error.hpp"
#include "pipeline/matrix_source.hpp"
#include "pipeline/memory_check.hpp"
#include "pipeline/work_order.hpp"
#include "resume/resume_plan.hpp"
#include "shmjob/error.hpp"
#include "topology/binding.hpp"
#include "topology/topology.hpp"
#include "util/printable.hpp"

namespace shmjob {

using mpi::agree;
using mpi::as_failure;
using mpi::Failure;

namespace {

// An input matrix that does not fit the configured slot is an input error naming its file.
void check_input_fits(const InputCatalog& catalog, const SlotConfig& slots) {
  if (!slots.slot_bytes) return;
  for (const InputDataset& d : catalog.datasets())
    if (d.shape.bytes() > *slots.slot_bytes)
      throw InputError(catalog.files().at(d.file) + ":" + d.path + ": a matrix of " + std::to_string(d.shape.bytes()) +
                       " bytes does not fit in slots.slot_bytes = " + std::to_string(*slots.slot_bytes));
}

std::uint64_t largest_matrix(const std::vector<MatrixSet>& sets) {
  std::uint64_t bytes = 0;
  for (const MatrixSet& s : sets) bytes = std::max(bytes, s.raw_slot_bytes());
  return bytes;
}

// The compressed slot size the sets need with their tiles (edge tiles are stored padded).
std::uint64_t largest_packed_tiles(const std::vector<MatrixSet>& sets, const CompressionConfig& compression) {
  std::uint64_t bytes = 0;
  for (const MatrixSet& s : sets) {
    const TileGrid grid = tile_grid(s.shape.rows, s.shape.cols, compression.chunk);
    if (grid.count() > kMaxTilesPerMatrix)
      throw ConfigError("compression.chunk: [" + std::to_string(grid.tile_rows) + ", " +
                        std::to_string(grid.tile_cols) + "] cuts a " + std::to_string(s.shape.rows) + " x " +
                        std::to_string(s.shape.cols) + " matrix into " + std::to_string(grid.count()) +
                        " tiles, more than " + std::to_string(kMaxTilesPerMatrix) + "; use larger tiles");
    bytes = std::max(bytes, packed_tiles_capacity(grid, dtype_size(s.shape.dtype)));
  }
  return bytes;
}

// The output sets: one for a synthetic job, one per shape/dtype of the input.
std::vector<MatrixSet> matrix_sets_of(const Config& config, const InputCatalog& catalog) {
  return config.input ? stages::ingest_matrix_sets(catalog) : synthetic_matrix_sets(config.matrices);
}

// Matrices that do not fit a slot or a chunk, with messages naming the input or the key. A
// memory budget is checked here only without operands: with them, the plan checks it once it
// knows what the operands take of it (plan_with_operands).
void check_sizes(const Config& config, const InputCatalog& catalog, const std::vector<MatrixSet>& sets, int node_ranks,
                 const JobTransform& transform) {
  if (config.input) check_input_fits(catalog, config.slots);
  Config sizes = config;
  if (!transform.operand_names.empty()) sizes.slots.memory_budget_mb.reset();
  sizes.slots.compressed_slot_bytes = largest_packed_tiles(sets, config.compression);  // too many tiles: an error
  resolve_layout(sizes, node_ranks, largest_matrix(sets));
}

// The plan for `allowed.size()` ranks. Slots hold the largest matrix (an ingest's config names
// no shape itself).
RolePlan plan_for(const TopologyView& view, const std::vector<CpuSet>& allowed, const Config& config,
                  const std::vector<MatrixSet>& sets) {
  Config sizing = config;
  if (!sizing.slots.slot_bytes) sizing.slots.slot_bytes = largest_matrix(sets);
  sizing.slots.compressed_slot_bytes = largest_packed_tiles(sets, config.compression);
  return compute_role_plan(view, allowed, sizing);
}

// The plan, with its slots sized after the transform's operands when slots.memory_budget_mb is
// set. How many copies a node keeps depends on the NUMA domains of its ranks, which the plan
// decides (and the slot counts do not), so a budget is planned twice: first without it, for the
// ranks' places, then with the operands' bytes (every copy) taken out of it.
RolePlan plan_with_operands(const TopologyView& view, const std::vector<CpuSet>& allowed, const Config& config,
                            const std::vector<MatrixSet>& sets, const JobTransform& transform) {
  if (transform.operand_names.empty() || !config.slots.memory_budget_mb) return plan_for(view, allowed, config, sets);
  Config places = config;
  places.slots.memory_budget_mb.reset();
  const RolePlan first = plan_for(view, allowed, places, sets);
  Config budget = config;
  budget.slots.reserved_bytes = operand_bytes(operand_footprint(transform, config.transform, first));
  return plan_for(view, allowed, budget, sets);
}

// Every rank of the node computes the same plan from the same inputs: the topology and every
// rank's allowed PUs (gathered before anyone binds).
RolePlan plan_node(const Topology& topology, const mpi::Communicator& node, const Config& config,
                   const std::vector<MatrixSet>& sets, const JobTransform& transform) {
  const TopologyView view = topology.view();
  const int words = view.mask_words();
  const std::vector<std::uint64_t> mine = to_mask(allowed_cpuset(topology), words);
  std::vector<std::uint64_t> all(static_cast<std::size_t>(words) * static_cast<std::size_t>(node.size()));
  mpi::check(MPI_Allgather(mine.data(), words, MPI_UINT64_T, all.data(), words, MPI_UINT64_T, node.get()),
             "MPI_Allgather");
  std::vector<CpuSet> allowed;
  for (int r = 0; r < node.size(); ++r)
    allowed.push_back(from_mask(all.data() + static_cast<std::size_t>(r) * static_cast<std::size_t>(words), words));
  return plan_with_operands(view, allowed, config, sets, transform);
}

// The node's plan as --plan prints it: with the operands it keeps (bytes, copies), if any.
nlohmann::json node_plan_json(const RolePlan& plan, const Config& config, const JobTransform& transform) {
  nlohmann::json out = plan_to_json(plan);
  const std::vector<OperandFootprint> footprint = operand_footprint(transform, config.transform, plan);
  if (!footprint.empty()) {
    out["operands"] = operands_json(footprint, config.transform);
    out["operand_bytes"] = operand_bytes(footprint);
  }
  return out;
}

// Everything decided before the job runs: the config, the inputs, the sets, the topology and
// the node's plan. Each step ends with all ranks agreeing; a failure returns its exit code.
struct JobSetup {
  std::optional<fs::JobLock> lock;                // global rank 0 of a run: held until the job has ended
  std::optional<mpi::Communicator> pretend_node;  // testing.pretend_nodes: this rank's pretend node
  std::optional<Config> config;
  InputCatalog catalog;
  std::vector<MatrixSet> sets;
  JobTransform transform;
  std::optional<Topology> topology;
  RolePlan plan;
};

// testing.pretend_nodes = N: the node's ranks in N contiguous groups (sizes differing by at
// most one, larger first), each then set up and run as a node of its own.
mpi::Communicator split_pretend_nodes(const mpi::Communicator& node, int pretend_nodes) {
  const int r = node.rank();
  const std::vector<stages::IdRange> groups = stages::split_evenly(
      stages::IdRange{0, static_cast<std::uint64_t>(node.size())}, std::min(pretend_nodes, node.size()));
  int color = 0;
  while (!groups[static_cast<std::size_t>(color)].contains(static_cast<std::uint64_t>(r))) ++color;
  MPI_Comm raw = MPI_COMM_NULL;
  mpi::check(MPI_Comm_split(node.get(), color, r, &raw), "MPI_Comm_split (pretend nodes)");
  return mpi::Communicator(raw);
}

// `shared`: the ranks sharing this node's memory. The node the job is set up for is that, or
// with testing.pretend_nodes this rank's part of it (setup.pretend_node).
int set_up(const std::function<Config()>& load, MPI_Comm world, const mpi::Communicator& shared, bool create_output,
           const std::filesystem::path& config_file, JobSetup& setup) {
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
  if (config.testing.pretend_nodes > 1)
    setup.pretend_node.emplace(split_pretend_nodes(shared, config.testing.pretend_nodes));
  const mpi::Communicator& node = setup.pretend_node ? *setup.pretend_node : shared;

  if (config.input) {
    if (const int code = share_catalog(*config.input, world, setup.catalog)) return code;
  }
  setup.sets = matrix_sets_of(config, setup.catalog);
  if (const int code = share_operands(config.transform, world, setup.transform)) return code;
  try {
    plan_transforms(config.transform, setup.transform, setup.sets);
    check_sizes(config, setup.catalog, setup.sets, node.size(), setup.transform);
    setup.topology.emplace(Topology::this_system());
  } catch (const std::exception& e) {
    failure = as_failure(e);
  }
  if (const int code = agree(world, failure)) return code;
  try {
    setup.plan = plan_node(*setup.topology, node, config, setup.sets, setup.transform);
    const std::vector<OperandFootprint> operands = operand_footprint(setup.transform, config.transform, setup.plan);
    shm::TransformMemory transform_memory{operand_bytes(operands), operands_text(operands), 0};
    for (const transform::ChainPlan& chain : setup.transform.plans)
      transform_memory.scratch_bytes_per_compressor =
          std::max<std::uint64_t>(transform_memory.scratch_bytes_per_compressor, chain.scratch_bytes());
    shm::check_node_memory(setup.plan, shm::available_shared_memory(), transform_memory);
    std::uint64_t matrices = 0;
    for (const MatrixSet& set : setup.sets) matrices += set.count;
    shm::check_id_bookkeeping(matrices, setup.plan.layout.writers, shm::available_memory());
    if (create_output && world_rank == 0) {
      // What the output must never replace: the inputs and the config file.
      std::vector<std::filesystem::path> protected_files(setup.catalog.files().begin(), setup.catalog.files().end());
      if (!config_file.empty()) protected_files.push_back(config_file);
      setup.lock = prepare_output_dir(config, protected_files);
    }
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

// The table, the operands line (a job with operands) and one JSON line with every node's plan.
void print_plan_text(const RolePlan& plan, const Config& config, const JobTransform& transform,
                     const nlohmann::json& nodes) {
  const std::vector<OperandFootprint> operands = operand_footprint(transform, config.transform, plan);
  std::printf("%s\n", plan_table(plan, true).c_str());
  if (!operands.empty()) std::printf("operands on each node: %s\n", operands_text(operands).c_str());
  std::printf("%s\n", nlohmann::json{{"nodes", nodes}}.dump().c_str());
  std::fflush(stdout);
}

}  // namespace

// `config_file`: the file the config came from ("" for one built in code), which the output
// must never replace.
int run_job(const std::function<Config()>& load_config_only, const std::filesystem::path& config_file,
            const RunOptions& options, MPI_Comm world) {
  // --resume means the same as "resume": true in the config.
  const auto load = [&] {
    Config config = load_config_only();
    config.resume = config.resume || options.resume;
    return config;
  };
  const mpi::Communicator shared = node_communicator(world);
  JobSetup setup;
  if (const int code = set_up(load, world, shared, true, config_file, setup)) return code;
  const Config& config = *setup.config;
  const mpi::Communicator& node = setup.pretend_node ? *setup.pretend_node : shared;
  resume::ResumePlan work;
  if (const int code = resume::plan_run(config, setup.sets, options.quiet, world, work)) return code;
  if (work.already_complete) {
    int rank = 0;
    mpi::check(MPI_Comm_rank(world, &rank), "MPI_Comm_rank");
    if (rank == 0 && !options.quiet)
      std::printf("shmjob: job \"%s\" is already complete (%s); nothing to do\n", config.job.c_str(),
                  config.master_path().c_str());
    return kExitOk;
  }
  mpi::check(MPI_Barrier(world), "MPI_Barrier");  // the directory exists before anyone writes
  return Job(config, setup.sets, setup.catalog, setup.transform, *setup.topology, setup.plan, work, options, world,
             node)
      .run();
}

int print_plan(const std::filesystem::path& config_path, MPI_Comm world) {
  const mpi::Communicator shared = node_communicator(world);
  JobSetup setup;
  if (const int code = set_up([&] { return load_config(config_path); }, world, shared, false, config_path, setup))
    return code;
  const mpi::Communicator& node = setup.pretend_node ? *setup.pretend_node : shared;
  // Node leaders send their plans (one JSON line each) to rank 0: it prints node 0's table and
  // every node's plan as JSON.
  std::string mine;
  if (node.rank() == 0) mine = node_plan_json(setup.plan, *setup.config, setup.transform).dump() + "\n";
  const std::vector<char> all = mpi::gatherv_to_root(std::vector<char>(mine.begin(), mine.end()), world);
  int world_rank = 0;
  mpi::check(MPI_Comm_rank(world, &world_rank), "MPI_Comm_rank");
  if (world_rank == 0) {
    nlohmann::json nodes = nlohmann::json::array();
    std::string line;
    for (const char c : all) {
      if (c != '\n') {
        line += c;
        continue;
      }
      nodes.push_back(nlohmann::json::parse(line));
      line.clear();
    }
    print_plan_text(setup.plan, *setup.config, setup.transform, nodes);
  }
  return kExitOk;
}

int print_plan(const std::filesystem::path& config_path, int ranks, const std::string& topology_spec) {
  h5::silence_hdf5_errors();
  try {
    const Config config = load_config(config_path);
    InputCatalog catalog;
    std::vector<std::string> notes;
    if (config.input) catalog = InputCatalog::scan(*config.input, &notes);
    for (const std::string& note : notes) std::fprintf(stderr, "shmjob: note: %s\n", printable(note).c_str());
    std::vector<MatrixSet> sets = matrix_sets_of(config, catalog);
    JobTransform transform = scan_operands(config.transform);
    plan_transforms(config.transform, transform, sets);
    check_sizes(config, catalog, sets, ranks, transform);
    const Topology topology = topology_spec.empty()             ? Topology::this_system()
                              : topology_spec.ends_with(".xml") ? Topology::from_xml(topology_spec)
                                                                : Topology::synthetic(topology_spec);
    const std::vector<CpuSet> allowed(static_cast<std::size_t>(ranks), topology.allowed_pus());
    const RolePlan plan = plan_with_operands(topology.view(), allowed, config, sets, transform);
    print_plan_text(plan, config, transform, nlohmann::json::array({node_plan_json(plan, config, transform)}));
    return kExitOk;
  } catch (const std::exception& e) {
    const Failure f = as_failure(e);
    std::fprintf(stderr, "shmjob: error: %s\n", printable(f.message).c_str());
    return f.code;
  }
}

int run_job(const std::filesystem::path& config_path, const RunOptions& options, MPI_Comm world) {
  return run_job([&] { return load_config(config_path); }, config_path, options, world);
}

int run_job(const nlohmann::json& document, const RunOptions& options, MPI_Comm world) {
  return run_job([&] { return parse_config(document); }, {}, options, world);
}

}  // namespace shmjob
