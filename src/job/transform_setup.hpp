#pragma once
// A job's transform, set up before it runs: the operands' files checked (rank 0 scans them as an
// ingest scans its inputs; every rank gets the catalogs) and each matrix set's chain planned,
// which gives the set its stored shape and what its raw slots must hold.
#include <mpi.h>

#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/matrix_set.hpp"
#include "input/input.hpp"
#include "topology/role_plan.hpp"
#include "transform/chain.hpp"

namespace shmjob {

struct JobTransform {
  std::vector<std::string> operand_names;      // the config's order (by name)
  std::vector<InputCatalog> operand_catalogs;  // one 2-D matrix each
  std::vector<transform::ChainPlan> plans;     // one per set; empty: the job has no transform

  bool active() const noexcept { return !plans.empty(); }
  // Whether operand `name` is kept as float64 (a matmul reads it; BLAS needs doubles).
  bool as_float64(const std::string& name) const;
  MatrixShape operand_shape(std::size_t i) const { return operand_catalogs.at(i).datasets().front().shape; }
  transform::OperandShapes operand_shapes() const;
};

// What a node keeps of each operand for `plan`'s ranks, in operand_names order.
struct OperandFootprint {
  std::string name;
  MatrixShape shape;  // as in its file
  DType stored = DType::float64;
  std::uint64_t bytes_per_copy = 0;
  int copies = 0;
  std::uint64_t bytes() const noexcept { return bytes_per_copy * static_cast<std::uint64_t>(copies); }
};
std::vector<OperandFootprint> operand_footprint(const JobTransform& job, const transform::TransformConfig& config,
                                                const RolePlan& plan);
std::uint64_t operand_bytes(const std::vector<OperandFootprint>& footprint);  // every copy
// The job_start record's "operands": name, file, dataset, rows, cols, dtype, stored_dtype,
// replicate, bytes_per_copy, copies (on the node of `footprint`).
nlohmann::json operands_json(const std::vector<OperandFootprint>& footprint, const transform::TransformConfig& config);
// "dark 12.3 KB (uint16) x 2 copies, gain ...; 24.6 KB in all (24576 bytes of shared memory)".
std::string operands_text(const std::vector<OperandFootprint>& footprint);

// The same without MPI (shmjob --plan with a rank count): this process scans every operand.
JobTransform scan_operands(const transform::TransformConfig& config);

// Collective over `world`. Each operand must be one 2-D dataset of a supported type; failures
// name it ("operands.dark: calib.h5: no dataset /dark ..."). Returns the agreed exit code.
int share_operands(const transform::TransformConfig& config, MPI_Comm world, JobTransform& out);

// Plans the chain for every set (no-op without steps). Sets get their stored shape and work
// bytes. Throws TransformError (exit code 2) naming the step, and the set when there are several.
void plan_transforms(const transform::TransformConfig& config, JobTransform& job, std::vector<MatrixSet>& sets);

}  // namespace shmjob
