#pragma once
// One job on every rank once the setup is agreed: bind, build the node window, run this rank's
// stage, wait for the node (sleeping, not spinning), agree on the outcome, gather the index and
// totals, and on rank 0 write the master file, the job_end record and the summary.
#include <mpi.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/matrix_set.hpp"
#include "h5/master_writer.hpp"
#include "input/input.hpp"
#include "job/transform_setup.hpp"
#include "metrics/job_records.hpp"
#include "metrics/metrics_log.hpp"
#include "mpi/agreement.hpp"
#include "mpi/communicator.hpp"
#include "pipeline/node_operands.hpp"
#include "pipeline/stage_context.hpp"
#include "resume/resume_plan.hpp"
#include "shmjob/index_row.hpp"
#include "shmjob/pipeline.hpp"
#include "topology/role_plan.hpp"
#include "topology/topology.hpp"
#include "transform/reduction.hpp"

namespace shmjob {

namespace stages {
class StageContext;
}
namespace h5 {
struct ShardInfo;
}

// One writer's part of one matrix set, gathered on rank 0 for the master's virtual datasets.
struct ShardPartRecord {
  std::uint32_t shard, set;
  std::uint64_t first, count;
};

class Job {
 public:
  Job(const Config& config, const std::vector<MatrixSet>& sets, const InputCatalog& catalog,
      const JobTransform& transform, const Topology& topology, const RolePlan& plan, const resume::ResumePlan& work,
      const RunOptions& options, MPI_Comm world, const mpi::Communicator& node)
      : config_(config),
        sets_(sets),
        catalog_(catalog),
        transform_(transform),
        topology_(topology),
        plan_(plan),
        layout_(plan.layout),
        work_(work),
        options_(options),
        world_(world),
        node_(node) {}

  int run();

 private:
  // run()'s steps after the setup, in order; those that talk to other ranks run on every rank.
  // The transform's operands in the node's shared memory (nullopt without a transform), read
  // after binding so that each copy's pages are local to its domain. Returns the agreed code.
  int load_operands(std::optional<stages::NodeOperands>& operands, stages::StageContext& ctx);
  void start_clock(stages::StageContext& ctx);
  // Collective: every compressor's accumulators combined on rank 0 (reduced_).
  void combine_reductions();
  // Rank 0: the reductions as the master's arrays, the earlier runs' kept matrices included.
  std::vector<h5::MasterArray> reduction_arrays();
  // The earlier runs' kept matrices (resume) added to reduced_, read back through a temporary
  // master over their shards.
  void add_kept_matrices();
  // Rank 0 of a resume: throws TransformError (exit 2) when an operand's content differs from
  // what the earlier runs recorded.
  void require_same_operands() const;
  // The "operands" attribute: each operand's file, dataset, shape, dtype and CRC-32.
  std::string operands_attribute() const;
  void open_log(const stages::StageContext& ctx, const nlohmann::json& plan_record);
  void run_watched_stage(const stages::StageContext& ctx, bool show_progress);
  void run_my_stage(const stages::StageContext& ctx);
  int conclude(const stages::StageContext& ctx, const std::vector<metrics::RankPlacement>& placements);
  int agreed_code(const stages::StageContext& ctx);
  std::vector<ShardPartRecord> my_shard_parts(const stages::StageContext& ctx) const;
  nlohmann::json topology_json() const;                 // for the start record
  metrics::DiagnosisContext diagnosis_context() const;  // for the bottleneck verdict
  void finish_on_root(int code, const std::vector<metrics::RankPlacement>& placements,
                      const std::vector<metrics::RankTotals>& totals, const std::vector<metrics::WriterTotals>& writers,
                      const std::vector<ShardPartRecord>& parts, double flow_seconds);
  // finish_on_root()'s steps.
  std::uint64_t write_master_file(const metrics::JobSummary& summary,
                                  const std::vector<metrics::RankPlacement>& placements,
                                  const std::vector<h5::ShardInfo>& new_shards, metrics::RatioDistribution& ratios);
  std::map<std::string, std::string> master_attributes(const std::string& status,
                                                       const std::vector<h5::ShardInfo>& shards,
                                                       const std::vector<metrics::RankPlacement>& placements) const;
  void print_summary(const metrics::JobSummary& summary, std::uint64_t in_master,
                     const std::vector<metrics::RankPlacement>& placements,
                     const std::vector<metrics::RankTotals>& totals,
                     const std::vector<metrics::WriterTotals>& writers) const;

  const Config& config_;
  const std::vector<MatrixSet>& sets_;
  const InputCatalog& catalog_;
  const JobTransform& transform_;
  const Topology& topology_;
  const RolePlan& plan_;
  const NodeLayout& layout_;
  const resume::ResumePlan& work_;  // the ids this run writes; with resume, what is kept
  const RunOptions& options_;
  MPI_Comm world_;
  const mpi::Communicator& node_;
  int world_rank_ = 0;
  double start_epoch_ = 0;
  std::unique_ptr<metrics::MetricsLog> log_;
  metrics::WriterTotals writer_totals_;  // a writer's, from its stage
  // "reduce": a compressor's accumulators per set, from its stage; on rank 0 after conclude(),
  // the whole job's (this run's matrices; a resume adds the earlier runs' when it writes them).
  std::vector<std::optional<transform::Accumulator>> reduced_;
  std::vector<std::uint32_t> operand_crc32_;  // rank 0: each operand's CRC-32, for the master
  // The operands on this rank's node (every copy), what this rank read of them and how long it
  // took, for job_end's nodes.
  std::uint64_t operand_bytes_on_node_ = 0, operand_bytes_loaded_ = 0;
  double operand_load_s_ = 0;
  mpi::Failure failure_;
};

}  // namespace shmjob
